"""The second wall around the query workers: no network (a network namespace and a seccomp
filter, each shown to hold on its own), no capabilities, no programs started, a memory ceiling
(507, the worker replaced), and a report of what holds (load reply, log, /ready).

Each test bypasses the guard on purpose (requests go straight to a worker pool, or the walls are
applied to a bare Python process) and shows that a loopback listener receives no connection.
"""

from __future__ import annotations

import json
import logging
import platform
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from lec_kg.config import Settings
from lec_kg.engine import OxigraphEngine, build_engine
from lec_kg.engine_api import QueryRequest
from lec_kg.errors import QueryOutOfMemory
from lec_kg.isolation import WorkerPool, _Worker
from tests.support import LoopbackListener

SERVER = str(Path(__file__).resolve().parents[1] / "server")
JSON = "application/sparql-results+json"
DATA = b'<urn:x:a> <urn:x:p> "a" .\n'
WALLS = {"netns": True, "seccomp": True, "caps": True, "rlimit_as": True}
# Thirty-three doublings of "a": 8 GiB if nothing stops it.
DOUBLINGS = " ".join(f"BIND(CONCAT(?s{i}, ?s{i}) AS ?s{i + 1})" for i in range(33))
MEMORY_BOMB = f'SELECT (STRLEN(?s33) AS ?n) WHERE {{ BIND("a" AS ?s0) {DOUBLINGS} }}'


@pytest.fixture
def listener() -> Iterator[LoopbackListener]:
    server = LoopbackListener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def pool() -> Iterator[WorkerPool]:
    """One worker over one triple, as the engine starts them, without the engine's guard."""
    started = WorkerPool(1, lambda: (0, DATA), threading.Lock(), memory_mb=1024)
    started.start()
    yield started
    started.close()


def query(text: str) -> dict:
    return {"op": "query", "form": "select", "text": text, "format": "json", "max_rows": 10}


def test_the_listener_sees_a_connection_from_an_unconfined_process(
    listener: LoopbackListener,
) -> None:
    """The control: the same request from outside a worker does reach the listener."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as s:
        s.sendall(b"hello")
    deadline = time.monotonic() + 10
    while not listener.accepted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.close() == [b"hello"]


def test_a_worker_reports_that_every_wall_holds(pool: WorkerPool) -> None:
    assert {k: pool.walls.get(k) for k in WALLS} == WALLS
    assert "notes" not in pool.walls


def test_a_wall_that_is_not_applied_is_reported_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without a memory ceiling configured, the worker says so and the service warns."""
    caplog.set_level(logging.WARNING, logger="lec_kg.isolation")
    unlimited = WorkerPool(1, lambda: (0, DATA), threading.Lock(), memory_mb=None)
    unlimited.start()
    try:
        walls = unlimited.walls
    finally:
        unlimited.close()
    assert walls["rlimit_as"] is False and walls["netns"] is True
    assert walls["notes"] == ["rlimit_as: no limit configured"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "query workers run without the rlimit_as wall (rlimit_as: no limit configured)"
    ]


def test_the_worker_process_is_confined_as_it_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seen from outside, in /proc: its own network namespace, a seccomp filter, no
    capabilities, the address-space limit, and no write token in its environment."""
    monkeypatch.setenv("LEC_KG_WRITE_TOKEN", "never-in-a-worker")
    one = WorkerPool(1, lambda: (0, DATA), threading.Lock(), memory_mb=700)
    one.start()
    try:
        (worker,) = one._all
        proc = Path(f"/proc/{worker.proc.pid}")
        status = dict(line.split(":\t", 1) for line in (proc / "status").read_text().splitlines())
        limits = (proc / "limits").read_text()
        environ = (proc / "environ").read_bytes()
        own_net = (proc / "ns" / "net").readlink() != Path("/proc/self/ns/net").readlink()
    finally:
        one.close()
    assert own_net
    assert status["Seccomp"].strip() == "2"  # filter mode
    assert status["NoNewPrivs"].strip() == "1"
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    line = next(ln for ln in limits.splitlines() if ln.startswith("Max address space"))
    assert line.split()[3:5] == [str(700 * 2**20)] * 2
    assert b"LEC_KG_WRITE_TOKEN" not in environ


def test_a_confined_process_cannot_start_programs_or_touch_its_parent() -> None:
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[1]); from lec_kg.confine import confine;"
        "walls = confine(512); out = []\n"
        "try:\n open(f'/proc/{os.getppid()}/mem', 'rb')\n out.append('mem-open')\n"
        "except OSError as e:\n out.append(e.errno)\n"
        "try:\n os.execv('/bin/true', ['true'])\n"
        "except OSError as e:\n out.append(e.errno)\n"
        "print(out)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, SERVER], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["[13,", "1]"], done.stderr  # EACCES, EPERM


def test_service_sent_past_the_guard_opens_no_connection(
    pool: WorkerPool, listener: LoopbackListener
) -> None:
    text = f"SELECT * WHERE {{ SERVICE <http://127.0.0.1:{listener.port}/sparql> {{ ?s ?p ?o }} }}"
    reply, body = pool.run({**query(text), "union": True}, 30)
    assert reply["ok"] is False and body == b""
    assert reply["kind"] == "evaluation"
    assert "not permitted" in reply["message"].lower()
    assert listener.close() == []


def test_load_sent_past_the_guard_opens_no_connection(
    pool: WorkerPool, listener: LoopbackListener
) -> None:
    update = {"op": "update", "text": f"LOAD <http://127.0.0.1:{listener.port}/x.ttl>"}
    reply, body = pool.run({**update, "exclude": []}, 30)
    assert reply["ok"] is False and body == b""
    assert "not permitted" in reply["message"].lower()
    assert listener.close() == []


def test_a_remote_from_sent_past_the_guard_reads_nothing(
    pool: WorkerPool, listener: LoopbackListener
) -> None:
    """pyoxigraph never dereferences a FROM graph; with the walls up it could not anyway."""
    text = f"SELECT * FROM <http://127.0.0.1:{listener.port}/g> WHERE {{ ?s ?p ?o }}"
    header = {**query(text), "union": False, "default": [], "named": []}
    reply, body = pool.run({**header, "default": [f"http://127.0.0.1:{listener.port}/g"]}, 30)
    assert reply["ok"] is True
    assert json.loads(body)["results"]["bindings"] == []
    assert listener.close() == []


# Each wall on its own, in a bare Python process: the one alone already stops a connection.
PROBE = """
import ctypes, errno, json, socket, sys
sys.path.insert(0, sys.argv[1])
from lec_kg import confine
libc = ctypes.CDLL(None, use_errno=True)
getattr(confine, sys.argv[2])(libc)
out = {}
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[3])), timeout=5) as s:
        s.sendall(b"escaped")
    out["connect"] = "connected"
except OSError as exc:
    out["connect"] = errno.errorcode.get(exc.errno, str(exc.errno))
arch = confine.ARCHES[__import__("platform").machine()]
libc.syscall.restype = ctypes.c_long
for name in ("io_uring_setup", "socketpair"):
    args = (ctypes.c_long(arch.refused[name]), ctypes.c_long(1), ctypes.c_long(0))
    done = libc.syscall(*args, ctypes.c_long(0), ctypes.c_long(0))
    out[name] = "ok" if done >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")
print(json.dumps(out))
"""


def probe(wall: str, port: int) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, SERVER, wall, str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_seccomp_filter_alone_refuses_sockets_and_io_uring(listener: LoopbackListener) -> None:
    found = probe("install_network_filter", listener.port)
    assert found == {"connect": "EPERM", "io_uring_setup": "EPERM", "socketpair": "EPERM"}
    assert listener.close() == []


def test_the_network_namespace_alone_leaves_nothing_to_connect_to(
    listener: LoopbackListener,
) -> None:
    found = probe("new_network_namespace", listener.port)
    assert found["connect"] in ("ENETUNREACH", "ECONNREFUSED", "EADDRNOTAVAIL")
    assert listener.close() == []


def test_the_filter_refuses_calls_through_another_architectures_table() -> None:
    """x32 numbers (the 0x40000000 bit) reach the same kernel code by another number."""
    code = (
        "import ctypes, errno, sys; sys.path.insert(0, sys.argv[1]); from lec_kg import confine;"
        "libc = ctypes.CDLL(None, use_errno=True); confine.install_network_filter(libc);"
        "libc.syscall.restype = ctypes.c_long;"
        "r = libc.syscall(ctypes.c_long(0x40000000 | 39));"  # x32 getpid
        "print(r, errno.errorcode.get(ctypes.get_errno()))"
    )
    if platform.machine() != "x86_64":
        pytest.skip("x32 exists on x86_64 only")
    done = subprocess.run(
        [sys.executable, "-c", code, SERVER], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["-1", "EPERM"], done.stderr


def test_an_unknown_architecture_gets_no_filter_and_says_so() -> None:
    import ctypes

    from lec_kg.confine import install_network_filter

    with pytest.raises(OSError, match="no seccomp filter for the sparc64 architecture"):
        install_network_filter(ctypes.CDLL(None, use_errno=True), machine="sparc64")


# ---------------------------------------------------------------- the memory ceiling


@pytest.fixture(scope="module")
def small(settings: Settings) -> Iterator[OxigraphEngine]:
    """An engine whose two workers may use 300 MB each, started where Rust backtraces are on
    (a long backtrace after the allocation message must not hide why the worker died)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RUST_BACKTRACE", "full")
        built = build_engine(replace(settings, worker_memory_mb=300), query_workers=2)
    assert built.is_ready(), built.not_ready_reason
    yield built
    built.close()


def test_a_query_past_the_memory_ceiling_is_507_and_its_worker_is_replaced(
    small: OxigraphEngine,
) -> None:
    assert small.isolation_report()["memory_mb"] == 300
    restarts = small._pool.restarts
    with pytest.raises(QueryOutOfMemory) as caught:
        small.query(QueryRequest(MEMORY_BOMB), JSON)
    assert caught.value.status == 507
    assert caught.value.detail.startswith(
        "the query needed more memory than the 300 MB a query may use"
    )
    assert small._pool.restarts == restarts + 1
    deadline = time.monotonic() + 60  # a guard against hanging, not a timed assertion
    while small._pool.alive < 2:
        assert time.monotonic() < deadline, "the worker was not replaced"
        time.sleep(0.05)
    asked = small.query(QueryRequest("ASK { ?s ?p ?o }"), JSON)
    assert json.loads(asked.body)["boolean"] is True


def test_the_memory_ceiling_comes_from_the_environment() -> None:
    from lec_kg.config import settings_from_env

    assert settings_from_env({"LEC_KG_WORKER_MEMORY_MB": "640"}).worker_memory_mb == 640
    assert settings_from_env({}).worker_memory_mb == Settings().worker_memory_mb


def test_ready_reports_the_walls(client) -> None:
    isolation = client.get("/ready").json()["isolation"]
    assert {k: isolation[k] for k in WALLS} == WALLS
    assert isolation["memory_mb"] == Settings().worker_memory_mb


OOM_LINE = "sys.stderr.write('memory allocation of 536870912 bytes failed\\n')\n"


@pytest.mark.parametrize(
    ("stderr", "out_of_memory"),
    [
        (OOM_LINE, True),
        # A Rust backtrace after the line can be longer than the stderr tail kept.
        (OOM_LINE + "sys.stderr.write('   at frame\\n' * 2000)\n", True),
        ("sys.stderr.write('boom\\n')\n", False),  # an abort for another reason
    ],
)
def test_an_allocation_failure_is_recognised_whatever_follows_it(
    stderr: str, out_of_memory: bool
) -> None:
    """A real process writes to stderr, then aborts: did it die for lack of memory?"""
    script = f"import os, sys\n{stderr}sys.stderr.flush()\nos.abort()\n"
    pipe = subprocess.PIPE
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=pipe, stdout=pipe, stderr=pipe)
    worker = _Worker(proc, 0)
    proc.wait(timeout=60)
    worker.kill()
    assert worker.out_of_memory() is out_of_memory
