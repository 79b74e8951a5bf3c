"""The validation gate: facts against the SHACL shapes, findings a curator can act on.

Files -> load -> validate (here) -> store. The server calls `Validator.validate` at start-up and on
every write; `lec-kg validate` calls it from the command line. Both load through `load_validator`
and `load_data`, so they see the same shapes and the same files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyshacl
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef
from rdflib.graph import ReadOnlyGraphAggregate
from rdflib.namespace import SH
from rdflib.term import Node

try:
    import pyshacl_turbo  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover  # an environment made before it was a dependency
    pyshacl_turbo = None  # type: ignore[assignment, unused-ignore]

from . import sparql_targets
from .config import Settings
from .datebounds import dated_nodes, missing_bounds
from .findings import (
    SEVERITIES,
    SEVERITY_ORDER,
    Finding,
    ValidationReport,
    render_path,
    term_text,
)
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


class Validator:
    """SHACL validation of fact graphs with the project's shapes and ontology.

    Built once (at start-up); `validate` may be called many times. The ontology's skeleton (its
    declarations, class and property hierarchy and code-list membership, not its labels and
    definitions) is mixed into each data graph (pySHACL's ont_graph), so sh:class and
    sh:targetClass follow rdfs:subClassOf without computing an RDFS closure. SPARQL targets are
    selected with Oxigraph (see `sparql_targets`); they pick out only the nodes a SPARQL
    constraint must look at, since pySHACL runs such a constraint once per focus node.
    Submission-only shapes are switched off with sh:deactivated in a private copy of the shapes
    unless a submission is validated.

    The engine is pyshacl-turbo (pySHACL's API and results, in Rust) when it is installed (a
    dependency of the package): its shapes are compiled once here, its own SPARQL targets are
    fast, and the ontology's skeleton is added to the data graph. Without it, pySHACL.
    """

    def __init__(self, shapes: Graph, ontology: Graph) -> None:
        self._ontology = _skeleton(ontology)
        self._shapes_for_submissions, self._targets = sparql_targets.split(shapes)
        self._shapes = _without_submission_rules(self._shapes_for_submissions)
        self._compiled: dict[bool, tuple[Any, Graph]] = {}
        if pyshacl_turbo is not None:  # its own SPARQL targets are fast: the shapes as written
            for submission, graph in ((False, _without_submission_rules(shapes)), (True, shapes)):
                self._compiled[submission] = (
                    pyshacl_turbo.compile_shapes(graph, advanced=True),
                    graph,
                )

    def validate(
        self,
        data: Graph,
        *,
        source_of: Mapping[Node, str] | None = None,
        submission: bool = False,
    ) -> ValidationReport:
        """Validate `data`; `source_of` maps nodes to the file they came from."""
        if submission in self._compiled:
            compiled, shapes = self._compiled[submission]
            mixed = ReadOnlyGraphAggregate([data, self._ontology])  # read, not copied
            _, results, _ = compiled.validate(mixed, allow_warnings=True, allow_infos=True)
        else:
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
        findings = _unique(_finding(results, r, shapes, source_of, data) for r in _results(results))
        findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.source_file or "", str(f.focus)))
        return ValidationReport(tuple(findings), path_graph=shapes)


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

    The dates of the extra files get the bounds `lec-kg dates` would give them in graph/.

    A node maps to the first file that types it (`a lec:...`), else to the first file it is a
    subject in (graph/date-bounds.ttl only adds computed dates to nodes described elsewhere); a
    node that is only ever an object (a code value, say) maps to the first file that uses it.
    """
    files: list[Path] = [
        f.path for f in discover(settings.source_dir, settings.base_iri, ["graph"])
    ]
    extra_files = list(extra)
    files += extra_files
    data, per_file = _parse_all(files)
    # Extra files are judged as they would stand in graph/, where `lec-kg dates` bounds their
    # dates (graph/date-bounds.ttl): the bounds they do not carry are computed here.
    extra_dated = {s for _, g in per_file[len(files) - len(extra_files) :] for s in dated_nodes(g)}
    data += missing_bounds(data, sorted(extra_dated, key=str))
    source_of: dict[Node, str] = {}
    objects: dict[Node, str] = {}
    for path, g in per_file:
        for s in g.subjects(RDF.type, None, unique=True):
            source_of.setdefault(s, _display_name(path, settings.source_dir))
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


def _finding(
    results: Graph, r: Node, shapes: Graph, source_of: Mapping[Node, str], data: Graph
) -> Finding:
    focus = results.value(r, SH.focusNode)
    assert focus is not None  # every sh:ValidationResult has a focus node
    path_node = results.value(r, SH.resultPath)
    shape = _named_shape(results.value(r, SH.sourceShape), shapes)
    if path_node is None and shape is not None:
        path_node = shapes.value(shape, SH.path)
    messages = list(results.objects(r, SH.resultMessage))
    english = [m for m in messages if getattr(m, "language", None) == "en"]
    message = str((english or messages or [Literal("(no message)")])[0])
    return Finding(
        severity=_severity(results.value(r, SH.resultSeverity)),
        shape=str(shape),
        focus=focus,
        path=None if path_node is None else render_path(path_node, shapes),
        message=message,
        value=results.value(r, SH.value),
        source_file=source_of.get(focus),
        context=_context(focus, data) if isinstance(focus, BNode) else None,
        path_node=path_node,
        component=_component(results.value(r, SH.sourceConstraintComponent)),
    )


def _component(node: Node | None) -> str | None:
    """A result's sh:sourceConstraintComponent (every engine's result has one)."""
    return None if node is None else str(node)


def _severity(node: object) -> str:
    """The plain name of a result's sh:resultSeverity (a Violation when it has none)."""
    return SEVERITIES.get(URIRef(str(node)), "Violation") if node is not None else "Violation"


def _context(node: BNode, data: Graph) -> str | None:
    """Where a blank node sits, so a curator can find it: `lec:evidence of <x>, quote "…"`."""
    holder = next(iter(data.subject_predicates(node)), None)
    if holder is None:
        return None
    subject, predicate = holder
    text = f"{render_path(predicate, Graph())} of {term_text(subject)}"
    quote = data.value(node, LEC.quote)
    if quote is not None:
        short = str(quote) if len(str(quote)) <= 60 else str(quote)[:57] + "..."
        text += f', quote "{short}"'
    return text


def _named_shape(shape: Node | None, shapes: Graph) -> Node | None:
    """The nearest named (IRI) shape: a blank shape (inside sh:or, a list, ...) is climbed up."""
    seen = set()
    while isinstance(shape, BNode) and shape not in seen:
        seen.add(shape)
        shape = next(iter(shapes.subjects(None, shape)), None)
    return shape


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
