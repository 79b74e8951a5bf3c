"""Dumps of the data (`/dump...`, see `dumps`) and the JSON-LD context they use (`/context.jsonld`).

A dump is streamed: the graph is checked and its quads taken under the engine's lock before
the response starts (so an unknown graph is a 404, not a broken 200), then serialized chunk by
chunk while the client reads. Every dump is an attachment with a stable file name. JSON-LD
dumps are compacted with the context `/context.jsonld` serves, embedded whole: the server never
fetches a context, and neither need its readers.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from ..config import Settings
from ..dumps import BY_EXTENSION, DUMP_FORMATS, file_name, graph_at
from ..engine_api import Engine
from ..errors import BadRequest, NotFound
from ..jsonld import context_for
from ..negotiation import MediaType, negotiate
from .deps import ready_engine, select_values, settings_of

router = APIRouter()

JSONLD = "application/ld+json"
VERSION = (
    "SELECT ?v WHERE {{ GRAPH ?g {{ <{ontology}> <http://www.w3.org/2002/07/owl#versionInfo> ?v }} "
    "}} LIMIT 1"
)


def jsonld_context(request: Request, engine: Engine) -> dict[str, Any]:
    """The context of this app, made once (it follows the ontology and shapes, which a running
    service never changes: `protection`)."""
    state = request.app.state
    if getattr(state, "jsonld_context", None) is None:
        state.jsonld_context = context_for(engine, settings_of(request))
    return state.jsonld_context


def release_version(request: Request, engine: Engine) -> str:
    """The ontology's owl:versionInfo (the release the data belongs to), found once."""
    state = request.app.state
    if getattr(state, "release_version", None) is None:
        settings = settings_of(request)
        rows = select_values(engine, VERSION.format(ontology=settings.base_iri + "ontology"))
        state.release_version = rows[0]["v"] if rows else "unversioned"
    return state.release_version


@router.get("/context.jsonld", response_class=Response)
def context(request: Request) -> Response:
    """The JSON-LD context of the data: short keys (`label`, `party`) and typed values."""
    body = json.dumps(jsonld_context(request, ready_engine(request)), indent=1, ensure_ascii=False)
    return Response(
        body.encode("utf-8"),
        media_type=JSONLD + "; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/dump", response_class=Response)
def dump(
    request: Request,
    graph: str | None = Query(None, description="a named graph's IRI (default: the dataset)"),
    format: str | None = Query(None, description="trig, nquads, jsonld, turtle, nt or rdfxml"),
) -> Response:
    """The whole dataset (asserted data), or one named graph with `graph=`, in any RDF format."""
    media = negotiate(request.headers.get("accept"), DUMP_FORMATS, format).media
    return _respond(request, graph or None, media, negotiated=format is None)


@router.get("/dump.{ext}", response_class=Response)
def dump_file(request: Request, ext: str) -> Response:
    """The whole dataset (the asserted data) as a file: .trig, .nq, .jsonld, .ttl, .nt or .rdf."""
    return _respond(request, None, _by_extension(ext), negotiated=False)


@router.get("/dump/{path:path}", response_class=Response)
def dump_graph(
    request: Request,
    path: str,
    format: str | None = Query(None, description="trig, nquads, jsonld, turtle, nt or rdfxml"),
) -> Response:
    """One named graph, `<base>graph/<path>`, by extension (`facts/actors.ttl`) or negotiated."""
    settings = settings_of(request)
    engine = ready_engine(request)
    if not path or len(path) > 1024:
        raise NotFound("no such dump", path=path[:80])
    stem, dot, ext = path.rpartition(".")
    if (
        format is None
        and dot
        and ext in BY_EXTENSION
        and graph_at(path, settings.base_iri) not in (engine.graph_names())
    ):
        return _respond(request, graph_at(stem, settings.base_iri), BY_EXTENSION[ext], False)
    media = negotiate(request.headers.get("accept"), DUMP_FORMATS, format).media
    return _respond(request, graph_at(path, settings.base_iri), media, negotiated=format is None)


def _by_extension(ext: str) -> MediaType:
    media = BY_EXTENSION.get(ext.lower())
    if media is None:
        raise NotFound(f"no dump ends with .{ext[:20]}; use one of: " + ", ".join(BY_EXTENSION))
    return media


def _respond(request: Request, graph: str | None, media: MediaType, negotiated: bool) -> Response:
    engine = ready_engine(request)
    settings: Settings = settings_of(request)
    inferred = graph == f"{settings.base_iri}graph/inferred"
    if graph is not None and ("\n" in graph or len(graph) > 4096):
        raise BadRequest("graph= must be one IRI")
    context = jsonld_context(request, engine) if media.name == JSONLD else None
    chunks = engine.export_chunks(media.name, graph, inferred=inferred, context=context)
    name = file_name(release_version(request, engine), settings.base_iri, graph, media)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if negotiated:
        headers["Vary"] = "Accept"
    return StreamingResponse(chunks, media_type=media.content_type(), headers=headers)
