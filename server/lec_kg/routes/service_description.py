"""The SPARQL 1.1 Service Description of /sparql, with the ontology version, shapes and licence.

The endpoint's IRI comes from the settings (`public_url`, else host and port), never from the
request: a client chooses its Host header, and what the service says about itself must not
follow it. The ontology's statements are read with their term types kept (an IRI stays an IRI,
a literal a literal), and the page links only what `results_html.http_link` lets through.
"""

from __future__ import annotations

import json

from fastapi import Request, Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, SH
from rdflib.term import Node

from .. import results_html
from ..config import Settings
from ..engine_api import Engine, QueryRequest
from ..namespaces import CANONICAL_BASE, ONTOLOGY_IRI
from ..negotiation import Choice, negotiate, offers
from ..sources import discover
from ..wellformed import xml_document
from .deps import JSON_RESULTS, endpoint_iri, endpoint_url, ready_engine, select_values, settings_of

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
# The ontology's own statements, under its canonical IRI or moved under a deployment's base.
ONTOLOGY_FACTS = (
    "SELECT DISTINCT ?ontology ?p ?o WHERE {{ VALUES ?ontology {{ {iris} }} "
    "{{ GRAPH ?g {{ ?ontology ?p ?o }} }} UNION {{ ?ontology ?p ?o }} }}"
)
# Every triple of a named graph is also in the default graph: the union default graph feature.
NOT_UNION = "SELECT ?s WHERE { GRAPH ?g { ?s ?p ?o } FILTER NOT EXISTS { ?s ?p ?o } } LIMIT 1"


def respond(request: Request, formats: tuple[str, ...]) -> Response:
    """The service description in the negotiated RDF format, or a small HTML page."""
    engine = ready_engine(request)
    settings = settings_of(request)
    available = offers("graph", "html")
    choice: Choice = (
        negotiate(None, available, formats[0])
        if formats
        else negotiate(request.headers.get("accept"), available)
    )
    graph = describe(endpoint_iri(settings), settings, engine)
    if choice.media.name == "text/html":
        body = _html(endpoint_url(request), endpoint_iri(settings), graph)
    else:
        # rdflib knows its serializers by media type too: the table's name is enough.
        body = graph.serialize(format=choice.media.name, encoding="utf-8")
        if choice.media.name == "application/rdf+xml":
            body = xml_document(body, "RDF/XML", "graph")
    return Response(body, media_type=choice.content_type, headers={"Vary": "Accept"})


def describe(endpoint: str, settings: Settings, engine: Engine) -> Graph:
    """The sd:Service at `endpoint` and its default dataset, as an rdflib Graph."""
    g = Graph()
    g.bind("sd", SD)
    g.bind("dcterms", DCTERMS)
    g.bind("owl", OWL)
    g.bind("sh", SH)
    service = URIRef(endpoint)
    g.add((service, RDF.type, SD.Service))
    g.add((service, SD.endpoint, service))
    g.add((service, SD.supportedLanguage, SD.SPARQL11Query))
    if settings.writable:
        g.add((service, SD.supportedLanguage, SD.SPARQL11Update))
    for media in offers("results", "graph"):
        g.add((service, SD.resultFormat, URIRef(media.format_iri or "")))
    if not select_values(engine, NOT_UNION):
        g.add((service, SD.feature, SD.UnionDefaultGraph))
    g.add((service, DCTERMS.title, Literal("lec-kg SPARQL 1.1 endpoint", lang="en")))

    dataset = BNode()
    g.add((service, SD.defaultDataset, dataset))
    g.add((dataset, RDF.type, SD.Dataset))
    default_graph = BNode()
    g.add((dataset, SD.defaultGraph, default_graph))
    g.add((default_graph, RDF.type, SD.Graph))
    for name in engine.graph_names():
        named = BNode()
        g.add((dataset, SD.namedGraph, named))
        g.add((named, RDF.type, SD.NamedGraph))
        g.add((named, SD.name, URIRef(name)))

    iris = {ONTOLOGY_IRI, settings.base_iri + ONTOLOGY_IRI[len(CANONICAL_BASE) :]}
    rows = _select_terms(engine, ONTOLOGY_FACTS.format(iris=" ".join(f"<{i}>" for i in iris)))
    ontology = rows[0]["ontology"] if rows else URIRef(ONTOLOGY_IRI)
    g.add((dataset, DCTERMS.conformsTo, ontology))
    g.add((ontology, RDF.type, OWL.Ontology))
    for row in rows:
        if row["p"] == DCTERMS.license:
            g.add((dataset, DCTERMS.license, row["o"]))
        if row["p"] in (OWL.versionIRI, DCTERMS.license, OWL.versionInfo):
            g.add((ontology, row["p"], row["o"]))
    for source in discover(settings.source_dir, settings.base_iri, ["shapes"]):
        g.add((dataset, SH.shapesGraph, URIRef(source.graph_name)))
    return g


def _select_terms(engine: Engine, query: str) -> list[dict[str, Node]]:
    """Run a SELECT; its bindings as rdflib terms, each of the type the store holds."""
    body = engine.query(QueryRequest(query), JSON_RESULTS).body
    rows = json.loads(body)["results"]["bindings"]
    return [{k: _term(v) for k, v in row.items()} for row in rows]


def _term(term: dict[str, str]) -> Node:
    """An rdflib term from a SPARQL JSON one."""
    if term["type"] == "uri":
        return URIRef(term["value"])
    if term["type"] == "bnode":
        return BNode(term["value"])
    datatype = term.get("datatype")
    return Literal(
        term["value"], lang=term.get("xml:lang"), datatype=URIRef(datatype) if datatype else None
    )


def _html(endpoint: str, iri: str, graph: Graph) -> bytes:
    """A minimal page for browsers: what this is, and a form that sends a query."""
    ontology = next(graph.subjects(RDF.type, OWL.Ontology), None)
    version = graph.value(ontology, OWL.versionInfo) if ontology is not None else None
    return results_html.render_service(
        endpoint,
        iri,
        None if version is None else str(version),
        sorted({str(o) for o in graph.objects(None, DCTERMS.license)}),
        sorted(str(o) for o in graph.objects(None, SD.name)),
        sorted(str(o) for o in graph.objects(None, SH.shapesGraph)),
    )
