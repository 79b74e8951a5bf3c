"""Dates that compare: the earliest and the latest day each dated node can be.

The facts keep their dates at the precision the source gives (`xsd:gYear`, `xsd:gYearMonth`,
`xsd:date`), and literals of different precision do not compare in SPARQL (`"2015"^^xsd:gYear <
"2015-04"^^xsd:gYearMonth` is an error). This module computes, for every node with `lec:date`,
`lec:notBefore`, `lec:notAfter`, `lec:startDate` or `lec:endDate`, two `xsd:date` bounds without
timezone, `lec:earliestDate` and `lec:latestDate`, and writes them into one generated file,
`graph/date-bounds.ttl`, loaded like every other graph file (its own named graph).

- earliest: the first day of the earliest of its `lec:date`, `lec:notBefore`, `lec:startDate`;
- latest: the last day of the latest of its `lec:date`, `lec:notAfter`, `lec:endDate`;
- an open side stays open: a node with only `lec:notAfter` has no earliest date, one with only
  `lec:notBefore` or `lec:startDate` (a campaign still going on) has no latest date. A past event
  the report reports is closed by `lec:notAfter 2017-01-18` in the data, never here.

A timezone on a source literal is dropped: the bounds are the calendar days as written, and
timezone-free dates compare with each other everywhere. Literals that are not dates (a plain
string, a malformed gYear) are skipped; `shapes/core.ttl` (DatedNodeShape) reports them.

    python -m lec_kg.datebounds [--check] [--source-dir DIR]    (or: lec-kg dates [--check])

writes the file, or with `--check` exits 1 when the file on disk is not what the facts give.
"""

from __future__ import annotations

import argparse
import calendar
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rdflib import XSD, BNode, Graph, Literal, URIRef
from rdflib.term import Node

from .namespaces import LEC

OUTPUT = "date-bounds.ttl"  # in graph/
LOWER = (LEC.date, LEC.notBefore, LEC.startDate)  # where the earliest day comes from
UPPER = (LEC.date, LEC.notAfter, LEC.endDate)  # where the latest day comes from
SOURCE_PROPERTIES = (LEC.date, LEC.startDate, LEC.endDate, LEC.notBefore, LEC.notAfter)
COMMAND = "lec-kg dates"

_TZ = r"(?:Z|[+-]\d{2}:\d{2})?"
_PATTERNS = {
    XSD.gYear: re.compile(rf"^(\d{{4}}){_TZ}$"),
    XSD.gYearMonth: re.compile(rf"^(\d{{4}})-(\d{{2}}){_TZ}$"),
    XSD.date: re.compile(rf"^(\d{{4}})-(\d{{2}})-(\d{{2}}){_TZ}$"),
}

HEADER = f"""\
# graph/{OUTPUT}: GENERATED, do not edit.
# The computed date bounds of every dated or ranged node of graph/*.ttl: lec:earliestDate and
# lec:latestDate (xsd:date, no timezone), the first and the last day its lec:date,
# lec:notBefore/lec:notAfter or lec:startDate/lec:endDate can be, from the precision the source
# gives ("2015"^^xsd:gYear is 2015-01-01 .. 2015-12-31). An open side stays open.
# Written by `{COMMAND}` (python -m lec_kg.datebounds); run it after changing a date, and
# `{COMMAND} --check` to see whether this file is up to date. Loaded like every graph file, into
# its own named graph. Source: MERICS China Monitor, 18 January 2017 (through the facts it
# bounds). Licence of the data: CC BY 4.0.

@prefix lec: <{LEC}> .
@prefix xsd: <{XSD}> .
"""


class DateBoundsError(ValueError):
    """A literal is not a date at a precision this module reads, or a node cannot be written."""


@dataclass(frozen=True)
class Bounds:
    """The earliest and the latest day a node's date or range can be; None where it is open."""

    earliest: date | None
    latest: date | None


def literal_bounds(literal: Literal) -> tuple[date, date]:
    """The first and the last day of an xsd:gYear, xsd:gYearMonth or xsd:date literal.

    "2015"^^xsd:gYear -> (2015-01-01, 2015-12-31); "2016-02"^^xsd:gYearMonth -> (2016-02-01,
    2016-02-29); "2015-04-22"^^xsd:date -> (2015-04-22, 2015-04-22). A timezone is dropped.
    Raises DateBoundsError for any other datatype or a lexical form that is not a real date.
    """
    datatype = literal.datatype if isinstance(literal, Literal) else None
    pattern = _PATTERNS.get(datatype) if datatype is not None else None
    if pattern is None:
        raise DateBoundsError(f"not an xsd:gYear, xsd:gYearMonth or xsd:date literal: {literal!r}")
    match = pattern.match(str(literal))
    if match is None:
        raise DateBoundsError(f"not a valid {datatype} lexical form: {str(literal)!r}")
    parts = [int(x) for x in match.groups()]
    try:
        if len(parts) == 1:
            (year,) = parts
            return date(year, 1, 1), date(year, 12, 31)
        if len(parts) == 2:
            year, month = parts
            return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        day = date(*parts)
    except ValueError as exc:  # year 0000, month 13, 31 April, 29 February 2015
        raise DateBoundsError(f"not a real date: {str(literal)!r} ({exc})") from exc
    return day, day


def readable(literal: Node) -> bool:
    """True when `literal_bounds` can read it."""
    try:
        literal_bounds(literal)  # type: ignore[arg-type]
    except DateBoundsError:
        return False
    return True


def node_bounds(graph: Graph, node: Node) -> Bounds:
    """The bounds of one node from its date properties in `graph`.

    earliest = the first day of the earliest lec:date, lec:notBefore or lec:startDate;
    latest = the last day of the latest lec:date, lec:notAfter or lec:endDate. A side with no
    readable literal is None (open). Unreadable literals are skipped (the shapes report them).
    """
    firsts = [literal_bounds(o)[0] for o in _readable_values(graph, node, LOWER)]
    lasts = [literal_bounds(o)[1] for o in _readable_values(graph, node, UPPER)]
    return Bounds(min(firsts, default=None), max(lasts, default=None))


def dated_nodes(graph: Graph) -> list[Node]:
    """Every subject of a date property, sorted by its text (IRIs, then blank nodes)."""
    nodes = {s for p in SOURCE_PROPERTIES for s in graph.subjects(p, None)}
    return sorted(nodes, key=lambda n: (isinstance(n, BNode), str(n)))


def all_bounds(graph: Graph) -> dict[Node, Bounds]:
    """The bounds of every dated node that has at least one side closed."""
    out = {}
    for node in dated_nodes(graph):
        b = node_bounds(graph, node)
        if b.earliest is not None or b.latest is not None:
            out[node] = b
    return out


def bounds_graph(graph: Graph) -> Graph:
    """The lec:earliestDate / lec:latestDate triples for `graph` (blank nodes included), as a
    new graph: what the generated file holds, for data that has no file (test fixtures)."""
    out = Graph()
    for node, b in all_bounds(graph).items():
        if b.earliest is not None:
            out.add((node, LEC.earliestDate, _date_literal(b.earliest)))
        if b.latest is not None:
            out.add((node, LEC.latestDate, _date_literal(b.latest)))
    return out


def missing_bounds(graph: Graph, nodes: Iterable[Node] | None = None) -> Graph:
    """The bounds `lec-kg dates` would write for the dated `nodes` (default: every dated node of
    `graph`) that carry no lec:earliestDate or lec:latestDate in `graph` yet, computed from
    `graph`: for files that are not (yet) in graph/, where the generated file bounds them."""
    wanted = dated_nodes(graph) if nodes is None else nodes
    out = Graph()
    for node in wanted:
        if (node, LEC.earliestDate, None) in graph or (node, LEC.latestDate, None) in graph:
            continue
        b = node_bounds(graph, node)
        if b.earliest is not None:
            out.add((node, LEC.earliestDate, _date_literal(b.earliest)))
        if b.latest is not None:
            out.add((node, LEC.latestDate, _date_literal(b.latest)))
    return out


def render(bounds: dict[Node, Bounds]) -> str:
    """The generated file's text: header, then one block per node sorted by IRI (deterministic)."""
    blocks = []
    for node in sorted(bounds, key=str):
        if not isinstance(node, URIRef):
            raise DateBoundsError(
                f"a blank node carries a date ({node}): give it an IRI so that its bounds can "
                f"be written into graph/{OUTPUT}"
            )
        b = bounds[node]
        lines = []
        if b.earliest is not None:
            lines.append(f'    lec:earliestDate "{b.earliest.isoformat()}"^^xsd:date')
        if b.latest is not None:
            lines.append(f'    lec:latestDate "{b.latest.isoformat()}"^^xsd:date')
        blocks.append(f"<{node}>\n" + " ;\n".join(lines) + " .\n")
    return HEADER + "".join("\n" + block for block in blocks)


def source_files(source_dir: Path) -> list[Path]:
    """The graph files the bounds are computed from: graph/*.ttl without the generated one."""
    return [p for p in sorted((source_dir / "graph").glob("*.ttl")) if p.name != OUTPUT]


def facts(paths: Iterable[Path]) -> Graph:
    """The date triples of the given Turtle files, in one graph."""
    out = Graph()
    for path in paths:
        g = Graph().parse(path, format="turtle")
        for p in SOURCE_PROPERTIES:
            out += g.triples((None, p, None))
    return out


def generate(source_dir: Path) -> str:
    """The text graph/date-bounds.ttl should have for the facts under `source_dir`."""
    return render(all_bounds(facts(source_files(source_dir))))


def unreadable(graph: Graph) -> list[str]:
    """The date literals the bounds skip, as `node property value` lines."""
    return [
        f"{s} {p} {o!r}"
        for p in SOURCE_PROPERTIES
        for s, o in sorted(graph.subject_objects(p), key=str)
        if not readable(o)
    ]


def run(source_dir: Path, check: bool = False) -> int:
    """Write graph/date-bounds.ttl (or, with check, compare it); the exit code: 0 done or up to
    date, 1 stale or missing (check), 2 the bounds cannot be written."""
    target = source_dir / "graph" / OUTPUT
    graph = facts(source_files(source_dir))
    for line in unreadable(graph):
        print(f"{COMMAND}: skipped, not a date this command reads: {line}", file=sys.stderr)
    bounds = all_bounds(graph)
    try:
        text = render(bounds)
    except DateBoundsError as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 2
    current = target.read_text(encoding="utf-8") if target.exists() else None
    if check:
        if current != text:
            state = "is missing" if current is None else "is out of date"
            print(f"{COMMAND}: {target} {state}: run `{COMMAND}` and commit it", file=sys.stderr)
            return 1
        print(f"{COMMAND}: {target} is up to date ({len(bounds)} nodes)")
        return 0
    if current != text:
        target.write_text(text, encoding="utf-8")
    print(f"{COMMAND}: wrote {target} ({len(bounds)} nodes)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lec_kg.datebounds [--check] [--source-dir DIR]`."""
    from .config import default_source_dir

    parser = argparse.ArgumentParser(
        prog="python -m lec_kg.datebounds", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    parser.add_argument("--source-dir", type=Path, default=None, help="folder holding graph/")
    args = parser.parse_args(argv)
    return run(args.source_dir or default_source_dir(), check=args.check)


def _readable_values(graph: Graph, node: Node, properties: Sequence[URIRef]) -> list[Literal]:
    return [
        o
        for p in properties
        for o in graph.objects(node, p)
        if isinstance(o, Literal) and readable(o)
    ]


def _date_literal(day: date) -> Literal:
    return Literal(day.isoformat(), datatype=XSD.date)


if __name__ == "__main__":
    sys.exit(main())
