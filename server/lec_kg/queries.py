"""The engine's query side: a request prepared once, then answered from memory, inline or by a
worker.

`prepare` reads a request once: the guard's inspection (`guard`: form, forbidden operations,
FROM graphs), the dataset (the protocol's graphs override the query's FROM; with neither, the
union; named graphs are checked against the store) and whether the query gives the same answer
each time (no RAND, NOW, UUID, STRUUID or BNODE). The route negotiates with the prepared form,
then hands the same `PreparedQuery` to `query_inline` and, when that says None, to `query`:
nothing is inspected, checked or keyed twice. A prepared query remembers, per media type, the
request a worker gets and the key that names the work (`_plan`).

Every accepted change gives the data a new version. Two things hold for one version only: a
result kept by `result_cache`, and the knowledge that a query ran in a worker in under
INLINE_MAX_S, which lets the same query run again in this process (`query_inline`), skipping
the pipe and the thread hop; a query never measured, or measured slow, always runs in a worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import guard
from .admission import Refused
from .config import Settings
from .engine_api import PreparedQuery, QueryForm, QueryRequest, QueryResult
from .errors import (
    BadRequest,
    NotAcceptable,
    NotRepresentable,
    Overloaded,
    QueryOutOfMemory,
    QueryTimeout,
    QueryTooComplex,
    TooManyQueries,
)
from .guard import REMEMBER_TEXT_CHARS
from .isolation import NoWorker, WorkerDied, WorkerOutOfMemory, WorkerPool, WorkerTimeout
from .negotiation import FORM_KIND, by_name, offers
from .result_cache import ResultCache, cacheable
from .store import MemoryStore
from .worker import run_query, run_select_direct

# A query that ran in a worker in under this long may run again in-process on the same data.
INLINE_MAX_S = 0.005
INLINE_MEMORY = 4096  # prepared queries and query keys remembered; forgotten at once when full
INSPECTION_MEMORY = 512  # guard inspections remembered (queries with a dataset are not prepared)


@dataclass(frozen=True)
class _Plan:
    """A prepared query in one format: the worker request and the key that names the work."""

    header: dict
    key: tuple
    media_type: str  # the table's canonical name


@dataclass(frozen=True)
class _Measured:
    """A query that ran fast in a worker: on which data version, with how many rows, and
    whether it may be serialized straight from its capped text next time."""

    version: int
    rows: int | None
    direct: bool


class QuerySide:
    """Queries of `OxigraphEngine` (see the module doc); the engine holds the state below."""

    settings: Settings
    _store: MemoryStore
    _pool: WorkerPool
    _state_lock: threading.Lock
    _version: int
    _ready: bool
    _prefixes: dict[str, str]
    _require_ready: Callable[[], None]  # the engine's
    _sync: Callable[[], None]  # the write side's: other processes' changes applied

    def _init_queries(self) -> None:
        self._limits = guard.Limits(max_chars=self.settings.max_query_chars)
        # Relative IRIs resolve against the service's base IRI, the endpoint's (SPARQL 1.1
        # Query §4.1.1; the same IRI as `routes.deps.endpoint_iri`), in the guard and the worker.
        self._base_iri = f"{self.settings.public_base}/sparql"
        self._inspections: dict[str, guard.Inspection] = {}  # short texts, union or not
        self._prepared_cache: dict[QueryRequest, PreparedQuery] = {}
        self._cheap: dict[tuple, _Measured] = {}  # queries that ran fast, and on what
        self._results_on = self.settings.result_cache_bytes > 0
        self._results = ResultCache(self.settings.result_cache_bytes)

    # ------------------------------------------------------------ preparing

    def prepare(self, request: QueryRequest) -> PreparedQuery:
        """Read a query request once (see the module doc); 400/403 when it cannot be run.
        Remembered for short queries over the union graph; a dataset is checked every time."""
        short = len(request.text) <= REMEMBER_TEXT_CHARS
        found = self._prepared_cache.get(request) if short else None
        if found is not None:
            return found
        inspection = self._inspect(request.text, short)
        form = inspection.form
        assert form is not None
        dataset = self._dataset(inspection, request)
        found = PreparedQuery(request, form, dataset, cacheable(request.text), short)
        if dataset["union"] and short:
            if len(self._prepared_cache) >= INLINE_MEMORY:
                self._prepared_cache.clear()
            self._prepared_cache[request] = found
        return found

    def query_form(self, text: str) -> QueryForm:
        return self.prepare(QueryRequest(text)).form

    def _inspect(self, text: str, short: bool) -> guard.Inspection:
        """The guard's verdict on a query text, remembered for texts short enough to keep."""
        found = self._inspections.get(text) if short else None
        if found is None:
            found = guard.inspect(text, self._limits, base=self._base_iri)
            if short:
                if len(self._inspections) >= INSPECTION_MEMORY:
                    self._inspections.clear()
                self._inspections[text] = found
        return found

    def _dataset(self, inspection: guard.Inspection, request: QueryRequest) -> dict[str, Any]:
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
        if self._store.behind() and not known.issuperset((*default, *named)):
            self._sync()  # another process may have made the graph: apply its changes first
            known = set(self._store.graph_names())
        guard.check_dataset(default, known, where[0])
        guard.check_dataset(named, known, where[1])
        return {"union": False, "default": list(default), "named": list(named)}

    def _plan(self, prepared: PreparedQuery, media_type: str) -> _Plan:
        """The worker request and key of `prepared` in `media_type` (406 when its form cannot
        be given so), made once per prepared query and format."""
        plan = prepared.plans.get(media_type)
        if plan is not None:
            return plan
        form = prepared.form
        row = by_name(media_type, FORM_KIND[form])
        if row is None:
            raise NotAcceptable(
                f"a {form.upper()} result cannot be given as {media_type.split(';')[0]}",
                available=[m.name for m in offers(FORM_KIND[form])],
            )
        max_rows = self.settings.max_result_rows
        header = {
            "op": "query",
            "form": form,
            "text": prepared.request.text,
            "format": row.key,
            "max_rows": max_rows,
            "base": self._base_iri,
            **prepared.dataset,
        }
        ds = prepared.dataset
        key = (
            prepared.request.text,
            row.key,
            max_rows,
            ds["union"],
            tuple(ds.get("default", ())),
            tuple(ds.get("named", ())),
        )
        plan = _Plan(header, key, row.name)
        if len(prepared.plans) < 16:  # a few formats per query at most
            prepared.plans[media_type] = plan
        return plan

    def _prepared(self, request: QueryRequest | PreparedQuery) -> PreparedQuery:
        return request if isinstance(request, PreparedQuery) else self.prepare(request)

    # ------------------------------------------------------------ answering

    def query(
        self,
        request: QueryRequest | PreparedQuery,
        media_type: str,
        client: str | None = None,
    ) -> QueryResult:
        """Run in a worker (`client`, the peer address, for admission's per-client bounds)."""
        self._require_ready()
        self._sync()
        prepared = self._prepared(request)
        plan = self._plan(prepared, media_type)
        keep = self._results_on and prepared.deterministic and prepared.short
        version = self._version
        if keep and (kept := self._results.get(plan.key, version)):
            return kept
        reply, body = self._run(plan.header, client)
        result = self._kept(prepared, plan, version, reply, body)
        fast = reply.get("seconds", INLINE_MAX_S) < INLINE_MAX_S
        # Only a query without RAND, NOW, UUID, STRUUID or BNODE does the same work next time:
        # the cost of one with RAND() may be a lookup once and a huge join the next.
        if prepared.short and prepared.deterministic and fast:
            if len(self._cheap) >= INLINE_MEMORY:
                self._cheap.clear()
            # A complete SELECT gives the same rows again: next time it can be serialized
            # straight from the capped query, rows known.
            direct = prepared.form == "select" and not reply["truncated"] and reply.get("capped")
            self._cheap[plan.key] = _Measured(version, reply["rows"], bool(direct))
        return result

    def query_inline(
        self, request: QueryRequest | PreparedQuery, media_type: str
    ) -> QueryResult | None:
        """The result, at once and in this thread, when it is known: kept from an earlier
        evaluation on the same data version (`result_cache`), or computed here when the very
        same query on the very same data already ran in a worker in under INLINE_MAX_S; else
        None (then call `query` with the same prepared query).

        Same text, same dataset, same data version: same work, so such a query cannot run
        away, and it skips the pipe to a worker and the thread hop (the event loop may call
        this). New queries, slow ones, every query after a change, and every query calling a
        volatile function (RAND, NOW, UUID, STRUUID, BNODE: not the same work each time) go
        to a worker.
        """
        if not self._ready or self._store.behind():
            return None
        prepared = self._prepared(request)
        if not prepared.deterministic:  # never kept nor remembered as cheap
            return None
        plan = self._plan(prepared, media_type)
        version = self._version
        keep = prepared.short and self._results_on
        if keep and (kept := self._results.get(plan.key, version, count_miss=False)):
            return kept
        known = self._cheap.get(plan.key)
        if known is None or known.version != version:
            return None
        if not self._state_lock.acquire(blocking=False):
            return None
        try:
            if self._version != version:  # a change landed meanwhile
                return None
            if prepared.dataset["union"] and self._store.restates():
                return None  # here the union is read graph by graph: a worker's is a set
            start = time.perf_counter()
            if known.direct:
                reply = {"ok": True, "rows": known.rows, "truncated": False}
                body = run_select_direct(self._store.oxi, plan.header)
            else:
                reply, body = run_query(self._store.oxi, plan.header, self._prefixes)
            if time.perf_counter() - start > 4 * INLINE_MAX_S:  # not what was measured
                self._cheap.pop(plan.key, None)
        finally:
            self._state_lock.release()
        if not reply["ok"] or body is None:
            self._cheap.pop(plan.key, None)
            return None  # the worker path says why, as for any other query
        return self._kept(prepared, plan, version, reply, body)

    def _kept(
        self, prepared: PreparedQuery, plan: _Plan, version: int, reply: dict, body: bytes
    ) -> QueryResult:
        """The result of an evaluation on data version `version`, kept when it may be."""
        result = QueryResult(
            prepared.form, body, plan.media_type, bool(reply["truncated"]), reply["rows"]
        )
        if self._results_on and prepared.deterministic and prepared.short:
            text_size = len(prepared.request.text)
            self._results.put(plan.key, version, replace(result, cached=True), text_size)
        return result

    def result_cache_stats(self) -> dict[str, int] | None:
        """The result cache's counts (`ResultCache.stats`), or None when it is off."""
        return self._results.stats() if self._results_on else None

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
