"""The engine behind /sparql: life cycle, readiness and export; queries and writes in their own
modules.

`build_engine(settings, validator)` loads the shipped files into named graphs, replays the
journal, checks that the ontology and shapes graphs are the shipped ones and that nothing else
describes the ontology (`protection`), validates the rest (an invalid graph is never served:
`is_ready()` stays False and `not_ready_reason` says why), materialises the entailments into
`<base>graph/inferred`, and starts the query workers (`isolation`).

`OxigraphEngine` is the `Engine` protocol over pyoxigraph. It holds the state (store, worker
pool, locks, data version) and joins two sides that use it: `queries.QuerySide` (a request
prepared once, then answered from the result cache, inline or by a worker) and
`writes.WriteSide` (validated updates, other processes' journaled changes applied).
Locks, taken in this order: write (one writer), change (the asserted data and the inference
being changed; reads never wait for it), state (store changes, version, snapshots: held briefly).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from pyoxigraph import NamedNode, RdfFormat

from .admission import Bounds
from .config import Settings
from .errors import BadRequest, NotAcceptable, NotFound, NotReady
from .gate import ValidateFn, report_summary, validate_fn
from .guard import REMEMBER_TEXT_CHARS
from .inference import Materializer
from .isolation import WorkerPool
from .journal import Journal, JournalError
from .jsonld import compact_chunks
from .namespaces import CANONICAL_BASE
from .negotiation import by_name, offers
from .protection import Protection
from .queries import INLINE_MAX_S, QuerySide
from .sources import discover
from .store import MemoryStore, graph_of, prefixes_of
from .writes import WriteSide

__all__ = ["INLINE_MAX_S", "REMEMBER_TEXT_CHARS", "OxigraphEngine", "build_engine"]

LOG = logging.getLogger("lec_kg.engine")


class OxigraphEngine(QuerySide, WriteSide):
    """The `Engine` protocol over pyoxigraph (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        store: MemoryStore,
        validate: ValidateFn,
        *,
        prefixes: Mapping[str, str] | None = None,
        query_workers: int = 2,
    ) -> None:
        self.settings = settings
        base = settings.base_iri
        self.inferred_graph = f"{base}graph/inferred"
        self._ontology_prefix = f"{base}graph/ontology/"
        self._shapes_prefix = f"{base}graph/shapes/"
        self._facts_prefix = f"{base}graph/facts/"
        self._store = store
        self._validate = validate
        self._prefixes = dict(prefixes or {})
        self._write_lock = threading.Lock()  # one writer at a time
        # Held while the asserted data and the inference are being changed (a write, or applying
        # other processes' changes); reads never wait for it. Order: write, change, state.
        self._change_lock = threading.Lock()
        self._state_lock = threading.Lock()  # store changes, version, snapshots: held briefly
        self._version = 0
        self._pool = WorkerPool(
            query_workers,
            self._snapshot,
            self._state_lock,
            self._prefixes,
            memory_mb=settings.worker_memory_mb or None,  # 0: no ceiling
            bounds=_bounds(settings, query_workers),
        )
        self._ready = False
        self._reason: str | None = "not started"
        self._protection = Protection(base)  # the ontology's terms are added by `start`
        self._materializer: Materializer | None = None  # the inference, built by `start`
        self._kinds: dict[str | None, str] = {}  # graph name -> `_kind`
        self._started_at = time.time()
        self._seen: tuple[int, str, float] | None = None  # `data_version`'s last answer
        self.startup_report: Any = None
        self._init_queries()

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Check that the protected graphs are the release's and that nothing else describes
        the ontology (`protection`), validate the rest, infer, start the workers; stay not ready
        on failure, saying why."""
        self._reason = "checking the protected graphs"
        problem = self._protected_store_problem()
        if problem is not None:
            self._refuse_to_serve(problem)
            return
        self._reason = "validating the graph against the shapes"
        report = self._validate(*self._validation_data(self._store.quads()))
        self.startup_report = report
        if not report.conforms:
            self._refuse_to_serve(report_summary(report, "the shipped graph"))
            return
        self._reason = "computing the inferred graph"
        self._recompute_inference()
        self._reason = "starting the query workers"
        self._pool.start()
        self._ready = True
        self._reason = None

    @property
    def not_ready_reason(self) -> str | None:
        """Why `is_ready()` is False (None when it is True)."""
        if self._ready:
            alive = self._pool.alive
            if alive > 0:
                return None
            return (
                f"no query worker is running (0 of {self._pool.size}); they are being "
                "restarted from a snapshot of the data"
            )
        return self._reason or "not started"

    @not_ready_reason.setter
    def not_ready_reason(self, reason: str | None) -> None:
        self._reason = reason

    def _refuse_to_serve(self, reason: str) -> None:
        self._ready = False
        self._reason = reason
        LOG.error("not serving: %s", reason)

    def _protected_store_problem(self) -> str | None:
        """Why the loaded store (shipped files plus journal) may not be served, or None."""
        shipped = self._store.shipped
        for graph, digest in shipped.items():
            if self._protection.closed_graph(graph) and self._store.digest(graph) != digest:
                return (
                    f"<{graph}> differs from its shipped file (a journaled change?); the "
                    "ontology and the shapes change in their files only; it is not served"
                )
        ontology = {
            q.subject.value
            for q in self._store.quads()
            if self._kind(g := graph_of(q)) == "ontology"
            and g in shipped
            and isinstance(q.subject, NamedNode)
        }
        self._protection = Protection(self.settings.base_iri, ontology)
        problem = self._protection.store_problem(self._store.quads(), shipped)
        return None if problem is None else f"{problem}; it is not served"

    def close(self) -> None:
        """Stop the workers and release the journal."""
        self._ready = False
        self.not_ready_reason = "closed"
        self._pool.close()
        self._store.close()

    def is_ready(self) -> bool:
        return self._ready and self._pool.alive > 0

    def isolation_report(self) -> dict[str, Any]:
        """Which walls hold around the query workers (`confine`), and admission's numbers."""
        pool = self._pool
        bounds = pool.admission.bounds
        return {
            **pool.walls,
            "workers": pool.size,
            "memory_mb": pool.memory_mb,
            "long_query_slots": bounds.long_slots,
            "long_queries_per_client": bounds.long_per_client,
        }

    # ------------------------------------------------------------ export and graphs
    def export(
        self, media_type: str, graph_name: str | None = None, *, inferred: bool = False
    ) -> bytes:
        return b"".join(self.export_chunks(media_type, graph_name, inferred=inferred))

    def export_chunks(
        self,
        media_type: str,
        graph_name: str | None = None,
        *,
        inferred: bool = False,
        context: Mapping[str, Any] | None = None,
    ) -> Iterator[bytes]:
        row = by_name(media_type, "graph", "dataset")
        if row is None:
            media = media_type.split(";", 1)[0].strip().lower()
            raise NotAcceptable(
                f"the data cannot be exported as {media}",
                available=sorted(m.name for m in offers("graph", "dataset")),
            )
        fmt = RdfFormat.from_media_type(row.name)
        assert fmt is not None
        if graph_name == self.inferred_graph and not inferred:
            raise BadRequest(
                f"<{graph_name}> holds entailments, not asserted data; query it with "
                f"GRAPH <{graph_name}> {{ ... }} instead, or ask for the inferred graph"
            )
        if graph_name is not None:
            try:
                NamedNode(graph_name)
            except ValueError as exc:
                raise NotFound(f"there is no graph <{graph_name[:200]}>: {exc}") from None
        self._sync()
        with self._state_lock:  # a consistent snapshot; serializing it needs no lock
            if graph_name is None:
                quads = [q for q in self._store.quads() if graph_of(q) != self.inferred_graph]
            elif self._store.has_graph(graph_name):
                quads = list(self._store.quads(graph_name))
            else:
                raise NotFound(f"there is no graph <{graph_name}> in this store", graph=graph_name)
        one_graph = graph_name is not None  # JSON-LD of one graph: its triples, no @graph
        if fmt == RdfFormat.JSON_LD and context is not None:
            return compact_chunks(quads, context, dataset=not one_graph)
        return self._store.serialize_chunks(quads, fmt, self._prefixes, triples=one_graph)

    def graph_names(self) -> list[str]:
        self._sync()
        with self._state_lock:
            return self._store.graph_names()

    def data_version(self) -> tuple[str, float]:
        """The shipped files' digest and, with a journal, how far it was read (the same in every
        process sharing it) and its time; in memory only, this process's counter of changes
        since it started (a restart starts a new series)."""
        self._sync()
        version = self._version
        seen = self._seen
        if seen is not None and seen[0] == version:
            return seen[1], seen[2]
        shipped = hashlib.sha256(
            "".join(sorted(self._store.shipped.values())).encode("ascii")
        ).hexdigest()[:16]
        journal = self._store.journal
        if journal is not None:
            position = self._store.journal_position
            token = f"{shipped}-j{position}"
            changed = journal.path.stat().st_mtime if position != "0.0" else self._started_at
        else:
            run = hashlib.sha256(f"{id(self)}-{self._started_at}".encode()).hexdigest()[:8]
            token = f"{shipped}-m{run}-{version}"
            changed = self._started_at if version == 0 else time.time()
        self._seen = (version, token, changed)
        return token, changed

    def dump_nquads(self) -> bytes:
        """Every quad of the parent's store (inferred graph included), for tests and audits."""
        with self._state_lock:
            return self._store.snapshot()

    # ------------------------------------------------------------ internals
    def _require_ready(self) -> None:
        if not self.is_ready():
            raise NotReady(self.not_ready_reason or "the query workers are restarting")

    def _snapshot(self) -> tuple[int, bytes]:
        return self._version, self._store.snapshot()

    def _kind(self, graph: str | None) -> str:
        """default, inferred, ontology, shapes, facts, closed (any other name under a protected
        prefix: never served, see `protection`) or other."""
        kind = self._kinds.get(graph)
        if kind is None:
            kind = self._kind_of(graph)
            if len(self._kinds) < 4096:  # graph names are few; a flood is not remembered
                self._kinds[graph] = kind
        return kind

    def _kind_of(self, graph: str | None) -> str:
        if graph is None:
            return "default"
        if graph == self.inferred_graph:
            return "inferred"
        for kind, prefix in (
            ("ontology", self._ontology_prefix),
            ("shapes", self._shapes_prefix),
            ("facts", self._facts_prefix),
        ):
            if graph.startswith(prefix):
                return kind
        return "closed" if self._protection.closed_graph(graph) else "other"


def build_engine(
    settings: Settings, validator: Any = None, *, query_workers: int | None = None
) -> OxigraphEngine:
    """Load, validate, infer and start the workers; see `OxigraphEngine.not_ready_reason`.
    `query_workers` (tests, tools) overrides `settings.query_processes`: the query workers of
    one server process, shared out among `settings.workers` processes when automatic."""
    if validator is None:
        from .validation import load_validator

        validator = load_validator(settings)
    files = discover(settings.source_dir, settings.base_iri)
    journal = None if settings.data_dir is None else Journal(settings.data_dir)
    store = MemoryStore(journal)
    store.load_files(files, CANONICAL_BASE, settings.base_iri)  # SourceError if one is bad
    engine = OxigraphEngine(
        settings,
        store,
        validate_fn(validator, settings.base_iri),
        prefixes={
            name: settings.base_iri + ns[len(CANONICAL_BASE) :]
            if ns.startswith(CANONICAL_BASE)
            else ns
            for name, ns in prefixes_of(files).items()
        },
        query_workers=query_workers or settings.query_processes,
    )
    try:
        store.replay_journal()
    except JournalError as exc:
        engine.not_ready_reason = str(exc)
        LOG.error("not serving: %s", exc)
        return engine
    if settings.compact_after and store.records_replayed > settings.compact_after:
        _compact(store, settings.compact_after)
    engine.start()
    return engine


def _compact(store: MemoryStore, over: int) -> None:
    """Fold the journal into a snapshot at start (`compaction`); the data served is the same,
    so a failure (a read-only folder, a full disk) is logged and the start goes on."""
    try:
        done = store.compact(over)
    except (JournalError, OSError) as exc:
        LOG.warning("the journal was not compacted: %s", exc)
        return
    if done is not None:
        LOG.info(
            "compacted %d journaled writes into snapshot %d (%d bytes)",
            done.records,
            done.generation,
            done.snapshot_bytes,
        )


def _bounds(settings: Settings, workers: int) -> Bounds:
    """Admission's numbers: long-running slots one fewer than the workers unless set."""
    return Bounds(
        slice_s=settings.query_slice_s,
        long_slots=settings.long_query_slots or max(1, workers - 1),
        long_per_client=settings.long_queries_per_client,
        waiting=settings.max_waiting_queries,
        waiting_per_client=settings.max_waiting_per_client,
        retry_after_s=settings.retry_after_s,
    )
