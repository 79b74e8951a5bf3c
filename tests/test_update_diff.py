"""An update's difference found from its parts (`update_diff`) is the difference the copy finds
(the whole asserted data copied, the update run there, before and after compared), for every
form it handles, over every dataset an operation can read, and on random updates of the shipped
graph; the worker's store is left exactly as it was; what it does not handle goes to the copy."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from pyoxigraph import BlankNode, NamedNode, RdfFormat, Store, parse

from lec_kg.update_dataset import operations, worker_request
from lec_kg.worker import _run_update

BASE = "https://w3id.org/lec-kg/"
INFERRED = f"{BASE}graph/inferred"
DATA = f"""
<http://ex/a> <http://ex/p> "1" .
<http://ex/a> <http://ex/name> "A"@en .
_:d <http://ex/p> "blank in the default graph" .
<http://ex/b> <http://ex/p> "2" <http://ex/g1> .
<http://ex/b> <http://ex/name> "B"@en <http://ex/g1> .
<http://ex/c> <http://ex/p> "3" <http://ex/g2> .
_:x <http://ex/p> "blank" <http://ex/g2> .
_:x <http://ex/q> <http://ex/c> <http://ex/g2> .
<http://ex/c> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://ex/Thing> <{INFERRED}> .
<http://ex/b> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <http://ex/Thing> <{INFERRED}> .
"""
P = "PREFIX ex: <http://ex/> "

# Every form the parts handle, over every dataset; and sequences where one operation reads
# what an earlier one wrote.
HANDLED = [
    P + "INSERT DATA { ex:n ex:p 1 . GRAPH ex:g1 { ex:n ex:p 2 } }",
    P + "INSERT DATA { ex:a ex:p '1' }",  # already there: nothing added
    P + "INSERT DATA { _:n ex:p 'fresh' . _:n ex:q _:m }",
    P + "DELETE DATA { ex:a ex:p '1' . GRAPH ex:g1 { ex:b ex:p '2' } . ex:zz ex:p 1 }",
    P + "DELETE DATA { GRAPH <" + INFERRED + "> { ex:c a ex:Thing } }",  # absent for updates
    P + "DELETE WHERE { ?s ex:p ?o }",  # the default graph alone
    P + "DELETE WHERE { GRAPH ?g { ?s ex:p ?o } }",
    P + "DELETE { GRAPH ?g { ?s ?p ?o } } WHERE { GRAPH ?g { ?s ?p ?o } }",
    P + "DELETE { ?s ex:p ?o } INSERT { ?s ex:p 'new' } WHERE { ?s ex:p ?o }",  # union WHERE
    P + "INSERT { GRAPH ex:g3 { ?s ex:copy ?o } } WHERE { ?s ex:p ?o }",
    P + "INSERT { GRAPH ex:g3 { ?s ex:seen true } } WHERE { ?s a ex:Thing }",  # inferred read
    P + "INSERT { ?s ex:also ?o } WHERE { GRAPH ?g { ?s ex:p ?o } }",  # named: asserted only
    P + "INSERT { GRAPH ?g { ?s ex:in ?g } } WHERE { GRAPH ?g { ?s ?p ?o } }",
    P + "INSERT { ?s ex:p ?unbound . ?o ex:r ?s } WHERE { ?s ex:p ?o }",  # unbound, literal subj
    P + "INSERT { _:new ex:about ?s } WHERE { ?s ex:name ?n }",  # fresh blank per solution
    P + "INSERT { ?s ex:twin ?s } WHERE { ?s ex:q ?o }",  # a stored blank node comes back
    P + "DELETE { GRAPH ?g { ?s ?p ?o } } WHERE { GRAPH ?g { ?s ex:q ?c . ?s ?p ?o } }",  # blank
    P + "WITH ex:g1 DELETE { ?s ex:p ?o } INSERT { ?s ex:p 'w' } WHERE { ?s ex:p ?o }",
    P + "WITH ex:g2 INSERT { ?s ex:w 1 } WHERE { GRAPH ex:g1 { ?s ?p ?o } }",
    P + "DELETE { GRAPH ex:g2 { ?s ex:p ?o } } USING ex:g2 WHERE { ?s ex:p ?o }",
    P + "INSERT { ?s ex:u ?g } USING ex:g1 USING NAMED ex:g2 WHERE { GRAPH ?g { ?s ?p ?o } }",
    P + "INSERT { ?s ex:u 1 } USING ex:g1 WHERE { GRAPH ?g { ?s ?p ?o } }",  # no named graphs
    P + "INSERT { ?s ex:u2 ?o } USING NAMED ex:g1 "  # no USING: an empty default graph
    "WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }",
    P + "WITH ex:g1 INSERT { ?s ex:u3 ?o } USING NAMED ex:g2 "
    "WHERE { { ?s ?p ?o } UNION { GRAPH ?g { ?s ?p ?o } } }",
    P + "INSERT { GRAPH ?g { ?s ex:u4 ?o } } "
    "WHERE { GRAPH ?g { ?s ?p ?o } FILTER NOT EXISTS { ?s ex:name ?n } }",
    P + "INSERT { ex:k ex:count ?n } WHERE { SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o } }",
    P + "INSERT { ?s ex:o ?l } WHERE { ?s ex:p ?o OPTIONAL { ?s ex:name ?l } FILTER(?o != '3') }",
    P + "INSERT { ex:v ex:val ?v } WHERE { VALUES ?v { 1 'a' ex:x } }",
    P + "INSERT { ex:e ex:p 1 } WHERE { FILTER(false) }",
    P + "INSERT { GRAPH <" + INFERRED + "> { ex:z a ex:T } } WHERE {}",  # refused by the engine
    P + "INSERT DATA { ex:s1 ex:p 1 } ; "
    "DELETE { ?s ex:p 1 } INSERT { ?s ex:p 2 } WHERE { ?s ex:p 1 }",
    P + "DELETE DATA { ex:a ex:p '1' } ; INSERT DATA { ex:a ex:p '1' }",  # nets out to nothing
    P + "INSERT DATA { GRAPH ex:g4 { ex:x ex:p 1 } } ; "
    "INSERT { ?s ex:saw ?o } WHERE { GRAPH ex:g4 { ?s ex:p ?o } }",
    P + "DELETE WHERE { GRAPH ex:g2 { ?s ?p ?o } } ; "
    "INSERT { ex:y ex:n ?g } WHERE { GRAPH ?g { } }",  # an emptied graph is still a graph
    "BASE <http://ex/> INSERT { <rel> <p> ?o } WHERE { <a> <p> ?o }",
    P + "INSERT { ?s ex:label ?l } WHERE { ?s ex:name ?l FILTER(langMatches(lang(?l), 'en')) }",
    P + "INSERT { ?s ex:esc 'line\\nbreak \"quoted\" \\u00e9' } WHERE { ?s ex:name ?n }",
]
# Forms the parts do not handle: the copy runs them.
UNHANDLED = [
    "CLEAR GRAPH <http://ex/g1>",
    "DROP ALL",
    "COPY <http://ex/g1> TO <http://ex/g5>",
    P + "INSERT DATA { ex:a ex:p 5 } ; CLEAR DEFAULT",
    # An empty store lacks the graph: the syntax check on one must not refuse the update.
    P + "INSERT { ?s ex:seen 1 } WHERE { ?s ex:p ?o } ; CLEAR GRAPH ex:g1",
]
# Errors: the same answer either way (the copy reports them against the update's own text).
ERRORS = [
    P + "INSERT { ?s ex:p ?o } WHERE { ?s ex:p ?o FILTER(?o > }",
    P + "INSERT DATA { ex:a ex:p ?o }",
    P + "DELETE DATA { _:b ex:p 1 }",
]


def store_of(nquads: str) -> Store:
    store = Store()
    store.extend(parse(nquads.encode(), format=RdfFormat.N_QUADS))
    return store


def answer(store: Store, request: dict) -> tuple[dict, Counter, Counter]:
    reply, payload = _run_update(store, request)
    if not reply["ok"]:
        return reply, Counter(), Counter()
    cut = reply["removed"]
    known = {t for q in store for t in (q.subject, q.object, q.graph_name)}
    return (
        reply,
        shape(parse(payload[:cut], format=RdfFormat.N_QUADS), known),
        shape(parse(payload[cut:], format=RdfFormat.N_QUADS), known),
    )


def shape(quads, known: set) -> Counter:
    """The quads with every blank node the update made anew written as one name."""

    def term(t):
        return "_:new" if isinstance(t, BlankNode) and t not in known else str(t)

    return Counter(
        (term(q.subject), str(q.predicate), term(q.object), term(q.graph_name)) for q in quads
    )


def both_ways(store: Store, text: str, max_solutions: int = 1000) -> tuple[tuple, tuple]:
    """The worker's answer through the parts and through the copy, the store checked unchanged."""
    before = set(store)
    request = worker_request(text, exclude=[INFERRED], base=BASE, max_solutions=max_solutions)
    quick = answer(store, request)
    assert set(store) == before, "the parts' way changed the worker's store"
    copied = answer(store, {**request, "plan": []})
    assert set(store) == before, "the copy changed the worker's store"
    return quick, copied


@pytest.mark.parametrize("text", HANDLED, ids=range(len(HANDLED)))
def test_the_parts_find_the_difference_the_copy_finds(text: str) -> None:
    store = store_of(DATA)
    (quick, gone, new), (copied, gone_c, new_c) = both_ways(store, text)
    assert quick["ok"] and copied["ok"], (quick, copied)
    assert quick["copied"] is False, "a handled form went to the copy"
    assert copied["copied"] is True
    assert (gone, new) == (gone_c, new_c)


def test_the_battery_changes_what_it_should() -> None:
    """Not vacuous: every update of the battery changes something but those meant not to (data
    already there, the inferred graph, unbound or ill-formed templates, no named graph, no
    solution, a change taken back)."""
    unchanged = set()
    for i, text in enumerate(HANDLED):
        (_, gone, new), _ = both_ways(store_of(DATA), text)
        if not (gone or new):
            unchanged.add(i)
    assert unchanged == {1, 4, 13, 21, 28, 31}


@pytest.mark.parametrize("text", UNHANDLED)
def test_other_operations_go_to_the_copy(text: str) -> None:
    assert any(op.parts is None for op in operations(text))
    (quick, gone, new), (_, gone_c, new_c) = both_ways(store_of(DATA), text)
    assert quick["ok"] and quick["copied"] is True
    assert (gone, new) == (gone_c, new_c)
    assert gone or new


@pytest.mark.parametrize("text", ERRORS)
def test_errors_are_the_copys_errors(text: str) -> None:
    (quick, *_), (copied, *_) = both_ways(store_of(DATA), text)
    assert quick["ok"] is False
    assert quick == copied


def test_too_many_solutions_go_to_the_copy() -> None:
    text = P + "INSERT { ?s ex:seen 1 } WHERE { GRAPH ?g { ?s ?p ?o } }"
    (quick, gone, new), (_, gone_c, new_c) = both_ways(store_of(DATA), text, max_solutions=2)
    assert quick["copied"] is True
    assert (gone, new) == (gone_c, new_c) and new


def test_a_failing_operation_leaves_the_store_as_it_was() -> None:
    """The first operation is applied to the worker's store before the second runs; the second
    fails (an IRI the engine cannot make): the first is taken back, the copy reports the error."""
    store = store_of(DATA)
    text = (
        P + "INSERT DATA { ex:first ex:p 1 } ; "
        "INSERT { ?s ex:p ?x } WHERE { BIND(IRI('::') AS ?x) ?s ex:p ?o }"
    )
    (quick, gone, new), (copied, gone_c, new_c) = both_ways(store, text)
    assert (quick["ok"], gone, new) == (copied["ok"], gone_c, new_c)


def random_updates(store: Store, rng: random.Random, count: int) -> list[str]:
    """Updates made from the shipped graph's own quads: deletions and insertions of data, and
    pattern updates over the union, one graph, or the named graphs."""
    quads = sorted(store, key=str)
    out = []
    for _ in range(count):
        q = rng.choice(quads)
        s, p, o, g = q.subject, q.predicate, q.object, q.graph_name
        if isinstance(s, BlankNode) or isinstance(o, BlankNode):
            continue
        graph = f"<{g.value}>" if isinstance(g, NamedNode) else None
        kind = rng.randrange(7)
        if kind == 0:
            body = f"{s} {p} {o}"
            out.append(
                f"DELETE DATA {{ GRAPH {graph} {{ {body} }} }}"
                if graph
                else f"DELETE DATA {{ {body} }}"
            )
        elif kind == 1:
            out.append(f"INSERT DATA {{ GRAPH <{BASE}graph/facts/r> {{ {s} {p} {o} }} }}")
        elif kind == 2:
            out.append(
                f"DELETE {{ ?s {p} ?o }} INSERT {{ GRAPH <{BASE}graph/facts/r> {{ ?s {p} ?o }} }} "
                f"WHERE {{ ?s {p} ?o FILTER(?s = {s}) }}"
            )
        elif kind == 3:
            out.append(
                f"DELETE {{ GRAPH ?g {{ {s} ?p ?o }} }} WHERE {{ GRAPH ?g {{ {s} ?p ?o }} }}"
            )
        elif kind == 4 and graph:
            out.append(
                f"WITH {graph} DELETE {{ ?s {p} ?o }} WHERE {{ ?s {p} ?o FILTER(?o = {o}) }}"
            )
        elif kind == 5:
            out.append(
                f"INSERT {{ GRAPH <{BASE}graph/facts/r> {{ ?x <{BASE}ontology#seen> ?t }} }} "
                f"WHERE {{ {s} {p} ?x . OPTIONAL {{ ?x a ?t }} }}"
            )
        else:
            out.append(
                f"DELETE WHERE {{ GRAPH ?g {{ {s} {p} ?o }} }} ; INSERT DATA {{ {s} {p} {o} }}"
            )
    return out


def test_random_updates_of_the_shipped_graph(write_engine) -> None:
    store = Store()
    store.extend(parse(write_engine.dump_nquads(), format=RdfFormat.N_QUADS))
    inferred = {q for q in store if str(q.graph_name) == f"<{INFERRED}>"}
    assert inferred, "the shipped data has inferred quads: the union is exercised"
    texts = random_updates(store, random.Random(20261201), 120)
    assert len(texts) >= 50
    for text in texts:
        (quick, gone, new), (copied, gone_c, new_c) = both_ways(store, text, max_solutions=200_000)
        assert quick["ok"] and copied["ok"], (text, quick, copied)
        assert quick["copied"] is False, text
        assert (gone, new) == (gone_c, new_c), text
