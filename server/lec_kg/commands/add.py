"""`lec-kg add FILE`: validate a Turtle file of new facts with the submission shapes and add it to
the persistent store in a named graph of its own (<base>graph/added/<file stem>).

Exit 0 when added, 1 when the facts violate the shapes (the report is printed, nothing is added),
2 when nothing could be tried (writing off, unreadable file, graph already there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import quote

from rdflib import Dataset, Graph
from rdflib.term import Node

from ..config import TOKEN_ENV, Settings
from ..errors import LecKgError, ValidationFailed
from ..namespaces import graph_iri

ADDED_KIND = "added"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse, validate (submission rules on the new facts), then insert in one update."""
    from ..engine import build_engine
    from ..validation import DataFileError, load_validator, parse_file

    if not settings.writable:
        print(f"lec-kg add: writing is disabled: set {TOKEN_ENV} to add facts", file=sys.stderr)
        return 2
    if settings.in_memory:
        print("lec-kg add: needs a data directory (--data-dir) to add to", file=sys.stderr)
        return 2
    try:
        new = parse_file(args.file)
    except DataFileError as exc:
        print(f"lec-kg add: {exc}", file=sys.stderr)
        return 2
    if len(new) == 0:
        print(f"lec-kg add: {args.file} holds no triples; nothing to add", file=sys.stderr)
        return 2
    # Escaped: a file name is not SPARQL (`a> } } ; DROP GRAPH <...` must stay a name).
    name = graph_iri(settings.base_iri, ADDED_KIND, quote(args.file.stem, safe=""))
    validator = load_validator(settings)
    engine = build_engine(settings, validator)
    try:
        return _add(engine, validator, new, name, args.file, settings)
    finally:
        engine.close()


def _add(engine, validator, new: Graph, name: str, path: Path, settings: Settings) -> int:
    """Refuse what the shapes refuse, then insert the file's triples in one update."""
    if not engine.is_ready():
        reason = engine.not_ready_reason or "not ready"
        print(f"lec-kg add: the store is not usable: {reason}", file=sys.stderr)
        return 2
    if name in engine.graph_names():
        print(
            f"lec-kg add: the graph <{name}> is already in the store; rename the file to add "
            "it as a new graph",
            file=sys.stderr,
        )
        return 2
    # The submission rules, judged on the new facts among the facts already stored.
    touched: set[Node] = set(new.subjects()) | set(new.objects())
    report = validator.validate(
        _stored_facts(engine, settings) + new,
        source_of={n: str(path) for n in touched},
        submission=True,
    )
    violations = [f for f in report.of_severity("Violation") if f.focus in touched]
    if violations:
        _refused(path, [_line(f) for f in violations])
        return 1
    try:
        outcome = engine.update(_insert_data(new, name))
    except ValidationFailed as exc:  # the whole store, judged by the engine
        findings = (exc.extra.get("report") or {}).get("findings", [])
        lines = [_line(f) for f in findings if f.get("severity") == "Violation"]
        _refused(path, lines or [exc.detail])  # no findings: the ontology's terms are closed
        return 1
    except LecKgError as exc:
        print(f"lec-kg add: {exc.title}: {exc.detail}", file=sys.stderr)
        return 2
    print(f"lec-kg add: added {outcome.added} triples to <{name}> in {settings.data_dir}")
    for warning in outcome.warnings:
        print(f"  {warning}")
    return 0


def _stored_facts(engine, settings: Settings) -> Graph:
    """The asserted facts in the store: every graph but the ontology and the shapes."""
    skip = (f"{settings.base_iri}graph/ontology/", f"{settings.base_iri}graph/shapes/")
    dataset = Dataset()
    dataset.parse(data=engine.export("application/n-quads"), format="nquads")
    facts = Graph()
    for s, p, o, g in dataset.quads():
        if not str(g).startswith(skip):
            facts.add((s, p, o))
    return facts


def _line(finding) -> str:
    """One finding as `focus — path — message [shape]` (a Finding or its JSON form)."""
    get = finding.get if isinstance(finding, dict) else lambda k: getattr(finding, k, None)
    return f"{get('focus')} — {get('path') or '(node)'} — {get('message')} [{get('shape')}]"


def _refused(path: Path, lines: list[str]) -> None:
    print(f"lec-kg add: {path} violates the shapes; nothing was added", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)


def _insert_data(graph: Graph, name: str) -> str:
    """One INSERT DATA putting every triple of `graph` into the named graph `name`."""
    triples = graph.serialize(format="nt", encoding="utf-8").decode("utf-8")
    return f"INSERT DATA {{ GRAPH <{name}> {{\n{triples}}} }}"
