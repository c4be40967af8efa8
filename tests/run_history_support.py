"""Many runs written straight into the ledger (bulk inserts): the history's paging tests and benchmark."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from wfdesk.db.models import Post, PostSection, Run, RunUnit, WorkflowStepEntity
from wfdesk.states import RunState, UnitState

STATES = [RunState.SUCCEEDED, RunState.FAILED, RunState.PARTIAL, RunState.CANCELLED, RunState.INTERRUPTED]
COLLEAGUE = "colleague@their-laptop"


def seed_runs(ws, n: int, *, posts: int = 20, units_per_run: int = 3, me: str | None = None) -> dict[str, int]:
    """n runs over `posts` posts and two steps, a quarter of them a colleague's, one day apart every 100 runs."""
    from wfdesk.runs import ledger

    me = me or ledger.STARTED_BY
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with ws.db.session() as s:
        steps = []
        for name in ("Polish", "Illustrate"):
            step = WorkflowStepEntity(name=name, stage="", position=len(steps), config={})
            s.add(step)
            s.flush()
            steps.append(step.id)
        post_ids = []
        for i in range(posts):
            post = Post(title=f"Post number {i}", status="draft")
            s.add(post)
            s.flush()
            s.add(PostSection(post_id=post.id, position=0, title="Intro"))
            post_ids.append(post.id)
        runs = [{"step_id": steps[i % 2], "post_id": post_ids[i % posts],
                 "step_name": ("Polish", "Illustrate")[i % 2], "script_type": "llm_action",
                 "status": STATES[i % len(STATES)], "effective_config": {}, "context": {},
                 "created_at": t0 + timedelta(days=i // 100), "started_at": t0 + timedelta(days=i // 100),
                 "finished_at": t0 + timedelta(days=i // 100, seconds=5),
                 "started_by": COLLEAGUE if i % 4 == 3 else me, "owner": "their-laptop:1"}
                for i in range(n)]
        s.execute(insert(Run), runs)
        run_ids = [rid for (rid,) in s.execute(Run.__table__.select().with_only_columns(Run.id).order_by(Run.id))]
        units = [{"run_id": rid, "position": k, "status": UnitState.SUCCESS if k else UnitState.ERROR,
                  "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.001, "result": {}, "images": 0}
                 for rid in run_ids for k in range(units_per_run)]
        s.execute(insert(RunUnit), units)
    return {"steps": steps[0], "first_post": post_ids[0], "newest": run_ids[-1], "oldest": run_ids[0]}
