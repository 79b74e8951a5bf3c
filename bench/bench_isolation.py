"""What running queries in worker processes costs: the same queries in-process vs through the
engine (guard, pipe to a pre-started worker, serialization there, bytes back).

    .venv/bin/python bench/bench_isolation.py [--repeat 500]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from pyoxigraph import QueryResultsFormat, QuerySolutions  # noqa: E402

from lec_kg.config import Settings  # noqa: E402
from lec_kg.engine import build_engine  # noqa: E402
from lec_kg.engine_api import QueryRequest  # noqa: E402

QUERIES = {
    "ask": "ASK { ?s ?p ?o }",
    "point lookup": "SELECT ?p ?o WHERE { <https://w3id.org/lec-kg/id/state/FR> ?p ?o }",
    "100 rows": "SELECT ?s ?p ?o WHERE { ?s ?p ?o } LIMIT 100",
    "aggregate": "SELECT ?c (COUNT(?x) AS ?n) WHERE { ?x a ?c } GROUP BY ?c ORDER BY DESC(?n)",
}


def timed(a, b, repeat: int) -> tuple[float, float]:
    """Median µs of `a` and of `b`, calls alternated so that machine noise hits both alike."""
    a(), b()
    sa, sb = [], []
    for _ in range(repeat):
        for fn, out in ((a, sa), (b, sb)):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(sa), statistics.median(sb)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=500)
    args = ap.parse_args()
    engine = build_engine(Settings(source_dir=ROOT, data_dir=None), query_workers=2)
    local = engine._store.oxi  # the parent's copy, to run the same query in-process
    try:
        print(f"{'query':14} {'in-process µs':>14} {'engine µs':>10} {'overhead µs':>12}")
        for name, text in QUERIES.items():

            def direct(text: str = text) -> bytes:
                result = local.query(text, use_default_graph_as_union=True)
                if isinstance(result, QuerySolutions):
                    return result.serialize(format=QueryResultsFormat.JSON)
                return result.serialize(format=QueryResultsFormat.JSON)

            def isolated(text: str = text) -> bytes:
                prepared = engine.prepare(QueryRequest(text))  # as the route does: once
                return engine.query(prepared, "application/sparql-results+json").body

            a, b = timed(direct, isolated, args.repeat)
            print(f"{name:14} {a:14.0f} {b:10.0f} {b - a:12.0f}")
    finally:
        engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
