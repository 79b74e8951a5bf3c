"""The ontology at its own IRI: `/ontology` is its page for people and its file for machines.

`GET /ontology` answers by the Accept header (q-values, `negotiation`) or `format=`: `text/html`
gives the page `ontology_page` renders from the graphs (classes, properties, code lists); Turtle,
N-Triples, JSON-LD or RDF/XML give the ontology graph's triples as the store holds them.
`GET /ontology/<name>` does the same for the other files of the ontology folder, the code lists
(`/ontology/vocabularies`), and for the current version IRI (`/ontology/0.2.0`; an earlier
one, `owl:priorVersion`, answers with what the graph says of it, `linked_data`); there a
browser gets the same page, answered directly (never a 303), its downloads linked from one level
down, and `Content-Location: ../ontology` says it is the ontology's page (the code lists are
its section `#code-lists`); any other name is a 404. Every reply says
`Vary: Accept`; a file carries an `ETag` (a 304 when it matches). The page's links are relative
to /ontology, or under the configured public URL: never after the request's Host header.

The ontology and code-list graphs are the shipped files and no write may change them
(`protection`), so they are read from the store once per app and the page rendered once.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass

from fastapi import APIRouter, Query, Request, Response
from rdflib import Graph, URIRef
from rdflib.namespace import OWL, RDF

from ..config import Settings
from ..engine_api import Engine
from ..errors import NotFound
from ..namespaces import graph_iri
from ..negotiation import MediaType, negotiate, offers
from ..ontology_page import Download, render_ontology_page
from .deps import ready_engine, settings_of
from .linked_data import resource

router = APIRouter(tags=["ontology"])
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TURTLE = "text/turtle"
LOCK = threading.Lock()


@dataclass
class Files:
    """The ontology folder's graphs in the store: stem -> graph name, which one is the ontology,
    its version, and the rendered page."""

    graphs: dict[str, str]
    main: str  # the stem of the graph that holds the owl:Ontology
    version: str | None
    page: str
    page_below: str  # the same page for /ontology/<name>: its relative links one level up
    code_lists: str  # the id of the page's section of code lists


@router.head("/ontology", include_in_schema=False)
@router.get("/ontology", summary="The ontology: its page, or its triples")
def ontology(request: Request, fmt: str | None = Query(None, alias="format")) -> Response:
    """The ontology: an HTML page for browsers, or its triples in the negotiated RDF format."""
    files = _files(request)
    return _respond(request, files, files.main, fmt, None)


@router.head("/ontology/{name}", include_in_schema=False)
@router.get("/ontology/{name}", summary="A code list file or a version of the ontology")
def ontology_file(
    request: Request, name: str, fmt: str | None = Query(None, alias="format")
) -> Response:
    """Another file of the ontology (the code lists: `vocabularies`), or the current version."""
    files = _files(request)
    if NAME.fullmatch(name) and name in files.graphs and name != files.main:
        return _respond(request, files, name, fmt, "#" + files.code_lists)
    if name == files.version:
        return _respond(request, files, files.main, fmt, "")
    if NAME.fullmatch(name):  # an earlier version: what the graph says of it, as for a thing
        return resource(request, settings_of(request).base_iri + "ontology/" + name)
    raise NotFound(f"the ontology has no file or version {name[:80]!r}")


def page_html(request: Request) -> str:
    """The ontology's page, for any route that answers text/html at the ontology's IRI."""
    return _files(request).page


def _respond(
    request: Request, files: Files, stem: str, fmt: str | None, on_page: str | None
) -> Response:
    """The graph `stem` as negotiated, with its ETag (or a 304); for HTML, the page (below
    /ontology, `on_page` not None, the page one level up, said in Content-Location)."""
    choice = negotiate(request.headers.get("accept"), offers("graph", "html"), fmt)
    headers = {"Vary": "Accept"}
    if choice.media.name == "text/html":
        body = (files.page if on_page is None else files.page_below).encode("utf-8")
        if on_page is not None:
            headers["Content-Location"] = "../ontology"
    else:
        engine = ready_engine(request)
        body = engine.export(choice.media.name, files.graphs[stem])
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers["ETag"] = etag
    if choice.media.name != "text/html":
        headers["Content-Disposition"] = f'inline; filename="{stem}.{choice.media.extension}"'
    if etag in _etags(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=choice.content_type, headers=headers)


def _etags(header: str | None) -> set[str]:
    """The entity tags of an If-None-Match header (weak ones compare as strong, RFC 9110)."""
    if not header:
        return set()
    return {t.strip().removeprefix("W/") for t in header.split(",")}


def _files(request: Request) -> Files:
    """What the app serves here, built on first use from the store and kept."""
    state = request.app.state
    files = getattr(state, "ontology_files", None)
    if files is None:
        engine = ready_engine(request)
        with LOCK:
            files = getattr(state, "ontology_files", None)
            if files is None:
                files = _build(engine, settings_of(request))
                state.ontology_files = files
    return files


def _build(engine: Engine, settings: Settings) -> Files:
    """Read the ontology folder's graphs from the store and render the page."""
    base_iri = settings.base_iri
    prefix = graph_iri(base_iri, "ontology", "")
    graphs = {name[len(prefix) :]: name for name in engine.graph_names() if name.startswith(prefix)}
    parsed = {stem: _graph(engine, name) for stem, name in graphs.items()}
    ontology_iri = URIRef(base_iri + "ontology")
    main = next((s for s, g in parsed.items() if (ontology_iri, RDF.type, OWL.Ontology) in g), None)
    if main is None:
        raise NotFound(f"the store holds no ontology <{ontology_iri}>")
    vocabularies = Graph()
    for stem, g in parsed.items():
        if stem != main:
            vocabularies += g
            for p, ns in g.namespaces():
                vocabularies.bind(p, ns, override=False)
    shapes = Graph()
    shapes_prefix = graph_iri(base_iri, "shapes", "")
    for name in engine.graph_names():
        if name.startswith(shapes_prefix):
            shapes += (g := _graph(engine, name))
            for p, ns in g.namespaces():
                shapes.bind(p, ns, override=False)
    version = parsed[main].value(ontology_iri, OWL.versionInfo)
    # Links relative to /ontology, or under the public URL: never after the Host header.
    root = f"{settings.public_url.rstrip('/')}/" if settings.public_url else ""

    def downloads(root: str) -> list[Download]:
        return [
            Download(what, _format_name(media), f"{root}ontology{path}?format={media.key}")
            for what, path in [("The ontology", "")]
            + [(f"The code lists ({stem})", f"/{stem}") for stem in sorted(graphs) if stem != main]
            for media in offers("graph")
        ]

    page = render_ontology_page(parsed[main], vocabularies, shapes, downloads(root))
    below = (
        page if root else render_ontology_page(parsed[main], vocabularies, shapes, downloads("../"))
    )
    found = re.search(r'<section id="(code-lists[^"]*)"', page)
    code_lists = found.group(1) if found else ""
    version_text = None if version is None else str(version)
    return Files(graphs, main, version_text, page, below, code_lists)


def _graph(engine: Engine, name: str) -> Graph:
    """One named graph of the store as an rdflib Graph, with the store's prefixes."""
    return Graph().parse(data=engine.export(TURTLE, name), format="turtle")


def _format_name(media: MediaType) -> str:
    """A format's name for people: the end of its W3C format IRI (Turtle, RDF/XML...)."""
    if media.format_iri:
        return media.format_iri.rsplit("/", 1)[-1].replace("_", "/")
    return media.name
