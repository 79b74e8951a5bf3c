"""How long framing takes: each kind's framed document (`jsonld_frames`) from the shipped graph.

Per kind, the median of `--runs`: the data taken (N-Quads export, parsed), the node map, the
framing and its JSON; beside it, in the same run, the flat compact JSON-LD dump of the whole
dataset (`/dump.jsonld`), one thing framed from the kept node map (`/id/...` with the framed
profile), and, when tests/tools has jsonld.js, jsonld.js framing the flat dump with the same
frame (one run each: a process start and a parse are in it). Prints a table and the ratios.

    .venv/bin/python bench/bench_framing.py --runs 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lec_kg.config import load_settings
from lec_kg.engine import build_engine
from lec_kg.jsonld import context_for
from lec_kg.jsonld_framer import frame_chunks, frame_nodes, node_map
from lec_kg.jsonld_frames import asserted_quads, frames_for, thing_frame
from lec_kg.validation import load_validator

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tests" / "tools"
JSONLD_JS = """import { readFileSync } from "node:fs"; import jsonld from "jsonld";
const [flat, frame] = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, "utf8")));
const refuse = async (url) => { throw new Error(`refusing ${url}`); };
const t = performance.now();
await jsonld.frame(flat, frame, { documentLoader: refuse });
process.stdout.write(String((performance.now() - t) / 1000));
"""
THINGS = {
    "instrument": "instrument/extradition-treaty-cn-fr",
    "campaign": "campaign/fox-hunt",
    "event": "event/activity-cy-2015-04",
    "actor": "state/FR",
}


def median(runs: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = load_settings({"LEC_KG_SOURCE_DIR": str(ROOT)})
    engine = build_engine(settings, load_validator(settings))
    try:
        context = context_for(engine, settings)
        frames = frames_for(engine, settings.base_iri, context)
        quads = asserted_quads(engine)
        nodes = node_map(quads)
        flat = b"".join(engine.export_chunks("application/ld+json", context=context))
        take = median(args.runs, lambda: asserted_quads(engine))
        build = median(args.runs, lambda: node_map(quads))
        dump = median(
            args.runs,
            lambda: b"".join(engine.export_chunks("application/ld+json", context=context)),
        )
        print(f"asserted quads: {len(quads)}; flat /dump.jsonld {len(flat):,} bytes")
        print(
            f"take the data (export + parse): {take * 1000:.0f} ms; node map: "
            f"{build * 1000:.0f} ms; flat JSON-LD dump (the peer): {dump * 1000:.0f} ms"
        )
        node = shutil.which("node")
        has_js = node is not None and (TOOLS / "node_modules" / "jsonld").is_dir()
        print(
            "| kind | top nodes | bytes | framed (whole route) | / flat dump | one thing "
            "| jsonld.js framing |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        with tempfile.TemporaryDirectory() as tmp:
            flat_file, script = Path(tmp) / "flat.jsonld", TOOLS / ".bench-frame.mjs"
            flat_file.write_bytes(flat)
            if has_js:
                script.write_text(JSONLD_JS)
            try:
                for kind, frame in frames.items():
                    body = b"".join(frame_chunks(quads, frame))
                    whole = median(
                        args.runs, lambda f=frame: b"".join(frame_chunks(asserted_quads(engine), f))
                    )
                    iri = settings.base_iri + "id/" + THINGS[kind]
                    one = median(
                        args.runs, lambda f=frame, i=iri: frame_nodes(nodes, thing_frame(f, i))
                    )
                    js = "-"
                    if has_js:
                        frame_file = Path(tmp) / f"{kind}.jsonld"
                        frame_file.write_text(json.dumps(frame))
                        done = subprocess.run(
                            [str(node), str(script), str(flat_file), str(frame_file)],
                            capture_output=True,
                            timeout=600,
                            cwd=TOOLS,
                            check=True,
                        )
                        js = f"{float(done.stdout) * 1000:.0f} ms"
                    top = len(json.loads(body)["@graph"])
                    print(
                        f"| {kind} | {top} | {len(body):,} | {whole * 1000:.0f} ms | "
                        f"{whole / dump:.2f} | {one * 1000:.1f} ms | {js} |"
                    )
            finally:
                script.unlink(missing_ok=True)
    finally:
        engine.close()


if __name__ == "__main__":
    main()
