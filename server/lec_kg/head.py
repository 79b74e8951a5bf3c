"""HEAD for every GET route: the same status and headers as GET, no body (RFC 9110 §9.3.2).

Routes that answer HEAD themselves (a cheaper handler, /health, the dumps) keep theirs; a HEAD
on a path whose routes answer GET and not HEAD is run as that GET and its body dropped, so a
route added later answers HEAD without saying so. `allowed` is what a 405's Allow names: every
method the routes of the path answer, HEAD wherever GET is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadMiddleware:
    """Pure ASGI: a HEAD no route takes runs as a GET whose body is dropped."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.routes = routes  # the router's live list: routes added later count too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or self._matches(scope):
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}
        if not self._matches(as_get):
            await self.app(scope, receive, send)  # no GET either: the usual 404 or 405
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(as_get, receive, without_body)

    def _matches(self, scope: Scope) -> bool:
        # on a copy: matching may note the route it found in the scope
        return any(route.matches({**scope})[0] is Match.FULL for route in self.routes)


def allowed(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """Every method the routes of this path answer (HEAD with GET), sorted."""
    methods: set[str] = set()
    for route in flat_routes(routes):
        found = getattr(route, "methods", None)
        if found and route.matches({**scope})[0] is not Match.NONE:
            methods |= set(found)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def flat_routes(routes: Iterable[BaseRoute]) -> Iterator[Any]:
    """Every route, those of included routers too (FastAPI keeps an included router as one
    entry of `app.routes`, its routes as contexts with their full path and methods)."""
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            yield from contexts()
        else:
            yield route
