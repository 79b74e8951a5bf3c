"""The `lec-kg` command line: parse arguments, build Settings, hand over to one command."""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import replace
from pathlib import Path

from .config import settings_from_env
from .sources import MissingSourceError, check_source

SOURCE_DIR_HELP = (
    "folder holding ontology/, graph/ and shapes/ (default: the copy installed with the "
    "package, or the checkout it runs from)"
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    p = argparse.ArgumentParser(prog="lec-kg", description=__doc__)
    p.add_argument("--source-dir", type=Path, help=SOURCE_DIR_HELP)
    p.add_argument("--base-iri", help="base IRI things and terms are served under")
    sub = p.add_subparsers(dest="command", required=True)
    # Each command takes --source-dir after its name too; SUPPRESS keeps an absent one from
    # overwriting the value given before the command name.
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("--source-dir", type=Path, default=argparse.SUPPRESS, help=SOURCE_DIR_HELP)

    serve = sub.add_parser(
        "serve", help="serve the validated graph over HTTP (SPARQL 1.1)", parents=[source]
    )
    serve.add_argument("--host", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8000; 0: any free one)")
    serve.add_argument(
        "--port-file", type=Path, help="once listening, write the port there (for --port 0)"
    )
    serve.add_argument("--data-dir", type=Path, help="store folder (default: user data folder)")
    serve.add_argument("--memory", action="store_true", help="keep the store in memory only")
    serve.add_argument(
        "--workers", type=int, help="server processes sharing the port (default 1; one per core)"
    )
    serve.add_argument(
        "--public-url",
        help="URL people reach the service at (https://kg.example.org), for the IRIs it writes "
        "about itself (default http://HOST:PORT; env LEC_KG_PUBLIC_URL)",
    )

    serve.add_argument(
        "--result-cache-mb",
        type=float,
        help="memory for results kept until the data changes (default 64; 0 keeps none)",
    )

    val = sub.add_parser(
        "validate", help="validate ontology + graph against the shapes", parents=[source]
    )
    val.add_argument("--format", choices=["text", "json", "turtle"], default="text")
    val.add_argument("files", nargs="*", type=Path, help="extra data files to validate too")

    query = sub.add_parser(
        "query", help="run a SPARQL query over the shipped graph", parents=[source]
    )
    query.add_argument("query", help="the query text, or @file.rq")
    query.add_argument("--format", default="table", help="table, json, csv, tsv, turtle, nt")

    export = sub.add_parser(
        "export", help="write the asserted graph in an RDF format", parents=[source]
    )
    export.add_argument("--format", default="turtle", help="turtle, nt, nquads, trig, jsonld, xml")
    export.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")
    export.add_argument("--data-dir", type=Path, help="store folder (default: user data folder)")
    export.add_argument("--memory", action="store_true", help="export the shipped files only")

    add = sub.add_parser(
        "add", help="validate a file of new facts and add it to the store", parents=[source]
    )
    add.add_argument("file", type=Path, help="Turtle file with the new facts")
    add.add_argument("--data-dir", type=Path, help="store folder (default: user data folder)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lec-kg` console script."""
    args = build_parser().parse_args(argv)
    settings = settings_from_env(
        source_dir=args.source_dir,
        base_iri=args.base_iri,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=getattr(args, "data_dir", None),
        workers=getattr(args, "workers", None),
        public_url=getattr(args, "public_url", None),
    )
    if getattr(args, "result_cache_mb", None) is not None:
        settings = replace(settings, result_cache_bytes=int(args.result_cache_mb * 2**20))
    if getattr(args, "memory", False):
        settings = replace(settings, data_dir=None)
    try:
        check_source(settings.source_dir)
    except MissingSourceError as exc:
        print(f"lec-kg {args.command}: not starting: {exc}", file=sys.stderr)
        return 2
    command = importlib.import_module(f".commands.{args.command}", __package__)
    return int(command.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
