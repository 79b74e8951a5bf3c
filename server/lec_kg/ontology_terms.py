"""What the ontology page is drawn from: terms, links, class expressions, trees and unique ids,
and the small readers of an rdflib graph they are built with (text in the preferred language,
RDF lists, links stated either way). `ontology_page` fills them from the graphs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import RDF, RDFS, SKOS
from rdflib.term import Node

MAX_DEPTH = 8  # class expressions and hierarchies deeper than this are cut (a cycle, say)


@dataclass(frozen=True)
class Ref:
    """A term as a link: `href` is `#id` on this page, or the IRI itself (None: plain text)."""

    text: str
    href: str | None
    title: str = ""


@dataclass(frozen=True)
class Expr:
    """A class expression that is no named class: `op` over `items`, on `prop` (a restriction)."""

    op: str
    items: tuple[Ref | Expr, ...]
    prop: Ref | None = None


@dataclass
class Term:
    """One term as the page shows it."""

    iri: str
    id: str
    qname: str
    label: str
    kind: str = ""
    definition: str | None = None
    notes: list[tuple[str, str]] = field(default_factory=list)  # (what, text): comment, example...
    relations: list[tuple[str, list[Ref | Expr]]] = field(default_factory=list)
    characteristics: list[str] = field(default_factory=list)
    deprecated: bool = False
    replaced_by: list[Ref] = field(default_factory=list)


@dataclass
class Tree:
    """A node of a hierarchy: the term and the terms under it."""

    ref: Ref
    children: list[Tree]
    node: Node | None = None

    def nodes(self) -> Iterator[Node | None]:
        """The node and every node under it."""
        yield self.node
        for child in self.children:
            yield from child.nodes()


@dataclass
class Scheme:
    """A code list, its codes as a tree (by skos:broader) and each code."""

    term: Term
    tree: list[Tree]
    concepts: list[Term]


@dataclass(frozen=True)
class Download:
    """One file for download: what it is, its format, where."""

    what: str
    format: str
    href: str


class Ids:
    """HTML ids, each given once: a wanted id already taken gets a suffix (-2, -3, ...)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def take(self, wanted: str) -> str:
        base = "".join("_" if c.isspace() else c for c in wanted) or "term"
        candidate, n = base, 1
        while candidate in self.taken:
            n += 1
            candidate = f"{base}-{n}"
        self.taken.add(candidate)
        return candidate


def forest(
    nodes: Sequence[Node], children: dict[Node, list[Node]], ref: Callable[[Node], Ref]
) -> list[Tree]:
    """The nodes as trees: those under no other at the top, then any left out (a cycle)."""
    under = {c for cs in children.values() for c in cs}
    trees = _grow([n for n in nodes if n not in under], children, ref, frozenset())
    reached = {n for t in trees for n in t.nodes()}
    for n in nodes:
        if n not in reached:
            trees += _grow([n], children, ref, frozenset())
            reached |= set(trees[-1].nodes())
    return trees


def _grow(
    nodes: Iterable[Node],
    children: dict[Node, list[Node]],
    ref: Callable[[Node], Ref],
    path: frozenset[Node],
) -> list[Tree]:
    """Trees of `nodes` and the nodes under them, never entering a node twice on one path."""
    if len(path) > MAX_DEPTH:
        return []
    return [
        Tree(ref(n), _grow(children.get(n, []), children, ref, path | {n}), n)
        for n in nodes
        if n not in path
    ]


def under(node: Node, ns: str) -> bool:
    """True for an IRI in the namespace `ns` (not `ns` itself)."""
    return (
        isinstance(node, URIRef) and bool(ns) and str(node).startswith(ns) and len(node) > len(ns)
    )


def is_iri(node: Node) -> bool:
    """True for a non-empty IRI."""
    return isinstance(node, URIRef) and bool(str(node))


def is_local_name(rest: str) -> bool:
    """True when `rest` may follow `prefix:` in a readable prefixed name."""
    return bool(rest) and not any(c in rest for c in "/#?:") and not rest[0].isdigit()


def sort_key(node: Node) -> tuple[str, str]:
    """Alphabetical, case aside."""
    return (str(node).lower(), str(node))


def both(g: Graph, s: Node, *ps: URIRef) -> set[Node]:
    """Values of symmetric links (inverseOf, equivalentClass...) stated either way."""
    return {x for p in ps for x in (*g.objects(s, p), *g.subjects(p, s)) if x != s}


def both_ways(g: Graph, s: Node, p: URIRef, inverse: URIRef) -> set[Node]:
    """Values of `p` stated as `p` from `s` or as its `inverse` towards `s`."""
    return {*g.objects(s, p), *g.subjects(inverse, s)}


def rdf_list(g: Graph, head: Node | None) -> list[Node]:
    """The members of an RDF list; a malformed or cyclic list gives what it holds up to there."""
    found: list[Node] = []
    seen: set[Node] = set()
    while head is not None and head != RDF.nil and head not in seen:
        seen.add(head)
        first = g.value(head, RDF.first)
        if first is not None:
            found.append(first)
        head = g.value(head, RDF.rest)
    return found


def is_true(value: Node) -> bool:
    """True for a literal true (owl:deprecated true)."""
    return isinstance(value, Literal) and str(value).strip().lower() in ("true", "1")


def texts(g: Graph, s: Node, p: URIRef) -> list[str]:
    """The literal values, English and untagged first, then the others, each once."""
    values = [v for v in g.objects(s, p) if isinstance(v, Literal)]
    values.sort(key=lambda v: (v.language not in (None, "en"), v.language or "", str(v)))
    return list(dict.fromkeys(str(v) for v in values))


def first_text(g: Graph, s: Node, p: URIRef) -> str | None:
    """The first of `texts`, or None."""
    values = texts(g, s, p)
    return values[0] if values else None


def label_of(g: Graph, s: Node) -> str | None:
    """The rdfs:label, else the skos:prefLabel, else None."""
    return first_text(g, s, RDFS.label) or first_text(g, s, SKOS.prefLabel)
