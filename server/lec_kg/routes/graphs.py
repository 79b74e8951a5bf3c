"""The named graphs at their own IRIs: `/graph/<path>` is `<base>graph/<path>`.

Every graph the store holds (facts, ontology, shapes, submissions, the records, the inferred
graph) answers like a thing (`linked_data`): by the Accept header or `format=`, a page for people
(what the graph is, its size, links to its dumps and to its Graph Store Protocol URL) or its
triples in Turtle, N-Triples, JSON-LD (compacted with `/context.jsonld`, as the dumps are) or
RDF/XML, with `Vary: Accept`, a `Content-Location`, an ETag per data version (a 304 when it
matches). A graph the store does not hold, or a path that is no slug path, is a 404.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from ..describe import resource_iri, sparql_iri
from ..dumps import DUMP_FORMATS, graph_path
from ..errors import NotFound
from ..negotiation import negotiate, offers
from ..results_html import TEMPLATES
from .deps import ready_engine, select_values, settings_of
from .dumps import jsonld_context
from .linked_data import answer, data_headers, raw_path, service_root

router = APIRouter(tags=["linked data"])

JSONLD = "application/ld+json"
SIZE = """SELECT (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects)
  WHERE {{ GRAPH {g} {{ ?s ?p ?o }} }}"""
WHAT = {
    "facts/": "facts of the report, as shipped",
    "ontology/": "the ontology",
    "shapes/": "the SHACL shapes the data is validated against",
    "submission/": "the facts of one submission",
    "records": "the records of every write (PROV)",
    "inferred": "what the ontology entails from the asserted data",
}


@router.head("/graph/{path:path}", include_in_schema=False)
@router.get("/graph/{path:path}")
def graph(request: Request, path: str) -> Response:
    """A named graph: a page (its size, dumps, Graph Store URL), or its triples as RDF."""
    engine = ready_engine(request)
    settings = settings_of(request)
    base = settings.base_iri
    iri = resource_iri(base, raw_path(request))
    if iri is None or graph_path(iri, base) is None or iri not in engine.graph_names():
        raise NotFound("there is no such graph in this store")
    choice = negotiate(
        request.headers.get("accept"), offers("graph", "html"), request.query_params.get("format")
    )
    headers = data_headers(engine, choice)
    inferred = iri == f"{base}graph/inferred"

    def body() -> bytes:
        if choice.media.name == "text/html":
            return _page(request, iri)
        context = jsonld_context(request, engine) if choice.media.name == JSONLD else None
        chunks = engine.export_chunks(choice.media.name, iri, inferred=inferred, context=context)
        return b"".join(chunks)

    return answer(request, choice, headers, body)


def _page(request: Request, iri: str) -> bytes:
    """The graph's page: what it is, its size, its dumps and its Graph Store Protocol URL."""
    engine = ready_engine(request)
    base = settings_of(request).base_iri
    root = service_root(request)
    path = graph_path(iri, base) or iri
    (size,) = select_values(engine, SIZE.format(g=sparql_iri(iri)))
    dumps = [
        (
            media.format_iri.rsplit("/", 1)[-1].replace("_", "/")
            if media.format_iri
            else media.name,
            f"{root}/dump/{quote(path, safe='/-._~')}.{media.extension}",
        )
        for media in DUMP_FORMATS
    ]
    context = {
        "root": root,
        "iri": iri,
        "path": path,
        "description": next((v for k, v in WHAT.items() if path.startswith(k)), ""),
        "triples": int(size["triples"]),
        "subjects": int(size["subjects"]),
        "dumps": dumps,
        "gsp": f"{root}/graph-store?graph={quote(iri, safe='')}",
    }
    return TEMPLATES.get_template("graph.html").render(context).encode("utf-8")
