"""What the ontology entails about the data: RDFS and the useful part of OWL 2 RL, materialised.

The engine stores the entailments in their own named graph (`<base>graph/inferred`), so
`?x a lec:Treaty` finds the extradition treaties without a property path, and exports of
asserted data leave them out.

Rules (names as in RDF 1.1 Semantics and the OWL 2 RL profile tables):

- rdfs5/rdfs11 (and owl:equivalentClass/-Property both ways): the class and property
  hierarchies, closed transitively;
- rdfs7 (prp-spo1): a triple of a sub-property holds of its super-properties;
- rdfs9 (cax-sco): a member of a class is a member of its super-classes;
- rdfs2/rdfs3 (prp-dom, prp-rng): domain and range type the subject and the (non-literal) object;
- prp-inv1/2 (owl:inverseOf), prp-symp (owl:SymmetricProperty, e.g. lec:alternativeTo),
  prp-trp (owl:TransitiveProperty).

Left out on purpose: the axiomatic triples and rdfs4/rdfs8/rdfs12/rdfs13 (everything is an
rdfs:Resource), which only add noise, and owl:sameAs, which the data does not use.

The schema (`Schema`) is read once, from the ontology graphs only: no write may add schema
(`protection`), so a writer cannot choose what the rules are. `Materializer` keeps the closure
of the asserted triples and updates it per change: the consequences of added triples
(semi-naive), and for removed ones delete-and-rederive (DRed: withdraw everything that some
derivation through a removed triple reached, then put back what is still derivable in one
step, and close again). Its work per change is capped (`budget`); over the cap the change is
undone and `InferenceBudgetExceeded` raised. `entailments` computes the closure from scratch
(the reference the incremental result is tested against).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator

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


class InferenceBudgetExceeded(RuntimeError):
    """A change would cost more inference work than allowed; it was undone."""

    def __init__(self, budget: int) -> None:
        super().__init__(f"more than {budget:,} inferred triples")
        self.budget = budget


class Schema:
    """The class and property axioms found in a set of triples, hierarchies closed, with the
    reverse look-ups that rederiving a triple needs."""

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
        self.sub_classes = _reverse(self.super_classes)
        self.sub_properties = _reverse(self.super_properties)
        self.with_domain = _reverse(self.domain)  # class -> properties whose domain it is
        self.with_range = _reverse(self.range)

    def hierarchy_triples(self) -> Iterable[Triple3]:
        """rdfs5 and rdfs11: every (strict) super-class and super-property, stated."""
        for c, supers in self.super_classes.items():
            for d in supers:
                yield (c, SUB_CLASS, d)
        for p, supers in self.super_properties.items():
            for q in supers:
                yield (p, SUB_PROPERTY, q)


def entailments(triples: Iterable[Triple3], schema: Schema | None = None) -> set[Triple3]:
    """Every triple the rules derive from `triples` that is not among them, from scratch.

    `schema`: the axioms to apply (by default those found in `triples` themselves)."""
    asserted = {(s, p, o) for s, p, o in triples}
    schema = Schema(asserted) if schema is None else schema
    known = set(asserted)
    queue = list(asserted)
    queue.extend(schema.hierarchy_triples())
    succ: dict = defaultdict(lambda: defaultdict(set))  # transitive p -> s -> {o}
    pred: dict = defaultdict(lambda: defaultdict(set))  # transitive p -> o -> {s}
    derived: set[Triple3] = set()
    while queue:
        t = queue.pop()
        if t not in asserted:
            if t in derived:
                continue
            derived.add(t)
            known.add(t)
        s, p, o = t
        if p in schema.transitive:
            succ[p][s].add(o)
            pred[p][o].add(s)
            joined = [(s, p, x) for x in succ[p].get(o, ())]
            joined += [(y, p, o) for y in pred[p].get(s, ())]
        else:
            joined = []
        for new in (*_one_premise(t, schema), *joined):
            if new not in known:
                queue.append(new)
    return derived


def _one_premise(t: Triple3, schema: Schema) -> Iterator[Triple3]:
    """What every rule but transitivity derives from `t` alone."""
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


class Materializer:
    """The closure of the asserted triples under the rules, kept current change by change.

    Asserted triples are counted (one per graph that holds them), so a triple stated in two
    graphs stays asserted until both drop it. `inferred()` is the closure minus the asserted.
    A change (`change`) is applied here at once and can be undone (`rollback`) until it is
    kept (`commit`): the engine computes it first and stores it only if the write goes on.
    """

    def __init__(self, schema: Schema, asserted: Iterable[Triple3] = ()) -> None:
        self.schema = schema
        self._count: dict[Triple3, int] = {}
        self._known: set[Triple3] = set()
        self._sp: dict[tuple, set] = defaultdict(set)  # (s, p) -> objects, over the closure
        self._op: dict[tuple, set] = defaultdict(set)  # (o, p) -> subjects, over the closure
        self._axioms = set(schema.hierarchy_triples())
        self._undo: list[tuple] | None = None
        self._before: dict[Triple3, bool] = {}
        self._budget: int | None = None
        self._spent = 0
        for t in asserted:
            self._count[t] = self._count.get(t, 0) + 1
        self._close([*self._count, *self._axioms])

    def inferred(self) -> set[Triple3]:
        """The entailed triples that are not asserted."""
        return {t for t in self._known if t not in self._count}

    # ------------------------------------------------------------ changes

    def change(
        self, removed: Iterable[Triple3], added: Iterable[Triple3], budget: int | None = None
    ) -> tuple[set[Triple3], set[Triple3]]:
        """Apply one change of the asserted triples (one item per quad removed or added) and
        return how the inferred triples change: (no longer inferred, newly inferred).

        Pending until `commit` or `rollback`. More than `budget` triples derived or withdrawn
        on the way: undone, and InferenceBudgetExceeded raised."""
        if self._undo is not None:
            raise RuntimeError("a change is pending: commit or roll it back first")
        self._undo, self._before = [], {}
        self._budget, self._spent = budget, 0
        try:
            gone = []
            for t in removed:
                n = self._count.get(t, 0)
                if n:
                    self._set_count(t, n - 1)
                    if n == 1:
                        gone.append(t)
            new = []
            for t in added:
                n = self._count.get(t, 0)
                self._set_count(t, n + 1)
                if n == 0:
                    new.append(t)
            if gone:
                self._retract(gone)
            self._close(new)
        except BaseException:
            self.rollback()
            raise
        was, now = set(), set()
        for t, before in self._before.items():
            after = t in self._known and t not in self._count
            if before and not after:
                was.add(t)
            elif after and not before:
                now.add(t)
        return was, now

    def commit(self) -> None:
        """Keep the pending change."""
        self._undo, self._before = None, {}

    def rollback(self) -> None:
        """Undo the pending change (nothing to do when none is pending)."""
        undo, self._undo = self._undo, None
        for op, t, *rest in reversed(undo or ()):
            if op == "count":
                if rest[0]:
                    self._count[t] = rest[0]
                else:
                    self._count.pop(t, None)
            elif op == "add":
                self._forget(t)
            else:
                self._learn(t)
        self._before = {}

    # ------------------------------------------------------------ internals

    def _retract(self, gone: list[Triple3]) -> None:
        """DRed: withdraw what some derivation through `gone` reached, then rederive."""
        withdrawn = set(gone)
        stack = list(gone)
        while stack:
            for c in self._consequences(stack.pop()):
                if (
                    c in self._known
                    and c not in withdrawn
                    and c not in self._count
                    and c not in self._axioms
                ):
                    self._spend()
                    withdrawn.add(c)
                    stack.append(c)
        for t in withdrawn:
            self._remove(t)
        self._close([t for t in withdrawn if self._derivable(t)])

    def _close(self, seeds: Iterable[Triple3]) -> None:
        """Add `seeds` and everything they entail with what is known (semi-naive)."""
        queue = []
        for t in seeds:
            if t not in self._known:
                self._insert(t)
                queue.append(t)
        while queue:
            for c in self._consequences(queue.pop()):
                if c not in self._known:
                    self._spend()
                    self._insert(c)
                    queue.append(c)

    def _consequences(self, t: Triple3) -> Iterator[Triple3]:
        yield from _one_premise(t, self.schema)
        s, p, o = t
        if p in self.schema.transitive:
            for x in tuple(self._sp.get((o, p), ())):
                yield (s, p, x)
            for y in tuple(self._op.get((s, p), ())):
                yield (y, p, o)

    def _derivable(self, t: Triple3) -> bool:
        """True when `t` is asserted, an axiom, or follows in one step from what is known."""
        if t in self._count or t in self._axioms:
            return True
        s, p, o = t
        known, schema = self._known, self.schema
        if any((s, q, o) in known for q in schema.sub_properties.get(p, ())):
            return True
        resource = not isinstance(o, Literal)
        if resource and any((o, q, s) in known for q in schema.inverse.get(p, ())):
            return True
        if p == RDF_TYPE:
            if any((s, RDF_TYPE, c) in known for c in schema.sub_classes.get(o, ())):
                return True
            if any(self._sp.get((s, q)) for q in schema.with_domain.get(o, ())):
                return True
            if any(self._op.get((s, q)) for q in schema.with_range.get(o, ())):
                return True
        if p in schema.transitive:
            middles = self._sp.get((s, p), ())
            return any((x, p, o) in known for x in middles)
        return False

    def _spend(self) -> None:
        self._spent += 1
        if self._budget is not None and self._spent > self._budget:
            raise InferenceBudgetExceeded(self._budget)

    def _set_count(self, t: Triple3, n: int) -> None:
        self._note(t)
        if self._undo is not None:
            self._undo.append(("count", t, self._count.get(t, 0)))
        if n:
            self._count[t] = n
        else:
            self._count.pop(t, None)

    def _insert(self, t: Triple3) -> None:
        self._note(t)
        if self._undo is not None:
            self._undo.append(("add", t))
        self._learn(t)

    def _remove(self, t: Triple3) -> None:
        self._note(t)
        if self._undo is not None:
            self._undo.append(("remove", t))
        self._forget(t)

    def _note(self, t: Triple3) -> None:
        """Remember whether `t` was inferred before the pending change first touched it."""
        if self._undo is not None and t not in self._before:
            self._before[t] = t in self._known and t not in self._count

    def _learn(self, t: Triple3) -> None:
        s, p, o = t
        self._known.add(t)
        self._sp[(s, p)].add(o)
        self._op[(o, p)].add(s)

    def _forget(self, t: Triple3) -> None:
        s, p, o = t
        self._known.discard(t)
        for index, key, value in ((self._sp, (s, p), o), (self._op, (o, p), s)):
            values = index.get(key)
            if values is not None:
                values.discard(value)
                if not values:
                    del index[key]


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


def _reverse(mapping: dict) -> dict:
    """{value: {keys that map to it}} of a mapping to sets."""
    out: dict = defaultdict(set)
    for key, values in mapping.items():
        for value in values:
            out[value].add(key)
    return dict(out)
