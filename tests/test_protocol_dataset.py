"""Relative IRIs and an update's dataset, as the SPARQL 1.1 Protocol has them (§2.2.3):

- relative IRIs resolve against the base IRI (the text's BASE, else the service's), the same in
  the guard (`sparql_lexer.resolve`, `guard.inspect(base=...)`) as in the engine (pinned here
  against pyoxigraph's own resolution on generated references);
- `using-graph-uri` / `using-named-graph-uri` are written into the update as USING / USING
  NAMED (`protocol.apply_using`): every rewritten update parses in pyoxigraph and changes a real
  store exactly as the hand-written USING form does; USING, USING NAMED or WITH in the text
  with them, or an IRI that cannot be written, is a 400;
- the worker resolves against the base its request carries (`worker.run_query`, `_run_update`).
"""

from __future__ import annotations

import json
import random

import pytest
from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad, Store

from lec_kg.errors import BadRequest, QuerySyntaxError
from lec_kg.guard import Limits, inspect
from lec_kg.protocol import apply_using, read_operation
from lec_kg.sparql_lexer import resolve
from lec_kg.worker import _run_update, run_query, run_select_direct

LIMITS = Limits()
ENDPOINT = "http://127.0.0.1:8000/sparql"
G1, G2, G3 = "http://example.org/g1", "http://example.org/g2", "http://example.org/g3"
EX = "http://example.org/"
PX = f"PREFIX ex: <{EX}>\n"


# ------------------------------------------------------------------ resolution, pinned


def _engine_resolves(store: Store, ref: str, base: str) -> str | None:
    try:
        solutions = store.query(f"SELECT ?x WHERE {{ BIND(<{ref}> AS ?x) }}", base_iri=base)
    except (SyntaxError, ValueError):
        return None  # an IRI pyoxigraph refuses: nothing to compare
    return next(iter(solutions))["x"].value


def test_relative_iris_resolve_as_the_engine_resolves_them() -> None:
    """Seeded references of every shape (dot segments, `//`, `?`, `#`, empty) against bases of
    every shape (with and without authority, query, dot segments): the guard's resolution is
    pyoxigraph's, character for character."""
    rng = random.Random(20261201)
    pieces = ["a", "b", ".", "..", "", "g;x", "%41", "c=d"]
    bases = [
        ENDPOINT,
        "http://h",
        "http://h/",
        "https://u@h:8443/a/./b/../c/",
        "http://h/a/b/c?q#f",
        "urn:x:y",
        "urn:x/y/z",
        "urn:",
        "tag:a/b",
        "file:///a/b",
    ]
    store = Store()
    compared = 0
    for _ in range(4000):
        base = rng.choice(bases)
        path = "/".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
        ref = rng.choice(["", "", "/", "//o", "//o/"]) + path
        ref += rng.choice(["", "", "?q", "#f", "?q#f", "/", "?"])
        expected = _engine_resolves(store, ref, base)
        if expected is None:
            continue
        compared += 1
        assert resolve(ref, base) == expected, (ref, base)
    assert compared > 3500
    assert resolve("g", "") == "g"  # no base: kept as written (and refused by the engine)
    assert resolve("http://h/a/../b", ENDPOINT) == "http://h/a/../b"


# ------------------------------------------------------------------ the guard, with a base


def test_the_guard_resolves_dataset_iris_against_the_base_given() -> None:
    found = inspect(
        "SELECT * FROM <g1> FROM NAMED <../n> WHERE { <s> ?p ?o }", LIMITS, base=ENDPOINT
    )
    assert found.default_graphs == ("http://127.0.0.1:8000/g1",)
    assert found.named_graphs == ("http://127.0.0.1:8000/n",)
    assert "http://127.0.0.1:8000/s" in found.iris


def test_a_base_in_the_text_overrides_the_service_base_and_resolves_against_it() -> None:
    found = inspect(
        "BASE <dir/> PREFIX p: <ns#> SELECT * FROM <g> FROM p:h { ?s ?p ?o }", LIMITS, base=ENDPOINT
    )
    assert found.default_graphs == (
        "http://127.0.0.1:8000/dir/g",
        "http://127.0.0.1:8000/dir/ns#h",
    )
    absolute = inspect("BASE <http://other.example/x/> SELECT * FROM <g> {}", LIMITS, base=ENDPOINT)
    assert absolute.default_graphs == ("http://other.example/x/g",)


def test_without_a_base_relative_iris_are_kept_as_written() -> None:
    found = inspect("SELECT * FROM <g1> { <s> ?p ?o }", LIMITS)
    assert found.default_graphs == ("g1",)
    assert "s" in found.iris


def test_the_guard_and_the_engine_agree_on_what_an_update_names() -> None:
    """The graphs the guard says an update names are the graphs the engine writes into."""
    text = "BASE <a/b/> INSERT DATA { GRAPH <../g> { <s> <p> 1 } GRAPH <./h/../k> { <s> <p> 2 } }"
    found = inspect(text, LIMITS, update=True, base=ENDPOINT)
    store = Store()
    store.update(text, base_iri=ENDPOINT)
    written = {q.graph_name.value for q in store}
    assert written == {"http://127.0.0.1:8000/a/g", "http://127.0.0.1:8000/a/b/k"}
    assert written <= found.iris


def test_the_decoded_reading_uses_the_same_base() -> None:
    found = inspect("SELECT * FROM <\\u00671> { ?s ?p ?o }", LIMITS, base=ENDPOINT)
    assert found.default_graphs == ("http://127.0.0.1:8000/g1",)


# ------------------------------------------------------------------ using-graph-uri


def _store() -> Store:
    """Default graph and three named graphs, each with its own and some shared triples."""
    store = Store()
    graphs = (DefaultGraph(), NamedNode(G1), NamedNode(G2), NamedNode(G3))
    for k, graph in enumerate(graphs):
        tag = graph.value if isinstance(graph, NamedNode) else "default"
        for i in range(3):
            s = NamedNode(f"{EX}s{i}")
            store.add(Quad(s, NamedNode(f"{EX}p"), Literal(f"{tag}-{i}"), graph))
            store.add(Quad(s, NamedNode(f"{EX}q"), Literal(100 * k + i), graph))
        store.add(Quad(NamedNode(f"{EX}only"), NamedNode(f"{EX}in"), Literal(tag), graph))
    return store


def _after(text: str) -> set[Quad]:
    store = _store()
    store.update(text)
    return set(store)


# (update, using, using_named, the same update written by hand with USING clauses)
SHAPES = [
    (
        PX + "DELETE { ?s ex:p ?o } WHERE { ?s ex:p ?o }",
        [G1],
        [],
        PX + f"DELETE {{ ?s ex:p ?o }} USING <{G1}> WHERE {{ ?s ex:p ?o }}",
    ),
    (
        PX + "INSERT { GRAPH ex:g3 { ?s ex:copied ?o } } WHERE { ?s ex:p ?o }",
        [G1, G2],
        [],
        PX + f"INSERT {{ GRAPH ex:g3 {{ ?s ex:copied ?o }} }} USING <{G1}> USING <{G2}> "
        "WHERE { ?s ex:p ?o }",
    ),
    (
        PX + "DELETE { ?s ex:q ?n } INSERT { ?s ex:q ?m } WHERE { ?s ex:q ?n BIND(?n + 10 AS ?m) }",
        [G2],
        [],
        PX + f"DELETE {{ ?s ex:q ?n }} INSERT {{ ?s ex:q ?m }} USING <{G2}> "
        "WHERE { ?s ex:q ?n BIND(?n + 10 AS ?m) }",
    ),
    (
        PX + "INSERT { ?s ex:from ?g } WHERE { GRAPH ?g { ?s ex:in ?o } }",
        [],
        [G2, G3],
        PX + f"INSERT {{ ?s ex:from ?g }} USING NAMED <{G2}> USING NAMED <{G3}> "
        "WHERE { GRAPH ?g { ?s ex:in ?o } }",
    ),
    (
        PX + "INSERT { ?s ex:both ?g } WHERE { ?s ex:in ?x . GRAPH ?g { ?s ex:in ?y } }",
        [G1],
        [G3],
        PX + f"INSERT {{ ?s ex:both ?g }} USING <{G1}> USING NAMED <{G3}> "
        "WHERE { ?s ex:in ?x . GRAPH ?g { ?s ex:in ?y } }",
    ),
    (  # the short form: DELETE WHERE { P } is DELETE { P } WHERE { P }
        PX + "DELETE WHERE { ?s ex:q ?n }",
        [G1],
        [],
        PX + f"DELETE {{ ?s ex:q ?n }} USING <{G1}> WHERE {{ ?s ex:q ?n }}",
    ),
    (  # lower case, comments, a long string over two lines, a negative number, a subquery
        PX + "delete where {\n  ?s ex:p ?o . # the labels\n  ?s ex:q ?n }\n;\n"
        "insert { ?s ex:note '''two\nlines''' ; ex:neg -1 } where "
        "{ { select ?s where { ?s ex:in ?x } } }",
        [G3],
        [],
        PX
        + f"DELETE {{ ?s ex:p ?o . ?s ex:q ?n }} USING <{G3}> WHERE {{ ?s ex:p ?o . ?s ex:q ?n }} ;"
        f" INSERT {{ ?s ex:note '''two\nlines''' ; ex:neg -1 }} USING <{G3}> "
        "WHERE { { SELECT ?s WHERE { ?s ex:in ?x } } }",
    ),
    (  # operations that read no dataset are left alone
        PX + "PREFIX e2: <http://example.org/> INSERT DATA { ex:new ex:p 'd' } ;"
        "CLEAR GRAPH ex:g2 ;\nDELETE { ?s e2:p ?o } WHERE { ?s e2:p ?o "
        "FILTER(CONTAINS(?o, 'WHERE') || ?o != 'USING') }",
        [G1],
        [G3],
        PX
        + "PREFIX e2: <http://example.org/> INSERT DATA { ex:new ex:p 'd' } ; CLEAR GRAPH ex:g2 ; "
        f"DELETE {{ ?s e2:p ?o }} USING <{G1}> USING NAMED <{G3}> "
        "WHERE { ?s e2:p ?o FILTER(CONTAINS(?o, 'WHERE') || ?o != 'USING') }",
    ),
    (  # no spaces around the brackets; a comment between DELETE and WHERE
        PX + "DELETE{?s ex:q ?n}WHERE{?s ex:q ?n};delete # the short form\n where{?s ex:p ?o}",
        [G2],
        [],
        PX + f"DELETE {{ ?s ex:q ?n }} USING <{G2}> WHERE {{ ?s ex:q ?n }} ; "
        f"DELETE {{ ?s ex:p ?o }} USING <{G2}> WHERE {{ ?s ex:p ?o }}",
    ),
    (  # a WHERE inside a string, a comment and a name is not the operation's WHERE
        PX + "INSERT { ?s ex:said 'WHERE { }', ?where } # WHERE\nWHERE { ?s ex:in ?where }",
        [G2],
        [],
        PX
        + f"INSERT {{ ?s ex:said 'WHERE {{ }}', ?where }} USING <{G2}> WHERE {{ ?s ex:in ?where }}",
    ),
]


@pytest.mark.parametrize(("text", "using", "named", "by_hand"), SHAPES)
def test_using_graph_uri_does_what_using_clauses_do(text, using, named, by_hand) -> None:
    rewritten = apply_using(text, using, named)
    assert _after(rewritten) == _after(by_hand)
    # It matters: the same update without the dataset changes the store otherwise.
    assert _after(rewritten) != _after(text)
    # Line numbers are kept, and the guard sees every graph the client named.
    assert rewritten.count("\n") == text.count("\n")
    found = inspect(rewritten, LIMITS, update=True)
    assert set(found.default_graphs) == set(using)
    assert set(found.named_graphs) == set(named)


def test_without_the_parameters_the_text_is_untouched() -> None:
    text = "DELETE WHERE { ?s ?p ?o }  # as sent"
    assert apply_using(text, [], []) is text


def test_an_update_with_no_where_gets_no_clause() -> None:
    text = "INSERT DATA { <http://x/a> <http://x/b> 1 } ; CLEAR DEFAULT"
    assert apply_using(text, [G1], [G2]) == text


@pytest.mark.parametrize(
    ("text", "word", "where"),
    [
        ("DELETE { ?s ?p ?o } USING <http://x/g> WHERE { ?s ?p ?o }", "USING", (1, 21)),
        ("INSERT { ?s ?p 1 }\n  using named <http://x/g> WHERE { ?s ?p ?o }", "using", (2, 3)),
        ("WITH <http://x/g> DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }", "WITH", (1, 1)),
        ("CLEAR ALL ; with <http://x/g> DELETE WHERE { ?s ?p ?o }", "with", (1, 13)),
    ],
)
def test_using_in_the_text_with_the_parameters_is_a_400(text, word, where) -> None:
    with pytest.raises(BadRequest) as err:
        apply_using(text, [G1], [])
    detail = err.value.detail
    assert "cannot be combined with USING, USING NAMED or WITH" in detail
    assert f"{word} at line {where[0]}, column {where[1]}" in detail


@pytest.mark.parametrize(
    ("iri", "words"),
    [
        ("http://x/g> } ; CLEAR ALL ; INSERT DATA { <x", "'>'"),
        ("http://x/a b", "' '"),
        ('http://x/"', "'\"'"),
        ("http://x/{}", "'{'"),
        ("http://x/a|b", "'|'"),
        ("http://x/a^b", "'^'"),
        ("http://x/a`b", "'`'"),
        ("http://x/a\\u0020", "'\\\\'"),
        ("http://x/a\nb", "'\\n'"),
        ("http://x/a\x00", "'\\x00'"),
        ("http://x/<", "'<'"),
        ("relative/graph", "not an absolute IRI"),
        ("", "must not be empty"),
    ],
)
def test_a_using_iri_that_cannot_be_written_is_a_400(iri, words) -> None:
    text = "DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }"
    with pytest.raises(BadRequest) as err:
        apply_using(text, [iri], [])
    assert words in err.value.detail
    assert "using-graph-uri" in err.value.detail
    with pytest.raises(BadRequest) as err:
        apply_using(text, [], [iri])
    assert "using-named-graph-uri" in err.value.detail
    with pytest.raises(BadRequest):
        read_operation([("update", text), ("using-named-graph-uri", iri)])


def test_an_unreadable_update_is_a_syntax_error_with_its_own_position() -> None:
    with pytest.raises(QuerySyntaxError) as err:
        apply_using("DELETE { ?s ?p ?o }\nWHERE { ?s ?p 'open }", [G1], [])
    assert (err.value.line, err.value.column) == (2, 15)


def test_a_syntax_error_after_the_insertion_keeps_its_line() -> None:
    text = "DELETE { ?s ?p ?o } WHERE { ?s ?p ?o }\n;\nINSERT { ?s ?p } WHERE { ?s ?p ?o }"
    with pytest.raises(SyntaxError, match=r"error at 3:"):
        Store().update(apply_using(text, [G1], []))


# ------------------------------------------------------------------ read_operation


def test_an_update_carries_its_using_graphs() -> None:
    op = read_operation(
        [
            ("update", "DELETE WHERE { ?s ?p ?o }"),
            ("using-graph-uri", G1),
            ("using-named-graph-uri", G2),
            ("using-graph-uri", G3),
        ]
    )
    assert (op.kind, op.using_graphs, op.using_named_graphs) == ("update", (G1, G3), (G2,))
    direct = read_operation(
        [("using-graph-uri", G1)], direct=("update", "DELETE WHERE { ?s ?p ?o }")
    )
    assert direct.using_graphs == (G1,)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ([("query", "ASK {}"), ("using-graph-uri", G1)], "using-graph-uri is not supported"),
        ([("query", "ASK {}"), ("using-named-graph-uri", G1)], "using-named-graph-uri is not"),
        ([("update", "CLEAR ALL"), ("default-graph-uri", G1)], "default-graph-uri is not"),
        ([("update", "CLEAR ALL"), ("named-graph-uri", G1)], "named-graph-uri is not"),
    ],
)
def test_dataset_parameters_of_the_other_operation_are_a_400(params, words) -> None:
    with pytest.raises(BadRequest, match=words):
        read_operation(params)


# ------------------------------------------------------------------ the worker, with a base


def _query_header(text: str, fmt: str, **extra) -> dict:
    return {"text": text, "format": fmt, "max_rows": 100, "union": True, **extra}


def test_the_worker_resolves_a_query_against_the_base_it_is_given() -> None:
    """The W3C protocol tests' CONSTRUCT with relative IRIs: resolved against the base."""
    store = Store()
    header = _query_header("CONSTRUCT { <s> <p> 1 } WHERE {}", "nt", form="construct")
    reply, body = run_query(store, {**header, "base": ENDPOINT}, {})
    assert reply["ok"], reply
    assert body.decode().strip() == (
        '<http://127.0.0.1:8000/s> <http://127.0.0.1:8000/p> "1"^^'
        "<http://www.w3.org/2001/XMLSchema#integer> ."
    )
    reply, _ = run_query(store, header, {})  # no base: what it was, a syntax error
    assert (reply["ok"], reply["kind"]) == (False, "syntax")


def test_the_worker_resolves_a_select_and_its_dataset_against_the_base() -> None:
    store = Store()
    store.add(Quad(NamedNode("http://h/s"), NamedNode("http://h/p"), Literal(1), NamedNode(G1)))
    header = _query_header(
        "SELECT ?s WHERE { ?s <p> ?o }", "json", form="select", base="http://h/sparql"
    )
    reply, body = run_query(store, header, {})
    assert reply["rows"] == 1
    assert json.loads(body)["results"]["bindings"] == [
        {"s": {"type": "uri", "value": "http://h/s"}}
    ]
    dataset = {**header, "union": False, "default": [G1], "named": []}
    assert json.loads(run_select_direct(store, dataset))["results"]["bindings"] == [
        {"s": {"type": "uri", "value": "http://h/s"}}
    ]
    assert (
        json.loads(run_select_direct(store, {**dataset, "default": [G2]}))["results"]["bindings"]
        == []
    )


def test_the_worker_resolves_an_update_against_the_base() -> None:
    store = Store()
    header = {"text": "BASE <dir/> INSERT DATA { <s> <p> <../o> }", "exclude": []}
    reply, payload = _run_update(store, {**header, "base": ENDPOINT})
    assert reply["ok"], reply
    assert payload[reply["removed"] :].decode().strip() == (
        "<http://127.0.0.1:8000/dir/s> <http://127.0.0.1:8000/dir/p> <http://127.0.0.1:8000/o> ."
    )
    reply, _ = _run_update(store, {**header, "text": "INSERT DATA { <s> <p> 1 }"})
    assert (reply["ok"], reply["kind"]) == (False, "syntax")
    assert len(store) == 0  # the worker answers with the difference; the store is untouched
