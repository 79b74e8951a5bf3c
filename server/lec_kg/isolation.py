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

Each worker confines itself before it reads a request (`confine`: no network, an address-space
ceiling) and says in its reply to the load request which of those walls hold; `walls` gathers
them for the log and /ready. A worker that dies of the ceiling (Rust aborts when an allocation
fails, Python raises MemoryError) is told apart from other deaths (`WorkerOutOfMemory`) by its
reply or by what it wrote to stderr, which the parent reads (and passes on to its own stderr).
Who may wait for a worker, and who may keep one long, is `admission`'s business.

The wire format is `framing`'s; the child's side is `worker.py`; this module is the parent's
side: the pool.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .admission import Admission, Bounds, Refused
from .framing import WorkerDied, WorkerTimeout, read_frame, write_frame

__all__ = ["NoWorker", "WorkerDied", "WorkerOutOfMemory", "WorkerPool", "WorkerTimeout"]
__all__ += ["read_frame", "write_frame"]  # the worker's side reads them from here

LOG = logging.getLogger("lec_kg.isolation")
START_TIMEOUT_S = 120.0


class NoWorker(Exception):
    """No worker became free before the deadline."""


class WorkerOutOfMemory(Exception):
    """The request needed more memory than a worker may use (`memory_mb`); the worker is gone."""

    def __init__(self, memory_mb: int | None) -> None:
        super().__init__(f"out of memory (limit {memory_mb} MB)")
        self.memory_mb = memory_mb


WALLS = ("netns", "seccomp", "caps", "rlimit_as")  # what `confine` reports on
RUST_OOM = b"memory allocation of "  # what Rust's default alloc-error handler writes, then aborts
STDERR_TAIL = 4096  # bytes of a worker's stderr kept to tell why it died


# ---------------------------------------------------------------- the parent's pool


class _Worker:
    def __init__(self, proc: subprocess.Popen, version: int) -> None:
        self.proc = proc
        self.version = version
        self.walls: dict = {}
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.fd_in = proc.stdin.fileno()
        self.fd_out = proc.stdout.fileno()
        self.tail = b""  # the end of what the worker wrote to stderr
        self.oom_seen = False  # Rust's "memory allocation of N bytes failed" was written
        self._drain = threading.Thread(
            target=self._pass_stderr, args=(proc.stderr.fileno(),), daemon=True
        )
        self._drain.start()

    def _pass_stderr(self, fd: int) -> None:
        """Copy the worker's stderr to ours, keeping its end (it says why a worker aborted)."""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            # The marker is looked for in every chunk (and across two), not only in the kept
            # tail: a backtrace after it could push it out.
            self.oom_seen = self.oom_seen or RUST_OOM in self.tail[-len(RUST_OOM) :] + chunk
            self.tail = (self.tail + chunk)[-STDERR_TAIL:]
            with contextlib.suppress(OSError):
                os.write(2, chunk)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()
        self._drain.join(timeout=2.0)  # it ends at the dead worker's end of file
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            with contextlib.suppress(OSError):
                stream.close()  # type: ignore[union-attr]

    def out_of_memory(self) -> bool:
        """After `kill`: did it abort because an allocation failed?"""
        return self.proc.returncode == -signal.SIGABRT and self.oom_seen


class WorkerPool:
    """A fixed number of worker processes; `run` sends one request to a free one."""

    def __init__(
        self,
        size: int,
        snapshot: Callable[[], tuple[int, bytes]],
        state_lock: threading.Lock,
        prefixes: dict[str, str] | None = None,
        *,
        memory_mb: int | None = None,
        bounds: Bounds | None = None,
    ) -> None:
        self.size = size
        self.memory_mb = memory_mb  # each worker's address-space ceiling (None: none)
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
        self.admission = Admission(bounds or Bounds(long_slots=max(1, size - 1)))
        self._queue: list[tuple[int, str | None]] = []  # waiting requests: (ticket, client)
        self.walls: dict = {}  # what the last worker started reported (`confine`)
        self._warned: set[str] = set()
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

    def run(self, header: dict, timeout_s: float, client: str | None = None) -> tuple[dict, bytes]:
        """Send one request and wait for the answer; kill the worker at the deadline, or at the
        slice when the request may not run long (`admission`: then Refused)."""
        deadline = time.monotonic() + timeout_s
        worker = self._acquire(deadline, client)
        long = False
        try:
            self._catch_up(worker)
            write_frame(worker.fd_in, header, b"")
            slice_end = min(deadline, time.monotonic() + self.admission.bounds.slice_s)
            if not _readable(worker.fd_out, slice_end) and slice_end < deadline:
                with self._cond:
                    self.admission.take_long(client)  # or Refused
                long = True
            frame = read_frame(worker.fd_out, deadline)
            if frame is None:
                raise WorkerDied()
        except Refused:
            self._replace(worker)
            raise
        except (WorkerTimeout, WorkerDied, OSError) as exc:
            self._replace(worker)
            if isinstance(exc, WorkerTimeout):
                raise
            if worker.out_of_memory():
                raise WorkerOutOfMemory(self.memory_mb) from exc
            raise WorkerDied(f"exit status {worker.proc.returncode}") from exc
        finally:
            if long:
                with self._cond:
                    self.admission.drop_long(client)
                    self._cond.notify_all()
        if frame[0].get("kind") == "memory":  # MemoryError in the worker; it has exited
            self._replace(worker)
            raise WorkerOutOfMemory(self.memory_mb)
        self._release(worker)
        return frame

    def crash_one_for_test(self) -> None:
        """Make a worker die mid-request (tests the crash path)."""
        worker = self._acquire(time.monotonic() + 30, None)
        write_frame(worker.fd_in, {"op": "crash"}, b"")
        worker.proc.wait()
        self._replace(worker)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
            self._idle.clear()
            self._cond.notify_all()
        for worker in workers:
            worker.kill()
        self._spawner.shutdown(wait=False, cancel_futures=True)

    def _acquire(self, deadline: float, client: str | None) -> _Worker:
        """A free worker; without one, wait in the bounded queue (`admission`) for the deadline."""
        with self._cond:
            if self._closed:
                raise NoWorker()
            if self._idle and not self._queue:
                return self._idle.pop()
            ticket = self.admission.join_queue(client)  # or Refused
            entry = (ticket, client)
            self._queue.append(entry)
            try:
                while True:
                    if self._closed:
                        raise NoWorker()
                    if self._idle and self._first() is entry:
                        return self._idle.pop()
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise NoWorker()
                    self._cond.wait(remaining)
            finally:
                self._queue.remove(entry)
                self.admission.leave_queue(client)
                self._cond.notify_all()  # the next in line may be someone else now

    def _first(self) -> tuple[int, str | None]:
        """The waiting request a free worker goes to (caller holds the lock)."""
        return min(self._queue, key=lambda e: self.admission.rank(e[1], e[0]))

    def _release(self, worker: _Worker) -> None:
        with self._cond:
            if worker in self._all:
                self._idle.append(worker)
                self._cond.notify_all()

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
            self._cond.notify_all()

    def _spawn(self) -> _Worker:
        package_parent = str(Path(__file__).resolve().parents[1])
        code = (
            f"import sys; sys.path.insert(0, {package_parent!r}); "
            f"from lec_kg.worker import worker_main; worker_main({self.memory_mb!r})"
        )

        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            env=_worker_environment(),
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
        worker.walls = reply[0].get("walls") or {}
        self._note_walls(worker.walls)
        return worker

    def _note_walls(self, walls: dict) -> None:
        """Keep what a new worker reports; warn (once per wall) about any that does not hold."""
        if not self.walls:
            held = ", ".join(name for name in WALLS if walls.get(name) is True) or "none"
            LOG.info("query workers confined; walls that hold: %s", held)
        self.walls = walls
        for name in WALLS:
            if walls.get(name) is not True and name not in self._warned:
                self._warned.add(name)
                why = "; ".join(n for n in walls.get("notes", []) if n.startswith(name))
                LOG.warning(
                    "query workers run without the %s wall (%s)", name, why or "not reported"
                )


def _readable(fd: int, until: float) -> bool:
    """True once `fd` has something to read (or its writer is gone) before `until`."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    remaining = until - time.monotonic()
    return bool(poller.poll(max(0.0, remaining) * 1000))


def _worker_environment() -> dict[str, str]:
    """A worker's environment: no write token (no secret inside a process that runs queries),
    and no Rust backtraces (an aborting worker's message stays short and readable)."""
    from .config import TOKEN_ENV  # here: the worker itself never imports the settings

    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    env["RUST_BACKTRACE"] = "0"
    return env
