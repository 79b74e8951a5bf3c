"""The request-body limit: refuse a body over settings.max_body_bytes with 413, read or not."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import BadRequest, PayloadTooLarge


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes", limit=limit)


class BodyLimitMiddleware:
    """Check Content-Length up front and count the bytes actually streamed."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            error: BadRequest | PayloadTooLarge | None = None
            if not declared.strip().isdigit():
                error = BadRequest("the Content-Length header is not a number")
            elif int(declared) > self.limit:
                error = _too_large(self.limit)
            if error is not None:
                await _send_error(send, error.status, error.to_dict())
                return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _too_large(self.limit)  # the app's error handler answers 413
            return message

        await self.app(scope, counted_receive, send)


async def _send_error(send: Send, status: int, body: dict) -> None:
    """Answer with a JSON error without calling the app (the body is left unread)."""
    payload = json.dumps(body).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
