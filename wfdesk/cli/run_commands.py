"""Commands that run steps or look at runs: run-step, validate, runs (list, show, cancel, resume), worker, serve."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from wfdesk.cli.common import EXIT_BAD_REQUEST, EXIT_FAILED, EXIT_OK, BadRequestError, json_arg, print_json
from wfdesk.errors import NotFoundError
from wfdesk.states import UnitState

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace


def run_step(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs.engine import execute_step
    from wfdesk.runs.result_cache import FRESH_ANSWERS

    context: dict[str, Any] = {}
    if args.sections:
        try:
            context["section_ids"] = [int(x) for x in args.sections.split(",") if x.strip()]
        except ValueError:
            raise BadRequestError(f"--sections must be comma-separated ids, not {args.sections!r}") from None
    if args.inputs:
        context["inputs"] = json_arg(args.inputs, "--inputs")
    if args.llm_settings:
        context["llm_settings"] = json_arg(args.llm_settings, "--llm-settings")
    if args.no_cache:
        context[FRESH_ANSWERS] = True  # kept with the run: resuming it asks for fresh answers too
    if args.on_workers:
        from wfdesk.runs.ledger import where_it_runs
        from wfdesk.runs.team_queue import queue_step
        from wfdesk.states import RunState

        queued = queue_step(ws, args.step, args.post, context)
        print_json({"run_id": queued.run_id, "status": RunState.QUEUED.value, "sections": queued.sections,
                     "where": where_it_runs(RunState.QUEUED, True, None)})
        return EXIT_OK
    result = execute_step(ws, args.step, args.post, context)  # what the reference's execute_step_script runs
    print_json(result)
    return EXIT_OK if result.get("success") else EXIT_FAILED


def validate(ws: Workspace, step_id: int | None) -> int:
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


def runs_command(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs import ledger

    if args.runs_command == "list":
        from wfdesk.services import run_history

        flt = run_history.RunFilter(post_id=args.post, step_id=args.step, status=args.status, mine_only=args.mine)
        page = run_history.list_runs(ws, flt, before_id=args.before, limit=args.limit)
        if args.json:
            print_json([run_history.summary_json(r) for r in page.rows])
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
        print_json(ledger.run_detail(ws, args.id))
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
    print_json(result)
    return EXIT_OK if result.get("success") else EXIT_FAILED


def worker(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs.team_worker import serve_worker

    return serve_worker(ws, args.concurrency, args.takeover_after)


def serve_api(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.api.serve import serve

    return serve(ws, args)
