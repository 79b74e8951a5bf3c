"""The journal: an append-only, checksummed file of accepted changes, shared by processes.

Each record is one change (quads removed and added, as N-Quads, and the update's text), written
with a length and a SHA-256 in front and fsync'ed before the change is acknowledged. A torn last
record (a crash mid-append, never acknowledged) is skipped on reading and cut off before the next
append; damage anywhere else is a `JournalError`. Processes sharing a data directory append
under the directory's writer lock (`writing`) and follow each other with `records(offset)`.

Compaction (`compaction`) folds the journal into a snapshot and starts a new journal whose first
record (its marker) names the snapshot it builds on: its generation and checksum. The new journal
replaces the old one by a rename, the one step that commits a compaction, so a reader finds
either the old journal (and the snapshot it builds on) or the new one. A reader knows which file
it follows by its inode (`Position.file`): when the path names another file, another process
compacted, and the reader starts again from the new journal's snapshot (`open_current`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .snapshot import Snapshot, SnapshotError, file_name, fsync_directory, read, write_atomically

JOURNAL_NAME = "journal.lecj"
LOCK_NAME = "writer.lock"
_MAGIC = b"LECJ1"
MARKER_KEY = "snapshot"  # the first record of a compacted journal: {"snapshot": {...}}
WRITER_WAIT_S = 30.0  # how long a write waits for another process's write to finish
_REOPEN_TRIES = 5  # compactions that may overtake one reader before it gives up


class JournalError(RuntimeError):
    """The journal is damaged somewhere other than a torn last record, or cannot be used."""


@dataclass(frozen=True)
class Position:
    """Where a reader of the journal stands: which file (its inode; None: there was none) and
    how many bytes of it were read."""

    file: int | None
    offset: int


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
        self._read_fd: int | None = None  # the journal file followed
        self._file: int | None = None  # its inode
        self._fd: int | None = None  # the same file, for appending
        self._lock_fd: int | None = None
        self._locked = False
        self._replayed_size = 0
        self.generation = 0  # of the file followed: 0 before any compaction
        self.start = 0  # where its change records start (after the marker)

    # ------------------------------------------------------------ following

    def on_disk(self) -> Position:
        """The file the journal's path names now and its length (one stat)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return Position(None, 0)
        return Position(st.st_ino, st.st_size)

    @property
    def followed(self) -> Position:
        """The file followed and the bytes of complete records read (or written) so far."""
        return Position(self._file, self._replayed_size)

    def open_current(self) -> Snapshot | None:
        """Follow the journal file the path names now, from its start: the snapshot it builds on
        (read whole and checked against its marker), None before any compaction. A compaction
        by another process meanwhile is retried; a missing or damaged snapshot is a
        JournalError."""
        for _ in range(_REOPEN_TRIES):
            digest = self.follow_path()
            if digest is None:
                return None
            try:
                return read(self.directory / file_name(self.generation), self.generation, digest)
            except SnapshotError as exc:
                if self.on_disk().file != self._file:
                    continue  # compacted again while this was read: start over
                raise JournalError(
                    f"{exc}; {self.path} builds on it, so the data directory cannot be read"
                ) from exc
        raise JournalError(f"{self.path} was compacted {_REOPEN_TRIES} times while being read")

    def follow_path(self) -> str | None:
        """Follow the journal file the path names now, from its first change record (its
        snapshot not read: for a reader that already holds it); the checksum of the snapshot its
        marker names, None when it has none."""
        self._unfollow()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        self._read_fd, self._file = fd, os.fstat(fd).st_ino
        marker, self.start = self._marker()
        self._replayed_size = self.start
        if marker is None:
            return None
        self.generation = int(marker["generation"])
        return str(marker["sha256"])

    def replay(self) -> Iterator[dict]:
        """Every complete change record of the journal the path names now (its snapshot, if
        any, is `open_current`'s to read)."""
        self.follow_path()
        return self.records(self.start)

    def records(self, offset: int) -> Iterator[dict]:
        """The complete change records of the file followed from byte `offset` on (never the
        marker); `replayed_size` follows what was read. A torn last record is skipped."""
        if self._read_fd is None:
            self.follow_path()  # nothing followed yet: the file the path names
            if self._read_fd is None:
                return
        offset = max(offset, self.start)
        data = _read_from(self._read_fd, offset)
        pos = 0
        for size, body in _frames(data, self.path, offset):
            record = json.loads(body)
            if MARKER_KEY in record:
                raise JournalError(f"{self.path}: a snapshot marker at byte {offset + pos}")
            pos += size
            self._replayed_size = offset + pos
            yield record

    @property
    def replayed_size(self) -> int:
        """Bytes of complete records read so far (or written by this process)."""
        return self._replayed_size

    def _marker(self) -> tuple[dict | None, int]:
        """The marker record of the file followed, if it starts with one, and where it ends."""
        assert self._read_fd is not None
        head = os.pread(self._read_fd, 4096, 0)
        end = head.find(b"\n")
        if end < 0:
            return None, 0
        parts = head[:end].split(b" ")
        if len(parts) != 3 or parts[0] != _MAGIC or not parts[1].isdigit():
            return None, 0  # a damaged first record is `records`' to report
        size = int(parts[1])
        for length, body in _frames(os.pread(self._read_fd, end + 2 + size, 0), self.path, 0):
            record = json.loads(body)
            if MARKER_KEY in record:
                return record[MARKER_KEY], length
        return None, 0

    def _unfollow(self) -> None:
        for fd in (self._read_fd, self._fd):
            if fd is not None:
                os.close(fd)
        self._read_fd = self._fd = self._file = None
        self._replayed_size = self.start = self.generation = 0

    # ------------------------------------------------------------ writing

    @contextlib.contextmanager
    def writing(self, timeout_s: float = WRITER_WAIT_S) -> Iterator[None]:
        """Hold the directory's writer lock (other processes' writes wait) for one change; taken
        again inside, it is already held."""
        if self._locked:
            yield
            return
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

    def append(self, record: dict, expected: Position | None = None) -> Position:
        """Write one record and fsync it (and, the first time, the directory); return the new
        position. `expected`: where this process has read to; if the journal holds more, or was
        compacted, another process wrote to it and this one's working set is stale, so nothing
        is written."""
        if not self._locked:
            with self.writing():
                return self.append(record, expected)
        now = self.on_disk()
        if expected is not None and now.file != expected.file:
            raise JournalError(
                f"{self.path} was changed by another process since this one read it (a new or "
                "compacted journal); catch up (or restart) before writing"
            )
        if self._file != now.file or self._read_fd is None:
            self.follow_path()  # the file the path names (or none yet), read to its end below
        if self._fd is None:
            self._open_for_writing()
        assert self._fd is not None
        complete = self._complete_size()
        if expected is not None and complete != expected.offset:
            raise JournalError(
                f"{self.path} was changed by another process since this one read it; "
                "catch up (or restart) before writing"
            )
        body = json.dumps(record, ensure_ascii=False).encode("utf-8")
        os.write(self._fd, _frame(body))
        os.fsync(self._fd)
        self._replayed_size = complete + len(_frame(body))
        return self.followed

    def install(self, snapshot: Snapshot, digest: str) -> None:
        """Replace the journal by a new, empty one that builds on `snapshot` (already written
        whole): a temporary file holding the marker, fsync'ed, renamed over the journal, and the
        directory fsync'ed; the rename commits the compaction. Call with the writer lock held."""
        assert self._locked
        marker = {MARKER_KEY: {"generation": snapshot.generation, "sha256": digest}}
        write_atomically(self.path, _frame(json.dumps(marker).encode("utf-8")))

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
        if self._file is None:  # no journal yet: this one starts it
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            fsync_directory(self.directory)
            self._read_fd = os.open(self.path, os.O_RDONLY)
            self._file = os.fstat(self._read_fd).st_ino
            return
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        if os.fstat(self._fd).st_ino != self._file:  # cannot happen under the writer lock
            raise JournalError(f"{self.path} was replaced while being opened; try again")

    def close(self) -> None:
        self._unfollow()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self._lock_fd = None


def _frame(body: bytes) -> bytes:
    return b"%s %d %s\n" % (_MAGIC, len(body), hashlib.sha256(body).hexdigest().encode()) + (
        body + b"\n"
    )


def _frames(data: bytes, path: Path, offset: int) -> Iterator[tuple[int, bytes]]:
    """(length, body) of each complete record in `data` (read from byte `offset` of `path`); a
    torn last record ends it, a damaged one is a JournalError."""
    pos = 0
    while pos < len(data):
        header_end = data.find(b"\n", pos)
        if header_end < 0:
            return  # torn header: the append never finished, so it was never acknowledged
        parts = data[pos:header_end].split(b" ")
        at = offset + pos
        if len(parts) != 3 or parts[0] != _MAGIC or not parts[1].isdigit():
            raise JournalError(f"{path}: damaged record header at byte {at}")
        size = int(parts[1])
        body = data[header_end + 1 : header_end + 1 + size]
        if len(body) < size or data[header_end + 1 + size : header_end + 2 + size] != b"\n":
            return  # torn payload
        if hashlib.sha256(body).hexdigest().encode() != parts[2]:
            raise JournalError(f"{path}: checksum mismatch in the record at byte {at}")
        yield header_end + 2 + size - pos, body
        pos = header_end + 2 + size


def _read_from(fd: int, offset: int) -> bytes:
    """Everything of the open file from `offset` to its current end."""
    size = os.fstat(fd).st_size
    chunks = []
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)
