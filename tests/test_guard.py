"""The guard: query forms, refusals (SERVICE, LOAD, foreign FROM/USING), size and depth caps."""

from __future__ import annotations

import pytest

from lec_kg.errors import ForbiddenOperation, QuerySyntaxError, QueryTooComplex
from lec_kg.guard import Limits, cap_rows, check_dataset, inspect, syntax_error_from

LIMITS = Limits(max_chars=10_000)
P = "PREFIX ex: <http://example.org/>\n"


@pytest.mark.parametrize(
    ("text", "form"),
    [
        ("SELECT * WHERE { ?s ?p ?o }", "select"),
        ("select ?s { ?s ?p ?o }", "select"),
        (P + "ASK { ex:a ?p ?o }", "ask"),
        ("# SELECT in a comment\nCONSTRUCT WHERE { ?s ?p ?o }", "construct"),
        ("BASE <http://example.org/>\nDESCRIBE <a>", "describe"),
        ('SELECT ("ASK" AS ?x) {}', "select"),
    ],
)
def test_form_is_the_first_keyword_after_the_prologue(text: str, form: str) -> None:
    assert inspect(text, LIMITS).form == form


def test_an_update_is_not_a_query() -> None:
    with pytest.raises(QuerySyntaxError) as err:
        inspect("\n  INSERT DATA { <a> <b> <c> }", LIMITS)
    assert (err.value.line, err.value.column) == (2, 3)


def test_dataset_clauses_are_resolved_against_prefixes_and_base() -> None:
    found = inspect(
        P + "BASE <http://base.example/dir/>\n"
        "SELECT * FROM ex:g1 FROM <g2> FROM NAMED <http://other.example/n> { ?s ?p ?o }",
        LIMITS,
    )
    assert found.default_graphs == ("http://example.org/g1", "http://base.example/dir/g2")
    assert found.named_graphs == ("http://other.example/n",)


def test_using_in_updates_is_collected() -> None:
    found = inspect(
        "DELETE { ?s ?p ?o } USING <http://x/g> USING NAMED <http://x/n> WHERE { ?s ?p ?o }",
        LIMITS,
        update=True,
    )
    assert found.default_graphs == ("http://x/g",)
    assert found.named_graphs == ("http://x/n",)


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * { SERVICE <http://127.0.0.1:9/sparql> { ?s ?p ?o } }",
        "SELECT * { service silent <http://example.org/> { ?s ?p ?o } }",
        "SELECT * { ?s ?p ?o OPTIONAL { SERVICE ?endpoint { ?s ?q ?r } } }",
    ],
)
def test_service_is_refused(text: str) -> None:
    with pytest.raises(ForbiddenOperation, match="SERVICE"):
        inspect(text, LIMITS)


@pytest.mark.parametrize(
    "text", ["LOAD <http://127.0.0.1:9/x.ttl>", "load silent <file:///etc/passwd> INTO GRAPH <g>"]
)
def test_load_is_refused(text: str) -> None:
    with pytest.raises(ForbiddenOperation, match="LOAD"):
        inspect(text, LIMITS, update=True)


def test_keywords_inside_strings_iris_and_comments_are_not_refused() -> None:
    text = (
        'SELECT * { ?s ?p "SERVICE LOAD" . ?s <http://x/SERVICE> """multi\nline LOAD""" '
        "# SERVICE <http://x/>\n }"
    )
    assert inspect(text, LIMITS).form == "select"


def test_foreign_dataset_iris_are_refused_with_a_reason() -> None:
    known = {"https://w3id.org/lec-kg/graph/facts/actors"}
    check_dataset(["https://w3id.org/lec-kg/graph/facts/actors"], known, "FROM")
    with pytest.raises(ForbiddenOperation, match="never reads files"):
        check_dataset(["file:///etc/passwd"], known, "FROM")
    with pytest.raises(ForbiddenOperation, match="never fetches remote graphs"):
        check_dataset(["http://127.0.0.1:8080/g"], known, "FROM NAMED")


def test_query_length_cap() -> None:
    text = "SELECT * { ?s ?p ?o }" + " " * 10_000
    with pytest.raises(QueryTooComplex, match="10,000"):
        inspect(text, LIMITS)


@pytest.mark.parametrize("opener", ["{ ", "( ", "[ "])
def test_a_5000_deep_nesting_is_an_error_not_a_crash(opener: str) -> None:
    closer = {"{ ": "} ", "( ": ") ", "[ ": "] "}[opener]
    text = "SELECT * WHERE { " + opener * 5000 + closer * 5000 + "}"
    with pytest.raises(QueryTooComplex, match="nested more than"):
        inspect(text, Limits(max_chars=1_000_000))


def test_long_operator_chains_are_refused_but_bulk_insert_data_is_not() -> None:
    chain = "SELECT * { ?s ?p ?o FILTER(" + " || ".join(["?o = 1"] * 2000) + ") }"
    with pytest.raises(QueryTooComplex, match="patterns and operators"):
        inspect(chain, Limits(max_chars=1_000_000))
    bulk = "INSERT DATA { GRAPH <g> { " + " . ".join(["<a> <b> <c>"] * 5000) + " } }"
    assert inspect(bulk, LIMITS, update=True).form is None


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("SELECT * { ?s ?p 'open }", (1, 18)),
        ("SELECT * {\n  ?s ?p ?o ]", (2, 12)),
        ("SELECT * {\n  ?s ?p ?o", (1, 10)),
    ],
)
def test_lexical_errors_say_line_and_column(text: str, where: tuple[int, int]) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        inspect(text, LIMITS)
    assert (err.value.line, err.value.column) == where


def test_engine_messages_become_line_and_column() -> None:
    err = syntax_error_from("error at 3:16: expected one of LANGDIR, MINUTES, NOT")
    assert (err.line, err.column) == (3, 16)
    assert "line 3, column 16" in err.detail
    assert err.to_dict()["line"] == 3


@pytest.mark.parametrize(
    ("text", "capped"),
    [
        ("SELECT * { ?s ?p ?o }", "SELECT * { ?s ?p ?o }\nLIMIT 11"),
        ("SELECT * { ?s ?p ?o } # note", "SELECT * { ?s ?p ?o } # note\nLIMIT 11"),
        ("SELECT * { ?s ?p ?o } LIMIT 5 OFFSET 2", "SELECT * { ?s ?p ?o } LIMIT 5 OFFSET 2"),
        ("SELECT * { ?s ?p ?o } LIMIT 500", "SELECT * { ?s ?p ?o } LIMIT 011"),
        (
            "SELECT * { { SELECT * { ?s ?p ?o } LIMIT 500 } }",
            "SELECT * { { SELECT * { ?s ?p ?o } LIMIT 500 } }\nLIMIT 11",
        ),
        ("SELECT * { ?s ?p ?o } VALUES ?s { <a> }", None),
    ],
)
def test_row_cap_keeps_every_character_where_it_was(text: str, capped: str | None) -> None:
    assert cap_rows(text, 11) == capped
