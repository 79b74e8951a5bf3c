"""The union default graph is a set of triples (an RDF merge, as Fuseki's union graph): a triple
that two graphs hold is matched once by a query naming no dataset, in the query workers and in
the engine's own inline path, while GRAPH patterns still see each graph holding it, and never
the graph the workers keep the union in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest
from pyoxigraph import Literal, NamedNode, Quad, RdfFormat, Store, parse

from lec_kg.config import Settings
from lec_kg.engine_api import Engine, QueryRequest
from lec_kg.union import Union
from lec_kg.update_dataset import worker_request
from lec_kg.worker import _run_update
from tests.conftest import ready_engine

BASE = "https://w3id.org/lec-kg/"
JSON = "application/sparql-results+json"
PREFIXES = f"PREFIX lec: <{BASE}ontology#>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
FRANCE = NamedNode(f"{BASE}id/state/FR")
TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
STATE = NamedNode(f"{BASE}ontology#State")
RESTATING = NamedNode(f"{BASE}graph/facts/union-restating")

COUNTS = "SELECT (COUNT(?s) AS ?n) (COUNT(DISTINCT ?s) AS ?d) WHERE { ?s a lec:State }"
LABELS = f"SELECT ?l WHERE {{ <{FRANCE.value}> rdfs:label ?l }}"
HOLDERS = f"SELECT ?g WHERE {{ GRAPH ?g {{ <{FRANCE.value}> a lec:State }} }}"
GRAPHS = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }"


def rows(engine, text: str, inline: bool = False) -> list[dict]:
    request = QueryRequest(PREFIXES + text)
    result = engine.query_inline(request, JSON) if inline else None
    if result is None:
        result = engine.query(request, JSON)
    return json.loads(result.body)["results"]["bindings"]


def counts(engine, inline: bool = False) -> tuple[int, int]:
    (row,) = rows(engine, COUNTS, inline)
    return int(row["n"]["value"]), int(row["d"]["value"])


@pytest.fixture(scope="module")
def uncached(settings: Settings) -> Iterator[Engine]:
    """An engine keeping no results, so a repeated query runs again (inline once known cheap)."""
    yield from ready_engine(replace(settings, result_cache_bytes=0))


def test_a_restated_triple_is_counted_once(uncached) -> None:
    write_engine = uncached
    n, d = counts(write_engine)
    assert n == d > 0
    labels = rows(write_engine, LABELS)
    holders = rows(write_engine, HOLDERS)
    outcome = write_engine.change(
        [],
        [Quad(FRANCE, TYPE, STATE, RESTATING)],
        note="restate a shipped fact",
        what="the test",
    )
    assert outcome.added == 1
    for _ in range(3):  # the worker, then the inline path once the query is known to be cheap
        assert counts(write_engine) == (n, d)
        assert counts(write_engine, inline=True) == (n, d)
        assert rows(write_engine, LABELS) == labels
    # GRAPH sees each graph that holds it; no graph it does not hold, none hidden.
    assert len(rows(write_engine, HOLDERS)) == len(holders) + 1
    named = {r["g"]["value"] for r in rows(write_engine, GRAPHS)}
    assert RESTATING.value in named
    assert not any(g.startswith("urn:uuid:") for g in named)
    assert named <= set(write_engine.graph_names())
    # Taken back, the union still holds the triple (the shipped graph states it too).
    write_engine.change([Quad(FRANCE, TYPE, STATE, RESTATING)], [], note="undo", what="the test")
    assert counts(write_engine) == (n, d)
    assert len(rows(write_engine, HOLDERS)) == len(holders)


def test_an_update_reads_the_union_once() -> None:
    """An update's WHERE over the union (`update_diff`, and the copy) sees a triple two graphs
    hold once; the worker's union graph follows changes and never shows as a named graph."""
    store = Store()
    store.extend(
        parse(
            b'<http://ex/a> <http://ex/p> "1" <http://ex/g1> .\n'
            b'<http://ex/a> <http://ex/p> "1" <http://ex/g2> .\n'
            b'<http://ex/b> <http://ex/p> "2" <http://ex/g2> .\n',
            format=RdfFormat.N_QUADS,
        )
    )
    union = Union(store)
    union.rebuild()
    text = (
        "INSERT { GRAPH <http://ex/g3> { <http://ex/k> <http://ex/n> ?n } } "
        "WHERE { SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o } }"
    )
    request = worker_request(text, exclude=[], base=BASE, max_solutions=100)
    for plan in (request["plan"], []):  # from the parts, and on a copy
        reply, payload = _run_update(store, {**request, "plan": plan}, union)
        assert reply["ok"], reply
        assert b'"2"^^' in payload, payload  # two triples, not three
    union.remove(
        [
            Quad(
                NamedNode("http://ex/a"),
                NamedNode("http://ex/p"),
                Literal("1"),
                NamedNode("http://ex/g1"),
            )
        ]
    )
    union.remove(
        [
            Quad(
                NamedNode("http://ex/b"),
                NamedNode("http://ex/p"),
                Literal("2"),
                NamedNode("http://ex/g2"),
            )
        ]
    )
    found = {str(r["s"]) for r in store.query("SELECT ?s WHERE { ?s ?p ?o }", **union.dataset())}
    assert found == {"<http://ex/a>"}  # g2 still holds a
    graphs = {
        str(r["g"]) for r in store.query("SELECT ?g WHERE { GRAPH ?g { } }", **union.dataset())
    }
    assert graphs == {"<http://ex/g2>"}  # g1 emptied and gone; the union graph never listed
