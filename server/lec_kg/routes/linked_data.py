"""Dereferencing: every IRI of the graph's own namespaces answers on the service.

`/id/...` (things, code-list concepts, statements), `/record/...` (the records of writes, in
the records graph) and `/shapes` (`shapes#Shape`); the ontology (`/ontology`, its terms are
fragments of it) is `routes.ontology`'s, the named graphs (`/graph/...`) `routes.graphs`'.
The request path maps to an IRI under the `base_iri` setting, whatever host the service runs
under (`describe`).

Slash IRIs are answered directly, not by a 303: the Accept header (q-values, `negotiation`)
or a `format=` parameter picks a page (text/html) or the resource's description in Turtle,
JSON-LD (compacted with the published context, `/context.jsonld`), N-Triples or RDF/XML, with
`Vary: Accept` and a `Content-Location` naming the format's own URL (JSON-LD asked for with the
profile `http://www.w3.org/ns/json-ld#framed` is the thing framed by its kind's frame,
`routes.framed`, where there is one). Every answer
carries an ETag and Last-Modified from the engine's data version (every accepted write changes
it), and a matching If-None-Match or If-Modified-Since gets a 304
before any query runs. An unknown thing, or a path that is no slug path (`..`, encoded slashes,
`%00`, backslashes, escapes, a path too long), is a 404.

/shapes as a page is a plain list of the shapes, each with its anchor (`terms.html`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from pyoxigraph import Quad, RdfFormat, parse

from ..describe import description, resource_iri, select, sparql_iri, sparql_iri_string
from ..engine_api import Engine
from ..errors import NotFound
from ..jsonld import compact_chunks
from ..negotiation import Choice, negotiate, offers, profiles
from ..results_html import TEMPLATES
from ..store import serialize_graph
from ..thing_page import page_context, short_name
from .deps import ready_engine, settings_of
from .dumps import jsonld_context
from .framed import FRAMED_PROFILE, framed_thing

router = APIRouter(tags=["linked data"])

OWL_VERSION_IRI = "http://www.w3.org/2002/07/owl#versionIRI"
JSONLD = "application/ld+json"
PREFIXES = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "sh": "http://www.w3.org/ns/shacl#",
}
TERMS = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos: <http://www.w3.org/2004/02/skos/core#>
PREFIX sh: <http://www.w3.org/ns/shacl#>
SELECT ?term ?type ?label ?definition WHERE {{ GRAPH ?g {{ ?term a ?type }}
  FILTER(STRSTARTS(STR(?g), {graphs}) && STRSTARTS(STR(?term), {namespace}))
  OPTIONAL {{ GRAPH ?g {{ ?term rdfs:label|skos:prefLabel|sh:name ?label }} }}
  OPTIONAL {{ GRAPH ?g {{ ?term skos:definition|sh:message ?definition }} }}
}} ORDER BY ?term"""


def data_headers(engine: Engine, choice: Choice, day: date | None = None) -> dict[str, str]:
    """ETag (per data version and representation) and Last-Modified; Vary: Accept. A page
    that names the day it was read (`day`, in its "cite this" lines) changes with it too."""
    token, changed = engine.data_version()
    modified = datetime.fromtimestamp(int(changed), UTC)
    extra = ""
    if day is not None:
        extra = f"-{day.isoformat()}"
        modified = max(modified, datetime(day.year, day.month, day.day, tzinfo=UTC))
    return {
        "ETag": f'"{token}-{choice.media.key}{extra}"',
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Vary": "Accept",
        "Cache-Control": "no-cache",
    }


def not_modified(request: Request, headers: dict[str, str], exists: bool = True) -> bool:
    """True when the client's copy is current (RFC 9110 13.1.2, 13.1.3); `*` matches only
    a resource known to exist."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return headers["ETag"] in tags or ("*" in tags and exists)
    since = request.headers.get("if-modified-since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            return False
        return parsedate_to_datetime(headers["Last-Modified"]) <= when
    return False


def _choose(request: Request) -> Choice:
    fmt = request.query_params.get("format")
    return negotiate(request.headers.get("accept"), offers("graph", "html"), fmt)


def raw_path(request: Request) -> str:
    """The path as the client sent it (percent-encoding kept), below the service's root."""
    raw = request.scope.get("raw_path") or request.url.path.encode("utf-8")
    path = raw.decode("latin-1").split("?", 1)[0]
    root = request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _below_root(request: Request) -> str:
    """The request's path below the service's root (decoded, as routes see it)."""
    path = request.url.path
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return path[len(root) :] if root and path.startswith(root + "/") else path


def service_root(request: Request) -> str:
    """The path of the service's root, for links on pages: from public_url, or the proxy's."""
    public = settings_of(request).public_url
    if public:
        return urlsplit(public).path.rstrip("/")
    return str(request.scope.get("root_path", "")).rstrip("/")


def answer(
    request: Request, choice: Choice, headers: dict[str, str], body: Callable[[], bytes]
) -> Response:
    """304 when the client's copy is current, else the body with its headers."""
    if not_modified(request, headers):
        return Response(status_code=304, headers=headers)
    location = service_root(request) + _below_root(request) + f"?format={choice.media.key}"
    return Response(
        body(),
        media_type=choice.content_type,
        headers={**headers, "Content-Location": location},
    )


@router.head("/id/{rest:path}", include_in_schema=False)
@router.get("/id/{rest:path}")
@router.head("/record/{rest:path}", include_in_schema=False)
@router.get("/record/{rest:path}")
def thing(request: Request, rest: str) -> Response:
    """A thing, code or statement of the graph, or a record of a write (`/record/...`, a
    subject of the records graph): a page, or its description as RDF."""
    base = settings_of(request).base_iri
    iri = resource_iri(base, raw_path(request))
    if iri is None or not iri.startswith((base + "id/", base + "record/")):
        raise NotFound("there is no such thing in this graph")
    return resource(request, iri)


def resource(request: Request, iri: str) -> Response:
    """The page or the RDF description of `iri` (a checked IRI of the graph's own namespaces);
    a 404 when the graph says nothing about it."""
    engine = ready_engine(request)
    settings = settings_of(request)
    choice = _choose(request)
    today = datetime.now(UTC).date()
    html = choice.media.name == "text/html"
    headers = data_headers(engine, choice, today if html else None)
    framed = choice.media.name == JSONLD and FRAMED_PROFILE in profiles(
        request.headers.get("accept"), JSONLD
    )  # JSON-LD 1.1's way to ask for a framed description (`routes.framed`)
    if framed:
        headers["ETag"] = headers["ETag"][:-1] + '-framed"'
    if not_modified(request, headers, exists=False):  # before any query
        return Response(status_code=304, headers=headers)
    desc = description(engine, iri, settings.base_iri)
    if not desc.known:
        if html:  # a person followed a link: a page that says so, and the way back
            context = {"iri": iri, "root": service_root(request)}
            page = TEMPLATES.get_template("missing.html").render(context).encode("utf-8")
            return Response(page, status_code=404, media_type=choice.content_type)
        raise NotFound(f"there is no <{iri}> in this graph", iri=iri)

    document = framed_thing(request, engine, iri) if framed else None
    if document is not None:
        content_type = f'{JSONLD}; profile="{FRAMED_PROFILE}"; charset=utf-8'
        return Response(document, media_type=content_type, headers=headers)

    def body() -> bytes:
        if html:
            context = page_context(desc, engine, settings.base_iri, service_root(request), today)
            return TEMPLATES.get_template("thing.html").render(context).encode("utf-8")
        return _serialize(desc.triples, choice, settings.base_iri, request)

    if desc.truncated:
        headers["X-LEC-Truncated"] = "true"
    return answer(request, choice, headers, body)


@router.head("/shapes", include_in_schema=False)
@router.get("/shapes")
@router.head("/shapes/{version}", include_in_schema=False)
@router.get("/shapes/{version}")
def shapes(request: Request, version: str | None = None) -> Response:
    """The SHACL shapes the data is validated against (shapes are fragments of it)."""
    return _document(request, "shapes", version)


def _document(request: Request, kind: str, version: str | None) -> Response:
    """/shapes: the shapes graphs, as RDF or a page."""
    engine = ready_engine(request)
    settings = settings_of(request)
    base = settings.base_iri
    iri = resource_iri(base, raw_path(request))
    if iri is None:
        raise NotFound(f"there is no such {kind} here")
    graphs = _graphs_of(engine, base, kind)
    if version is not None and iri not in _version_iris(engine, base, kind):
        raise NotFound(f"there is no <{iri}> here; the current one is <{base}{kind}>", iri=iri)
    choice = _choose(request)
    headers = data_headers(engine, choice)
    if choice.media.name == "text/html":
        return answer(request, choice, headers, lambda: _terms_page(request, engine, kind))

    def body() -> bytes:
        triples = [
            q
            for g in graphs
            for q in parse(engine.export("application/n-triples", g), format=RdfFormat.N_TRIPLES)
        ]
        return _serialize(triples, choice, base, request)

    return answer(request, choice, headers, body)


def _graphs_of(engine: Engine, base: str, kind: str) -> list[str]:
    """The named graphs of every file of that kind (`graph/shapes/...`)."""
    return [g for g in engine.graph_names() if g.startswith(f"{base}graph/{kind}/")]


def _version_iris(engine: Engine, base: str, kind: str) -> set[str]:
    rows = select(
        engine,
        f"SELECT ?v WHERE {{ {sparql_iri(base + kind)} <{OWL_VERSION_IRI}> ?v }}",
    )
    return {r["v"]["value"] for r in rows}


def _terms_page(request: Request, engine: Engine, kind: str) -> bytes:
    """A plain list of the ontology's terms or of the shapes, each with its anchor."""
    base = settings_of(request).base_iri
    graphs = sparql_iri_string(f"{base}graph/{kind}/")
    namespace = sparql_iri_string(f"{base}{kind}#")
    rows = select(engine, TERMS.format(graphs=graphs, namespace=namespace))
    terms: dict[str, dict] = {}
    for row in rows:
        term = row["term"]["value"]
        entry = terms.setdefault(
            term,
            {"iri": term, "anchor": short_name(term), "types": set(), "label": "", "text": ""},
        )
        entry["types"].add(short_name(row["type"]["value"]))
        entry["label"] = entry["label"] or row.get("label", {}).get("value", "")
        entry["text"] = entry["text"] or row.get("definition", {}).get("value", "")
    context = {
        "kind": kind,
        "terms": [{**t, "types": ", ".join(sorted(t["types"]))} for t in terms.values()],
        "root": service_root(request),
    }
    return TEMPLATES.get_template("terms.html").render(context).encode("utf-8")


def _serialize(triples, choice: Choice, base: str, request: Request) -> bytes:
    """Triples in the chosen RDF format: JSON-LD compacted with the published context
    (`/context.jsonld`, embedded, as the dumps are), the others by pyoxigraph's writers
    (RDF/XML made well-formed)."""
    if choice.media.name == JSONLD:
        context = jsonld_context(request, ready_engine(request))
        quads = [Quad(t.subject, t.predicate, t.object) for t in triples]
        return b"".join(compact_chunks(quads, context, dataset=False))
    fmt = RdfFormat.from_media_type(choice.media.name)
    assert fmt is not None
    prefixes = {**PREFIXES, "lec": base + "ontology#", "id": base + "id/"}
    return serialize_graph(triples, fmt, prefixes)
