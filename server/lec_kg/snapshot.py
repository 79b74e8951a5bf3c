"""Snapshot files: the journal's changes up to a compaction, folded into one, checksummed.

A snapshot (`snapshot-<generation>.lecs` in the data directory) holds, for every quad the
journal ever touched, its last word: removed (the last change touching it removed it) or added.
One header line, `LECS1 <generation> <removed bytes> <added bytes> <sha256 of the rest>`, then
the removed and the added quads as N-Quads. A file whose header, length or checksum does not
match (torn, garbled, truncated) is a `SnapshotError`; so is one whose checksum is not the one
the journal that builds on it expects (`journal`). Files are written whole or not at all
(`write_atomically`: a temporary file, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

_MAGIC = b"LECS1"


class SnapshotError(RuntimeError):
    """A snapshot file is missing, torn or garbled."""


@dataclass(frozen=True)
class Snapshot:
    """The folded changes: quads whose last word was removal, and those whose last was addition
    (N-Quads text each), and the generation they close."""

    generation: int
    removed: str
    added: str


def file_name(generation: int) -> str:
    return f"snapshot-{generation}.lecs"


def encode(snapshot: Snapshot) -> tuple[bytes, str]:
    """The file's bytes and the checksum the journal's marker records."""
    removed = snapshot.removed.encode("utf-8")
    added = snapshot.added.encode("utf-8")
    digest = hashlib.sha256(removed + added).hexdigest()
    header = b"%s %d %d %d %s\n" % (
        _MAGIC,
        snapshot.generation,
        len(removed),
        len(added),
        digest.encode(),
    )
    return header + removed + added, digest


def read(path: Path, generation: int, digest: str) -> Snapshot:
    """The snapshot at `path`, checked whole against its header and against the `generation` and
    `digest` the journal expects; SnapshotError naming the file and what is wrong."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise SnapshotError(f"{path} is missing") from exc
    end = data.find(b"\n")
    parts = data[:end].split(b" ") if end >= 0 else []
    if (
        len(parts) != 5
        or parts[0] != _MAGIC
        or not all(p.isdigit() for p in parts[1:4])
        or len(parts[4]) != 64
    ):
        raise SnapshotError(f"{path}: damaged header (not a lec-kg snapshot, or torn)")
    gen, n_removed, n_added = (int(p) for p in parts[1:4])
    body = data[end + 1 :]
    if len(body) != n_removed + n_added:
        raise SnapshotError(
            f"{path}: {len(body):,} bytes after the header where {n_removed + n_added:,} were "
            "written (torn or truncated)"
        )
    actual = hashlib.sha256(body).hexdigest()
    if actual.encode() != parts[4] or actual != digest:
        raise SnapshotError(f"{path}: checksum mismatch (the file is damaged)")
    if gen != generation:
        raise SnapshotError(f"{path}: holds generation {gen}, the journal expects {generation}")
    try:
        return Snapshot(gen, body[:n_removed].decode("utf-8"), body[n_removed:].decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SnapshotError(f"{path}: not UTF-8 (the file is damaged)") from exc


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, all of it or (after a crash at any point) the old file or none: written
    to a temporary file, fsync'ed, renamed over `path`, and the directory fsync'ed."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(partial, path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make the directory's entries (a file created, renamed or removed) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
