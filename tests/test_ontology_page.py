"""The ontology's own page (`ontology_page`, `routes/ontology.py`): rendered from lec.ttl and the
code lists, it parses as HTML5 without one error, gives every term one unique id (its local name
for the ontology's terms, so `ontology#Term` lands on it), shows each definition, hierarchy,
deprecation and code, escapes whatever the graph says, and a real server serves /ontology as
that page or as the ontology's own triples by the Accept header."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import html5rdf
import httpx
import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SKOS

from lec_kg.ontology_page import Download, render_ontology_page
from lec_kg.results_html import STYLE
from tests.support import TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
LEC = "https://w3id.org/lec-kg/ontology#"
ONTOLOGY = URIRef("https://w3id.org/lec-kg/ontology")
CODE = "https://w3id.org/lec-kg/id/code/"
XHTML = "{http://www.w3.org/1999/xhtml}"


def parse_strict(html: str) -> ET.Element:
    """The document as html5lib's (html5rdf's) strict parser reads it: any parse error raises."""
    return html5rdf.HTMLParser(strict=True).parse(html)


def by_id(doc: ET.Element) -> dict[str, ET.Element]:
    ids = [e.get("id") for e in doc.iter() if e.get("id") is not None]
    twice = [i for i, n in Counter(ids).items() if n > 1]
    assert not twice, f"ids used more than once: {twice}"
    return {e.get("id"): e for e in doc.iter() if e.get("id") is not None}  # type: ignore[misc]


def text(e: ET.Element) -> str:
    return " ".join("".join(e.itertext()).split())


def words(value: object) -> str:
    return " ".join(str(value).split())


def hrefs(e: ET.Element) -> list[str]:
    return [a.get("href", "") for a in e.iter(XHTML + "a")]


@pytest.fixture(scope="module")
def graphs() -> tuple[Graph, Graph, Graph]:
    shapes = Graph()
    for path in sorted((ROOT / "shapes").glob("*.ttl")):
        shapes.parse(path)
    return (
        Graph().parse(ROOT / "ontology" / "lec.ttl"),
        Graph().parse(ROOT / "ontology" / "vocabularies.ttl"),
        shapes,
    )


@pytest.fixture(scope="module")
def page(graphs) -> str:
    downloads = [Download("The ontology", "Turtle", "/ontology?format=turtle")]
    return render_ontology_page(*graphs, downloads=downloads)


@pytest.fixture(scope="module")
def ids(page) -> dict[str, ET.Element]:
    return by_id(parse_strict(page))


def own_terms(onto: Graph) -> list[URIRef]:
    found = {s for s in onto.subjects(RDF.type, None) if str(s).startswith(LEC)}
    assert len(found) > 100, "the ontology's terms were not found: the test would prove nothing"
    return sorted(found)


def test_page_parses_strictly_with_unique_ids(page) -> None:
    """The shipped ontology renders to a document with no HTML5 parse error and no id twice."""
    doc = parse_strict(page)
    found = by_id(doc)
    assert len(found) > 300  # every term, code list and code has one


def test_every_term_is_on_the_page_with_its_definition(graphs, ids) -> None:
    """Each class and property of lec.ttl has the id of its local name, its label and its
    definition; a term's characteristics (functional, symmetric) and examples are shown."""
    onto = graphs[0]
    for term in own_terms(onto):
        local = term[len(LEC) :]
        assert local in ids, f"no id {local} on the page"
        section = text(ids[local])
        for p in (RDFS.label, SKOS.definition, SKOS.example):
            for value in onto.objects(term, p):
                assert words(value) in section, (local, p)
        if (term, RDF.type, OWL.FunctionalProperty) in onto:
            assert "functional" in section, local
        if (term, RDF.type, OWL.SymmetricProperty) in onto:
            assert "symmetric" in section, local


def test_every_code_is_on_the_page(graphs, ids) -> None:
    """Each code list and each code of vocabularies.ttl: its label, definition, broader and
    narrower codes and its matches in other vocabularies."""
    vocab = graphs[1]
    concepts = set(vocab.subjects(RDF.type, SKOS.Concept))
    schemes = set(vocab.subjects(RDF.type, SKOS.ConceptScheme))
    assert len(concepts) > 80 and len(schemes) > 10
    for term in concepts | schemes:
        key = "id/code/" + term[len(CODE) :]
        assert key in ids, f"no id {key}"
        section = ids[key]
        for p in (SKOS.prefLabel, SKOS.definition):
            assert words(vocab.value(term, p)) in text(section), (key, p)
        links = hrefs(section)
        for p in (SKOS.broader, SKOS.narrower):
            for other in vocab.objects(term, p):
                assert "#id/code/" + other[len(CODE) :] in links, (key, p, other)
        for p in (SKOS.closeMatch, SKOS.exactMatch):
            for other in vocab.objects(term, p):
                assert any(
                    h == str(other) or (h[1:] in ids and str(other) in text(ids[h[1:]]))
                    for h in links
                ), (key, other)


def test_fragments_used_in_the_graph_land_on_the_page(ids) -> None:
    """Every `lec:` term the facts (graph/*.ttl) and shapes use: `ontology#Term` has its id."""
    used = set()
    for path in [*(ROOT / "graph").glob("*.ttl"), *(ROOT / "shapes").glob("*.ttl")]:
        for triple in Graph().parse(path):
            used |= {t[len(LEC) :] for t in triple if isinstance(t, URIRef) and t.startswith(LEC)}
    assert len(used) > 100
    assert sorted(used - set(ids)) == []


def test_hierarchy_is_nested_lists(graphs, ids) -> None:
    """Under "Hierarchy", each class of the ontology is an item nested in its superclass's."""
    onto = graphs[0]
    nested = set()
    for item in ids["hierarchy"].iter(XHTML + "li"):
        link = item.find(XHTML + "a")
        for sub in item.findall(f"{XHTML}ul/{XHTML}li/{XHTML}a"):
            nested.add((link.get("href"), sub.get("href")))  # type: ignore[union-attr]
    pairs = {
        ("#" + sup[len(LEC) :], "#" + sub[len(LEC) :])
        for sub, sup in onto.subject_objects(RDFS.subClassOf)
        if str(sub).startswith(LEC) and str(sup).startswith(LEC)
    }
    pairs |= {
        ("#" + sup[len(LEC) :], "#" + sub[len(LEC) :])
        for sub, sup in onto.subject_objects(RDFS.subPropertyOf)
        if str(sub).startswith(LEC) and str(sup).startswith(LEC)
    }
    assert len(pairs) > 20
    assert pairs - nested == set()


def test_deprecated_terms_name_their_replacement(graphs, ids) -> None:
    """A deprecated term says so and links its replacement, in place and in the list."""
    onto = graphs[0]
    deprecated = list(onto.subjects(OWL.deprecated, Literal(True)))
    assert deprecated
    for term in deprecated:
        local = term[len(LEC) :]
        assert "deprecated" in text(ids[local]).lower()
        for new in onto.objects(term, DCTERMS.isReplacedBy):
            assert "#" + new[len(LEC) :] in hrefs(ids[local])
            assert "#" + new[len(LEC) :] in hrefs(ids["deprecated"])


def test_domain_range_inverse_and_union_classes(ids) -> None:
    """Domain and range link their classes; a union range reads "A or B"; inverses both ways."""
    assert "#Statistic" in hrefs(ids["measures"])
    assert "#agencyOf" in hrefs(ids["hasAgency"]) and "#hasAgency" in hrefs(ids["agencyOf"])
    subject_of = text(ids["hasStatement"])
    assert re.search(r"\(lec:Statement or lec:Claim\)", subject_of), subject_of


def test_reused_terms_are_listed_apart(graphs, ids) -> None:
    """Each term of another vocabulary that lec.ttl declares is in its own section, once."""
    onto = graphs[0]
    reused = {
        s
        for s in onto.subjects(RDF.type, None)
        if isinstance(s, URIRef) and not str(s).startswith(LEC) and s != ONTOLOGY
    }
    assert len(reused) > 50
    section = ids["reused"]
    inside = {e.get("id") for e in section.iter() if e.get("id")}
    for term in reused:
        assert str(term) in text(section), term
    assert {"prov:Agent", "foaf:Person", "skos:Concept"} <= inside
    assert "Person" in ids and "Person" not in inside  # lec:Person keeps its own name


def test_header_and_downloads(graphs, ids) -> None:
    """Title, version, licence and description of the ontology, and the files to download."""
    onto = graphs[0]
    overview = text(ids["overview"])
    for p in (DCTERMS.title, OWL.versionInfo, DCTERMS.description):
        assert words(onto.value(ONTOLOGY, p)) in overview
    assert str(onto.value(ONTOLOGY, DCTERMS.license)) in hrefs(ids["overview"])
    assert "/ontology?format=turtle" in hrefs(ids["downloads"])


def test_nothing_the_page_policy_forbids(page) -> None:
    """No script, no style attribute, no event handler: the one style is the hashed sheet."""
    doc = parse_strict(page)
    assert doc.find(f".//{XHTML}script") is None
    styles = list(doc.iter(XHTML + "style"))
    assert [s.text for s in styles] == [STYLE]
    for e in doc.iter():
        assert not [a for a in e.attrib if a == "style" or a.startswith("on")], e.attrib


EVIL = "<script>alert(1)</script>"


def test_what_the_graph_says_is_escaped() -> None:
    """A small ontology whose labels, definitions and IRIs attack the page: all shown as text,
    no javascript: link, ids still unique (a term named like a section keeps its name), and a
    cyclic hierarchy or a malformed list does not hang or break the page."""
    ns = LEC
    onto, vocab = Graph(), Graph()
    onto.add((ONTOLOGY, RDF.type, OWL.Ontology))
    onto.add((ONTOLOGY, DCTERMS.title, Literal(EVIL + " ontology")))
    onto.add((ONTOLOGY, DCTERMS.license, URIRef("javascript:alert(1)")))
    evil, overview, a, b = (URIRef(ns + n) for n in ("Evil", "overview", "A", "B"))
    for term, label in ((evil, EVIL), (overview, "a class called overview"), (a, "a"), (b, "b")):
        onto.add((term, RDF.type, OWL.Class))
        onto.add((term, RDFS.label, Literal(label, lang="en")))
    onto.add((evil, SKOS.definition, Literal('a & b </td></table><img src=x onerror="x()">')))
    onto.add((evil, SKOS.example, Literal("<b>bold</b>")))
    onto.add((evil, RDFS.seeAlso, URIRef("javascript:alert(2)")))
    onto.add((a, RDFS.subClassOf, b))
    onto.add((b, RDFS.subClassOf, a))  # a cycle
    onto.add((evil, RDFS.subClassOf, URIRef("javascript:alert(3)")))
    broken = BNode()
    onto.add((broken, OWL.unionOf, broken))  # a list that is its own rest
    onto.add((broken, RDF.rest, broken))
    onto.add((a, OWL.equivalentClass, broken))
    scheme, code = URIRef(CODE + "evil"), URIRef(CODE + "evil/" + "%3Cscript%3E")
    vocab.add((scheme, RDF.type, SKOS.ConceptScheme))
    vocab.add((scheme, SKOS.prefLabel, Literal(EVIL)))
    vocab.add((code, RDF.type, SKOS.Concept))
    vocab.add((code, SKOS.inScheme, scheme))
    vocab.add((code, SKOS.prefLabel, Literal(EVIL, lang="en")))
    vocab.add((code, SKOS.definition, Literal("<iframe>")))
    html = render_ontology_page(onto, vocab)
    assert "<script" not in html.lower() and "<iframe" not in html and "<img" not in html
    doc = parse_strict(html)
    found = by_id(doc)
    assert EVIL in text(found["Evil"])
    assert '<img src=x onerror="x()">' in text(found["Evil"])
    assert "<b>bold</b>" in text(found["Evil"])
    assert "a class called overview" in text(found["overview"])  # the term keeps its id
    assert EVIL in text(found["id/code/evil"]) and "<iframe>" in text(
        found["id/code/evil/%3Cscript%3E"]
    )
    links = [h.lower() for h in hrefs(doc)]
    assert links and not any(h.startswith("javascript:") for h in links), links
    assert doc.find(f".//{XHTML}title").text == EVIL + " ontology"  # type: ignore[union-attr]


# -- a real server ---------------------------------------------------------------------------

ACCEPT = [
    ("text/html", "text/html"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
    ("text/turtle", "text/turtle"),
    ("application/n-triples", "application/n-triples"),
    ("application/ld+json", "application/ld+json"),
    ("application/rdf+xml", "application/rdf+xml"),
    ("text/html;q=0.5, text/turtle", "text/turtle"),
    ("text/turtle;q=0.2, text/html", "text/html"),
    ("*/*", "text/turtle"),
    ("", "text/turtle"),
]
RDFLIB_FORMAT = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
}


def get(live, path: str, **headers: str) -> httpx.Response:
    return httpx.get(live.url + path, headers=headers, timeout=TIMEOUT)


@pytest.mark.live
@pytest.mark.parametrize("accept,media", ACCEPT)
def test_served_by_accept(live_server, graphs, accept: str, media: str) -> None:
    """/ontology is the page for a browser and the ontology's exact triples for RDF clients."""
    reply = get(live_server, "/ontology", Accept=accept)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == media + "; charset=utf-8"
    assert "accept" in reply.headers["vary"].lower()
    if media == "text/html":
        assert "ontology#" not in by_id(parse_strict(reply.text))  # parses, ids unique
        assert "#Actor" in reply.text and 'id="Actor"' in reply.text
    else:
        served = Graph().parse(data=reply.content, format=RDFLIB_FORMAT[media])
        assert isomorphic(served, graphs[0])


@pytest.mark.live
def test_code_lists_file_and_version(live_server, graphs) -> None:
    """/ontology/vocabularies is the code lists' file; the version IRI serves the ontology."""
    reply = get(live_server, "/ontology/vocabularies", Accept="text/turtle")
    assert reply.status_code == 200
    assert isomorphic(Graph().parse(data=reply.content, format="turtle"), graphs[1])
    version = graphs[0].value(ONTOLOGY, OWL.versionInfo)
    reply = get(live_server, f"/ontology/{version}", Accept="application/n-triples")
    assert reply.status_code == 200
    assert isomorphic(Graph().parse(data=reply.content, format="nt"), graphs[0])
    for name in ("vocabularies", version):  # answered directly, never a 303 (README)
        page = get(live_server, f"/ontology/{name}", Accept="text/html")
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "Accept" in page.headers["vary"]
        assert page.headers["content-location"] == "../ontology"
        assert 'id="id/code/measure"' in page.text and 'id="code-lists' in page.text
        for href in re.findall(r'href="([^"#][^"]*format=[^"]*)"', page.text):
            assert href.startswith("../ontology"), href  # the downloads, one level up
            target = page.url.join(href)
            assert httpx.get(target, timeout=TIMEOUT).status_code == 200, href


@pytest.mark.live
def test_refusals(live_server) -> None:
    """Nothing acceptable: 406 with what there is; unknown names and path tricks: 404."""
    reply = get(live_server, "/ontology", Accept="image/png")
    assert reply.status_code == 406 and "text/turtle" in reply.text
    assert get(live_server, "/ontology?format=csv").status_code == 406  # a format, not for this
    assert get(live_server, "/ontology?format=%3Cscript%3E").status_code == 400
    for path in (
        "/ontology/0.0.0",
        "/ontology/lec",
        "/ontology/..%2f..%2fpyproject.toml",
        "/ontology/%2e%2e",
        "/ontology/%C0%AE%C0%AE",
        "/ontology/vocabularies%00",
        "/ontology/" + "a" * 4000,
    ):
        reply = get(live_server, path, Accept="text/turtle")
        assert reply.status_code in (400, 404), (path, reply.status_code)
        assert "@prefix" not in reply.text and "[build-system]" not in reply.text


@pytest.mark.live
def test_etag_gives_304(live_server) -> None:
    """The same representation has the same ETag; sent back, it gets a 304 and no body."""
    first = get(live_server, "/ontology", Accept="text/turtle")
    etag = first.headers["etag"]
    again = get(live_server, "/ontology", Accept="text/turtle", **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    html = get(live_server, "/ontology", Accept="text/html", **{"If-None-Match": etag})
    assert html.status_code == 200 and html.headers["etag"] != etag


def test_a_cycle_of_subclasses_is_shown_once_each() -> None:
    """Classes that are subclasses of each other still appear in the hierarchy, each once."""
    onto = Graph()
    onto.add((ONTOLOGY, RDF.type, OWL.Ontology))
    a, b, c = (URIRef(LEC + n) for n in "ABC")
    for term in (a, b, c):
        onto.add((term, RDF.type, OWL.Class))
    onto += [(a, RDFS.subClassOf, b), (b, RDFS.subClassOf, a), (c, RDFS.subClassOf, c)]
    found = by_id(parse_strict(render_ontology_page(onto, Graph())))
    links = [h for h in hrefs(found["hierarchy"]) if h in ("#A", "#B", "#C")]
    assert sorted(links) == ["#A", "#B", "#C"]


@pytest.mark.live
def test_download_links_serve_the_files(live_server, graphs) -> None:
    """Each link under "Download" on the served page, followed from /ontology, gives that file
    in that format: the ontology's or the code lists' triples exactly."""
    page_url = httpx.URL(live_server.url + "/ontology")
    page = httpx.get(page_url, headers={"Accept": "text/html"}, timeout=TIMEOUT)
    links = hrefs(by_id(parse_strict(page.text))["downloads"])
    assert len(links) == 8, links  # 4 formats x (ontology, code lists)
    for link in links:
        reply = httpx.get(page_url.join(link), timeout=TIMEOUT)
        assert reply.status_code == 200, link
        media = reply.headers["content-type"].split(";")[0]
        served = Graph().parse(data=reply.content, format=RDFLIB_FORMAT[media])
        expected = graphs[1] if "vocabularies" in link else graphs[0]
        assert isomorphic(served, expected), link
        assert reply.headers["content-disposition"].startswith("inline; filename=")


def test_links_follow_the_public_url_never_the_host_header(settings, engine) -> None:
    """Download links: under the configured public URL; the Host header shows up nowhere."""
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from lec_kg.app import create_app

    evil = "evil.example"
    public = replace(settings, public_url="https://kg.example.org/lec-kg/")
    with TestClient(create_app(public, engine), raise_server_exceptions=False) as c:
        reply = c.get("/ontology", headers={"Accept": "text/html", "Host": evil})
        assert reply.status_code == 200
        assert evil not in reply.text and all(evil not in v for v in reply.headers.values())
        links = hrefs(by_id(parse_strict(reply.text))["downloads"])
        assert links and all(h.startswith("https://kg.example.org/lec-kg/ontology") for h in links)
