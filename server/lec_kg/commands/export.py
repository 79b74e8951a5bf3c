"""`lec-kg export`: the dumps of the service (`dumps`) on the command line.

The whole asserted dataset (never the inferred graph) or one named graph (`--graph`, its IRI
or its path under `<base>graph/`, `inferred` included), in the formats of the `/dump` routes;
JSON-LD is compacted with the same context `/context.jsonld` serves.
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..dumps import DUMP_FORMATS, graph_at
from ..errors import BadRequest, LecKgError
from ..negotiation import negotiate


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write turtle, nt, nquads, trig, jsonld or rdfxml to --output (default stdout)."""
    from ..engine import build_engine
    from ..jsonld import context_for
    from ..validation import load_validator

    try:
        media = negotiate(None, DUMP_FORMATS, args.format).media
    except (BadRequest, LecKgError) as exc:
        print(f"lec-kg export: {exc.detail}", file=sys.stderr)
        return 2
    graph = getattr(args, "graph", None)
    if graph is not None and ":" not in graph:
        graph = graph_at(graph.strip("/"), settings.base_iri)
    engine = build_engine(settings, load_validator(settings))
    written = 0
    try:
        context = context_for(engine, settings) if media.name == "application/ld+json" else None
        inferred = graph == f"{settings.base_iri}graph/inferred"
        chunks = engine.export_chunks(media.name, graph, inferred=inferred, context=context)
        sink = sys.stdout.buffer if args.output is None else args.output.open("wb")
        try:
            for chunk in chunks:
                sink.write(chunk)
                written += len(chunk)
        finally:
            sink.flush()
            if args.output is not None:
                sink.close()
    except LecKgError as exc:
        print(f"lec-kg export: {exc.title}: {exc.detail}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    if args.output is not None:
        print(f"lec-kg export: wrote {written} bytes to {args.output}", file=sys.stderr)
    return 0
