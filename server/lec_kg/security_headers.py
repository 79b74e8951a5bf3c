"""Security headers on every reply: what a browser may do with what this service writes.

Every reply gets `X-Content-Type-Options: nosniff` (a browser renders a reply only as what its
Content-Type says), `Referrer-Policy: no-referrer` (a query in a page's URL is not sent to
the sites its links lead to) and `X-Frame-Options: DENY`, and a Content-Security-Policy unless
its route set one (/docs does, for Swagger UI's script): HTML pages get `results_html`'s page
policy (no script at all), every other reply `default-src 'none'`, so that a reply a browser
opens as a document (RDF/XML, say) can run nothing and load nothing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeadersMiddleware:
    """Pure ASGI: adds the headers to the response's start message, nothing else."""

    def __init__(self, app: ASGIApp, page_policy: str) -> None:
        self.app = app
        self.page = (b"content-security-policy", page_policy.encode("latin-1"))
        self.other = (b"content-security-policy", OTHER_POLICY.encode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or ()
                html = has_policy = False
                for name, value in headers:  # ASGI header names are lower-case
                    if name == b"content-type":
                        html = value.startswith(b"text/html")
                    elif name == b"content-security-policy":
                        has_policy = True
                if has_policy:
                    message["headers"] = [*headers, *ALWAYS]
                else:
                    message["headers"] = [*headers, *ALWAYS, self.page if html else self.other]
            await send(message)

        await self.app(scope, receive, send_with_headers)
