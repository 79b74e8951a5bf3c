"""`lec-kg validate` run as a real subprocess: exit codes, the readable report, JSON and Turtle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rdflib import RDF, Graph
from rdflib.namespace import SH

from .support import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "shapes"
BASE = FIXTURES / "base.ttl"
TYPO = FIXTURES / "invalid" / "UndeclaredClassShape-type.ttl"
TYPO_FOCUS = "https://w3id.org/lec-kg/id/event/fixture-cooperation"
TYPO_SHAPE = "https://w3id.org/lec-kg/shapes#UndeclaredClassShape-type"


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


def test_violating_file_fails_naming_shape_focus_and_file():
    done = lec_kg("validate", BASE, TYPO)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("Violation:")]
    assert len(lines) == 1, done.stdout
    assert TYPO_FOCUS in lines[0]
    assert "lecsh:UndeclaredClassShape-type" in lines[0]
    assert "invalid/UndeclaredClassShape-type.ttl" in lines[0]
    assert "lec:Extradtion" in lines[0] or "ontology#Extradtion" in lines[0]


def test_json_report_has_the_findings():
    done = lec_kg("validate", "--format", "json", BASE, TYPO)
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


def test_turtle_report_parses_as_a_shacl_report():
    done = lec_kg("validate", "--format", "turtle", BASE, TYPO)
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
    assert "Turtle syntax error" in done.stderr
    assert done.stdout == ""
