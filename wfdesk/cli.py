"""`wfdesk` / `python -m wfdesk`: the engine without a window.

Exit codes: 0 success, 1 a run in which some section failed, 2 a bad request (nothing was sent).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from wfdesk.errors import ConfigError, NotFoundError, WfdeskError
from wfdesk.runs.costs import BudgetError
from wfdesk.states import RunState, UnitState

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

EXIT_OK, EXIT_FAILED, EXIT_BAD_REQUEST = 0, 1, 2


class BadRequestError(Exception):
    pass


class _InstallDesktopEntry(argparse.Action):
    """--install-desktop-entry: like --version, a complete command on its own (no COMMAND needed)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        from wfdesk.desktop_entry import install_desktop_entry

        try:
            files = install_desktop_entry()
        except WfdeskError as exc:
            parser.exit(EXIT_FAILED, f"wfdesk: {exc}\n")
        print("Installed the wfdesk menu entry and icons:\n" + "".join(f"  {f}\n" for f in files), end="")
        parser.exit(EXIT_OK)


def build_parser() -> argparse.ArgumentParser:
    from wfdesk.diagnostics import app_version

    p = argparse.ArgumentParser(prog="wfdesk", description="Run blog-post workflow steps from the command line.")
    p.add_argument("--version", action="version", version=f"wfdesk {app_version()}")
    p.add_argument("--install-desktop-entry", action=_InstallDesktopEntry,
                   help="add wfdesk to this user's desktop menu, with its icon (Linux), and exit")
    p.add_argument("--database", metavar="URL", help="database URL (env WFDESK_DATABASE_URL; default: the "
                                                     "SQLite file in the data dir)")
    p.add_argument("--data-dir", metavar="DIR", help="where images live (env WFDESK_DATA_DIR)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("init", help="create or upgrade the database schema")
    sub.add_parser("demo", help="load the demo post and the reference document's three steps (as the app's first "
                                "start offers)")
    imp = sub.add_parser("import", help="import actions, steps, posts and overrides from JSON")
    imp.add_argument("file")
    exp = sub.add_parser("export", help="export everything (current field values) to JSON")
    exp.add_argument("file")

    run = sub.add_parser("run-step", help="run a workflow step on a post and print the result JSON")
    run.add_argument("--step", type=int, required=True, metavar="ID")
    run.add_argument("--post", type=int, required=True, metavar="ID")
    run.add_argument("--sections", metavar="1,2,3", help="section ids (default: the post as a whole)")
    run.add_argument("--inputs", metavar="JSON", help="input overrides, keyed by input key or db_field")
    run.add_argument("--llm-settings", metavar="JSON", help="model / temperature / max_tokens overrides")
    _add_worker_commands(sub, run)
    _add_no_cache(run)

    val = sub.add_parser("validate", help="check step configs")
    val.add_argument("--step", type=int, metavar="ID")

    runs = sub.add_parser("runs", help="the run ledger")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True, metavar="SUBCOMMAND")
    rl = runs_sub.add_parser("list", help="runs, newest first")
    rl.add_argument("--json", action="store_true")
    rl.add_argument("--limit", type=int, default=50)
    rl.add_argument("--post", type=int, metavar="ID")
    rl.add_argument("--step", type=int, metavar="ID")
    rl.add_argument("--status", choices=[s.value for s in RunState])
    rl.add_argument("--mine", action="store_true", help="only runs started by this user on this machine")
    rl.add_argument("--before", type=int, metavar="ID", help="runs older than this one (the next page)")
    rs = runs_sub.add_parser("show", help="one run with its sections")
    rs.add_argument("id", type=int)
    rc = runs_sub.add_parser("cancel", help="stop a run in progress, wherever it runs (a colleague's, a worker's)")
    rc.add_argument("id", type=int)
    rr = runs_sub.add_parser("resume", help="run again the sections of a run that did not finish")
    rr.add_argument("id", type=int)
    _add_no_cache(rr)

    co = sub.add_parser("costs", help="estimated cost, tokens and images, grouped")
    co.add_argument("--by", choices=["step", "post", "month", "model"], default="month")
    co.add_argument("--post", type=int, metavar="ID")
    co.add_argument("--json", action="store_true")

    wf = sub.add_parser("workflow", help="share workflows: steps and LLM actions, without posts")
    wf_sub = wf.add_subparsers(dest="workflow_command", required=True, metavar="SUBCOMMAND")
    we = wf_sub.add_parser("export", help="write the workflow (all steps, or --steps) to a JSON file")
    we.add_argument("file")
    we.add_argument("--steps", metavar="1,2,3")
    we.add_argument("--name", default="")
    wi = wf_sub.add_parser("import", help="add a shared workflow's steps and actions (new ids)")
    wi_src = wi.add_mutually_exclusive_group(required=True)
    wi_src.add_argument("file", nargs="?")
    wi_src.add_argument("--template", metavar="NAME", help="a built-in workflow (see `workflow templates`)")
    wf_sub.add_parser("templates", help="list the built-in workflows")

    for name, what in (("accept", "accept an image candidate (or revert to a text version)"),
                       ("reject", "reject an image candidate")):
        c = sub.add_parser(name, help=what)
        c.add_argument("version_id", type=int)
    _add_content_commands(sub)
    from wfdesk.api.serve import add_arguments  # (no web framework imported until `serve` runs)

    add_arguments(sub.add_parser("serve", help="serve the HTTP API (POST /api/workflow/execute-step) for other apps"))
    return p


def _add_worker_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                         run: argparse.ArgumentParser) -> None:
    """The team's workers (PostgreSQL): `run-step --on-workers` queues, `worker` executes (wfdesk.runs.team_*)."""
    run.add_argument("--on-workers", action="store_true", help="leave the run to the team's workers (`wfdesk "
                                                               "worker`, PostgreSQL) and print its run id")
    wk = sub.add_parser("worker", help="execute the runs queued for the team's workers, until Ctrl+C or SIGTERM")
    wk.add_argument("--concurrency", type=int, default=1, metavar="N", help="runs executed at once (default 1)")
    wk.add_argument("--takeover-after", type=float, default=30.0, metavar="SECONDS",
                    help="a worker silent this long is taken for dead: its run goes to another worker (default 30)")


def _add_content_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ip = sub.add_parser("import-post", help="a new post from a Markdown, Word or HTML draft (prints its sections)")
    ip.add_argument("file")
    ip.add_argument("--split-level", type=int, default=2, metavar="N", help="cut sections at headings of level N "
                                                                           "(default 2)")
    ip.add_argument("--field", default="draft", metavar="NAME", help="the section field the text goes to")
    ep = sub.add_parser("export-post", help="write a post as Markdown, HTML or a page bundle into a folder")
    ep.add_argument("--post", type=int, required=True, metavar="ID")
    ep.add_argument("--format", choices=["markdown", "html", "bundle"], required=True)
    ep.add_argument("--out", required=True, metavar="DIR")
    ep.add_argument("--body-field", metavar="NAME", help="the field that is each section's body (default: the "
                                                        "workflow's text outputs in order, then draft)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return _dispatch(args)
    except (BadRequestError, ConfigError, NotFoundError, BudgetError) as exc:
        print(f"wfdesk: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    except WfdeskError as exc:
        print(f"wfdesk: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:  # e.g. "Unknown script type: ..."
        print(f"wfdesk: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    except KeyboardInterrupt:
        print("wfdesk: interrupted; finished sections are saved (resume with `wfdesk runs resume ID`)",
              file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - a command line shows a message, not a traceback
        logging.getLogger("wfdesk").debug("unexpected error", exc_info=True)
        if _is_database_error(exc):  # never SQL text on a terminal
            from wfdesk.db.engine import database_error_message

            print(f"wfdesk: {database_error_message(exc)}", file=sys.stderr)
            return EXIT_FAILED
        print(f"wfdesk: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _is_database_error(exc: BaseException) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    return isinstance(exc, SQLAlchemyError)


def _workspace(args: argparse.Namespace) -> Workspace:
    from sqlalchemy.exc import SQLAlchemyError

    from wfdesk.services.opening import open_for_use
    from wfdesk.workspace import set_current

    try:
        ws = open_for_use(database_url=args.database, data_dir=args.data_dir)
    except SQLAlchemyError as exc:
        from wfdesk.db.engine import database_error_message

        raise WfdeskError(f"cannot open the database: {database_error_message(exc)}") from None
    set_current(ws)
    return ws


def _json_arg(text: str | None, name: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequestError(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequestError(f"{name} must be a JSON object")
    return value


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def _dispatch(args: argparse.Namespace) -> int:
    from wfdesk.workspace import set_current

    ws = _workspace(args)
    try:
        return _command(ws, args)
    finally:
        set_current(None)
        ws.close()


def _command(ws: Workspace, args: argparse.Namespace) -> int:
    handlers: dict[str, Callable[[Workspace, argparse.Namespace], int]] = {
        "init": _init,
        "import": lambda ws, args: _import(ws, Path(args.file)),
        "demo": lambda ws, args: _demo(ws),
        "export": _export,
        "run-step": _run_step,
        "validate": lambda ws, args: _validate(ws, args.step),
        "runs": _runs,
        "costs": _costs,
        "workflow": _workflow,
        "accept": _review,
        "reject": _review,
        "import-post": _content_command,
        "export-post": _content_command,
        "worker": _worker,
        "serve": _serve,
    }
    handler = handlers.get(args.command)
    if handler is None:
        raise BadRequestError(f"unknown command {args.command}")
    return handler(ws, args)


def _init(ws: Workspace, args: argparse.Namespace) -> int:
    print(f"Database ready: {ws.db.display_url()}")
    return EXIT_OK


def _export(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.services.transfer import export_bundle

    with ws.db.session() as s:
        data = export_bundle(s)
    from wfdesk.fileio import atomic_write_bytes

    atomic_write_bytes(Path(args.file), json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))
    print(f"Exported {len(data['posts'])} post(s), {len(data['workflow_steps'])} step(s), "
          f"{len(data['llm_actions'])} LLM action(s) to {args.file}")
    return EXIT_OK


def _costs(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs.costs import totals

    rows = totals(ws, args.by, post_id=args.post)
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            label = r.get("month") or r.get("model") or r.get("step") or f"post {r.get('post_id')}"
            print(f"{label!s:<32} ${r['cost']:>10.4f}  {r['prompt_tokens']:>9} in  "
                  f"{r['completion_tokens']:>9} out  {r['images']:>5} images")
    return EXIT_OK


def _review(ws: Workspace, args: argparse.Namespace) -> int:
    """accept / reject a version."""
    from wfdesk.db import content

    with ws.db.session() as s:
        fn = content.accept_version if args.command == "accept" else content.reject_version
        v = fn(s, args.version_id)
        out = {"version_id": v.id, "status": v.status, "post_id": v.post_id, "section_id": v.section_id,
               "field": v.field, "value": v.value}
    _print_json(out)
    return EXIT_OK


def _worker(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs.team_worker import serve_worker

    return serve_worker(ws, args.concurrency, args.takeover_after)


def _serve(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.api.serve import serve

    return serve(ws, args)


def _content_command(ws: Workspace, args: argparse.Namespace) -> int:
    """import-post / export-post: a bad draft or folder is a bad request (exit 2), nothing half-written."""
    from wfdesk.content.draft_read import DraftError
    from wfdesk.services.editing import EditError

    try:
        if args.command == "import-post":
            from wfdesk.content.post_import import ImportOptions, import_file

            result = import_file(ws, Path(args.file), ImportOptions(split_level=args.split_level, field=args.field))
            for note in result.pop("notes"):
                print(f"wfdesk: {note}", file=sys.stderr)
            _print_json(result)
            return EXIT_OK
        from wfdesk.content.export import export_post

        exported = export_post(ws, args.post, args.format, Path(args.out), args.body_field)
    except (DraftError, EditError, OSError) as exc:
        raise BadRequestError(str(exc)) from None
    for line in exported.summary():
        print(f"wfdesk: {line}", file=sys.stderr)
    _print_json({"files": [str(f) for f in exported.files]})
    return EXIT_OK


def _import(ws: Workspace, path: Path) -> int:
    from wfdesk.services.changes import IMPORTED, announce
    from wfdesk.services.transfer import import_bundle

    data = _read_json(path)
    try:
        with ws.db.session() as s:
            counts = import_bundle(s, data)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    announce(ws, IMPORTED)  # open windows on a shared database show it
    print("Imported " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
    return EXIT_OK


def _demo(ws: Workspace) -> int:
    from wfdesk.db.models import Post
    from wfdesk.services import editing

    demo_ids = [p["id"] for p in editing.demo_bundle()["posts"]]
    with ws.db.session() as s:
        loaded = s.scalars(select(Post).where(Post.id.in_(demo_ids))).first()
        if loaded is not None:
            # Loading again would overwrite the editor's changes to the demo post with the demo's own text.
            print(f"The demo is already loaded: post {loaded.id}, \"{loaded.title}\". Nothing was changed.")
            return EXIT_OK
    counts = editing.load_demo(ws)
    print(f"Demo loaded: {counts['posts']} post with {counts['sections']} sections, {counts['workflow_steps']} "
          f"workflow steps and {counts['llm_actions']} LLM action.")
    return EXIT_OK


def _workflow(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.fileio import atomic_write_bytes
    from wfdesk.services import workflows
    from wfdesk.services.changes import WORKFLOW_IMPORTED, announce

    if args.workflow_command == "templates":
        for name, doc in sorted(workflows.templates().items()):
            print(f"{name}: {doc.get('name', '')} ({len(doc['workflow_steps'])} steps)")
        return EXIT_OK
    if args.workflow_command == "export":
        ids = [int(x) for x in args.steps.split(",")] if args.steps else None
        with ws.db.session() as s:
            doc = workflows.export_workflow(s, name=args.name, step_ids=ids)
        atomic_write_bytes(Path(args.file), json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8"))
        print(f"Exported {len(doc['workflow_steps'])} step(s) and {len(doc['llm_actions'])} LLM action(s)")
        return EXIT_OK
    if args.template:
        available = workflows.templates()
        if args.template not in available:
            raise BadRequestError(f"no built-in workflow {args.template!r}; choose from {', '.join(sorted(available))}")
        data = available[args.template]
    else:
        data = _read_json(Path(args.file))
    try:
        with ws.db.session() as s:
            counts = workflows.import_workflow(s, data, ws)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    announce(ws, WORKFLOW_IMPORTED)
    print(f"Added {counts['workflow_steps']} step(s) (ids {', '.join(map(str, counts['step_ids']))}) and "
          f"{counts['llm_actions']} LLM action(s)")
    return EXIT_OK


def _read_json(path: Path) -> Any:
    from wfdesk.services.transfer import ImportRefusedError, read_json

    try:
        return read_json(path.read_text(encoding="utf-8"))
    except ImportRefusedError as exc:  # not JSON, or nested too deeply: said in words
        raise BadRequestError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise BadRequestError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"{path}: cannot read: {exc}") from None


# --- result cache -------------------------------------------------------------------------------------------------
def _add_no_cache(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-cache", action="store_true",
                        help="ask the provider even where an identical earlier answer could be reused (by default "
                             "an answer asked at temperature 0 is reused, free; see README, Result cache)")


def _run_step(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs.engine import execute_step
    from wfdesk.runs.result_cache import FRESH_ANSWERS

    context: dict[str, Any] = {}
    if args.sections:
        try:
            context["section_ids"] = [int(x) for x in args.sections.split(",") if x.strip()]
        except ValueError:
            raise BadRequestError(f"--sections must be comma-separated ids, not {args.sections!r}") from None
    if args.inputs:
        context["inputs"] = _json_arg(args.inputs, "--inputs")
    if args.llm_settings:
        context["llm_settings"] = _json_arg(args.llm_settings, "--llm-settings")
    if args.no_cache:
        context[FRESH_ANSWERS] = True  # kept with the run: resuming it asks for fresh answers too
    if args.on_workers:
        from wfdesk.runs.ledger import where_it_runs
        from wfdesk.runs.team_queue import queue_step
        from wfdesk.states import RunState

        queued = queue_step(ws, args.step, args.post, context)
        _print_json({"run_id": queued.run_id, "status": RunState.QUEUED.value, "sections": queued.sections,
                     "where": where_it_runs(RunState.QUEUED, True, None)})
        return EXIT_OK
    result = execute_step(ws, args.step, args.post, context)  # what the reference's execute_step_script runs
    _print_json(result)
    return EXIT_OK if result.get("success") else EXIT_FAILED


def _validate(ws: Workspace, step_id: int | None) -> int:
    from wfdesk.db.models import WorkflowStepEntity
    from wfdesk.services.validation import validate_step

    with ws.db.session() as s:
        stmt = select(WorkflowStepEntity).order_by(WorkflowStepEntity.position, WorkflowStepEntity.id)
        if step_id is not None:
            stmt = stmt.where(WorkflowStepEntity.id == step_id)
        steps = [(st.id, st.name, st.config) for st in s.scalars(stmt)]
    if step_id is not None and not steps:
        raise NotFoundError(f"Step {step_id} does not exist")
    bad = 0
    for sid, name, config in steps:
        problems = validate_step(ws, name, config)
        if problems:
            bad += 1
            print(f"step {sid} {name!r}:", file=sys.stderr)
            for p in problems:
                print(f"  - {p}", file=sys.stderr)
        else:
            print(f"step {sid} {name!r}: ok")
    return EXIT_BAD_REQUEST if bad else EXIT_OK


def _runs(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs import ledger

    if args.runs_command == "list":
        from wfdesk.services import run_history

        flt = run_history.RunFilter(post_id=args.post, step_id=args.step, status=args.status, mine_only=args.mine)
        page = run_history.list_runs(ws, flt, before_id=args.before, limit=args.limit)
        if args.json:
            _print_json([run_history.summary_json(r) for r in page.rows])
        else:
            for r in page.rows:
                who = "" if r.mine else f"  by {r.started_by}"
                when = r.created_at.isoformat() if r.created_at else ""
                print(f"#{r.id:<5} {r.status:<11} step {r.step_id} {r.step_name!r} post {r.post_id}  "
                      f"{r.counts.get(UnitState.SUCCESS, 0)}/{r.total} ok  {when}{who}")
            if page.next_before is not None:
                print(f"(more: wfdesk runs list --before {page.next_before})")
        return EXIT_OK
    if args.runs_command == "show":
        _print_json(ledger.run_detail(ws, args.id))
        return EXIT_OK
    if args.runs_command == "cancel":
        from wfdesk.runs.run_cancel import RunNotCancellableError, request_cancel

        try:
            print(request_cancel(ws, args.id).message)
        except RunNotCancellableError as exc:
            print(f"wfdesk: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    from wfdesk.runs.engine import RunOptions, resume_run

    result = resume_run(ws, args.id, RunOptions(fresh_answers=args.no_cache))
    _print_json(result)
    return EXIT_OK if result.get("success") else EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
