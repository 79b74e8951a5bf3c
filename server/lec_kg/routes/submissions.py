"""Submissions: GET /submissions (the list), GET /submissions/{id} (its record, and with an RDF
Accept its record and its quads: the export), DELETE /submissions/{id} (withdraw it, with a
write token and a reason; the withdrawal is recorded, see `submissions`; 409 a second time)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pyoxigraph import Quad, RdfFormat, Triple, serialize

from ..auth import check_write_access
from ..errors import BadRequest
from ..negotiation import MediaType, by_name, negotiate
from ..submissions import (
    Records,
    check_message,
    fetch,
    graph_quads,
    listing,
    record_quads,
    withdraw,
)
from .deps import ready_engine, settings_of

router = APIRouter(tags=["submissions"])

JSON = MediaType("application/json", "results", ("json",))
EXPORTS: tuple[MediaType, ...] = (
    JSON,
    *(
        m
        for m in (
            by_name("application/trig", "dataset"),
            by_name("application/n-quads", "dataset"),
            by_name("text/turtle", "graph"),
            by_name("application/n-triples", "graph"),
            by_name("application/ld+json", "graph"),
        )
        if m is not None
    ),
)
Why = Annotated[str | None, Query(description="why it is withdrawn (required)")]
Format = Annotated[str | None, Query(description="json, trig, nquads, turtle, nt, jsonld")]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(payload, status, media_type="application/json; charset=utf-8", headers=headers)


@router.get("/submissions")
async def list_submissions(request: Request) -> Response:
    """Every submission, oldest first: id, graph, who, when, message, sources, withdrawal."""
    engine = ready_engine(request)
    records = Records(settings_of(request).base_iri)
    found = await run_in_threadpool(listing, engine, records)
    return _json({"submissions": found})


@router.get(
    "/submissions/{sid}",
    response_class=Response,
    responses={200: {"content": {m.name: {} for m in EXPORTS}}, 404: {}, 406: {}},
)
async def get_submission(request: Request, sid: str, format: Format = None) -> Response:
    """One submission: its record (JSON), or its record and quads in an RDF format (Accept)."""
    choice = negotiate(request.headers.get("accept"), EXPORTS, format)
    engine = ready_engine(request)
    records = Records(settings_of(request).base_iri)
    info = await run_in_threadpool(fetch, engine, records, sid)
    quads = await run_in_threadpool(graph_quads, engine, info["graph"])
    if choice.media is JSON:  # one of several answers by Accept
        return _json({**info, "quads": len(quads)}, headers={"Vary": "Accept"})
    record = await run_in_threadpool(record_quads, engine, records, sid)
    fmt = RdfFormat.from_media_type(choice.media.name)
    assert fmt is not None
    items: list[Quad] | list[Triple] = record + quads
    if not fmt.supports_datasets:
        items = sorted({Triple(q.subject, q.predicate, q.object) for q in record + quads}, key=str)
    body = serialize(items, format=fmt) or b""
    return Response(body, 200, {"Vary": "Accept"}, choice.content_type)


@router.delete(
    "/submissions/{sid}",
    responses={400: {}, 401: {}, 403: {}, 404: {}, 409: {}, 422: {}},
)
async def withdraw_submission(request: Request, sid: str, message: Why = None) -> Response:
    """Withdraw a submission: its graph is removed, the withdrawal (who, when, why) recorded;
    409 when it was withdrawn already (when and by whom)."""
    settings = settings_of(request)
    who = check_write_access(request.headers.get("authorization"), settings)
    why = check_message(message, "message")
    if not why:
        raise BadRequest("a withdrawal says why: add ?message=<reason>")
    engine = ready_engine(request)
    records = Records(settings.base_iri)
    removed = await run_in_threadpool(withdraw, engine, records, sid, who, why)
    info = await run_in_threadpool(fetch, engine, records, sid)
    return _json({**info, "removed": removed})
