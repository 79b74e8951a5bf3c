"""Validation proportional to the change: which nodes a change can affect, and what they read.

A shape judges a focus node by reading triples along paths that start at it: its targets
(`rdf:type` for sh:targetClass, the predicate of sh:targetSubjectsOf/ObjectsOf), its property
paths (inverse, sequence, alternative, `*` `+` `?`), the value nodes' types for sh:class, nested
shapes (sh:node, sh:and/or/xone/not, sh:qualifiedValueShape) and the triple patterns of SPARQL
targets and constraints (EXISTS, NOT EXISTS and OPTIONAL included; a variable in predicate
position is one more step); for sh:targetSubjectsOf/ObjectsOf one triple at the node is enough
(a code-list concept that thousands of facts name is a target through any one of them). `Reach`
reads these *access paths* from the shapes once. The class
hierarchy and code lists sit in the ontology, which no write may change (`protection`), so the
ontology is never part of a change and is handed to the validator whole (pySHACL's ont_graph).

For a change (removed, added quads) the **affected nodes** are every node from which some access
path reaches a changed triple: for each changed triple and each step of an access path that
could traverse it, walk the part of the path before that step backwards from the triple's end,
over the store before and after the change (a superset of what either holds). Each of them is
validated against every shape, on a data graph holding what the access paths read from them
forward in the graph after the change (their *neighbourhood*), plus the ontology.

**The findings of a change** are the findings whole-graph validation of the candidate graph (the
store as it would be after the change) gives on the affected nodes; every finding on any other
node is the same before and after the change, since nothing it reads has changed. As the store
conforms before every change (it passed at start-up and each accepted change kept it so), the
candidate conforms exactly when the findings of the change hold no Violation. tests/
test_focused_validation.py checks both halves against whole-graph validation: the same findings
on the affected nodes, and unchanged findings on every other node.

The neighbourhood goes to the validator as the whole graph does (`gate.to_rdflib`: a plain
string is a plain rdflib literal on both roads; handing the validator oxrdflib's xsd:string-typed
literals beside rdflib's plain ones gave thousands of false sh:in violations).

A shape this analysis cannot follow (a SPARQL pattern that no path from the focus node reaches)
makes `Reach.complete` false; the caller then validates the whole graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from collections.abc import Collection as Collection_
from dataclasses import dataclass, field, replace
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Triple
from rdflib import RDF, Graph, URIRef
from rdflib import paths as rpaths
from rdflib.collection import Collection
from rdflib.namespace import SH
from rdflib.plugins.sparql import prepareQuery
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.term import Node, Variable

from .findings import ValidationReport
from .sparql_targets import _prefix_block

Term = NamedNode | BlankNode | Literal | Triple
# A path from a focus node, as nested tuples: ("p", iri | None) one step forward (None: any
# predicate), ("i", iri | None) one step backward, ("pred",) from a node to the predicates of its
# triples, ("seq", (...)), ("alt", (...)), ("star", p), ("plus", p), ("opt", p).
Path = tuple
EMPTY: Path = ("seq", ())
TYPE_STEP: Path = ("p", NamedNode(str(RDF.type)))
HUB = 64  # a node named by more quads than this is read one predicate at a time
MAX_DEPTH = 8  # nested shapes followed this deep (the shipped shapes nest two levels)


@dataclass
class Reach:
    """The access paths of a set of shapes, read once; `affected` and `neighbourhood` use them."""

    paths: set[Path] = field(default_factory=set)
    # single steps of sh:targetSubjectsOf/ObjectsOf: any one such triple makes a node a target
    witnesses: set[Path] = field(default_factory=set)
    complete: bool = True
    why_incomplete: str = ""
    _by_predicate: dict[NamedNode | None, list[tuple[Path, str]]] = field(default_factory=dict)

    @classmethod
    def of_shapes(cls, shapes: Graph, move: Callable[[str], str] = str) -> Reach:
        """The access paths of every shape in `shapes`; `move` maps the shapes' IRIs to the
        store's (a deployment under its own base)."""
        reach = cls()
        reader = _ShapeReader(shapes, move, reach)
        for shape in _shapes(shapes):
            reader.shape(shape, EMPTY, 0)
        for path in reach.paths | reach.witnesses:
            for predicate, prefix, side in _steps(path, EMPTY):
                reach._by_predicate.setdefault(predicate, []).append((prefix, side))
        return reach

    def affected(self, view: CandidateView, changed: Iterable[Quad]) -> set[Term]:
        """Every node some access path leads from to a changed triple (see the module doc)."""
        starts: dict[Path, set[Term]] = {}  # the walks back, each from all its start nodes
        for q in changed:
            for prefix, side in self._by_predicate.get(q.predicate, []) + self._by_predicate.get(
                None, []
            ):
                starts.setdefault(prefix, set()).add(q.subject if side == "subject" else q.object)
        out: set[Term] = set()
        for prefix, nodes in starts.items():
            out |= _back(view, prefix, nodes)
        return out

    def neighbourhood(self, view: CandidateView, focus: Iterable[Term]) -> set[Quad]:
        """The quads of the candidate graph that the access paths read from `focus`, with the
        triples that hold a blank focus node (a report names what holds it)."""
        out: set[Quad] = set()
        nodes = set(focus)
        for path in self.paths:
            _forward(view, path, nodes, out)
        for kind, predicate in self.witnesses:
            for n in nodes:
                for q in (
                    view.quads(n, predicate, None)
                    if kind == "p"
                    else view.quads(None, predicate, n)
                ):
                    out.add(q)
                    break
        for n in nodes:
            if isinstance(n, BlankNode):
                out.update(view.quads(None, None, n))
        return out


class CandidateView:
    """The judged quads of a store as they would be after a change (`quads`), and the union of
    before and after (`union=True`), which the walk back from a changed triple reads."""

    def __init__(
        self,
        match: Callable[[Term | None, NamedNode | None, Term | None], Iterable[Quad]],
        judged: Callable[[Quad], bool],
        removed: Iterable[Quad],
        added: Iterable[Quad],
    ) -> None:
        self._match = match
        self._judged = judged
        self._gone = set(removed)
        self._seen: dict[tuple, list[Quad]] = {}
        self._outgoing: dict[tuple, dict[NamedNode, list[Quad]]] = {}
        self._incoming: dict[tuple, dict[NamedNode, list[Quad]] | None] = {}
        self._by_subject: dict[Term, list[Quad]] = {}
        self._by_object: dict[Term, list[Quad]] = {}
        self._by_predicate: dict[NamedNode, list[Quad]] = {}
        self._added = [q for q in added if judged(q)]
        for q in self._added:
            self._by_subject.setdefault(q.subject, []).append(q)
            self._by_object.setdefault(q.object, []).append(q)
            self._by_predicate.setdefault(q.predicate, []).append(q)

    def quads(
        self, s: Term | None, p: NamedNode | None, o: Term | None, union: bool = False
    ) -> list[Quad]:
        """The quads matching (None: any), remembered: paths share their first steps."""
        if s is not None and o is None and p is not None:  # a node's few triples, read once
            return self._out(s, union).get(p, [])
        if s is None and o is not None and p is not None:
            incoming = self._in(o, union)
            if incoming is not None:
                return incoming.get(p, [])
        key = (s, p, o, union)
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = list(self._quads(s, p, o, union))
        return found

    def _out(self, s: Term, union: bool) -> dict[NamedNode, list[Quad]]:
        """The quads of subject `s`, by predicate."""
        key = (s, union)
        found = self._outgoing.get(key)
        if found is None:
            found = self._outgoing[key] = {}
            for q in self.quads(s, None, None, union):
                found.setdefault(q.predicate, []).append(q)
        return found

    def _in(self, o: Term, union: bool) -> dict[NamedNode, list[Quad]] | None:
        """The quads with object `o`, by predicate; None for a node with many (a state that
        thousands of facts name is better asked one predicate at a time)."""
        key = (o, union)
        if key in self._incoming:
            return self._incoming[key]
        found: dict[NamedNode, list[Quad]] | None = {}
        for n, q in enumerate(self._quads(None, None, o, union)):
            if n == HUB:
                found = None
                break
            found.setdefault(q.predicate, []).append(q)  # type: ignore[union-attr]
        self._incoming[key] = found
        return found

    def _quads(
        self, s: Term | None, p: NamedNode | None, o: Term | None, union: bool
    ) -> Iterator[Quad]:
        if isinstance(s, Literal):
            return
        for q in self._match(s, p, o):
            if self._judged(q) and (union or q not in self._gone):
                yield q
        if s is not None:
            added = self._by_subject.get(s, ())
        elif o is not None:
            added = self._by_object.get(o, ())
        elif p is not None:
            added = self._by_predicate.get(p, ())
        else:
            added = self._added
        for q in added:
            if (
                (s is None or q.subject == s)
                and (p is None or q.predicate == p)
                and (o is None or q.object == o)
            ):
                yield q


# ------------------------------------------------------------ walking paths


def _back(view: CandidateView, path: Path, nodes: set[Term]) -> set[Term]:
    """The nodes from which `path` leads to one of `nodes` (before or after the change)."""
    kind = path[0]
    if not nodes:
        return nodes
    if kind == "p":
        return {q.subject for n in nodes for q in view.quads(None, path[1], n, union=True)}
    if kind == "i":
        return {q.object for n in nodes for q in view.quads(n, path[1], None, union=True)}
    if kind == "pred":
        return {
            q.subject
            for n in nodes
            if isinstance(n, NamedNode)
            for q in view.quads(None, n, None, union=True)
        }
    if kind == "seq":
        for step in reversed(path[1]):
            nodes = _back(view, step, nodes)
        return nodes
    if kind == "alt":
        return set().union(*(_back(view, p, nodes) for p in path[1]))
    if kind == "opt":
        return nodes | _back(view, path[1], nodes)
    # star, plus: the closure
    seen = set(nodes) if kind == "star" else set()
    frontier = nodes
    while frontier:
        frontier = _back(view, path[1], frontier) - seen
        seen |= frontier
    return seen


def _forward(view: CandidateView, path: Path, nodes: set[Term], out: set[Quad]) -> set[Term]:
    """The nodes `path` leads to from `nodes` after the change; the quads it crosses go to out."""
    kind = path[0]
    if not nodes:
        return nodes
    if kind == "p":
        found = [q for n in nodes for q in view.quads(n, path[1], None)]
        out.update(found)
        return {q.object for q in found}
    if kind == "i":
        found = [q for n in nodes for q in view.quads(None, path[1], n)]
        out.update(found)
        return {q.subject for q in found}
    if kind == "pred":
        return {q.predicate for n in nodes for q in view.quads(n, None, None)}
    if kind == "seq":
        for step in path[1]:
            nodes = _forward(view, step, nodes, out)
        return nodes
    if kind == "alt":
        return set().union(*(_forward(view, p, nodes, out) for p in path[1]))
    if kind == "opt":
        return nodes | _forward(view, path[1], nodes, out)
    seen = set(nodes) if kind == "star" else set()
    frontier = nodes
    while frontier:
        frontier = _forward(view, path[1], frontier, out) - seen
        seen |= frontier
    return seen


def _steps(path: Path, prefix: Path) -> Iterator[tuple[NamedNode | None, Path, str]]:
    """Each single step of `path` as (its predicate, the path before it, which end of the
    triple the walk enters it from: subject, object, or the predicate itself)."""
    kind = path[0]
    if kind == "p":
        yield path[1], prefix, "subject"
    elif kind == "i":
        yield path[1], prefix, "object"
    elif kind == "pred":  # a step to the predicate of any triple of the node
        yield None, prefix, "subject"
    elif kind == "seq":
        done: list[Path] = []
        for step in path[1]:
            yield from _steps(step, _concat(prefix, ("seq", tuple(done))))
            done.append(step)
    elif kind == "alt":
        for p in path[1]:
            yield from _steps(p, prefix)
    elif kind == "opt":
        yield from _steps(path[1], prefix)
    else:  # star, plus: any number of turns before this one
        yield from _steps(path[1], _concat(prefix, ("star", path[1])))


def _concat(a: Path, b: Path) -> Path:
    parts: list[Path] = []
    for p in (a, b):
        parts.extend(p[1] if p[0] == "seq" else (p,))
    return ("seq", tuple(parts))


# ------------------------------------------------------------ reading the shapes


def _shapes(shapes: Graph) -> list[Node]:
    """Every shape that may be validated on its own: node and property shapes, and any subject
    with a target."""
    found: set[Node] = set(shapes.subjects(RDF.type, SH.NodeShape))
    found |= set(shapes.subjects(RDF.type, SH.PropertyShape))
    for p in (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf, SH.target):
        found |= set(shapes.subjects(p, None))
    return sorted(found, key=str)


class _ShapeReader:
    def __init__(self, shapes: Graph, move: Callable[[str], str], reach: Reach) -> None:
        self.g = shapes
        self.move = move
        self.reach = reach

    def iri(self, node: Node) -> NamedNode:
        return NamedNode(self.move(str(node)))

    def add(self, path: Path) -> None:
        self.reach.paths.add(path)

    def shape(self, shape: Node, focus: Path, depth: int) -> None:
        """Record what `shape` reads about a focus node reached by `focus`."""
        g = self.g
        if depth > MAX_DEPTH:
            self.incomplete(f"shapes nest deeper than {MAX_DEPTH} at {shape}")
            return
        if depth == 0:  # targets count only where a shape is validated on its own
            if g.value(shape, SH.targetClass) is not None or (shape, RDF.type, SH.NodeShape) in g:
                self.add(TYPE_STEP)  # sh:targetClass, and implicit class targets
            for p in g.objects(shape, SH.targetSubjectsOf):
                self.reach.witnesses.add(("p", self.iri(p)))
            for p in g.objects(shape, SH.targetObjectsOf):
                self.reach.witnesses.add(("i", self.iri(p)))
            for target in g.objects(shape, SH.target):
                self.sparql(target, focus)
        path_node = g.value(shape, SH.path)
        values = focus if path_node is None else _concat(focus, self.path(path_node))
        self.add(values)
        if g.value(shape, SH["class"]) is not None:
            self.add(_concat(values, TYPE_STEP))
        for p in (SH.equals, SH.disjoint, SH.lessThan, SH.lessThanOrEquals):
            for other in g.objects(shape, p):
                self.add(_concat(focus, ("p", self.iri(other))))
        if g.value(shape, SH.closed) is not None:
            self.add(_concat(values, ("p", None)))
        for ps in g.objects(shape, SH.property):
            self.shape(ps, values, depth + 1)
        for p in (SH.node, SH["not"], SH.qualifiedValueShape):
            for nested in g.objects(shape, p):
                self.shape(nested, values, depth + 1)
        for p in (SH["and"], SH["or"], SH.xone):
            for members in g.objects(shape, p):
                for nested in Collection(g, members):
                    self.shape(nested, values, depth + 1)
        for constraint in g.objects(shape, SH.sparql):
            self.sparql(constraint, focus)

    def path(self, node: Node) -> Path:
        """A SHACL property path as a Path."""
        g = self.g
        if isinstance(node, URIRef):
            return ("p", self.iri(node))
        if (node, RDF.first, None) in g:
            return ("seq", tuple(self.path(p) for p in Collection(g, node)))
        inner = g.value(node, SH.inversePath)
        if inner is not None:
            return _inverse(self.path(inner))
        alternatives = g.value(node, SH.alternativePath)
        if alternatives is not None:
            return ("alt", tuple(self.path(p) for p in Collection(g, alternatives)))
        for p, kind in (
            (SH.zeroOrMorePath, "star"),
            (SH.oneOrMorePath, "plus"),
            (SH.zeroOrOnePath, "opt"),
        ):
            inner = g.value(node, p)
            if inner is not None:
                return (kind, self.path(inner))
        self.incomplete(f"an unknown property path {node}")
        return ("p", None)

    def sparql(self, node: Node, focus: Path) -> None:
        """The triple patterns of a SPARQL target or constraint, as paths from $this."""
        g = self.g
        text = g.value(node, SH.select)
        if text is None:
            if (node, RDF.type, SH.SPARQLTarget) in g or g.value(node, SH.ask) is not None:
                self.incomplete(f"a SPARQL query that is no SELECT at {node}")
            return
        query = prepareQuery(_prefix_block(g, node) + str(text))
        patterns: list[tuple] = []
        _triples(query.algebra, patterns)
        known: dict[Node, Path] = {Variable("this"): EMPTY}
        pending = list(patterns)
        while pending:
            left = []
            for s, p, o in pending:
                step = self.step(p)
                if isinstance(p, Variable) and p not in known and s in known:
                    known[p] = _concat(known[s], ("pred",))
                if s in known:
                    self.add(_concat(focus, _concat(known[s], step)))
                    if isinstance(o, Variable) and o not in known:
                        known[o] = _concat(known[s], step)
                elif o in known and isinstance(o, Variable):
                    back = _concat(known[o], _inverse(step))
                    self.add(_concat(focus, back))
                    if isinstance(s, Variable):
                        known[s] = back
                else:
                    left.append((s, p, o))
            if len(left) == len(pending):
                self.incomplete(f"SPARQL patterns not reached from $this: {left}")
                return
            pending = left

    def step(self, p: object) -> Path:
        """A SPARQL predicate (IRI, variable or property path) as a Path."""
        if isinstance(p, Variable):
            return ("p", None)
        if isinstance(p, URIRef):
            return ("p", self.iri(p))
        if isinstance(p, rpaths.InvPath):
            return _inverse(self.step(p.arg))
        if isinstance(p, rpaths.SequencePath):
            return ("seq", tuple(self.step(a) for a in p.args))
        if isinstance(p, rpaths.AlternativePath):
            return ("alt", tuple(self.step(a) for a in p.args))
        if isinstance(p, rpaths.MulPath):
            kind = {"*": "star", "+": "plus", "?": "opt"}[p.mod]
            return (kind, self.step(p.path))
        if isinstance(p, rpaths.NegatedPath):
            return ("alt", (("p", None), ("i", None)))
        self.incomplete(f"an unknown SPARQL path {p!r}")
        return ("p", None)

    def incomplete(self, why: str) -> None:
        self.reach.complete = False
        self.reach.why_incomplete = self.reach.why_incomplete or why


def _inverse(path: Path) -> Path:
    kind = path[0]
    if kind == "p":
        return ("i", path[1])
    if kind == "i":
        return ("p", path[1])
    if kind == "seq":
        return ("seq", tuple(_inverse(p) for p in reversed(path[1])))
    if kind == "alt":
        return ("alt", tuple(_inverse(p) for p in path[1]))
    if kind == "pred":
        raise ValueError("a predicate step has no inverse")
    return (kind, _inverse(path[1]))


def _triples(node: object, out: list[tuple]) -> None:
    """Every triple pattern anywhere in a query's algebra (EXISTS and OPTIONAL included)."""
    if isinstance(node, CompValue):
        for key, value in node.items():
            if key == "triples" and isinstance(value, list | tuple):
                for t in value:  # inside EXISTS, rdflib leaves a block's triples in one list
                    out.extend(tuple(t[i : i + 3]) for i in range(0, len(t) - 2, 3))
            else:
                _triples(value, out)
    elif isinstance(node, list | tuple):
        for item in node:
            _triples(item, out)


def restrict(report: Any, focus: Collection_[Node]) -> Any:
    """The report with only the findings on `focus` (a report of another kind: as it is)."""
    if not isinstance(report, ValidationReport):
        return report
    return replace(report, findings=tuple(f for f in report.findings if f.focus in focus))


def drop(report: Any, unwanted: Callable[[Any], bool]) -> Any:
    """The report without the findings `unwanted` picks (a report of another kind: as it is)."""
    if not isinstance(report, ValidationReport):
        return report
    return replace(report, findings=tuple(f for f in report.findings if not unwanted(f)))
