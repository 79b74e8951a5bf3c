"""`lec-kg serve`: load and validate the graph, then serve it over SPARQL 1.1 with uvicorn.

A graph that fails the shapes is not served: the command prints the report and exits with 1
before it listens on any port.
"""

from __future__ import annotations

import argparse
import logging
import sys

from ..config import Settings
from ..errors import LecKgError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the engine, refuse an invalid graph, then run uvicorn until stopped."""
    import uvicorn

    from ..app import create_app
    from ..engine import build_engine
    from ..sources import SourceError
    from ..validation import load_validator

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    if settings.workers > 1:
        print(
            "lec-kg serve: --workers above 1 is not supported: the store lives in this process; "
            "run several instances behind a proxy instead",
            file=sys.stderr,
        )
        return 2
    where = "in memory" if settings.in_memory else f"in {settings.data_dir}"
    print(f"lec-kg serve: loading and validating the graph ({where})", file=sys.stderr)
    try:
        engine = build_engine(settings, load_validator(settings))
    except LecKgError as exc:
        print(f"lec-kg serve: not serving: {exc.title}: {exc.detail}", file=sys.stderr)
        _print_report(exc.extra.get("report"))
        return 1
    except SourceError as exc:
        print(f"lec-kg serve: not serving: a shipped file does not parse: {exc}", file=sys.stderr)
        return 1
    if not engine.is_ready():
        reason = engine.not_ready_reason or "the graph has not passed the shapes"
        print(f"lec-kg serve: not serving: {reason}", file=sys.stderr)
        _print_report(engine.startup_report)
        engine.close()
        return 1
    writing = "on (Bearer token)" if settings.writable else "off (LEC_KG_WRITE_TOKEN not set)"
    print(
        f"lec-kg serve: SPARQL endpoint http://{settings.host}:{settings.port}/sparql, "
        f"writing {writing}",
        file=sys.stderr,
    )
    app = create_app(settings, engine)
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, server_header=False)
    engine.close()
    return 0


def _print_report(report: object) -> None:
    """The validation report that came with the error, readable."""
    if report is None:
        return
    if getattr(report, "conforms", False):
        return
    text = getattr(report, "to_text", None)
    if not callable(text):
        print(report, file=sys.stderr)
        return
    lines = text().splitlines()  # the violations, and the summary; warnings do not block
    print(
        "\n".join([ln for ln in lines[:-1] if ln.startswith("Violation")] + lines[-1:]),
        file=sys.stderr,
    )
