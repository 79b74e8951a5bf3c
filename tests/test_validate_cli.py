"""`lec-kg validate` run as a real subprocess: exit codes, the readable report, JSON and Turtle.
(With a data directory's writes: tests/test_validate_store.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rdflib import RDF, Graph
from rdflib.namespace import SH

from lec_kg.datebounds import missing_bounds

from .support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "shapes"
BASE = FIXTURES / "base.ttl"
TYPO = FIXTURES / "invalid" / "UndeclaredClassShape-type.ttl"
TYPO_FOCUS = "https://w3id.org/lec-kg/id/event/fixture-cooperation"
TYPO_SHAPE = "https://w3id.org/lec-kg/shapes#UndeclaredClassShape-type"


@pytest.fixture(autouse=True)
def no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No data directory of the machine's user is read: the default one is empty."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LEC_KG_DATA_DIR", raising=False)


@pytest.fixture
def bounded(tmp_path: Path) -> tuple[Path, Path]:
    """BASE and TYPO with the date bounds `lec-kg dates` would give them: new facts carry their
    own (as `lec-kg add` and POST /validate want), so the typo is the one defect left."""
    out = []
    for fixture in (BASE, TYPO):
        g = Graph().parse(fixture, format="turtle")
        g += missing_bounds(g)
        copy = tmp_path / fixture.relative_to(FIXTURES)
        copy.parent.mkdir(parents=True, exist_ok=True)
        g.serialize(copy, format="turtle")
        out.append(copy)
    return out[0], out[1]


def lec_kg(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in a child process, from the checkout."""
    return subprocess.run(
        [sys.executable, "-m", "lec_kg.cli", "--source-dir", str(ROOT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_shipped_graph_passes():
    done = lec_kg("validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "conforms: 0 violation(s)" in done.stdout


def test_violating_file_fails_naming_shape_focus_and_file(bounded):
    done = lec_kg("validate", *bounded)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("Violation:")]
    assert len(lines) == 1, done.stdout
    assert TYPO_FOCUS in lines[0]
    assert "lecsh:UndeclaredClassShape-type" in lines[0]
    assert "invalid/UndeclaredClassShape-type.ttl" in lines[0]
    assert "lec:Extradtion" in lines[0] or "ontology#Extradtion" in lines[0]


def test_json_report_has_the_findings(bounded):
    done = lec_kg("validate", "--format", "json", *bounded)
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["conforms"] is False
    violations = [f for f in body["findings"] if f["severity"] == "Violation"]
    assert [(f["shape"], f["focus"], f["path"]) for f in violations] == [
        (TYPO_SHAPE, TYPO_FOCUS, "rdf:type")
    ]
    assert violations[0]["value"] == "https://w3id.org/lec-kg/ontology#Extradtion"
    assert violations[0]["source_file"].endswith("invalid/UndeclaredClassShape-type.ttl")
    assert body["counts"]["Violation"] == 1


def test_turtle_report_parses_as_a_shacl_report(bounded):
    done = lec_kg("validate", "--format", "turtle", *bounded)
    assert done.returncode == 1
    g = Graph().parse(data=done.stdout, format="turtle")
    report = g.value(predicate=RDF.type, object=SH.ValidationReport)
    assert report is not None
    assert g.value(report, SH.conforms).toPython() is False
    violations = [
        r for r in g.objects(report, SH.result) if (r, SH.resultSeverity, SH.Violation) in g
    ]
    assert len(violations) == 1
    assert str(g.value(violations[0], SH.sourceShape)) == TYPO_SHAPE
    assert str(g.value(violations[0], SH.focusNode)) == TYPO_FOCUS
    assert g.value(violations[0], SH.resultPath) == RDF.type


def test_syntax_error_exits_2_with_line_and_column(tmp_path: Path):
    bad = tmp_path / "bad.ttl"
    bad.write_text(
        "@prefix lec: <https://w3id.org/lec-kg/ontology#> .\n"
        "<https://w3id.org/lec-kg/id/state/FR> a lec:State ;\n"
        '    lec:isoCode "FR" \n'
        "<https://w3id.org/lec-kg/id/state/DE> a lec:State .\n",
        encoding="utf-8",
    )
    done = lec_kg("validate", bad)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{bad}:4:1:" in done.stderr, done.stderr
    assert "text/turtle syntax error" in done.stderr  # as POST /validate says it
    assert done.stdout == ""


def test_a_file_is_judged_as_a_write_its_date_bounds_its_own():
    """A file of new facts is checked as `lec-kg add` would add it: dates without the bounds
    they give are refused (in graph/, `lec-kg dates` writes them)."""
    done = lec_kg("validate", "--format", "json", BASE, TYPO)
    assert done.returncode == 1, done.stdout + done.stderr
    shapes = {f["shape"].rpartition("#")[2] for f in json.loads(done.stdout)["findings"]}
    assert {"DatedNodeShape-earliestDateComputed", "UndeclaredClassShape-type"} <= shapes


def test_a_file_without_triples_exits_2(tmp_path: Path):
    empty = tmp_path / "empty.ttl"
    empty.write_text("@prefix lec: <https://w3id.org/lec-kg/ontology#> .\n", encoding="utf-8")
    done = lec_kg("validate", empty)
    assert done.returncode == 2 and done.stdout == ""
    assert f"{empty} holds no triples" in done.stderr


def test_a_file_no_write_may_add_does_not_conform(tmp_path: Path):
    """A statement the protection refuses whatever the shapes say (a new term of the
    ontology): the verdict is no, with the reason, as any write of it is refused."""
    term = tmp_path / "term.ttl"
    term.write_text(
        "<https://w3id.org/lec-kg/ontology#Invented> a <http://www.w3.org/2002/07/owl#Class> .\n",
        encoding="utf-8",
    )
    done = lec_kg("validate", "--format", "json", term)
    assert done.returncode == 1, done.stdout + done.stderr
    body = json.loads(done.stdout)
    assert body["conforms"] is False and "is a term of the ontology" in body["detail"]


def test_a_blank_node_label_is_its_files_own(tmp_path: Path):
    """`_:e` in two files is two nodes (as rdflib reads two files): the second file's page is
    not a second page of the first file's passage."""
    place, page = tmp_path / "place.ttl", tmp_path / "page.ttl"
    place.write_text(
        "@prefix lec: <https://w3id.org/lec-kg/ontology#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        "@prefix dcterms: <http://purl.org/dc/terms/> .\n"
        '<https://w3id.org/lec-kg/id/place/blank-test> a lec:Place ; rdfs:label "B"@en ;\n'
        "    lec:evidence _:e .\n"
        '_:e a lec:SourcePassage ; lec:page 1 ; lec:quote "China" ;\n'
        "    dcterms:isPartOf <https://w3id.org/lec-kg/id/document/"
        "merics-china-monitor-2017-01-18> .\n",
        encoding="utf-8",
    )
    page.write_text("_:e <https://w3id.org/lec-kg/ontology#page> 2 .\n", encoding="utf-8")
    done = lec_kg("validate", place, page)
    # The second file's _:e is a node of its own: a blank node that is no source passage (one
    # page of the first file's passage would have made it a passage with two pages).
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BlankNodeShape" in done.stdout and "SourcePassageShape-page" not in done.stdout
