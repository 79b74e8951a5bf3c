"""Admission to the query workers: bounded waiting, and few long-running queries per client.

Whether a query is heavy is not known before it runs, so every query starts alike and is judged
by how long it takes. A query still running after `slice_s` becomes long-running and must take
one of `long_slots` slots (one fewer than the workers, so one worker always turns over
quickly), at most `long_per_client` of them for one client; when it cannot, its worker is
killed and the request answered 429 (the client's own limit) or 503 (every slot taken), with a
Retry-After. A request that finds no free worker waits in a queue bounded overall (`waiting`)
and per client (`waiting_per_client`); past either bound it is refused at once in the same way
instead of waiting. A free worker goes first to the waiting request of a client that holds no
long-running query, so a client's slow queries do not hold back everyone else's cheap ones.

A client is the peer address of the request; None (the service's own requests, and updates,
which are authorized and run one at a time) takes a long-running slot without being refused,
and waits in the queue without a per-client bound.
The pool calls these methods while holding its own lock; this class does no locking.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass


class Refused(Exception):
    """A bound was reached, this client's (`per_client`: 429) or everyone's (503)."""

    def __init__(self, detail: str, *, per_client: bool, retry_after_s: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.per_client = per_client
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Bounds:
    """The numbers behind admission (see the module doc)."""

    slice_s: float = 0.5
    long_slots: int = 1
    long_per_client: int = 1
    waiting: int = 8
    waiting_per_client: int = 4
    retry_after_s: int = 2


class Admission:
    """Who waits and who runs long (see the module doc); the caller holds the pool's lock."""

    def __init__(self, bounds: Bounds) -> None:
        self.bounds = bounds
        self._long: Counter[str | None] = Counter()
        self._waiting: Counter[str | None] = Counter()
        self._seq = itertools.count()

    @property
    def long_running(self) -> int:
        return sum(self._long.values())

    @property
    def waiting(self) -> int:
        return sum(self._waiting.values())

    def join_queue(self, client: str | None) -> int:
        """Enter the queue for a worker, or Refused past a bound; the ticket orders the queue."""
        b = self.bounds
        if client is not None and self._waiting[client] >= b.waiting_per_client:
            raise self._refused(
                f"this client already has {b.waiting_per_client} queries waiting for a worker",
                per_client=True,
            )
        if self.waiting >= b.waiting:
            raise self._refused(
                f"{b.waiting} queries are already waiting for a worker", per_client=False
            )
        self._waiting[client] += 1
        return next(self._seq)

    def leave_queue(self, client: str | None) -> None:
        self._waiting[client] -= 1
        if self._waiting[client] <= 0:
            del self._waiting[client]

    def rank(self, client: str | None, ticket: int) -> tuple[int, int]:
        """Lower goes first: clients holding no long-running query, then the earlier."""
        return (self._long[client] if client is not None else 0, ticket)

    def take_long(self, client: str | None) -> None:
        """A query ran past the slice: take a long-running slot, or Refused. The requests of no
        client (authorized updates, one at a time, and the service's own queries) are counted
        but never refused: an anonymous slow query must not be able to stop a write."""
        b = self.bounds
        if client is None:
            self._long[client] += 1
            return
        if client is not None and self._long[client] >= b.long_per_client:
            raise self._refused(
                f"the query ran past {b.slice_s:g} s while this client already had "
                f"{b.long_per_client} long-running queries; it was stopped",
                per_client=True,
            )
        if self.long_running >= b.long_slots:
            raise self._refused(
                f"the query ran past {b.slice_s:g} s while {b.long_slots} long-running queries "
                "held the workers meant for them; it was stopped",
                per_client=False,
            )
        self._long[client] += 1

    def drop_long(self, client: str | None) -> None:
        self._long[client] -= 1
        if self._long[client] <= 0:
            del self._long[client]

    def _refused(self, detail: str, *, per_client: bool) -> Refused:
        return Refused(
            f"{detail}; try again later",
            per_client=per_client,
            retry_after_s=self.bounds.retry_after_s,
        )
