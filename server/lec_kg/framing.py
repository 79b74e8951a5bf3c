"""The wire between the server and its query workers: one frame at a time, both ways.

A frame is 8 bytes (header length, payload length, big-endian), a JSON header, then the payload
(N-Quads, a serialized result). Reading waits with a deadline (`WorkerTimeout`); the end of the
pipe in the middle of a frame means the other side died (`WorkerDied`).
"""

from __future__ import annotations

import json
import os
import select
import struct
import time

_FRAME = struct.Struct("!II")


class WorkerTimeout(Exception):
    """The worker did not answer before the deadline and was killed."""


class WorkerDied(Exception):
    """The worker process ended while working (a crash, e.g. a stack overflow)."""


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
    chunks: list[bytes] = []
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
