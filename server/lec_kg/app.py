"""The app factory: `create_app(settings, engine)` wires routers, middleware and error handlers.

No module-level app, store or settings: everything hangs off `app.state` of the app built here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from . import __version__
from .config import Settings
from .content_encoding import ContentEncodingMiddleware
from .engine_api import Engine
from .errors import LecKgError
from .head import HeadMiddleware, allowed
from .limits import BodyLimitMiddleware
from .observability import REQUEST_ID_HEADER, Metrics, ObservabilityMiddleware
from .results_html import page_policy
from .routes import (
    docs,
    dumps,
    facts,
    framed,
    graphs,
    gsp,
    linked_data,
    ontology,
    ops,
    pages,
    sparql,
    submissions,
    void,
)
from .routes.deps import (
    JSONUTF8Response,
    error_response,
    store_quads,
    unexpected_error_response,
)
from .security_headers import SecurityHeadersMiddleware

LOG = logging.getLogger("lec_kg.app")
CLIENT_CLOSED_REQUEST = 499
DESCRIPTION = (
    "An open knowledge graph of international law-enforcement cooperation, served over the "
    "SPARQL 1.1 Protocol at `/sparql`. Reads are open; updates need "
    "`Authorization: Bearer <token>`."
)


class LecKgApp(FastAPI):
    """FastAPI with lec-kg's own middleware around it.

    Every request passes the request id, access log and metrics, the security headers
    (`security_headers`), CORS, the refusal of content codings (`content_encoding`), the body
    limit and HEAD for every GET route (`head`), then enters FastAPI: its middleware (whatever
    `add_middleware` or `@app.middleware("http")` adds), error handlers and router, which
    matches /sparql like any other route (`sparql.ProtocolRoute`). lec-kg's own layers sit
    outside so that they see every request and response, the errors FastAPI renders included,
    and are built once (Starlette rebuilds nothing per request, but composes its own stack
    lazily on the first one).
    """

    def wrap(self, settings: Settings) -> None:
        """Build the outer middleware stack, innermost first."""
        inner: ASGIApp = HeadMiddleware(super().__call__, self.router.routes)
        inner = BodyLimitMiddleware(inner, max_body_bytes=settings.max_body_bytes)
        inner = ContentEncodingMiddleware(inner)
        inner = CORSMiddleware(
            inner,
            allow_origins=["*"],
            allow_methods=["GET", "POST"],
            allow_headers=["Accept", "Content-Type"],  # no Authorization: no cross-origin writes
            expose_headers=[REQUEST_ID_HEADER, "X-LEC-Truncated", "X-LEC-Rows", "X-LEC-Cache"],
            allow_credentials=False,
            max_age=600,
        )
        inner = SecurityHeadersMiddleware(inner, page_policy(settings.public_url))
        self._outer = ObservabilityMiddleware(inner, metrics=self.state.metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        await self._outer(scope, receive, send)


def create_app(settings: Settings, engine: Engine | None = None) -> FastAPI:
    """A new app serving `engine`; without one, the engine is built in the background."""
    app = LecKgApp(
        title="lec-kg",
        version=__version__,
        description=DESCRIPTION,
        lifespan=_lifespan,
        default_response_class=JSONUTF8Response,
        docs_url=None,  # served by routes.docs from local files, never a CDN
        redoc_url=None,
        # lec-kg has its own metrics, request ids and access log (`observability`); FastAPI's
        # native OpenTelemetry would otherwise look for configured providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # GET and POST /sparql in the app's own router, first: FastAPI matches the routes of an
        # included router twice per request, which costs about as much as a cached answer.
        routes=list(sparql.router.routes),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.engine_error = None  # why the engine could not be built, if it could not
    app.state.metrics = Metrics()
    app.state.metrics.watch_store(lambda: store_quads(app), lambda: _is_ready(app))
    app.state.metrics.watch_result_cache(
        lambda: app.state.engine.result_cache_stats() if app.state.engine is not None else None
    )

    app.add_exception_handler(LecKgError, _lec_kg_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected_error)

    app.include_router(ops.router)  # /sparql is already in: see `routes=` above
    app.include_router(ontology.router)  # /ontology (page and files), /ontology/vocabularies
    app.include_router(linked_data.router)  # /id/..., /record/..., /shapes
    app.include_router(graphs.router)  # /graph/... (the named graphs)
    app.include_router(pages.router)  # /, /browse
    app.include_router(facts.router)
    app.include_router(submissions.router)
    app.include_router(gsp.router)
    app.include_router(dumps.router)
    app.include_router(framed.router)  # /frame/<kind>.jsonld, /framed/<kind>.jsonld
    app.include_router(void.router)
    docs.mount(app)
    # Later routers slot in here, one per concern: validate, facts, id, void, reconcile,
    # as-of, risks.
    app.wrap(settings)
    return app


def _is_ready(app: FastAPI) -> bool:
    engine = app.state.engine
    return engine is not None and engine.is_ready()


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the engine in a background thread when none was given, so /health answers at once.

    An engine built here is closed here; an engine passed in belongs to the caller.
    """
    loader = None
    if app.state.engine is None:
        loader = threading.Thread(
            target=_build_engine, args=(app,), name="lec-kg-load", daemon=True
        )
        loader.start()
    yield
    if loader is not None:
        loader.join()
        if app.state.engine is not None:
            app.state.engine.close()


def _build_engine(app: FastAPI) -> None:
    """Load and validate the graph; on failure /ready says why and stays 503."""
    from .engine import build_engine  # imported late: the engine module is heavy
    from .validation import load_validator

    settings: Settings = app.state.settings
    try:
        app.state.engine = build_engine(settings, load_validator(settings))
    except LecKgError as exc:
        LOG.error("the graph was not loaded: %s", exc.detail)
        app.state.engine_error = exc.to_dict()
    except Exception as exc:  # any failure must show on /ready, not kill the thread silently
        LOG.exception("the graph was not loaded")
        app.state.engine_error = {"error": "load failed", "detail": str(exc)}


async def _lec_kg_error(request: Request, exc: Exception) -> JSONResponse:
    """Every typed error: its status, its JSON body, and the auth challenge with a 401."""
    assert isinstance(exc, LecKgError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (404, 405) in the same JSON shape as the typed errors; a 405's Allow
    names every method the path answers (Starlette's names those of one route only)."""
    assert isinstance(exc, StarletteHTTPException)
    body: dict[str, Any] = {"error": _title(exc.status_code), "detail": str(exc.detail)}
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        methods = allowed(request.app.router.routes, request.scope)
        if methods:
            headers["Allow"] = ", ".join(methods)
    return JSONUTF8Response(body, status_code=exc.status_code, headers=headers or None)


async def _request_error(request: Request, exc: Exception) -> JSONResponse:
    """A parameter FastAPI could not read: a 400 (422 is kept for data that fails the shapes)."""
    assert isinstance(exc, RequestValidationError)
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
    )
    return JSONUTF8Response({"error": "bad request", "detail": detail}, status_code=400)


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client closed the connection before its body was all sent: nothing failed here.
    Logged at INFO, and 499 (nginx's "client closed request") in the access log; nobody is
    left to read the answer."""
    LOG.info(
        "client disconnected before sending its whole body, request_id=%s",
        request.scope.get("state", {}).get("request_id"),
    )
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Anything else: a 500 that names the request id; the traceback goes to the log only."""
    return unexpected_error_response(request.scope, exc)


def _title(status: int) -> str:
    """The lower-case reason phrase of a status ("not found")."""
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"
