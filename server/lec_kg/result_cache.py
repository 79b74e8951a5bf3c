"""Serialized query results, kept for the data version they were computed on.

The store changes only through accepted updates (and the changes of other processes sharing the
journal), each of which gives the data a new version number. Between two versions the data is
fixed, so the same query text, over the same dataset, in the same format and under the same row
cap, has the same answer: it is kept here and given again until the version changes, when
everything kept is dropped at once. Queries whose answer changes from one evaluation to the
next (RAND, NOW, UUID, STRUUID, BNODE) are never kept. Bounded by the bytes of the bodies kept
(least recently used go first); a body larger than an eighth of the bound is never kept.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Hashable

from .engine_api import QueryResult

VOLATILE = re.compile(r"\b(?:RAND|NOW|UUID|STRUUID|BNODE)\s*\(", re.IGNORECASE)


def cacheable(text: str) -> bool:
    """False when the query calls a function whose value changes between evaluations."""
    return VOLATILE.search(text) is None


class ResultCache:
    """Results by key, for one data version at a time (see the module doc)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, QueryResult] = OrderedDict()
        self._bytes = 0
        self._version = -1
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: int) -> QueryResult | None:
        """The result kept for `key` on data version `version`, if any."""
        with self._lock:
            if version != self._version:
                self._reset(version)
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: Hashable, version: int, result: QueryResult) -> None:
        """Keep `result`, computed on data version `version` (ignored if that is not current)."""
        size = len(result.body)
        if size > self.max_bytes // 8:
            return
        with self._lock:
            if version > self._version:
                self._reset(version)
            elif version < self._version:
                return  # computed on data that has changed since
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = result
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, gone = self._entries.popitem(last=False)
                self._bytes -= len(gone.body)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def _reset(self, version: int) -> None:
        self._entries.clear()
        self._bytes = 0
        self._version = version
