"""The ontology's own page: header, classes, properties, reused terms, code lists, downloads.

Everything on the page is read from the graphs handed in: the ontology (ontology/lec.ttl), the
code lists (ontology/vocabularies.ttl) and, optionally, the shapes (which shape checks a term).
No list of terms is written by hand. Every term gets one HTML id, unique across the page
(`Ids`): a term of the ontology's namespace its local name, so that `<ontology IRI>#Term` lands
on it; a code list or code its path under the base (`id/code/measure/extradition-treaties`); a
reused term its prefixed name (`prov:Agent`). The page is rendered with the service's one Jinja
environment (`results_html.TEMPLATES`): every value is escaped, every link passes `http_link`.
What the template is handed (terms, links, trees) and the graph readers are in `ontology_terms`.
"""

from __future__ import annotations

from collections.abc import Sequence

from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF, RDFS, SH, SKOS, VANN
from rdflib.term import Node

from .ontology_terms import (
    MAX_DEPTH,
    Download,
    Expr,
    Ids,
    Ref,
    Scheme,
    Term,
    Tree,
    both,
    both_ways,
    first_text,
    forest,
    is_iri,
    is_local_name,
    is_true,
    label_of,
    rdf_list,
    sort_key,
    texts,
    under,
)
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
        self.own = sorted((s for s in set(ontology.subjects()) if under(s, self.ns)), key=sort_key)
        self.schemes = sorted(
            (s for s in vocabularies.subjects(RDF.type, SKOS.ConceptScheme) if is_iri(s)),
            key=sort_key,
        )
        members: dict[Node, list[Node]] = {s: [] for s in self.schemes}
        for concept in sorted({c for c in vocabularies.subjects() if is_iri(c)}, key=sort_key):
            if concept in members:
                continue
            schemes = {*vocabularies.objects(concept, SKOS.inScheme)}
            schemes |= {*vocabularies.objects(concept, SKOS.topConceptOf)}
            for s in sorted(schemes, key=sort_key):
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
                if is_iri(s) and s != self.iri and not under(s, self.ns) and s not in self.codes
            ),
            key=lambda s: (self.qname(s).lower(), str(s)),
        )
        self.disjoint_groups = [
            rdf_list(self.all, self.all.value(group, OWL.members))
            for group in self.all.subjects(RDF.type, OWL.AllDisjointClasses)
        ]
        # Ids: the ontology's own terms first, so that theirs are exactly their local names.
        for s in self.own:
            self.where[s] = self.ids.take(str(s)[len(self.ns) :])
        for scheme, concepts in members.items():
            for s in (scheme, *concepts):
                if is_iri(s) and s not in self.where:
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
            "schemes": [self.scheme(s) for s in self.members if is_iri(s)],
            "loose": [self.term(c, self.vocab) for c in self.members.get(URIRef(""), [])],
        }

    def header(self) -> dict[str, object]:
        o, i = self.onto, self.iri
        return {
            "iri": str(i),
            "title": first_text(o, i, DCTERMS.title) or first_text(o, i, RDFS.label) or str(i),
            "description": first_text(o, i, DCTERMS.description),
            "comments": texts(o, i, RDFS.comment),
            "facts": [
                (what, [self.ref(v) for v in sorted(o.objects(i, p), key=sort_key)])
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
        label = label_of(g, s) or self.qname(s)
        term = Term(str(s), self.where[s], self.qname(s), label, self._kind(s, g))
        term.definition = first_text(g, s, SKOS.definition)
        for what, p in (
            ("Also called", SKOS.altLabel),
            ("Notation", SKOS.notation),
            ("Comment", RDFS.comment),
            ("Scope note", SKOS.scopeNote),
            ("Note", SKOS.note),
            ("Example", SKOS.example),
        ):
            term.notes += [(what, text) for text in texts(g, s, p)]
        term.characteristics = sorted(
            CHARACTERISTICS[t] for t in g.objects(s, RDF.type) if t in CHARACTERISTICS
        )
        term.deprecated = any(is_true(v) for v in g.objects(s, OWL.deprecated))
        term.replaced_by = [
            self.ref(v) for v in sorted(g.objects(s, DCTERMS.isReplacedBy), key=sort_key)
        ]
        links = (
            ("Subclass of", self.all.objects(s, RDFS.subClassOf)),
            ("Superclass of", self.all.subjects(RDFS.subClassOf, s)),
            ("Subproperty of", self.all.objects(s, RDFS.subPropertyOf)),
            ("Superproperty of", self.all.subjects(RDFS.subPropertyOf, s)),
            ("Equivalent to", both(self.all, s, OWL.equivalentClass, OWL.equivalentProperty)),
            ("Domain", self.all.objects(s, RDFS.domain)),
            ("Range", self.all.objects(s, RDFS.range)),
            ("Inverse of", both(self.all, s, OWL.inverseOf)),
            ("Disjoint with", self.disjoint(s)),
            ("In code list", self.all.objects(s, SKOS.inScheme)),
            ("Broader", both_ways(self.all, s, SKOS.broader, SKOS.narrower)),
            ("Narrower", both_ways(self.all, s, SKOS.narrower, SKOS.broader)),
            ("Related", both(self.all, s, SKOS.related)),
            ("Exact match", self.all.objects(s, SKOS.exactMatch)),
            ("Close match", self.all.objects(s, SKOS.closeMatch)),
            ("Defined by", [] if under(s, self.ns) else self.all.objects(s, RDFS.isDefinedBy)),
            ("Used in the domain of", self.all.subjects(RDFS.domain, s)),
            ("Used in the range of", self.all.subjects(RDFS.range, s)),
            ("Checked by", self.checked_by(s)),
        )
        for what, values in links:
            items = [self.expr(v) for v in sorted(set(values), key=sort_key)]
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
            forest(concepts, children, self.ref),
            [self.term(c, self.vocab) for c in concepts],
        )

    def tree(self, terms: set[Node], up: URIRef) -> list[Tree]:
        """The terms as a forest under `up` (subClassOf, subPropertyOf) among themselves."""
        ordered = sorted(terms, key=sort_key)
        children: dict[Node, list[Node]] = {t: [] for t in ordered}
        for t in ordered:
            for parent in sorted(self.onto.objects(t, up), key=sort_key):
                if parent in terms and parent != t:
                    children[parent].append(t)
        return forest(ordered, children, self.ref)

    def disjoint(self, s: Node) -> set[Node]:
        found = set(both(self.all, s, OWL.disjointWith))
        for members in self.disjoint_groups:
            if s in members:
                found.update(m for m in members if m != s)
        return found

    def checked_by(self, s: Node) -> set[Node]:
        shapes = set(self.shapes.subjects(SH.targetClass, s))
        shapes |= set(self.shapes.subjects(SH.path, s))
        return {x for x in shapes if is_iri(x)}

    # -- terms as links ----------------------------------------------------------------------

    def ref(self, node: Node) -> Ref:
        if isinstance(node, Literal):
            return Ref(str(node), None)
        label = (
            first_text(self.all, node, RDFS.label)
            or first_text(self.all, node, SKOS.prefLabel)
            or ""
        )
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
                return Expr(op, tuple(self.expr(m, depth + 1) for m in rdf_list(g, items)))
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
        iri = str(node)
        for prefix, ns in self.prefixes:
            if iri.startswith(ns) and is_local_name(iri[len(ns) :]):
                return f"{prefix}:{iri[len(ns) :]}"
        return iri

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


def _grouped(downloads: list[Download]) -> dict[str, list[Download]]:
    """The files by what they hold, in the order given."""
    groups: dict[str, list[Download]] = {}
    for d in downloads:
        groups.setdefault(d.what, []).append(d)
    return groups
