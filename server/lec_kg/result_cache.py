"""Serialized query results, kept for the data version they were computed on.

The store changes only through accepted updates (and the changes of other processes sharing the
journal), each of which gives the data a new version number. Between two versions the data is
fixed, so the same query text, over the same dataset, in the same format and under the same row
cap, has the same answer: it is kept here and given again until the version changes, when
everything kept is dropped at once. Queries whose answer changes from one evaluation to the
next (RAND, NOW, UUID, STRUUID, BNODE) are never kept. Bounded by the bytes of the bodies kept
and of the query texts naming them (least recently used go first); an entry larger than an
eighth of the bound is never kept.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Hashable

from .engine_api import QueryResult

ENTRY_OVERHEAD = 256  # bytes an entry costs beyond its body and key text, roughly
VOLATILE = re.compile(r"\b(?:RAND|NOW|UUID|STRUUID|BNODE)\s*\(", re.IGNORECASE)


def cacheable(text: str) -> bool:
    """False when the query calls a function whose value changes between evaluations."""
    return VOLATILE.search(text) is None


class ResultCache:
    """Results by key, for one data version at a time (see the module doc)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, tuple[QueryResult, int]] = OrderedDict()
        self._bytes = 0
        self._version = -1
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: int, *, count_miss: bool = True) -> QueryResult | None:
        """The result kept for `key` on data version `version`, if any. `count_miss=False`
        for a look that another will follow if it fails (a request counts one miss)."""
        with self._lock:
            if version != self._version:
                self._reset(version)
            found = self._entries.get(key)
            if found is None:
                self.misses += count_miss
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found[0]

    def put(self, key: Hashable, version: int, result: QueryResult, key_size: int = 0) -> None:
        """Keep `result`, computed on data version `version` (ignored if that is not current);
        `key_size`: the bytes the key holds (its query text), counted against the bound."""
        size = len(result.body) + key_size + ENTRY_OVERHEAD
        if size > self.max_bytes // 8:
            return
        with self._lock:
            if version > self._version:
                self._reset(version)
            elif version < self._version:
                return  # computed on data that has changed since
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (result, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, gone) = self._entries.popitem(last=False)
                self._bytes -= gone

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def stats(self) -> dict[str, int]:
        """Hits and misses so far, and the bytes and entries kept now."""
        with self._lock:
            return {
                "hits": self.hits,
                "misses": self.misses,
                "bytes": self._bytes,
                "entries": len(self._entries),
            }

    def _reset(self, version: int) -> None:
        self._entries.clear()
        self._bytes = 0
        self._version = version
