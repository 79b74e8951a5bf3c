"""Start-up time against the number of journaled writes, before and after compaction.

For 0, 1,000 and 10,000 small writes (each adds two quads, one in seven takes back an earlier
one), journaled through the store API into a fresh data directory, this measures

- `replay`: what grows with the journal: applying the snapshot and the journal
  (`MemoryStore.replay_journal`), and `store`: that plus loading the shipped files before it
  (`load_files`), the medians of `--repeat` runs;
- `engine`: a whole start (`build_engine`: store, protection check, validation of the whole
  graph, inference, one query worker) until it is ready, the median of `--engine-repeat` runs;

first with the journal as written (`compact_after` 0: no compaction at start), then after
`lec-kg compact`'s work (`compaction.compact`). The journal is built with fsync off (building
it is not what is measured); compaction and the starts are real. Prints a table and ratios.

    .venv/bin/python bench/bench_startup.py [--repeat 5] [--engine-repeat 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from pyoxigraph import BlankNode, Literal, NamedNode, Quad  # noqa: E402

from lec_kg.compaction import compact  # noqa: E402
from lec_kg.config import Settings  # noqa: E402
from lec_kg.engine import build_engine  # noqa: E402
from lec_kg.journal import JOURNAL_NAME, Journal  # noqa: E402
from lec_kg.sources import discover  # noqa: E402
from lec_kg.store import MemoryStore  # noqa: E402
from lec_kg.validation import load_validator  # noqa: E402

BASE = "https://w3id.org/lec-kg/"
EX = "http://example.org/bench/"


def journal_writes(data: Path, writes: int) -> None:
    """`writes` small changes through the store API, fsync off while building."""
    real_fsync = os.fsync
    os.fsync = lambda fd: None  # type: ignore[assignment]
    try:
        store = MemoryStore(Journal(data))
        store.replay_journal()
        mine: list[Quad] = []
        for i in range(writes):
            g = NamedNode(f"{EX}g{i % 20}")
            added = [
                Quad(NamedNode(f"{EX}s{i}"), NamedNode(f"{EX}p"), Literal(str(i)), g),
                Quad(BlankNode(f"w{i}"), NamedNode(f"{EX}q"), Literal("x", language="en"), g),
            ]
            removed = [mine.pop(0)] if i % 7 == 6 and mine else []
            with store.writing():
                store.commit(removed, added, note=f"INSERT DATA {{ ... {i} ... }}")
            mine += added
        store.close()
    finally:
        os.fsync = real_fsync  # type: ignore[assignment]


def store_start(data: Path) -> tuple[float, float, int]:
    """Seconds to load the shipped files and then the snapshot and journal, the second part
    alone, and the journal records replayed."""
    start = time.perf_counter()
    store = MemoryStore(Journal(data))
    store.load_files(discover(ROOT, BASE))
    loaded = time.perf_counter()
    store.replay_journal()
    done = time.perf_counter()
    replayed = store.records_replayed
    store.close()
    return done - start, done - loaded, replayed


def engine_start(data: Path, validator) -> float:
    settings = Settings(source_dir=ROOT, data_dir=data, compact_after=0)
    start = time.perf_counter()
    engine = build_engine(settings, validator, query_workers=1)
    took = time.perf_counter() - start
    ready = engine.is_ready()
    engine.close()
    if not ready:
        raise SystemExit(f"the engine did not get ready: {engine.not_ready_reason}")
    return took


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", default="0,1000,10000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engine-repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    validator = load_validator(Settings(source_dir=ROOT))
    rows = []
    with tempfile.TemporaryDirectory(prefix="lec-kg-bench-") as tmp:
        for writes in (int(w) for w in args.writes.split(",")):
            data = Path(tmp) / f"w{writes}"
            journal_writes(data, writes)
            row: dict[str, float | int] = {"writes": writes}
            row["journal_bytes"] = (data / JOURNAL_NAME).stat().st_size if writes else 0
            for phase in ("before", "after"):
                if phase == "after":
                    started = time.perf_counter()
                    done = compact(Journal(data))
                    row["compact_s"] = time.perf_counter() - started
                    row["snapshot_bytes"] = done.snapshot_bytes if done else 0
                runs = [store_start(data) for _ in range(args.repeat)]
                row[f"store_{phase}_s"] = median([t for t, _, _ in runs])
                row[f"replay_{phase}_s"] = median([t for _, t, _ in runs])
                row[f"replayed_{phase}"] = runs[0][2]
                row[f"engine_{phase}_s"] = median(
                    [engine_start(data, validator) for _ in range(args.engine_repeat)]
                )
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    print(
        "| writes | journal bytes | snapshot bytes | compaction s | replay before s | after s "
        "| store start before s | after s | engine start before s | after s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['writes']:,} | {r['journal_bytes']:,} | {r['snapshot_bytes']:,} "
            f"| {r['compact_s']:.2f} | {r['replay_before_s']:.3f} | {r['replay_after_s']:.3f} "
            f"| {r['store_before_s']:.2f} | {r['store_after_s']:.2f} "
            f"| {r['engine_before_s']:.1f} | {r['engine_after_s']:.1f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
