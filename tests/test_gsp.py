"""The SPARQL 1.1 Graph Store Protocol at /graph-store, against a real `lec-kg serve`: a round
trip (PUT 201, GET, POST 204, PUT 204, DELETE 204, GET 404), every write validated and recorded,
and the graphs no write may change refused with the store as it was."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from rdflib import Graph, URIRef

from tests.conftest import TOKEN, LiveServer, serving
from tests.support import TIMEOUT
from tests.test_submissions import PLACE, RECORDS, auth, dump, place

GRAPH = "https://w3id.org/lec-kg/graph/submitted/gsp-test"
STORE = "/graph-store"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("gsp")
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    with serving(["--memory", "--max-result-rows", "1000000"], env, folder / "serve.log") as live:
        yield live


def call(server: LiveServer, method: str, graph: str | None, body: str | None = None, **headers):
    params = {"graph": graph} if graph is not None else {"default": ""}
    if body is not None:
        headers.setdefault("Content-Type", "text/turtle")
    return httpx.request(
        method,
        server.url + STORE,
        params=params,
        content=None if body is None else body.encode("utf-8"),
        headers=headers,
        timeout=TIMEOUT,
    )


def labels(server: LiveServer, graph: str) -> set[str]:
    reply = call(server, "GET", graph, Accept="text/turtle")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/turtle")
    g = Graph().parse(data=reply.content, format="turtle")
    return {str(o) for o in g.objects(None, URIRef("http://www.w3.org/2000/01/rdf-schema#label"))}


def test_a_graph_round_trip(server) -> None:
    token = auth(TOKEN)
    assert call(server, "GET", GRAPH).status_code == 404
    assert call(server, "HEAD", GRAPH).status_code == 404
    made = call(server, "PUT", GRAPH, place("one"), **token)
    assert made.status_code == 201, made.text
    assert labels(server, GRAPH) == {"Place one"}
    head = call(server, "HEAD", GRAPH, Accept="application/n-triples")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    added = call(server, "POST", GRAPH, place("two"), **token)
    assert added.status_code == 204, added.text
    assert labels(server, GRAPH) == {"Place one", "Place two"}
    replaced = call(server, "PUT", GRAPH, place("three"), **token)
    assert replaced.status_code == 204, replaced.text
    assert labels(server, GRAPH) == {"Place three"}
    nquads = call(server, "GET", GRAPH, Accept="application/n-quads")
    assert nquads.status_code == 200 and f"<{GRAPH}>" in nquads.text
    assert call(server, "DELETE", GRAPH, **token).status_code == 204
    assert call(server, "GET", GRAPH).status_code == 404
    assert call(server, "DELETE", GRAPH, **token).status_code == 404
    # Each write left its record: who, what.
    query = (
        f"SELECT ?text WHERE {{ GRAPH <{RECORDS}> {{ ?w "
        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#value> ?text "
        f'FILTER(CONTAINS(?text, "{GRAPH}")) }} }}'
    )
    rows = httpx.get(
        server.sparql,
        params={"query": query},
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    ).json()["results"]["bindings"]
    assert sorted(r["text"]["value"].split()[0] for r in rows) == ["DELETE", "POST", "PUT", "PUT"]


def test_reads_of_any_graph(server) -> None:
    """The shipped graphs, the inferred one and the default graph can be read; the default
    graph cannot be written (405 with Allow)."""
    ontology = call(
        server, "GET", "https://w3id.org/lec-kg/graph/ontology/lec", Accept="text/turtle"
    )
    assert (
        ontology.status_code == 200
        and len(Graph().parse(data=ontology.content, format="turtle")) > 100
    )
    inferred = call(
        server, "GET", "https://w3id.org/lec-kg/graph/inferred", Accept="application/n-triples"
    )
    assert inferred.status_code == 200 and inferred.text.strip()
    union = call(server, "GET", None, Accept="application/n-triples")
    assert union.status_code == 200 and PLACE.split("/id/")[0] in union.text
    written = call(server, "PUT", None, place("d"), **auth(TOKEN))
    assert written.status_code == 405 and written.headers["allow"] == "GET, HEAD"
    assert call(server, "GET", GRAPH, Accept="text/csv").status_code == 406
    both = httpx.get(server.url + STORE, params={"graph": GRAPH, "default": ""}, timeout=TIMEOUT)
    assert both.status_code == 400


@pytest.mark.parametrize(
    ("graph", "words"),
    [
        ("https://w3id.org/lec-kg/graph/ontology/lec", "read-only"),
        ("https://w3id.org/lec-kg/graph/shapes/core", "read-only"),
        ("https://w3id.org/lec-kg/graph/inferred", "read-only"),
        ("HTTPS://W3ID.ORG/lec-kg/graph/%73hapes/core", "read-only"),  # another spelling
        (RECORDS, "only the service writes"),
        ("https://w3id.org/lec-kg/graph/submission/0123456789ab", "never edited"),
    ],
)
def test_protected_graphs_are_not_writable(server, graph, words) -> None:
    before = dump(server)
    for method in ("PUT", "POST", "DELETE"):
        body = None if method == "DELETE" else place("p")
        reply = call(server, method, graph, body, **auth(TOKEN))
        assert reply.status_code == 403, reply.text
        assert words in reply.json()["detail"]
    assert dump(server) == before


def test_gsp_writes_are_validated_and_authorised(server) -> None:
    before = dump(server)
    invalid = call(server, "PUT", GRAPH, place("bad", evidence=False), **auth(TOKEN))
    assert invalid.status_code == 422, invalid.text
    assert any(n["results"] for n in invalid.json()["nodes"])
    assert call(server, "PUT", GRAPH, place("x")).status_code == 401
    assert call(server, "PUT", GRAPH, place("x"), **auth("nope")).status_code == 403
    wrong_type = call(
        server, "PUT", GRAPH, place("x"), **{**auth(TOKEN), "Content-Type": "text/html"}
    )
    assert wrong_type.status_code == 415
    broken = call(server, "POST", GRAPH, "<a> <b>", **auth(TOKEN))
    assert broken.status_code == 400 and broken.json()["line"] == 1
    assert call(server, "PUT", "not an iri", place("x"), **auth(TOKEN)).status_code == 400
    assert dump(server) == before
