"""The guard: query forms, refusals (SERVICE, LOAD, foreign FROM/USING), size and depth caps."""

from __future__ import annotations

import pytest

from lec_kg.errors import ForbiddenOperation, QuerySyntaxError, QueryTooComplex
from lec_kg.guard import Limits, cap_rows, check_dataset, inspect, syntax_error_from, tokens

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


# ---------------------------------------------------------------- the lexer against escapes

ENDPOINT = "<http://127.0.0.1:9/x>"


def test_an_escape_in_an_iri_does_not_hide_the_service_after_it() -> None:
    """The reported hole: the IRI was mis-read, its `#` taken for a comment, SERVICE unseen."""
    text = (
        "SELECT * WHERE { ?s a <http://www.w3.org/2002/07/ow\\u006C#Class> . "
        "SERVICE <http://127.0.0.1:9/x> { ?x ?y ?z }\n} LIMIT 1"
    )
    with pytest.raises(ForbiddenOperation, match="SERVICE") as err:
        inspect(text, LIMITS)
    assert "line 1" in err.value.detail


@pytest.mark.parametrize(
    "text",
    [
        # keywords the engine reads without word boundaries (all accepted by pyoxigraph 0.5)
        f"SELECT * {{ SERVICE{ENDPOINT} {{ ?a ?b ?c }} }}",
        f"SELECT * {{ SERVICESILENT {ENDPOINT} {{ ?a ?b ?c }} }}",
        "SELECT * { SERVICE?x { ?a ?b ?c } }",
        f"SELECT * {{ ?s ?p trueSERVICE {ENDPOINT} {{ ?a ?b ?c }} }}",
        f"SELECT * {{ ?s ?p 1SERVICE {ENDPOINT} {{ ?a ?b ?c }} }}",
        "PREFIX ex: <http://127.0.0.1:9/> SELECT * { SERVICEex:x { ?a ?b ?c } }",
        "PREFIX : <http://127.0.0.1:9/> SELECT * { SERVICE:x { ?a ?b ?c } }",
        f"SELECT * {{ ?s ?p ?o # c\rSERVICE {ENDPOINT} {{ }} }}",
        # SERVICE made by SPARQL 1.1 §19.2 codepoint escapes
        f"SELECT * {{ SERV\\u0049CE {ENDPOINT} {{ ?a ?b ?c }} }}",
        f"SELECT * {{ \\U00000053ERVICE {ENDPOINT} {{ ?a ?b ?c }} }}",
        f"SELECT * {{ ?s ?p ?o #\\u000A SERVICE {ENDPOINT} {{ }}\n}}",
        f"SELECT * {{ ?s ?p '\\u0027 . SERVICE {ENDPOINT} {{ }} }} # ' }}",
    ],
)
def test_service_in_every_spelling_is_refused(text: str) -> None:
    with pytest.raises(ForbiddenOperation, match="SERVICE"):
        inspect(text, LIMITS)


@pytest.mark.parametrize(
    "text",
    [
        f"LOAD{ENDPOINT}",
        f"LOADSILENT {ENDPOINT}",
        f"lOaD {ENDPOINT} INTO GRAPH <http://x/g>",
        f"CLEAR ALL;LOAD {ENDPOINT}",
        "PREFIX ex: <http://127.0.0.1:9/> LOADex:x",
        "PREFIX : <http://127.0.0.1:9/> LOAD SILENT:x INTO GRAPH :g",
        f"LO\\u0041D {ENDPOINT}",
        f"\\u004cOAD SILENT {ENDPOINT}",
        "INSERT DATA { <http://x/s> <http://x/p> <http://www.w3.org/2002/07/ow\\u006C#C> } ;\n"
        f"LOAD {ENDPOINT}",
    ],
)
def test_load_in_every_spelling_is_refused(text: str) -> None:
    with pytest.raises(ForbiddenOperation, match="LOAD"):
        inspect(text, LIMITS, update=True)


@pytest.mark.parametrize(
    "text",
    [
        # inside brackets, after an operand, the engine reads `<` as less than: `#` would then
        # start a comment and `'` a string where the IRI reading sees neither
        "SELECT * { ?s ?p ?o FILTER(?o<1)SERVICE?x#>)\n{ ?a ?b ?c } }",
        f"SELECT * {{ ?s ?p ?o FILTER(?o<'>') SERVICE {ENDPOINT} {{ ?a ?b ?c }} }} # ' ) }}",
        "SELECT * { ?s ?p ?o FILTER(?o<<a:b#>) }",
    ],
)
def test_an_iri_that_may_be_less_than_is_refused(text: str) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        inspect(text, LIMITS)
    assert (err.value.line, err.value.column) == (1, 30)


@pytest.mark.parametrize(
    "text",
    [
        'SELECT * { ?s ?p "SERV\\u0049CE <x> { }" }',
        "SELECT * { ?s <http://x/\\u0053ERVICE> '''LOAD\n<x>''' }",
        "PREFIX ex: <http://x/> SELECT ?service { ?service ex:SERVICE ex:load } # SERVICE",
        "PREFIX ex: <http://x/> SELECT * { ?s ex:a\\#b ?o . ?s ex:it\\'s ?o }",
        "SELECT * { ?s ?p ?o FILTER(?o < <http://x/a#b> && ?o<?p) }",
        "SELECT * { VALUES (?a ?b) { (<http://x/a#b> <http://x/c#d>) } }",
    ],
)
def test_the_words_in_strings_iris_names_and_comments_are_not_keywords(text: str) -> None:
    assert inspect(text, LIMITS).form == "select"


@pytest.mark.parametrize(
    ("text", "where", "why"),
    [
        ("SELECT * {\n  ?s ex:p ?o }", (2, 6), "prefix 'ex:' is not declared"),
        ("SELECT * { ?s ?p ?o } LIMIT1", (1, 23), "not a SPARQL keyword"),
        ("SELECTDISTINCT ?s { ?s ?p ?o }", (1, 1), "SELECT DISTINCT"),
        ("SELECT * { ?s ?p 'a\\qb' }", (1, 18), "string"),
        ("SELECT * { ?s ?p <http://x/\\u003E> }", (1, 18), "holds '>'"),
        ("SELECT * { ?s ?p ?o } \\u0023 note", (1, 23), "unexpected character"),
    ],
)
def test_what_the_guard_cannot_read_is_refused_with_line_and_column(
    text: str, where: tuple[int, int], why: str
) -> None:
    with pytest.raises(QuerySyntaxError, match=why) as err:
        inspect(text, LIMITS)
    assert (err.value.line, err.value.column) == where


def test_a_prefix_the_engine_may_read_as_service_is_refused() -> None:
    text = "PREFIX service: <http://127.0.0.1:9/> SELECT * { ?s service:p ?o }"
    with pytest.raises(ForbiddenOperation, match="prefix 'service:' as SERVICE"):
        inspect(text, LIMITS)  # `{ service:p { ... } }` is SERVICE <http://127.0.0.1:9/p>


def test_prefixed_names_glued_to_a_graph_keyword_are_refused() -> None:
    text = (
        "PREFIX g: <http://x/> PREFIX GRAPHg: <http://y/>\n"
        "INSERT DATA { GRAPHg:z { <http://x/s> <http://x/p> <http://x/o> } }"
    )
    with pytest.raises(QuerySyntaxError, match="GRAPH g:") as err:
        inspect(text, LIMITS, update=True)
    assert (err.value.line, err.value.column) == (2, 15)


def test_iris_are_collected_with_their_escapes_decoded() -> None:
    found = inspect(
        "PREFIX lec: <https://w3id.org/lec-kg/graph/>\n"
        "INSERT DATA { GRAPH <https://w3id.org/lec-kg/graph/inferr\\u0065d> { lec:a\\.b "
        "<http://x/p> 1 } }",
        LIMITS,
        update=True,
    )
    assert "https://w3id.org/lec-kg/graph/inferred" in found.iris
    assert "https://w3id.org/lec-kg/graph/a.b" in found.iris
    query = inspect("SELECT * FROM <http://x/\\u0067> { ?s ?p ?o }", LIMITS)
    assert query.default_graphs == ("http://x/g",)


def test_a_row_cap_declines_what_it_cannot_read() -> None:
    assert cap_rows("SELECT * { ?s ?p 'open }", 11) is None
    assert cap_rows("SELECT * { ?s ?p '#' } LIMIT 500", 11) == "SELECT * { ?s ?p '#' } LIMIT 011"


def test_tokens_follow_the_sparql_terminals() -> None:
    text = (
        "PREFIX ex: <http://x/\\u0041#> SELECT ?v { _:b ex:a\\.b '''it's''' ; ex:p \"x\"@en-GB, "
        "1.5e3 <<( ?v a true )>> } # SERVICE"
    )
    assert [(t.kind, t.text) for t in tokens(text)] == [
        ("word", "PREFIX"),
        ("pname", "ex:"),
        ("iri", "<http://x/\\u0041#>"),
        ("word", "SELECT"),
        ("var", "?v"),
        ("punct", "{"),
        ("bnode", "_:b"),
        ("pname", "ex:a\\.b"),
        ("string", "'''it's'''"),
        ("punct", ";"),
        ("pname", "ex:p"),
        ("string", '"x"'),
        ("langtag", "@en-GB"),
        ("punct", ","),
        ("number", "1.5e3"),
        ("punct", "<<("),
        ("var", "?v"),
        ("word", "a"),
        ("word", "true"),
        ("punct", ")>>"),
        ("punct", "}"),
    ]


def test_a_long_string_that_does_not_close_is_refused_not_read_again() -> None:
    with pytest.raises(QuerySyntaxError, match="not closed") as err:
        inspect("SELECT * {\n  ?s ?p '''abc' }", LIMITS)
    assert (err.value.line, err.value.column) == (2, 9)
