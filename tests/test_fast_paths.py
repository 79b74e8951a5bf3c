"""What makes repeated queries fast must never make them wrong: results kept per data version,
queries run in-process only when measured cheap on the same data, and several server processes
sharing one data directory, each seeing every acknowledged write."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from lec_kg.config import Settings
from lec_kg.engine import REMEMBER_TEXT_CHARS, OxigraphEngine, build_engine
from lec_kg.engine_api import QueryRequest, QueryResult
from lec_kg.observability import BufferedLineHandler
from lec_kg.result_cache import ENTRY_OVERHEAD, ResultCache, cacheable
from tests.conftest import LEC_KG, ROOT, TOKEN, serving
from tests.support import TIMEOUT

JSON = "application/sparql-results+json"
# A property no shape judges on nodes outside the graph's namespace (the ontology's would be).
COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"
LEC = "https://w3id.org/lec-kg/ontology#"
GRAPH = "https://w3id.org/lec-kg/graph/facts/fast-path-test"
NOTES = QueryRequest(f"SELECT ?o WHERE {{ <urn:lec-kg-test:fast> <{COMMENT}> ?o }} ORDER BY ?o")


def notes(result: QueryResult) -> list[str]:
    return [b["o"]["value"] for b in json.loads(result.body)["results"]["bindings"]]


def insert(note: str) -> str:
    return f'INSERT DATA {{ GRAPH <{GRAPH}> {{ <urn:lec-kg-test:fast> <{COMMENT}> "{note}" }} }}'


def measured(engine: OxigraphEngine, request: QueryRequest) -> tuple[QueryResult, QueryResult]:
    """A worker's result, then the in-process one. "Cheap" is measured time, so a busy machine
    may need a second worker run (a cold one is slower) before the query counts as cheap."""
    for _ in range(5):
        by_worker = engine.query(request, JSON)
        if (in_process := engine.query_inline(request, JSON)) is not None:
            return by_worker, in_process
    pytest.fail("five worker runs and the query never counted as cheap")


def reply_ok(reply: httpx.Response) -> bool:
    assert reply.status_code == 200, reply.text
    return True


def result(body: bytes) -> QueryResult:
    return QueryResult("select", body, JSON)


# ---------------------------------------------------------------- the result cache alone


def test_the_cache_gives_back_only_what_was_computed_on_the_same_version() -> None:
    cache = ResultCache(max_bytes=10_000)
    cache.put("q", 1, result(b"old"))
    assert cache.get("q", 1).body == b"old"
    assert cache.get("q", 2) is None  # the data changed: everything kept is gone
    cache.put("q", 1, result(b"late"))  # computed on version 1, arriving after version 2
    assert cache.get("q", 2) is None
    cache.put("q", 2, result(b"new"))
    assert cache.get("q", 2).body == b"new"
    assert cache.get("q", 1) is None and cache.get("q", 2) is None  # no going back


def test_the_cache_is_bounded_and_drops_the_least_recently_used() -> None:
    entry = 100 + 10 + ENTRY_OVERHEAD  # a 100-byte body under a 10-character query
    cache = ResultCache(max_bytes=8 * entry)  # keeps entries of at most `entry` bytes
    cache.put("big", 1, result(b"x" * 101), key_size=10)
    assert cache.get("big", 1) is None
    for name in "abcdefgh":
        cache.put(name, 1, result(name.encode() * 100), key_size=10)
    assert cache.get("a", 1) is not None  # used: now the most recent
    cache.put("i", 1, result(b"i" * 100), key_size=10)
    assert cache.get("b", 1) is None  # the least recently used went
    assert cache.get("a", 1) is not None and cache.get("i", 1) is not None
    assert cache.size_bytes <= 8 * entry
    cache.put("long-text", 1, result(b"j"), key_size=entry)  # the query text counts too
    assert cache.get("long-text", 1) is None


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("SELECT * WHERE { ?s ?p ?o }", True),
        ("SELECT (NOW() AS ?t) WHERE {}", False),
        ("SELECT (rand ( ) AS ?r) WHERE {}", False),
        ("SELECT ?s WHERE { ?s ?p ?o BIND(STRUUID() AS ?u) }", False),
        ("CONSTRUCT { _:x ?p ?o } WHERE { ?s ?p ?o BIND(BNODE() AS ?b) }", False),
        ("SELECT ?brand WHERE { ?s <urn:brand> ?brand }", True),  # a name, not RAND()
    ],
)
def test_queries_that_change_by_themselves_are_never_kept(text: str, kept: bool) -> None:
    assert cacheable(text) is kept


# ---------------------------------------------------------------- the engine


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[tuple[OxigraphEngine, OxigraphEngine]]:
    """Two engines on one data directory, as two server processes have: one keeps results,
    the other keeps none (so it runs cheap queries in-process)."""
    settings = Settings(source_dir=ROOT, data_dir=tmp_path, write_token=TOKEN)
    first = build_engine(settings, query_workers=1)
    second = build_engine(replace(settings, result_cache_bytes=0), query_workers=1)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def test_a_kept_result_is_given_again_and_dropped_by_a_write(engines) -> None:
    engine, _ = engines
    engine.update(insert("one"))
    first = engine.query(NOTES, JSON)
    again = engine.query_inline(NOTES, JSON)
    assert not first.cached and again is not None and again.cached
    assert notes(again) == notes(first) == ["one"]
    engine.update(insert("two"))
    assert engine.query_inline(NOTES, JSON) is None  # nothing kept for the new data
    after = engine.query(NOTES, JSON)
    assert notes(after) == ["one", "two"] and not after.cached


def test_a_query_measured_cheap_runs_in_process_on_the_same_data_only(engines) -> None:
    _, engine = engines  # keeps no results
    engine.update(insert("one"))
    assert engine.query_inline(NOTES, JSON) is None  # never measured: a worker runs it first
    by_worker, in_process = measured(engine, NOTES)
    assert in_process is not None and not in_process.cached
    assert in_process.body == by_worker.body and in_process.rows == by_worker.rows == 1
    engine.update(insert("two"))
    assert engine.query_inline(NOTES, JSON) is None  # new data: measured again first
    assert notes(engine.query(NOTES, JSON)) == ["one", "two"]


def test_a_long_query_is_never_remembered(engines) -> None:
    """Whatever clients send, what the engine remembers stays bounded: a text over
    REMEMBER_TEXT_CHARS is inspected, run and answered afresh every time."""
    engine, _ = engines
    long = QueryRequest(NOTES.text + "\n#" + "x" * REMEMBER_TEXT_CHARS)
    first, second = engine.query(long, JSON), engine.query(long, JSON)
    assert not first.cached and not second.cached and first.body == second.body
    assert engine.query_inline(long, JSON) is None


def test_a_volatile_query_is_answered_afresh_each_time(engines) -> None:
    engine, _ = engines
    fresh_id = QueryRequest("SELECT (STRUUID() AS ?u) WHERE {}")
    first, second = engine.query(fresh_id, JSON), engine.query(fresh_id, JSON)
    assert not first.cached and not second.cached
    assert first.body != second.body
    # Never in-process, however cheap it was: its cost may change from one run to the next.
    assert engine.query_inline(fresh_id, JSON) is None
    third = engine.query(fresh_id, JSON)
    assert not third.cached and third.body not in (first.body, second.body)


def test_engines_sharing_a_directory_see_each_others_writes(engines) -> None:
    first, second = engines
    assert notes(second.query(NOTES, JSON)) == []
    assert notes(first.query(NOTES, JSON)) == []  # kept by the first engine
    second.update(insert("from-second"))
    assert first.query_inline(NOTES, JSON) is None  # the journal grew: not from memory
    assert notes(first.query(NOTES, JSON)) == ["from-second"]
    first.update(insert("from-first"))  # the first catches up before it writes
    assert notes(second.query(NOTES, JSON)) == ["from-first", "from-second"]
    assert GRAPH in first.graph_names() and GRAPH in second.graph_names()


# ---------------------------------------------------------------- several server processes


@pytest.mark.live
@pytest.mark.slow
def test_several_server_processes_answer_alike_and_share_writes(tmp_path: Path) -> None:
    """`serve --workers 2`: both processes answer, and a write acknowledged by one is seen by
    every later request, whichever process takes it."""
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    args = ["--workers", "2", "--data-dir", str(tmp_path / "data")]
    with serving(args, env, tmp_path / "serve.log") as server:
        pids: set[int] = set()
        for _ in range(200):
            with httpx.Client(timeout=TIMEOUT) as fresh:  # a new connection: either process
                ready = fresh.get(server.url + "/ready")
            if ready.status_code == 200:
                pids.add(ready.json()["pid"])
            if len(pids) == 2:
                break
        assert len(pids) == 2, f"one process answered every time: {pids}"
        written_notes: list[str] = []
        for note in ("a", "b", "c"):
            with httpx.Client(timeout=TIMEOUT) as fresh:
                written = fresh.post(
                    server.sparql,
                    content=insert(note),
                    headers={
                        "Content-Type": "application/sparql-update",
                        "Authorization": f"Bearer {TOKEN}",
                    },
                )
            assert reply_ok(written)
            written_notes.append(note)
            seen = set()
            for _ in range(6):
                with httpx.Client(timeout=TIMEOUT) as fresh:
                    reply = fresh.get(
                        server.sparql, params={"query": NOTES.text}, headers={"Accept": JSON}
                    )
                seen.add(tuple(notes(result(reply.content))))
            assert seen == {tuple(written_notes)}
        # A server process that dies is replaced; the other answers meanwhile.
        victim = pids.pop()
        os.kill(victim, signal.SIGKILL)
        replaced = False
        for _ in range(600):  # ~60 s at most; a guard against hanging, not a timed assertion
            with httpx.Client(timeout=TIMEOUT) as fresh:
                ready = fresh.get(server.url + "/ready")
            assert ready.status_code == 200
            if ready.json()["pid"] not in pids | {victim}:
                replaced = True
                break
            time.sleep(0.1)
        assert replaced, "the killed server process was not replaced"
        with httpx.Client(timeout=TIMEOUT) as fresh:
            reply = fresh.get(server.sparql, params={"query": NOTES.text}, headers={"Accept": JSON})
        assert notes(result(reply.content)) == written_notes


def test_several_processes_without_a_data_directory_may_not_write(tmp_path: Path) -> None:
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    done = subprocess.run(
        [str(LEC_KG), "--source-dir", str(ROOT), "serve", "--memory", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "journal" in done.stderr and "--memory" in done.stderr


def test_over_http_a_repeated_query_is_a_hit_until_a_write(write_client) -> None:
    """X-LEC-Cache says where an answer came from; a write makes the next one a miss."""
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/sparql-update"}
    assert write_client.post("/sparql", content=insert("h1"), headers=auth).status_code == 200
    ask = {"params": {"query": NOTES.text}, "headers": {"Accept": JSON}}
    first, second = write_client.get("/sparql", **ask), write_client.get("/sparql", **ask)
    assert (first.headers["x-lec-cache"], second.headers["x-lec-cache"]) == ("miss", "hit")
    assert first.content == second.content and "h1" in notes(result(second.content))
    assert write_client.post("/sparql", content=insert("h2"), headers=auth).status_code == 200
    third = write_client.get("/sparql", **ask)
    assert third.headers["x-lec-cache"] == "miss"
    assert {"h1", "h2"} <= set(notes(result(third.content)))
    assert (
        "X-LEC-Cache"
        in write_client.get(
            "/sparql", params={"query": NOTES.text}, headers={"Origin": "https://example.org"}
        ).headers["access-control-expose-headers"]
    )


def test_the_access_log_is_written_in_batches_and_nothing_is_lost_at_close() -> None:
    """Info lines wait for the batch (or the timer); a warning goes out at once with what
    waited before it; closing writes the rest, and closing twice is harmless."""
    stream = io.StringIO()
    handler = BufferedLineHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("lec_kg.test.batched")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    try:
        log.warning("urgent")
        assert stream.getvalue() == "WARNING urgent\n"
        log.info("one")
        log.info("two")
        assert "one" not in stream.getvalue()  # waiting for the batch
        log.error("boom")
        assert stream.getvalue().splitlines()[1:] == ["INFO one", "INFO two", "ERROR boom"]
        log.info("last")
        handler.close()
        assert stream.getvalue().endswith("INFO last\n")
        handler.close()
        log.info("after close")  # a closed handler writes at once rather than keep it
        assert stream.getvalue().endswith("INFO after close\n")
    finally:
        log.removeHandler(handler)


def test_metrics_count_the_result_cache(write_client) -> None:
    """/metrics says how often a kept result answered, and how much is kept."""

    def scraped() -> dict[str, float]:
        text = write_client.get("/metrics").text
        return {
            name: float(value)
            for line in text.splitlines()
            if line.startswith("lec_kg_result_cache")
            for name, value in [line.rsplit(" ", 1)]
        }

    before = scraped()
    query = {"query": f"ASK {{ <urn:lec-kg-test:metrics-{os.getpid()}> ?p ?o }}"}
    for _ in range(3):
        assert write_client.get("/sparql", params=query).status_code == 200
    after = scraped()
    # The ASK: one miss, then two hits; the second scrape's own quad count: one hit.
    grew = {name: after[name] - before.get(name, 0.0) for name in after}
    assert grew["lec_kg_result_cache_hits_total"] == 3
    assert grew["lec_kg_result_cache_misses_total"] == 1
    assert after["lec_kg_result_cache_entries"] >= 1 and after["lec_kg_result_cache_bytes"] > 0
