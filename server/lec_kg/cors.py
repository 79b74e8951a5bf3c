"""CORS for a read-only public API: any origin may read; no origin may write from a browser.

Any origin gets `Access-Control-Allow-Origin: *` (no credentials) and the lec-kg headers exposed;
a preflight is granted for GET and POST with the safelisted headers plus Accept and Content-Type,
never Authorization, so a page elsewhere cannot send the write token. Every reply says
`Vary: Origin`. The same behaviour as Starlette's CORSMiddleware with this configuration, at a
fraction of its cost per request (it rebuilt the header list of every response).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = ("GET", "POST")
SAFELISTED = ("accept", "accept-language", "content-language", "content-type")
MAX_AGE_S = 600


class PublicReadCors:
    """ASGI middleware: the policy above."""

    def __init__(self, app: ASGIApp, expose_headers: tuple[str, ...]) -> None:
        self.app = app
        self.simple = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", ", ".join(expose_headers).encode("latin-1")),
        ]
        self.preflight_ok = [
            (b"access-control-allow-origin", b"*"),
            (b"access-control-allow-methods", ", ".join(ALLOW_METHODS).encode()),
            (b"access-control-allow-headers", ", ".join(h.title() for h in SAFELISTED).encode()),
            (b"access-control-max-age", str(MAX_AGE_S).encode()),
            (b"vary", b"Origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = asked_method = asked_headers = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                asked_method = value
            elif name == b"access-control-request-headers":
                asked_headers = value
        if origin is not None and scope["method"] == "OPTIONS" and asked_method is not None:
            await self._preflight(send, asked_method, asked_headers)
            return
        extra = self.simple if origin is not None else []

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                _add_vary_origin(headers)
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, send: Send, method: bytes, asked: bytes | None) -> None:
        failures = []
        if method.decode("latin-1").upper() not in ALLOW_METHODS:
            failures.append("method")
        wanted = [h.strip().lower() for h in (asked or b"").decode("latin-1").split(",")]
        if any(h and h not in SAFELISTED for h in wanted):
            failures.append("headers")
        if failures:
            body = ("Disallowed CORS " + ", ".join(failures)).encode()
            headers = [h for h in self.preflight_ok if h[0] != b"access-control-allow-origin"]
            status = 400
        else:
            body, headers, status = b"OK", list(self.preflight_ok), 200
        headers += [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _add_vary_origin(headers: list[tuple[bytes, bytes]]) -> None:
    """Add Origin to the Vary header (creating it when absent)."""
    for i, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            headers[i] = (name, value + b", Origin")
            return
    headers.append((b"vary", b"Origin"))
