"""`lec-kg add FILE`: validate a Turtle file of new facts with the submission shapes and add it to
the persistent store in a named graph of its own (<base>graph/added/<file stem>).

With `--message` (and `--source`), the file is a submission instead (`submissions`): any RDF
format by its ending, its own graph <base>graph/submission/<id>, a record of who (the write
token's name), when, why and what it cites; with `--url`, it is sent to a running service
(POST /facts, the token from LEC_KG_WRITE_TOKEN).

Exit 0 when added, 1 when the facts violate the shapes (the report is printed, nothing is added),
2 when nothing could be tried (writing off, unreadable file, graph already there).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import quote

from rdflib import Graph

from ..auth import token_ring
from ..config import TOKEN_ENV, Settings
from ..errors import LecKgError, ValidationFailed
from ..namespaces import graph_iri
from ..rdf_input import parse_body
from ..submissions import Records, new_id, submit
from ..tokens import DEFAULT_NAME
from ..verdict import as_text, grouped, line_of_lines, relevant, touched_nodes
from . import remote

ADDED_KIND = "added"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse, validate (submission rules on the new facts), then insert in one update."""
    if args.url:
        return submit_remote(args)
    if args.message is not None or args.source is not None:
        return submit_local(args, settings)
    return _add_file(args, settings)


def submit_remote(args: argparse.Namespace) -> int:
    """POST the file to {url}/facts; the verdict printed when refused."""
    try:
        body = args.file.read_bytes()
        answer = remote.request(
            "POST",
            args.url,
            "/facts",
            params={"message": args.message or "", "source": args.source or ""},
            body=body,
            content_type=remote.media_type_of(args.file),
            token=True,
        )
    except (OSError, remote.RemoteError) as exc:
        print(f"lec-kg add: {exc}", file=sys.stderr)
        return 2
    if answer.status == 201:
        made = answer.json()
        print(f"lec-kg add: submission {made['id']} by {made['who']}: {made['location']}")
        for warning in made.get("warnings", []):
            print(f"  {warning}")
        return 0
    if answer.status == 422:
        print(as_text(answer.json(), str(args.file)), file=sys.stderr)
        print(f"lec-kg add: {args.file} violates the shapes; nothing was added", file=sys.stderr)
        return 1
    print(f"lec-kg add: {answer.status}: {answer.detail()}", file=sys.stderr)
    return 2


def submit_local(args: argparse.Namespace, settings: Settings) -> int:
    """A submission to the local store: its own graph and its record, or the verdict."""
    from ..engine import build_engine

    if not settings.writable or not settings.write_token:
        print(f"lec-kg add: writing is disabled: set {TOKEN_ENV} to add facts", file=sys.stderr)
        return 2
    if settings.in_memory:
        print("lec-kg add: needs a data directory (--data-dir) to add to", file=sys.stderr)
        return 2
    who = token_ring(settings).identify(settings.write_token) or DEFAULT_NAME
    records = Records(settings.base_iri)
    sid = new_id()
    try:
        parsed = parse_body(
            args.file.read_bytes(), remote.media_type_of(args.file), records.names.graph(sid)
        )
    except OSError as exc:
        print(f"lec-kg add: {args.file}: cannot read the file ({exc.strerror})", file=sys.stderr)
        return 2
    except LecKgError as exc:
        where = exc.extra.get("line")
        at = f"{args.file}:{where}:{exc.extra.get('column')}" if where else str(args.file)
        print(f"lec-kg add: {at}: {exc.detail}", file=sys.stderr)
        return 2
    if not parsed.quads:
        print(f"lec-kg add: {args.file} holds no triples; nothing to add", file=sys.stderr)
        return 2
    engine = build_engine(settings)
    try:
        if not engine.is_ready():
            print(
                f"lec-kg add: the store is not usable: {engine.not_ready_reason}", file=sys.stderr
            )
            return 2
        try:
            outcome = submit(
                engine, records, sid, parsed.quads, who, args.message or "", [args.source or ""]
            )
        except ValidationFailed as exc:
            kept = None
            if exc.validation_report is not None:
                kept = relevant(exc.validation_report, touched_nodes(parsed.quads))
            body = grouped(kept, line_of_lines(parsed.lines), detail=exc.detail)
            print(as_text({**body, "conforms": False}, str(args.file)), file=sys.stderr)
            print(
                f"lec-kg add: {args.file} violates the shapes; nothing was added", file=sys.stderr
            )
            return 1
        except LecKgError as exc:
            print(f"lec-kg add: {exc.title}: {exc.detail}", file=sys.stderr)
            return 2
    finally:
        engine.close()
    print(
        f"lec-kg add: submission {sid} by {who}: {len(parsed.quads)} triples in "
        f"<{records.names.graph(sid)}>"
    )
    for warning in outcome.warnings:
        print(f"  {warning}")
    return 0


def _add_file(args: argparse.Namespace, settings: Settings) -> int:
    """`lec-kg add FILE` as it always was: <base>graph/added/<file stem>."""
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
    engine = build_engine(settings, load_validator(settings))
    try:
        return _add(engine, new, name, args.file, settings)
    finally:
        engine.close()


def _add(engine, new: Graph, name: str, path: Path, settings: Settings) -> int:
    """Insert the file's triples in one update, which the engine judges with the shapes (the
    rules for newly submitted facts included); refused, the findings printed."""
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
    try:
        text = _insert_data(new, name)
        who = token_ring(settings).identify(settings.write_token or "") or DEFAULT_NAME
        outcome = engine.update(
            text, record=Records(settings.base_iri).write(who, "lec-kg add", text)
        )
    except ValidationFailed as exc:  # judged by the engine
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
