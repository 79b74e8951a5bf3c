"""The SPARQL 1.1 Graph Store HTTP Protocol at /graph-store (`?graph=IRI` or `?default`).

GET and HEAD read any graph of the store in the formats /sparql's exports use (the inferred
graph too, as a CONSTRUCT, cut at the result-row limit); `?default` is the default graph queries
see, the union of the asserted graphs, read-only (405). PUT, POST and DELETE need a write token
and change one writable graph through `Engine.change`, so they are checked, validated (422 with
the verdict, nothing changed), journaled and recorded (`submissions`: who, when, what) like any
other write. Not writable (403): the ontology, shapes and inferred graphs (the release's and the
engine's), the records graph, and submissions (withdrawn with DELETE /submissions/{id}, never
edited). A graph the store does not have is 404; a write that creates one is 201, any other 204.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pyoxigraph import NamedNode, Quad

from ..auth import check_write_access
from ..config import Settings
from ..engine_api import Engine, QueryRequest
from ..errors import BadRequest, Forbidden, MethodNotAllowed, NotFound, ValidationFailed
from ..negotiation import Choice, MediaType, negotiate, offers
from ..protection import Protection, normal_iri
from ..submissions import Recorder, Records, graph_quads
from .deps import ready_engine, settings_of
from .facts import choose_report, read_body, refused

router = APIRouter(tags=["Graph Store Protocol"])

GraphParam = Annotated[str | None, Query(alias="graph", description="the graph's IRI")]
DefaultParam = Annotated[
    str | None, Query(alias="default", description="present: the default graph (read-only)")
]
Format = Annotated[str | None, Query(description="turtle, nt, jsonld, rdfxml, nquads, trig")]
NAMED_OFFERS: tuple[MediaType, ...] = offers("graph", "dataset")
DEFAULT_OFFERS: tuple[MediaType, ...] = tuple(
    m for m in offers("graph") if m.name != "application/ld+json"
)
PATH = "/graph-store"


def _target(graph: str | None, default: str | None) -> str | None:
    """The graph named by the request (None: the default graph); 400 unless exactly one."""
    if (graph is None) == (default is None):
        raise BadRequest("name one graph: ?graph=<IRI> or ?default")
    if graph is None:
        return None
    try:
        NamedNode(graph)
    except ValueError:
        raise BadRequest(f"?graph={graph!r} is not an IRI") from None
    if ":" not in graph or graph.startswith(("_:", "/")):
        raise BadRequest(f"?graph={graph!r} must be an absolute IRI")
    return graph


def _writable(settings: Settings, graph: str) -> None:
    """403 for the graphs no Graph Store Protocol write may change (in any spelling), saying
    why, before the body is read (the engine refuses them too: `protection`)."""
    protection = Protection(settings.base_iri)
    if protection.closed_graph(graph):
        raise Forbidden(
            f"<{graph}> belongs to the release or the engine (the ontology, the shapes and the "
            "inferred graph are read-only: change ontology/ or shapes/ and restart)",
            graph=graph,
        )
    why = protection.kept_graph(normal_iri(graph))
    if why is not None:
        raise Forbidden(why, graph=graph)  # names the graph in normal form


async def _read(request: Request, graph: str | None, fmt: str | None) -> tuple[bytes, Choice]:
    engine = ready_engine(request)
    available = DEFAULT_OFFERS if graph is None else NAMED_OFFERS
    choice = negotiate(request.headers.get("accept"), available, fmt)
    inferred = f"{settings_of(request).base_iri}graph/inferred"
    if graph == inferred:
        if choice.media.kind != "graph":
            choice = negotiate(request.headers.get("accept"), offers("graph"), fmt)
        text = f"CONSTRUCT {{ ?s ?p ?o }} WHERE {{ GRAPH <{inferred}> {{ ?s ?p ?o }} }}"
        result = await run_in_threadpool(engine.query, QueryRequest(text), choice.media.name)
        return result.body, choice
    body = await run_in_threadpool(engine.export, choice.media.name, graph)
    return body, choice


@router.get("/graph-store", response_class=Response, responses={404: {}, 406: {}})
async def get_graph(
    request: Request, graph: GraphParam = None, default: DefaultParam = None, format: Format = None
) -> Response:
    """A graph of the store (content negotiation as for /sparql's exports)."""
    body, choice = await _read(request, _target(graph, default), format)
    return Response(body, 200, {"Vary": "Accept"}, choice.content_type)


@router.head("/graph-store", response_class=Response, include_in_schema=False)
async def head_graph(
    request: Request, graph: GraphParam = None, default: DefaultParam = None, format: Format = None
) -> Response:
    """GET without the body."""
    body, choice = await _read(request, _target(graph, default), format)
    headers = {"Vary": "Accept", "Content-Length": str(len(body))}
    return Response(b"", 200, headers, choice.content_type)


async def _write(request: Request, method: str, graph: str | None, body: bool) -> Response:
    """PUT (replace), POST (merge) or DELETE one writable graph through `Engine.change`."""
    settings = settings_of(request)
    who = check_write_access(request.headers.get("authorization"), settings)
    if graph is None:
        raise MethodNotAllowed(
            "the default graph is the union of the named graphs and is read-only: "
            f"{method} a named graph with ?graph=<IRI>",
            allow="GET, HEAD",
        )
    _writable(settings, graph)
    choice = choose_report(request)
    engine = ready_engine(request)
    parsed = await read_body(request, graph) if body else None
    existing = await run_in_threadpool(graph_quads, engine, graph)
    if method == "DELETE" and not existing:
        raise NotFound(f"there is no graph <{graph}> in this store", graph=graph)
    removed = existing if method in ("PUT", "DELETE") else []
    added = parsed.quads if parsed is not None else []
    what = f"the Graph Store Protocol {method} of <{graph}>"
    record = Records(settings.base_iri).write(who, what, f"{method} <{graph}>")
    try:
        await run_in_threadpool(_commit, engine, removed, added, record, what)
    except ValidationFailed as exc:
        if parsed is None:
            raise
        return refused(choice, exc, parsed)
    created = not existing and bool(added)
    return Response(status_code=201 if created else 204)


def _commit(
    engine: Engine, removed: list[Quad], added: list[Quad], record: Recorder, what: str
) -> None:
    """One change: the graph's quads and the record of who changed them, together."""
    engine.change(removed, added, note=what, what=what, record=record)


@router.put("/graph-store", status_code=204, responses={201: {}, 403: {}, 405: {}, 422: {}})
async def put_graph(
    request: Request, graph: GraphParam = None, default: DefaultParam = None
) -> Response:
    """Replace a writable graph with the body (validated like any write)."""
    return await _write(request, "PUT", _target(graph, default), body=True)


@router.post("/graph-store", status_code=204, responses={201: {}, 403: {}, 405: {}, 422: {}})
async def post_graph(
    request: Request, graph: GraphParam = None, default: DefaultParam = None
) -> Response:
    """Add the body's triples to a writable graph (validated like any write)."""
    return await _write(request, "POST", _target(graph, default), body=True)


@router.delete("/graph-store", status_code=204, responses={403: {}, 404: {}, 405: {}, 422: {}})
async def delete_graph(
    request: Request, graph: GraphParam = None, default: DefaultParam = None
) -> Response:
    """Remove a writable graph (validated: what is left must still conform)."""
    return await _write(request, "DELETE", _target(graph, default), body=False)
