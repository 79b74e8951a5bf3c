"""What the ontology entails about the data: RDFS and the useful part of OWL 2 RL, materialised.

`entailments(triples)` takes the asserted triples (ontology and facts, never the shapes) and
returns every triple they entail under these rules that is not asserted already; the engine
stores them in their own named graph (`<base>graph/inferred`), so `?x a lec:Treaty` finds the
extradition treaties without a property path, and exports of asserted data leave them out.

Rules (names as in RDF 1.1 Semantics and the OWL 2 RL profile tables):

- rdfs5/rdfs11 (and owl:equivalentClass/-Property both ways): the class and property
  hierarchies, closed transitively;
- rdfs7 (prp-spo1): a triple of a sub-property holds of its super-properties;
- rdfs9 (cax-sco): a member of a class is a member of its super-classes;
- rdfs2/rdfs3 (prp-dom, prp-rng): domain and range type the subject and the (non-literal) object;
- prp-inv1/2 (owl:inverseOf), prp-symp (owl:SymmetricProperty, e.g. lec:alternativeTo),
  prp-trp (owl:TransitiveProperty).

Left out on purpose: the axiomatic triples and rdfs4/rdfs8/rdfs12/rdfs13 (everything is an
rdfs:Resource), which only add noise, and owl:sameAs, which the data does not use. The schema is
read from the asserted triples once: a hierarchy stated in the facts counts, one that could
only be derived does not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pyoxigraph import Literal, NamedNode

RDF_TYPE = NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SUB_CLASS = NamedNode(RDFS + "subClassOf")
SUB_PROPERTY = NamedNode(RDFS + "subPropertyOf")
DOMAIN = NamedNode(RDFS + "domain")
RANGE = NamedNode(RDFS + "range")
EQUIVALENT_CLASS = NamedNode(OWL + "equivalentClass")
EQUIVALENT_PROPERTY = NamedNode(OWL + "equivalentProperty")
INVERSE_OF = NamedNode(OWL + "inverseOf")
SYMMETRIC = NamedNode(OWL + "SymmetricProperty")
TRANSITIVE = NamedNode(OWL + "TransitiveProperty")

Triple3 = tuple  # (subject, predicate, object) of pyoxigraph terms


class Schema:
    """The class and property axioms found in a set of triples, hierarchies closed."""

    def __init__(self, triples: Iterable[Triple3]) -> None:
        sub_class: dict = defaultdict(set)
        sub_prop: dict = defaultdict(set)
        self.domain: dict = defaultdict(set)
        self.range: dict = defaultdict(set)
        self.inverse: dict = defaultdict(set)
        self.transitive: set = set()
        for s, p, o in triples:
            if isinstance(o, Literal):
                continue
            if p == SUB_CLASS:
                sub_class[s].add(o)
            elif p == EQUIVALENT_CLASS:
                sub_class[s].add(o)
                sub_class[o].add(s)
            elif p == SUB_PROPERTY:
                sub_prop[s].add(o)
            elif p == EQUIVALENT_PROPERTY:
                sub_prop[s].add(o)
                sub_prop[o].add(s)
            elif p == DOMAIN:
                self.domain[s].add(o)
            elif p == RANGE:
                self.range[s].add(o)
            elif p == INVERSE_OF:
                self.inverse[s].add(o)
                self.inverse[o].add(s)
            elif p == RDF_TYPE and o == SYMMETRIC:
                self.inverse[s].add(s)
            elif p == RDF_TYPE and o == TRANSITIVE:
                self.transitive.add(s)
        self.super_classes = _closure(sub_class)
        self.super_properties = _closure(sub_prop)

    def hierarchy_triples(self) -> Iterable[Triple3]:
        """rdfs5 and rdfs11: every (strict) super-class and super-property, stated."""
        for c, supers in self.super_classes.items():
            for d in supers:
                yield (c, SUB_CLASS, d)
        for p, supers in self.super_properties.items():
            for q in supers:
                yield (p, SUB_PROPERTY, q)


def entailments(triples: Iterable[Triple3]) -> set[Triple3]:
    """Every triple the rules above derive from `triples` that is not among them."""
    asserted = {(s, p, o) for s, p, o in triples}
    schema = Schema(asserted)
    known = set(asserted)
    queue = list(asserted)
    queue.extend(schema.hierarchy_triples())
    succ: dict = defaultdict(lambda: defaultdict(set))  # transitive p -> s -> {o}
    pred: dict = defaultdict(lambda: defaultdict(set))  # transitive p -> o -> {s}
    for s, p, o in asserted:
        if p in schema.transitive:
            succ[p][s].add(o)
            pred[p][o].add(s)
    derived: set[Triple3] = set()
    while queue:
        t = queue.pop()
        if t not in asserted:
            if t in derived:
                continue
            derived.add(t)
            known.add(t)
        for new in _consequences(t, schema, succ, pred):
            if new not in known:
                queue.append(new)
    return derived


def _consequences(t: Triple3, schema: Schema, succ: dict, pred: dict) -> Iterable[Triple3]:
    """The triples one rule application derives from `t`."""
    s, p, o = t
    resource = not isinstance(o, Literal)
    for q in schema.super_properties.get(p, ()):
        yield (s, q, o)
    if resource:
        for q in schema.inverse.get(p, ()):
            yield (o, q, s)
        for c in schema.range.get(p, ()):
            yield (o, RDF_TYPE, c)
    for c in schema.domain.get(p, ()):
        yield (s, RDF_TYPE, c)
    if p == RDF_TYPE:
        for d in schema.super_classes.get(o, ()):
            yield (s, RDF_TYPE, d)
    if p in schema.transitive and resource:
        succ[p][s].add(o)
        pred[p][o].add(s)
        for x in tuple(succ[p].get(o, ())):
            yield (s, p, x)
        for y in tuple(pred[p].get(s, ())):
            yield (y, p, o)


def _closure(edges: dict) -> dict:
    """For each node, every node reachable from it (itself excluded unless on a cycle)."""
    out = {}
    for start in list(edges):
        seen: set = set()
        stack = list(edges[start])
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(edges.get(node, ()))
        seen.discard(start)
        out[start] = seen
    return out
