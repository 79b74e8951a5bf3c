"""The `lec-kg` command line: parse arguments, build Settings, hand over to one command.

The settings' flags come from `config.OPTIONS`, the same table the environment is read from, and
each takes its text as given: `config.load_settings` parses flags and environment alike, so a
bad value gets the same one-line refusal (exit 2) whichever way it came.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .auth import token_ring
from .config import ALL_COMMANDS, OPTIONS, Option, SettingError, default_text, load_settings
from .errors import NotReady
from .sources import MissingSourceError, check_source

FLAG_DEST = "setting_"  # argparse keeps a setting's flag as setting_<name>, raw text

COMMAND_HELP = {
    "serve": "serve the validated graph over HTTP (SPARQL 1.1)",
    "validate": "validate ontology + graph against the shapes",
    "query": "run a SPARQL query over the shipped graph",
    "export": "write the asserted data, or one named graph, in an RDF format",
    "add": "validate a file of new facts and add it to the store",
    "dates": "write graph/date-bounds.ttl, the computed date bounds (--check: is it up to date?)",
    "compact": "fold the store's journal into a snapshot, so that starts stay fast",
    "submissions": "list, show or withdraw submissions (local store or --url)",
    "token": "make a named write token and the line that admits it",
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command, its settings' flags taken from OPTIONS."""
    p = argparse.ArgumentParser(prog="lec-kg", description=__doc__.splitlines()[0])
    for option in OPTIONS:
        if option.flag is not None and option.commands == ALL_COMMANDS:
            _add_flag(p, option)  # before the command name too (--source-dir, --base-iri)
    sub = p.add_subparsers(dest="command", required=True)
    commands = {name: sub.add_parser(name, help=text) for name, text in COMMAND_HELP.items()}
    for option in OPTIONS:
        for name in option.commands if option.flag is not None else ():
            _add_flag(commands[name], option)

    val = commands["validate"]
    val.add_argument("--format", choices=["text", "json", "turtle"], default="text")
    val.add_argument("files", nargs="*", type=Path, help="extra data files to validate too")

    query = commands["query"]
    query.add_argument("query", help="the query text, or @file.rq")
    query.add_argument("--format", default="table", help="table, json, csv, tsv, turtle, nt")

    export = commands["export"]
    export.add_argument("--format", help="turtle (the default), nt, nquads, trig, jsonld or rdfxml")
    export.add_argument(
        "--graph",
        help="one named graph: its IRI, or its path under <base>graph/ (facts/actors, inferred); "
        "default the whole asserted dataset",
    )
    export.add_argument(
        "--frame",
        metavar="KIND",
        help="the nodes of one kind framed as JSON-LD, as /framed/<kind>.jsonld serves them: "
        "instrument, campaign, event or actor (the whole asserted data; not with --graph)",
    )
    export.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")

    add = commands["add"]
    add.add_argument("file", type=Path, help="file with the new facts (Turtle, or by its ending)")
    add.add_argument("--message", help="make it a submission, recorded with this message")
    add.add_argument("--source", help="the source the facts cite (recorded with the submission)")
    add.add_argument("--url", help="submit to the service at this URL (POST /facts)")
    val.add_argument("--url", help="check with the service at this URL (POST /validate)")

    subs = commands["submissions"]
    subs.add_argument("action", choices=["list", "show", "withdraw"])
    subs.add_argument("id", nargs="?", help="the submission's id (show, withdraw)")
    subs.add_argument("--message", help="why it is withdrawn (withdraw)")
    subs.add_argument("--url", help="the service at this URL instead of the local store")
    subs.add_argument("--format", choices=["text", "json"], default="text")
    commands["token"].add_argument(
        "name", help="the name writes with this token are recorded under"
    )
    commands["dates"].add_argument(
        "--check", action="store_true", help="exit 1 when graph/date-bounds.ttl is stale"
    )
    return p


def _add_flag(parser: argparse.ArgumentParser, option: Option) -> None:
    """One setting's flag; SUPPRESS keeps an absent flag out of the namespace, so a flag given
    before the command name is not overwritten by its absence after it."""
    assert option.flag is not None
    text = f"{option.help} (default {default_text(option).strip('`')}; env {option.env})"
    dest = FLAG_DEST + option.name
    if not option.metavar:  # a switch: present means on
        parser.add_argument(
            option.flag,
            dest=dest,
            action="store_const",
            const="1",
            default=argparse.SUPPRESS,
            help=text,
        )
        return
    parser.add_argument(
        option.flag, dest=dest, metavar=option.metavar, default=argparse.SUPPRESS, help=text
    )


def flag_values(args: argparse.Namespace) -> dict[str, str]:
    """The settings given as flags, by option name, as text."""
    return {k[len(FLAG_DEST) :]: v for k, v in vars(args).items() if k.startswith(FLAG_DEST)}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `lec-kg` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(flags=flag_values(args))
    except SettingError as exc:
        print(f"lec-kg {args.command}: not starting: {exc}", file=sys.stderr)
        return 2
    try:
        check_source(settings.source_dir)
    except MissingSourceError as exc:
        print(f"lec-kg {args.command}: not starting: {exc}", file=sys.stderr)
        return 2
    try:
        token_ring(settings)
    except NotReady as exc:
        print(f"lec-kg {args.command}: not starting: {exc.detail}", file=sys.stderr)
        return 2
    command = importlib.import_module(f".commands.{args.command}", __package__)
    return int(command.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
