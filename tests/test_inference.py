"""Incremental inference (`inference.Materializer`) against recomputation from scratch
(`inference.entailments`): on random changes of the shipped data and of a small graph that uses
every rule, with undo, and with a budget a change cannot exceed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode, Quad

from lec_kg.inference import (
    DOMAIN,
    EQUIVALENT_CLASS,
    INVERSE_OF,
    OWL,
    RANGE,
    RDF_TYPE,
    SUB_CLASS,
    SUB_PROPERTY,
    SYMMETRIC,
    TRANSITIVE,
    InferenceBudgetExceeded,
    Materializer,
    Schema,
    entailments,
)
from lec_kg.namespaces import CANONICAL_BASE
from lec_kg.sources import discover
from lec_kg.store import MemoryStore

ROOT = Path(__file__).resolve().parents[1]
LEC = CANONICAL_BASE + "ontology#"


def triple(q: Quad) -> tuple:
    return (q.subject, q.predicate, q.object)


@pytest.fixture(scope="module")
def shipped() -> tuple[list[Quad], list[Quad]]:
    """The shipped quads: (ontology, facts)."""
    store = MemoryStore()
    store.load_files(discover(ROOT, CANONICAL_BASE), CANONICAL_BASE, CANONICAL_BASE)
    ontology, facts = [], []
    for q in store.quads():
        graph = q.graph_name.value
        if "/graph/ontology/" in graph:
            ontology.append(q)
        elif "/graph/facts/" in graph:
            facts.append(q)
    assert len(ontology) > 500 and len(facts) > 5000, "the shipped files are loaded"
    return ontology, facts


Item = tuple  # (triple, graph): a quad, its terms read once (pyoxigraph builds them per access)


def items(quads: list[Quad]) -> list[Item]:
    return [(triple(q), q.graph_name) for q in quads]


class Changes:
    """Random changes of a set of quads, kept beside a Materializer and checked against
    `entailments` of the current asserted triples."""

    def __init__(self, schema: Schema, quads: list[Item], seed: int) -> None:
        self.schema = schema
        self.quads = set(quads)
        self.mat = Materializer(schema, (t for t, _ in self.quads))
        self.inferred = self.mat.inferred()
        self.rng = random.Random(seed)

    def apply(self, removed: list[Item], added: list[Item], budget: int | None = None) -> None:
        removed = [q for q in dict.fromkeys(removed) if q in self.quads]
        added = [q for q in dict.fromkeys(added) if q not in self.quads]
        was, now = self.mat.change([t for t, _ in removed], [t for t, _ in added], budget)
        self.mat.commit()
        self.quads.difference_update(removed)
        self.quads.update(added)
        assert not was & now
        assert was <= self.inferred and not now & self.inferred
        self.inferred = (self.inferred - was) | now  # what the engine stores, delta by delta

    def check(self) -> None:
        full = entailments({t for t, _ in self.quads}, self.schema)
        assert self.mat.inferred() == full
        assert self.inferred == full


def test_incremental_agrees_with_full_on_random_changes_of_the_shipped_data(shipped) -> None:
    """300 random changes (removals, re-additions, new types and links, a triple stated in a
    second graph, symmetric links); the closure is compared with recomputation every 10th
    change and at the end, and the inferred graph's deltas after every change."""
    ontology, facts = (items(quads) for quads in shipped)
    schema = Schema(t for t, _ in ontology)
    assert schema.super_classes and schema.domain and schema.inverse, "the rules have work"
    changes = Changes(schema, ontology + facts, seed=20261201)
    rng = changes.rng
    graph = facts[0][1]
    other = NamedNode(CANONICAL_BASE + "graph/facts/random-changes")
    subjects = sorted({t[0] for t, _ in facts if isinstance(t[0], NamedNode)}, key=str)
    classes = sorted(schema.super_classes, key=str)
    typed_props = sorted(set(schema.domain) | set(schema.range) | set(schema.inverse), key=str)
    alternative = NamedNode(LEC + "alternativeTo")  # symmetric: it joins competing statements
    statements = sorted(
        {t[0] for t, _ in facts if t[1] == RDF_TYPE and t[2] == NamedNode(LEC + "Statement")},
        key=str,
    )
    assert statements, "the shipped facts hold statements"
    removable = list(facts)
    taken: list[Item] = []

    def new_item() -> Item:
        s, o = rng.choice(subjects), rng.choice(subjects)
        pick = rng.random()
        if pick < 0.35:
            return ((s, RDF_TYPE, rng.choice(classes)), rng.choice([graph, other]))
        if pick < 0.75:
            return ((s, rng.choice(typed_props), o), rng.choice([graph, other]))
        if pick < 0.9:  # a triple already asserted elsewhere, now in a second graph too
            return (rng.choice(facts)[0], other)
        return ((rng.choice(statements), alternative, rng.choice(statements)), other)

    for step in range(300):
        removed = [removable[rng.randrange(len(removable))] for _ in range(rng.randint(0, 4))]
        added = [new_item() for _ in range(rng.randint(0, 3))]
        if taken and rng.random() < 0.5:
            added.append(taken.pop(rng.randrange(len(taken))))
        taken.extend(q for q in removed if q in changes.quads)
        removable.extend(added)
        changes.apply(removed, added)
        if step % 10 == 0:
            changes.check()
    changes.check()


EX = "http://example.org/"


def ex(name: str) -> NamedNode:
    return NamedNode(EX + name)


def every_rule_schema() -> list[tuple]:
    """A small ontology using every rule, transitivity and a cycle of classes included."""
    return [
        (ex("A"), SUB_CLASS, ex("B")),
        (ex("B"), SUB_CLASS, ex("C")),
        (ex("C"), EQUIVALENT_CLASS, ex("D")),
        (ex("E"), SUB_CLASS, ex("A")),
        (ex("sub"), SUB_PROPERTY, ex("super")),
        (ex("super"), DOMAIN, ex("E")),
        (ex("super"), RANGE, ex("B")),
        (ex("sub"), INVERSE_OF, ex("inv")),
        (ex("inv"), RANGE, ex("D")),
        (ex("sym"), RDF_TYPE, SYMMETRIC),
        (ex("part"), RDF_TYPE, TRANSITIVE),
        (ex("part"), DOMAIN, ex("A")),
        (ex("within"), SUB_PROPERTY, ex("part")),
        (ex("text"), RANGE, ex("C")),
    ]


def random_graph_quads(rng: random.Random, n: int) -> list[Quad]:
    nodes = [ex(f"n{i}") for i in range(12)] + [BlankNode("b1")]
    props = [ex(p) for p in ("sub", "super", "inv", "sym", "part", "within", "other")]
    graphs = [ex("g1"), ex("g2")]
    out = []
    for _ in range(n):
        s = rng.choice(nodes)
        if rng.random() < 0.25:
            o = rng.choice([ex(c) for c in "ABCDE"])
            out.append(Quad(s, RDF_TYPE, o, rng.choice(graphs)))
        elif rng.random() < 0.1:
            out.append(Quad(s, ex("text"), Literal(f"v{rng.randint(0, 3)}"), rng.choice(graphs)))
        else:
            out.append(Quad(s, rng.choice(props), rng.choice(nodes), rng.choice(graphs)))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_agrees_with_full_under_every_rule(seed: int) -> None:
    """Transitive chains (withdrawn and rederived by DRed), inverses, symmetry, sub-properties,
    domains, ranges and equivalent classes, on 150 random changes."""
    axioms = every_rule_schema()
    schema = Schema(axioms)
    ontology = [Quad(*t, ex("ontology")) for t in axioms]
    rng = random.Random(seed)
    changes = Changes(schema, items(ontology + random_graph_quads(rng, 30)), seed)
    chained = 0
    for _ in range(150):
        current = sorted((q for q in changes.quads if q[1] != ex("ontology")), key=str)
        removed = rng.sample(current, min(len(current), rng.randint(0, 4)))
        changes.apply(removed, items(random_graph_quads(rng, rng.randint(0, 4))))
        changes.check()
        chained += any(t[1] == ex("part") for t in changes.inferred)
    assert chained > 10, "transitive chains were built and broken"


def test_a_rolled_back_change_leaves_nothing_behind() -> None:
    schema = Schema(every_rule_schema())
    asserted = [(ex("a"), ex("part"), ex("b")), (ex("b"), ex("part"), ex("c"))]
    mat = Materializer(schema, asserted)
    before = mat.inferred()
    was, now = mat.change([asserted[0]], [(ex("c"), ex("part"), ex("d"))])
    assert (ex("a"), ex("part"), ex("c")) in was and (ex("b"), ex("part"), ex("d")) in now
    mat.rollback()
    assert mat.inferred() == before
    mat.change([], [(ex("c"), ex("part"), ex("d"))])
    mat.commit()
    assert mat.inferred() == entailments([*asserted, (ex("c"), ex("part"), ex("d"))], schema)


def test_a_change_over_the_budget_is_refused_and_undone() -> None:
    """Joining two chains of 40 under a transitive property would derive 41 * 41 triples."""
    schema = Schema(every_rule_schema())
    left = [(ex(f"l{i}"), ex("part"), ex(f"l{i + 1}")) for i in range(40)]
    right = [(ex(f"r{i}"), ex("part"), ex(f"r{i + 1}")) for i in range(40)]
    mat = Materializer(schema, left + right)
    before = mat.inferred()
    join = (ex("l40"), ex("part"), ex("r0"))
    with pytest.raises(InferenceBudgetExceeded) as err:
        mat.change([], [join], budget=1000)
    assert err.value.budget == 1000
    assert mat.inferred() == before
    small = (ex("x"), ex("part"), ex("l0"))  # 41 new triples: within the budget
    was, now = mat.change([], [small], budget=1000)
    mat.commit()
    assert not was and now == mat.inferred() - before
    assert {(ex("x"), ex("part"), ex(f"l{i}")) for i in range(1, 41)} <= now
    assert mat.inferred() == entailments([*left, *right, small], schema)


def test_schema_stated_as_data_does_not_change_the_rules(shipped) -> None:
    """The schema is the ontology's: the same axiom among the data is only a triple."""
    ontology, facts = shipped
    schema = Schema(triple(q) for q in ontology)
    nothing = (NamedNode(LEC + "ExtraditionTreaty"), SUB_CLASS, NamedNode(OWL + "Nothing"))
    mat = Materializer(schema, [*(triple(q) for q in ontology + facts), nothing])
    assert not any(t[2] == NamedNode(OWL + "Nothing") for t in mat.inferred())
