"""The command line's arguments: every command, its options and their help."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from wfdesk.cli.common import EXIT_FAILED, EXIT_OK
from wfdesk.errors import WfdeskError
from wfdesk.states import RunState


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


def _add_no_cache(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-cache", action="store_true",
                        help="ask the provider even where an identical earlier answer could be reused (by default "
                             "an answer asked at temperature 0 is reused, free; see README, Result cache)")
