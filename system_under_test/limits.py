"""Request body size limit: a pure ASGI middleware answering 413 with a JSON error.

A declared `Content-Length` over the limit is refused before any byte of the body is read. Bodies
without one (chunked transfer encoding) are counted as they stream in; the first chunk that takes the
total over the limit stops the request and the client gets the same 413. The limit is
`ATHBENCH_MAX_BODY_BYTES` (`Settings.max_body_bytes`, default 64 KiB).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """Raised from `receive` when a streamed body passes the limit; whatever the app makes of it (an
    exception, a 400 "error parsing the body"), the client gets the middleware's 413."""


async def _send_json_error(send: Send, status: int, payload: dict[str, object]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 413:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Refuse HTTP request bodies larger than `max_bytes` with 413 and a JSON `detail`."""

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, received: int | None = None) -> dict[str, object]:
        seen = f"{received} bytes declared" if received is not None else "more was sent"
        return {
            "detail": f"request body too large: the limit is {self.max_bytes} bytes ({seen})",
            "limit_bytes": self.max_bytes,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _send_json_error(send, 400, {"detail": f"invalid Content-Length header: {declared[:40]!r}"})
                return
            if int(declared) > self.max_bytes:
                await _send_json_error(send, 413, self._too_large(int(declared)))
                return

        received = 0
        exceeded = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # the app's answer to the aborted body (e.g. a 400) is replaced by the 413
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not (exceeded and not response_started):
                raise
        if exceeded and not response_started:
            await _send_json_error(send, 413, self._too_large())
