"""Findings of a validation run and their renderings: readable text, JSON, a SHACL report graph."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, SH, XSD
from rdflib.term import Node

from .namespaces import LEC

SEVERITIES = {SH.Violation: "Violation", SH.Warning: "Warning", SH.Info: "Info"}
PREFIXES = {
    "lec": str(LEC),
    "lecsh": "https://w3id.org/lec-kg/shapes#",
    "rdf": str(RDF),
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": str(DCTERMS),
    "org": "http://www.w3.org/ns/org#",
    "prov": "http://www.w3.org/ns/prov#",
    "owl": "http://www.w3.org/2002/07/owl#",
}
SEVERITY_ORDER = {"Violation": 0, "Warning": 1, "Info": 2}


@dataclass(frozen=True)
class Finding:
    """One result of validation: which shape fired on which node, why, and in which file."""

    severity: str  # 'Violation' | 'Warning' | 'Info'
    shape: str  # IRI of the named node or property shape
    focus: Node
    path: str | None  # the property path in SPARQL syntax with prefixes, e.g. "^lec:stepOf"
    message: str
    value: Node | None = None
    source_file: str | None = None
    context: str | None = None  # for a blank focus node: what holds it, e.g. "lec:evidence of <x>"
    path_node: Node | None = field(default=None, compare=False, repr=False)
    component: str | None = None  # IRI of the sh:sourceConstraintComponent that fired

    def rebased(self, canonical: str, base: str) -> Finding:
        """The finding with every IRI under `canonical` (focus, value, shape, path, the IRIs its
        message and context name) moved under `base`."""
        return replace(
            self,
            shape=_rebase_text(self.shape, canonical, base),
            focus=_rebase_node(self.focus, canonical, base),
            message=self.message.replace(canonical, base),
            value=None if self.value is None else _rebase_node(self.value, canonical, base),
            source_file=None
            if self.source_file is None
            else _rebase_text(self.source_file, canonical, base),
            context=None if self.context is None else self.context.replace(canonical, base),
            path_node=None
            if self.path_node is None
            else _rebase_node(self.path_node, canonical, base),
        )

    def to_dict(self) -> dict[str, str | None]:
        """Plain JSON-ready form."""
        return {
            "severity": self.severity,
            "shape": self.shape,
            "focus": term_text(self.focus),
            "path": self.path,
            "message": self.message,
            "value": None if self.value is None else term_text(self.value),
            "source_file": self.source_file,
            "context": self.context,
        }


@dataclass(frozen=True)
class ValidationReport:
    """All findings of one validation run; it conforms when there is no Violation."""

    findings: tuple[Finding, ...]
    path_graph: Graph = field(default_factory=Graph, compare=False, repr=False)

    def __post_init__(self) -> None:
        # One order whatever order the engine found them in: the same body, the same report.
        object.__setattr__(self, "findings", tuple(sorted(self.findings, key=finding_order)))

    def rebased(self, canonical: str, base: str) -> ValidationReport:
        """The report with every IRI under `canonical` moved under `base` (a deployment's own
        host: the shapes judge canonical IRIs, a client sent and reads its own)."""
        if canonical == base:
            return self
        paths = self.path_graph
        if any(isinstance(f.path_node, BNode) for f in self.findings):
            paths = Graph()
            for triple in self.path_graph:
                paths.add(tuple(_rebase_node(t, canonical, base) for t in triple))  # type: ignore[arg-type]
        return ValidationReport(
            tuple(f.rebased(canonical, base) for f in self.findings), path_graph=paths
        )

    @property
    def conforms(self) -> bool:
        """True when no finding is a Violation (Warnings and Infos are allowed)."""
        return not any(f.severity == "Violation" for f in self.findings)

    def of_severity(self, severity: str) -> list[Finding]:
        """The findings of one severity."""
        return [f for f in self.findings if f.severity == severity]

    def counts(self) -> dict[str, int]:
        """Number of findings per severity."""
        return {name: len(self.of_severity(name)) for name in SEVERITIES.values()}

    def to_text(self) -> str:
        """Readable lines: `file: focus — path — message [shape]`, then a summary line."""
        lines = []
        for f in self.findings:
            where = f.source_file or "(no file)"
            path = f.path or "(node)"
            value = "" if f.value is None else f" (value: {term_text(f.value)})"
            focus = f"[{f.context}]" if f.context else term_text(f.focus)
            lines.append(
                f"{f.severity}: {where}: {focus} — {path} — {f.message}{value} "
                f"[{_compact(f.shape)}]"
            )
        c = self.counts()
        verdict = "conforms" if self.conforms else "does not conform"
        lines.append(
            f"{verdict}: {c['Violation']} violation(s), {c['Warning']} warning(s), "
            f"{c['Info']} info(s)"
        )
        return "\n".join(lines)

    def to_json(self) -> str:
        """The report as JSON: conforms, counts and the findings."""
        body = {
            "conforms": self.conforms,
            "counts": self.counts(),
            "findings": [f.to_dict() for f in self.findings],
        }
        return json.dumps(body, indent=2, ensure_ascii=False)

    def to_graph(self) -> Graph:
        """The report as an sh:ValidationReport graph (SHACL §3.6): each result with its one
        sh:sourceConstraintComponent, and where it came from as dcterms:source (the graph's IRI,
        or the file's name)."""
        g = Graph()
        g.bind("sh", SH)
        for prefix, ns in PREFIXES.items():
            g.bind(prefix, ns)
        report = BNode()
        g.add((report, RDF.type, SH.ValidationReport))
        g.add((report, SH.conforms, Literal(self.conforms)))
        for f in self.findings:
            r = BNode()
            g.add((report, SH.result, r))
            g.add((r, RDF.type, SH.ValidationResult))
            g.add((r, SH.resultSeverity, SH[f.severity]))
            g.add((r, SH.sourceShape, URIRef(f.shape)))
            if f.component:
                g.add((r, SH.sourceConstraintComponent, URIRef(f.component)))
            g.add((r, SH.focusNode, f.focus))
            g.add((r, SH.resultMessage, Literal(f.message, lang="en")))
            if f.path_node is not None:
                g.add((r, SH.resultPath, _copy_node(f.path_node, self.path_graph, g)))
            if f.value is not None:
                g.add((r, SH.value, f.value))
            source = _source_node(f.source_file)
            if source is not None:
                g.add((r, DCTERMS.source, source))
        return g


def finding_order(f: Finding) -> tuple:
    """Findings in a stable order: severity, then focus (IRIs before blank nodes, whose labels
    change between runs), path, shape, message and value."""
    return (
        SEVERITY_ORDER.get(f.severity, len(SEVERITY_ORDER)),
        isinstance(f.focus, BNode),
        str(f.focus) if not isinstance(f.focus, BNode) else (f.context or ""),
        f.path or "",
        f.shape,
        f.message,
        "" if f.value is None or isinstance(f.value, BNode) else term_text(f.value),
    )


def node_text(term: Node, context: str | None = None) -> str:
    """A node as a person reads it in a sentence: <iri>, a literal as written, a blank node as
    _:label with what holds it (never <label>: it is no IRI)."""
    if isinstance(term, URIRef):
        return f"<{term}>"
    if isinstance(term, BNode):
        return f"_:{term} ({context})" if context else f"_:{term}"
    return term_text(term)


def _source_node(source: str | None) -> Node | None:
    """A finding's source as RDF: an IRI (given bare or as <iri>), or a file's name."""
    if not source:
        return None
    bare = source[1:-1] if source.startswith("<") and source.endswith(">") else source
    if ":" in bare and not bare.startswith("/") and " " not in bare:
        return URIRef(bare)
    return Literal(source)


def _rebase_text(iri: str, canonical: str, base: str) -> str:
    for opening in ("", "<"):
        if iri.startswith(opening + canonical):
            return opening + base + iri[len(opening + canonical) :]
    return iri


def _rebase_node(term: Node, canonical: str, base: str) -> Node:
    if isinstance(term, URIRef) and str(term).startswith(canonical):
        return URIRef(base + str(term)[len(canonical) :])
    return term


def render_path(path: Node, shapes: Graph) -> str:
    """A SHACL property path in SPARQL syntax with the project's prefixes."""
    if isinstance(path, URIRef):
        return _compact(str(path))
    if (path, RDF.first, None) in shapes:
        return "/".join(_grouped(p, shapes) for p in Collection(shapes, path))
    for predicate, fmt in (
        (SH.inversePath, "^{}"),
        (SH.zeroOrMorePath, "{}*"),
        (SH.oneOrMorePath, "{}+"),
        (SH.zeroOrOnePath, "{}?"),
    ):
        inner = shapes.value(path, predicate)
        if inner is not None:
            return fmt.format(_grouped(inner, shapes))
    alternatives = shapes.value(path, SH.alternativePath)
    if alternatives is not None:
        return "|".join(_grouped(p, shapes) for p in Collection(shapes, alternatives))
    return str(path)


def _grouped(path: Node, shapes: Graph) -> str:
    text = render_path(path, shapes)
    return text if isinstance(path, URIRef) or text.startswith("^") else f"({text})"


def _compact(iri: str) -> str:
    for prefix, ns in PREFIXES.items():
        if iri.startswith(ns) and len(iri) > len(ns):
            return f"{prefix}:{iri[len(ns) :]}"
    return iri


def term_text(term: Node) -> str:
    if isinstance(term, URIRef):
        return str(term)
    if isinstance(term, BNode):
        return f"_:{term}"
    if isinstance(term, Literal) and term.datatype not in (None, XSD.string):
        return term.n3()
    return str(term)


def _copy_node(node: Node, source: Graph, target: Graph) -> Node:
    """Copy a path expression (blank nodes and lists) from the shapes into the report graph."""
    if not isinstance(node, BNode):
        return node
    for p, o in source.predicate_objects(node):
        target.add((node, p, _copy_node(o, source, target)))
    return node
