"""Isolation and durability: a runaway query is stopped while others are answered, a crashing
query costs one worker, and an acknowledged write survives kill -9 of the whole server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lec_kg.config import Settings
from lec_kg.engine import OxigraphEngine, build_engine
from lec_kg.engine_api import QueryRequest
from lec_kg.errors import QueryTimeout, QueryTooComplex, ValidationFailed
from lec_kg.journal import JOURNAL_NAME

ROOT = Path(__file__).resolve().parents[1]
JSON = "application/sparql-results+json"
# Three unconnected patterns over every quad: a cross product no store finishes.
RUNAWAY = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l }"
SMALL = "ASK { ?s ?p ?o }"


def wait_until(condition, what: str, limit_s: float = 60.0) -> None:
    """Poll a condition (bounded, so a broken pool fails the test instead of hanging it)."""
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def quick(settings: Settings) -> Iterator[OxigraphEngine]:
    """An engine with a 2 s deadline and two workers."""
    built = build_engine(replace(settings, query_timeout_s=2.0), query_workers=2)
    assert built.is_ready(), built.not_ready_reason
    yield built
    built.close()


def ask(engine: OxigraphEngine) -> bool:
    return json.loads(engine.query(QueryRequest(SMALL), JSON).body)["boolean"]


def test_a_runaway_query_is_stopped_while_others_are_answered(quick: OxigraphEngine) -> None:
    outcome: dict[str, BaseException | None] = {}

    def runaway() -> None:
        try:
            quick.query(QueryRequest(RUNAWAY), JSON)
            outcome["error"] = None
        except BaseException as exc:  # recorded for the main thread to assert on
            outcome["error"] = exc

    worker = threading.Thread(target=runaway)
    worker.start()
    assert ask(quick) is True  # answered by the other worker ...
    assert worker.is_alive()  # ... while the runaway query is still running
    worker.join(timeout=120)
    assert isinstance(outcome["error"], QueryTimeout)
    assert outcome["error"].status == 503
    assert ask(quick) is True  # and after it was stopped
    wait_until(lambda: quick._pool.alive == 2, "the killed worker is replaced")
    assert quick._pool.restarts >= 1
    assert [ask(quick) for _ in range(4)] == [True] * 4


def test_a_crashed_worker_is_replaced(quick: OxigraphEngine) -> None:
    restarts = quick._pool.restarts
    quick._pool.crash_one_for_test()
    assert ask(quick) is True
    wait_until(lambda: quick._pool.alive == 2, "the crashed worker is replaced")
    assert quick._pool.restarts == restarts + 1


def test_a_5000_deep_query_is_an_error_and_the_engine_goes_on(quick: OxigraphEngine) -> None:
    deep = "SELECT * WHERE { " + "{ " * 5000 + "?s ?p ?o " + "} " * 5000 + "}"
    with pytest.raises(QueryTooComplex):
        quick.query_form(deep)
    with pytest.raises(QueryTooComplex):
        quick.query(QueryRequest(deep), JSON)
    deep_update = "INSERT { <urn:a> <urn:b> <urn:c> } WHERE " + "{ " * 5000 + "} " * 5000
    with pytest.raises(QueryTooComplex):
        quick.update(deep_update)
    assert ask(quick) is True


def test_a_runaway_update_is_stopped_and_changes_nothing(quick: OxigraphEngine) -> None:
    before = quick.dump_nquads()
    with pytest.raises(QueryTimeout):
        quick.update(
            "INSERT { GRAPH <urn:lec-kg-test:g> { ?a <urn:p> ?l } } "
            "WHERE { GRAPH ?w { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l } }"
        )
    assert quick.dump_nquads() == before
    assert ask(quick) is True


WRITER = """
import sys, time
from pathlib import Path
from lec_kg.config import Settings
from lec_kg.engine import build_engine
settings = Settings(source_dir=Path(sys.argv[1]), data_dir=Path(sys.argv[2]))
engine = build_engine(settings, query_workers=1)
assert engine.is_ready(), engine.not_ready_reason
outcome = engine.update(sys.argv[3])
print("ACK", outcome.added, flush=True)
time.sleep(600)  # killed long before
"""
MARK = "<urn:lec-kg-test:durable> <http://www.w3.org/2000/01/rdf-schema#comment> "


def test_an_acknowledged_write_survives_kill_9(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    update = (
        "INSERT DATA { GRAPH <https://w3id.org/lec-kg/graph/facts/durability-test> "
        f'{{ {MARK} "written before the crash" }} }}'
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(ROOT), str(data_dir), update],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until the write is acknowledged
        os.kill(proc.pid, signal.SIGKILL)  # right after the acknowledgement
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert line.split() == ["ACK", "1"]
    assert proc.returncode == -signal.SIGKILL

    restarted = build_engine(Settings(source_dir=ROOT, data_dir=data_dir), query_workers=1)
    try:
        assert restarted.is_ready(), restarted.not_ready_reason
        found = restarted.query(
            QueryRequest("SELECT ?c WHERE { <urn:lec-kg-test:durable> ?p ?c }"), JSON
        )
        bindings = json.loads(found.body)["results"]["bindings"]
        assert [b["c"]["value"] for b in bindings] == ["written before the crash"]

        # A rejected write leaves no trace, in memory or on disk.
        journal = (data_dir / JOURNAL_NAME).read_bytes()
        before = restarted.dump_nquads()
        with pytest.raises(ValidationFailed):
            restarted.update(
                "INSERT DATA { <urn:lec-kg-test:bad> a "
                "<https://w3id.org/lec-kg/ontology#Extradition> }"
            )
        assert (data_dir / JOURNAL_NAME).read_bytes() == journal
        assert restarted.dump_nquads() == before
    finally:
        restarted.close()


TRICKY = (
    'INSERT DATA { <http://x/a> <http://x/p> "line1\\nline2\\ttab" , "fr"@fr , 5 , 1.5 , 1e3 , '
    'true , "x"^^<http://x/dt> , _:b1 , <http://x/b> . <http://x/b> <http://x/q> "only" }'
)


@pytest.mark.parametrize("fmt", ["json", "xml", "tsv", "csv"])
@pytest.mark.parametrize(
    "text",
    [
        "SELECT ?o WHERE { ?s ?p ?o }",
        "SELECT ?s ?o ?z WHERE { ?s ?p ?o OPTIONAL { ?o <http://x/none> ?z } }",
        "SELECT * WHERE { ?s ?p ?o } LIMIT 3",
        "SELECT * WHERE { ?s ?p ?o } LIMIT 300 # a comment after the limit",
        "SELECT * { ?s ?p ?o } VALUES ?s { <http://x/b> }",
    ],
)
def test_native_and_row_by_row_serialization_agree(text: str, fmt: str) -> None:
    """The worker's fast path (pyoxigraph serializes, rows counted as TSV lines) gives what the
    row-by-row path gives, cap and truncation flag included, for awkward literals too."""
    from pyoxigraph import Store

    from lec_kg.worker import run_query, run_select_direct

    store = Store()
    store.update(TRICKY)
    request = {"text": text, "union": True, "max_rows": 4, "format": fmt}
    fast = run_query(store, {**request, "form": "select"}, {})
    slow = run_query(store, {**request, "form": None}, {})
    capped = fast[0].pop("capped", False)  # then a later run may serialize it directly
    assert capped == ("VALUES" not in text)  # a trailing VALUES cannot be capped
    assert fast[0] == slow[0] and fast[0]["ok"]
    assert sorted(fast[1].splitlines()) == sorted(slow[1].splitlines())
    if capped and not fast[0]["truncated"]:  # the direct path (rows known earlier) agrees
        direct = run_select_direct(store, request)
        assert sorted(direct.splitlines()) == sorted(fast[1].splitlines())
