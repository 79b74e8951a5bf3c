"""What a write keeps, what it may not touch, and what it leaves behind, against a real
`lec-kg serve`: a Graph Store Protocol PUT of a graph's own content keeps it (a quad both
removed and added stays); submissions and the records graph are written by the submissions
machinery only, whatever the route; a graph named other than in normal form is refused; every
write that removes something records the quads it removed; a submission's sources are absolute
http(s) IRIs, every one kept; a second withdrawal says when and by whom the first was made.
Every refusal leaves the store as it was (every quad compared before and after)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from rdflib import Dataset, Graph, Literal, URIRef
from rdflib.compare import isomorphic

from tests.conftest import TOKEN, LiveServer, serving
from tests.support import TIMEOUT
from tests.test_gsp import call
from tests.test_submissions import PLACE, PREFIXES, RECORDS, REPORT, auth, dump, place

BASE = "https://w3id.org/lec-kg/"
GRAPH = BASE + "graph/submitted/integrity"
PROV = "http://www.w3.org/ns/prov#"
DCTERMS = "http://purl.org/dc/terms/"
RDF_VALUE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#value"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
ALT_LABEL = "http://www.w3.org/2004/02/skos/core#altLabel"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("integrity")
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    with serving(["--memory", "--max-result-rows", "1000000"], env, folder / "serve.log") as live:
        yield live


def named_place(slug: str) -> str:
    """Turtle for one place whose evidence is a named node: no blank node at all."""
    passage = f"{BASE}id/passage/integrity-{slug}"
    return (
        PREFIXES
        + f'<{PLACE.format(slug)}> a lec:Place ; rdfs:label "Place {slug}"@en ; '
        + f"lec:evidence <{passage}> .\n"
        + f"<{passage}> a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ; "
        + 'lec:quote "China" .\n'
    )


def held(server: LiveServer, graph: str) -> Graph:
    """The triples of one graph, read back with the Graph Store Protocol."""
    reply = call(server, "GET", graph, Accept="application/n-triples")
    assert reply.status_code == 200, reply.text
    return Graph().parse(data=reply.text, format="nt")


def turtle(text: str) -> Graph:
    return Graph().parse(data=text, format="turtle")


def update(server: LiveServer, text: str) -> httpx.Response:
    return httpx.post(server.sparql, data={"update": text}, headers=auth(TOKEN), timeout=TIMEOUT)


def select(server: LiveServer, text: str) -> list[dict[str, str]]:
    reply = httpx.get(
        server.sparql,
        params={"query": text},
        headers={"Accept": "application/sparql-results+json"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    rows = reply.json()["results"]["bindings"]
    return [{k: v["value"] for k, v in row.items()} for row in rows]


def submit(server: LiveServer, slug: str, **params: str | list[str]) -> httpx.Response:
    return httpx.post(
        server.url + "/facts",
        params=params,
        content=place(slug).encode(),
        headers={"Content-Type": "text/turtle", **auth(TOKEN)},
        timeout=TIMEOUT,
    )


# ---------------------------------------------------------------- 1. PUT is idempotent


@pytest.mark.parametrize("body", [named_place("put"), place("put-blank")], ids=["iris", "blank"])
def test_a_put_of_the_same_body_twice_keeps_it(server, body) -> None:
    graph = f"{GRAPH}-put"
    call(server, "DELETE", graph, **auth(TOKEN))
    for status in (201, 204, 204):
        reply = call(server, "PUT", graph, body, **auth(TOKEN))
        assert reply.status_code == status, reply.text
        assert isomorphic(held(server, graph), turtle(body))


def test_a_put_of_a_subset_keeps_what_it_keeps(server) -> None:
    graph = f"{GRAPH}-subset"
    both = named_place("s1") + named_place("s2").replace(PREFIXES, "")
    assert call(server, "PUT", graph, both, **auth(TOKEN)).status_code == 201
    assert isomorphic(held(server, graph), turtle(both))
    reply = call(server, "PUT", graph, named_place("s1"), **auth(TOKEN))
    assert reply.status_code == 204, reply.text
    assert isomorphic(held(server, graph), turtle(named_place("s1")))
    assert call(server, "DELETE", graph, **auth(TOKEN)).status_code == 204


def test_an_update_deleting_and_inserting_a_quad_keeps_it(server) -> None:
    graph = f"{GRAPH}-update"
    body = named_place("u")
    assert call(server, "PUT", graph, body, **auth(TOKEN)).status_code == 201
    triple = f'<{PLACE.format("u")}> <http://www.w3.org/2000/01/rdf-schema#label> "Place u"@en'
    reply = update(
        server,
        f"DELETE {{ GRAPH <{graph}> {{ {triple} }} }} "
        f"INSERT {{ GRAPH <{graph}> {{ {triple} }} }} WHERE {{}}",
    )
    assert reply.status_code == 200, reply.text
    assert isomorphic(held(server, graph), turtle(body))
    assert call(server, "DELETE", graph, **auth(TOKEN)).status_code == 204


# ---------------------------------------------------------------- 2. kept graphs


def test_submissions_and_records_are_written_by_the_submissions_machinery_only(server) -> None:
    """Any SPARQL update adding or removing a quad in a submission's graph, a new submission
    graph or the records graph is 403 naming the graph; the submission keeps its quads."""
    made = submit(server, "kept")
    assert made.status_code == 201, made.text
    sid, graph = made.json()["id"], made.json()["graph"]
    source = f"{GRAPH}-source"
    assert call(server, "PUT", source, named_place("source"), **auth(TOKEN)).status_code == 201
    forged = f'<{PLACE.format("kept")}> <{LABEL}> "forged"@en'
    own = f'<{PLACE.format("kept")}> <{LABEL}> "Place kept"@en'
    fake = BASE + "graph/submission/fake1"
    attempts = [
        (f"INSERT DATA {{ GRAPH <{graph}> {{ {forged} }} }}", graph),
        (f"DELETE DATA {{ GRAPH <{graph}> {{ {own} }} }}", graph),
        (f"DELETE WHERE {{ GRAPH <{graph}> {{ ?s ?p ?o }} }}", graph),
        (f"DROP GRAPH <{graph}>", graph),
        (f"CLEAR GRAPH <{graph}>", graph),
        (f"COPY <{source}> TO <{graph}>", graph),
        (f"MOVE <{graph}> TO <{GRAPH}-moved>", graph),
        (f"ADD <{source}> TO <{fake}>", fake),
        (f"INSERT DATA {{ GRAPH <{fake}> {{ {forged} }} }}", fake),
        (f"INSERT DATA {{ GRAPH <{RECORDS}> {{ {forged} }} }}", RECORDS),
        (f"INSERT DATA {{ GRAPH <{RECORDS}/extra> {{ {forged} }} }}", f"{RECORDS}/extra"),
        (f"DELETE WHERE {{ GRAPH <{RECORDS}> {{ ?s ?p ?o }} }}", RECORDS),
        (f"DROP GRAPH <{RECORDS}>", RECORDS),
        (f"COPY <{source}> TO <{RECORDS}>", RECORDS),
    ]
    before = dump(server)
    for text, named in attempts:
        reply = update(server, text)
        assert reply.status_code == 403, (text, reply.text)
        assert f"<{named}>" in reply.json()["detail"], reply.text
        assert "nothing was changed" in reply.json()["detail"]
    assert dump(server) == before
    fetched = httpx.get(server.url + f"/submissions/{sid}", timeout=TIMEOUT).json()
    assert fetched["quads"] == 7 and fetched["withdrawn"] is None
    # Reading them is another matter: a copy out of a submission is a write elsewhere.
    assert update(server, f"COPY <{graph}> TO <{GRAPH}-copied>").status_code == 200
    assert len(held(server, f"{GRAPH}-copied")) == 7
    # The Graph Store Protocol refuses them in any spelling, before reading the body.
    before = dump(server)
    for target in (graph, fake, RECORDS, BASE + "graph/%73ubmission/" + sid):
        reply = call(server, "PUT", target, named_place("x"), **auth(TOKEN))
        assert reply.status_code == 403, reply.text
    assert dump(server) == before


# ---------------------------------------------------------------- 3. names in normal form

LOOKALIKES = [
    (BASE + "graph/facts/../records", RECORDS),
    (BASE + "graph/./records", RECORDS),
    ("https://W3ID.org/lec-kg/graph/records", RECORDS),
    ("HTTPS://w3id.org/lec-kg/graph/records", RECORDS),
    (BASE + "graph/%72ecords", RECORDS),
    (BASE + "graph/submission/../facts/x", BASE + "graph/facts/x"),
    (BASE + "graph/submitted/./x", BASE + "graph/submitted/x"),
]


@pytest.mark.parametrize(("graph", "normal"), LOOKALIKES)
def test_a_graph_not_named_in_normal_form_is_refused(server, graph, normal) -> None:
    """Every write path: a SPARQL update (INSERT DATA, a graph computed in WHERE, COPY) and the
    Graph Store Protocol are 400 naming the IRI and its normal form; nothing changes."""
    source = f"{GRAPH}-names"
    if call(server, "GET", source).status_code == 404:
        assert call(server, "PUT", source, named_place("n"), **auth(TOKEN)).status_code == 201
    triple = f'<{PLACE.format("n")}> <{LABEL}> "another"@en'
    before = dump(server)
    for text in (
        f"INSERT DATA {{ GRAPH <{graph}> {{ {triple} }} }}",
        f'INSERT {{ GRAPH ?g {{ {triple} }} }} WHERE {{ BIND(IRI("{graph}") AS ?g) }}',
        f"COPY <{source}> TO <{graph}>",
    ):
        reply = update(server, text)
        assert reply.status_code == 400, (text, reply.text)
        body = reply.json()
        assert (body["graph"], body["normal"]) == (graph, normal), body
        assert f"<{graph}>" in body["detail"] and f"<{normal}>" in body["detail"]
    assert dump(server) == before
    for method in ("PUT", "POST"):
        reply = call(server, method, graph, named_place("n"), **auth(TOKEN))
        assert reply.status_code in (400, 403), reply.text
        assert reply.status_code == 403 or reply.json()["normal"] == normal
    assert dump(server) == before
    void = httpx.get(
        server.url + "/.well-known/void", headers={"Accept": "text/turtle"}, timeout=TIMEOUT
    )
    assert void.status_code == 200 and "/./" not in void.text and "/../" not in void.text


# ---------------------------------------------------------------- 4. removals are recorded

REMOVED = (
    "PREFIX prov: <http://www.w3.org/ns/prov#> SELECT ?quads WHERE { GRAPH <%s> { "
    "?w <%s> %s ; prov:invalidated ?gone . ?gone a prov:Entity ; prov:value ?quads } }"
)


def removed_by(server: LiveServer, text: str) -> list[Dataset]:
    """The quads each write recorded with `text` removed, as datasets."""
    rows = select(server, REMOVED % (RECORDS, RDF_VALUE, json.dumps(text)))
    return [Dataset().parse(data=row["quads"], format="nquads") for row in rows]


def quads_of(server: LiveServer, graph: str) -> Dataset:
    reply = call(server, "GET", graph, Accept="application/n-quads")
    assert reply.status_code == 200, reply.text
    return Dataset().parse(data=reply.text, format="nquads")


def same(a: Dataset, b: Dataset, graph: str) -> bool:
    """The same triples in `graph`, and no quad in another graph."""
    others = {c.identifier for c in (*a.graphs(), *b.graphs()) if len(c)}
    return others == {URIRef(graph)} and isomorphic(a.graph(URIRef(graph)), b.graph(URIRef(graph)))


def test_what_a_gsp_write_removes_can_be_read_back_from_the_records(server) -> None:
    graph = f"{GRAPH}-removed"
    body = named_place("r1") + place("r2").replace(PREFIXES, "")
    assert call(server, "PUT", graph, body, **auth(TOKEN)).status_code == 201
    assert removed_by(server, f"PUT <{graph}>") == []  # nothing was removed
    first = quads_of(server, graph)
    assert call(server, "PUT", graph, named_place("r3"), **auth(TOKEN)).status_code == 204
    (replaced,) = removed_by(server, f"PUT <{graph}>")
    assert same(replaced, first, graph) and len(replaced.graph(URIRef(graph))) == len(turtle(body))
    second = quads_of(server, graph)
    assert call(server, "DELETE", graph, **auth(TOKEN)).status_code == 204
    (deleted,) = removed_by(server, f"DELETE <{graph}>")
    assert same(deleted, second, graph) and len(deleted.graph(URIRef(graph))) == len(
        turtle(named_place("r3"))
    )


def test_what_a_sparql_update_removes_can_be_read_back_from_the_records(server) -> None:
    graph = f"{GRAPH}-dropped"
    assert call(server, "PUT", graph, named_place("d"), **auth(TOKEN)).status_code == 201
    held_before = quads_of(server, graph)
    label = f'<{PLACE.format("d")}> <{ALT_LABEL}> "D"@en'
    assert update(server, f"INSERT DATA {{ GRAPH <{graph}> {{ {label} }} }}").status_code == 200
    text = f"DELETE DATA {{ GRAPH <{graph}> {{ {label} }} }}"
    assert update(server, text).status_code == 200
    (one,) = removed_by(server, text)
    assert set(one.graph(URIRef(graph))) == {
        (URIRef(PLACE.format("d")), URIRef(ALT_LABEL), Literal("D", lang="en"))
    }
    rest = quads_of(server, graph)
    assert same(rest, held_before, graph)
    text = f"DROP GRAPH <{graph}>"
    assert update(server, text).status_code == 200
    (dropped,) = removed_by(server, text)
    assert same(dropped, rest, graph)


# ---------------------------------------------------------------- 5. sources


@pytest.mark.parametrize(
    "source",
    [
        "not an iri",
        "javascript:alert(8)",
        "data:text/html,<b>x</b>",
        "/relative/path",
        "http://",
        "https://example.org/a b",
        "ftp://example.org/report.pdf",
    ],
)
def test_a_source_that_is_not_an_http_iri_is_400_naming_it(server, source) -> None:
    before = dump(server)
    reply = submit(server, "bad-source", source=[f"{REPORT}", source])
    assert reply.status_code == 400, reply.text
    assert reply.json()["source"] == source and repr(source) in reply.json()["detail"]
    assert dump(server) == before


def test_every_source_is_kept_and_the_json_and_the_rdf_agree(server) -> None:
    sources = [REPORT, "https://example.org/report?page=2&x=%20y", "http://example.org/b"]
    reply = submit(server, "sources", source=sources)
    assert reply.status_code == 201, reply.text
    sid = reply.json()["id"]
    listed = httpx.get(server.url + "/submissions", timeout=TIMEOUT).json()["submissions"]
    (entry,) = [s for s in listed if s["id"] == sid]
    fetched = httpx.get(server.url + f"/submissions/{sid}", timeout=TIMEOUT).json()
    assert sorted(entry["sources"]) == sorted(fetched["sources"]) == sorted(sources)
    trig = httpx.get(server.url + f"/submissions/{sid}", params={"format": "trig"}, timeout=TIMEOUT)
    cited = {
        str(o)
        for o in Dataset(default_union=True)
        .parse(data=trig.text, format="trig")
        .objects(URIRef(f"{BASE}record/submission/{sid}"), URIRef(DCTERMS + "source"))
    }
    assert cited == set(sources)


# ---------------------------------------------------------------- 6. withdrawn once


def test_a_second_withdrawal_is_409_saying_when_and_by_whom(server) -> None:
    made = submit(server, "twice")
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    url = server.url + f"/submissions/{sid}"
    first = httpx.delete(url, params={"message": "a test"}, headers=auth(TOKEN), timeout=TIMEOUT)
    assert first.status_code == 200, first.text
    withdrawn = first.json()["withdrawn"]
    before = dump(server)
    again = httpx.delete(url, params={"message": "again"}, headers=auth(TOKEN), timeout=TIMEOUT)
    assert again.status_code == 409, again.text
    body = again.json()
    assert body["withdrawn"] == withdrawn and body["id"] == sid
    assert withdrawn["when"] in body["detail"] and f"by {withdrawn['who']}" in body["detail"]
    assert dump(server) == before
    assert httpx.get(url, timeout=TIMEOUT).status_code == 200
    nowhere = server.url + "/submissions/ffffffffffff0000"
    gone = httpx.delete(nowhere, params={"message": "x"}, headers=auth(TOKEN), timeout=TIMEOUT)
    assert gone.status_code == 404
