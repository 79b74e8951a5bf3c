"""The store: shipped files into named graphs, the journal that makes writes durable."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat

from lec_kg.journal import JOURNAL_NAME, Journal, JournalError
from lec_kg.sources import discover
from lec_kg.store import MemoryStore

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://w3id.org/lec-kg/"
G = NamedNode("http://example.org/g")
Q1 = Quad(NamedNode("http://example.org/a"), NamedNode("http://example.org/p"), Literal("1"), G)
Q2 = Quad(BlankNode("n1"), NamedNode("http://example.org/p"), Literal("2", language="en"), G)


def shipped(journal: Journal | None = None) -> MemoryStore:
    store = MemoryStore(journal)
    store.load_files(discover(ROOT, BASE))
    return store


def test_every_shipped_file_is_a_named_graph() -> None:
    files = discover(ROOT, BASE)
    store = shipped()
    names = store.graph_names()
    assert sorted(f.graph_name for f in files) == names
    assert f"{BASE}graph/ontology/lec" in names
    assert any(n.startswith(f"{BASE}graph/facts/") for n in names)
    assert any(n.startswith(f"{BASE}graph/shapes/") for n in names)


def test_shipped_blank_nodes_get_the_same_labels_on_every_load() -> None:
    first, second = set(shipped().quads()), set(shipped().quads())
    assert any(isinstance(q.subject, BlankNode) for q in first)  # the evidence passages
    assert first == second


def test_commit_is_journaled_and_replayed_on_a_fresh_load(tmp_path: Path) -> None:
    store = shipped(Journal(tmp_path))
    evidence = next(q for q in store.quads() if isinstance(q.subject, BlankNode))
    store.commit([evidence], [Q1, Q2], note="INSERT DATA { ... }")
    store.close()

    again = shipped(Journal(tmp_path))
    again.replay_journal()
    assert again.records_replayed == 1
    assert Q1 in set(again.quads()) and Q2 in set(again.quads())
    assert evidence not in set(again.quads())  # a shipped blank node, named across restarts
    again.close()


def test_a_torn_last_record_is_ignored_and_then_cut(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append({"removed": "", "added": "<http://x/a> <http://x/b> <http://x/c> .\n"})
    journal.close()
    path = tmp_path / JOURNAL_NAME
    good = path.read_bytes()
    path.write_bytes(good + b"LECJ1 500 abc")  # a crash in the middle of the next append

    reopened = Journal(tmp_path)
    assert len(list(reopened.replay())) == 1
    reopened.append({"removed": "", "added": ""})
    reopened.close()
    assert path.read_bytes().startswith(good + b"LECJ1 ")
    assert len(list(Journal(tmp_path).replay())) == 2


def test_a_damaged_record_is_an_error_not_a_silent_loss(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append({"removed": "", "added": "<http://x/a> <http://x/b> <http://x/c> .\n"})
    journal.append({"removed": "", "added": ""})
    journal.close()
    path = tmp_path / JOURNAL_NAME
    data = bytearray(path.read_bytes())
    data[data.index(b"http://x/a")] ^= 0x20  # flip one bit inside the first record
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="checksum"):
        list(Journal(tmp_path).replay())


def test_two_processes_share_a_directory_each_sees_the_others_changes(tmp_path: Path) -> None:
    first, second = MemoryStore(Journal(tmp_path)), MemoryStore(Journal(tmp_path))
    first.replay_journal()
    second.replay_journal()
    with first.writing():
        first.commit([], [Q1])
    assert second.behind() and Q1 not in set(second.quads())
    assert second.catch_up() == [([], [Q1])]
    assert not second.behind() and Q1 in set(second.quads())
    with second.writing():
        second.commit([Q1], [Q2])
    assert first.catch_up() == [([Q1], [Q2])]
    assert set(first.quads()) == set(second.quads()) == {Q2}
    first.close()
    second.close()
    assert [r["added"] for r in Journal(tmp_path).replay()] == [f"{Q1} .\n", f"{Q2} .\n"]


def test_a_writer_waits_for_the_other_process_and_gives_up_with_a_clear_error(
    tmp_path: Path,
) -> None:
    first, second = Journal(tmp_path), Journal(tmp_path)
    with (
        first.writing(),
        pytest.raises(JournalError, match="being written by another lec-kg process"),
        second.writing(timeout_s=0.1),
    ):
        pass
    with second.writing(timeout_s=0.1):  # free again once the first is done
        second.append({"removed": "", "added": ""})
    first.close()
    second.close()


def test_a_stale_process_may_not_write_over_a_newer_journal(tmp_path: Path) -> None:
    first, second = MemoryStore(Journal(tmp_path)), MemoryStore(Journal(tmp_path))
    first.replay_journal()
    second.replay_journal()
    second.commit([], [Q1])
    second.close()  # the journal now holds a change `first` has not read
    with pytest.raises(JournalError, match="changed by another process"):
        first.commit([], [Q2])
    first.close()
    assert [r["added"] for r in Journal(tmp_path).replay()] == [f"{Q1} .\n"]


def test_export_of_triples_merges_graphs_and_keeps_prefixes() -> None:
    store = MemoryStore()
    store.commit([], [Q1, Quad(Q1.subject, Q1.predicate, Q1.object, NamedNode("http://e/h"))])
    body = store.serialize(store.quads(), RdfFormat.TURTLE, {"ex": "http://example.org/"})
    assert body.count(b"ex:a") == 1
    assert b"@prefix ex: <http://example.org/>" in body
