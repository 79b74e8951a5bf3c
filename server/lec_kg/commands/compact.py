"""`lec-kg compact`: fold the data directory's journal into a snapshot (`compaction`).

Safe beside running servers on the same data directory: it takes the writer lock, and they
notice the new journal at their next request. Exit 0 when compacted (or when there was nothing
to fold), 1 when the journal or a snapshot is damaged or cannot be written, 2 without a data
directory.
"""

from __future__ import annotations

import argparse
import sys

from ..config import Settings
from ..journal import Journal, JournalError


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Compact and say what was folded."""
    from ..compaction import compact

    if settings.data_dir is None:
        print("lec-kg compact: needs a data directory (--data-dir)", file=sys.stderr)
        return 2
    journal = Journal(settings.data_dir)
    try:
        done = compact(journal)
    except (JournalError, OSError) as exc:
        print(f"lec-kg compact: nothing changed: {exc}", file=sys.stderr)
        return 1
    finally:
        journal.close()
    if done is None:
        print(f"lec-kg compact: {settings.data_dir}: the journal holds no writes; nothing to do")
        return 0
    print(
        f"lec-kg compact: {settings.data_dir}: folded {done.records:,} journaled writes "
        f"({done.journal_bytes:,} bytes) into snapshot {done.generation} "
        f"({done.added:,} quads added, {done.removed:,} removed, {done.snapshot_bytes:,} bytes)"
    )
    return 0
