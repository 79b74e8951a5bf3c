"""Content negotiation: Accept headers (q-values, wildcards, lists) and format= against replies.

Every 200 reply is parsed back (rdflib for RDF, strict result parsers for SPARQL results) and must
say the same thing in every format.
"""

from __future__ import annotations

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import RDFS

from lec_kg.negotiation import TABLE, negotiate, offers, offers_for_form, parse_accept
from tests.http_support import LEC, PREFIXES, media_type, parse_graph, parse_results

SELECT = PREFIXES + "SELECT ?label WHERE { lec:Actor rdfs:label ?label }"
ASK = PREFIXES + 'ASK { lec:Actor rdfs:label "actor"@en }'
CONSTRUCT = PREFIXES + "CONSTRUCT { lec:Actor rdfs:label ?l } WHERE { lec:Actor rdfs:label ?l }"
DESCRIBE = PREFIXES + "DESCRIBE lec:Actor"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
RESULTS = [m.name for m in offers("results", "html")]
GRAPHS = [m.name for m in offers("graph", "html")]

# (query, Accept header, expected status, expected media type of the reply)
ACCEPT_TABLE = [
    (SELECT, None, 200, "application/sparql-results+json"),
    (SELECT, "*/*", 200, "application/sparql-results+json"),
    (SELECT, "application/sparql-results+json", 200, "application/sparql-results+json"),
    (SELECT, "application/sparql-results+xml", 200, "application/sparql-results+xml"),
    (SELECT, "text/csv", 200, "text/csv"),
    (SELECT, "text/tab-separated-values", 200, "text/tab-separated-values"),
    (SELECT, "application/json", 200, "application/json"),
    (SELECT, "application/xml", 200, "application/xml"),
    (SELECT, "text/html", 200, "text/html"),
    (CONSTRUCT, BROWSER, 200, "text/html"),
    (
        SELECT,
        "text/csv;q=0.5, application/sparql-results+xml",
        200,
        "application/sparql-results+xml",
    ),
    (SELECT, "text/tab-separated-values, text/csv;q=0.9", 200, "text/tab-separated-values"),
    (SELECT, "text/*", 200, "text/csv"),
    (SELECT, "text/*, text/csv;q=0", 200, "text/tab-separated-values"),
    (SELECT, "image/png, */*;q=0.1", 200, "application/sparql-results+json"),
    (SELECT, BROWSER, 200, "text/html"),
    (SELECT, "application/sparql-results+json;q=0", 406, None),
    (SELECT, "text/turtle", 406, None),
    (SELECT, "image/png", 406, None),
    (ASK, None, 200, "application/sparql-results+json"),
    (ASK, "application/sparql-results+xml", 200, "application/sparql-results+xml"),
    (ASK, "text/csv", 200, "text/csv"),
    (ASK, "text/tab-separated-values", 200, "text/tab-separated-values"),
    (ASK, "application/n-triples", 406, None),
    (CONSTRUCT, None, 200, "text/turtle"),
    (CONSTRUCT, "*/*", 200, "text/turtle"),
    (CONSTRUCT, "text/turtle", 200, "text/turtle"),
    (CONSTRUCT, "application/n-triples", 200, "application/n-triples"),
    (CONSTRUCT, "application/ld+json", 200, "application/ld+json"),
    (CONSTRUCT, "application/rdf+xml", 200, "application/rdf+xml"),
    (CONSTRUCT, "application/json", 200, "application/json"),
    (CONSTRUCT, "application/rdf+xml;q=0.5, application/n-triples", 200, "application/n-triples"),
    (CONSTRUCT, "application/*;q=0.2, text/turtle;q=0.1", 200, "application/n-triples"),
    (CONSTRUCT, "text/csv", 406, None),
    (CONSTRUCT, "application/sparql-results+json", 406, None),
    (DESCRIBE, None, 200, "text/turtle"),
    (DESCRIBE, "application/n-triples", 200, "application/n-triples"),
    (DESCRIBE, "text/csv", 406, None),
]


def test_the_accept_table_has_not_shrunk() -> None:
    """A guard against the table losing rows in silence."""
    assert len(ACCEPT_TABLE) == 38


@pytest.mark.parametrize(("query", "accept", "status", "expected"), ACCEPT_TABLE)
def test_accept_table(client, query, accept, status, expected) -> None:
    """Each Accept header gets the status and media type of the table, and a body that parses."""
    headers = {"Accept": accept} if accept is not None else {}
    reply = client.get("/sparql", params={"query": query}, headers=headers)
    assert reply.status_code == status, reply.text
    if status == 406:
        body = reply.json()
        assert body["error"] == "not acceptable"
        form_types = GRAPHS if query in (CONSTRUCT, DESCRIBE) else RESULTS
        assert body["available"] == form_types
        return
    assert media_type(reply.headers["content-type"]) == expected
    assert "charset=utf-8" in reply.headers["content-type"]
    assert reply.headers["vary"].startswith("Accept")
    _check_body(query, reply.content, expected)


def _check_body(query: str, body: bytes, mtype: str) -> None:
    """The body says what the query asks, whatever the format."""
    if mtype == "text/html":
        page = body.decode("utf-8")
        assert "<!doctype html>" in page and ("actor" in page or "Actor" in page)
    elif query == SELECT:
        assert parse_results(body, mtype) == [{"label": "actor"}]
    elif query == ASK:
        assert parse_results(body, mtype) is True
    else:
        graph = parse_graph(body, mtype)
        assert (URIRef(LEC + "Actor"), RDFS.label, Literal("actor", lang="en")) in graph


@pytest.mark.parametrize(
    ("query", "fmt", "expected"),
    [
        (SELECT, "csv", "text/csv"),
        (SELECT, "tsv", "text/tab-separated-values"),
        (SELECT, "xml", "application/sparql-results+xml"),
        (SELECT, "json", "application/sparql-results+json"),
        (SELECT, "text/csv", "text/csv"),
        (CONSTRUCT, "nt", "application/n-triples"),
        (CONSTRUCT, "jsonld", "application/ld+json"),
        (CONSTRUCT, "xml", "application/rdf+xml"),
        (CONSTRUCT, "application/n-triples", "application/n-triples"),
    ],
)
def test_format_parameter_overrides_accept(client, query, fmt, expected) -> None:
    """format= (and output=) choose the format even when the Accept header asks for another."""
    for name in ("format", "output"):
        reply = client.get(
            "/sparql", params={"query": query, name: fmt}, headers={"Accept": "image/png"}
        )
        assert reply.status_code == 200, reply.text
        assert media_type(reply.headers["content-type"]) == expected
        _check_body(query, reply.content, expected)


def test_format_that_does_not_fit_is_406_and_unknown_format_is_400(client) -> None:
    """format=turtle on a SELECT is 406 (listing the formats); format=bogus is 400."""
    reply = client.get("/sparql", params={"query": SELECT, "format": "turtle"})
    assert reply.status_code == 406
    assert reply.json()["available"] == RESULTS
    assert "csv" in reply.json()["formats"]
    reply = client.get("/sparql", params={"query": SELECT, "format": "bogus"})
    assert reply.status_code == 400
    assert "unknown format 'bogus'" in reply.json()["detail"]


def test_post_direct_and_form_negotiate_the_same_way(client) -> None:
    """POST replies follow the Accept header like GET replies."""
    direct = client.post(
        "/sparql",
        content=CONSTRUCT,
        headers={"Content-Type": "application/sparql-query", "Accept": "application/n-triples"},
    )
    form = client.post(
        "/sparql", data={"query": SELECT}, headers={"Accept": "text/tab-separated-values"}
    )
    assert media_type(direct.headers["content-type"]) == "application/n-triples"
    _check_body(CONSTRUCT, direct.content, "application/n-triples")
    assert media_type(form.headers["content-type"]) == "text/tab-separated-values"
    _check_body(SELECT, form.content, "text/tab-separated-values")


def test_parse_accept_reads_q_values_and_skips_junk() -> None:
    """q-values are read and clamped; entries that are not media ranges are skipped."""
    ranges = parse_accept("text/csv;q=0.5, junk, application/json ; q=1.5, */*;q=abc")
    assert [(r.type, r.subtype, r.q) for r in ranges] == [
        ("text", "csv", 0.5),
        ("application", "json", 1.0),
        ("*", "*", 0.0),
    ]
    assert [(r.type, r.subtype, r.q) for r in parse_accept(None)] == [("*", "*", 1.0)]
    assert [(r.type, r.subtype, r.q) for r in parse_accept("")] == [("*", "*", 1.0)]


def test_most_specific_range_sets_the_quality() -> None:
    """text/csv;q=0 excludes CSV even though text/* and */* would accept it."""
    choice = negotiate("*/*;q=0.9, text/*;q=0.8, text/csv;q=0", offers("results")[2:])
    assert choice.media.name == "text/tab-separated-values"


def test_every_row_of_the_table_is_reachable() -> None:
    """Each media type of the table is chosen when asked for by name and by format keyword."""
    for media in TABLE:
        assert negotiate(media.name, offers(media.kind)).media == media
        assert negotiate(None, offers(media.kind), media.keywords[0]).media == media
    assert [m.kind for m in offers_for_form("ask")] == ["results"] * 4 + ["html"]
