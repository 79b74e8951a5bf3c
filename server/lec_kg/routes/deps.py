"""What route handlers take from the app: settings, metrics and the engine once it is ready."""

from __future__ import annotations

import json
import logging
import math

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ..auth import challenge
from ..config import Settings
from ..engine_api import Engine, QueryRequest
from ..errors import Busy, LecKgError, MethodNotAllowed, NotReady, Unauthorized
from ..observability import Metrics, request_id_of

LOG = logging.getLogger("lec_kg.app")

COUNT_QUADS = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
JSON_RESULTS = "application/sparql-results+json"


def settings_of(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


def metrics_of(request: Request) -> Metrics:
    """The app's metrics."""
    return request.app.state.metrics


def ready_engine(request: Request) -> Engine:
    """The engine, or 503 while the graph is not loaded or has not passed the shapes."""
    engine = request.app.state.engine
    if engine is None or not engine.is_ready():
        raise NotReady("the graph is not loaded or has not passed the shapes yet; see /ready")
    return engine


def select_values(engine: Engine, query: str) -> list[dict[str, str]]:
    """Run a SELECT through the engine and return its bindings as {variable: lexical value}."""
    result = engine.query(QueryRequest(query), JSON_RESULTS)
    rows = json.loads(result.body)["results"]["bindings"]
    return [{k: v["value"] for k, v in row.items()} for row in rows]


def store_quads(app: FastAPI) -> float:
    """Quads in the store's named graphs (NaN when the engine is not ready or cannot say)."""
    engine = app.state.engine
    if engine is None or not engine.is_ready():
        return math.nan
    try:
        return float(select_values(engine, COUNT_QUADS)[0]["n"])
    except Exception:  # a scrape must never fail because the count failed
        return math.nan


class JSONUTF8Response(JSONResponse):
    """JSON with an explicit charset, like every other reply of the service."""

    media_type = "application/json; charset=utf-8"


def endpoint_url(request: Request) -> str:
    """Where a page's links and form send queries: the configured public URL's /sparql, or
    else `sparql`, relative to the page (which /sparql serves). Never the request's Host
    header: a client can send any, and a page must not link where it says."""
    public = settings_of(request).public_url
    return f"{public.rstrip('/')}/sparql" if public else "sparql"


def endpoint_iri(settings: Settings) -> str:
    """The endpoint's absolute IRI, for RDF about the service: from the settings only."""
    return f"{settings.public_base}/sparql"


def error_response(exc: LecKgError) -> JSONResponse:
    """A typed error: its status, its JSON body, the auth challenge with a 401, and
    Retry-After when a bound on concurrent queries was reached (429, 503)."""
    headers = challenge() if isinstance(exc, Unauthorized) else None
    if isinstance(exc, Busy):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, MethodNotAllowed):
        headers = {"Allow": exc.allow}
    return JSONUTF8Response(exc.to_dict(), status_code=exc.status, headers=headers)


def unexpected_error_response(scope, exc: Exception) -> JSONResponse:
    """Anything else: a 500 that names the request id; the traceback goes to the log only."""
    request_id = request_id_of(scope)
    LOG.error("unhandled error, request_id=%s", request_id, exc_info=exc)
    body = {"error": "internal error", "detail": f"the server failed; request id {request_id}"}
    return JSONUTF8Response(body, status_code=500)
