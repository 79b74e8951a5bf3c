"""The engine behind /sparql: pyoxigraph store, inference, isolation, safety, validated writes.

`build_engine(settings, validator)` loads the shipped files into named graphs, replays the
journal, checks that the ontology and shapes graphs are the shipped ones and that nothing else
describes the ontology (`protection`), validates the rest (an invalid graph is never served:
`is_ready()` stays False and `not_ready_reason` says why), materialises the entailments into
`<base>graph/inferred`, and starts the query workers. Queries are checked by `guard`, then run
in a worker with a deadline. Updates run one at a time: a worker applies the update to a
scratch copy of the asserted data and returns the difference; the difference must keep the
protection, its inference is computed incrementally within a budget (`inference`), and the
result is validated, all while reads go on; only then, briefly under the state lock, is the
change journaled (fsync), applied here with its inference and the workers told. A rejected
update changes nothing.

Every accepted change gives the data a new version. Two things hold for one version only: a
result kept by `result_cache`, and the knowledge that a query ran in a worker in under
INLINE_MAX_S, which lets the same query run again in this process (`query_inline`), skipping
the pipe and the thread hop; a query never measured, or measured slow, always runs in a worker.
Processes sharing a data directory (`serve --workers N`) write under the journal's lock and
apply each other's journaled changes (`_sync`) before answering, so none serves stale data.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from pyoxigraph import DefaultGraph, NamedNode, Quad, RdfFormat, parse
from rdflib import Graph
from rdflib.term import Node

from . import guard
from .admission import Bounds, Refused
from .config import Settings
from .engine_api import QueryForm, QueryRequest, QueryResult, UpdateOutcome
from .errors import (
    BadRequest,
    ForbiddenOperation,
    NotAcceptable,
    NotFound,
    NotReady,
    NotRepresentable,
    Overloaded,
    QueryOutOfMemory,
    QueryTimeout,
    QueryTooComplex,
    TooManyQueries,
    ValidationFailed,
)
from .gate import (
    ValidateFn,
    report_json,
    report_summary,
    to_rdflib,
    validate_fn,
    warnings_on,
)
from .guard import REMEMBER_TEXT_CHARS
from .inference import InferenceBudgetExceeded, Materializer, Schema
from .isolation import NoWorker, WorkerDied, WorkerOutOfMemory, WorkerPool, WorkerTimeout
from .namespaces import CANONICAL_BASE
from .protection import Protection
from .result_cache import ResultCache, cacheable
from .sources import discover
from .store import Journal, JournalError, MemoryStore, QuadStore, prefixes_of
from .worker import run_query, run_select_direct

LOG = logging.getLogger("lec_kg.engine")
RESULT_FORMATS = {
    "application/sparql-results+json": "json",
    "application/json": "json",
    "application/sparql-results+xml": "xml",
    "text/csv": "csv",
    "text/tab-separated-values": "tsv",
}
GRAPH_FORMATS = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "jsonld",
    "application/rdf+xml": "rdfxml",
}
# A query that ran in a worker in under this long may run again in-process on the same data.
INLINE_MAX_S = 0.005
INLINE_MEMORY = 4096  # query keys remembered; forgotten all at once when full


@dataclass(frozen=True)
class _Prepared:
    """A query request made ready to run: its form, the worker request, the key that names
    the work, whether it gives the same answer each time, and whether that may be kept."""

    form: QueryForm
    header: dict
    key: tuple
    deterministic: bool  # no RAND, NOW, UUID, STRUUID or BNODE
    cacheable: bool  # deterministic, short, and results are kept here (`result_cache`)
    short: bool  # at most REMEMBER_TEXT_CHARS: may be remembered at all


@dataclass(frozen=True)
class _Measured:
    """A query that ran fast in a worker: on which data version, with how many rows, and
    whether it may be serialized straight from its capped text next time."""

    version: int
    rows: int | None
    direct: bool


EXPORT_FORMATS = {
    "text/turtle": RdfFormat.TURTLE,
    "application/n-triples": RdfFormat.N_TRIPLES,
    "application/ld+json": RdfFormat.JSON_LD,
    "application/rdf+xml": RdfFormat.RDF_XML,
    "application/n-quads": RdfFormat.N_QUADS,
    "application/trig": RdfFormat.TRIG,
}


class OxigraphEngine:
    """The `Engine` protocol over pyoxigraph (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        store: QuadStore,
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
        self._limits = guard.Limits(max_chars=settings.max_query_chars)
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
        self.startup_report: Any = None
        self._inspect_cached = lru_cache(maxsize=512)(self._inspect_query)
        self._cheap: dict[tuple, _Measured] = {}  # queries that ran fast, and on what
        self._prepared_cache: dict[tuple, _Prepared] = {}
        self._results_on = settings.result_cache_bytes > 0
        self._results = ResultCache(settings.result_cache_bytes)

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
            if self._kind(g := _graph(q)) == "ontology"
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

    # ------------------------------------------------------------ queries

    def query_form(self, text: str) -> QueryForm:
        form = self._inspect(text).form
        assert form is not None
        return form

    def query(
        self, request: QueryRequest, media_type: str, client: str | None = None
    ) -> QueryResult:
        """Run in a worker (`client`, the peer address, for admission's per-client bounds)."""
        self._require_ready()
        self._sync()
        prepared = self._prepared(request, media_type)
        version = self._version
        if prepared.cacheable and (kept := self._results.get(prepared.key, version)):
            return kept
        reply, body = self._run(prepared.header, client)
        result = self._kept(prepared, version, reply, body, media_type)
        fast = reply.get("seconds", INLINE_MAX_S) < INLINE_MAX_S
        # Only a query without RAND, NOW, UUID, STRUUID or BNODE does the same work next time:
        # the cost of one with RAND() may be a lookup once and a huge join the next.
        if prepared.short and prepared.deterministic and fast:
            if len(self._cheap) >= INLINE_MEMORY:
                self._cheap.clear()
            # A complete SELECT gives the same rows again: next time it can be serialized
            # straight from the capped query, rows known.
            direct = (
                prepared.form == "select" and not reply["truncated"] and reply.get("capped", False)
            )
            self._cheap[prepared.key] = _Measured(version, reply["rows"], direct)
        return result

    def query_inline(self, request: QueryRequest, media_type: str) -> QueryResult | None:
        """The result, at once and in this thread, when it is known: kept from an earlier
        evaluation on the same data version (`result_cache`), or computed here when the very
        same query on the very same data already ran in a worker in under INLINE_MAX_S; else
        None (then call `query`).

        Same text, same dataset, same data version: same work, so such a query cannot run
        away, and it skips the pipe to a worker and the thread hop (the event loop may call
        this). New queries, slow ones, every query after a change, and every query calling a
        volatile function (RAND, NOW, UUID, STRUUID, BNODE: not the same work each time) go
        to a worker.
        """
        if not self._ready or self._store.behind():
            return None
        prepared = self._prepared(request, media_type)
        version = self._version
        if prepared.cacheable and (
            kept := self._results.get(prepared.key, version, count_miss=False)
        ):
            return kept
        if not prepared.deterministic:  # never remembered as cheap; checked here all the same
            return None
        known = self._cheap.get(prepared.key)
        if known is None or known.version != version:
            return None
        if not self._state_lock.acquire(blocking=False):
            return None
        try:
            if self._version != version:  # a change landed meanwhile
                return None
            start = time.perf_counter()
            if known.direct:
                reply = {"ok": True, "rows": known.rows, "truncated": False}
                body = run_select_direct(self._store.oxi, prepared.header)
            else:
                reply, body = run_query(self._store.oxi, prepared.header, self._prefixes)
            if time.perf_counter() - start > 4 * INLINE_MAX_S:  # not what was measured
                self._cheap.pop(prepared.key, None)
        finally:
            self._state_lock.release()
        if not reply["ok"] or body is None:
            self._cheap.pop(prepared.key, None)
            return None  # the worker path says why, as for any other query
        return self._kept(prepared, version, reply, body, media_type)

    def _kept(
        self, prepared: _Prepared, version: int, reply: dict, body: bytes, media_type: str
    ) -> QueryResult:
        """The result of an evaluation on data version `version`, kept when it may be."""
        result = QueryResult(
            prepared.form, body, _bare(media_type), bool(reply["truncated"]), reply["rows"]
        )
        if prepared.cacheable:
            text_size = len(prepared.header["text"])
            self._results.put(prepared.key, version, replace(result, cached=True), text_size)
        return result

    def result_cache_stats(self) -> dict[str, int] | None:
        """The result cache's counts (`ResultCache.stats`), or None when it is off."""
        return self._results.stats() if self._results_on else None

    def _prepared(self, request: QueryRequest, media_type: str) -> _Prepared:
        """What running a query needs (`_header`), remembered for queries over the union graph
        (the common case; a dataset's graphs are checked against the store every time)."""
        short = len(request.text) <= REMEMBER_TEXT_CHARS
        found = self._prepared_cache.get((request, media_type)) if short else None
        if found is None:
            form, header = self._header(request, media_type)
            same = cacheable(request.text)
            keep = self._results_on and same and short
            found = _Prepared(form, header, _key(header), same, keep, short)
            if header["union"] and short:
                if len(self._prepared_cache) >= INLINE_MEMORY:
                    self._prepared_cache.clear()
                self._prepared_cache[(request, media_type)] = found
        return found

    def _header(self, request: QueryRequest, media_type: str) -> tuple[QueryForm, dict]:
        """The form and the worker request of a query (400/403/406 when it cannot be run)."""
        inspection = self._inspect(request.text)
        form = inspection.form
        assert form is not None
        media = _bare(media_type)
        table = RESULT_FORMATS if form in ("select", "ask") else GRAPH_FORMATS
        if media not in table:
            raise NotAcceptable(
                f"a {form.upper()} result cannot be given as {media}", available=sorted(table)
            )
        return form, {
            "op": "query",
            "form": form,
            "text": request.text,
            "format": table[media],
            "max_rows": self.settings.max_result_rows,
            **self._dataset(inspection, request),
        }

    def _inspect(self, text: str) -> guard.Inspection:
        """The guard's verdict on a query, remembered for texts short enough to keep."""
        if len(text) > REMEMBER_TEXT_CHARS:
            return self._inspect_query(text)
        return self._inspect_cached(text)

    def _inspect_query(self, text: str) -> guard.Inspection:
        return guard.inspect(text, self._limits)

    def _dataset(self, inspection: guard.Inspection, request: QueryRequest) -> dict:
        """The protocol's graphs override the query's FROM; with neither, the union."""
        if request.default_graph_uris or request.named_graph_uris:
            default, named = request.default_graph_uris, request.named_graph_uris
            where = ("default-graph-uri", "named-graph-uri")
        elif inspection.default_graphs or inspection.named_graphs:
            default, named = inspection.default_graphs, inspection.named_graphs
            where = ("FROM", "FROM NAMED")
        else:
            return {"union": True}
        known = set(self._store.graph_names())
        guard.check_dataset(default, known, where[0])
        guard.check_dataset(named, known, where[1])
        return {"union": False, "default": list(default), "named": list(named)}

    def _run(self, header: dict, client: str | None = None) -> tuple[dict, bytes]:
        """Run a request in a worker; its failures as typed errors (see `isolation`)."""
        timeout = self.settings.query_timeout_s
        try:
            reply, body = self._pool.run(header, timeout, client)
        except WorkerTimeout as exc:
            raise QueryTimeout(
                f"the request ran longer than {timeout:g} s and was stopped", timeout_s=timeout
            ) from exc
        except NoWorker as exc:
            raise Overloaded(
                f"no query worker became free within {timeout:g} s; try again",
                retry_after_s=self.settings.retry_after_s,
            ) from exc
        except Refused as exc:
            busy = TooManyQueries if exc.per_client else Overloaded
            raise busy(exc.detail, retry_after_s=exc.retry_after_s) from exc
        except WorkerOutOfMemory as exc:
            raise QueryOutOfMemory(
                f"the query needed more memory than the {exc.memory_mb} MB a query may use; "
                "simplify it",
                memory_mb=exc.memory_mb,
            ) from exc
        except WorkerDied as exc:
            raise QueryTooComplex(
                "the engine could not evaluate this request and its worker stopped "
                f"({exc}); simplify it"
            ) from exc
        if not reply["ok"]:
            if reply["kind"] == "syntax":
                raise guard.syntax_error_from(reply["message"])
            if reply["kind"] == "unrepresentable":  # see `wellformed`
                extra = {k: reply[k] for k in ("format", "available", "formats") if k in reply}
                raise NotRepresentable(reply["message"], **extra)
            raise BadRequest(f"the request cannot be evaluated: {reply['message']}")
        return reply, body

    # ------------------------------------------------------------ updates

    def update(self, text: str) -> UpdateOutcome:
        self._require_ready()
        inspection = guard.inspect(text, self._limits, update=True)
        if self.inferred_graph in inspection.iris:
            raise ForbiddenOperation(
                f"<{self.inferred_graph}> is computed from the asserted data after every accepted "
                "update; an update may not name it",
                graph=self.inferred_graph,
            )
        known = set(self._store.graph_names())
        guard.check_dataset(inspection.default_graphs, known, "USING")
        guard.check_dataset(inspection.named_graphs, known, "USING NAMED")
        # Reads go on meanwhile: the state lock is taken only to store the finished change.
        with self._write_lock, self._store.writing(), self._change_lock:
            self._sync_locked()
            reply, payload = self._run(
                {"op": "update", "text": text, "exclude": [self.inferred_graph]}
            )
            cut = reply["removed"]
            removed = list(parse(payload[:cut], format=RdfFormat.N_QUADS))
            added = list(parse(payload[cut:], format=RdfFormat.N_QUADS))
            if any(_graph(q) == self.inferred_graph for q in added):
                raise ForbiddenOperation(
                    f"the update would write into <{self.inferred_graph}>, which only the engine "
                    "maintains; nothing was changed",
                    graph=self.inferred_graph,
                )
            self._refuse_read_only(removed, added)
            if not removed and not added:
                return UpdateOutcome(0, 0)
            if len(removed) + len(added) > self.settings.max_update_quads:
                raise QueryTooComplex(
                    f"the update would remove {len(removed):,} and add {len(added):,} quads; "
                    f"the limit for one update is {self.settings.max_update_quads:,} "
                    "(max_update_quads); split it; nothing was changed",
                    limit=self.settings.max_update_quads,
                )
            inferred = self._infer(removed, added, self.settings.inference_budget)
            assert self._materializer is not None
            committed = False
            try:
                gone = set(removed)
                candidate = [q for q in self._store.quads() if q not in gone] + added
                report = self._validate(*self._validation_data(candidate))
                if not report.conforms:
                    raise ValidationFailed(
                        report_summary(report, "the update") + "; nothing was changed",
                        report=report_json(report),
                    )
                with self._state_lock:
                    try:
                        self._store.commit(removed, added, note=text)
                    except (JournalError, OSError) as exc:  # nothing was applied
                        raise NotReady(f"the change could not be made durable: {exc}") from exc
                    committed = True
                    self._publish(removed, added, *inferred)
            except BaseException:
                if not committed:  # else the materializer holds what the store now holds
                    self._materializer.rollback()
                raise
            finally:
                self._materializer.commit()
        return UpdateOutcome(len(added), len(removed), warnings_on(report, removed + added))

    def _infer(self, removed: list[Quad], added: list[Quad], budget: int | None) -> tuple[set, set]:
        """How the inferred graph changes with this change of the asserted data: computed now
        (pending in the materializer until it commits or rolls back), stored by `_publish`."""
        assert self._materializer is not None
        try:
            return self._materializer.change(
                [_triple(q) for q in removed if self._inferable(q)],
                [_triple(q) for q in added if self._inferable(q)],
                budget,
            )
        except InferenceBudgetExceeded as exc:
            raise QueryTooComplex(
                f"the update would change more than {exc.budget:,} inferred triples, the limit "
                "for one update (inference_budget); split it into smaller updates; nothing was "
                "changed",
                budget=exc.budget,
            ) from exc

    def _publish(self, removed: list[Quad], added: list[Quad], gone: set, new: set) -> None:
        """Store the inferred graph's change and tell the workers (caller holds state_lock)."""
        inf_removed, inf_added = self._store.apply_derived(self.inferred_graph, gone, new)
        self._version += 1
        self._pool.publish(
            self._version, _nquads(removed + inf_removed), _nquads(added + inf_added)
        )

    # ------------------------------------------------------------ export and graphs

    def _refuse_read_only(self, removed: list[Quad], added: list[Quad]) -> None:
        """The ontology and shapes change in the repository's files, never by an update, and
        nothing outside them may describe the ontology or add schema (`protection`)."""
        self._protection.refuse_change(removed, added)

    def export(self, media_type: str, graph_name: str | None = None) -> bytes:
        media = _bare(media_type)
        fmt = EXPORT_FORMATS.get(media)
        if fmt is None:
            raise NotAcceptable(
                f"the data cannot be exported as {media}", available=sorted(EXPORT_FORMATS)
            )
        if graph_name == self.inferred_graph:
            raise BadRequest(
                f"<{graph_name}> holds entailments, not asserted data; query it with "
                f"GRAPH <{graph_name}> {{ ... }} instead"
            )
        self._sync()
        with self._state_lock:
            if graph_name is None:
                quads = [q for q in self._store.quads() if _graph(q) != self.inferred_graph]
            elif self._store.has_graph(graph_name):
                quads = list(self._store.quads(graph_name))
            else:
                raise NotFound(f"there is no graph <{graph_name}> in this store", graph=graph_name)
        one_graph = graph_name is not None  # JSON-LD of one graph: its triples, no @graph
        return self._store.serialize(quads, fmt, self._prefixes, triples=one_graph)

    def graph_names(self) -> list[str]:
        self._sync()
        with self._state_lock:
            return self._store.graph_names()

    def dump_nquads(self) -> bytes:
        """Every quad of the parent's store (inferred graph included), for tests and audits."""
        with self._state_lock:
            return self._store.snapshot()

    # ------------------------------------------------------------ internals

    def _sync(self) -> None:
        """Apply what other processes sharing the data directory committed (one stat when
        nothing changed), with its inference, and tell the workers."""
        if not self._store.behind():
            return
        with self._change_lock:
            self._sync_locked()

    def _sync_locked(self) -> None:
        """`_sync` for a caller that holds change_lock. A journaled change is checked against
        the protection again (it was validated by the process that made it); one that breaks
        it is not applied, and this process stops serving, saying why."""
        changes = self._store.pending()
        if not changes:
            return
        removed, added = self._net(changes)
        try:
            self._protection.refuse_change(removed, added)
        except (ForbiddenOperation, ValidationFailed) as exc:
            reason = f"a change journaled by another process: {exc.detail}"
            self._refuse_to_serve(reason)
            raise NotReady(reason) from exc
        if self._materializer is None:  # not started: nothing is served or inferred yet
            with self._state_lock:
                self._store.apply_pending(changes)
            return
        inferred = self._infer(removed, added, None)  # it passed the writer's budget
        try:
            with self._state_lock:
                self._store.apply_pending(changes)
                self._publish(removed, added, *inferred)
        except BaseException:
            self._materializer.rollback()
            raise
        self._materializer.commit()
        LOG.info("applied %d change(s) made by another process", len(changes))

    def _net(self, changes: list[tuple[list[Quad], list[Quad]]]) -> tuple[list[Quad], list[Quad]]:
        """The quads a run of changes removes from and adds to the store, all told."""
        before: dict[Quad, bool] = {}
        after: dict[Quad, bool] = {}
        for removed, added in changes:
            for present, quads in ((False, removed), (True, added)):
                for q in quads:
                    if q not in before:
                        before[q] = self._store.contains(q)
                    after[q] = present
        return (
            [q for q, now in after.items() if before[q] and not now],
            [q for q, now in after.items() if now and not before[q]],
        )

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

    def _inferable(self, q: Quad) -> bool:
        """True for a quad the inference reads: asserted, and not a shape."""
        return self._kind(_graph(q)) not in ("shapes", "inferred")

    def _recompute_inference(self) -> tuple[list[Quad], list[Quad]]:
        """Read the schema from the ontology graphs (once: no write may change it) and
        materialise the entailments of everything but the shapes, from scratch."""
        schema = Schema(
            _triple(q) for q in self._store.quads() if self._kind(_graph(q)) == "ontology"
        )
        self._materializer = Materializer(
            schema, (_triple(q) for q in self._store.quads() if self._inferable(q))
        )
        with self._state_lock:
            return self._store.replace_derived(self.inferred_graph, self._materializer.inferred())

    def _validation_data(self, quads: Iterable[Quad]) -> tuple[Graph, dict[Node, str]]:
        """The data the shapes judge: every graph served but three. The ontology and the shapes
        are the release's own (checked against the shipped files by `start`, closed to writes);
        the inferred graph is computed from the graphs judged here."""
        g = Graph()
        source_of: dict[Node, str] = {}
        for q in quads:
            graph = _graph(q)
            if self._kind(graph) in ("ontology", "shapes", "inferred"):
                continue
            s = to_rdflib(q.subject)
            g.add((s, to_rdflib(q.predicate), to_rdflib(q.object)))
            if s not in source_of:
                source_of[s] = self._source_name(graph)
        return g, source_of

    def _source_name(self, graph: str | None) -> str:
        if graph is None:
            return "(default graph)"
        if graph.startswith(self._facts_prefix):
            return f"graph/{graph[len(self._facts_prefix) :]}.ttl"
        return f"<{graph}>"


def build_engine(
    settings: Settings, validator: Any = None, *, query_workers: int | None = None
) -> OxigraphEngine:
    """Load, validate, infer and start the workers; see `OxigraphEngine.not_ready_reason`."""
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
        query_workers=query_workers or max(2, os.cpu_count() or 2),
    )
    try:
        store.replay_journal()
    except JournalError as exc:
        engine.not_ready_reason = str(exc)
        LOG.error("not serving: %s", exc)
        return engine
    engine.start()
    return engine


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


def _graph(q: Quad) -> str | None:
    g = q.graph_name
    return None if isinstance(g, DefaultGraph) else g.value


def _triple(q: Quad) -> tuple:
    return (q.subject, q.predicate, q.object)


def _key(header: dict) -> tuple:
    """What makes two query requests the same work: text, format, dataset, row cap."""
    return (
        header["text"],
        header["format"],
        header["max_rows"],
        header["union"],
        tuple(header.get("default", ())),
        tuple(header.get("named", ())),
    )


def _bare(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def _nquads(quads: list[Quad]) -> bytes:
    return "".join(f"{q} .\n" for q in quads).encode("utf-8")
