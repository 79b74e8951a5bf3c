"""Statements: a query that does not mention certainty returns what the report states.

Over every lec:Statement of the shipped graph (ontology + graph, default graph = their union, as
in test_competency): an uncertain or competing reading's triple is not asserted, and the opt-in
query through lec:statementSubject/Predicate/Object finds it; a stated or reconstructed single
reading's triple is asserted; no fact node carries lec:certainty. A mutation shows the check
catches a contested reading asserted as fact, and the queries a newcomer writes about Cyprus
(Figure 1's 'Cyprus (Apr 15)') leave its contested readings out, while an opt-in query sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import pyoxigraph as ox
import pytest

from tests.support import ROOT

LEC = "https://w3id.org/lec-kg/ontology#"
ID = "https://w3id.org/lec-kg/id/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
STATED, RECONSTRUCTED, UNCERTAIN = (
    f"{ID}code/certainty/{c}" for c in ("stated", "reconstructed", "uncertain")
)
CYPRUS = f"{ID}event/activity-cy-2015-04"
PREFIXES = f"""
PREFIX lec: <{LEC}>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX org: <http://www.w3.org/ns/org#>
PREFIX state: <{ID}state/>
PREFIX organisation: <{ID}organisation/>
PREFIX certainty: <{ID}code/certainty/>
"""


def load(extra: list[ox.Quad] | None = None) -> ox.Store:
    """A store with every ontology and graph file, one named graph each (plus `extra` quads)."""
    store = ox.Store()
    for folder in ("ontology", "graph"):
        for path in sorted((ROOT / folder).glob("*.ttl")):
            graph = ox.NamedNode(f"file:{path.name}")
            store.bulk_load(path=str(path), format=ox.RdfFormat.TURTLE, to_graph=graph)
    for quad in extra or []:
        store.add(quad)
    return store


@cache
def shipped() -> ox.Store:
    return load()


def query(store: ox.Store, text: str) -> ox.QuerySolutions | ox.QueryBoolean:
    return store.query(PREFIXES + text, use_default_graph_as_union=True)


@dataclass(frozen=True)
class Statement:
    iri: str
    subject: ox.NamedNode
    predicate: ox.NamedNode
    value: ox.NamedNode | ox.Literal
    certainty: str
    competing: bool

    @property
    def contested(self) -> bool:
        """Uncertain, or one of competing readings: its triple must not be asserted."""
        return self.certainty == UNCERTAIN or self.competing

    @property
    def pattern(self) -> str:
        """The triple as a SPARQL pattern; a kind is found through its subclasses too."""
        path = "a/rdfs:subClassOf*" if self.predicate.value == RDF_TYPE else str(self.predicate)
        return f"{self.subject} {path} {self.value}"


def statements(store: ox.Store) -> list[Statement]:
    rows = query(
        store,
        """SELECT ?st ?s ?p ?o ?c (BOUND(?other) AS ?competing) WHERE {
            ?st a lec:Statement ; lec:statementSubject ?s ; lec:statementPredicate ?p ;
                lec:statementObject ?o ; lec:certainty ?c .
            OPTIONAL { { ?st lec:alternativeTo ?other } UNION { ?other lec:alternativeTo ?st } }
        }""",
    )
    found = {}
    for r in rows:
        st = Statement(
            r["st"].value, r["s"], r["p"], r["o"], r["c"].value, r["competing"].value == "true"
        )
        if st.iri not in found or st.competing:
            found[st.iri] = st
    return sorted(found.values(), key=lambda s: s.iri)


def asserted(store: ox.Store, st: Statement) -> bool:
    """The plain query: is the triple in the graph, whatever any statement says of it?"""
    return bool(query(store, f"ASK {{ {st.pattern} }}"))


def found_on_request(store: ox.Store, st: Statement) -> bool:
    """The opt-in query: a statement about this triple, with its certainty."""
    return bool(
        query(
            store,
            f"""ASK {{ ?st lec:statementSubject {st.subject} ;
                lec:statementPredicate {st.predicate} ; lec:statementObject {st.value} ;
                lec:certainty ?certainty }}""",
        )
    )


def confirmed(store: ox.Store, st: Statement) -> bool:
    """Another statement, a stated or reconstructed single reading, asserts the same triple."""
    return bool(
        query(
            store,
            f"""ASK {{
                ?other lec:statementSubject {st.subject} ; lec:statementPredicate {st.predicate} ;
                    lec:statementObject {st.value} ;
                    lec:certainty ?c .
                FILTER(?c IN (certainty:stated, certainty:reconstructed))
                FILTER NOT EXISTS {{ ?other lec:alternativeTo ?x }}
                FILTER NOT EXISTS {{ ?x lec:alternativeTo ?other }}
            }}""",
        )
    )


def problems(store: ox.Store) -> list[str]:
    """Every statement whose triple a plain query would get wrong."""
    out = []
    for st in statements(store):
        if st.contested and asserted(store, st) and not confirmed(store, st):
            out.append(f"contested reading asserted as fact: {st.iri}")
        if not st.contested and not asserted(store, st):
            out.append(f"stated or reconstructed reading not asserted: {st.iri}")
    return out


def short(st: Statement) -> str:
    return st.iri.removeprefix(f"{ID}statement/")


CONTESTED = [st for st in statements(shipped()) if st.contested]
SINGLE = [st for st in statements(shipped()) if not st.contested]


def test_the_graph_has_statements_of_every_kind() -> None:
    """The suite cannot shrink in silence: readings of each certainty, competing ones included."""
    assert len(SINGLE) >= 20
    assert {st.certainty for st in SINGLE} >= {RECONSTRUCTED}
    assert len(CONTESTED) >= 8
    assert len([st for st in CONTESTED if st.competing]) >= 3


@pytest.mark.parametrize("st", CONTESTED, ids=short)
def test_a_contested_reading_is_not_asserted_but_found_on_request(st: Statement) -> None:
    store = shipped()
    assert not asserted(store, st) or confirmed(store, st), f"{st.pattern} is asserted"
    assert found_on_request(store, st)


@pytest.mark.parametrize("st", SINGLE, ids=short)
def test_a_stated_or_reconstructed_reading_is_asserted(st: Statement) -> None:
    assert asserted(shipped(), st), f"{st.pattern} is missing"


def test_doubt_sits_on_statements_only() -> None:
    """No fact node carries lec:certainty; lec:alternativeTo joins statements only."""
    rows = query(
        shipped(),
        """SELECT DISTINCT ?node WHERE {
            { ?node lec:certainty ?c }
            UNION { ?node lec:alternativeTo ?o }
            UNION { ?o lec:alternativeTo ?node }
            FILTER NOT EXISTS { ?node a lec:Statement }
        }""",
    )
    assert [r["node"].value for r in rows] == []


def test_the_shipped_graph_passes_the_check() -> None:
    assert problems(shipped()) == []


def test_the_check_catches_a_contested_reading_asserted_as_fact() -> None:
    """Mutations on a copy: the Cyprus activity asserted as an extradition, and a reconstructed
    reading (Europol in the Spanish operation) dropped; each is named, the original stays clean."""
    graph = ox.NamedNode("file:mutation.ttl")
    extradition = ox.Quad(
        ox.NamedNode(CYPRUS), ox.NamedNode(RDF_TYPE), ox.NamedNode(f"{LEC}Extradition"), graph
    )
    copy = load([extradition])
    assert problems(copy) == [
        "contested reading asserted as fact: "
        f"{ID}statement/event-activity-cy-2015-04--type--extradition"
    ]
    europol = ox.Quad(
        ox.NamedNode(f"{ID}event/joint-operation-es-2016-04"),
        ox.NamedNode(f"{LEC}participant"),
        ox.NamedNode(f"{ID}body/europol"),
    )
    copy = load()
    for quad in list(copy.quads_for_pattern(europol.subject, europol.predicate, europol.object)):
        copy.remove(quad)
    assert problems(copy) == [
        "stated or reconstructed reading not asserted: "
        f"{ID}statement/event-joint-operation-es-2016-04--participant--europol"
    ]
    assert problems(shipped()) == []


def values(store: ox.Store, text: str) -> list[str]:
    return sorted(
        next(iter(solution)).value
        for solution in query(store, text)  # type: ignore[union-attr]
    )


def test_cyprus_plain_queries_leave_the_contested_readings_out() -> None:
    store = shipped()
    # the first query a newcomer writes: no extradition from Cyprus is stated
    assert values(store, "SELECT ?e WHERE { ?e a lec:Extradition ; lec:fromState state:CY }") == []
    # extraditions to China from EU member states: France's two and five others' first ones
    count = """SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {
        ?e a lec:Extradition ; lec:fromState ?s ; lec:toState state:CN .
        ?s org:memberOf organisation:eu }"""
    assert values(store, count) == ["7"]
    repatriated_from = """SELECT DISTINCT ?s WHERE {
        ?e a lec:InformalRepatriation ; lec:fromState ?s . ?s org:memberOf organisation:eu }"""
    assert values(store, repatriated_from) == [f"{ID}state/GB"]
    # what happened with Cyprus in April 2015: an event, kind not stated
    cyprus = """PREFIX xsd: <http://www.w3.org/2001/XMLSchema#>
        SELECT DISTINCT ?e WHERE { ?e lec:place state:CY ; lec:date "2015-04"^^xsd:gYearMonth }"""
    assert values(store, cyprus) == [CYPRUS]
    kinds = f"SELECT ?kind WHERE {{ <{CYPRUS}> a ?kind }}"
    assert values(store, kinds) == [f"{LEC}Event"]


def test_cyprus_opt_in_queries_see_the_contested_readings() -> None:
    store = shipped()
    readings = f"""SELECT DISTINCT ?kind WHERE {{
        ?st lec:statementSubject <{CYPRUS}> ; lec:statementPredicate rdf:type ;
            lec:statementObject ?kind ; lec:certainty certainty:uncertain ;
            lec:alternativeTo ?other }}"""
    assert values(store, readings) == [
        f"{LEC}CooperationActivity",
        f"{LEC}Extradition",
        f"{LEC}InformalRepatriation",
    ]
    # the same count with the readings let in: the Cyprus extradition reading makes it 8
    count = """SELECT (COUNT(DISTINCT ?e) AS ?n) WHERE {
        { ?e a lec:Extradition }
        UNION { ?a lec:statementSubject ?e ; lec:statementPredicate rdf:type ;
                    lec:statementObject lec:Extradition }
        { ?e lec:fromState ?s }
        UNION { ?b lec:statementSubject ?e ; lec:statementPredicate lec:fromState ;
                    lec:statementObject ?s }
        { ?e lec:toState state:CN }
        UNION { ?c lec:statementSubject ?e ; lec:statementPredicate lec:toState ;
                    lec:statementObject state:CN }
        ?s org:memberOf organisation:eu }"""
    assert values(store, count) == ["8"]
