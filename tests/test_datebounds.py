"""Date bounds: the pure functions on the calendar's edge cases, the generated file kept up to
date, and the shapes computing the same days in SPARQL as the code does in Python."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import pytest
from rdflib import BNode, Graph, Literal, URIRef

from lec_kg.cli import main as cli_main
from lec_kg.config import Settings
from lec_kg.datebounds import (
    OUTPUT,
    Bounds,
    DateBoundsError,
    bounds_graph,
    dated_nodes,
    generate,
    literal_bounds,
    missing_bounds,
    node_bounds,
    render,
    run,
    source_files,
)
from lec_kg.namespaces import LEC
from lec_kg.validation import Validator, load_data, load_validator

from .support import ROOT

XSD_NS = "http://www.w3.org/2001/XMLSchema#"  # a string: pytest probes rdflib's XSD namespace
GYEAR, GYEARMONTH, DATE = (URIRef(XSD_NS + n) for n in ("gYear", "gYearMonth", "date"))
STRING, DATETIME = URIRef(XSD_NS + "string"), URIRef(XSD_NS + "dateTime")
NODE = URIRef("https://w3id.org/lec-kg/id/event/fixture-dated")
COMPUTED = {
    "https://w3id.org/lec-kg/shapes#DatedNodeShape-earliestDateComputed",
    "https://w3id.org/lec-kg/shapes#DatedNodeShape-latestDateComputed",
}


def lit(text: str, datatype: URIRef = GYEAR) -> Literal:
    return Literal(text, datatype=datatype)


def node(*pairs: tuple[URIRef, Literal]) -> Graph:
    g = Graph()
    for p, o in pairs:
        g.add((NODE, p, o))
    return g


# ------------------------------------------------------------------ one literal


@pytest.mark.parametrize(
    ("literal", "first", "last"),
    [
        (lit("2015"), date(2015, 1, 1), date(2015, 12, 31)),
        (lit("2016-02", GYEARMONTH), date(2016, 2, 1), date(2016, 2, 29)),  # leap year
        (lit("2015-02", GYEARMONTH), date(2015, 2, 1), date(2015, 2, 28)),
        (lit("2000-02", GYEARMONTH), date(2000, 2, 1), date(2000, 2, 29)),  # by 400
        (lit("1900-02", GYEARMONTH), date(1900, 2, 1), date(1900, 2, 28)),  # by 100
        (lit("2015-12", GYEARMONTH), date(2015, 12, 1), date(2015, 12, 31)),
        (lit("2015-04", GYEARMONTH), date(2015, 4, 1), date(2015, 4, 30)),
        (lit("2015-04-22", DATE), date(2015, 4, 22), date(2015, 4, 22)),
        (lit("2016-02-29", DATE), date(2016, 2, 29), date(2016, 2, 29)),
    ],
)
def test_literal_bounds(literal: Literal, first: date, last: date) -> None:
    assert literal_bounds(literal) == (first, last)


def test_a_timezone_is_dropped() -> None:
    """The bounds are the calendar days as written; timezone-free dates always compare."""
    zoned = Literal("2015+02:00", datatype=GYEAR, normalize=False)
    assert literal_bounds(zoned) == (date(2015, 1, 1), date(2015, 12, 31))
    day = Literal("2015-04-22Z", datatype=DATE, normalize=False)
    assert literal_bounds(day) == (date(2015, 4, 22), date(2015, 4, 22))
    (earliest,) = bounds_graph(node((LEC.date, day))).objects(NODE, LEC.earliestDate)
    assert str(earliest) == "2015-04-22" and earliest.datatype == DATE


@pytest.mark.parametrize(
    "literal",
    [
        Literal("2015"),  # no datatype
        Literal("2015", datatype=STRING),
        Literal("2015-04-22T10:00:00", datatype=DATETIME),
        Literal("15", datatype=GYEAR, normalize=False),
        Literal("2015-13", datatype=GYEARMONTH, normalize=False),
        Literal("2015-02-29", datatype=DATE, normalize=False),  # not a leap year
        Literal("0000", datatype=GYEAR, normalize=False),
    ],
    ids=repr,
)
def test_what_is_not_a_date_is_refused(literal: Literal) -> None:
    with pytest.raises(DateBoundsError):
        literal_bounds(literal)


# ------------------------------------------------------------------ one node


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([(LEC.date, lit("2015"))], Bounds(date(2015, 1, 1), date(2015, 12, 31))),
        (
            [(LEC.notBefore, lit("2000")), (LEC.notAfter, lit("2009"))],  # "in the 2000s"
            Bounds(date(2000, 1, 1), date(2009, 12, 31)),
        ),
        (
            [(LEC.notBefore, lit("2016-01", GYEARMONTH))]
            + [(LEC.notAfter, lit("2016-02", GYEARMONTH))],
            Bounds(date(2016, 1, 1), date(2016, 2, 29)),
        ),
        (
            [(LEC.startDate, lit("2006")), (LEC.endDate, lit("2014-06", GYEARMONTH))],
            Bounds(date(2006, 1, 1), date(2014, 6, 30)),
        ),
        # open bounds stay open: "recently" is only bounded above, "since 2014" only below
        ([(LEC.notAfter, lit("2017-01-18", DATE))], Bounds(None, date(2017, 1, 18))),
        ([(LEC.notBefore, lit("2014-11", GYEARMONTH))], Bounds(date(2014, 11, 1), None)),
        ([(LEC.startDate, lit("2014-07", GYEARMONTH))], Bounds(date(2014, 7, 1), None)),
        ([(LEC.endDate, lit("2005"))], Bounds(None, date(2005, 12, 31))),
        # several dates: the earliest first day and the latest last day
        (
            [(LEC.date, lit("2015")), (LEC.notBefore, lit("2014-11", GYEARMONTH))]
            + [(LEC.notAfter, lit("2016-02", GYEARMONTH))],
            Bounds(date(2014, 11, 1), date(2016, 2, 29)),
        ),
        (
            [(LEC.date, lit("2015-12", GYEARMONTH)), (LEC.date, lit("2015"))],
            Bounds(date(2015, 1, 1), date(2015, 12, 31)),
        ),
        # what is not a date is skipped (the shapes report it)
        (
            [(LEC.date, Literal("22 September 2016")), (LEC.notBefore, lit("2014"))],
            Bounds(date(2014, 1, 1), None),
        ),
        ([], Bounds(None, None)),
    ],
)
def test_node_bounds(pairs: list[tuple[URIRef, Literal]], expected: Bounds) -> None:
    assert node_bounds(node(*pairs), NODE) == expected


def test_bounds_graph_writes_xsd_dates_and_leaves_open_sides_out() -> None:
    g = node((LEC.notBefore, lit("2014-11", GYEARMONTH)))
    g.add((BNode("b"), LEC.date, lit("2016-02", GYEARMONTH)))
    out = bounds_graph(g)
    assert set(out) == {
        (NODE, LEC.earliestDate, Literal("2014-11-01", datatype=DATE)),
        (BNode("b"), LEC.earliestDate, Literal("2016-02-01", datatype=DATE)),
        (BNode("b"), LEC.latestDate, Literal("2016-02-29", datatype=DATE)),
    }


def test_render_is_sorted_by_iri_and_refuses_blank_nodes() -> None:
    a = URIRef("https://w3id.org/lec-kg/id/event/a")
    b = URIRef("https://w3id.org/lec-kg/id/event/b")
    one = Bounds(date(2015, 1, 1), None)
    text = render({b: one, a: Bounds(None, date(2015, 12, 31))})
    assert text == render({a: Bounds(None, date(2015, 12, 31)), b: one})
    assert text.index(f"<{a}>") < text.index(f"<{b}>")
    assert "GENERATED, do not edit" in text and "lec-kg dates" in text and "CC BY 4.0" in text
    parsed = Graph().parse(data=text, format="turtle")
    assert set(parsed) == {
        (a, LEC.latestDate, Literal("2015-12-31", datatype=DATE)),
        (b, LEC.earliestDate, Literal("2015-01-01", datatype=DATE)),
    }
    with pytest.raises(DateBoundsError, match="give it an IRI"):
        render({BNode(): one})


# ------------------------------------------------------------------ the generated file


def test_shipped_date_bounds_are_up_to_date() -> None:
    """graph/date-bounds.ttl is what `lec-kg dates` computes from the other graph files now
    (regenerated in memory: after merging dates from elsewhere, run `lec-kg dates`)."""
    shipped = (ROOT / "graph" / OUTPUT).read_text(encoding="utf-8")
    assert shipped == generate(ROOT), "graph/date-bounds.ttl is stale: run `lec-kg dates`"
    assert ROOT / "graph" / OUTPUT not in source_files(ROOT)


def test_every_dated_node_of_the_graph_is_bounded() -> None:
    """Each node with a date property gets at least one bound, and the bounded nodes are all
    described elsewhere in graph/ (the file adds no node of its own)."""
    shipped = Graph().parse(ROOT / "graph" / OUTPUT, format="turtle")
    others = Graph()
    for path in source_files(ROOT):
        others.parse(path, format="turtle")
    dated = {
        s
        for p in (LEC.date, LEC.notBefore, LEC.notAfter, LEC.startDate, LEC.endDate)
        for s in others.subjects(p, None)
    }
    assert set(shipped.subjects()) == dated
    assert set(shipped.predicates()) == {LEC.earliestDate, LEC.latestDate}


FACT = """@prefix lec: <https://w3id.org/lec-kg/ontology#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<https://w3id.org/lec-kg/id/event/fixture-dated> lec:date "DATE"^^xsd:gYearMonth .
"""


def test_check_reports_a_stale_file_and_run_rewrites_it(tmp_path: Path, capsys) -> None:
    facts = tmp_path / "graph" / "events.ttl"
    facts.parent.mkdir()
    facts.write_text(FACT.replace("DATE", "2016-02"), encoding="utf-8")
    assert run(tmp_path, check=True) == 1
    assert "is missing: run `lec-kg dates`" in capsys.readouterr().err
    assert run(tmp_path) == 0
    written = (tmp_path / "graph" / OUTPUT).read_text(encoding="utf-8")
    assert '"2016-02-29"^^xsd:date' in written
    assert run(tmp_path, check=True) == 0
    facts.write_text(FACT.replace("DATE", "2015-02"), encoding="utf-8")
    assert run(tmp_path, check=True) == 1
    assert "is out of date: run `lec-kg dates`" in capsys.readouterr().err
    assert (tmp_path / "graph" / OUTPUT).read_text(encoding="utf-8") == written  # untouched
    assert run(tmp_path) == 0
    assert '"2015-02-28"^^xsd:date' in (tmp_path / "graph" / OUTPUT).read_text(encoding="utf-8")
    assert run(tmp_path, check=True) == 0


def test_lec_kg_dates_check(capsys) -> None:
    assert cli_main(["--source-dir", str(ROOT), "dates", "--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


# ------------------------------------------------------------------ the shapes agree


@cache
def validator() -> Validator:
    return load_validator(Settings(source_dir=ROOT, data_dir=None))


CASES = [
    [(LEC.date, lit("2015"))],
    [(LEC.date, lit("2016-02", GYEARMONTH))],
    [(LEC.date, lit("2015-02", GYEARMONTH))],
    [(LEC.date, lit("2000-02", GYEARMONTH))],
    [(LEC.date, lit("1900-02", GYEARMONTH))],
    [(LEC.date, lit("2015-12", GYEARMONTH))],
    [(LEC.date, lit("2015-11", GYEARMONTH))],
    [(LEC.date, lit("2015-04-22", DATE))],
    [(LEC.notBefore, lit("2000")), (LEC.notAfter, lit("2009"))],
    [(LEC.startDate, lit("2006")), (LEC.endDate, lit("2014-06", GYEARMONTH))],
    [(LEC.notAfter, lit("2017-01-18", DATE))],
    [(LEC.notBefore, lit("2014-11", GYEARMONTH))],
    [(LEC.date, lit("2015")), (LEC.notAfter, lit("2015-12-31", DATE))],
    [(LEC.date, lit("2015-12", GYEARMONTH)), (LEC.notAfter, lit("2015"))],
    [(LEC.date, lit("2015")), (LEC.notBefore, lit("2014-11", GYEARMONTH))],
]


def dated_graph() -> Graph:
    g = Graph()
    for i, pairs in enumerate(CASES):
        n = URIRef(f"{NODE}-{i}")
        for p, o in pairs:
            g.add((n, p, o))
    return g


def computed_findings(g: Graph) -> set[tuple[str, str]]:
    report = validator().validate(g)
    return {(str(f.focus), f.shape) for f in report.findings if f.shape in COMPUTED}


def sides(pairs: list[tuple[URIRef, Literal]]) -> set[str]:
    """The computed shapes that apply to a node with these dates (a side it can bound)."""
    out = set()
    for shape in COMPUTED:
        wanted = (
            (LEC.date, LEC.notBefore, LEC.startDate)
            if "earliest" in shape
            else (LEC.date, LEC.notAfter, LEC.endDate)
        )
        if any(p in wanted for p, _ in pairs):
            out.add(shape)
    return out


def test_the_shapes_compute_the_same_days_as_the_code() -> None:
    """The SPARQL of DatedNodeShape (Oxigraph target, rdflib constraint) accepts exactly the
    bounds the code writes, asks for them when they are missing, and refuses each one moved by
    a day."""
    g = dated_graph()
    every_side = {(f"{NODE}-{i}", shape) for i, pairs in enumerate(CASES) for shape in sides(pairs)}
    assert computed_findings(g + bounds_graph(g)) == set()
    assert computed_findings(g) == every_side
    moved = Graph()
    for s, p, o in bounds_graph(g):
        day = date.fromordinal(date.fromisoformat(str(o)).toordinal() + 1)
        moved.add((s, p, Literal(day.isoformat(), datatype=DATE)))
    assert computed_findings(g + moved) == every_side
    # bounds left over on a node whose dates are gone (a stale file) are refused too
    left_over = Graph()
    left_over.add((NODE, LEC.earliestDate, Literal("2015-01-01", datatype=DATE)))
    left_over.add((NODE, LEC.latestDate, Literal("2015-12-31", datatype=DATE)))
    assert computed_findings(left_over) == {(str(NODE), shape) for shape in COMPUTED}


def test_missing_bounds_leaves_bounded_nodes_alone() -> None:
    """Bounds for the dated nodes that carry none; a node with a bound written keeps it."""
    g = node((LEC.date, lit("2016-02", GYEARMONTH)))
    other = URIRef(f"{NODE}-bounded")
    g.add((other, LEC.date, lit("2015")))
    g.add((other, LEC.earliestDate, Literal("2015-01-01", datatype=DATE)))
    assert set(missing_bounds(g)) == {
        (NODE, LEC.earliestDate, Literal("2016-02-01", datatype=DATE)),
        (NODE, LEC.latestDate, Literal("2016-02-29", datatype=DATE)),
    }
    assert set(missing_bounds(g, [other])) == set()


def test_validate_judges_an_extra_file_as_it_would_stand_in_graph() -> None:
    """`lec-kg validate FILE`: the file's dates get the bounds `lec-kg dates` would write."""
    settings = Settings(source_dir=ROOT, data_dir=None)
    extra = ROOT / "tests" / "fixtures" / "shapes" / "valid" / "events.ttl"
    data, _ = load_data(settings, extra=[extra])
    dated = dated_nodes(Graph().parse(extra, format="turtle"))
    assert dated
    for n in dated:
        assert (n, LEC.earliestDate, None) in data or (n, LEC.latestDate, None) in data
