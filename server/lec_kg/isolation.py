"""Queries run in worker processes that can be killed: a runaway query stops at its deadline.

A thread cannot interrupt pyoxigraph, and a query can crash it (deep recursion overflows the
stack), so every SPARQL text is evaluated in a pre-started worker process that holds its own
in-memory copy of the data. The parent sends one request at a time over a pipe and waits with a
deadline; a worker that misses it is killed (SIGKILL) and a fresh one is started from a snapshot
while the others keep answering. Results are serialized inside the worker (pyoxigraph does the
formats) and come back as bytes, so the parent never holds a result object.

Changes reach the workers lazily: each accepted update is published as a numbered delta (quads
removed and added, N-Quads) and sent to a worker just before its next request, so a query that
starts after an update returns always sees it.

Wire format, both ways: 8 bytes (header length, payload length, big-endian), a JSON header, then
the payload. The child's side is `worker.py`; this module is the parent's side and the framing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

LOG = logging.getLogger("lec_kg.isolation")
_FRAME = struct.Struct("!II")
START_TIMEOUT_S = 120.0


class WorkerTimeout(Exception):
    """The worker did not answer before the deadline and was killed."""


class WorkerDied(Exception):
    """The worker process ended while working (a crash, e.g. a stack overflow)."""


class NoWorker(Exception):
    """No worker became free before the deadline."""


# ---------------------------------------------------------------- framing


def write_frame(fd: int, header: dict, payload: bytes) -> None:
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    data = memoryview(_FRAME.pack(len(head), len(payload)) + head + payload)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_frame(fd: int, deadline: float | None) -> tuple[dict, bytes] | None:
    """One frame, or None at end of file before it starts."""
    first = _read_exact(fd, _FRAME.size, deadline, allow_eof=True)
    if first is None:
        return None
    head_len, payload_len = _FRAME.unpack(first)
    head = _read_exact(fd, head_len, deadline)
    payload = _read_exact(fd, payload_len, deadline) if payload_len else b""
    assert head is not None and payload is not None
    return json.loads(head), payload


def _read_exact(fd: int, n: int, deadline: float | None, allow_eof: bool = False) -> bytes | None:
    chunks = []
    poller = None
    if deadline is not None:
        poller = select.poll()  # not select(): it fails on descriptors above 1023
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    while n > 0:
        if poller is not None and deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(remaining * 1000):
                raise WorkerTimeout()
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            if allow_eof and not chunks:
                return None
            raise WorkerDied()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- the parent's pool


class _Worker:
    def __init__(self, proc: subprocess.Popen, version: int) -> None:
        self.proc = proc
        self.version = version
        assert proc.stdin is not None and proc.stdout is not None
        self.fd_in = proc.stdin.fileno()
        self.fd_out = proc.stdout.fileno()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]


class WorkerPool:
    """A fixed number of worker processes; `run` sends one request to a free one."""

    def __init__(
        self,
        size: int,
        snapshot: Callable[[], tuple[int, bytes]],
        state_lock: threading.Lock,
        prefixes: dict[str, str] | None = None,
    ) -> None:
        self.size = size
        self._snapshot = snapshot  # (version, N-Quads of every quad)
        self._state_lock = state_lock  # held by the owner around changes and publish()
        self._prefixes = prefixes or {}
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._deltas: list[tuple[int, bytes, bytes]] = []  # (version, removed, added)
        self._starting: list[int] = []  # snapshot versions of workers still loading
        self._closed = False
        self.restarts = 0
        # Every worker is started from this one long-lived thread: Linux's parent-death signal
        # fires when the *thread* that started a child exits, not only the process.
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lec-kg-spawn")

    def start(self) -> None:
        """Start every worker and wait until each has loaded the data."""
        futures = [self._spawner.submit(self._spawn) for _ in range(self.size)]
        started = [f.result() for f in futures]
        with self._cond:
            for worker in started:
                self._all.add(worker)
                self._idle.append(worker)
            self._cond.notify_all()

    @property
    def alive(self) -> int:
        with self._cond:
            return len(self._all)

    def publish(self, version: int, removed: bytes, added: bytes) -> None:
        """A change every worker must apply before its next request (call under state_lock)."""
        with self._cond:
            self._deltas.append((version, removed, added))
            versions = [w.version for w in self._all] + self._starting
            oldest = min(versions, default=version)
            self._deltas = [d for d in self._deltas if d[0] > oldest]

    def run(self, header: dict, timeout_s: float) -> tuple[dict, bytes]:
        """Send one request and wait for the answer; kill the worker at the deadline."""
        deadline = time.monotonic() + timeout_s
        worker = self._acquire(deadline)
        try:
            self._catch_up(worker)
            write_frame(worker.fd_in, header, b"")
            frame = read_frame(worker.fd_out, deadline)
            if frame is None:
                raise WorkerDied()
        except (WorkerTimeout, WorkerDied, OSError) as exc:
            self._replace(worker)
            if isinstance(exc, WorkerTimeout):
                raise
            raise WorkerDied(f"exit status {worker.proc.returncode}") from exc
        self._release(worker)
        return frame

    def crash_one_for_test(self) -> None:
        """Make a worker die mid-request (tests the crash path)."""
        worker = self._acquire(time.monotonic() + 30)
        write_frame(worker.fd_in, {"op": "crash"}, b"")
        worker.proc.wait()
        self._replace(worker)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
        for worker in workers:
            worker.kill()
        self._spawner.shutdown(wait=False, cancel_futures=True)

    def _acquire(self, deadline: float) -> _Worker:
        with self._cond:
            while not self._idle:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    raise NoWorker()
                self._cond.wait(remaining)
            return self._idle.pop()

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if worker in self._all:
                self._idle.append(worker)
                self._cond.notify()

    def _catch_up(self, worker: _Worker) -> None:
        with self._cond:
            pending = [d for d in self._deltas if d[0] > worker.version]
        for version, removed, added in pending:
            write_frame(worker.fd_in, {"op": "apply", "removed": len(removed)}, removed + added)
            worker.version = version

    def _replace(self, worker: _Worker) -> None:
        """Kill a worker and start another in the background."""
        worker.kill()
        with self._cond:
            self._all.discard(worker)
            if self._closed:
                return
        self.restarts += 1
        with contextlib.suppress(RuntimeError):  # the pool was closed meanwhile
            self._spawner.submit(self._add_one)

    def _add_one(self) -> None:
        try:
            worker = self._spawn()
        except Exception:  # logged; the pool goes on with one worker fewer
            LOG.exception("a query worker could not be started")
            return
        with self._cond:
            if self._closed:
                worker.kill()
                return
            self._all.add(worker)
            self._idle.append(worker)
            self._cond.notify()

    def _spawn(self) -> _Worker:
        package_parent = str(Path(__file__).resolve().parents[1])
        code = (
            f"import sys; sys.path.insert(0, {package_parent!r}); "
            "from lec_kg.worker import worker_main; worker_main()"
        )
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        with self._state_lock:  # lock order: the owner's state lock, then the pool's
            version, data = self._snapshot()
            with self._cond:
                self._starting.append(version)
        worker = _Worker(proc, version)
        try:
            write_frame(worker.fd_in, {"op": "load", "prefixes": self._prefixes}, data)
            reply = read_frame(worker.fd_out, time.monotonic() + START_TIMEOUT_S)
        except (WorkerTimeout, WorkerDied, OSError):
            worker.kill()
            raise
        finally:
            with self._cond:
                self._starting.remove(version)
        if reply is None or not reply[0].get("ok"):
            worker.kill()
            raise WorkerDied("the worker did not load the data")
        return worker
