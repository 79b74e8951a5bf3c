"""Competency questions: each tests/competency/*.rq run over ontology + graph must give its .csv."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyoxigraph as ox
import pytest

from tests.support import ROOT

CQ_DIR = Path(__file__).parent / "competency"
QUESTIONS = sorted(CQ_DIR.glob("*.rq"))
MIN_QUESTIONS = 193  # 83 in release 0.1, 110 added with 0.2 (issue "Answers a reader can trust")


@pytest.fixture(scope="session")
def store() -> ox.Store:
    """One store with every ontology and graph file, default graph = union of all."""
    s = ox.Store()
    for folder in ("ontology", "graph"):
        for path in sorted((ROOT / folder).glob("*.ttl")):
            graph = ox.NamedNode(f"file:{path.name}")
            s.bulk_load(path=str(path), format=ox.RdfFormat.TURTLE, to_graph=graph)
    return s


def term_text(term: object) -> str:
    """A result term as the SPARQL CSV results format writes it: IRI or lexical form."""
    if term is None:
        return ""
    return term.value  # NamedNode, Literal and BlankNode all expose .value


def expected_rows(path: Path) -> tuple[list[str] | None, list[tuple[str, ...]]]:
    """Header and rows of the expected CSV; header None for an ASK answer."""
    text = path.read_text(encoding="utf-8").strip()
    if text in ("true", "false"):
        return None, [(text,)]
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [tuple(r) for r in rows[1:]]


def test_enough_questions() -> None:
    """The suite cannot shrink in silence: at least MIN_QUESTIONS, each with its expected answer."""
    assert len(QUESTIONS) >= MIN_QUESTIONS, f"only {len(QUESTIONS)} competency questions"
    for q in QUESTIONS:
        assert q.with_suffix(".csv").exists(), f"{q.name} has no expected answer"
        first, second = q.read_text(encoding="utf-8").splitlines()[:2]
        assert first.startswith("# Q: ") and second.startswith("# A: "), q.name


@pytest.mark.parametrize("query_path", QUESTIONS, ids=lambda p: p.stem)
def test_competency_question(store: ox.Store, query_path: Path) -> None:
    """The query returns exactly the answer the report supports."""
    text = query_path.read_text(encoding="utf-8")
    header, rows = expected_rows(query_path.with_suffix(".csv"))
    result = store.query(text, use_default_graph_as_union=True)
    if isinstance(result, ox.QueryBoolean):
        assert header is None, "ASK query needs a true/false answer file"
        assert [(str(bool(result)).lower(),)] == rows
        return
    assert header is not None, "SELECT query needs a CSV answer with a header"
    variables = [v.value for v in result.variables]
    assert variables == header
    got = [tuple(term_text(sol[v]) for v in variables) for sol in result]
    if re.search(r"\bORDER\s+BY\b", text, re.IGNORECASE):
        assert got == rows
    else:
        assert sorted(got) == sorted(rows)
