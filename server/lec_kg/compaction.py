"""Compaction: the journal folded into a snapshot, so that a start applies one change instead
of replaying every write ever made.

What the journal says about a quad is its last word: the last change that touched it removed it
or added it (within a change, removals come first). Replaying the whole journal on any base
leaves every quad it touched as its last word says and every other quad as the base has it; so
does applying the last words alone. A snapshot is those last words (`snapshot`), and applying it
then the journal that follows gives what replaying everything would give, on the shipped files
as they are at that start, edited or not, and also on a store that has already applied part of
the old journal (how other processes follow a compaction: `store.MemoryStore.pending`).

`compact` runs under the data directory's writer lock, so no write is lost or doubled: it reads
the current snapshot and journal, writes the new snapshot whole (`snapshot.write_atomically`),
then replaces the journal with an empty one naming it (`journal.Journal.install`): that rename
is the commit. A crash before it leaves the old journal and its snapshot (the new snapshot file
is an orphan, overwritten by the next compaction); after it, the new ones. Old snapshots are
removed once two generations behind (a reader that opened the previous journal just before the
rename still finds its snapshot).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyoxigraph import Quad, RdfFormat, parse

from .journal import JOURNAL_NAME, Journal
from .snapshot import Snapshot, encode, file_name, write_atomically


@dataclass(frozen=True)
class Compacted:
    """What a compaction did."""

    generation: int  # of the new snapshot
    records: int  # journal records folded in
    removed: int  # quads whose last word is removal
    added: int  # quads whose last word is addition
    journal_bytes: int  # the journal's size before
    snapshot_bytes: int


def compact(journal: Journal, *, over: int = 0) -> Compacted | None:
    """Fold the snapshot and the journal of `journal.directory` into a new snapshot and start an
    empty journal on it; None (nothing done) when the journal holds `over` records or fewer.
    Takes the writer lock (`journal.writing`) for the whole of it."""
    with journal.writing():
        reader = Journal(journal.directory)  # reads only: the lock is `journal`'s
        try:
            base = reader.open_current()
            records = list(reader.records(reader.start))
            size = reader.replayed_size
            generation = reader.generation + 1
        finally:
            reader.close()
        if not records or len(records) <= over:
            return None
        last: dict[Quad, bool] = {}
        changes = [(r["removed"], r["added"]) for r in records]
        for removed, added in ([(base.removed, base.added)] if base else []) + changes:
            last.update(dict.fromkeys(_quads(removed), False))
            last.update(dict.fromkeys(_quads(added), True))
        removed_lines = sorted(f"{q} .\n" for q, present in last.items() if not present)
        added_lines = sorted(f"{q} .\n" for q, present in last.items() if present)
        snapshot = Snapshot(generation, "".join(removed_lines), "".join(added_lines))
        data, digest = encode(snapshot)
        _remove_partials(journal)
        write_atomically(journal.directory / file_name(generation), data)
        journal.install(snapshot, digest)  # the commit
        for old in journal.directory.glob("snapshot-*.lecs"):
            number = old.name[len("snapshot-") : -len(".lecs")]
            if number.isdigit() and int(number) < generation - 1:
                old.unlink(missing_ok=True)
        return Compacted(
            generation, len(records), len(removed_lines), len(added_lines), size, len(data)
        )


def _quads(text: str) -> Iterable[Quad]:
    return parse(text.encode("utf-8"), format=RdfFormat.N_QUADS) if text else ()


def _remove_partials(journal: Journal) -> None:
    """Temporary files a crashed compaction left behind (never read: a file counts once
    renamed)."""
    (journal.directory / (JOURNAL_NAME + ".partial")).unlink(missing_ok=True)
    for partial in journal.directory.glob("snapshot-*.lecs.partial"):
        partial.unlink(missing_ok=True)
