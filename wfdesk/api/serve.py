"""`wfdesk serve`: the HTTP API in the foreground, runs executed by the engine in this process."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wfdesk.workspace import Workspace

EXIT_OK, EXIT_BAD_REQUEST = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: only this "
                                                            "computer)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a --host other machines can reach "
                                                                    "(the token is still required)")
    parser.add_argument("--cors-origin", action="append", metavar="ORIGIN", default=[],
                        help="a web page origin allowed to call the API from a browser, e.g. "
                             "https://cms.example.com (repeatable; also Settings → Other apps → Web pages)")
    parser.add_argument("--allowed-host", action="append", metavar="NAME", default=[],
                        help="with --allow-remote: a name or address other machines use for this computer, e.g. "
                             "wfdesk.lan (repeatable); a request naming any other host is refused")


def serve(ws: Workspace, args: argparse.Namespace) -> int:
    from wfdesk.api.app import create_app
    from wfdesk.api.runner import InProcessRunner
    from wfdesk.api.server import ApiServer, allowed_hosts, check_bind_address, is_loopback
    from wfdesk.api.token import TokenUnavailableError, load_token
    from wfdesk.redact import redact_handlers
    from wfdesk.settings import cors_origin_problem

    redact_handlers()  # the command's log (httpx's request lines, errors): no password of a provider's address
    problem = check_bind_address(args.host, args.allow_remote)
    if problem:
        print(f"wfdesk: {problem}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    try:
        token = load_token()
    except TokenUnavailableError as exc:
        print(f"wfdesk: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    origins = cors_origins(ws.settings.api_cors_origins, args.cors_origin)
    if problem := cors_origin_problem(origins):
        print(f"wfdesk: web pages allowed to call the API (--cors-origin, Settings → Other apps): {problem}",
              file=sys.stderr)
        return EXIT_BAD_REQUEST
    runner = InProcessRunner(lambda: ws)
    hosts = allowed_hosts(args.host, args.allowed_host)
    app = create_app(runner, lambda: token, cors_origins=origins, allowed_hosts=hosts)
    try:
        server = ApiServer(app, args.host, args.port, verbose=args.verbose)
    except OSError as exc:
        print(f"wfdesk: cannot serve on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    print(f"The API token is in {token.where}. Requests send it as Authorization: Bearer <token>.", flush=True)
    if origins:
        print(f"Web pages allowed to call it from a browser: {', '.join(origins)}", flush=True)
    if not is_loopback(args.host):
        print(f"wfdesk: serving on {args.host}, reachable from other machines (token required); requests must "
              f"name this computer as one of {', '.join(hosts)} (add others with --allowed-host)", file=sys.stderr)
    try:
        server.run(on_started=lambda: print(f"serving on {server.url}", flush=True))
    finally:
        runner.shutdown()  # sections in flight are saved; the rest stay queued for `wfdesk runs resume`
    return EXIT_OK


def cors_origins(configured: Sequence[str], extra: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(o.strip().rstrip("/") for o in [*configured, *extra] if o.strip()))
