"""`lec-kg validate [FILE ...]`: the graph, or files of new facts with it, against the shapes.

The graph is the one `serve` would build from the same settings: the shipped files plus the
writes journaled in the data directory (`--data-dir`, `LEC_KG_DATA_DIR`, the user data folder by
default; `--memory`: the shipped files only). The data directory is only read, as another
process sharing it would read it (`journal`): nothing is created, locked, compacted or written
there, so a server running on it goes on serving and writing.

Without FILE, the whole graph is validated. With FILEs, they are checked together as one change
of that graph (`Engine.check`, as `POST /validate` checks a body and `lec-kg add` a file before
adding it): the Violations it would bring, and the Warnings and Infos about the nodes the files
name. Each FILE is read by its ending (Turtle when unknown), like `add` and `--url` read it.

Prints the report (text, JSON or Turtle) on stdout. Exit 0 when there is no Violation (Warnings
are printed all the same), 1 when there is one, 2 when nothing could be judged: a file does not
parse (file:line:column) or holds no triples, the shapes or a shipped file are broken, the data
directory cannot be read or its graph cannot be served (`serve` would refuse it too).
With `--url`, each FILE is checked by a running service instead (POST /validate: together with
the graph it serves, nothing written), in any RDF format by its ending.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyoxigraph import Quad
from rdflib import Literal
from rdflib.namespace import RDF, RDFS, SH

from ..config import Settings
from ..errors import LecKgError, ValidationFailed
from ..findings import ValidationReport, term_text
from ..gate import to_rdflib
from ..journal import JOURNAL_NAME
from ..rdf_input import parse_body
from ..sources import SourceError
from ..store import graph_of
from ..submissions import Records, new_id
from ..validation import ShapesError, load_data, load_validator
from ..verdict import as_text, relevant, touched_nodes
from . import remote


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Load ontology, shapes and facts, validate, print the report; the exit code is the verdict."""
    if args.url:
        return _remote(args)
    settings = _reading(settings)
    files: list[tuple[Path, list[Quad]]] = []
    records = Records(settings.base_iri)
    for path in args.files:
        quads = _parse(path, records.names.graph(new_id()))
        if quads is None:
            return 2
        files.append((path, quads))
    try:
        validator = load_validator(settings)
        if settings.data_dir is None and not files:  # the shipped files: no store to build
            data, source_of = load_data(settings)
            return _print(validator.validate(data, source_of=source_of), args.format)
        return _with_store(settings, validator, files, args.format)
    except ShapesError as exc:
        print(f"lec-kg validate: the shapes cannot be used: {exc}", file=sys.stderr)
        return 2
    except SourceError as exc:  # a shipped file (or, in load_data, a data file) does not parse
        print(f"lec-kg validate: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the data directory's journal or snapshot
        where = exc.filename or settings.data_dir
        print(f"lec-kg validate: cannot read {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _reading(settings: Settings) -> Settings:
    """The settings to read the data directory with and never write it: no compaction at the
    start, one query process; no data directory when it holds no journal yet (then the shipped
    files are what `serve` would serve from it, and nothing is created there)."""
    settings = replace(settings, compact_after=0, query_workers=1)
    where = settings.data_dir
    if where is None:
        return settings
    if (where / JOURNAL_NAME).is_file():
        print(f"lec-kg validate: the graph with the writes journaled in {where}", file=sys.stderr)
        return settings
    if not where.exists():
        print(f"lec-kg validate: no store in {where} yet: the shipped graph", file=sys.stderr)
    return replace(settings, data_dir=None)


def _parse(path: Path, graph: str) -> list[Quad] | None:
    """The file's triples as quads of `graph`; None (the reason printed) when it cannot be
    read, does not parse or holds no triples."""
    try:
        parsed = parse_body(path.read_bytes(), remote.media_type_of(path), graph)
    except OSError as exc:
        print(f"lec-kg validate: {path}: cannot read the file ({exc.strerror})", file=sys.stderr)
        return None
    except LecKgError as exc:
        line = exc.extra.get("line")
        where = f"{path}:{line}:{exc.extra.get('column')}" if line else str(path)
        print(f"lec-kg validate: {where}: {exc.detail}", file=sys.stderr)
        return None
    if not parsed.quads:
        print(f"lec-kg validate: {path} holds no triples; nothing to validate", file=sys.stderr)
        return None
    return parsed.quads  # blank nodes fresh (`parse_body`): `_:x` in two files is two nodes


def _with_store(
    settings: Settings, validator: Any, files: list[tuple[Path, list[Quad]]], fmt: str
) -> int:
    """Build the store as `serve` would (read only), then report on it or on the files."""
    from ..engine import build_engine

    engine = build_engine(settings, validator)
    try:
        if not files:  # the whole graph, as `serve` judged it at its start
            if engine.startup_report is None:  # refused before the shapes (journal, protection)
                print(f"lec-kg validate: {engine.not_ready_reason}", file=sys.stderr)
                return 2
            return _print(engine.startup_report, fmt)
        if not engine.is_ready():
            reason = engine.not_ready_reason or "not ready"
            hint = "" if engine.startup_report is None else " (`lec-kg validate` shows why)"
            print(f"lec-kg validate: the graph cannot be served: {reason}{hint}", file=sys.stderr)
            return 2
        added = [q for _, quads in files for q in quads]
        try:
            report = engine.check([], added)
        except ValidationFailed as exc:  # a statement no write may make (`protection`)
            return _refusal(exc.detail, fmt)
        except LecKgError as exc:
            print(f"lec-kg validate: {exc.title}: {exc.detail}", file=sys.stderr)
            return 2
    finally:
        engine.close()
    return _print(_named(relevant(report, touched_nodes(added)), files), fmt)


def _named(report: ValidationReport, files: list[tuple[Path, list[Quad]]]) -> ValidationReport:
    """The report with each finding on a node a FILE describes credited to that file (the
    first that names it as a subject), by the path given on the command line."""
    source: dict[str, str] = {}
    for path, quads in files:
        for q in quads:
            source.setdefault(term_text(to_rdflib(q.subject)), str(path))
        source.setdefault(f"<{graph_of(quads[0])}>", str(path))
    findings = tuple(
        replace(
            f,
            source_file=source.get(term_text(f.focus))
            or source.get(f.source_file or "", f.source_file),
        )
        for f in report.findings
    )
    return replace(report, findings=findings)


def _print(report: Any, fmt: str) -> int:
    """The report on stdout in the chosen format; the exit code its verdict gives."""
    if fmt == "json":
        print(report.to_json())
    elif fmt == "turtle":
        print(report.to_graph().serialize(format="turtle"))
    else:
        print(report.to_text())
    return 0 if report.conforms else 1


def _refusal(detail: str, fmt: str) -> int:
    """The verdict on files no write may add, whatever the shapes say: exit 1."""
    if fmt == "json":
        empty = ValidationReport(())
        body = {**json.loads(empty.to_json()), "conforms": False, "detail": detail}
        print(json.dumps(body, indent=2, ensure_ascii=False))
    elif fmt == "turtle":
        g = ValidationReport(()).to_graph()
        report = g.value(predicate=RDF.type, object=SH.ValidationReport)
        assert report is not None
        g.set((report, SH.conforms, Literal(False)))
        g.add((report, RDFS.comment, Literal(detail, lang="en")))
        print(g.serialize(format="turtle"))
    else:
        print(f"does not conform: {detail}")
    return 1


def _remote(args: argparse.Namespace) -> int:
    """Each file checked by the service at --url; 1 when one does not conform."""
    if not args.files:
        print("lec-kg validate --url: name the files to check", file=sys.stderr)
        return 2
    worst = 0
    accept = {"json": "application/json", "turtle": "text/turtle"}.get(args.format, "")
    for path in args.files:
        try:
            answer = remote.request(
                "POST",
                args.url,
                "/validate",
                body=path.read_bytes(),
                content_type=remote.media_type_of(path),
                accept=accept or "application/json",
            )
        except (OSError, remote.RemoteError) as exc:
            print(f"lec-kg validate: {path}: {exc}", file=sys.stderr)
            return 2
        if answer.status != 200:
            body = answer.json() if answer.body.startswith(b"{") else {}
            where = f"{path}:{body['line']}:{body.get('column')}" if body.get("line") else path
            print(f"lec-kg validate: {where}: {answer.detail()}", file=sys.stderr)
            return 2
        if accept:
            print(answer.body.decode("utf-8"))
            conforms = b"conforms" in answer.body and (
                json.loads(answer.body)["conforms"]
                if args.format == "json"
                else b"sh:conforms true" in answer.body
            )
        else:
            verdict = answer.json()
            print(as_text(verdict, str(path)))
            conforms = verdict["conforms"]
        worst = max(worst, 0 if conforms else 1)
    return worst
