"""The ontology is consistent under HermiT, and the lint rules in tests/lint/*.rq find nothing.

Each lint file is one rule: its first comment line states the rule, its SELECT lists the offenders
and must return no row. The rules run over the union of ontology/, shapes/ and graph/ (a term used
in the facts or shapes but never declared is a defect), loaded into Oxigraph.

The merged ontology, code lists and facts are classified twice, by HermiT and by the OWL 2 RL
closure (`owlrl`): no class is unsatisfiable, nothing is inconsistent, and no node is reasoned into
a kind it is not asserted in. The kinds are the classes the ontology declares disjoint (members of
an owl:AllDisjointClasses or either side of owl:disjointWith): a state reasoned into a person
through a range, or an untyped node reasoned into an actor, is a modelling or data defect.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import owlready2
import owlrl
import pyoxigraph as ox
import pytest
from rdflib import OWL, RDF, RDFS, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.term import Node

from .support import ROOT

LINT = sorted((ROOT / "tests" / "lint").glob("*.rq"))
LINT_RULES = 11  # the number of rule files; raise it when you add one


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
    "skos-mapping-on-non-concept": PREFIXES
    + "INSERT DATA { <https://w3id.org/lec-kg/id/state/FR> a lec:State ;"
    " skos:exactMatch <http://www.wikidata.org/entity/Q142> }",
    "header-incomplete": PREFIXES
    + "DELETE WHERE { <https://w3id.org/lec-kg/ontology> dcterms:modified ?m }",
    "label-language-mixed": PREFIXES + 'INSERT DATA { lec:State rdfs:label "state" }',
    "self-inverse-property": PREFIXES + "INSERT DATA { lec:party owl:inverseOf lec:party }",
    "claim-without-argument": PREFIXES
    + "INSERT DATA { <https://w3id.org/lec-kg/id/claim/x> a lec:Claim ;"
    " lec:statementSubject <https://w3id.org/lec-kg/id/state/FR> }",
    "reading-without-argument": PREFIXES
    + "INSERT DATA { <https://w3id.org/lec-kg/id/statement/x> a lec:Statement ;"
    " lec:certainty <https://w3id.org/lec-kg/id/code/certainty/reconstructed> ;"
    ' lec:uncertaintyNote "a note is no argument"@en .'
    " <https://w3id.org/lec-kg/id/recommendation/x> a lec:Recommendation }",
}


@pytest.mark.parametrize(
    "defect",
    [
        "<https://w3id.org/lec-kg/id/document/x> a <http://purl.org/ontology/bibo/Book> .",
        '<https://w3id.org/lec-kg/id/document/x> dcterms:bibliographicCitation "x" .',
        "<https://w3id.org/lec-kg/id/x> <http://example.org/vocab#partner> <urn:y> .",
        "<https://w3id.org/lec-kg/id/x> a <http://example.org/vocab#Thing> .",
        "[] <http://www.w3.org/ns/shacl#path> <http://example.org/vocab#p> .",
    ],
    ids=["reused-class", "reused-property", "other-predicate", "other-class", "shape-path"],
)
def test_undeclared_reused_terms_are_found(defect: str):
    """The rule covers every vocabulary, not only ours: a BIBO class, a Dublin Core property, and
    any predicate, class or shape path of a namespace it does not know."""
    store = ox.Store()
    for source in turtle_files("ontology", "shapes"):
        store.load(path=str(source), format=ox.RdfFormat.TURTLE, base_iri=source.as_uri())
    store.update(PREFIXES + "INSERT DATA { " + defect + " }")
    rule = (ROOT / "tests" / "lint" / "used-but-not-declared.rq").read_text(encoding="utf-8")
    assert list(store.query(rule)), defect


def test_no_fact_node_is_a_skos_concept_by_mapping():
    """Links to Wikidata use lec:wikidataItem (no SKOS or OWL semantics): no skos:exactMatch is
    left in the facts, and the 32 links of states, organisations and persons are kept."""
    rows = everything().query(
        "SELECT (COUNT(*) AS ?n) WHERE { ?s <http://www.w3.org/2004/02/skos/core#exactMatch> ?o }"
    )
    assert next(iter(rows))[0].value == "0"
    rows = everything().query(
        "SELECT (COUNT(*) AS ?n) WHERE { ?s <https://w3id.org/lec-kg/ontology#wikidataItem> ?o"
        " FILTER(STRSTARTS(STR(?o), 'http://www.wikidata.org/entity/Q')) }"
    )
    assert int(next(iter(rows))[0].value) >= 32


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


# ------------------------------------------------------------------ the merged graph, classified

# Datatypes outside the OWL 2 datatype map: HermiT refuses them, so their literals are handed to it
# as plain strings (no class or property axiom of the ontology depends on a date's value).
XSD = "http://www.w3.org/2001/XMLSchema#"  # a plain string: pytest probes rdflib's XSD namespace
NOT_OWL2_DATATYPES = {
    URIRef(XSD + n) for n in ("date", "gYear", "gYearMonth", "gMonth", "gDay", "time")
}
GHOST = "https://w3id.org/lec-kg/id/organisation/ghost"
PLANTED = {
    # a state reasoned into a person through lec:personConcerned's range: inconsistent
    "state-as-person": PREFIXES
    + """INSERT DATA { <https://w3id.org/lec-kg/id/event/x> a lec:Extradition ;
        lec:personConcerned <https://w3id.org/lec-kg/id/state/FR> }""",
    # an untyped node reasoned into an actor through lec:participant's range: a kind not asserted
    "untyped-as-actor": PREFIXES
    + f"""INSERT DATA {{ <https://w3id.org/lec-kg/id/event/x> a lec:Extradition ;
        lec:participant <{GHOST}> }}""",
}


def merged_graph() -> Graph:
    """The ontology, the code lists and the facts in one rdflib graph (a fresh copy)."""
    g = Graph()
    for path in turtle_files("ontology", "graph"):
        g.parse(path, format="turtle")
    return g


def kinds(g: Graph) -> set[Node]:
    """The classes the ontology declares disjoint with some other class."""
    out: set[Node] = set()
    for axiom in g.subjects(RDF.type, OWL.AllDisjointClasses):
        out.update(Collection(g, g.value(axiom, OWL.members)))
    for a, b in g.subject_objects(OWL.disjointWith):
        out.update((a, b))
    return out


def kinds_of(g: Graph, node: Node, among: set[Node]) -> set[Node]:
    """The kinds `node` belongs to by its types in `g` and their super-classes."""
    return {
        c
        for t in g.objects(node, RDF.type)
        for c in g.transitive_objects(t, RDFS.subClassOf)
        if c in among
    }


def individuals(g: Graph) -> set[Node]:
    """Every node a fact talks about: subjects and resource objects that are not terms."""
    terms = set(g.subjects(RDF.type, OWL.Class)) | set(g.subjects(RDF.type, OWL.Ontology))
    for kind in (OWL.ObjectProperty, OWL.DatatypeProperty, OWL.AnnotationProperty):
        terms |= set(g.subjects(RDF.type, kind))
    nodes = {s for s in g.subjects() if s not in terms}
    nodes |= {o for p, o in g.predicate_objects() if p != RDF.type and not isinstance(o, Literal)}
    return {n for n in nodes - terms if not isinstance(n, Literal)}


def rl_findings(asserted: Graph) -> list[str]:
    """What is wrong with `asserted` under the OWL 2 RL closure: inconsistencies owlrl reports,
    members of owl:Nothing, a node in two disjoint kinds, a node reasoned into a new kind."""
    closed = Graph()
    for t in asserted:
        closed.add(t)
    owlrl.DeductiveClosure(
        owlrl.OWLRL_Semantics, rdfs_closure=False, axiomatic_triples=False, datatype_axioms=False
    ).expand(closed)
    errors = owlrl.Namespaces.ERRNS
    findings = [
        f"owlrl: {e}"
        for m in closed.subjects(RDF.type, errors.ErrorMessage)
        for e in closed.objects(m, errors.error)
    ]
    findings += [f"{n} is owl:Nothing" for n in closed.subjects(RDF.type, OWL.Nothing)]
    among = kinds(asserted)
    for node in individuals(asserted):
        before, after = kinds_of(asserted, node, among), kinds_of(closed, node, among)
        if before != after:
            findings.append(f"{node}: asserted {sorted(before)}, after the closure {sorted(after)}")
    for a, b in closed.subject_objects(OWL.disjointWith):
        for node in set(closed.subjects(RDF.type, a)) & set(closed.subjects(RDF.type, b)):
            findings.append(f"{node} is both {a} and {b}")
    return findings


def hermit_findings(asserted: Graph, tmp_path: Path) -> list[str]:
    """What HermiT finds wrong with `asserted`: inconsistency, unsatisfiable classes, a named
    node reclassified into a kind it is not asserted in."""
    g = Graph()
    for s, p, o in asserted:
        if isinstance(o, Literal) and o.datatype in NOT_OWL2_DATATYPES:
            o = Literal(str(o), datatype=URIRef(XSD + "string"))
        g.add((s, p, o))
    nt = tmp_path / "merged.nt"
    g.serialize(nt, format="nt", encoding="utf-8")
    world = owlready2.World()
    onto = world.get_ontology(nt.as_uri()).load()
    try:
        with onto:
            owlready2.sync_reasoner_hermit(world, infer_property_values=False, debug=0)
    except owlready2.OwlReadyInconsistentOntologyError as exc:
        return [f"HermiT: inconsistent ({exc})"]
    findings = [
        f"HermiT: {c.iri} is unsatisfiable"
        for c in world.inconsistent_classes()
        if c is not owlready2.Nothing
    ]
    among = kinds(asserted)
    iris = {str(k) for k in among}
    for node in individuals(asserted):
        if isinstance(node, BNode):
            continue  # owlready2 keeps no stable name for them; the RL closure checks them
        entity = world[str(node)]
        if not isinstance(entity, owlready2.Thing):
            continue
        after = {
            URIRef(a.iri)
            for c in entity.is_a
            if isinstance(c, owlready2.ThingClass)
            for a in c.ancestors()
            if a.iri in iris
        }
        before = kinds_of(asserted, node, among)
        if before != after:
            findings.append(f"{node}: asserted {sorted(before)}, after HermiT {sorted(after)}")
    return findings


def disjoint_pairs(g: Graph) -> set[frozenset[Node]]:
    """Every pair of classes some axiom of `g` declares disjoint."""
    pairs = {frozenset(pair) for pair in g.subject_objects(OWL.disjointWith)}
    for axiom in g.subjects(RDF.type, OWL.AllDisjointClasses):
        members = list(Collection(g, g.value(axiom, OWL.members)))
        pairs |= {frozenset((a, b)) for a in members for b in members if a != b}
    return pairs


LEC = "https://w3id.org/lec-kg/ontology#"
TOP_KINDS = [URIRef(LEC + n) for n in ("Actor", "Place", "Instrument", "Campaign", "Event")]
TOP_KINDS += [URIRef(LEC + n) for n in ("SourcePassage", "Statistic", "Assessment", "Document")]
TOP_KINDS += [URIRef(LEC + n) for n in ("SafeguardProvision", "NormEffect")]
TOP_KINDS += [URIRef("http://www.w3.org/ns/org#Post")]
TOP_KINDS += [
    URIRef("http://www.w3.org/2004/02/skos/core#" + n) for n in ("Concept", "ConceptScheme")
]
ACTOR_KINDS = [URIRef(LEC + n) for n in ("State", "Organisation", "Person")]
MAY_OVERLAP = {frozenset((URIRef(LEC + "Document"), URIRef(LEC + "Instrument")))}


def test_kinds_are_declared_disjoint():
    """The top-level kinds are pairwise disjoint (but a document may be an instrument's text),
    and so are the actors' kinds: a state is not a person, an event is not an instrument."""
    pairs = disjoint_pairs(ontology_graph())
    for group in (TOP_KINDS, ACTOR_KINDS):
        for a in group:
            for b in group:
                pair = frozenset((a, b))
                if a != b and pair not in MAY_OVERLAP:
                    assert pair in pairs, f"{a} and {b} are not declared disjoint"


def test_owl_rl_closure_finds_nothing_wrong():
    """The OWL 2 RL closure of the ontology, code lists and facts is consistent and reasons no
    node into a kind it is not asserted in."""
    g = merged_graph()
    assert len(individuals(g)) > 500  # the facts were really loaded
    assert rl_findings(g) == []


@pytest.mark.parametrize("defect", sorted(PLANTED))
def test_owl_rl_closure_check_can_fail(defect: str):
    g = merged_graph()
    g.update(PLANTED[defect])
    findings = rl_findings(g)
    assert findings, defect
    if defect == "untyped-as-actor":
        assert any(f.startswith(GHOST) for f in findings), findings


@pytest.mark.java
def test_hermit_classifies_the_merged_graph(tmp_path: Path):
    """HermiT finds the ontology, code lists and facts together consistent, no class
    unsatisfiable, and reclassifies no named node into a kind it is not asserted in."""
    assert hermit_findings(merged_graph(), tmp_path) == []


@pytest.mark.java
@pytest.mark.parametrize("defect", sorted(PLANTED))
def test_hermit_check_can_fail(defect: str, tmp_path: Path):
    g = merged_graph()
    g.update(PLANTED[defect])
    findings = hermit_findings(g, tmp_path)
    assert findings, defect
    if defect == "state-as-person":
        assert findings[0].startswith("HermiT: inconsistent"), findings
    else:
        assert any(f.startswith(GHOST) for f in findings), findings
