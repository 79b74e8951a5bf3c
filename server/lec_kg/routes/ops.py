"""Operations: liveness (/health), readiness (/ready) and Prometheus metrics (/metrics)."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from .. import __version__
from .deps import metrics_of

router = APIRouter(tags=["operations"])


@router.head("/health", include_in_schema=False)
@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: 200 as long as the process answers."""
    return {"status": "ok", "version": __version__}


@router.head("/ready", include_in_schema=False)
@router.get("/ready", responses={503: {"description": "not loaded yet, or the graph is invalid"}})
def ready(request: Request) -> JSONResponse:
    """Readiness: 200 once the graph is loaded and has passed the shapes, else 503 saying why.

    `pid` names the server process that answered (with --workers N, each has its own copy);
    `isolation` says which walls hold around the query workers (no network, memory ceiling)."""
    state = request.app.state
    if state.engine is not None and state.engine.is_ready():
        body: dict[str, object] = {
            "ready": True,
            "graphs": len(state.engine.graph_names()),
            "pid": os.getpid(),
        }
        body["isolation"] = state.engine.isolation_report()  # the query workers' walls
        return JSONResponse(body, media_type="application/json; charset=utf-8")
    if state.engine_error is not None:
        body = {"ready": False, "reason": "the graph could not be loaded", **state.engine_error}
    elif state.engine is not None:
        reason = state.engine.not_ready_reason
        body = {"ready": False, "reason": reason or "the graph has not passed the shapes"}
    else:
        body = {"ready": False, "reason": "the graph is still loading"}
    return JSONResponse(body, status_code=503, media_type="application/json; charset=utf-8")


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by route and status, query durations, store size."""
    return Response(metrics_of(request).exposition(), media_type=CONTENT_TYPE_LATEST)
