"""The ontology's own page: header, classes, properties, reused terms, code lists, downloads.

Everything on the page is read from the graphs handed in: the ontology (ontology/lec.ttl), the
code lists (ontology/vocabularies.ttl) and, optionally, the shapes (which shape checks a term).
No list of terms is written by hand. Every term gets one HTML id, unique across the page
(`Ids`): a term of the ontology's namespace its local name, so that `<ontology IRI>#Term` lands
on it; a code list or code its path under the base (`id/code/measure/extradition-treaties`); a
reused term its prefixed name (`prov:Agent`). The page is rendered with the service's one Jinja
environment (`results_html.TEMPLATES`): every value is escaped, every link passes `http_link`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SH, SKOS, VANN
from rdflib.term import Node

from .results_html import TEMPLATES

KINDS = (  # (type, heading), in page order: a term is listed under its first kind
    (OWL.Class, "Classes"),
    (RDFS.Class, "Classes"),
    (OWL.ObjectProperty, "Object properties"),
    (OWL.DatatypeProperty, "Datatype properties"),
    (OWL.AnnotationProperty, "Annotation properties"),
    (RDF.Property, "Other properties"),
    (OWL.NamedIndividual, "Individuals"),
)
CHARACTERISTICS: dict[Node, str] = {
    OWL.FunctionalProperty: "functional",
    OWL.InverseFunctionalProperty: "inverse functional",
    OWL.TransitiveProperty: "transitive",
    OWL.SymmetricProperty: "symmetric",
    OWL.AsymmetricProperty: "asymmetric",
    OWL.ReflexiveProperty: "reflexive",
    OWL.IrreflexiveProperty: "irreflexive",
}
OPERATORS = {OWL.unionOf: "or", OWL.intersectionOf: "and", OWL.oneOf: "one of"}
RESTRICTIONS = {
    OWL.someValuesFrom: "some",
    OWL.allValuesFrom: "only",
    OWL.hasValue: "value",
    OWL.cardinality: "exactly",
    OWL.minCardinality: "min",
    OWL.maxCardinality: "max",
    OWL.qualifiedCardinality: "exactly",
    OWL.minQualifiedCardinality: "min",
    OWL.maxQualifiedCardinality: "max",
}
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
    node: Node = None  # type: ignore[assignment]


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


def render_ontology_page(
    ontology: Graph,
    vocabularies: Graph,
    shapes: Graph | None = None,
    downloads: Sequence[Download] = (),
) -> str:
    """The HTML page of the ontology (and its code lists) described by the graphs."""
    return TEMPLATES.get_template("ontology.html").render(
        Page(ontology, vocabularies, shapes or Graph()).context(list(downloads))
    )


class Page:
    """Reads the graphs once and builds what the template shows."""

    def __init__(self, ontology: Graph, vocabularies: Graph, shapes: Graph) -> None:
        self.onto, self.vocab, self.shapes = ontology, vocabularies, shapes
        self.all = Graph()
        for g in (ontology, vocabularies, shapes):
            for prefix, ns in g.namespaces():
                self.all.bind(prefix, ns, override=False)
            self.all += g
        self.prefixes = sorted(
            ((p, str(ns)) for p, ns in self.all.namespaces() if p),
            key=lambda pn: (-len(pn[1]), pn[0]),
        )
        self.iri = next(
            (s for s in ontology.subjects(RDF.type, OWL.Ontology) if isinstance(s, URIRef)),
            URIRef(""),
        )
        uri = ontology.value(self.iri, VANN.preferredNamespaceUri)
        self.ns = str(self.iri) + "#" if str(self.iri) else str(uri or "")
        self.base = str(self.iri).rsplit("/", 1)[0] + "/" if "/" in str(self.iri) else self.ns
        self.ids = Ids()
        self.where: dict[Node, str] = {}  # term -> its id on the page
        self.own = sorted(
            (s for s in set(ontology.subjects()) if _under(s, self.ns)), key=_sort_key
        )
        self.schemes = sorted(
            (s for s in vocabularies.subjects(RDF.type, SKOS.ConceptScheme) if _iri(s)),
            key=_sort_key,
        )
        members: dict[Node, list[Node]] = {s: [] for s in self.schemes}
        for concept in sorted({c for c in vocabularies.subjects() if _iri(c)}, key=_sort_key):
            if concept in members:
                continue
            schemes = {*vocabularies.objects(concept, SKOS.inScheme)}
            schemes |= {*vocabularies.objects(concept, SKOS.topConceptOf)}
            for s in sorted(schemes, key=_sort_key):
                members.setdefault(s, []).append(concept)
            if (concept, RDF.type, SKOS.Concept) in vocabularies and not any(
                concept in m for m in members.values()
            ):
                members.setdefault(URIRef(""), []).append(concept)
        self.members = members
        self.codes = {c for m in members.values() for c in m} | set(members)
        self.reused = sorted(
            (
                s
                for s in set(ontology.subjects(RDF.type, None))
                if _iri(s) and s != self.iri and not _under(s, self.ns) and s not in self.codes
            ),
            key=lambda s: (self.qname(s).lower(), str(s)),
        )
        self.disjoint_groups = [
            _list(self.all, self.all.value(group, OWL.members))
            for group in self.all.subjects(RDF.type, OWL.AllDisjointClasses)
        ]
        # Ids: the ontology's own terms first, so that theirs are exactly their local names.
        for s in self.own:
            self.where[s] = self.ids.take(str(s)[len(self.ns) :])
        for scheme, concepts in members.items():
            for s in (scheme, *concepts):
                if _iri(s) and s not in self.where:
                    path = str(s)[len(self.base) :] if str(s).startswith(self.base) else ""
                    self.where[s] = self.ids.take(path or self.qname(s))
        for s in self.reused:
            self.where[s] = self.ids.take(self.qname(s))

    # -- the template's context ------------------------------------------------------------

    def context(self, downloads: list[Download]) -> dict[str, object]:
        sections = {
            k: self.ids.take(k)
            for k in ("overview", "downloads", "hierarchy", "reused", "code-lists", "deprecated")
        }
        groups: dict[str, list[Term]] = {}
        for s in self.own:
            term = self.term(s, self.onto)
            groups.setdefault(term.kind, []).append(term)
        ordered = [(h, groups.pop(h)) for _, h in KINDS if h in groups]
        ordered += [(h, terms) for h, terms in groups.items()]  # typed otherwise, or untyped
        kinds = [(self.ids.take(h.lower().replace(" ", "-")), h, terms) for h, terms in ordered]
        classes = {s for s in self.own if self._kind(s, self.onto) == "Classes"}
        props = [s for s in self.own if "propert" in self._kind(s, self.onto)]
        return {
            "sections": sections,
            "header": self.header(),
            "downloads": list(_grouped(downloads).items()),
            "kinds": kinds,
            "class_tree": self.tree(classes, RDFS.subClassOf),
            "property_tree": self.tree(set(props), RDFS.subPropertyOf),
            "deprecated": [t for _, _, terms in kinds for t in terms if t.deprecated],
            "reused": [self.term(s, self.onto) for s in self.reused],
            "schemes": [self.scheme(s) for s in self.members if _iri(s)],
            "loose": [self.term(c, self.vocab) for c in self.members.get(URIRef(""), [])],
        }

    def header(self) -> dict[str, object]:
        o, i = self.onto, self.iri
        return {
            "iri": str(i),
            "title": _text(o, i, DCTERMS.title) or _text(o, i, RDFS.label) or str(i),
            "description": _text(o, i, DCTERMS.description),
            "comments": _texts(o, i, RDFS.comment),
            "facts": [
                (what, [self.ref(v) for v in sorted(o.objects(i, p), key=_sort_key)])
                for what, p in (
                    ("Version", OWL.versionInfo),
                    ("Version IRI", OWL.versionIRI),
                    ("Prior version", OWL.priorVersion),
                    ("Licence", DCTERMS.license),
                    ("Creator", DCTERMS.creator),
                    ("Publisher", DCTERMS.publisher),
                    ("Created", DCTERMS.created),
                    ("Modified", DCTERMS.modified),
                    ("Preferred prefix", VANN.preferredNamespacePrefix),
                    ("Namespace", VANN.preferredNamespaceUri),
                )
                if (i, p, None) in o
            ],
        }

    def term(self, s: Node, g: Graph) -> Term:
        label = _text(g, s, RDFS.label) or _text(g, s, SKOS.prefLabel) or self.qname(s)
        term = Term(str(s), self.where[s], self.qname(s), label, self._kind(s, g))
        term.definition = _text(g, s, SKOS.definition)
        for what, p in (
            ("Also called", SKOS.altLabel),
            ("Notation", SKOS.notation),
            ("Comment", RDFS.comment),
            ("Scope note", SKOS.scopeNote),
            ("Note", SKOS.note),
            ("Example", SKOS.example),
        ):
            term.notes += [(what, text) for text in _texts(g, s, p)]
        term.characteristics = sorted(
            CHARACTERISTICS[t] for t in g.objects(s, RDF.type) if t in CHARACTERISTICS
        )
        term.deprecated = any(_true(v) for v in g.objects(s, OWL.deprecated))
        term.replaced_by = [
            self.ref(v) for v in sorted(g.objects(s, DCTERMS.isReplacedBy), key=_sort_key)
        ]
        links = (
            ("Subclass of", self.all.objects(s, RDFS.subClassOf)),
            ("Superclass of", self.all.subjects(RDFS.subClassOf, s)),
            ("Subproperty of", self.all.objects(s, RDFS.subPropertyOf)),
            ("Superproperty of", self.all.subjects(RDFS.subPropertyOf, s)),
            ("Equivalent to", _both(self.all, s, OWL.equivalentClass, OWL.equivalentProperty)),
            ("Domain", self.all.objects(s, RDFS.domain)),
            ("Range", self.all.objects(s, RDFS.range)),
            ("Inverse of", _both(self.all, s, OWL.inverseOf)),
            ("Disjoint with", self.disjoint(s)),
            ("In code list", self.all.objects(s, SKOS.inScheme)),
            ("Broader", _both_ways(self.all, s, SKOS.broader, SKOS.narrower)),
            ("Narrower", _both_ways(self.all, s, SKOS.narrower, SKOS.broader)),
            ("Related", _both(self.all, s, SKOS.related)),
            ("Exact match", self.all.objects(s, SKOS.exactMatch)),
            ("Close match", self.all.objects(s, SKOS.closeMatch)),
            ("Defined by", [] if _under(s, self.ns) else self.all.objects(s, RDFS.isDefinedBy)),
            ("Used in the domain of", self.all.subjects(RDFS.domain, s)),
            ("Used in the range of", self.all.subjects(RDFS.range, s)),
            ("Checked by", self.checked_by(s)),
        )
        for what, values in links:
            items = [self.expr(v) for v in sorted(set(values), key=_sort_key)]
            if items:
                term.relations.append((what, items))
        return term

    def scheme(self, s: Node) -> Scheme:
        concepts = self.members[s]
        inside = set(concepts)

        def parents(c: Node) -> set[Node]:
            found = {*self.vocab.objects(c, SKOS.broader), *self.vocab.subjects(SKOS.narrower, c)}
            return found & inside

        children = {c: [d for d in concepts if c in parents(d)] for c in concepts}
        return Scheme(
            self.term(s, self.vocab),
            self.forest(concepts, children),
            [self.term(c, self.vocab) for c in concepts],
        )

    def tree(self, terms: set[Node], up: URIRef) -> list[Tree]:
        """The terms as a forest under `up` (subClassOf, subPropertyOf) among themselves."""
        ordered = sorted(terms, key=_sort_key)
        children: dict[Node, list[Node]] = {t: [] for t in ordered}
        for t in ordered:
            for parent in sorted(self.onto.objects(t, up), key=_sort_key):
                if parent in terms and parent != t:
                    children[parent].append(t)
        return self.forest(ordered, children)

    def forest(self, nodes: Sequence[Node], children: dict[Node, list[Node]]) -> list[Tree]:
        """The nodes as trees: those under no other at the top, then any left out (a cycle)."""
        under = {c for cs in children.values() for c in cs}
        trees = self._grow([n for n in nodes if n not in under], children, frozenset())
        reached = {n for t in trees for n in _nodes(t)}
        for n in nodes:
            if n not in reached:
                trees += self._grow([n], children, frozenset())
                reached |= set(_nodes(trees[-1]))
        return trees

    def _grow(
        self, nodes: Iterable[Node], children: dict[Node, list[Node]], path: frozenset[Node]
    ) -> list[Tree]:
        """Trees of `nodes` and the nodes under them, never entering a node twice on one path."""
        if len(path) > MAX_DEPTH:
            return []
        return [
            Tree(self.ref(n), self._grow(children.get(n, []), children, path | {n}), n)
            for n in nodes
            if n not in path
        ]

    def disjoint(self, s: Node) -> set[Node]:
        found = set(_both(self.all, s, OWL.disjointWith))
        for members in self.disjoint_groups:
            if s in members:
                found.update(m for m in members if m != s)
        return found

    def checked_by(self, s: Node) -> set[Node]:
        shapes = set(self.shapes.subjects(SH.targetClass, s))
        shapes |= set(self.shapes.subjects(SH.path, s))
        return {x for x in shapes if _iri(x)}

    # -- terms as links ----------------------------------------------------------------------

    def ref(self, node: Node) -> Ref:
        if isinstance(node, Literal):
            return Ref(str(node), None)
        label = _text(self.all, node, RDFS.label) or _text(self.all, node, SKOS.prefLabel) or ""
        if node in self.where:
            if node in self.codes:
                return Ref(label or self.qname(node), "#" + self.where[node], str(node))
            return Ref(self.qname(node), "#" + self.where[node], label)
        return Ref(self.qname(node), str(node), label)

    def expr(self, node: Node, depth: int = 0) -> Ref | Expr:
        """A named term as a link; a blank node as the class expression it states."""
        if not isinstance(node, BNode):
            return self.ref(node)
        if depth > MAX_DEPTH:
            return Ref("…", None)
        g = self.all
        for p, op in OPERATORS.items():
            items = g.value(node, p)
            if items is not None:
                return Expr(op, tuple(self.expr(m, depth + 1) for m in _list(g, items)))
        complement = g.value(node, OWL.complementOf)
        if complement is not None:
            return Expr("not", (self.expr(complement, depth + 1),))
        on = g.value(node, OWL.onProperty)
        if on is not None:
            for p, op in RESTRICTIONS.items():
                value = g.value(node, p)
                if value is not None:
                    parts = [self.expr(value, depth + 1)]
                    qualified = g.value(node, OWL.onClass) or g.value(node, OWL.onDataRange)
                    if qualified is not None:
                        parts.append(self.expr(qualified, depth + 1))
                    return Expr(op, tuple(parts), self.ref(on))
        return Ref("(an anonymous class)", None)

    def qname(self, node: Node) -> str:
        """`prefix:local` under the longest namespace bound in the graphs, else the IRI."""
        text = str(node)
        for prefix, ns in self.prefixes:
            if text.startswith(ns) and _local(text[len(ns) :]):
                return f"{prefix}:{text[len(ns) :]}"
        return text

    def _kind(self, s: Node, g: Graph) -> str:
        types = set(g.objects(s, RDF.type))
        if SKOS.ConceptScheme in types:
            return "code list"
        if SKOS.Concept in types:
            return "code"
        heading = next((h for t, h in KINDS if t in types), None)
        if heading:
            return heading
        if types & set(CHARACTERISTICS):
            return "Other properties"
        return "Other terms"


def _nodes(tree: Tree) -> Iterable[Node]:
    yield tree.node
    for child in tree.children:
        yield from _nodes(child)


def _grouped(downloads: list[Download]) -> dict[str, list[Download]]:
    """The files by what they hold, in the order given."""
    groups: dict[str, list[Download]] = {}
    for d in downloads:
        groups.setdefault(d.what, []).append(d)
    return groups


def _under(node: Node, ns: str) -> bool:
    return (
        isinstance(node, URIRef) and bool(ns) and str(node).startswith(ns) and len(node) > len(ns)
    )


def _iri(node: Node) -> bool:
    return isinstance(node, URIRef) and bool(str(node))


def _local(rest: str) -> bool:
    return bool(rest) and not any(c in rest for c in "/#?:") and not rest[0].isdigit()


def _sort_key(node: Node) -> tuple[str, str]:
    return (str(node).lower(), str(node))


def _both(g: Graph, s: Node, *ps: URIRef) -> set[Node]:
    """Values of symmetric links (inverseOf, equivalentClass...) stated either way."""
    return {x for p in ps for x in (*g.objects(s, p), *g.subjects(p, s)) if x != s}


def _both_ways(g: Graph, s: Node, p: URIRef, inverse: URIRef) -> set[Node]:
    """Values of `p` stated as `p` from `s` or as its `inverse` towards `s`."""
    return {*g.objects(s, p), *g.subjects(inverse, s)}


def _list(g: Graph, head: Node | None) -> list[Node]:
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


def _true(value: Node) -> bool:
    return isinstance(value, Literal) and str(value).strip().lower() in ("true", "1")


def _texts(g: Graph, s: Node, p: URIRef) -> list[str]:
    """The literal values, English and untagged first, then the others, each once."""
    values = [v for v in g.objects(s, p) if isinstance(v, Literal)]
    values.sort(key=lambda v: (v.language not in (None, "en"), v.language or "", str(v)))
    return list(dict.fromkeys(str(v) for v in values))


def _text(g: Graph, s: Node, p: URIRef) -> str | None:
    values = _texts(g, s, p)
    return values[0] if values else None
