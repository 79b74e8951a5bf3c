"""Helpers the tests share: where the project's files are, the source text by page, and the
timeout every test's HTTP request to a live server uses."""

from __future__ import annotations

import socket
import threading
from functools import cache
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SOURCE_TEXT = ROOT / "sources" / "merics-china-monitor-2017-01-18.txt"
# A write takes seconds on a loaded two-core machine; httpx's 5 s default fails such a test for
# no fault of the code. 60 s only guards against a request that never ends.
TIMEOUT = httpx.Timeout(60.0)


@cache
def pages() -> dict[int, str]:
    """Page number -> page text; line N of the source is `| N<text of page N>`."""
    out = {}
    lines = SOURCE_TEXT.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        prefix = f"| {number}"
        if not line.startswith(prefix):
            raise ValueError(f"line {number} of the source does not start with {prefix!r}")
        out[number] = line[len(prefix) :]
    return out


class LoopbackListener:
    """A TCP server on 127.0.0.1 (port 0) in a thread that keeps the first bytes of every
    connection it accepts: a test points a request at it and checks that nothing arrived."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(1.0)
                try:
                    self.accepted.append(conn.recv(4096))
                except OSError:
                    self.accepted.append(b"")

    @property
    def connections(self) -> int:
        return len(self.accepted)

    def close(self) -> list[bytes]:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sock.close()
        return self.accepted
