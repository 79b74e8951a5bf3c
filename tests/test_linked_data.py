"""Dereferencing and pages, against a real `lec-kg serve` process of this module's own (it is
written to: the escaping test changes a label).

Every IRI of the graph's own namespaces answers: a page for people, the resource's description
in four RDF formats (parsed back with rdflib), 304s for a current copy, 404s for unknown things
and for path tricks sent byte for byte over a socket.
"""

from __future__ import annotations

import html
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import quote, urlsplit

import httpx
import pytest
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import OWL, RDF, RDFS

from lec_kg.human_dates import date_range, human_date
from tests.conftest import TOKEN, LiveServer, build, serving
from tests.support import TIMEOUT

XSD = Namespace("http://www.w3.org/2001/XMLSchema#")  # plain: rdflib's warns on every probe

pytestmark = pytest.mark.live

BASE = "https://w3id.org/lec-kg/"
LEC = Namespace(BASE + "ontology#")
CYPRUS_ACTIVITY = BASE + "id/event/activity-cy-2015-04"
BULGARIAN_MLAT = BASE + "id/instrument/mlat-cn-bg"
REPORT = BASE + "id/document/merics-china-monitor-2017-01-18"
EVIL_LABEL = '"""<script>alert("x")</script> Cyprus"""'
RDF_FORMATS = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/n-triples": "nt",
    "application/rdf+xml": "xml",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`lec-kg serve --memory`, writable with TOKEN, for this module alone."""
    log = tmp_path_factory.mktemp("linked") / "serve.log"
    with serving(["--memory"], {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}, log) as live:
        yield live


def path_of(iri: str) -> str:
    return "/" + iri[len(BASE) :]


def get(server: LiveServer, path: str, accept: str | None = None, **headers: str) -> httpx.Response:
    if accept is not None:
        headers["Accept"] = accept
    return httpx.get(server.url + path, headers=headers, timeout=TIMEOUT)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


# ------------------------------------------------------------------ content negotiation


@pytest.mark.parametrize("mtype", sorted(RDF_FORMATS))
def test_each_rdf_format_parses_back_and_holds_the_description(server, mtype) -> None:
    """The thing's own statements, its evidence, the statements about it (the uncertain
    readings too, not asserted), and an incoming link with its label."""
    r = get(server, path_of(CYPRUS_ACTIVITY), mtype)
    assert r.status_code == 200, r.text
    assert media_type(r) == mtype
    assert "Accept" in r.headers["vary"]
    g = Graph().parse(data=r.content, format=RDF_FORMATS[mtype])
    x = URIRef(CYPRUS_ACTIVITY)
    assert (x, LEC.date, Literal("2015-04", datatype=XSD.gYearMonth)) in g
    assert (x, LEC.place, URIRef(BASE + "id/state/CY")) in g
    assert (x, RDFS.label, None) in g
    quotes = {str(g.value(b, LEC.quote)) for b in g.objects(x, LEC.evidence)}
    assert "Greece (Apr 15)Cyprus (Apr 15)Bulgaria (Apr 15)" in quotes
    readings = {
        g.value(st, LEC.statementObject)
        for st in g.subjects(LEC.statementSubject, x)
        if g.value(st, LEC.statementPredicate) == RDF.type
        and g.value(st, LEC.certainty) == URIRef(BASE + "id/code/certainty/uncertain")
    }
    assert readings == {LEC.InformalRepatriation, LEC.Extradition, LEC.CooperationActivity}
    for st in g.subjects(LEC.statementSubject, x):
        assert g.value(st, LEC.readingArgument) or g.value(st, LEC.uncertaintyNote), st
    assert (x, RDF.type, LEC.Extradition) not in g  # a reading is never asserted
    incoming = [s for s, p in g.subject_predicates(x) if p != LEC.statementSubject]
    assert incoming and all(g.value(s, RDFS.label) for s in incoming)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("text/html", "text/html"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"),
        ("text/turtle;q=0.5, application/ld+json", "application/ld+json"),
        ("application/rdf+xml;q=0.9, text/html;q=0.1", "application/rdf+xml"),
        ("application/n-triples, text/turtle;q=0", "application/n-triples"),
        ("text/*;q=0.5, application/n-triples;q=0.4", "text/turtle"),
        ("*/*", "text/turtle"),
        (None, "text/turtle"),
    ],
)
def test_q_values_decide(server, accept, expected) -> None:
    r = get(server, path_of(BULGARIAN_MLAT), accept)
    assert r.status_code == 200
    assert media_type(r) == expected


def test_nothing_acceptable_is_406_and_format_overrides(server) -> None:
    r = get(server, path_of(BULGARIAN_MLAT), "image/png")
    assert r.status_code == 406
    r = get(server, path_of(BULGARIAN_MLAT) + "?format=nt", "text/html")
    assert media_type(r) == "application/n-triples"


def test_direct_answers_with_vary_and_content_location(server) -> None:
    """One rule for every slash IRI: a direct 200 (never a 303) naming its format's URL."""
    for iri in (CYPRUS_ACTIVITY, REPORT, BASE + "id/code/certainty/uncertain"):
        for accept in ("text/html", "text/turtle"):
            r = httpx.get(
                server.url + path_of(iri),
                headers={"Accept": accept},
                timeout=TIMEOUT,
                follow_redirects=False,
            )
            assert r.status_code == 200
            assert "Accept" in r.headers["vary"]
            assert r.headers["content-location"].startswith(path_of(iri) + "?format=")
            assert r.headers["etag"] and r.headers["last-modified"]


def test_ontology_and_shapes_resolve(server) -> None:
    """/ontology (terms are its fragments), its version IRI, and /shapes, as RDF and pages."""
    r = get(server, "/ontology", "text/turtle")
    g = Graph().parse(data=r.content, format="turtle")
    assert (URIRef(BASE + "ontology"), RDF.type, OWL.Ontology) in g
    assert (LEC.Treaty, RDFS.label, None) in g
    version = g.value(URIRef(BASE + "ontology"), URIRef("http://www.w3.org/2002/07/owl#versionIRI"))
    assert get(server, path_of(str(version)), "text/turtle").status_code == 200
    assert get(server, "/ontology/0.0.0", "text/turtle").status_code == 404
    page = get(server, "/ontology", "text/html")
    assert page.status_code == 200 and 'id="Treaty"' in page.text
    assert_unique_ids(page.text, "/ontology")
    head = httpx.head(server.url + "/ontology", headers={"Accept": "text/turtle"}, timeout=TIMEOUT)
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/turtle")
    assert head.content == b"" and head.headers["etag"] == r.headers["etag"]
    assert_unique_ids(get(server, "/shapes", "text/html").text, "/shapes")
    shapes = get(server, "/shapes", "application/n-triples")
    sg = Graph().parse(data=shapes.content, format="nt")
    assert len(list(sg.subjects(RDF.type, URIRef("http://www.w3.org/ns/shacl#NodeShape")))) > 10


# ------------------------------------------------------------------ caching


def test_etag_and_last_modified_give_304(server) -> None:
    first = get(server, path_of(REPORT), "text/turtle")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = get(server, path_of(REPORT), "text/turtle", **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    since = get(server, path_of(REPORT), "text/turtle", **{"If-Modified-Since": modified})
    assert since.status_code == 304
    other = get(server, path_of(REPORT), "application/ld+json", **{"If-None-Match": etag})
    assert other.status_code == 200  # another representation, another tag
    stale = get(server, path_of(REPORT), "text/turtle", **{"If-None-Match": '"old"'})
    assert stale.status_code == 200


def test_if_none_match_star_and_head(server) -> None:
    """`*` matches only a thing that exists; HEAD answers with the headers and no body."""
    star = {"If-None-Match": "*"}
    assert get(server, path_of(REPORT), "text/turtle", **star).status_code == 304
    assert get(server, "/id/state/XX", "text/turtle", **star).status_code == 404
    head = httpx.head(server.url + path_of(REPORT), headers={"Accept": "text/html"}, timeout=60)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get(server, path_of(REPORT), "text/html").headers["etag"]


# ------------------------------------------------------------------ unknown things and tricks


@pytest.mark.parametrize(
    "path",
    [
        "/id/state/XX",
        "/id/nothing",
        "/id/",
        "/ontology/nope",
        "/shapes/nope",
    ],
)
def test_unknown_things_are_404(server, path) -> None:
    r = get(server, path, "text/turtle")
    assert r.status_code == 404
    assert r.json()["error"]


def test_an_unknown_thing_has_a_page_for_people(server) -> None:
    r = get(server, "/id/state/XX", "text/html")
    assert r.status_code == 404 and media_type(r) == "text/html"
    assert 'id="missing"' in r.text and 'href="/browse"' in r.text


def raw_get(server: LiveServer, target: str) -> tuple[int, bytes]:
    """GET with the request target sent byte for byte (no client normalisation)."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as s:
        s.sendall(
            b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: x\r\n"
            b"Accept: text/turtle\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize(
    "target",
    [
        "/id/../pyproject.toml",
        "/id/state/../../graph/actors.ttl",
        "/id/%2e%2e/%2e%2e/etc/passwd",
        "/id/state%2FCN",
        "/id/state%2fCN",
        "/id/state/CN%00",
        "/id/state/CN%00.ttl",
        "/id/state\\CN",
        "/id/state/%5c..%5cCN",
        "/id/state/C%CC%81N",
        "/id/state/%E2%80%AECN",
        "/id/state/%FF%FE",
        "/id/state/" + "a" * 5000,
        "/id/./state/CN",
        "/id//state/CN",
        "/ontology/..%2f..%2fpyproject.toml",
    ],
)
def test_path_tricks_are_404_or_400(server, target) -> None:
    status, data = raw_get(server, target)
    assert status in (400, 404), data[:300]
    assert b"[project]" not in data and b"@prefix" not in data and b"root:" not in data


# ------------------------------------------------------------------ pages


def test_cyprus_page_shows_its_three_readings_as_uncertain(server) -> None:
    r = get(server, path_of(CYPRUS_ACTIVITY), "text/html")
    assert r.status_code == 200
    page = r.text
    readings = page.split('id="readings"', 1)[1].split("<h2>", 1)[0]
    for reading in ("Reading A", "Reading B", "Reading C"):
        assert reading in readings
    assert readings.count('class="badge uncertain"') >= 3
    properties = page.split('id="properties"', 1)[1].split("</table>", 1)[0]
    assert "Extradition" not in properties.split("<th>", 2)[1]  # the kind row: Event only
    assert "April 2015" in page  # a human date
    assert "Greece (Apr 15)Cyprus (Apr 15)Bulgaria (Apr 15)" in page  # a quote
    assert "p. 8" in page and "Cite this:" in page and CYPRUS_ACTIVITY in page
    assert "<details>" in page  # the argument one click away


def test_figure_1_treaty_page_shows_a_reconstructed_mark_with_its_argument(server) -> None:
    page = get(server, path_of(BULGARIAN_MLAT), "text/html").text
    properties = page.split('id="properties"', 1)[1].split("</table>", 1)[0]
    assert 'class="badge reconstructed"' in properties
    marked = properties.split('class="badge reconstructed"', 1)[1]
    assert "<details>" in marked and "known only from the timeline" in marked
    assert f'href="{path_of(REPORT)}"' in page  # the source links back to the report


def test_pages_link_from_home_to_a_treaty_and_back_to_the_report(server) -> None:
    home = get(server, "/", "text/html").text
    assert f'href="{path_of(REPORT)}"' in home and 'href="/browse"' in home
    kinds = get(server, "/browse").text
    treaty_kind = quote(str(LEC.MutualLegalAssistanceTreaty), safe="")
    assert f"/browse?kind={treaty_kind}" in kinds
    members = get(server, f"/browse?kind={treaty_kind}").text
    assert f'href="{path_of(BULGARIAN_MLAT)}"' in members
    assert get(server, path_of(REPORT), "text/html").status_code == 200


def test_every_thing_is_reached_by_links_from_the_home_page(server) -> None:
    """Following the pages' own links from / reaches the page of every thing the graph
    describes under /id/, and every page on the way answers 200."""
    things = sparql_select(
        server,
        "SELECT DISTINCT ?s WHERE { GRAPH ?g { ?s ?p ?o } "
        f'FILTER(?g != <{BASE}graph/inferred> && STRSTARTS(STR(?s), "{BASE}id/")) }}',
    )
    wanted = {path_of(t) for t in things}
    seen: set[str] = set()
    queue = ["/"]
    with httpx.Client(base_url=server.url, timeout=60, headers={"Accept": "text/html"}) as c:
        while queue:
            path = queue.pop()
            if path in seen:
                continue
            seen.add(path)
            r = c.get(path)
            assert r.status_code == 200, (path, r.status_code)
            assert_unique_ids(r.text, path)
            for href in re.findall(r'href="([^"]+)"', r.text):
                target = html.unescape(href)
                if target.startswith(("/id/", "/browse")) and target not in seen:
                    queue.append(target)
    assert len(wanted) > 500
    assert wanted <= seen, sorted(wanted - seen)[:10]


def assert_unique_ids(page: str, where: str) -> None:
    ids = re.findall(r'\sid="([^"]*)"', page)
    assert len(ids) == len(set(ids)), (where, sorted(i for i in ids if ids.count(i) > 1)[:5])


def sparql_select(server: LiveServer, query: str) -> list[str]:
    r = httpx.post(
        server.sparql,
        data={"query": query},
        headers={"Accept": "application/sparql-results+json"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return [row["s"]["value"] for row in r.json()["results"]["bindings"]]


def test_a_concept_lists_its_members(server) -> None:
    page = get(server, "/id/code/certainty/uncertain", "text/html").text
    assert "Linked from" in page
    assert 'href="/id/statement/event-activity-cy-2015-04--type--extradition"' in page


def test_human_dates() -> None:
    assert human_date("2015-04", str(XSD.gYearMonth)) == "April 2015"
    assert human_date("2015", str(XSD.gYear)) == "2015"
    assert human_date("2017-01-18", str(XSD.date)) == "18 January 2017"
    assert human_date("not a date", str(XSD.date)) == "not a date"
    assert date_range("2000", "2009") == "between 2000 and 2009"
    assert date_range("2014", None) == "since 2014"
    assert date_range(None, "January 2017") == "by January 2017"


def test_a_range_shows_as_since(server) -> None:
    page = get(server, "/id/campaign/us-global-fight-against-terrorism", "text/html").text
    assert "since 2001" in page


# ------------------------------------------------------------------ escaping and versions


def test_a_script_label_shows_as_text_and_the_etag_changes(server) -> None:
    """A label written with <script> through a SPARQL update is shown as text on the thing's
    page and on the pages linking to it; the write gives every answer a new ETag."""
    before = get(server, path_of(CYPRUS_ACTIVITY), "text/turtle")
    cyprus = BASE + "id/state/CY"
    update = (
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        f"DELETE {{ GRAPH ?g {{ <{cyprus}> rdfs:label ?l }} }} "
        f"INSERT {{ GRAPH ?g {{ <{cyprus}> rdfs:label {EVIL_LABEL}@en }} }} "
        f"WHERE {{ GRAPH ?g {{ <{cyprus}> rdfs:label ?l FILTER(lang(?l) = 'en') }} }}"
    )
    r = httpx.post(
        server.sparql,
        data={"update": update},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert r.status_code in (200, 204), r.text
    for path in (
        path_of(cyprus),
        path_of(CYPRUS_ACTIVITY),
        "/browse?kind=" + quote(BASE + "ontology#State", safe=""),
    ):
        page = get(server, path, "text/html").text
        assert "&lt;script&gt;alert(" in page, path
        assert "<script>" not in page, path
    after = get(
        server, path_of(CYPRUS_ACTIVITY), "text/turtle", **{"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.headers["etag"] != before.headers["etag"]


# ------------------------------------------------------------------ another host


def test_a_service_under_another_base_iri_serves_its_own_iris(tmp_path) -> None:
    """With --base-iri and --public-url set, /id/... names things under the base IRI, and pages
    link under the public URL's path (a proxy's prefix)."""
    base = "https://kg.example.org/lec/"
    args = ["--memory", "--base-iri", base, "--public-url", "https://proxy.example.org/lec-kg"]
    with serving(args, dict(os.environ), tmp_path / "serve.log") as other:
        r = get(other, "/id/instrument/mlat-cn-bg", "application/n-triples")
        assert r.status_code == 200
        g = Graph().parse(data=r.content, format="nt")
        thing = URIRef(base + "id/instrument/mlat-cn-bg")
        assert (thing, RDF.type, URIRef(base + "ontology#MutualLegalAssistanceTreaty")) in g
        assert not [t for t in g if str(t[0]).startswith(BASE)]
        page = get(other, "/id/instrument/mlat-cn-bg", "text/html").text
        assert 'href="/lec-kg/id/document/merics-china-monitor-2017-01-18"' in page
        assert base + "id/instrument/mlat-cn-bg" in page
        assert get(other, "/ontology", "text/turtle").status_code == 200


def test_the_data_version_is_shared_by_processes_on_one_journal(tmp_path, settings) -> None:
    """Two engines on one data directory (as `serve --workers 2`) give the same version, so
    the same ETag; an accepted write changes it for both."""
    shared = replace(settings, data_dir=tmp_path)
    first, second = build(shared), build(shared)
    try:
        assert first.data_version()[0] == second.data_version()[0]
        before = first.data_version()[0]
        cyprus = BASE + "id/state/CY"
        first.update(
            "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
            f"DELETE {{ GRAPH ?g {{ <{cyprus}> rdfs:label ?l }} }} "
            f'INSERT {{ GRAPH ?g {{ <{cyprus}> rdfs:label "Republic of Cyprus"@en }} }} '
            f"WHERE {{ GRAPH ?g {{ <{cyprus}> rdfs:label ?l FILTER(lang(?l) = 'en') }} }}"
        )
        after = first.data_version()[0]
        assert after != before
        assert second.data_version()[0] == after
    finally:
        first.close()
        second.close()
