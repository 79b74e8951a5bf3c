"""Validation proportional to the change: a 20-fact submission validated focused (`focused`, the
engine's `check`) vs the whole candidate graph, on graphs of about 1e4 and 1e5 triples, and a
SPARQL update of the same size end to end through the engine (`OxigraphEngine.update`,
in-process: guard, worker, inference, focused validation, commit, publication): an INSERT DATA of
20 facts and a DELETE/INSERT ... WHERE rewriting 20 labels, each also the way it ran before
`update_diff` (on a copy of the whole store), measured in the same run.

The graphs are the shipped graph grown with generated but valid fact nodes of the real kinds
(extraditions and persons, each with its evidence), written to a Turtle file beside copies of
ontology/, shapes/ and graph/, and loaded as the server loads them (the start-up validation of the
whole graph included, which is timed too).

    .venv/bin/python bench/bench_validation.py [--sizes 10000 100000] [--runs 11] [--whole-runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

import httpx  # noqa: E402
from pyoxigraph import NamedNode, Quad, RdfFormat, parse  # noqa: E402

from lec_kg import writes  # noqa: E402
from lec_kg.config import Settings  # noqa: E402
from lec_kg.engine import OxigraphEngine, build_engine  # noqa: E402
from lec_kg.validation import load_validator  # noqa: E402

PREFIXES = """@prefix lec: <https://w3id.org/lec-kg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix state: <https://w3id.org/lec-kg/id/state/> .
@prefix role: <https://w3id.org/lec-kg/id/code/person-role/> .
@prefix document: <https://w3id.org/lec-kg/id/document/> .
"""
STATES = ["AF", "KZ", "US", "FR", "DE", "IT", "TH", "VN", "AU", "BE", "BG", "CA", "ES", "GB"]
ROLES = ["fugitive-official", "dissident", "journalist"]


def facts(tag: str, first: int, count: int) -> str:
    """`count` valid fact nodes in Turtle (without prefixes): extraditions and persons, each
    with a source passage."""
    out = []
    for i in range(first, first + count):
        state = STATES[i % len(STATES)]
        evidence = (
            "lec:evidence [ a lec:SourcePassage ; "
            "dcterms:isPartOf document:merics-china-monitor-2017-01-18 ; "
            f'lec:page {1 + i % 9} ; lec:quote "Synthetic passage {tag} {i}." ]'
        )
        if i % 3:
            out.append(
                f"<https://w3id.org/lec-kg/id/event/{tag}-extradition-{i}> a lec:Extradition ;\n"
                f'    rdfs:label "Synthetic extradition {tag} {i}"@en ;\n'
                f"    lec:fromState state:{state} ; lec:toState state:CN ;\n"
                f'    lec:date "{2000 + i % 17}"^^xsd:gYear ; lec:legalBasisAbsent true ;\n'
                f'    lec:earliestDate "{2000 + i % 17}-01-01"^^xsd:date ;\n'
                f'    lec:latestDate "{2000 + i % 17}-12-31"^^xsd:date ;\n'
                f"    {evidence} .\n"
            )
        else:
            out.append(
                f"<https://w3id.org/lec-kg/id/person/{tag}-person-{i}> a lec:Person ;\n"
                f'    rdfs:label "Synthetic person {tag} {i}"@en ;\n'
                f"    lec:personRole role:{ROLES[i % len(ROLES)]} ; lec:homePlace state:{state} ;\n"
                f"    {evidence} .\n"
            )
    return "".join(out)


TRIPLES_PER_FACT = 12.3  # about: 14 for an extradition, 10 for a person


def grown_source(size: int, into: Path) -> Path:
    """A source folder: the shipped files plus enough generated facts for about `size` triples."""
    shutil.copytree(ROOT / "ontology", into / "ontology")
    shutil.copytree(ROOT / "shapes", into / "shapes")
    shutil.copytree(ROOT / "graph", into / "graph")
    shipped = sum(
        1
        for path in sorted((ROOT / "graph").glob("*.ttl"))
        for _ in parse(path.read_bytes(), format=RdfFormat.TURTLE)
    )
    extra = max(0, int((size - shipped) / TRIPLES_PER_FACT))
    (into / "graph" / "synthetic.ttl").write_text(
        "# Generated facts for bench/bench_validation.py.\n" + PREFIXES + facts("grow", 0, extra),
        encoding="utf-8",
    )
    return into


def median_ms(fn: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def submission(engine: OxigraphEngine, tag: str) -> list[Quad]:
    graph = NamedNode(f"{engine.settings.base_iri}graph/facts/bench")
    text = PREFIXES + facts(tag, 0, 20)
    return [
        Quad(t.subject, t.predicate, t.object, graph)
        for t in parse(text.encode(), format=RdfFormat.TURTLE)
    ]


def insert_data_text(base_iri: str, tag: str) -> str:
    """An INSERT DATA of 20 facts (`facts`) into one graph."""
    graph = f"{base_iri}graph/facts/bench"
    triples = parse((PREFIXES + facts(tag, 0, 20)).encode(), format=RdfFormat.TURTLE)
    body = "".join(f"{t.subject} {t.predicate} {t.object} .\n" for t in triples)
    return f"INSERT DATA {{ GRAPH <{graph}> {{ {body} }} }}"


def relabel_text(n: int) -> str:
    """A DELETE/INSERT ... WHERE rewriting the labels of the 20 facts of the INSERT DATA tagged
    "update0" (which must have run first)."""
    iris = " ".join(
        f"<https://w3id.org/lec-kg/id/event/update0-extradition-{i}>"
        if i % 3
        else f"<https://w3id.org/lec-kg/id/person/update0-person-{i}>"
        for i in range(20)
    )
    return (
        PREFIXES.replace("@prefix", "PREFIX").replace(" .\n", "\n")
        + "DELETE { GRAPH ?g { ?e rdfs:label ?l } } INSERT { GRAPH ?g { ?e rdfs:label ?new } } "
        + f"WHERE {{ VALUES ?e {{ {iris} }} GRAPH ?g {{ ?e rdfs:label ?l }} "
        + f'BIND(STRLANG(CONCAT(STR(?l), ", relabelled {n}"), "en") AS ?new) }}'
    )


def bench(size: int, runs: int, whole_runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(source_dir=grown_source(size, Path(tmp)), data_dir=None)
        t0 = time.perf_counter()
        engine = build_engine(settings, load_validator(settings), query_workers=1)
        started = time.perf_counter() - t0
        try:
            assert engine.is_ready(), engine.not_ready_reason
            judged = sum(1 for q in engine._store.quads() if engine._judged(q))
            added = submission(engine, "submit")
            report = engine.check([], added)
            assert report.conforms, report.to_text()
            view, focus = engine._affected([], added)
            around = engine._reach.neighbourhood(view, focus)  # type: ignore[union-attr]
            focused = median_ms(lambda: engine.check([], added), runs)

            def whole() -> object:
                candidate = list(engine._store.quads()) + added
                return engine._validate(*engine._validation_data(candidate))

            whole_ms = median_ms(whole, whole_runs)
            counter = iter(range(10**6))

            def insert_data() -> None:
                engine.update(insert_data_text(engine.settings.base_iri, f"update{next(counter)}"))

            def relabel() -> None:  # a pattern update of 20 facts: their labels rewritten
                outcome = engine.update(relabel_text(next(counter)))
                assert (outcome.removed, outcome.added) == (20, 20), outcome

            update_ms = median_ms(insert_data, runs)
            pattern_ms = median_ms(relabel, runs)
            with copying():  # the previous design, in the same run: every update on a copy
                copy_ms = median_ms(insert_data, max(3, runs // 3))
                copy_pattern_ms = median_ms(relabel, max(3, runs // 3))
        finally:
            engine.close()
        source, base_iri = settings.source_dir, settings.base_iri
        http_ms, http_pattern_ms = over_http(source, Path(tmp), runs, base_iri)
    print(
        f"{judged:>7,} triples judged | start-up {started:6.1f} s | 20 facts ({len(added)} "
        f"quads): {len(focus)} affected nodes, neighbourhood {len(around)} quads | focused "
        f"{focused:7.1f} ms | whole {whole_ms:8.1f} ms | whole/focused {whole_ms / focused:6.1f}x "
        f"| update end to end: INSERT DATA {update_ms:6.1f} ms (on a copy {copy_ms:6.1f} ms, "
        f"{copy_ms / update_ms:4.1f}x), DELETE/INSERT WHERE {pattern_ms:6.1f} ms (on a copy "
        f"{copy_pattern_ms:6.1f} ms, {copy_pattern_ms / pattern_ms:4.1f}x) | over HTTP with a "
        f"data directory (journal fsync'd): INSERT DATA {http_ms:6.1f} ms, DELETE/INSERT WHERE "
        f"{http_pattern_ms:6.1f} ms",
        flush=True,
    )


def over_http(source: Path, tmp: Path, runs: int, base_iri: str) -> tuple[float, float]:
    """The same two updates sent to `lec-kg serve` with a data directory (`POST /sparql`: the
    request, the token, the guard, the worker, inference, validation, the journal's fsync, the
    record of who wrote it, publication), median time to the 200."""
    token = "bench-write-token"
    port_file = tmp / "port"
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": token}
    command = [str(Path(sys.executable).with_name("lec-kg")), "--source-dir", str(source)]
    command += ["serve", "--data-dir", str(tmp / "data"), "--port", "0"]
    command += ["--port-file", str(port_file)]
    with (tmp / "serve.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 600
        while not port_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        with httpx.Client(base_url=url, timeout=120) as client:
            while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
            auth = {"Authorization": f"Bearer {token}"}
            counter = iter(range(10**6))

            def send(text: str) -> None:
                reply = client.post("/sparql", data={"update": text}, headers=auth)
                assert reply.status_code in (200, 204), reply.text[:500]

            send(insert_data_text(base_iri, "update0"))  # what the relabelling rewrites
            insert = median_ms(lambda: send(insert_data_text(base_iri, f"h{next(counter)}")), runs)
            pattern = median_ms(lambda: send(relabel_text(next(counter))), runs)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return insert, pattern


@contextmanager
def copying() -> Iterator[None]:
    """Updates found by running them on a copy of the whole store (the design before
    `update_diff`): the worker's request without the operations' parts."""
    original = writes.worker_request

    def without_parts(text: str, **kwargs: object) -> dict:
        return {**original(text, **kwargs), "plan": []}  # type: ignore[arg-type]

    writes.worker_request = without_parts  # type: ignore[assignment]
    try:
        yield
    finally:
        writes.worker_request = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=11, help="runs of focused and update")
    parser.add_argument("--whole-runs", type=int, default=3, help="runs of whole-graph validation")
    args = parser.parse_args()
    for size in args.sizes:
        bench(size, args.runs, args.whole_runs)


if __name__ == "__main__":
    main()
