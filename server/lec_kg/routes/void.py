"""The VoID and DCAT description of the dataset at `/.well-known/void`.

One `void:Dataset` (also a `dcat:Dataset`): the asserted data, its licence and version (the
ontology's), its size (triples counted per named graph and summed, as the N-Quads dump has
them; entities are the distinct subjects under `<base>id/`), every named graph as a
`void:subset` with its own size and dumps, example resources, the SPARQL endpoint, the source
report, and every dump as `void:dataDump` and as a `dcat:Distribution` with its media type; the
framed JSON-LD documents (one kind each, `/framed/<kind>.jsonld`) are distributions too, with
`dcterms:conformsTo` their frame (`/frame/<kind>.jsonld`), not data dumps: each holds a part. The
inferred graph is a dataset of its own, derived from the first. Absolute URLs come from the
settings (`public_base`), never from the request.
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, PROV, RDF, VOID, XSD

from ..config import Settings
from ..dumps import BY_EXTENSION, DUMP_FORMATS, dump_url, frame_url, framed_url, graph_path, iana
from ..engine_api import Engine
from ..jsonld_frames import KINDS
from ..negotiation import negotiate, offers
from ..wellformed import xml_document
from .deps import endpoint_iri, ready_engine, select_values, settings_of
from .dumps import release_version

router = APIRouter()

DCAT_VERSION = URIRef(str(DCAT) + "version")  # DCAT 3; rdflib knows DCAT 2 only
SD = Namespace("http://www.w3.org/ns/sparql-service-description#")
SIZES = """SELECT ?g (COUNT(*) AS ?triples) (COUNT(DISTINCT ?s) AS ?subjects)
  (COUNT(DISTINCT ?p) AS ?properties) WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }} GROUP BY ?g"""
ENTITIES = """SELECT ?g (COUNT(DISTINCT ?s) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p ?o }}
  FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{space}")) }} GROUP BY ?g"""
WHOLE = """SELECT (COUNT(DISTINCT ?s) AS ?subjects) (COUNT(DISTINCT ?p) AS ?properties)
  (COUNT(DISTINCT ?e) AS ?entities) (COUNT(DISTINCT ?c) AS ?classes) WHERE {{
  GRAPH ?g {{ ?s ?p ?o }} FILTER(?g != <{inferred}>)
  BIND(IF(?p = <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>, ?o, ?none) AS ?c)
  BIND(IF(isIRI(?s) && STRSTARTS(STR(?s), "{space}"), ?s, ?none) AS ?e) }}"""
# ?c and ?e are bound only where the condition holds (?none is never bound: an IF that picks
# it is an error, and BIND leaves the variable unbound). A FILTER inside an OPTIONAL {} sees
# only that group's variables, where ?p and ?s are not: it counted 0 classes and 0 entities.
LICENCE = (
    """SELECT ?l WHERE {{ GRAPH ?g {{ <{ontology}> <http://purl.org/dc/terms/license> ?l }} }}"""
)
REPORTS = """SELECT DISTINCT ?r WHERE {{ GRAPH ?g {{ ?r a <{ontology}#Report> }} }} ORDER BY ?r"""
EXAMPLES = """SELECT ?c (MIN(STR(?s)) AS ?x) WHERE {{ VALUES ?c {{ {classes} }}
  GRAPH ?g {{ ?s a ?c }} FILTER(isIRI(?s)) }} GROUP BY ?c"""
EXAMPLE_CLASSES = ("Report", "ExtraditionTreaty", "GovernmentAgency", "Campaign", "Person")
JSONLD_PREFIXES = {
    "void": str(VOID),
    "dcat": str(DCAT),
    "dcterms": str(DCTERMS),
    "sd": str(SD),
    "xsd": str(XSD),
    "owl": str(OWL),
    "prov": str(PROV),
    "foaf": str(FOAF),
}


@router.get("/.well-known/void", response_class=Response)
def void(
    request: Request,
    format: str | None = Query(None, description="turtle, nt, jsonld or rdfxml"),
) -> Response:
    """The VoID and DCAT description of the dataset: licence, version, size, graphs, dumps."""
    engine = ready_engine(request)
    settings = settings_of(request)
    choice = negotiate(request.headers.get("accept"), offers("graph"), format)
    graph = describe(settings, engine, release_version(request, engine))
    if choice.media.name == "application/ld+json":
        body = graph.serialize(format="json-ld", context=JSONLD_PREFIXES, encoding="utf-8")
    else:
        body = graph.serialize(format=choice.media.name, encoding="utf-8")
        if choice.media.name == "application/rdf+xml":
            body = xml_document(body, "RDF/XML", "graph")
    return Response(body, media_type=choice.content_type, headers={"Vary": "Accept"})


def description_iri(settings: Settings) -> str:
    """The IRI of the description document, and of its datasets (`#lec-kg`, `#<graph path>`)."""
    return f"{settings.public_base}/.well-known/void"


def describe(settings: Settings, engine: Engine, version: str) -> Graph:
    """The VoID and DCAT description, as an rdflib Graph."""
    base = settings.base_iri
    public = settings.public_base
    doc = description_iri(settings)
    inferred = f"{base}graph/inferred"
    space = f"{base}id/"
    g = Graph()
    for name, ns in JSONLD_PREFIXES.items():
        g.bind(name, ns)
    dataset = URIRef(doc + "#lec-kg")
    g.add((URIRef(doc), RDF.type, VOID.DatasetDescription))
    g.add((URIRef(doc), FOAF.primaryTopic, dataset))
    g.add((URIRef(doc), DCTERMS.title, Literal("A description of the lec-kg dataset", lang="en")))

    _about(
        g,
        dataset,
        "lec-kg",
        "The knowledge graph of international law-enforcement "
        "cooperation, as asserted (the inferred graph is a dataset of its own).",
    )
    g.add((dataset, OWL.versionInfo, Literal(version)))
    g.add((dataset, DCAT_VERSION, Literal(version)))
    g.add((dataset, DCTERMS.conformsTo, URIRef(base + "ontology")))
    g.add((dataset, VOID.vocabulary, URIRef(base + "ontology#")))
    g.add((dataset, VOID.sparqlEndpoint, URIRef(endpoint_iri(settings))))
    g.add((dataset, VOID.uriSpace, Literal(space)))
    g.add((dataset, VOID.rootResource, URIRef(base + "ontology")))
    g.add((dataset, FOAF.homepage, URIRef(public + "/")))
    for row in select_values(engine, LICENCE.format(ontology=base + "ontology")):
        g.add((dataset, DCTERMS.license, URIRef(row["l"])))
    for row in select_values(engine, REPORTS.format(ontology=base + "ontology")):
        g.add((dataset, DCTERMS.source, URIRef(row["r"])))
    classes = " ".join(f"<{base}ontology#{c}>" for c in EXAMPLE_CLASSES)
    for row in select_values(engine, EXAMPLES.format(classes=classes)):
        g.add((dataset, VOID.exampleResource, URIRef(row["x"])))

    sizes = {r["g"]: r for r in select_values(engine, SIZES.format())}
    entities = {r["g"]: int(r["n"]) for r in select_values(engine, ENTITIES.format(space=space))}
    whole = select_values(engine, WHOLE.format(inferred=inferred, space=space))[0]
    asserted = sorted(name for name in sizes if name != inferred)
    g.add((dataset, VOID.triples, _int(sum(int(sizes[n]["triples"]) for n in asserted))))
    g.add((dataset, VOID.entities, _int(int(whole["entities"]))))
    g.add((dataset, VOID.distinctSubjects, _int(int(whole["subjects"]))))
    g.add((dataset, VOID.properties, _int(int(whole["properties"]))))
    g.add((dataset, VOID.classes, _int(int(whole["classes"]))))
    _dumps(g, dataset, settings, None)
    _framed(g, dataset, settings)

    for name in [*asserted, *([inferred] if inferred in sizes else [])]:
        subset = URIRef(f"{doc}#{graph_path(name, base) or name}")
        if name == inferred:
            _about(
                g,
                subset,
                "lec-kg entailments",
                "What the ontology entails from the "
                "asserted data (RDFS and OWL RL), kept apart from it.",
            )
            g.add((subset, PROV.wasDerivedFrom, dataset))
        else:
            g.add((dataset, VOID.subset, subset))
            g.add((subset, RDF.type, VOID.Dataset))
            g.add((subset, RDF.type, DCAT.Dataset))
            g.add(
                (subset, DCTERMS.title, Literal(f"lec-kg graph {graph_path(name, base) or name}"))
            )
            g.add((subset, DCTERMS.isPartOf, dataset))
        g.add((subset, SD.name, URIRef(name)))
        g.add((subset, VOID.triples, _int(int(sizes[name]["triples"]))))
        g.add((subset, VOID.distinctSubjects, _int(int(sizes[name]["subjects"]))))
        g.add((subset, VOID.properties, _int(int(sizes[name]["properties"]))))
        g.add((subset, VOID.entities, _int(entities.get(name, 0))))
        _dumps(g, subset, settings, name)
    return g


def _about(g: Graph, node: URIRef, title: str, description: str) -> None:
    g.add((node, RDF.type, VOID.Dataset))
    g.add((node, RDF.type, DCAT.Dataset))
    g.add((node, DCTERMS.title, Literal(title, lang="en")))
    g.add((node, DCTERMS.description, Literal(description, lang="en")))


def _dumps(g: Graph, dataset: URIRef, settings: Settings, graph: str | None) -> None:
    """Every dump of `dataset` as void:dataDump and as a dcat:Distribution."""
    for media in DUMP_FORMATS:
        url = URIRef(dump_url(settings.public_base, settings.base_iri, graph, media))
        g.add((dataset, VOID.dataDump, url))
        distribution = BNode()
        g.add((dataset, DCAT.distribution, distribution))
        g.add((distribution, RDF.type, DCAT.Distribution))
        g.add((distribution, DCAT.downloadURL, url))
        g.add((distribution, DCAT.accessURL, url))
        g.add((distribution, DCAT.mediaType, URIRef(iana(media))))
        g.add((distribution, DCTERMS["format"], URIRef(media.format_iri or iana(media))))


def _framed(g: Graph, dataset: URIRef, settings: Settings) -> None:
    """The framed JSON-LD documents as distributions, each conforming to its frame."""
    media = BY_EXTENSION["jsonld"]
    for kind in KINDS:
        url = URIRef(framed_url(settings.public_base, kind))
        distribution = URIRef(f"{description_iri(settings)}#framed-{kind}")
        g.add((dataset, DCAT.distribution, distribution))
        g.add((distribution, RDF.type, DCAT.Distribution))
        g.add((distribution, DCTERMS.title, Literal(f"lec-kg, {kind} nodes framed", lang="en")))
        g.add((distribution, DCAT.downloadURL, url))
        g.add((distribution, DCAT.accessURL, url))
        g.add((distribution, DCAT.mediaType, URIRef(iana(media))))
        g.add((distribution, DCTERMS["format"], URIRef(media.format_iri or iana(media))))
        g.add((distribution, DCTERMS.conformsTo, URIRef(frame_url(settings.public_base, kind))))


def _int(n: int) -> Literal:
    return Literal(n, datatype=XSD.integer)
