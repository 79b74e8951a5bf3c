"""The SPARQL 1.1 Service Description of /sparql, with the ontology version, shapes and licence."""

from __future__ import annotations

from html import escape

from fastapi import Request, Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, SH

from ..config import Settings
from ..engine_api import Engine
from ..namespaces import CANONICAL_BASE, ONTOLOGY_IRI
from ..negotiation import Choice, negotiate, offers
from ..sources import discover
from .deps import endpoint_url, ready_engine, select_values, settings_of

SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
RDFLIB_FORMAT = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
}
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
    endpoint = endpoint_url(request)
    graph = describe(endpoint, settings, engine)
    if choice.media.name == "text/html":
        body = _html(endpoint, graph).encode("utf-8")
    else:
        body = graph.serialize(format=RDFLIB_FORMAT[choice.media.name], encoding="utf-8")
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
    rows = select_values(engine, ONTOLOGY_FACTS.format(iris=" ".join(f"<{i}>" for i in iris)))
    ontology = URIRef(rows[0]["ontology"] if rows else ONTOLOGY_IRI)
    g.add((dataset, DCTERMS.conformsTo, ontology))
    g.add((ontology, RDF.type, OWL.Ontology))
    iri_valued = {str(OWL.versionIRI), str(DCTERMS.license)}
    for row in rows:
        if row["p"] == str(DCTERMS.license):
            g.add((dataset, DCTERMS.license, URIRef(row["o"])))
        if row["p"] in iri_valued:
            g.add((ontology, URIRef(row["p"]), URIRef(row["o"])))
        elif row["p"] == str(OWL.versionInfo):
            g.add((ontology, OWL.versionInfo, Literal(row["o"])))
    for source in discover(settings.source_dir, settings.base_iri, ["shapes"]):
        g.add((dataset, SH.shapesGraph, URIRef(source.graph_name)))
    return g


def _html(endpoint: str, graph: Graph) -> str:
    """A minimal page for browsers: what this is, and a form that sends a query."""
    ontology = next(graph.subjects(RDF.type, OWL.Ontology), None)
    version = graph.value(ontology, OWL.versionInfo) if ontology is not None else None
    licence = next(graph.objects(None, DCTERMS.license), None)
    shapes = sorted(str(o) for o in graph.objects(None, SH.shapesGraph))
    graphs = sorted(str(o) for o in graph.objects(None, SD.name))
    example = (
        "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class ORDER BY DESC(?n)"
    )
    items = "".join(f"<li><code>{escape(g)}</code></li>" for g in graphs)
    shape_items = "".join(f"<li><code>{escape(s)}</code></li>" for s in shapes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lec-kg SPARQL endpoint</title></head>
<body>
<h1>lec-kg SPARQL 1.1 endpoint</h1>
<p>Endpoint: <code>{escape(endpoint)}</code>. Ontology version {escape(str(version or "unknown"))};
licence <a href="{escape(str(licence or ""))}">{escape(str(licence or "unknown"))}</a>.
Service description: <a href="?format=turtle">Turtle</a>. API: <a href="../docs">/docs</a>.</p>
<form method="get" action="{escape(endpoint)}">
<textarea name="query" rows="8" cols="100">{escape(example)}</textarea><br>
<select name="format"><option value="html">Table (HTML)</option>
<option value="json">JSON</option><option value="xml">XML</option>
<option value="csv">CSV</option><option value="tsv">TSV</option>
<option value="turtle">Turtle (CONSTRUCT/DESCRIBE)</option></select>
<button type="submit">Run query</button>
</form>
<h2>Named graphs</h2><ul>{items}</ul>
<h2>Shapes</h2><ul>{shape_items}</ul>
</body></html>
"""
