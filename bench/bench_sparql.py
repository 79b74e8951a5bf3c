"""lec-kg against Oxigraph's own server, same data, same queries, same run, loopback only.

Starts `lec-kg serve --memory --workers N` (uvicorn; N = cores unless --workers says) and
`oxigraph serve-read-only --union-default-graph` over an Oxigraph store loaded with exactly the
quads lec-kg serves (asserted and inferred, so both give the same answers), then sends each query
over HTTP (GET /sparql?query=...) at concurrency 1, 8 and 32 for a bounded time and prints
requests per second and p50/p99 latency for both servers and the ratio lec-kg/Oxigraph.
Queries: tests/competency/*.rq, a point lookup and an aggregate.

    .venv/bin/python bench/bench_sparql.py                 # every query, ~1 s per cell
    .venv/bin/python bench/bench_sparql.py --seconds 0.5 --match treaties --json out.json
    .venv/bin/python bench/bench_sparql.py --result-cache-mb 0     # every request evaluated

Every request loop stops by itself (time budget and request cap); both servers listen on
127.0.0.1 only and are stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ACCEPT = "application/sparql-results+json, text/turtle;q=0.9"
JSON_RESULTS = "application/sparql-results+json"
EXTRA_QUERIES = {
    "point-lookup": ("SELECT ?p ?o WHERE { <https://w3id.org/lec-kg/id/state/FR> ?p ?o }"),
    "aggregate": (
        "SELECT ?class (COUNT(?x) AS ?n) WHERE { ?x a ?class } GROUP BY ?class ORDER BY DESC(?n)"
    ),
}
MAX_REQUESTS = 20_000  # per cell, whatever the time budget


@dataclass
class Cell:
    """One (server, query, concurrency) measurement."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, limit_s: float = 180.0) -> None:
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {limit_s:.0f} s")


def wait_workers(url: str, workers: int, limit_s: float = 180.0) -> None:
    """Until every lec-kg server process answers ready (each loads its own copy; measuring
    while one still loads would charge its start-up to the queries)."""
    seen: set[int] = set()
    end = time.monotonic() + limit_s
    while len(seen) < workers and time.monotonic() < end:
        try:
            with httpx.Client() as fresh:  # a new connection: any process may take it
                reply = fresh.get(url, timeout=2)
            if reply.status_code == 200 and "pid" in reply.json():
                seen.add(reply.json()["pid"])
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    if len(seen) < workers:
        raise RuntimeError(f"only {len(seen)} of {workers} lec-kg processes became ready")
    time.sleep(1.0)  # let the last one finish starting its query workers


def dump_dataset(path: Path) -> int:
    """Every quad lec-kg serves (the engine's own dump), for Oxigraph to load."""
    sys.path.insert(0, str(ROOT / "server"))
    from lec_kg.config import Settings
    from lec_kg.engine import build_engine

    engine = build_engine(Settings(source_dir=ROOT, data_dir=None), query_workers=1)
    try:
        data = engine.dump_nquads()
    finally:
        engine.close()
    path.write_bytes(data)
    return data.count(b"\n")


def serve_minimal(port: int) -> None:
    """The engine behind a bare ASGI app on uvicorn: the ceiling of any Python HTTP layer."""
    import uvicorn

    sys.path.insert(0, str(ROOT / "server"))
    from urllib.parse import parse_qs

    from lec_kg.config import Settings
    from lec_kg.engine import build_engine
    from lec_kg.engine_api import QueryRequest
    from lec_kg.errors import LecKgError

    engine = build_engine(Settings(source_dir=ROOT, data_dir=None))

    def answer(text: str) -> tuple[int, str, bytes]:
        try:
            prepared = engine.prepare(QueryRequest(text))
            media = "text/turtle" if prepared.form in ("construct", "describe") else JSON_RESULTS
            result = engine.query(prepared, media)
            return 200, result.media_type, result.body
        except LecKgError as exc:
            return exc.status, "application/json", json.dumps(exc.to_dict()).encode()

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        params = parse_qs(scope["query_string"].decode())
        if scope["path"] == "/ready":
            status, media, body = 200, "text/plain", b"ready"
        else:
            loop = asyncio.get_running_loop()
            status, media, body = await loop.run_in_executor(None, answer, params["query"][0])
        headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_servers(
    tmp: Path, minimal: bool = False, workers: int = 1, cache_mb: float | None = None
) -> tuple[dict[str, str], list[subprocess.Popen]]:
    quads = dump_dataset(tmp / "data.nq")
    print(f"dataset: {quads} quads", file=sys.stderr)
    subprocess.run(
        [
            str(BIN / "oxigraph"),
            "load",
            "--location",
            str(tmp / "oxi"),
            "--file",
            str(tmp / "data.nq"),
        ],
        check=True,
        capture_output=True,
    )
    lec_port, oxi_port = free_port(), free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LEC_KG_WRITE_TOKEN", None)
    lec_cmd = (
        [sys.executable, __file__, "--serve-minimal", str(lec_port)]
        if minimal
        else [str(BIN / "lec-kg"), "--source-dir", str(ROOT), "serve", "--memory"]
        + ["--host", "127.0.0.1", "--port", str(lec_port), "--workers", str(workers)]
        + ([] if cache_mb is None else ["--result-cache-mb", str(cache_mb)])
    )
    oxi_cmd = [str(BIN / "oxigraph"), "serve-read-only", "--location", str(tmp / "oxi")]
    oxi_cmd += ["--bind", f"127.0.0.1:{oxi_port}", "--union-default-graph"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(lec_cmd, env=env, start_new_session=True, **quiet),
        subprocess.Popen(oxi_cmd, start_new_session=True, **quiet),
    ]
    urls = {"lec-kg": f"http://127.0.0.1:{lec_port}", "oxigraph": f"http://127.0.0.1:{oxi_port}"}
    wait_http(urls["lec-kg"] + "/ready")
    wait_workers(urls["lec-kg"] + "/ready", workers)
    wait_http(urls["oxigraph"] + "/query?query=ASK%7B%7D")
    return urls, procs


def endpoint(server: str, url: str) -> str:
    return url + ("/sparql" if server == "lec-kg" else "/query")


def _request_bytes(url: str, query: str) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    target = f"{parts.path}?{urlencode({'query': query})}"
    head = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {ACCEPT}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return parts.hostname or "127.0.0.1", parts.port or 80, head.encode()


def _read_response(sock: socket.socket, buf: bytes) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response (Content-Length or chunked); return (status, leftover)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(b":") for ln in lines[1:])}
    if b"content-length" in fields:
        size = int(fields[b"content-length"])
        while len(rest) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            rest += chunk
        return status, rest[size:]
    while True:  # chunked
        while b"\r\n" not in rest:
            rest += sock.recv(65536)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(rest) < size + 2:
            rest += sock.recv(65536)
        rest = rest[size + 2 :]
        if size == 0:
            return status, rest


def _client(url: str, query: str, threads: int, seconds: float, out) -> None:
    """One load-generating process: `threads` keep-alive connections until the deadline."""
    host, port, request = _request_bytes(url, query)
    latencies: list[float] = []
    errors = [0]
    cap = MAX_REQUESTS // max(1, threads)
    end = time.perf_counter() + seconds

    def loop() -> None:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        done = 0
        while time.perf_counter() < end and done < cap:
            t0 = time.perf_counter()
            sock.sendall(request)
            status, buf = _read_response(sock, buf)
            latencies.append((time.perf_counter() - t0) * 1000)
            done += 1
            if status != 200:
                errors[0] += 1
        sock.close()

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((latencies, errors[0]))


def measure(url: str, query: str, concurrency: int, seconds: float) -> Cell:
    """`concurrency` connections spread over up to two client processes (the GIL)."""
    host, port, request = _request_bytes(url, query)
    with socket.create_connection((host, port)) as warm:  # warm-up, not counted
        warm.sendall(request.replace(b"keep-alive", b"close"))
        _read_response(warm, b"")
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs_n = 1 if concurrency == 1 else 2
    shares = [concurrency // procs_n + (i < concurrency % procs_n) for i in range(procs_n)]
    start = time.perf_counter()
    procs = [ctx.Process(target=_client, args=(url, query, n, seconds, out)) for n in shares]
    for p in procs:
        p.start()
    gathered = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    elapsed = time.perf_counter() - start
    latencies = [x for lat, _ in gathered for x in lat]
    return Cell(len(latencies), sum(e for _, e in gathered), elapsed, latencies)


def queries(match: str | None) -> dict[str, str]:
    found = {
        p.stem: p.read_text(encoding="utf-8")
        for p in sorted((ROOT / "tests" / "competency").glob("*.rq"))
    }
    found.update(EXTRA_QUERIES)
    return {k: v for k, v in found.items() if not match or match in k}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time budget per cell")
    ap.add_argument("--concurrency", default="1,8,32", help="comma-separated levels")
    ap.add_argument("--match", help="only queries whose name contains this")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument(
        "--minimal-app",
        action="store_true",
        help="serve the engine from a bare ASGI app instead of `lec-kg serve` (the ceiling)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="lec-kg server processes (default: one per core, as Oxigraph uses every core)",
    )
    ap.add_argument(
        "--result-cache-mb",
        type=float,
        help="lec-kg's result cache (default: the server's default; 0 turns it off)",
    )
    ap.add_argument("--serve-minimal", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve_minimal:
        serve_minimal(args.serve_minimal)
        return 0
    levels = [int(c) for c in args.concurrency.split(",")]
    selected = queries(args.match)
    tmp = Path(tempfile.mkdtemp(prefix="lec-kg-bench-"))
    procs: list[subprocess.Popen] = []
    results = []
    try:
        urls, procs = start_servers(tmp, args.minimal_app, args.workers, args.result_cache_mb)
        cache = "default" if args.result_cache_mb is None else f"{args.result_cache_mb:g} MB"
        print(
            f"lec-kg: {args.workers} worker process(es), result cache {cache}; "
            f"{os.cpu_count()} cores",
            file=sys.stderr,
        )
        print(
            f"{'query':52} {'c':>3} {'lec rps':>8} {'oxi rps':>8} {'ratio':>6} "
            f"{'lec p50':>8} {'lec p99':>8} {'oxi p50':>8} {'oxi p99':>8}"
        )
        for name, text in selected.items():
            for c in levels:
                cells = {s: measure(endpoint(s, u), text, c, args.seconds) for s, u in urls.items()}
                lec, oxi = cells["lec-kg"], cells["oxigraph"]
                ratio = lec.rps / oxi.rps if oxi.rps else float("nan")
                flag = " ERR" if lec.errors or oxi.errors else ""
                print(
                    f"{name[:52]:52} {c:>3} {lec.rps:8.0f} {oxi.rps:8.0f} {ratio:6.2f} "
                    f"{lec.pct(0.5):8.2f} {lec.pct(0.99):8.2f} {oxi.pct(0.5):8.2f} "
                    f"{oxi.pct(0.99):8.2f}{flag}",
                    flush=True,
                )
                results.append(
                    {
                        "query": name,
                        "concurrency": c,
                        "ratio": ratio,
                        **{
                            f"{s}_{k}": v
                            for s, cell in cells.items()
                            for k, v in (
                                ("rps", cell.rps),
                                ("p50_ms", cell.pct(0.5)),
                                ("p99_ms", cell.pct(0.99)),
                                ("errors", cell.errors),
                                ("requests", cell.requests),
                            )
                        },
                    }
                )
        for c in levels:
            ratios = [r["ratio"] for r in results if r["concurrency"] == c]
            below = [r["query"] for r in results if r["concurrency"] == c and r["ratio"] < 0.5]
            print(
                f"concurrency {c}: ratio min {min(ratios):.2f}, median "
                f"{statistics.median(ratios):.2f}; below 0.5: {len(below)} {below[:10]}"
            )
        if args.json:
            args.json.write_text(json.dumps(results, indent=1))
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
