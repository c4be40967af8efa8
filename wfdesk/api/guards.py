"""ASGI middleware in front of every route: the bearer token and the request size limit.

Pure ASGI (not FastAPI dependencies) so that they also cover the OpenAPI document, the docs page, the stored
images and addresses that do not exist: nothing answers without the token. CORS preflights are answered by
Starlette's CORSMiddleware, outside these (a browser sends no Authorization header on a preflight).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wfdesk.api.token import ApiToken

DEFAULT_MAX_BODY = 1024 * 1024  # a request is a few ids and prompts: a megabyte is far more than one needs


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


class BearerAuth:
    """401 unless `Authorization: Bearer <token>`; the token is read per request (Settings may regenerate it)."""

    def __init__(self, app: ASGIApp, token: Callable[[], ApiToken]) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not self.token().matches(presented.strip()):
            message = ("Missing token: send the header Authorization: Bearer <token>" if not header else
                       "Wrong token: send the token wfdesk shows (Settings → Other apps, or WFDESK_API_TOKEN)")
            await _send_json(send, 401, {"success": False, "error": message, "field": None, "problems": []},
                             [(b"www-authenticate", b"Bearer")])
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 for a body over `max_bytes`: by its Content-Length at once, or while a chunked one arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = {"success": False, "error": f"The request is too large: at most {self.max_bytes} bytes",
                   "field": None, "problems": []}
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _send_json(send, 413, too_big)
            return
        if length is None and scope.get("method") in ("POST", "PUT", "PATCH"):
            # Chunked: read it here, up to the limit, and hand the app the body as one message.
            chunks, seen = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunks.append(message.get("body", b""))
                seen += len(chunks[-1])
                if seen > self.max_bytes:
                    await _send_json(send, 413, too_big)
                    return
                if not message.get("more_body"):
                    break
            body, replayed = b"".join(chunks), False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)
