"""`lec-kg query`: run a SPARQL query over the shipped graph, in memory, without a server."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from ..config import Settings
from ..engine_api import QueryRequest
from ..errors import LecKgError
from ..namespaces import CODE, ID, LEC
from ..negotiation import FORM_KIND, by_keyword

TABLE = "table"
# Longest namespace first, so code: wins over id: for code-list IRIs.
TABLE_PREFIXES = {
    "code": str(CODE),
    "id": str(ID),
    "lec": str(LEC),
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "dcterms": "http://purl.org/dc/terms/",
}
JSON_RESULTS = "application/sparql-results+json"


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the result: a table (default), or json, csv, tsv, turtle, nt, jsonld, xml."""
    from ..engine import build_engine
    from ..validation import load_validator

    try:
        text = read_query(args.query)
    except OSError as exc:
        print(f"lec-kg query: cannot read {args.query[1:]}: {exc.strerror}", file=sys.stderr)
        return 2
    settings = replace(settings, data_dir=None)  # the shipped graph, in memory
    engine = build_engine(settings, load_validator(settings))
    try:
        if not engine.is_ready():
            reason = engine.not_ready_reason or "not ready"
            print(f"lec-kg query: the shipped graph is not usable: {reason}", file=sys.stderr)
            return 1
        prepared = engine.prepare(QueryRequest(text))  # once: read, then negotiated and run
        form = prepared.form
        fmt = args.format.lower()
        if fmt == TABLE:
            media = JSON_RESULTS if FORM_KIND[form] == "results" else "text/turtle"
        else:
            media = by_keyword(fmt, [FORM_KIND[form]]).name
        result = engine.query(prepared, media)
    except LecKgError as exc:
        print(f"lec-kg query: {describe_error(exc)}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    out = sys.stdout.buffer
    if fmt == TABLE and media == JSON_RESULTS:
        out.write(render_table(result.body).encode("utf-8"))
    else:
        out.write(result.body)
        if not result.body.endswith(b"\n"):
            out.write(b"\n")
    out.flush()
    if result.truncated:
        print(f"lec-kg query: the result was cut at {result.rows} rows", file=sys.stderr)
    return 0


def read_query(arg: str) -> str:
    """The query text: the argument itself, or the file named after @ (@- reads stdin)."""
    if not arg.startswith("@"):
        return arg
    if arg == "@-":
        return sys.stdin.read()
    return Path(arg[1:]).read_text(encoding="utf-8")


def describe_error(exc: LecKgError) -> str:
    """One line: what went wrong and, for a syntax error, where."""
    where = ""
    if exc.extra.get("line") is not None and f"line {exc.extra['line']}" not in exc.detail:
        where = f" (line {exc.extra['line']}, column {exc.extra.get('column')})"
    extra = ""
    if exc.extra.get("formats"):
        extra = "; formats: " + ", ".join(exc.extra["formats"])
    return f"{exc.title}: {exc.detail}{where}{extra}"


def render_table(body: bytes) -> str:
    """SPARQL JSON results as an aligned text table (or true/false for ASK)."""
    doc = json.loads(body)
    if "boolean" in doc:
        return ("true" if doc["boolean"] else "false") + "\n"
    names = doc["head"].get("vars", [])
    rows = [[_cell(b.get(v)) for v in names] for b in doc["results"]["bindings"]]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    line = "-+-".join("-" * w for w in widths)
    out = [" | ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip(), line]
    out += [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out) + "\n"


def _cell(term: dict | None) -> str:
    """A term as a table cell: IRIs in <>, blank nodes as _:id, literals with their tag."""
    if term is None:
        return ""
    if term["type"] == "uri":
        return _compact(term["value"])
    if term["type"] == "bnode":
        return f"_:{term['value']}"
    value = term["value"].replace("\n", " ")
    if "xml:lang" in term:
        return f"{value}@{term['xml:lang']}"
    return value


def _compact(iri: str) -> str:
    """A prefixed name when a well-known prefix fits (for reading, not Turtle), else <IRI>."""
    for prefix, ns in TABLE_PREFIXES.items():
        local = iri[len(ns) :]
        if iri.startswith(ns) and local and all(c.isalnum() or c in "-_./" for c in local):
            return f"{prefix}:{local}"
    return f"<{iri}>"
