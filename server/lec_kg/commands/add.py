"""`lec-kg add FILE`: validate a Turtle file of new facts with the submission shapes and add it to
the persistent store in a named graph of its own (<base>graph/added/<file stem>).

Exit 0 when added, 1 when the facts violate the shapes (the report is printed, nothing is added),
2 when nothing could be tried (writing off, unreadable file, graph already there).
"""

from __future__ import annotations

import argparse
import sys

from rdflib import Graph
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
    name = graph_iri(settings.base_iri, ADDED_KIND, args.file.stem)
    validator = load_validator(settings)
    engine = build_engine(settings, validator)
    if name in engine.graph_names():
        print(
            f"lec-kg add: the graph <{name}> is already in the store; rename the file to add "
            "it as a new graph",
            file=sys.stderr,
        )
        return 2

    current = Graph().parse(data=engine.export("application/n-triples"), format="nt")
    touched: set[Node] = set(new.subjects()) | set(new.objects())
    report = validator.validate(
        current + new, source_of={n: str(args.file) for n in touched}, submission=True
    )
    violations = [f for f in report.of_severity("Violation") if f.focus in touched]
    if violations:
        print(f"lec-kg add: {args.file} violates the shapes; nothing was added", file=sys.stderr)
        for f in violations:
            print(f"  {f.focus} — {f.path or '(node)'} — {f.message} [{f.shape}]", file=sys.stderr)
        return 1
    try:
        outcome = engine.update(_insert_data(new, name))
    except ValidationFailed as exc:
        print(f"lec-kg add: {args.file} violates the shapes; nothing was added", file=sys.stderr)
        report_text = exc.extra.get("report")
        if report_text is not None:
            print(report_text, file=sys.stderr)
        return 1
    except LecKgError as exc:
        print(f"lec-kg add: {exc.title}: {exc.detail}", file=sys.stderr)
        return 2
    finally:
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    print(f"lec-kg add: added {outcome.added} triples to <{name}> in {settings.data_dir}")
    return 0


def _insert_data(graph: Graph, name: str) -> str:
    """One INSERT DATA putting every triple of `graph` into the named graph `name`."""
    triples = graph.serialize(format="nt", encoding="utf-8").decode("utf-8")
    return f"INSERT DATA {{ GRAPH <{name}> {{\n{triples}}} }}"
