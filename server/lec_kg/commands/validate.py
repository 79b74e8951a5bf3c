"""`lec-kg validate [FILE ...]`: the facts of graph/ (and any extra files) against the shapes.

Prints the report (text, JSON or Turtle) on stdout. Exit 0 when there is no Violation (Warnings
are printed all the same), 1 when there is one, 2 when a file does not parse (file:line:column).
With `--url`, each FILE is checked by a running service instead (POST /validate: together with
the graph it serves, nothing written), in any RDF format by its ending.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..config import Settings
from ..validation import DataFileError, ShapesError, load_data, load_validator
from ..verdict import as_text
from . import remote


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Load ontology, shapes and facts, validate, print the report; the exit code is the verdict."""
    if args.url:
        return _remote(args)
    try:
        validator = load_validator(settings)
        data, source_of = load_data(settings, extra=args.files)
        report = validator.validate(data, source_of=source_of)
    except DataFileError as exc:
        print(f"lec-kg validate: {exc}", file=sys.stderr)
        return 2
    except ShapesError as exc:
        print(f"lec-kg validate: the shapes cannot be used: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(report.to_json())
    elif args.format == "turtle":
        print(report.to_graph().serialize(format="turtle"))
    else:
        print(report.to_text())
    return 0 if report.conforms else 1


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
