"""The contract between the HTTP layer (routes) and the engine (store, inference, safety).

Routes depend on this protocol only, so that another store backend slots in behind it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

QueryForm = Literal["select", "ask", "construct", "describe"]


@dataclass(frozen=True)
class QueryRequest:
    """One SPARQL query with its protocol parameters."""

    text: str
    default_graph_uris: tuple[str, ...] = ()
    named_graph_uris: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class PreparedQuery:
    """A query request read once (`Engine.prepare`): its form, its dataset as checked, and
    whether it gives the same answer each time; handed back to `query_inline` and `query`, so a
    request is inspected, checked and keyed once however it is answered."""

    request: QueryRequest
    form: QueryForm
    dataset: dict[str, Any]  # {"union": True}, or the graphs {"default": [...], "named": [...]}
    deterministic: bool  # no RAND, NOW, UUID, STRUUID or BNODE
    short: bool  # short enough to be remembered (results, speed)
    plans: dict[str, Any] = field(default_factory=dict)  # per media type, the engine's own


@dataclass(frozen=True)
class QueryResult:
    """A query's result, already serialized in the negotiated media type."""

    form: QueryForm
    body: bytes
    media_type: str
    truncated: bool = False  # True when the result-size cap cut the result
    rows: int | None = None  # solutions or triples returned
    cached: bool = False  # True when kept from an earlier evaluation on the same data


@dataclass(frozen=True)
class UpdateOutcome:
    """What an accepted update changed (quads added and removed)."""

    added: int
    removed: int
    warnings: tuple[str, ...] = field(default_factory=tuple)


class Engine(Protocol):
    """What the routes need from the store behind them."""

    not_ready_reason: str | None  # why is_ready() is False; None once ready
    startup_report: Any  # the ValidationReport of the shipped graph, once judged

    def is_ready(self) -> bool:
        """True once the graph is loaded and has passed the shapes."""

    def prepare(self, request: QueryRequest) -> PreparedQuery:
        """Read the request once: its form and dataset; raises QuerySyntaxError,
        ForbiddenOperation, BadRequest (a graph the store does not have)."""

    def query_form(self, text: str) -> QueryForm:
        """Parse the query and say its form; raises QuerySyntaxError / ForbiddenOperation."""

    def query(
        self, request: QueryRequest | PreparedQuery, media_type: str, client: str | None = None
    ) -> QueryResult:
        """Run a query and serialize its result; raises QueryTimeout, ForbiddenOperation, ...
        `client` (the peer address) is what the per-client bounds count (429 past them)."""

    def query_inline(
        self, request: QueryRequest | PreparedQuery, media_type: str
    ) -> QueryResult | None:
        """The result at once, in the caller's thread, when the engine knows the query to be
        cheap on the current data; else None (then call `query`, off the event loop)."""

    def result_cache_stats(self) -> dict[str, int] | None:
        """Hits, misses, bytes and entries of the result cache; None when there is none."""

    def isolation_report(self) -> dict[str, Any]:
        """Which walls hold around the processes that evaluate queries (for /ready)."""

    def update(
        self,
        text: str,
        using: Sequence[str] = (),
        using_named: Sequence[str] = (),
        *,
        record: Callable[[Sequence[Any], Sequence[Any]], list[Any]] | None = None,
    ) -> UpdateOutcome:
        """Apply a SPARQL update, validate the result, commit or roll back (ValidationFailed);
        `using` / `using_named`: the Protocol's using-graph-uri / using-named-graph-uri;
        `record(removed, added)` gives quads committed with the change (who, when, what), and
        may refuse it."""

    def change(
        self,
        removed: Sequence[Any],
        added: Sequence[Any],
        *,
        note: str,
        what: str,
        record: Callable[[Sequence[Any], Sequence[Any]], list[Any]] | None = None,
        submission: str | None = None,
    ) -> UpdateOutcome:
        """Commit a change given as quads (removed, added) with the same checks, validation and
        durability as an update; a rejected change leaves the store as it was. A quad both
        removed and added stays. `record` as for `update`; `submission`: the one submission
        graph the submissions machinery creates or removes (no other write may touch one)."""

    def check(self, removed: Sequence[Any], added: Sequence[Any]) -> Any:
        """The validation report `change` would act on, nothing written (a dry run): the
        findings of the change, on the nodes it can affect (see `focused`)."""

    def export(
        self, media_type: str, graph_name: str | None = None, *, inferred: bool = False
    ) -> bytes:
        """The asserted data, whole (the inferred graph left out) or one named graph; the
        inferred graph itself only when named with `inferred=True` (else BadRequest)."""

    def export_chunks(
        self,
        media_type: str,
        graph_name: str | None = None,
        *,
        inferred: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> Iterator[bytes]:
        """`export` as a stream of chunks; the graph is checked (NotFound, BadRequest) and its
        data taken before this returns. JSON-LD with a `context` (an object, never a URL) is
        written compacted with it (`jsonld`), else expanded."""

    def graph_names(self) -> list[str]:
        """The named graphs in the store."""

    def data_version(self) -> tuple[str, float]:
        """The data's version as an opaque token that every accepted write changes (the same in
        every process sharing the data directory), and when it last changed (POSIX seconds)."""

    def close(self) -> None:
        """Stop the query workers and release the store's files."""
