"""Request bodies are read as sent: a Content-Encoding other than `identity` is refused (415).

The server decodes no content coding, so a gzip body would otherwise be read as its compressed
bytes ("not UTF-8") and a plain body labelled `br` read as if the label were not there. Either
is answered 415 naming the coding, with `Accept-Encoding: identity` (RFC 7694 §3), before the
app reads a byte of the body; nothing is stored.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import UnsupportedMediaType


def refused_codings(headers: list[tuple[bytes, bytes]]) -> list[str]:
    """The content codings the request names other than identity, in order."""
    codings = []
    for name, value in headers:
        if name == b"content-encoding":
            for coding in value.decode("latin-1").split(","):
                coding = coding.strip().lower()
                if coding and coding != "identity":
                    codings.append(coding)
    return codings


class ContentEncodingMiddleware:
    """Pure ASGI: a request that may carry a body (not GET, HEAD or OPTIONS) and names a
    content coding gets the 415; the app is not called."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        reads = scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS")
        codings = refused_codings(scope["headers"]) if reads else []
        if not codings:
            await self.app(scope, receive, send)
            return
        error = UnsupportedMediaType(
            f"Content-Encoding {', '.join(codings)} is not decoded here: send the body "
            "uncompressed (identity)",
            content_encoding=codings,
        )
        payload = json.dumps(error.to_dict()).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"accept-encoding", b"identity"),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
