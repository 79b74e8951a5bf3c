"""GET /sparql without a query: the SPARQL 1.1 Service Description, with ontology version, shapes
and licence, in every RDF format, and a small HTML page for browsers."""

from __future__ import annotations

import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, SH

from lec_kg.namespaces import ONTOLOGY_IRI
from lec_kg.negotiation import offers
from lec_kg.routes.deps import endpoint_iri
from lec_kg.sources import discover
from tests.conftest import ROOT
from tests.http_support import media_type, parse_graph

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
FORMATS = Namespace("http://www.w3.org/ns/formats/")


def description(client, accept: str = "text/turtle") -> Graph:
    reply = client.get("/sparql", headers={"Accept": accept})
    assert reply.status_code == 200, reply.text
    return parse_graph(reply.content, media_type(reply.headers["content-type"]))


def test_service_description_names_endpoint_languages_and_formats(client, settings) -> None:
    """sd:Service with its endpoint, query (and, with a token, update) language, result formats."""
    g = description(client)
    service = URIRef(endpoint_iri(settings))  # from the settings, not the Host header
    assert (service, RDF.type, SD.Service) in g
    assert (service, SD.endpoint, service) in g
    assert (service, SD.supportedLanguage, SD.SPARQL11Query) in g
    assert (service, SD.supportedLanguage, SD.SPARQL11Update) in g  # the test settings write
    formats = set(g.objects(service, SD.resultFormat))
    assert {
        FORMATS.SPARQL_Results_JSON,
        FORMATS.SPARQL_Results_XML,
        FORMATS.SPARQL_Results_CSV,
        FORMATS.SPARQL_Results_TSV,
        FORMATS.Turtle,
        FORMATS["N-Triples"],
        FORMATS["JSON-LD"],
        FORMATS.RDF_XML,
    } == formats
    assert set(g.objects(service, SD.feature)) <= {SD.UnionDefaultGraph}
    assert len(formats) == len(offers("results", "graph"))


def test_service_description_lists_every_named_graph(client, engine, settings) -> None:
    """sd:defaultDataset has one sd:namedGraph per graph of the store."""
    g = description(client)
    dataset = g.value(URIRef(endpoint_iri(settings)), SD.defaultDataset)
    assert (dataset, RDF.type, SD.Dataset) in g
    names = {str(g.value(n, SD.name)) for n in g.objects(dataset, SD.namedGraph)}
    assert names == set(engine.graph_names())
    assert g.value(dataset, SD.defaultGraph) is not None


def test_service_description_names_ontology_version_shapes_and_licence(client, settings) -> None:
    """The ontology's owl:versionInfo and licence as in ontology/lec.ttl, and every shapes graph."""
    shipped = Graph().parse(ROOT / "ontology" / "lec.ttl")
    ontology = URIRef(ONTOLOGY_IRI)
    g = description(client)
    assert g.value(ontology, OWL.versionInfo) == Literal(
        str(shipped.value(ontology, OWL.versionInfo))
    )
    dataset = next(g.subjects(RDF.type, SD.Dataset))
    assert (dataset, DCTERMS.conformsTo, ontology) in g
    assert g.value(dataset, DCTERMS.license) == shipped.value(ontology, DCTERMS.license)
    shapes = {URIRef(f.graph_name) for f in discover(ROOT, settings.base_iri, ["shapes"])}
    assert shapes and set(g.objects(dataset, SH.shapesGraph)) == shapes


@pytest.mark.parametrize("mtype", [m.name for m in offers("graph")])
def test_service_description_in_every_rdf_format(client, settings, mtype) -> None:
    """The same description parses back from Turtle, N-Triples, JSON-LD and RDF/XML."""
    turtle = description(client)
    other = description(client, mtype)
    assert len(other) == len(turtle)
    assert (URIRef(endpoint_iri(settings)), RDF.type, SD.Service) in other


def test_browsers_get_a_small_html_page(client) -> None:
    """Accept text/html gets an escaped HTML page with a query form."""
    reply = client.get("/sparql", headers={"Accept": "text/html,*/*;q=0.8"})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert '<form method="get"' in reply.text
    assert 'name="query"' in reply.text


def test_service_description_without_accept_is_turtle(client) -> None:
    """No Accept header: Turtle."""
    reply = client.get("/sparql")
    assert reply.headers["content-type"] == "text/turtle; charset=utf-8"
    assert client.get("/sparql", headers={"Accept": "text/csv"}).status_code == 406
