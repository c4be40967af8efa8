"""Run and unit states are named in wfdesk/states.py only: a new state is added in one place.

Reads every product module and fails on a state written as a bare string where a state is meant: compared with
something called status/state, passed as `status=`, stored under a "status" key, or listed in a tuple of states.
"""

from __future__ import annotations

import ast
from pathlib import Path

from wfdesk.states import RunState, UnitState

PACKAGE = Path(__file__).resolve().parent.parent / "wfdesk"
VOCABULARY = {s.value for s in RunState} | {s.value for s in UnitState}


def _state_literals(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in VOCABULARY:
        return [node.value]
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
        values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if len(values) == len(node.elts) and all(v in VOCABULARY for v in values):
            return values
    return []


def _about_state(node: ast.AST) -> bool:
    text = ast.unparse(node).lower()
    return "status" in text or "state" in text


def _bare_states(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, op in enumerate(operands):
                others = operands[:i] + operands[i + 1:]
                if _state_literals(op) and any(_about_state(o) for o in others):
                    found.append((node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.keyword) and node.arg in ("status", "state") and _state_literals(node.value):
            found.append((node.value.lineno, ast.unparse(node)))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (isinstance(key, ast.Constant) and key.value in ("status", "state")
                        and value is not None and _state_literals(value)):
                    found.append((value.lineno, f"{ast.unparse(key)}: {ast.unparse(value)}"))
        elif isinstance(node, ast.Tuple | ast.List | ast.Set) and len(node.elts) >= 2 and _state_literals(node):
            found.append((node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("get", "setdefault") and len(node.args) == 2
              and _about_state(node.args[0]) and _state_literals(node.args[1])):
            found.append((node.lineno, ast.unparse(node)))  # entry.get("status", "success")
    first_per_line = {line: text for line, text in reversed(found)}  # a tuple inside a comparison is one finding
    return sorted(first_per_line.items())


def test_states_are_named_only_in_the_states_module():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        # providers/ speaks the providers' own words (ComfyUI's status_str "success"), not ours.
        if path.name == "states.py" or {"migrations", "providers"} & set(path.parts):
            continue
        for line, text in _bare_states(ast.parse(path.read_text(encoding="utf-8"))):
            offenders.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {text}")
    assert not offenders, "use wfdesk.states instead of bare state strings:\n" + "\n".join(offenders)


def test_the_check_sees_each_way_a_state_is_written():
    source = '''
if status == "success": pass
if run.status in ("queued", "running"): pass
update(Run).values(status="running")
entry = {"status": "cancelled"}
FINISHED = ("success", "error", "cancelled")
n = item.get("status", "success")
'''
    assert len(_bare_states(ast.parse(source))) == 6
    assert _bare_states(ast.parse('if colour == "error": pass\nx = body.get("error", body)')) == []


def test_stored_values_are_unchanged():
    # The database holds these words; renaming a member must not change what is stored or read back.
    assert [s.value for s in RunState] == ["queued", "running", "succeeded", "partial", "failed", "cancelled",
                                           "interrupted"]
    assert UnitState("success") is UnitState.SUCCESS
    assert UnitState.ERROR == "error"
