"""Focused validation (`focused`, the engine's `_judge` and `check`) agrees with whole-graph
validation.

For a change, whole-graph validation of the candidate graph gives findings F_after; of the graph
before it, F_before. With A the nodes the change can affect, focused validation must give
exactly the findings of F_after on A, and F_after and F_before must agree on every node outside
A (so "conforms" agrees: the graph before conforms). A finding is compared as (focus, shape,
path, value, severity).

Changes: every shape fixture (tests/fixtures/shapes/valid and invalid) added on top of
tests/fixtures/shapes/base.ttl, and seeded random mutations of the shipped graph, additions and
deletions (a triple a statement says must be asserted, the type of a node others point to, a
passage's quote, ...). The seed of a failing change is in the message; a larger run is marked
`slow`.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat, parse

from lec_kg.config import Settings
from lec_kg.engine import OxigraphEngine, build_engine
from lec_kg.gate import to_rdflib
from lec_kg.validation import load_validator

from .support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "shapes"
SHAPE_FIXTURES = sorted((FIXTURES / "valid").glob("*.ttl")) + sorted(
    (FIXTURES / "invalid").glob("*.ttl")
)
LEC = "https://w3id.org/lec-kg/ontology#"
RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS_LABEL = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
CERTAINTY = "https://w3id.org/lec-kg/id/code/certainty/"
MUTATIONS = 20  # changes of 1-8 mutations each; whole-graph validation takes seconds a change
SLOW_MUTATIONS = 150

Key = tuple


def test_fixture_count() -> None:
    """The fixtures are found (a suite that shrinks in silence tests nothing)."""
    assert len(SHAPE_FIXTURES) >= 150


# ------------------------------------------------------------ helpers


def keys(report: Any) -> set[Key]:
    return {(f.focus, f.shape, f.path, f.value, f.severity) for f in report.findings}


def whole(engine: OxigraphEngine, removed: list[Quad], added: list[Quad]) -> Any:
    """Whole-graph validation of the store as it would be after the change, the rules for new
    facts (shapes/submission.ttl) judging the nodes the change describes (its added subjects)."""
    gone = set(removed)
    candidate = [q for q in engine._store.quads() if q not in gone] + added
    report = engine._validate(*engine._validation_data(candidate), submission=True)
    described = {to_rdflib(q.subject) for q in added}
    rules = engine._submission_rules
    assert rules, "the rules for new facts are read from the shapes"
    return replace(
        report,
        findings=tuple(f for f in report.findings if f.shape not in rules or f.focus in described),
    )


def affected(engine: OxigraphEngine, removed: list[Quad], added: list[Quad]) -> set:
    """The nodes the change can affect, as the findings name them."""
    return {to_rdflib(n) for n in engine._affected(removed, added)[1]}


def assert_agree(
    engine: OxigraphEngine, before: set[Key], removed: list[Quad], added: list[Quad], what: str
) -> None:
    assert engine._reach is not None and engine._reach.complete, "the analysis gave up"
    removed = [q for q in removed if engine._store.contains(q)]
    added = [q for q in dict.fromkeys(added) if not engine._store.contains(q)]
    focus = affected(engine, removed, added)
    after_report = whole(engine, removed, added)
    after = keys(after_report)
    focused_report = engine.check(removed, added)
    focused = keys(focused_report)
    expected = {k for k in after if k[0] in focus}
    assert focused == expected, (
        f"{what}: focused and whole-graph findings differ on the affected nodes; "
        f"only focused: {sorted(map(str, focused - expected))[:5]}; "
        f"only whole: {sorted(map(str, expected - focused))[:5]}"
    )
    outside_after = {k for k in after if k[0] not in focus}
    outside_before = {k for k in before if k[0] not in focus}
    assert outside_after == outside_before, (
        f"{what}: findings changed on nodes the analysis left out: "
        f"new {sorted(map(str, outside_after - outside_before))[:5]}; "
        f"gone {sorted(map(str, outside_before - outside_after))[:5]}"
    )
    assert focused_report.conforms == after_report.conforms, what


# ------------------------------------------------------------ the shape fixtures


@pytest.fixture(scope="module")
def base_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OxigraphEngine]:
    """An engine whose facts are tests/fixtures/shapes/base.ttl alone."""
    source = tmp_path_factory.mktemp("base-source")
    shutil.copytree(ROOT / "ontology", source / "ontology")
    shutil.copytree(ROOT / "shapes", source / "shapes")
    (source / "graph").mkdir()
    shutil.copy(FIXTURES / "base.ttl", source / "graph" / "base.ttl")
    settings = Settings(source_dir=source, data_dir=None)
    engine = build_engine(settings, load_validator(settings), query_workers=1)
    assert engine.is_ready(), engine.not_ready_reason
    yield engine
    engine.close()


@pytest.mark.parametrize("path", SHAPE_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture_as_a_change(base_engine: OxigraphEngine, path: Path) -> None:
    """A shape fixture added to base.ttl: focused and whole-graph validation agree."""
    graph = NamedNode(f"{base_engine.settings.base_iri}graph/facts/{path.stem}")
    added = [
        Quad(t.subject, t.predicate, t.object, graph)
        for t in parse(path.read_bytes(), format=RdfFormat.TURTLE, base_iri=str(path.as_uri()))
    ]
    before = keys(base_engine.startup_report)
    assert_agree(base_engine, before, [], added, f"fixture {path.name}")


# ------------------------------------------------------------ random mutations


@pytest.fixture(scope="module")
def shipped(settings: Settings) -> Iterator[OxigraphEngine]:
    engine = build_engine(replace(settings), load_validator(settings), query_workers=1)
    assert engine.is_ready(), engine.not_ready_reason
    yield engine
    engine.close()


class Mutator:
    """Random changes of the shipped graph's judged quads, seeded."""

    def __init__(self, engine: OxigraphEngine, seed: int) -> None:
        self.rng = random.Random(seed)
        self.quads = sorted((q for q in engine._store.quads() if engine._judged(q)), key=str)
        self.nodes = sorted({q.subject for q in self.quads}, key=str)
        self.pointed = sorted(
            {q.object for q in self.quads if isinstance(q.object, NamedNode | BlankNode)}, key=str
        )
        self.by_subject: dict = {}
        for q in self.quads:
            self.by_subject.setdefault(q.subject, []).append(q)
        self.predicates = sorted({q.predicate for q in self.quads}, key=str)
        self.fresh = 0

    def of(self, subject: Any, predicate: str) -> list[Quad]:
        return [q for q in self.by_subject.get(subject, []) if q.predicate.value == predicate]

    def change(self) -> tuple[list[Quad], list[Quad], list[str]]:
        removed: list[Quad] = []
        added: list[Quad] = []
        done = []
        for _ in range(self.rng.randint(1, 8)):
            kind = self.rng.choice(KINDS)
            done.append(kind)
            getattr(self, kind)(removed, added)
        return removed, added, done

    def pick(self, items: list) -> Any:
        return items[self.rng.randrange(len(items))]

    # deletions
    def delete_any(self, removed: list, added: list) -> None:
        removed.append(self.pick(self.quads))

    def delete_asserted_triple(self, removed: list, added: list) -> None:
        """The plain triple a stated statement says must be asserted."""
        asserted = (NamedNode(CERTAINTY + "stated"), NamedNode(CERTAINTY + "reconstructed"))
        st = self.pick([q.subject for q in self.quads if q.object in asserted])
        parts = [self.of(st, LEC + f"statement{k}") for k in ("Subject", "Predicate", "Object")]
        if all(parts):
            s, p, o = (x[0].object for x in parts)
            removed.extend(
                q for q in self.by_subject.get(s, []) if q.predicate == p and q.object == o
            )

    def delete_pointed_type(self, removed: list, added: list) -> None:
        """The type of a node others point to (sh:class on them)."""
        node = self.pick(self.pointed)
        removed.extend(self.of(node, str(RDF_TYPE.value)))

    def delete_quote(self, removed: list, added: list) -> None:
        passages = [q.subject for q in self.quads if q.predicate.value == LEC + "quote"]
        removed.extend(self.of(self.pick(passages), LEC + "quote"))

    def delete_node(self, removed: list, added: list) -> None:
        removed.extend(self.by_subject[self.pick(self.nodes)])

    # additions
    def add_copied_value(self, removed: list, added: list) -> None:
        """A value of one node given to another with the same predicate (a second label,
        a second state, a value of the wrong kind)."""
        q = self.pick(self.quads)
        other = self.pick(self.nodes)
        added.append(Quad(other, q.predicate, q.object, q.graph_name))

    def add_wrong_object(self, removed: list, added: list) -> None:
        q = self.pick(self.quads)
        obj = self.pick([self.pick(self.pointed), Literal("x"), Literal("2016", language="en")])
        removed.append(q)
        added.append(Quad(q.subject, q.predicate, obj, q.graph_name))

    def add_type(self, removed: list, added: list) -> None:
        types = sorted({q.object for q in self.quads if q.predicate == RDF_TYPE}, key=str)
        q = self.pick(self.quads)
        added.append(Quad(q.subject, RDF_TYPE, self.pick(types), q.graph_name))

    def add_new_node(self, removed: list, added: list) -> None:
        """A new fact node pointing at an old one, typed like a random node."""
        q = self.pick([q for q in self.quads if q.predicate == RDF_TYPE])
        self.fresh += 1
        node = NamedNode(f"https://w3id.org/lec-kg/id/event/mutation-{self.fresh}")
        added.append(Quad(node, RDF_TYPE, q.object, q.graph_name))
        added.append(Quad(node, RDFS_LABEL, Literal("new", language="en"), q.graph_name))
        link = self.pick(self.quads)
        added.append(Quad(node, link.predicate, link.object, q.graph_name))

    def add_plain_triple_of_uncertain(self, removed: list, added: list) -> None:
        statements = [
            q.subject for q in self.quads if q.object == NamedNode(CERTAINTY + "uncertain")
        ]
        st = self.pick(statements)
        parts = [self.of(st, LEC + f"statement{k}") for k in ("Subject", "Predicate", "Object")]
        if all(parts):
            s, p, o = (x[0].object for x in parts)
            added.append(Quad(s, p, o, self.pick(self.quads).graph_name))

    def add_alternative(self, removed: list, added: list) -> None:
        statements = [q.subject for q in self.quads if q.predicate.value == LEC + "certainty"]
        a, b = self.pick(statements), self.pick(statements)
        added.append(Quad(a, NamedNode(LEC + "alternativeTo"), b, self.pick(self.quads).graph_name))


KINDS = [name for name in vars(Mutator) if name.startswith(("delete_", "add_"))]


def run_mutations(engine: OxigraphEngine, first: int, count: int) -> None:
    before = keys(engine.startup_report)
    mutator_by_seed = Mutator(engine, 0)
    for seed in range(first, first + count):
        mutator_by_seed.rng.seed(seed)
        removed, added, kinds = mutator_by_seed.change()
        assert_agree(engine, before, removed, added, f"mutation seed {seed} ({', '.join(kinds)})")


def test_random_mutations(shipped: OxigraphEngine) -> None:
    """Seeded random changes of the shipped graph, deletions included."""
    run_mutations(shipped, 0, MUTATIONS)


@pytest.mark.slow
def test_many_random_mutations(shipped: OxigraphEngine) -> None:
    run_mutations(shipped, 1000, SLOW_MUTATIONS)
