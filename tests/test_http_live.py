"""The real thing: `lec-kg serve --memory` in a subprocess, read and written by real clients
(SPARQLWrapper, rdflib's SPARQLStore and SPARQLUpdateStore, plain httpx)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDFS
from rdflib.plugins.stores.sparqlstore import SPARQLStore, SPARQLUpdateStore
from SPARQLWrapper import JSON, POST, TURTLE, XML, SPARQLWrapper
from SPARQLWrapper.SPARQLExceptions import Unauthorized

from tests.conftest import TOKEN
from tests.http_support import COUNT_ASSERTED as COUNT
from tests.http_support import LEC, PREFIXES, media_type, parse_graph
from tests.support import TIMEOUT
from tests.test_http_update import PLACE, insert_place

pytestmark = pytest.mark.live

SELECT = PREFIXES + "SELECT ?label WHERE { lec:Actor rdfs:label ?label }"
ASK = PREFIXES + 'ASK { lec:Actor rdfs:label "actor"@en }'
CONSTRUCT = PREFIXES + "CONSTRUCT { lec:Actor rdfs:label ?l } WHERE { lec:Actor rdfs:label ?l }"
ACTOR_LABEL = (URIRef(LEC + "Actor"), RDFS.label, Literal("actor", lang="en"))


def count(live) -> int:
    accept = {"Accept": "application/json"}
    reply = httpx.get(live.sparql, params={"query": COUNT}, headers=accept, timeout=TIMEOUT)
    return int(reply.json()["results"]["bindings"][0]["n"]["value"])


@pytest.mark.parametrize("method", ["GET", POST])
def test_sparqlwrapper_select_json(live_server, method) -> None:
    """SPARQLWrapper reads a SELECT as JSON, by GET and by POST."""
    sw = SPARQLWrapper(live_server.sparql)
    sw.setQuery(SELECT)
    sw.setReturnFormat(JSON)
    sw.setMethod(method)
    result = sw.query().convert()
    assert [b["label"]["value"] for b in result["results"]["bindings"]] == ["actor"]


@pytest.mark.parametrize("fmt", [JSON, XML])
def test_sparqlwrapper_ask(live_server, fmt) -> None:
    """SPARQLWrapper reads an ASK in JSON and XML."""
    sw = SPARQLWrapper(live_server.sparql)
    sw.setQuery(ASK)
    sw.setReturnFormat(fmt)
    result = sw.query().convert()
    if fmt == JSON:
        assert result["boolean"] is True
    else:
        assert result.getElementsByTagName("boolean")[0].firstChild.data == "true"


@pytest.mark.parametrize("fmt", [XML, TURTLE])
def test_sparqlwrapper_construct(live_server, fmt) -> None:
    """SPARQLWrapper reads a CONSTRUCT as RDF/XML (into an rdflib Graph) and as Turtle."""
    sw = SPARQLWrapper(live_server.sparql)
    sw.setQuery(CONSTRUCT)
    sw.setReturnFormat(fmt)
    result = sw.query().convert()
    graph = result if isinstance(result, Graph) else Graph().parse(data=result, format="turtle")
    assert ACTOR_LABEL in graph


def test_rdflib_sparqlstore_reads(live_server) -> None:
    """rdflib's SPARQLStore runs SELECT, ASK and CONSTRUCT against the endpoint."""
    graph = Graph(SPARQLStore(live_server.sparql))
    assert [str(row.label) for row in graph.query(SELECT)] == ["actor"]
    assert graph.query(ASK).askAnswer is True
    assert ACTOR_LABEL in graph.query(CONSTRUCT).graph
    assert len(graph) > 0


def test_rdflib_sparqlupdatestore_writes_with_the_token(live_server) -> None:
    """SPARQLUpdateStore with the Bearer token inserts a valid fact that then reads back."""
    store = SPARQLUpdateStore(
        query_endpoint=live_server.sparql,
        update_endpoint=live_server.sparql,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    before = count(live_server)
    store.update(insert_place("live-rdflib"))
    assert count(live_server) > before
    place = URIRef(PLACE.format("live-rdflib"))
    assert (
        Graph(SPARQLStore(live_server.sparql))
        .query(f"ASK {{ GRAPH ?g {{ <{place}> ?p ?o }} }}")
        .askAnswer
    )


def test_sparqlwrapper_update_needs_the_token(live_server) -> None:
    """SPARQLWrapper's update is refused without the token (401) and applied with it."""
    before = count(live_server)
    sw = SPARQLWrapper(live_server.sparql)
    sw.setMethod(POST)
    sw.setQuery(insert_place("live-wrapper"))
    with pytest.raises(Unauthorized):
        sw.query()
    assert count(live_server) == before
    sw.addCustomHttpHeader("Authorization", f"Bearer {TOKEN}")
    reply = json.loads(sw.query().response.read())
    assert reply["added"] > 0
    assert count(live_server) == before + reply["added"]


def test_invalid_update_over_http_is_422_and_absent(live_server) -> None:
    """Over a real socket: a shape violation is a 422 naming shape and focus; nothing changes."""
    before = count(live_server)
    reply = httpx.post(
        live_server.sparql,
        data={"update": insert_place("live-invalid", with_evidence=False)},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 422
    assert PLACE.format("live-invalid") in reply.text
    assert "FactNodeShape-evidence" in reply.text
    assert count(live_server) == before


def test_streamed_body_over_the_limit_is_413(live_server) -> None:
    """A chunked body past the limit (1 MB by default) is cut off with 413; nothing changes."""
    before = count(live_server)

    def chunks():
        yield b"update=INSERT+DATA+%7B%7D%23"
        for _ in range(200):
            yield b"x" * 8192

    reply = httpx.post(
        live_server.sparql,
        content=chunks(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Bearer {TOKEN}",
        },
        timeout=TIMEOUT,
    )
    assert reply.status_code == 413
    assert reply.json()["error"] == "payload too large"
    assert count(live_server) == before


def test_live_replies_carry_request_ids_and_are_logged(live_server) -> None:
    """The real server adds X-Request-Id and writes an access-log line with it."""
    reply = httpx.get(
        live_server.sparql,
        params={"query": ASK},
        headers={"X-Request-Id": "live-log-check", "Accept": "text/csv"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200
    assert reply.headers["x-request-id"] == "live-log-check"
    assert media_type(reply.headers["content-type"]) == "text/csv"
    # The access log is written in batches, at least once a second; 60 s only guards against
    # waiting for ever on a busy machine.
    deadline = time.monotonic() + 60
    while "request_id=live-log-check" not in live_server.log.read_text():
        assert time.monotonic() < deadline, "no access-log line within 60 s"
        time.sleep(0.1)
    line = next(
        ln for ln in live_server.log.read_text().splitlines() if "request_id=live-log-check" in ln
    )
    assert 'path="/sparql" status=200' in line and "query_ms=" in line


def test_live_service_description_and_metrics(live_server) -> None:
    """The service description parses back, and /metrics counts the requests seen so far."""
    accept = {"Accept": "application/n-triples"}
    reply = httpx.get(live_server.sparql, headers=accept, timeout=TIMEOUT)
    graph = parse_graph(reply.content, media_type(reply.headers["content-type"]))
    sd = "http://www.w3.org/ns/sparql-service-description#"
    assert (
        URIRef(live_server.sparql),
        URIRef(sd + "endpoint"),
        URIRef(live_server.sparql),
    ) in graph
    metrics = httpx.get(live_server.url + "/metrics", timeout=TIMEOUT).text
    assert 'lec_kg_http_requests_total{method="GET",route="/sparql",status="200"}' in metrics
    assert "lec_kg_store_quads" in metrics
