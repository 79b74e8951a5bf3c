"""The journal: an append-only, checksummed file of accepted changes, shared by processes.

Each record is one change (quads removed and added, as N-Quads, and the update's text), written
with a length and a SHA-256 in front and fsync'ed before the change is acknowledged. A torn last
record (a crash mid-append, never acknowledged) is skipped on reading and cut off before the next
append; damage anywhere else is a `JournalError`. Processes sharing a data directory append
under the directory's writer lock (`writing`) and follow each other with `records(offset)`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

JOURNAL_NAME = "journal.lecj"
LOCK_NAME = "writer.lock"
_MAGIC = b"LECJ1"
WRITER_WAIT_S = 30.0  # how long a write waits for another process's write to finish


class JournalError(RuntimeError):
    """The journal is damaged somewhere other than a torn last record."""


class Journal:
    """An append-only file of changes; each record is length-prefixed and checksummed.

    Several processes may share one journal (`lec-kg serve --workers N`, or `lec-kg add` beside
    a running server): a writer holds the directory's lock only while it appends, and readers
    follow the file with `records(offset)`, so every process sees every acknowledged change.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.path = directory / JOURNAL_NAME
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._locked = False
        self._replayed_size = 0

    def size_on_disk(self) -> int:
        """The journal's current length in bytes (0 when there is none yet)."""
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    def replay(self) -> Iterator[dict]:
        """Every complete record, in order; a torn last record (a crash mid-append) is skipped."""
        self._replayed_size = 0
        return self.records(0)

    def records(self, offset: int) -> Iterator[dict]:
        """The complete records from byte `offset` on; `replayed_size` follows what was read."""
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return
        pos = 0
        while pos < len(data):
            header_end = data.find(b"\n", pos)
            if header_end < 0:
                break  # torn header: the append never finished, so it was never acknowledged
            parts = data[pos:header_end].split(b" ")
            at = offset + pos
            if len(parts) != 3 or parts[0] != _MAGIC or not parts[1].isdigit():
                raise JournalError(f"{self.path}: damaged record header at byte {at}")
            size = int(parts[1])
            body = data[header_end + 1 : header_end + 1 + size]
            if len(body) < size or data[header_end + 1 + size : header_end + 2 + size] != b"\n":
                break  # torn payload
            if hashlib.sha256(body).hexdigest().encode() != parts[2]:
                raise JournalError(f"{self.path}: checksum mismatch in the record at byte {at}")
            pos = header_end + 2 + size
            self._replayed_size = offset + pos
            yield json.loads(body)

    @property
    def replayed_size(self) -> int:
        """Bytes of complete records read so far (or written by this process)."""
        return self._replayed_size

    @contextlib.contextmanager
    def writing(self, timeout_s: float = WRITER_WAIT_S) -> Iterator[None]:
        """Hold the directory's writer lock (other processes' writes wait) for one change."""
        if self._lock_fd is None:
            self._lock_fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() >= deadline:
                    raise JournalError(
                        f"{self.directory} is being written by another lec-kg process and it "
                        f"did not finish within {timeout_s:g} s; try again"
                    ) from exc
                time.sleep(0.01)
        self._locked = True
        try:
            yield
        finally:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def append(self, record: dict, expected_size: int | None = None) -> int:
        """Write one record and fsync it (and, the first time, the directory); return the new
        size. `expected_size`: the size this process has read; if the journal holds more, another
        process wrote to it and this one's working set is stale, so nothing is written."""
        if not self._locked:
            with self.writing():
                return self.append(record, expected_size)
        if self._fd is None:
            self._open_for_writing()
        assert self._fd is not None
        complete = self._complete_size()
        if expected_size is not None and complete != expected_size:
            raise JournalError(
                f"{self.path} was changed by another process since this one read it; "
                "catch up (or restart) before writing"
            )
        body = json.dumps(record, ensure_ascii=False).encode("utf-8")
        header = b"%s %d %s\n" % (_MAGIC, len(body), hashlib.sha256(body).hexdigest().encode())
        os.write(self._fd, header + body + b"\n")
        os.fsync(self._fd)
        self._replayed_size = complete + len(header) + len(body) + 1
        return self._replayed_size

    def _complete_size(self) -> int:
        """The length of the complete records; a torn tail (a writer that crashed mid-append,
        never acknowledged) is cut off. Call with the writer lock held."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == self._replayed_size:
            return size
        for _ in self.records(self._replayed_size):  # from the last boundary this one knows
            pass
        complete = self._replayed_size
        if complete < size:
            os.ftruncate(self._fd, complete)
            os.fsync(self._fd)
        return complete

    def _open_for_writing(self) -> None:
        existed = self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if not existed:
            dir_fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def close(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._lock_fd = None
