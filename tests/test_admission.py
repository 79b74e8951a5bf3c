"""Nothing runs unbounded in the serving process, and slow queries cannot starve cheap ones.

Queries calling RAND (or NOW, UUID, STRUUID, BNODE) never run in-process: their cost may change
from one evaluation to the next. A query still running after the slice needs a long-running
slot (one fewer than the workers; one per client): past that, and past the bounded queue for a
worker, requests are refused at once with 429 (this client) or 503 (everyone) and Retry-After.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import httpx
import pytest

from lec_kg.config import Settings
from lec_kg.engine import OxigraphEngine, build_engine
from lec_kg.engine_api import Engine, QueryRequest
from lec_kg.errors import Overloaded, QueryTimeout, TooManyQueries
from lec_kg.routes.deps import error_response
from tests.conftest import LiveServer, serving

JSON = "application/sparql-results+json"
# Three patterns over every quad: a cross product that runs until it is stopped.
SLOW = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i }"
HEAVY = "EXISTS { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i FILTER(STR(?c) = CONCAT(STR(?f), STR(?i))) }"
# A lookup four times in five, the cross product the fifth: IF evaluates one branch only.
SOMETIMES_HEAVY = f"ASK {{ FILTER(IF(RAND() < 0.8, true, {HEAVY})) }}"
CHEAP_ASK = "ASK { ?s ?p ?o }"


def wait_for(condition: Callable[[], bool], what: str, limit_s: float = 30.0) -> None:
    """Poll a condition (bounded, so a broken pool fails the test instead of hanging it)."""
    end = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting: {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------- volatile queries stay out


def test_a_query_calling_rand_is_never_run_in_process(engine: Engine) -> None:
    """Measured cheap once, it still goes to a worker the next time: never `query_inline`."""
    volatile = QueryRequest("SELECT (RAND() AS ?r) WHERE { }")
    steady = QueryRequest("SELECT (1 AS ?one) WHERE { }")
    for _ in range(3):
        engine.query(volatile, JSON)
        engine.query(steady, JSON)
    assert engine.query_inline(steady, JSON) is not None  # the control: remembered as cheap
    assert engine.query_inline(volatile, JSON) is None


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`lec-kg serve --memory` with a 3 s query deadline, read-only."""
    log = tmp_path_factory.mktemp("admission") / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "LEC_KG_WRITE_TOKEN"}
    env["LEC_KG_QUERY_TIMEOUT"] = "3"
    with serving(["--memory"], env, log) as server:
        yield server


def test_health_answers_while_rand_dependent_heavy_queries_run(live: LiveServer) -> None:
    """The heavy fifth of these runs in a worker, so the serving process stays responsive."""
    latencies: list[float] = []
    done = threading.Event()

    def watch_health() -> None:
        with httpx.Client(timeout=10) as http:
            while not done.is_set():
                start = time.perf_counter()
                try:
                    assert http.get(live.url + "/health").status_code == 200
                    latencies.append(time.perf_counter() - start)
                except httpx.TimeoutException:
                    latencies.append(float("inf"))
                time.sleep(0.05)

    def send(n: int) -> list[int]:
        with httpx.Client(timeout=30) as http:
            params = {"query": SOMETIMES_HEAVY}
            return [
                http.get(live.sparql, params=params, headers={"Accept": JSON}).status_code
                for _ in range(n)
            ]

    watcher = threading.Thread(target=watch_health, daemon=True)
    watcher.start()
    try:
        with ThreadPoolExecutor(3) as senders:
            statuses = [s for batch in senders.map(send, [12, 12, 12]) for s in batch]
    finally:
        done.set()
        watcher.join(timeout=30)
    # The heavy one is stopped: by the slice (429), its deadline (503) or its memory (507).
    assert set(statuses) <= {200, 429, 503, 507}
    assert statuses.count(200) > 0 and len(statuses) > statuses.count(200)  # both kinds ran
    assert len(latencies) >= 10
    assert max(latencies) < 1.0, sorted(latencies)[-5:]


# ---------------------------------------------------------------- slow queries vs a cheap one


def test_a_cheap_ask_is_answered_while_slow_queries_hold_the_workers(live: LiveServer) -> None:
    """Slow queries from one client: one may run long, the others are stopped at the slice
    (429, Retry-After). Another client's ASK meanwhile goes first and is answered at once."""
    replies: list[httpx.Response] = []

    def slow(i: int) -> None:
        with httpx.Client(timeout=30) as http:
            query = f"{SLOW} # {i}"
            replies.append(http.get(live.sparql, params={"query": query}))

    slow_ones = [threading.Thread(target=slow, args=(i,), daemon=True) for i in range(6)]
    for t in slow_ones:
        t.start()
    wait_for(lambda: any(r.status_code == 429 for r in replies), "a slow query is refused")
    other = httpx.HTTPTransport(local_address="127.0.0.2")  # another client
    with httpx.Client(transport=other, timeout=30) as http:
        start = time.perf_counter()
        asked = http.get(live.sparql, params={"query": CHEAP_ASK}, headers={"Accept": JSON})
        seconds = time.perf_counter() - start
    assert asked.status_code == 200 and asked.json()["boolean"] is True
    assert seconds < 2.5, seconds
    for t in slow_ones:
        t.join(timeout=60)
    assert len(replies) == 6
    statuses = [r.status_code for r in replies]
    # One may run long until its deadline (503); the others are stopped at the slice (429), or
    # at their own deadline while waiting behind it (503).
    assert set(statuses) <= {429, 503} and statuses.count(429) >= 3, statuses
    refused = next(r for r in replies if r.status_code == 429)
    assert refused.headers["Retry-After"] == str(Settings().retry_after_s)
    assert refused.json()["error"] == "too many queries"
    assert "try again later" in refused.json()["detail"]


# ---------------------------------------------------------------- the bounded queue


@pytest.fixture(scope="module")
def tight(settings: Settings) -> Iterator[OxigraphEngine]:
    """One worker; at most two requests wait for it, one per client; 2 s deadline."""
    built = build_engine(
        replace(
            settings,
            query_timeout_s=2.0,
            query_slice_s=0.2,
            max_waiting_queries=2,
            max_waiting_per_client=1,
        ),
        query_workers=1,
    )
    assert built.is_ready(), built.not_ready_reason
    yield built
    built.close()


def test_past_the_queue_bounds_requests_are_refused_at_once(tight: OxigraphEngine) -> None:
    pool = tight._pool
    outcomes: dict[str, BaseException | None] = {}

    def run(name: str, client: str) -> None:
        try:
            tight.query(QueryRequest(f"{SLOW} # {name}"), JSON, client)
            outcomes[name] = None
        except BaseException as exc:  # recorded for the main thread to assert on
            outcomes[name] = exc

    a1 = threading.Thread(target=run, args=("a1", "10.0.0.1"))
    a1.start()
    wait_for(lambda: pool.admission.long_running == 1, "a1 runs long")
    a2 = threading.Thread(target=run, args=("a2", "10.0.0.1"))
    a2.start()
    wait_for(lambda: pool.admission.waiting == 1, "a2 waits")
    with pytest.raises(TooManyQueries) as per_client:  # a's one waiting place is taken
        tight.query(QueryRequest(CHEAP_ASK), JSON, "10.0.0.1")
    b1 = threading.Thread(target=run, args=("b1", "10.0.0.2"))
    b1.start()
    wait_for(lambda: pool.admission.waiting == 2, "b1 waits")
    with pytest.raises(Overloaded) as overall:  # both waiting places are taken
        tight.query(QueryRequest(CHEAP_ASK), JSON, "10.0.0.3")
    for t in (a1, a2, b1):
        t.join(timeout=60)
    assert isinstance(outcomes["a1"], QueryTimeout)

    for caught, status in ((per_client, 429), (overall, 503)):
        response = error_response(caught.value)
        assert response.status_code == status
        assert response.headers["Retry-After"] == str(tight.settings.retry_after_s)
        body = json.loads(response.body)
        assert body["retry_after_s"] == tight.settings.retry_after_s
        assert "waiting for a worker" in body["detail"]
    wait_for(lambda: pool.alive == 1 and pool.admission.waiting == 0, "the pool is idle")
    asked = tight.query(QueryRequest(CHEAP_ASK), JSON, "10.0.0.3")
    assert json.loads(asked.body)["boolean"] is True


def test_the_bounds_come_from_the_settings(tight: OxigraphEngine) -> None:
    report = tight.isolation_report()
    assert report["workers"] == 1
    assert report["long_query_slots"] == 1  # at least one, even with a single worker
    assert report["long_queries_per_client"] == Settings().long_queries_per_client
    bounds = tight._pool.admission.bounds
    assert (bounds.slice_s, bounds.waiting, bounds.waiting_per_client) == (0.2, 2, 1)


def test_an_anonymous_slow_query_cannot_stop_a_write() -> None:
    """The one long-running slot is an anonymous client's: an update (client None, authorized,
    one at a time) that runs past the slice still goes on, and is counted; another client's
    long query is refused."""
    from lec_kg.admission import Admission, Bounds, Refused

    admission = Admission(Bounds(long_slots=1))
    admission.take_long("10.0.0.1")
    admission.take_long(None)  # not refused
    assert admission.long_running == 2
    with pytest.raises(Refused) as refused:
        admission.take_long("10.0.0.2")
    assert refused.value.per_client is False
    admission.drop_long(None)
    admission.drop_long("10.0.0.1")
    assert admission.long_running == 0
