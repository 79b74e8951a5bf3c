"""`lec-kg export`: the dumps of the service (`dumps`) on the command line.

The whole asserted dataset (never the inferred graph) or one named graph (`--graph`, its IRI
or its path under `<base>graph/`, `inferred` included), in the formats of the `/dump` routes;
JSON-LD is compacted with the same context `/context.jsonld` serves. `--frame <kind>` writes
the framed document of one kind instead (`jsonld_frames`, as `/framed/<kind>.jsonld`).
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
    from ..jsonld_framer import frame_chunks
    from ..jsonld_frames import KINDS, asserted_quads, frames_for
    from ..validation import load_validator

    kind = getattr(args, "frame", None)
    if kind is not None and kind not in KINDS:
        print(
            f"lec-kg export: no frame for {kind!r}; the kinds are: {', '.join(KINDS)}",
            file=sys.stderr,
        )
        return 2
    if kind is not None and (getattr(args, "graph", None) or args.format not in (None, "jsonld")):
        print(
            "lec-kg export: --frame writes JSON-LD of the whole asserted data: no --graph, "
            "no other --format",
            file=sys.stderr,
        )
        return 2
    try:
        media = negotiate(None, DUMP_FORMATS, args.format or "turtle").media
    except (BadRequest, LecKgError) as exc:
        print(f"lec-kg export: {exc.detail}", file=sys.stderr)
        return 2
    graph = getattr(args, "graph", None)
    if graph is not None and ":" not in graph:
        graph = graph_at(graph.strip("/"), settings.base_iri)
    engine = build_engine(settings, load_validator(settings))
    written = 0
    try:
        if kind is not None:
            frame = frames_for(engine, settings.base_iri, context_for(engine, settings))[kind]
            chunks = frame_chunks(asserted_quads(engine), frame)
        else:
            jsonld = media.name == "application/ld+json"
            context = context_for(engine, settings) if jsonld else None
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
