"""`lec-kg validate [FILE ...]`: the facts of graph/ (and any extra files) against the shapes.

Prints the report (text, JSON or Turtle) on stdout. Exit 0 when there is no Violation (Warnings
are printed all the same), 1 when there is one, 2 when a file does not parse (file:line:column).
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..validation import DataFileError, ShapesError, load_data, load_validator


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Load ontology, shapes and facts, validate, print the report; the exit code is the verdict."""
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
