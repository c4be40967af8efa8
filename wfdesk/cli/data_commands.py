"""Commands that move data: init, demo, import and export (everything, a workflow, a post), accept / reject,
costs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from wfdesk.cli.common import EXIT_OK, BadRequestError, print_json, read_json

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace


def init(ws: Workspace, args: argparse.Namespace) -> int:
    print(f"Database ready: {ws.db.display_url()}")
    return EXIT_OK


def export_all(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.services.transfer import export_bundle

    with ws.db.session() as s:
        data = export_bundle(s)
    from wfdesk.fileio import atomic_write_bytes

    atomic_write_bytes(Path(args.file), json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8"))
    print(f"Exported {len(data['posts'])} post(s), {len(data['workflow_steps'])} step(s), "
          f"{len(data['llm_actions'])} LLM action(s) to {args.file}")
    return EXIT_OK


def costs(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.runs.costs import totals

    rows = totals(ws, args.by, post_id=args.post)
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            label = r.get("month") or r.get("model") or r.get("step") or f"post {r.get('post_id')}"
            print(f"{label!s:<32} ${r['cost']:>10.4f}  {r['prompt_tokens']:>9} in  "
                  f"{r['completion_tokens']:>9} out  {r['images']:>5} images")
    return EXIT_OK


def review(ws: Workspace, args: argparse.Namespace) -> int:
    """accept / reject a version."""
    from wfdesk.db import content

    with ws.db.session() as s:
        fn = content.accept_version if args.command == "accept" else content.reject_version
        v = fn(s, args.version_id)
        out = {"version_id": v.id, "status": v.status, "post_id": v.post_id, "section_id": v.section_id,
               "field": v.field, "value": v.value}
    print_json(out)
    return EXIT_OK


def content_command(ws: Workspace, args: argparse.Namespace) -> int:
    """import-post / export-post: a bad draft or folder is a bad request (exit 2), nothing half-written."""
    from wfdesk.content.draft_read import DraftError
    from wfdesk.services.editing import EditError

    try:
        if args.command == "import-post":
            from wfdesk.content.post_import import ImportOptions, import_file

            result = import_file(ws, Path(args.file), ImportOptions(split_level=args.split_level, field=args.field))
            for note in result.pop("notes"):
                print(f"wfdesk: {note}", file=sys.stderr)
            print_json(result)
            return EXIT_OK
        from wfdesk.content.export import export_post

        exported = export_post(ws, args.post, args.format, Path(args.out), args.body_field)
    except (DraftError, EditError, OSError) as exc:
        raise BadRequestError(str(exc)) from None
    for line in exported.summary():
        print(f"wfdesk: {line}", file=sys.stderr)
    print_json({"files": [str(f) for f in exported.files]})
    return EXIT_OK


def import_all(ws: Workspace, path: Path) -> int:
    from wfdesk.services.changes import IMPORTED, announce
    from wfdesk.services.transfer import import_bundle

    data = read_json(path)
    try:
        with ws.db.session() as s:
            counts = import_bundle(s, data)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    announce(ws, IMPORTED)  # open windows on a shared database show it
    print("Imported " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items()))
    return EXIT_OK


def demo(ws: Workspace) -> int:
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


def workflow(ws: Workspace, args: argparse.Namespace) -> int:
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
        data = read_json(Path(args.file))
    try:
        with ws.db.session() as s:
            counts = workflows.import_workflow(s, data, ws)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from None
    announce(ws, WORKFLOW_IMPORTED)
    print(f"Added {counts['workflow_steps']} step(s) (ids {', '.join(map(str, counts['step_ids']))}) and "
          f"{counts['llm_actions']} LLM action(s)")
    return EXIT_OK
