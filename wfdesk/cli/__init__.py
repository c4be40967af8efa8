"""`wfdesk` / `python -m wfdesk`: the engine without a window.

Exit codes: 0 success, 1 a run in which some section failed, 2 a bad request (nothing was sent).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from wfdesk.cli import data_commands as data
from wfdesk.cli import run_commands as run_cmds
from wfdesk.cli.common import EXIT_BAD_REQUEST, EXIT_FAILED, EXIT_OK, BadRequestError
from wfdesk.cli.parser import build_parser
from wfdesk.errors import ConfigError, NotFoundError, WfdeskError
from wfdesk.runs.costs import BudgetError

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

__all__ = ["EXIT_BAD_REQUEST", "EXIT_FAILED", "EXIT_OK", "BadRequestError", "build_parser", "main"]


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
        "init": data.init,
        "import": lambda ws, args: data.import_all(ws, Path(args.file)),
        "demo": lambda ws, args: data.demo(ws),
        "export": data.export_all,
        "run-step": run_cmds.run_step,
        "validate": lambda ws, args: run_cmds.validate(ws, args.step),
        "runs": run_cmds.runs_command,
        "costs": data.costs,
        "workflow": data.workflow,
        "accept": data.review,
        "reject": data.review,
        "import-post": data.content_command,
        "export-post": data.content_command,
        "worker": run_cmds.worker,
        "serve": run_cmds.serve_api,
    }
    handler = handlers.get(args.command)
    if handler is None:
        raise BadRequestError(f"unknown command {args.command}")
    return handler(ws, args)
