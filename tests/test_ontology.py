"""The ontology is consistent under HermiT, and the lint rules in tests/lint/*.rq find nothing.

Each lint file is one rule: its first comment line states the rule, its SELECT lists the offenders
and must return no row. The rules run over the union of ontology/, shapes/ and graph/ (a term used
in the facts or shapes but never declared is a defect), loaded into Oxigraph.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import owlready2
import pyoxigraph as ox
import pytest
from rdflib import Graph

from .support import ROOT

LINT = sorted((ROOT / "tests" / "lint").glob("*.rq"))
LINT_RULES = 8  # the number of rule files; raise it when you add one


def turtle_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).glob("*.ttl"))]


@cache
def ontology_graph() -> Graph:
    g = Graph()
    for path in turtle_files("ontology"):
        g.parse(path, format="turtle")
    return g


@cache
def everything() -> ox.Store:
    store = ox.Store()
    for path in turtle_files("ontology", "shapes", "graph"):
        store.load(path=str(path), format=ox.RdfFormat.TURTLE, base_iri=path.as_uri())
    return store


def test_lint_suite_is_complete():
    """Counting the rule files keeps the suite from shrinking in silence."""
    assert len(LINT) == LINT_RULES, [p.name for p in LINT]
    for path in LINT:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Rule: ") and len(first) > 20, f"{path.name}: {first!r}"


@pytest.mark.parametrize("path", LINT, ids=lambda p: p.stem)
def test_lint_rule_finds_nothing(path: Path):
    rows = list(everything().query(path.read_text(encoding="utf-8")))
    rule = path.read_text(encoding="utf-8").splitlines()[0][2:]
    assert rows == [], f"{rule}\n" + "\n".join(
        " ".join(str(row[i]) for i in range(len(row))) for row in rows[:20]
    )


@pytest.mark.parametrize("path", LINT, ids=lambda p: p.stem)
def test_lint_rule_can_fail(path: Path):
    """Each rule fires on a planted defect: a lint query that cannot fail proves nothing."""
    store = ox.Store()
    for source in turtle_files("ontology", "shapes"):
        store.load(path=str(source), format=ox.RdfFormat.TURTLE, base_iri=source.as_uri())
    store.update(DEFECTS[path.stem])
    assert list(store.query(path.read_text(encoding="utf-8"))), f"{path.stem} found no defect"


PREFIXES = """
PREFIX lec:     <https://w3id.org/lec-kg/ontology#>
PREFIX owl:     <http://www.w3.org/2002/07/owl#>
PREFIX rdfs:    <http://www.w3.org/2000/01/rdf-schema#>
PREFIX skos:    <http://www.w3.org/2004/02/skos/core#>
PREFIX dcterms: <http://purl.org/dc/terms/>
"""
DEFECTS = {
    "term-without-label": PREFIXES + "INSERT DATA { lec:Orphan a owl:Class }",
    "term-without-definition": PREFIXES + "DELETE WHERE { lec:State skos:definition ?d }",
    "term-without-is-defined-by": PREFIXES + "DELETE WHERE { lec:Place rdfs:isDefinedBy ?o }",
    "duplicate-label": PREFIXES + 'INSERT DATA { lec:Country a owl:Class ; rdfs:label "State"@en }',
    "used-but-not-declared": PREFIXES
    + "INSERT DATA { <https://w3id.org/lec-kg/id/event/x> a lec:Extradtion }",
    "header-incomplete": PREFIXES
    + "DELETE WHERE { <https://w3id.org/lec-kg/ontology> dcterms:modified ?m }",
    "label-language-mixed": PREFIXES + 'INSERT DATA { lec:State rdfs:label "state" }',
    "self-inverse-property": PREFIXES + "INSERT DATA { lec:party owl:inverseOf lec:party }",
}


@pytest.mark.java
def test_ontology_is_consistent_under_hermit(tmp_path: Path):
    """HermiT (bundled with owlready2, run on Java) finds the ontology consistent and no class
    unsatisfiable. The Turtle is converted to N-Triples for owlready2 first."""
    nt = tmp_path / "lec.nt"
    ontology_graph().serialize(nt, format="nt", encoding="utf-8")
    world = owlready2.World()
    onto = world.get_ontology(nt.as_uri()).load()
    try:
        with onto:
            owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
    except owlready2.OwlReadyInconsistentOntologyError as exc:  # pragma: no cover - the failure
        pytest.fail(f"HermiT finds the ontology inconsistent: {exc}")
    unsatisfiable = [c for c in world.inconsistent_classes() if c is not owlready2.Nothing]
    assert unsatisfiable == []
    assert len(list(onto.classes())) >= 40  # the ontology was really loaded and reasoned over


@pytest.mark.java
def test_hermit_detects_an_unsatisfiable_class(tmp_path: Path):
    """The reasoner check can fail: a class below two disjoint classes is reported."""
    g = Graph()
    g += ontology_graph()
    g.update(
        PREFIXES
        + """INSERT DATA {
            lec:State owl:disjointWith lec:Organisation .
            lec:StateOrganisation a owl:Class ; rdfs:subClassOf lec:State , lec:Organisation .
        }"""
    )
    nt = tmp_path / "broken.nt"
    g.serialize(nt, format="nt", encoding="utf-8")
    world = owlready2.World()
    onto = world.get_ontology(nt.as_uri()).load()
    with onto:
        owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
    names = {c.name for c in world.inconsistent_classes()}
    assert "StateOrganisation" in names
