"""What the audit of the running service found in linked data and exports, each against a real
`lec-kg serve` process of this module's own (written to: facts go into the default graph).

VoID's figures match a direct SPARQL count; every IRI under the base that the whole dump holds
answers (graphs, records, things); facts of the default graph have pages; an undeclared kind is
a 404; the code lists answer at their own IRI with no 303; no XHTML is offered; Content-Location
follows the public URL's path; RDF/XML writes any predicate or says which quad it cannot carry;
a thing's JSON-LD is compacted with the published context.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pyoxigraph
import pytest
from rdflib import Graph, URIRef
from rdflib.namespace import VOID

from lec_kg.errors import NotRepresentable
from lec_kg.store import serialize_graph
from tests.conftest import TOKEN, LiveServer, serving
from tests.support import TIMEOUT
from tests.test_exports import TOOL_TIMEOUT_S, independent, isomorphic_quads, quads_of, tool

pytestmark = pytest.mark.live

BASE = "https://w3id.org/lec-kg/"
PUBLIC = "https://kg.example.org/lec"  # a path under the host: links and locations keep it
INFERRED = BASE + "graph/inferred"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`lec-kg serve --memory`, writable with TOKEN, its public URL under a path."""
    log = tmp_path_factory.mktemp("resolving") / "serve.log"
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN, "LEC_KG_PUBLIC_URL": PUBLIC}
    with serving(["--memory"], env, log) as live:
        yield live


def get(server: LiveServer, path: str, accept: str | None = None, **headers: str) -> httpx.Response:
    if accept is not None:
        headers["Accept"] = accept
    return httpx.get(server.url + path, headers=headers, timeout=TIMEOUT)


def count(server: LiveServer, query: str) -> int:
    r = httpx.post(
        server.sparql,
        data={"query": query},
        headers={"Accept": "application/sparql-results+json"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    return int(r.json()["results"]["bindings"][0]["n"]["value"])


def update(server: LiveServer, text: str) -> httpx.Response:
    return httpx.post(
        server.sparql,
        data={"update": text},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )


# ---------------------------------------------------------------- VoID


def test_void_figures_match_a_direct_count(server) -> None:
    """void:classes and void:entities of the whole dataset are the distinct classes and the
    distinct subjects under <base>id/ of the asserted graphs, as SPARQL counts them."""
    r = get(server, "/.well-known/void", "text/turtle")
    assert r.status_code == 200, r.text
    g = Graph().parse(data=r.content, format="turtle")
    dataset = URIRef(PUBLIC + "/.well-known/void#lec-kg")
    asserted = f"GRAPH ?g {{ ?s ?p ?o }} FILTER(?g != <{INFERRED}>)"
    classes = count(
        server,
        f"SELECT (COUNT(DISTINCT ?o) AS ?n) WHERE {{ {asserted} "
        "FILTER(?p = <http://www.w3.org/1999/02/22-rdf-syntax-ns#type>) }",
    )
    entities = count(
        server,
        f"SELECT (COUNT(DISTINCT ?s) AS ?n) WHERE {{ {asserted} "
        f'FILTER(isIRI(?s) && STRSTARTS(STR(?s), "{BASE}id/")) }}',
    )
    assert classes > 50 and entities > 500
    assert int(g.value(dataset, VOID.classes)) == classes
    assert int(g.value(dataset, VOID.entities)) == entities


# ---------------------------------------------------------------- negotiation


@pytest.mark.parametrize("path", ["/id/state/CY", "/ontology", "/ontology/vocabularies", "/shapes"])
def test_xhtml_is_not_offered(server, path: str) -> None:
    """HTML5 is not XML: a client that takes only application/xhtml+xml gets a 406, not HTML5
    labelled as XHTML; one that also takes text/html gets text/html."""
    r = get(server, path, "application/xhtml+xml")
    assert r.status_code == 406, (r.status_code, r.headers.get("content-type"))
    r = get(server, path, "application/xhtml+xml, text/html;q=0.5")
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == "text/html"


@pytest.mark.parametrize("fmt", ["html", "turtle", "jsonld"])
def test_content_location_keeps_the_public_path(server, fmt: str) -> None:
    """With --public-url https://kg.example.org/lec, pages link under /lec/, and the
    Content-Location of a representation is there too."""
    r = get(server, f"/id/state/CY?format={fmt}")
    assert r.status_code == 200, r.text
    assert r.headers["content-location"] == f"/lec/id/state/CY?format={fmt}"
    if fmt == "html":
        assert 'href="/lec/browse?kind=' in r.text


# ---------------------------------------------------------------- the default graph

REPORT = BASE + "id/document/merics-china-monitor-2017-01-18"
D1 = BASE + "id/place/d1"
PLACE = BASE + "ontology#Place"
DEFAULT_GRAPH_FACT = f"""PREFIX lec: <{BASE}ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
INSERT DATA {{ <{D1}> a lec:Place ; rdfs:label "D1"@en ;
  lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ;
                 lec:page 1 ; lec:quote "China" ] . }}"""


@pytest.fixture(scope="module")
def in_default_graph(server) -> str:
    """A place written with no GRAPH: it lands in the default graph."""
    r = update(server, DEFAULT_GRAPH_FACT)
    assert r.status_code in (200, 204), r.text
    return D1


def test_facts_of_the_default_graph_have_pages(server, in_default_graph: str) -> None:
    """What SPARQL finds, the pages show: the thing's page, its RDF with its evidence, and its
    kind's members on /browse."""
    assert count(server, f"SELECT (COUNT(*) AS ?n) WHERE {{ <{D1}> a <{PLACE}> }}") == 1
    page = get(server, "/id/place/d1", "text/html")
    assert page.status_code == 200, page.text
    assert "D1" in page.text and "China" in page.text
    r = get(server, "/id/place/d1", "text/turtle")
    assert r.status_code == 200
    g = Graph().parse(data=r.content, format="turtle")
    evidence = g.value(URIRef(D1), URIRef(BASE + "ontology#evidence"))
    assert evidence is not None
    assert str(g.value(evidence, URIRef(BASE + "ontology#quote"))) == "China"
    browse = get(server, "/browse?kind=" + quote(PLACE, safe=""))
    assert browse.status_code == 200 and "/lec/id/place/d1" in browse.text
    kinds = get(server, "/browse")
    assert kinds.status_code == 200


def test_browse_an_undeclared_kind_is_a_404(server) -> None:
    """A kind the ontology does not declare is not an empty kind: 404. A declared one is 200."""
    for kind in (BASE + "ontology#NoSuchKind", "http://x.example/Thing"):
        r = get(server, "/browse?kind=" + quote(kind, safe=""))
        assert r.status_code == 404, (kind, r.status_code)
    r = get(server, "/browse?kind=" + quote(BASE + "ontology#Treaty", safe=""))
    assert r.status_code == 200


# ---------------------------------------------------------------- every own IRI resolves

PLACE_TURTLE = f"""@prefix lec: <{BASE}ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
<{BASE}id/place/crawl> a lec:Place ; rdfs:label "Crawl"@en ;
    lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ;
        lec:quote "China" ] .
"""


@pytest.fixture(scope="module")
def submitted(server) -> str:
    """A submission (its own graph and its record) and a SPARQL update (its record)."""
    r = httpx.post(
        server.url + "/facts",
        params={"message": "a place to crawl", "source": REPORT},
        content=PLACE_TURTLE.encode(),
        headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def own_iris(nquads: bytes) -> set[str]:
    """Every IRI under the base that a dump names (subject, predicate, object, graph), but
    the fragments of the ontology and the shapes (their documents answer for them)."""
    found = set()
    for q in pyoxigraph.parse(nquads, format=pyoxigraph.RdfFormat.N_QUADS):
        for term in (q.subject, q.predicate, q.object, q.graph_name):
            if isinstance(term, pyoxigraph.NamedNode) and term.value.startswith(BASE):
                found.add(term.value.split("#", 1)[0])
    return found


def test_every_own_iri_of_the_dump_resolves(server, in_default_graph, submitted: str) -> None:
    """The crawl: every IRI of the graph's own namespaces in the whole dump (and the inferred
    graph's name) answers 200 for a browser and for an RDF client, never a 404."""
    dump = get(server, "/dump.nq")
    assert dump.status_code == 200
    iris = own_iris(dump.content) | {INFERRED}
    expected = {
        BASE + "graph/records",
        BASE + f"graph/submission/{submitted}",
        BASE + f"record/submission/{submitted}",
        BASE + "record/agent/default",
        BASE + "graph/facts/actors",
        D1,
    }
    assert expected <= iris
    failed = {}
    for iri in sorted(iris):
        for accept in ("text/html", "text/turtle"):
            r = get(server, "/" + iri[len(BASE) :], accept)
            if r.status_code != 200:
                failed[(iri, accept)] = r.status_code
    assert not failed, failed


def test_a_graph_iri_is_its_page_or_its_triples(server, submitted: str) -> None:
    """/graph/<path>: a page (size, dumps, Graph Store URL) or the graph's triples, as its dump."""
    page = get(server, "/graph/facts/actors", "text/html")
    assert page.status_code == 200 and "Accept" in page.headers["vary"]
    triples = count(
        server,
        f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{BASE}graph/facts/actors> {{ ?s ?p ?o }} }}",
    )
    assert f"{triples} triples" in page.text
    assert 'href="/lec/dump/facts/actors.ttl"' in page.text
    assert "/lec/graph-store?graph=" + quote(BASE + "graph/facts/actors", safe="") in page.text
    for mtype, fmt in (
        ("text/turtle", "turtle"),
        ("application/n-triples", "nt"),
        ("application/rdf+xml", "xml"),
        ("application/ld+json", "json-ld"),
    ):
        r = get(server, "/graph/facts/actors", mtype)
        assert r.status_code == 200 and r.headers["content-type"].startswith(mtype)
        assert len(Graph().parse(data=r.content, format=fmt)) == triples
    record = get(server, f"/record/submission/{submitted}", "text/turtle")
    g = Graph().parse(data=record.content, format="turtle")
    assert (URIRef(BASE + f"record/submission/{submitted}"), None, None) in g
    for missing in ("/graph/facts/nothing", "/graph/", "/graph/facts%2Factors"):
        assert get(server, missing, "text/turtle").status_code == 404, missing


# ---------------------------------------------------------------- RDF/XML

SPLIT = ("http://x.example/1a", "http://x.example/ab#1c", "http://x.example/a:b")
NO_NCNAME = ("http://x.example/123", "http://x.example/a/")


def rapper_reads(body: bytes, tmp_path) -> set[tuple[str, str, str]]:
    """What Raptor reads from an RDF/XML document, as N-Triples lines split in three."""
    path = tmp_path / "doc.rdf"
    path.write_bytes(body)
    run = [tool("rapper"), "-q", "-i", "rdfxml", "-o", "ntriples", str(path), "http://b.invalid/"]
    done = subprocess.run(run, capture_output=True, timeout=TOOL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[:2000]
    return {tuple(line[:-2].split(" ", 2)) for line in done.stdout.decode().splitlines()}


def test_rdfxml_splits_a_predicate_where_an_ncname_ends_it(tmp_path) -> None:
    """A predicate whose last segment is no XML name is written under a namespace that ends
    before the NCName at its end (`http://x.example/1` + `a`), and Raptor reads it back."""
    s = pyoxigraph.NamedNode("http://s.example/s")
    triples = [pyoxigraph.Triple(s, pyoxigraph.NamedNode(p), pyoxigraph.Literal(p)) for p in SPLIT]
    body = serialize_graph(triples, pyoxigraph.RdfFormat.RDF_XML, {"x": "http://x.example/"})
    assert rapper_reads(body, tmp_path) == {(f"<{s.value}>", f"<{p}>", f'"{p}"') for p in SPLIT}


@pytest.mark.parametrize("predicate", NO_NCNAME)
def test_rdfxml_refuses_a_predicate_no_xml_name_ends(predicate: str) -> None:
    """No NCName ends <http://x.example/123> or <http://x.example/a/>: RDF/XML cannot name
    them as property elements (its own limit). A 406 that names the predicate and the formats
    that can carry it."""
    t = pyoxigraph.Triple(
        pyoxigraph.NamedNode("http://s.example/s"),
        pyoxigraph.NamedNode(predicate),
        pyoxigraph.Literal("v"),
    )
    with pytest.raises(NotRepresentable) as caught:
        serialize_graph([t], pyoxigraph.RdfFormat.RDF_XML)
    assert f"<{predicate}>" in str(caught.value) and "text/turtle" in str(caught.value)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1f", "\ufffe"])
def test_rdfxml_names_the_statement_it_cannot_carry(char: str) -> None:
    """A literal XML 1.0 cannot hold: a 406 naming the statement's subject and predicate."""
    q = pyoxigraph.Quad(
        pyoxigraph.NamedNode("http://s.example/s"),
        pyoxigraph.NamedNode("http://x.example/p"),
        pyoxigraph.Literal(f"ctl{char}char"),
        pyoxigraph.NamedNode("http://g.example/"),
    )
    with pytest.raises(NotRepresentable) as caught:
        serialize_graph([q], pyoxigraph.RdfFormat.RDF_XML)
    text = str(caught.value)
    assert "<http://s.example/s>" in text and "<http://x.example/p>" in text
    assert f"U+{ord(char):04X}" in text


def test_rdfxml_dump_carries_split_predicates(server, tmp_path) -> None:
    """Through the service: a thing with such predicates is in /dump.rdf and its own RDF/XML,
    and Raptor reads them back."""
    thing = BASE + "id/place/xml-names"
    values = " ; ".join(f'<{p}> "{p}"' for p in SPLIT)
    r = update(
        server,
        f"""PREFIX lec: <{BASE}ontology#> PREFIX dcterms: <http://purl.org/dc/terms/>
        INSERT DATA {{ GRAPH <{BASE}graph/facts/xml-names> {{
          <{thing}> a lec:Place ; <http://www.w3.org/2000/01/rdf-schema#label> "X"@en ;
            lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ;
                           lec:quote "China" ] ; {values} }} }}""",
    )
    assert r.status_code in (200, 204), r.text
    for path in (
        "/dump.rdf",
        "/id/place/xml-names?format=rdf",
        "/graph/facts/xml-names?format=rdf",
    ):
        reply = get(server, path)
        assert reply.status_code == 200, (path, reply.text[:500])
        read = rapper_reads(reply.content, tmp_path)
        assert {(f"<{thing}>", f"<{p}>", f'"{p}"') for p in SPLIT} <= read, path


# ---------------------------------------------------------------- JSON-LD


@pytest.mark.parametrize("path", ["/id/event/activity-cy-2015-04", "/id/state/CY", "/id/place/d1"])
def test_a_things_jsonld_reads_like_plain_json(server, in_default_graph, path, tmp_path) -> None:
    """A thing's JSON-LD is compacted with the published context, embedded (short keys, no
    IRIs as keys), and jsonld.js reads it back as the very triples of its Turtle."""
    context = get(server, "/context.jsonld").json()["@context"]
    r = get(server, path, "application/ld+json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    doc = r.json()
    assert doc["@context"] == context
    nodes = doc["@graph"]
    thing = next(n for n in nodes if n.get("id") == BASE + path[1:])
    assert isinstance(thing["label"], str) and "type" in thing
    assert not [k for n in nodes for k in n if k.startswith(("http://", "https://"))]
    turtle = get(server, path, "text/turtle")
    ((_, read),) = independent("jsonld", r.content, tmp_path)
    assert isomorphic_quads(read, quads_of(turtle.content, "turtle"))
