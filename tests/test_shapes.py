"""The shapes: every shape has a conforming and a violating fixture, and the shipped graph passes.

Fixtures live in tests/fixtures/shapes/: `base.ttl` (a report and two states) is loaded with each.
`valid/*.ttl` must give no finding at all; its `# covers:` line names the node shapes it exercises.
`invalid/<Shape>.ttl` has exactly one defect; its header says which shape, focus node (`_:` for a
blank node) and path (`-` for none) must fire, at which severity, and nothing else may fire.
Fixtures are written like graph/*.ttl, whose computed date bounds live in the generated
graph/date-bounds.ttl: each fixture gets the bounds `lec-kg dates` would write for it, unless its
header says `# bounds: as written` (the fixtures of the date-bound shapes themselves).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from rdflib import RDF, RDFS, BNode, Graph, URIRef
from rdflib.namespace import SH

from lec_kg.config import Settings
from lec_kg.datebounds import bounds_graph
from lec_kg.validation import LECSH, ValidationReport, Validator, load_data, load_validator

from .support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "shapes"
VALID = sorted((FIXTURES / "valid").glob("*.ttl"))
INVALID = sorted((FIXTURES / "invalid").glob("*.ttl"))


@cache
def settings() -> Settings:
    return Settings(source_dir=ROOT, data_dir=None)


@cache
def validator() -> Validator:
    return load_validator(settings())


@cache
def shapes_graph() -> Graph:
    g = Graph()
    for path in sorted((ROOT / "shapes").glob("*.ttl")):
        g.parse(path, format="turtle")
    return g


@cache
def ontology_graph() -> Graph:
    g = Graph()
    for path in sorted((ROOT / "ontology").glob("*.ttl")):
        g.parse(path, format="turtle")
    return g


def header(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top of a fixture."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def with_date_bounds(data: Graph) -> Graph:
    """The data with the date bounds `lec-kg dates` computes for it (graph/date-bounds.ttl)."""
    data += bounds_graph(data)
    return data


def validate_fixture(path: Path, submission: bool | None = None) -> tuple[Graph, ValidationReport]:
    data = Graph().parse(FIXTURES / "base.ttl", format="turtle")
    data.parse(path, format="turtle")
    if header(path).get("bounds") != "as written":
        with_date_bounds(data)
    if submission is None:
        submission = header(path).get("submission") == "true"
    return data, validator().validate(data, submission=submission)


def named_shapes() -> set[URIRef]:
    g = shapes_graph()
    kinds = set(g.subjects(RDF.type, SH.NodeShape)) | set(g.subjects(RDF.type, SH.PropertyShape))
    return {s for s in kinds if isinstance(s, URIRef)}


def firing_shapes() -> set[URIRef]:
    """Named shapes that can themselves be the source of a finding: every property shape, and
    every node shape with a constraint of its own (not just sh:property links)."""
    g = shapes_graph()
    bookkeeping = {
        RDF.type,
        SH.property,
        SH.targetClass,
        SH.target,
        SH.targetSubjectsOf,
        SH.targetObjectsOf,
        SH.targetNode,
        SH.severity,
        SH.message,
        RDFS.label,
        RDFS.comment,
        LECSH.submissionOnly,
    }
    out = set()
    for s in named_shapes():
        if (s, RDF.type, SH.PropertyShape) in g or any(
            p not in bookkeeping for p in g.predicates(s)
        ):
            out.add(s)
    return out


def test_every_shape_is_named_and_documented():
    g = shapes_graph()
    assert not [s for s in g.subjects(SH.property, None) if isinstance(s, BNode)]
    for prop in g.subjects(RDF.type, SH.PropertyShape):
        assert isinstance(prop, URIRef), prop
        for p in (SH.path, SH.name, SH.description, SH.severity, SH.message):
            assert g.value(prop, p) is not None, f"{prop} lacks {p}"
        assert any(m.language == "en" for m in g.objects(prop, SH.message)), prop
        node_shape = next(iter(g.subjects(SH.property, prop)), None)
        if node_shape is None:  # a property shape with its own target, named after its class
            assert g.value(prop, SH.target) is not None, f"{prop} has no node shape, no target"
            node_shape = URIRef(str(prop).rsplit("-", 1)[0])
            assert (node_shape, RDF.type, SH.NodeShape) in g, f"{prop}: no node shape {node_shape}"
        assert str(prop).startswith(f"{node_shape}-"), f"{prop} is not named {node_shape}-<prop>"
    for node in g.subjects(RDF.type, SH.NodeShape):
        assert isinstance(node, URIRef) and str(node).endswith("Shape"), node


def test_fixture_suite_is_complete():
    """Every firing shape has an invalid fixture named after it, every node shape a valid one;
    the fixtures found are at least as many as the shapes that can fire (the suite cannot
    shrink in silence)."""
    firing = firing_shapes()
    assert len(firing) >= 80
    expected = {URIRef(header(p)["shape"]) for p in INVALID}
    assert firing - expected == set(), "shapes without an invalid fixture"
    assert expected - named_shapes() == set(), "fixtures naming unknown shapes"
    assert len(VALID) + len(INVALID) >= len(firing)
    covered = {c for p in VALID for c in header(p)["covers"].split()}
    node_shapes = {str(s).split("#")[1] for s in named_shapes()} - {
        str(s).split("#")[1] for s in shapes_graph().subjects(RDF.type, SH.PropertyShape)
    }
    assert node_shapes - covered == set(), "node shapes without a valid fixture"


def test_base_fixture_conforms():
    data = Graph().parse(FIXTURES / "base.ttl", format="turtle")
    report = validator().validate(data, submission=True)
    assert report.findings == ()


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_fixture(path: Path):
    data, report = validate_fixture(path)
    assert report.findings == (), report.to_text()
    # the node shapes it claims to cover have targets in it (checked for sh:targetClass shapes)
    g, ont = shapes_graph(), ontology_graph()
    for name in header(path)["covers"].split():
        for cls in g.objects(LECSH[name], SH.targetClass):
            classes = set(ont.transitive_subjects(RDFS.subClassOf, cls)) | {cls}
            assert any((None, RDF.type, c) in data for c in classes), f"{name}: no {cls} in fixture"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_fixture(path: Path):
    expect = header(path)
    _, report = validate_fixture(path)
    assert len(report.findings) == 1, report.to_text()
    finding = report.findings[0]
    assert finding.shape == expect["shape"]
    assert finding.severity == expect["severity"]
    assert finding.path == (None if expect["path"] == "-" else expect["path"])
    if expect["focus"] == "_:":
        assert isinstance(finding.focus, BNode)
    else:
        assert finding.focus == URIRef(expect["focus"])
    assert finding.message and "{" not in finding.message  # placeholders were filled in
    assert report.conforms is (expect["severity"] != "Violation")


@pytest.mark.parametrize(
    "path", [p for p in INVALID if header(p).get("submission") == "true"], ids=lambda p: p.stem
)
def test_submission_rules_apply_only_to_submissions(path: Path):
    _, report = validate_fixture(path, submission=False)
    assert report.findings == ()


def test_extradition_treaty_is_an_instrument():
    """sh:class lec:Instrument follows the ontology's subclasses (ExtraditionTreaty < Treaty)."""
    path = FIXTURES / "valid" / "events.ttl"
    data = Graph().parse(FIXTURES / "base.ttl").parse(path)
    iri = URIRef("https://w3id.org/lec-kg/id/instrument/fixture-agreement")
    data.remove((iri, RDF.type, None))
    data.add((iri, RDF.type, URIRef("https://w3id.org/lec-kg/ontology#ExtraditionTreaty")))
    report = validator().validate(with_date_bounds(data))
    assert [f.shape for f in report.findings] == [
        "https://w3id.org/lec-kg/shapes#ExtraditionTreatyShape-safeguard"
    ]


def test_shipped_graph_has_no_violation():
    data, source_of = load_data(settings())
    report = validator().validate(data, source_of=source_of)
    assert report.of_severity("Violation") == [], report.to_text()


ORDER = "https://w3id.org/lec-kg/shapes#InstrumentShape-lifecycleOrder"
STEP = "https://w3id.org/lec-kg/id/step/fixture-treaty-"


@pytest.mark.parametrize(
    ("signed", "ratified", "in_force", "late_step"),
    [
        ('"2015-07"^^xsd:gYearMonth', '"2015"^^xsd:gYear', '"2015-07-17"^^xsd:date', None),
        ('"2015-07-10"^^xsd:date', '"2015-06"^^xsd:gYearMonth', '"2016"^^xsd:gYear', "ratified"),
        ('"2007-03"^^xsd:gYearMonth', '"2015"^^xsd:gYear', '"2015-06-30"^^xsd:date', None),
        (
            '"2007-03"^^xsd:gYearMonth',
            '"2015-08"^^xsd:gYearMonth',
            '"2015-07-17"^^xsd:date',
            "in-force",
        ),
        ('"2016"^^xsd:gYear', '"2017"^^xsd:gYear', '"2017"^^xsd:gYear', None),
        ('"2018"^^xsd:gYear', '"2015"^^xsd:gYear', '"2019"^^xsd:gYear', "ratified"),
    ],
)
def test_lifecycle_order_compares_the_shared_prefix(signed, ratified, in_force, late_step):
    """Dates of different precision are compared on the prefix both share."""
    text = (FIXTURES / "valid" / "instruments.ttl").read_text(encoding="utf-8")
    text = text.replace('"2007-03"^^xsd:gYearMonth', signed)
    text = text.replace('lec:date "2015"^^xsd:gYear', f"lec:date {ratified}")
    text = text.replace('"2015-07-17"^^xsd:date', in_force)
    data = with_date_bounds(Graph().parse(FIXTURES / "base.ttl").parse(data=text, format="turtle"))
    findings = [f for f in validator().validate(data).findings if f.shape == ORDER]
    if late_step is None:
        assert findings == []
    else:
        assert [str(f.value) for f in findings] == [STEP + late_step]
        assert "out of order" in findings[0].message


def test_convention_ratified_after_entry_into_force_is_in_order():
    """A party may ratify a multilateral convention after it entered into force."""
    text = (FIXTURES / "valid" / "instruments.ttl").read_text(encoding="utf-8")
    text = text.replace("a lec:ExtraditionTreaty ;", "a lec:Convention ;")
    text = text.replace('lec:date "2015"^^xsd:gYear', 'lec:date "2016"^^xsd:gYear')
    data = with_date_bounds(Graph().parse(FIXTURES / "base.ttl").parse(data=text, format="turtle"))
    assert [f for f in validator().validate(data).findings if f.shape == ORDER] == []
    # the same dates on a bilateral treaty are out of order
    text = text.replace("a lec:Convention ;", "a lec:ExtraditionTreaty ;")
    data = with_date_bounds(Graph().parse(FIXTURES / "base.ttl").parse(data=text, format="turtle"))
    assert [f.shape for f in validator().validate(data).findings] == [ORDER]


def test_validation_leaves_the_data_graph_alone():
    data = Graph().parse(FIXTURES / "base.ttl").parse(FIXTURES / "valid" / "events.ttl")
    before = set(data)
    validator().validate(data)
    validator().validate(data, submission=True)
    assert set(data) == before


def test_report_renderings_agree():
    _, report = validate_fixture(FIXTURES / "invalid" / "SourcePassageShape-pageInDocument.ttl")
    (finding,) = report.findings
    assert finding.context and finding.context.startswith("lec:evidence of https://")
    assert "Page 12 does not exist" in finding.message
    body = json.loads(report.to_json())
    assert body["findings"][0]["shape"] == finding.shape
    g = report.to_graph()
    assert (None, SH.sourceShape, URIRef(finding.shape)) in g
    assert "[lecsh:SourcePassageShape-pageInDocument]" in report.to_text()
