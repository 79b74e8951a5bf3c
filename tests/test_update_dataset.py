"""An update's WHERE reads the union default graph, as queries do; its templates write where
SPARQL says (without GRAPH: the store's own default graph)."""

from __future__ import annotations

import json

import pytest

from lec_kg.engine_api import QueryRequest
from lec_kg.errors import QuerySyntaxError
from lec_kg.update_dataset import operations

BASE = "https://w3id.org/lec-kg/"
JSON = "application/sparql-results+json"
PREFIXES = f"""PREFIX lec: <{BASE}ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX prov: <http://www.w3.org/ns/prov#>
"""
REPORT = f"{BASE}id/document/merics-china-monitor-2017-01-18"
GRAPH = f"{BASE}graph/facts/union-where"
EVIDENCE = (
    f"lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; "
    'lec:page 1 ; lec:quote "China" ]'
)


def rows(engine, text: str) -> list[dict]:
    body = engine.query(QueryRequest(PREFIXES + text), JSON).body
    return json.loads(body)["results"]["bindings"]


def ask(engine, text: str) -> bool:
    return json.loads(engine.query(QueryRequest(PREFIXES + text), JSON).body)["boolean"]


def a_shipped_place(engine) -> tuple[str, str]:
    """A place of the shipped graph and its English label (both in a named graph only)."""
    (row,) = rows(
        engine,
        "SELECT ?p ?l WHERE { GRAPH ?g { ?p a lec:Place ; rdfs:label ?l } } ORDER BY ?p LIMIT 1",
    )
    return row["p"]["value"], row["l"]["value"]


def test_the_where_matches_data_held_only_in_named_graphs(write_engine) -> None:
    """The shipped facts are all in named graphs: a WHERE without GRAPH finds them (it found
    nothing when it read the store's own default graph), and the inferred triples too."""
    shipped, label = a_shipped_place(write_engine)
    assert not ask(
        write_engine, f"ASK {{ GRAPH <{BASE}graph/inferred> {{ <{shipped}> a lec:Place }} }}"
    )
    new = f"{BASE}id/place/union-where-copy"
    outcome = write_engine.update(
        PREFIXES
        + f"""INSERT {{ GRAPH <{GRAPH}> {{ <{new}> a lec:Place ; rdfs:label ?l ; {EVIDENCE} }} }}
        WHERE {{ <{shipped}> rdfs:label ?l ; a prov:Location }}"""  # prov:Location is inferred
    )
    assert outcome.added == 7
    assert (
        rows(write_engine, f"SELECT ?l WHERE {{ GRAPH <{GRAPH}> {{ <{new}> rdfs:label ?l }} }}")[0][
            "l"
        ]["value"]
        == label
    )


def test_templates_without_graph_write_the_default_graph_and_graph_patterns_still_work(
    write_engine,
) -> None:
    """DELETE without GRAPH deletes from the store's own default graph only (so nothing of a
    named graph), DELETE WHERE reads the default graph alone, and DELETE { GRAPH ?g ... }
    WHERE { GRAPH ?g ... } finds and removes the quads wherever they are."""
    place = f"{BASE}id/place/union-where-delete"
    write_engine.update(
        PREFIXES
        + f"""INSERT DATA {{ GRAPH <{GRAPH}> {{
        <{place}> a lec:Place ; rdfs:label "to delete"@en ; {EVIDENCE} }} }}"""
    )
    none = write_engine.update(f"DELETE {{ <{place}> ?p ?o }} WHERE {{ <{place}> ?p ?o }}")
    assert (none.added, none.removed) == (0, 0)
    assert write_engine.update(f"DELETE WHERE {{ <{place}> ?p ?o }}").removed == 0
    gone = write_engine.update(
        PREFIXES
        + f"""DELETE {{ GRAPH ?g {{ <{place}> ?p ?o . ?e ?q ?v }} }}
        WHERE {{ GRAPH ?g {{ <{place}> ?p ?o ; lec:evidence ?e . ?e ?q ?v }} }}"""
    )
    assert gone.removed == 7
    assert not ask(write_engine, f"ASK {{ <{place}> ?p ?o }}")


def test_a_later_operation_reads_what_an_earlier_one_wrote(write_engine) -> None:
    """Operations run in order: the second's WHERE (the union) sees the first's new graph."""
    first, second = (f"{BASE}id/place/union-where-{n}" for n in ("first", "second"))
    outcome = write_engine.update(
        PREFIXES
        + f"""INSERT DATA {{ GRAPH <{GRAPH}-a> {{
            <{first}> a lec:Place ; rdfs:label "first of two"@en ; {EVIDENCE} }} }} ;
        INSERT {{ GRAPH <{GRAPH}-b> {{ <{second}> a lec:Place ; rdfs:label ?l ; {EVIDENCE} }} }}
        WHERE {{ <{first}> rdfs:label ?l }}"""
    )
    assert outcome.added == 14
    assert ask(
        write_engine, f'ASK {{ GRAPH <{GRAPH}-b> {{ <{second}> rdfs:label "first of two"@en }} }}'
    )


def test_a_syntax_error_is_placed_in_the_text_as_sent(write_engine) -> None:
    before = write_engine.dump_nquads()
    text = (
        "INSERT DATA { <urn:a> <urn:b> <urn:c> } ;\nINSERT { <urn:a> <urn:b> ?o } WHERE { ?s ?p }"
    )
    with pytest.raises(QuerySyntaxError) as refused:
        write_engine.update(text)
    assert "line 2, column 46" in refused.value.detail, refused.value.detail
    assert write_engine.dump_nquads() == before


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INSERT DATA { <a> <b> <c> }", [None]),
        ("INSERT { ?s <b> 1 } WHERE { ?s ?p ?o }", ["WHERE"]),
        ("DELETE { ?s ?p ?o } INSERT { ?s ?p 1 } WHERE { ?s ?p ?o }", ["WHERE"]),
        ("DELETE WHERE { ?s ?p ?o }", [None]),  # its pattern is also what it deletes
        ("WITH <g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", [None]),  # chose its dataset
        ("INSERT { ?s <b> 1 } USING <g> WHERE { ?s ?p ?o }", [None]),
        ("INSERT { ?s <b> 1 } USING NAMED <g> WHERE { GRAPH ?g { ?s ?p ?o } }", [None]),
        (
            "PREFIX ex: <http://e/> BASE <http://b/> INSERT DATA { ex:a ex:b 'x;y' } ; "
            "INSERT { ?s ex:b 1 } WHERE { ?s ex:c [ ex:d ?o ; ex:e 2 ] } ; CLEAR DEFAULT ;",
            [None, "WHERE", None],
        ),
    ],
)
def test_operations_and_where_their_dataset_goes(text: str, expected: list) -> None:
    ops = operations(text)
    assert [
        None if op.union_at is None else op.text[op.union_at : op.union_at + 5] for op in ops
    ] == expected
    prologue = text.split("INSERT", 1)[0] if text.startswith("PREFIX") else ""
    assert all(op.text.startswith(prologue) for op in ops)
    assert len(ops) == len(expected)
