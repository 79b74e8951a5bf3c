"""`lec-kg export`: write the asserted data (never inferred triples) in an RDF format."""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..errors import BadRequest, LecKgError
from ..negotiation import by_keyword


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write turtle, nt, nquads, trig, jsonld or xml to --output (default stdout)."""
    from ..engine import build_engine
    from ..validation import load_validator

    try:
        media = by_keyword(args.format, ["graph", "dataset"])
    except (BadRequest, LecKgError) as exc:
        print(f"lec-kg export: {exc.detail}", file=sys.stderr)
        return 2
    engine = build_engine(settings, load_validator(settings))
    try:
        data = engine.export(media.name)
    except LecKgError as exc:
        print(f"lec-kg export: {exc.title}: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        args.output.write_bytes(data)
        print(f"lec-kg export: wrote {len(data)} bytes to {args.output}", file=sys.stderr)
    return 0
