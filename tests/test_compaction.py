"""Compaction: the journal folded into a snapshot gives the same store at every start, a crash
at any step of it leaves a readable store, a damaged snapshot is refused, and processes sharing
the data directory follow it."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode, Quad, Store

from lec_kg.compaction import compact
from lec_kg.config import Settings
from lec_kg.engine import build_engine
from lec_kg.engine_api import QueryRequest
from lec_kg.journal import JOURNAL_NAME, Journal, JournalError
from lec_kg.snapshot import file_name
from lec_kg.sources import discover
from lec_kg.store import MemoryStore
from lec_kg.validation import load_validator
from tests.conftest import LEC_KG, ROOT, TOKEN

BASE = "https://w3id.org/lec-kg/"
EX = "http://example.org/"
WRITES = 10_000


def ex(name: str) -> NamedNode:
    return NamedNode(EX + name)


def opened(data: Path, base: list[Quad] | None = None) -> MemoryStore:
    """A store as a start builds it: the shipped files (or `base`), then snapshot and journal."""
    store = MemoryStore(Journal(data))
    if base is None:
        store.load_files(discover(ROOT, BASE))
    else:
        store.oxi.extend(base)
    store.replay_journal()
    return store


def contents(data: Path, base: list[Quad] | None = None) -> set[Quad]:
    store = opened(data, base)
    try:
        return set(store.quads())
    finally:
        store.close()


@pytest.fixture
def no_fsync(monkeypatch: pytest.MonkeyPatch):
    """Build a long journal fast: durability is not what these writes test."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    yield
    monkeypatch.undo()


def test_ten_thousand_writes_give_the_same_store_before_and_after_compaction(
    tmp_path: Path, no_fsync, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 small writes (additions, deletions of shipped quads, additions taken back) are
    replayed at a start; after compaction a start applies one snapshot and gets the same quads."""
    data = tmp_path / "data"
    store = opened(data)
    shipped = [q for q in store.quads() if "graph/facts/" in str(q.graph_name)]
    rng = random.Random(11)
    mine: list[Quad] = []
    for i in range(WRITES):
        added = [Quad(ex(f"s{i}"), ex("p"), Literal(str(i)), ex(f"g{i % 50}"))]
        removed: list[Quad] = []
        if i % 7 == 0 and mine:
            removed.append(mine.pop(rng.randrange(len(mine))))  # an addition taken back
        if i % 1000 == 0:
            removed.append(shipped[i // 1000])  # a shipped quad deleted
        if i % 13 == 0:
            added.append(Quad(BlankNode(f"w{i}"), ex("q"), Literal("x", language="en"), ex("g")))
        with store.writing():
            store.commit([q for q in removed if store.contains(q)], added)
        mine += added
    expected = set(store.quads())
    store.close()
    monkeypatch.undo()  # the compaction is durable for real

    before = opened(data)
    assert before.records_replayed == WRITES and set(before.quads()) == expected
    before.close()
    done = compact(Journal(data))
    assert done is not None and done.records == WRITES and done.generation == 1
    after = opened(data)
    assert after.records_replayed == 0 and after.snapshot_generation == 1
    assert set(after.quads()) == expected
    after.close()
    assert (data / JOURNAL_NAME).stat().st_size < 200  # the marker only
    assert compact(Journal(data)) is None  # nothing new to fold


def test_a_snapshot_replays_like_the_journal_on_edited_shipped_files(tmp_path: Path) -> None:
    """The snapshot is the journal's last word on each quad, not a copy of the store: applied on
    other base data (graph/ edited since) it gives what replaying the journal gives there."""
    rng = random.Random(5)
    universe = [Quad(ex(f"s{i % 9}"), ex("p"), Literal(str(i)), ex(f"g{i % 3}")) for i in range(40)]
    for trial in range(20):
        data = tmp_path / f"d{trial}"
        store = opened(data, rng.sample(universe, 15))
        for _ in range(rng.randrange(1, 30)):
            removed = [q for q in rng.sample(universe, 4) if store.contains(q)]
            added = [q for q in rng.sample(universe, 4) if not store.contains(q)]
            store.commit(removed, added)
        store.close()
        journal_only = tmp_path / f"j{trial}"
        shutil.copytree(data, journal_only)
        assert compact(Journal(data)) is not None
        for _ in range(3):
            edited = rng.sample(universe, rng.randrange(0, 40))  # the shipped files edited
            assert contents(data, edited) == contents(journal_only, edited)
        if trial % 4 == 0:  # a second generation on top of the first
            more = opened(data, [])
            more.commit([], [Quad(ex("late"), ex("p"), Literal(str(trial)), ex("g0"))])
            more.close()
            shutil.rmtree(journal_only)
            shutil.copytree(data, journal_only)
            assert compact(Journal(data)).generation == 2  # type: ignore[union-attr]
            assert contents(data, universe) == contents(journal_only, universe)
            assert not (data / file_name(0)).exists()


def write_some(data: Path, n: int, start: int = 0) -> set[Quad]:
    store = opened(data, [])
    for i in range(start, start + n):
        with store.writing():
            store.commit([], [Quad(ex(f"s{i}"), ex("p"), Literal(str(i)), ex("g"))])
    out = set(store.quads())
    store.close()
    return out


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_crash_at_any_step_of_a_compaction_leaves_the_old_or_the_new_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """The k-th fsync or rename of a compaction fails (the process dies there): the store still
    opens with the same quads, takes new writes, and the next compaction completes."""
    real = getattr(os, failing)
    for k in range(1, 10):
        data = tmp_path / f"{failing}{k}"
        expected = write_some(data, 5)
        calls = 0

        def dies(*args, real=real, k=k):
            nonlocal calls
            calls += 1
            if calls == k:
                raise OSError("the process died here")
            return real(*args)

        monkeypatch.setattr(os, failing, dies)
        try:
            done = compact(Journal(data))
        except OSError:
            done = None
        monkeypatch.undo()
        assert contents(data, []) == expected, (failing, k)
        expected |= write_some(data, 2, start=100)
        assert contents(data, []) == expected
        assert compact(Journal(data)) is not None
        assert contents(data, []) == expected
        if done is not None:  # every step passed: nothing left to break
            break
    else:
        pytest.fail(f"the compaction never completed with {failing} failing")


@pytest.mark.parametrize(
    "damage",
    ["truncated", "bit flipped", "missing", "garbage header", "swapped for another generation"],
)
def test_a_torn_or_garbled_snapshot_is_detected(tmp_path: Path, damage: str) -> None:
    """A start refuses a damaged snapshot, naming it, rather than serve partial data."""
    data = tmp_path / "data"
    write_some(data, 3)
    compact(Journal(data))
    write_some(data, 3, start=10)
    compact(Journal(data))
    path = data / file_name(2)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) - 20])
    elif damage == "bit flipped":
        flipped = bytearray(raw)
        flipped[-30] ^= 0x01
        path.write_bytes(bytes(flipped))
    elif damage == "missing":
        path.unlink()
    elif damage == "garbage header":
        path.write_bytes(b"PK\x03\x04" + raw[4:])
    else:
        shutil.copy(data / file_name(1), path)
    with pytest.raises(JournalError, match=r"snapshot-2\.lecs") as refused:
        opened(data, [])
    assert "cannot be read" in str(refused.value)


def test_an_engine_does_not_serve_a_damaged_snapshot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_some(data, 2)
    compact(Journal(data))
    (data / file_name(1)).write_bytes(b"LECS1 1 5 5 " + b"0" * 64 + b"\nshort")
    engine = build_engine(Settings(source_dir=ROOT, data_dir=data), load_validator(Settings()))
    try:
        assert not engine.is_ready()
        assert "snapshot-1.lecs" in (engine.not_ready_reason or "")
    finally:
        engine.close()


def test_processes_sharing_the_directory_follow_a_compaction(tmp_path: Path) -> None:
    """Another process compacts: a reader that had read part of the old journal catches up to
    exactly the writer's quads; a writer that has not caught up may not append; both write
    again once caught up, and a start sees all of it."""
    data = tmp_path / "data"
    writer, reader = opened(data, []), opened(data, [])
    with writer.writing():
        writer.commit([], [Quad(ex("a"), ex("p"), Literal("1"), ex("g"))])
    reader.catch_up()  # has read the first write only
    with writer.writing():
        writer.commit(
            [Quad(ex("a"), ex("p"), Literal("1"), ex("g"))], [Quad(ex("b"), ex("p"), ex("c"))]
        )
    assert compact(Journal(data)) is not None  # a third process: `lec-kg compact`
    assert reader.behind() and writer.behind()
    with pytest.raises(JournalError, match="changed by another process"):
        reader.commit([], [Quad(ex("stale"), ex("p"), ex("x"))])
    reader.catch_up()
    assert set(reader.quads()) == set(writer.quads()) == {Quad(ex("b"), ex("p"), ex("c"))}
    writer.catch_up()  # applies the snapshot again: changes nothing it had read
    assert set(writer.quads()) == {Quad(ex("b"), ex("p"), ex("c"))}
    with reader.writing():
        reader.commit([], [Quad(ex("d"), ex("p"), ex("e"))])
    writer.catch_up()
    with writer.writing():
        writer.commit([], [Quad(ex("f"), ex("p"), ex("g"))])
    reader.catch_up()
    assert (
        set(reader.quads()) == set(writer.quads()) == contents(data, [])
        and len(contents(data, [])) == 3
    )
    writer.close()
    reader.close()


def place_update(n: int) -> str:
    """INSERT DATA of a valid place (label, evidence) into a facts graph of its own."""
    report = f"{BASE}id/document/merics-china-monitor-2017-01-18"
    return f"""PREFIX lec: <{BASE}ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX dcterms: <http://purl.org/dc/terms/>
INSERT DATA {{ GRAPH <{BASE}graph/facts/compaction-{n}> {{
  <{BASE}id/place/compacted-{n}> a lec:Place ; rdfs:label "compacted place {n}"@en ;
    lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{report}> ;
                   lec:page 1 ; lec:quote "China" ] .
}} }}"""


def test_a_running_engine_follows_a_compaction_and_keeps_writing(tmp_path: Path) -> None:
    """Another process writes and compacts; the engine serves both writes (with the inference
    of the other's), writes again on top, and a start finds the three."""
    data = tmp_path / "data"
    settings = Settings(source_dir=ROOT, data_dir=data, write_token=TOKEN)
    engine = build_engine(settings, load_validator(settings), query_workers=1)
    places = [f"{BASE}id/place/compacted-{n}" for n in (1, 2, 3)]
    try:
        assert engine.is_ready(), engine.not_ready_reason
        engine.update(place_update(1))
        scratch = Store()
        scratch.update(place_update(2))
        other = opened(data)  # another process: one more write, then `lec-kg compact`
        with other.writing():
            other.commit([], list(scratch))
        other.close()
        assert compact(Journal(data)) is not None
        prov = "http://www.w3.org/ns/prov#Location"
        ask = f"ASK {{ <{places[0]}> a <{prov}> . <{places[1]}> a <{prov}> }}"
        result = engine.query(QueryRequest(ask), "application/sparql-results+json")
        assert b"true" in result.body
        engine.update(place_update(3))
    finally:
        engine.close()
    again = opened(data)
    try:
        subjects = {q.subject.value for q in again.quads() if isinstance(q.subject, NamedNode)}
        assert set(places) <= subjects
        assert again.records_replayed == 1 and again.snapshot_generation == 1
    finally:
        again.close()


def test_a_start_compacts_by_itself_past_compact_after(tmp_path: Path) -> None:
    data = tmp_path / "data"
    expected = write_some(data, 12)
    settings = Settings(source_dir=ROOT, data_dir=data, compact_after=10)
    engine = build_engine(settings, load_validator(settings), query_workers=1)
    try:
        assert engine.is_ready(), engine.not_ready_reason
        served = engine.dump_nquads()
    finally:
        engine.close()
    assert (data / file_name(1)).exists()
    assert len(list(Journal(data).replay())) == 0
    assert all(f"{q} .".encode() in served for q in expected)


def test_the_compact_command(tmp_path: Path) -> None:
    data = tmp_path / "data"
    expected = write_some(data, 4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEC_KG_")}
    run = [str(LEC_KG), "--source-dir", str(ROOT), "compact", "--data-dir", str(data)]
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "folded 4 journaled writes" in done.stdout and "snapshot 1" in done.stdout
    assert contents(data, []) == expected
    again = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    (data / file_name(1)).write_bytes(b"garbage")
    broken = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert broken.returncode == 1 and "snapshot-1.lecs" in broken.stderr
    assert "Traceback" not in broken.stderr
