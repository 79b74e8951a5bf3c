"""The validation gate: facts against the SHACL shapes, findings a curator can act on.

Files -> load -> validate (here) -> store. The server calls `Validator.validate` at start-up and on
every write; `lec-kg validate` calls it from the command line. Both load through `load_validator`
and `load_data`, so they see the same shapes and the same files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pyshacl
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.namespace import DCTERMS, SH, XSD
from rdflib.term import Node

from . import sparql_targets
from .config import Settings
from .namespaces import LEC
from .sources import SourceError, discover

LECSH = Namespace("https://w3id.org/lec-kg/shapes#")
SUBMISSION_ONLY = LECSH.submissionOnly
SKELETON = (
    RDF.type,
    URIRef("http://www.w3.org/2000/01/rdf-schema#subClassOf"),
    URIRef("http://www.w3.org/2000/01/rdf-schema#subPropertyOf"),
    URIRef("http://www.w3.org/2004/02/skos/core#inScheme"),
)
SEVERITIES = {SH.Violation: "Violation", SH.Warning: "Warning", SH.Info: "Info"}
PREFIXES = {
    "lec": str(LEC),
    "lecsh": str(LECSH),
    "rdf": str(RDF),
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": str(DCTERMS),
    "org": "http://www.w3.org/ns/org#",
    "prov": "http://www.w3.org/ns/prov#",
    "owl": "http://www.w3.org/2002/07/owl#",
}


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
    path_node: Node | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, str | None]:
        """Plain JSON-ready form."""
        return {
            "severity": self.severity,
            "shape": self.shape,
            "focus": _term_text(self.focus),
            "path": self.path,
            "message": self.message,
            "value": None if self.value is None else _term_text(self.value),
            "source_file": self.source_file,
        }


@dataclass(frozen=True)
class ValidationReport:
    """All findings of one validation run; it conforms when there is no Violation."""

    findings: tuple[Finding, ...]
    path_graph: Graph = field(default_factory=Graph, compare=False, repr=False)

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
            value = "" if f.value is None else f" (value: {_term_text(f.value)})"
            lines.append(
                f"{f.severity}: {where}: {_term_text(f.focus)} — {path} — {f.message}{value} "
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
        """The report as an sh:ValidationReport graph (source file as dcterms:source)."""
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
            g.add((r, SH.focusNode, f.focus))
            g.add((r, SH.resultMessage, Literal(f.message, lang="en")))
            if f.path_node is not None:
                g.add((r, SH.resultPath, _copy_node(f.path_node, self.path_graph, g)))
            if f.value is not None:
                g.add((r, SH.value, f.value))
            if f.source_file:
                g.add((r, DCTERMS.source, Literal(f.source_file)))
        return g


class Validator:
    """SHACL validation of fact graphs with the project's shapes and ontology.

    Built once (at start-up); `validate` may be called many times. The ontology's skeleton (its
    declarations, class and property hierarchy and code-list membership, not its labels and
    definitions) is mixed into each data graph (pySHACL's ont_graph), so sh:class and
    sh:targetClass follow rdfs:subClassOf without computing an RDFS closure. SPARQL targets are
    selected with Oxigraph (see `sparql_targets`); they pick out only the nodes a SPARQL
    constraint must look at, since pySHACL runs such a constraint once per focus node. Submission-only shapes are switched off with
    sh:deactivated in a private copy of the shapes unless a submission is validated.
    """

    def __init__(self, shapes: Graph, ontology: Graph) -> None:
        self._ontology = _skeleton(ontology)
        self._shapes_for_submissions, self._targets = sparql_targets.split(shapes)
        self._shapes = _without_submission_rules(self._shapes_for_submissions)

    def validate(
        self,
        data: Graph,
        *,
        source_of: Mapping[Node, str] | None = None,
        submission: bool = False,
    ) -> ValidationReport:
        """Validate `data`; `source_of` maps nodes to the file they came from."""
        shapes = self._shapes_for_submissions if submission else self._shapes
        shapes = sparql_targets.with_target_nodes(shapes, self._targets, (data, self._ontology))
        _, results, _ = pyshacl.validate(
            data,
            shacl_graph=shapes,
            ont_graph=self._ontology,
            inference="none",
            advanced=True,
            allow_warnings=True,
            allow_infos=True,
        )
        if not isinstance(results, Graph):  # pySHACL returns a failure when the shapes are broken
            raise ShapesError(str(results))
        source_of = source_of or {}
        findings = _unique(_finding(results, r, shapes, source_of) for r in _results(results))
        findings.sort(
            key=lambda f: (_SEVERITY_ORDER[f.severity], f.source_file or "", str(f.focus))
        )
        return ValidationReport(tuple(findings), path_graph=shapes)


_SEVERITY_ORDER = {"Violation": 0, "Warning": 1, "Info": 2}


class ShapesError(ValueError):
    """The shapes themselves are broken (pySHACL refused them)."""


class DataFileError(SourceError):
    """A data file does not parse; `line` and `column` (1-based) say where, when known."""

    def __init__(self, path: Path, detail: str, line: int | None, column: int | None) -> None:
        where = f"{path}:{line}:{column}" if line is not None else str(path)
        super().__init__(f"{where}: {detail}")
        self.path = path
        self.detail = detail
        self.line = line
        self.column = column


def load_validator(settings: Settings) -> Validator:
    """The validator for the shipped shapes/ and ontology/ under settings.source_dir."""
    shapes = _parse_all(
        f.path for f in discover(settings.source_dir, settings.base_iri, ["shapes"])
    )
    ontology = _parse_all(
        f.path for f in discover(settings.source_dir, settings.base_iri, ["ontology"])
    )
    return Validator(shapes[0], ontology[0])


def load_data(settings: Settings, extra: Iterable[Path] = ()) -> tuple[Graph, dict[Node, str]]:
    """The facts of graph/ (plus extra files) in one graph, and which file each node came from.

    A node maps to the first file it is a subject in; a node that is only ever an object (a code
    value, say) maps to the first file that uses it.
    """
    files: list[Path] = [
        f.path for f in discover(settings.source_dir, settings.base_iri, ["graph"])
    ]
    files += list(extra)
    data, per_file = _parse_all(files)
    source_of: dict[Node, str] = {}
    objects: dict[Node, str] = {}
    for path, g in per_file:
        name = _display_name(path, settings.source_dir)
        for s in g.subjects(unique=True):
            source_of.setdefault(s, name)
        for o in g.objects(unique=True):
            if not isinstance(o, Literal):
                objects.setdefault(o, name)
    for node, name in objects.items():
        source_of.setdefault(node, name)
    return data, source_of


def parse_file(path: Path) -> Graph:
    """Parse one Turtle file; a syntax error raises DataFileError with line and column."""
    g = Graph()
    try:
        g.parse(path, format="turtle")
    except OSError as exc:
        raise DataFileError(path, f"cannot read the file ({exc.strerror})", None, None) from exc
    except Exception as exc:  # rdflib raises several types; all mean "bad file"
        line, column, detail = _syntax_position(exc)
        raise DataFileError(path, detail, line, column) from exc
    return g


def _parse_all(paths: Iterable[Path]) -> tuple[Graph, list[tuple[Path, Graph]]]:
    """Each file parsed on its own, then all in one graph (prefixes kept)."""
    out = Graph()
    per_file = []
    for path in paths:
        g = parse_file(path)
        per_file.append((path, g))
        for prefix, ns in g.namespaces():
            out.bind(prefix, ns, override=False)
        out += g
    return out, per_file


def _display_name(path: Path, source_dir: Path) -> str:
    """The path relative to the checkout when it lies inside it, else as given."""
    try:
        return str(path.resolve().relative_to(source_dir.resolve()))
    except ValueError:
        return str(path)


def _syntax_position(exc: Exception) -> tuple[int | None, int | None, str]:
    """Line, column and reason of an rdflib parse error (Turtle's BadSyntax carries the text)."""
    text = getattr(exc, "_str", None)
    i = getattr(exc, "_i", None)
    why = getattr(exc, "_why", None)
    if isinstance(text, bytes) and isinstance(i, int):
        s = text.decode("utf-8", errors="replace")
        line = s.count("\n", 0, i) + 1
        column = i - (s.rfind("\n", 0, i) + 1) + 1
        return line, column, f"Turtle syntax error: {why}"
    return None, None, f"cannot parse: {exc}"


def _skeleton(ontology: Graph) -> Graph:
    """What validation needs of the ontology: declarations, hierarchies, code-list membership."""
    out = Graph()
    for predicate in SKELETON:
        for triple in ontology.triples((None, predicate, None)):
            out.add(triple)
    return out


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per shape, focus, path and message (one defect can break two constraints of a
    shape, e.g. sh:class and sh:maxCount, which would print the same line twice)."""
    seen: dict[tuple, Finding] = {}
    for f in findings:
        key = (f.severity, f.shape, f.focus, f.path, f.message)
        if key not in seen or (seen[key].value is None and f.value is not None):
            seen[key] = f
    return list(seen.values())


def _without_submission_rules(shapes: Graph) -> Graph:
    """A copy of the shapes with every shape marked lecsh:submissionOnly deactivated."""
    out = Graph()
    for prefix, ns in shapes.namespaces():
        out.bind(prefix, ns)
    out += shapes
    for shape in set(shapes.subjects(SUBMISSION_ONLY, Literal(True))):
        out.add((shape, SH.deactivated, Literal(True)))
    return out


def _results(results: Graph) -> list[Node]:
    return list(results.objects(None, SH.result))


def _finding(results: Graph, r: Node, shapes: Graph, source_of: Mapping[Node, str]) -> Finding:
    focus = results.value(r, SH.focusNode)
    path_node = results.value(r, SH.resultPath)
    shape = _named_shape(results.value(r, SH.sourceShape), shapes)
    if path_node is None and shape is not None:
        path_node = shapes.value(shape, SH.path)
    messages = list(results.objects(r, SH.resultMessage))
    english = [m for m in messages if getattr(m, "language", None) == "en"]
    message = str((english or messages or [Literal("(no message)")])[0])
    return Finding(
        severity=SEVERITIES.get(results.value(r, SH.resultSeverity), "Violation"),
        shape=str(shape),
        focus=focus,
        path=None if path_node is None else render_path(path_node, shapes),
        message=message,
        value=results.value(r, SH.value),
        source_file=source_of.get(focus),
        path_node=path_node,
    )


def _named_shape(shape: Node | None, shapes: Graph) -> Node | None:
    """The nearest named (IRI) shape: a blank shape (inside sh:or, a list, ...) is climbed up."""
    seen = set()
    while isinstance(shape, BNode) and shape not in seen:
        seen.add(shape)
        shape = next(iter(shapes.subjects(None, shape)), None)
    return shape


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


def _term_text(term: Node) -> str:
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


__all__ = [
    "DataFileError",
    "Finding",
    "ShapesError",
    "ValidationReport",
    "Validator",
    "load_data",
    "load_validator",
    "parse_file",
    "render_path",
]
