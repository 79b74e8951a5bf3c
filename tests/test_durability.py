"""Acknowledged means on disk, and writes are all or nothing, one at a time, over HTTP.

A real `lec-kg serve` with a data directory takes bursts of writes from several clients at once.
It is killed with SIGKILL in the middle of one and started again on the same directory: every
write it acknowledged is there in full and none is there in part. While writes go on, a reader
counting a write's quads sees none or all of them; two writes each valid alone but invalid
together (two English labels for one place), sent at once: exactly one is accepted.

"A write" is `WRITES[kind](client, url, key, turtle)`: the SPARQL update endpoint (each write an
INSERT DATA into a named graph of its own) and a submission to /facts (stored in a graph of its
own, with its record); every test here runs for each. A write's triples are all about two
subjects derived from its key, so it is counted by its subjects whatever graph holds it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import LEC_KG, ROOT, TOKEN, LiveServer, serving
from tests.support import TIMEOUT

BASE = "https://w3id.org/lec-kg/"
INFERRED = f"{BASE}graph/inferred"
REPORT = f"{BASE}id/document/merics-china-monitor-2017-01-18"
PREFIXES = f"""PREFIX lec: <{BASE}ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
"""
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUADS_PER_WRITE = 7  # place: type, label, evidence; passage: type, isPartOf, page, quote
CLIENTS = 4

Write = Callable[[httpx.Client, str, str, str], httpx.Response]


def place(key: str) -> str:
    return f"{BASE}id/place/durability-{key}"


def passage(key: str) -> str:
    return f"{BASE}id/passage/durability-{key}"


def fact(key: str, label: str | None = None, subject: str | None = None) -> str:
    """The Turtle of one write: a place with its label and evidence (7 triples)."""
    return f"""<{subject or place(key)}> a lec:Place ;
        rdfs:label "{label or f"durability place {key}"}"@en ;
        lec:evidence <{passage(key)}> .
    <{passage(key)}> a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ;
        lec:page 1 ; lec:quote "China" ."""


def sparql_write(client: httpx.Client, url: str, key: str, turtle: str) -> httpx.Response:
    """One write through the SPARQL update endpoint: INSERT DATA into a graph of its own."""
    graph = f"{BASE}graph/facts/durability-{key}"
    update = f"{PREFIXES}INSERT DATA {{ GRAPH <{graph}> {{ {turtle} }} }}"
    return client.post(url + "/sparql", data={"update": update}, headers=AUTH, timeout=TIMEOUT)


def facts_write(client: httpx.Client, url: str, key: str, turtle: str) -> httpx.Response:
    """One write as a submission: POST /facts, which stores it in a graph of its own."""
    body = (PREFIXES + turtle).encode("utf-8")
    headers = {**AUTH, "Content-Type": "text/turtle"}
    params = {"message": f"durability {key}"}
    return client.post(
        url + "/facts", content=body, headers=headers, params=params, timeout=TIMEOUT
    )


WRITES: dict[str, Write] = {"sparql": sparql_write, "facts": facts_write}


def counts(client: httpx.Client, url: str) -> dict[str, int]:
    """Quads of each write present (by key), outside the inferred graph."""
    query = f"""SELECT ?s (COUNT(*) AS ?n) WHERE {{
        GRAPH ?g {{ ?s ?p ?o }}
        FILTER(?g != <{INFERRED}> && CONTAINS(STR(?s), "/durability-"))
    }} GROUP BY ?s"""
    reply = client.get(
        url + "/sparql",
        params={"query": query},
        headers={"Accept": "application/sparql-results+json"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    out: dict[str, int] = {}
    for row in reply.json()["results"]["bindings"]:
        key = row["s"]["value"].rsplit("/durability-", 1)[1]
        out[key] = out.get(key, 0) + int(row["n"]["value"])
    return out


class Burst:
    """CLIENTS threads writing one new key after another until stopped; what each was told."""

    def __init__(self, url: str, write: Write, prefix: str = "") -> None:
        self.url = url
        self.write = write
        self.prefix = prefix  # keeps the keys of two bursts on one server apart
        self.acknowledged: set[str] = set()
        self.refused: dict[str, tuple[int, str]] = {}
        self.unknown: set[str] = set()  # sent, but the connection broke before an answer
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)
        ]

    def _run(self, client_no: int) -> None:
        with httpx.Client() as client:
            n = 0
            while not self.stop.is_set():
                key = f"{self.prefix}c{client_no}-{n}"
                n += 1
                try:
                    reply = self.write(client, self.url, key, fact(key))
                except httpx.TimeoutException:
                    self.unknown.add(key)  # a slow machine: it may yet be written
                    continue
                except httpx.TransportError:
                    self.unknown.add(key)
                    return  # the server is gone
                if 200 <= reply.status_code < 300:
                    self.acknowledged.add(key)
                else:
                    self.refused[key] = (reply.status_code, reply.text[:500])

    def __enter__(self) -> Burst:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=TIMEOUT.read)


def wait_for_writes(burst: Burst, server: LiveServer, n: int, limit_s: float = 600) -> None:
    """Until `n` writes of the burst are acknowledged; fail at once on a refused one."""
    deadline = time.monotonic() + limit_s  # a guard against hanging, not a timed assertion
    while len(burst.acknowledged) < n:
        if burst.refused or time.monotonic() > deadline:
            log = server.log.read_text(errors="replace")[-3000:]
            pytest.fail(f"{len(burst.acknowledged)} acknowledged, refused {burst.refused}\n{log}")
        time.sleep(0.05)


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEC_KG_")}
    return {**env, "LEC_KG_WRITE_TOKEN": TOKEN}


def start(data: Path, log: Path):
    return serving(["--data-dir", str(data), "--query-workers", "2"], server_env(), log)


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_sigkill_in_a_burst_loses_no_acknowledged_write_and_leaves_none_half(
    tmp_path: Path, kind: str
) -> None:
    """Kill -9 while several clients write; after a restart on the same data directory every
    acknowledged write is there with all its quads, and every write there is whole."""
    data = tmp_path / "data"
    with start(data, tmp_path / "first.log") as server, Burst(server.url, WRITES[kind]) as burst:
        wait_for_writes(burst, server, 6)
        server.process.kill()  # SIGKILL: no shutdown, whatever was in flight stays in flight
        server.process.wait(timeout=TIMEOUT.read)
    assert not burst.refused, burst.refused
    with start(data, tmp_path / "second.log") as again, httpx.Client() as client:
        present = counts(client, again.url)
    assert burst.acknowledged <= set(present), burst.acknowledged - set(present)
    partial = {key: n for key, n in present.items() if n != QUADS_PER_WRITE}
    assert not partial, partial
    assert set(present) <= burst.acknowledged | burst.unknown  # nothing never sent


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("durability")
    with start(tmp / "data", tmp / "serve.log") as server:
        yield server


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_a_reader_sees_none_or_all_of_each_write(live: LiveServer, kind: str) -> None:
    """While CLIENTS clients write, a reader counting each write's quads never finds a part."""
    seen: list[dict[str, int]] = []
    deadline = time.monotonic() + 600  # a guard against hanging, not a timed assertion
    with httpx.Client() as client, Burst(live.url, WRITES[kind], prefix=kind) as burst:
        while len(burst.acknowledged) < 6 and not burst.refused and time.monotonic() < deadline:
            seen.append(counts(client, live.url))
        seen.append(counts(client, live.url))
    assert len(burst.acknowledged) >= 6 and not burst.refused, burst.refused
    assert not burst.refused, burst.refused
    halves = [(key, n) for snapshot in seen for key, n in snapshot.items() if n != QUADS_PER_WRITE]
    assert not halves, halves
    assert len(seen) > 2 and any(seen[i] != seen[i + 1] for i in range(len(seen) - 1))
    with httpx.Client() as client:
        final = counts(client, live.url)
    assert burst.acknowledged <= set(final)


def at_once(url: str, write: Write, writes: dict[str, tuple[str, str]]) -> dict[str, int]:
    """Send each write (name -> (key, turtle)) from its own client at the same moment; the
    statuses, by name."""
    statuses: dict[str, int] = {}
    ready = threading.Barrier(len(writes))

    def send(name: str) -> None:
        key, turtle = writes[name]
        with httpx.Client() as client:
            ready.wait(timeout=TIMEOUT.read)
            reply = write(client, url, key, turtle)
            statuses[name] = reply.status_code
            if reply.status_code == 422:
                statuses[name + " names the label"] = int("label" in reply.text)

    threads = [threading.Thread(target=send, args=(name,)) for name in writes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=TIMEOUT.read)
    return statuses


@pytest.mark.parametrize("kind", sorted(WRITES))
def test_of_two_writes_invalid_together_exactly_one_is_accepted(
    live: LiveServer, kind: str
) -> None:
    """Two writes give one place an English label each: valid alone, together the place has two
    (the shapes allow one). Sent at the same moment (three times over), one is accepted, the
    other refused (422, naming the label), and the place keeps one label."""
    for attempt in range(3):
        subject = place(f"contested-{kind}-{attempt}")
        writes = {
            side: (key, fact(key, label=f"name {side}", subject=subject))
            for side in "AB"
            for key in [f"contested-{kind}-{attempt}-{side}"]
        }
        statuses = at_once(live.url, WRITES[kind], writes)
        accepted = [side for side in "AB" if 200 <= statuses[side] < 300]
        assert len(accepted) == 1, statuses
        loser = "B" if accepted == ["A"] else "A"
        assert statuses[loser] == 422 and statuses[loser + " names the label"] == 1, statuses
        query = f"SELECT (COUNT(*) AS ?n) WHERE {{ <{subject}> rdfs:label ?l }}"
        with httpx.Client() as client:
            reply = client.get(
                live.url + "/sparql",
                params={"query": PREFIXES + query},
                headers={"Accept": "application/sparql-results+json"},
                timeout=TIMEOUT,
            )
        assert reply.json()["results"]["bindings"][0]["n"]["value"] == "1"


def test_lec_kg_compact_beside_two_server_processes(tmp_path: Path) -> None:
    """`lec-kg compact` while `serve --workers 2` runs on the same data directory: both server
    processes follow it (reads on fresh connections, spread over both, see every write; writes
    after it are accepted), and a restart finds every write."""
    data = tmp_path / "data"
    args = ["--data-dir", str(data), "--workers", "2", "--query-workers", "1"]
    keys = [f"compact-{n}" for n in range(4)]
    with serving(args, server_env(), tmp_path / "serve.log") as server:
        with httpx.Client() as client:
            for key in keys[:2]:
                reply = sparql_write(client, server.url, key, fact(key))
                assert reply.status_code == 200, reply.text
        compact = [str(LEC_KG), "--source-dir", str(ROOT), "compact", "--data-dir", str(data)]
        done = subprocess.run(
            compact, capture_output=True, text=True, env=server_env(), timeout=120
        )
        assert done.returncode == 0 and "folded 2 journaled writes" in done.stdout, done.stderr
        for key in keys[2:]:
            with httpx.Client() as client:  # a new connection: either process may take it
                reply = sparql_write(client, server.url, key, fact(key))
                assert reply.status_code == 200, reply.text
        for _ in range(8):
            with httpx.Client() as client:
                assert counts(client, server.url) == dict.fromkeys(keys, QUADS_PER_WRITE)
    with start(data, tmp_path / "again.log") as again, httpx.Client() as client:
        assert counts(client, again.url) == dict.fromkeys(keys, QUADS_PER_WRITE)
