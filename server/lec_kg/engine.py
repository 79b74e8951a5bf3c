"""The engine behind /sparql: pyoxigraph store, inference, isolation, safety, validated writes.

`build_engine(settings, validator)` loads the shipped files into named graphs, replays the
journal, validates the asserted data (an invalid graph is never served: `is_ready()` stays False
and `not_ready_reason` says why), materialises the entailments into `<base>graph/inferred`, and
starts the query workers. Queries are checked by `guard`, then run in a worker with a deadline.
Updates run one at a time: a worker applies the update to a scratch copy of the asserted data
and returns the difference; the result is validated; only then is the change journaled (fsync),
applied here, the inference recomputed and the workers told. A rejected update changes nothing.

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

from pyoxigraph import DefaultGraph, Quad, RdfFormat, parse
from rdflib import Graph
from rdflib.term import Node

from . import guard
from .config import Settings
from .engine_api import QueryForm, QueryRequest, QueryResult, UpdateOutcome
from .errors import (
    BadRequest,
    ForbiddenOperation,
    NotAcceptable,
    NotFound,
    NotReady,
    QueryTimeout,
    QueryTooComplex,
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
from .inference import entailments
from .isolation import NoWorker, WorkerDied, WorkerPool, WorkerTimeout
from .namespaces import CANONICAL_BASE
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
        self._state_lock = threading.Lock()  # store changes, version, snapshots
        self._version = 0
        self._pool = WorkerPool(query_workers, self._snapshot, self._state_lock, self._prefixes)
        self._ready = False
        self.not_ready_reason: str | None = "not started"
        self._read_only: set[str] = set()  # the shipped ontology and shapes graphs
        self.startup_report: Any = None
        self._inspect_cached = lru_cache(maxsize=512)(self._inspect_query)
        self._cheap: dict[tuple, _Measured] = {}  # queries that ran fast, and on what
        self._prepared_cache: dict[tuple, _Prepared] = {}
        self._results_on = settings.result_cache_bytes > 0
        self._results = ResultCache(settings.result_cache_bytes)

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Validate the asserted data, infer, start the workers; stay not ready on failure."""
        shipped = (self._ontology_prefix, self._shapes_prefix)
        self._read_only = {g for g in self._store.graph_names() if g.startswith(shipped)}
        report = self._validate(*self._validation_data(self._store.quads()))
        self.startup_report = report
        if not report.conforms:
            self.not_ready_reason = report_summary(report, "the shipped graph")
            LOG.error("not serving: %s", self.not_ready_reason)
            return
        with self._state_lock:
            self._recompute_inference()
        self._pool.start()
        self._ready = True
        self.not_ready_reason = None

    def close(self) -> None:
        """Stop the workers and release the journal."""
        self._ready = False
        self.not_ready_reason = "closed"
        self._pool.close()
        self._store.close()

    def is_ready(self) -> bool:
        return self._ready and self._pool.alive > 0

    # ------------------------------------------------------------ queries

    def query_form(self, text: str) -> QueryForm:
        form = self._inspect(text).form
        assert form is not None
        return form

    def query(self, request: QueryRequest, media_type: str) -> QueryResult:
        self._require_ready()
        self._sync()
        prepared = self._prepared(request, media_type)
        version = self._version
        if prepared.cacheable and (kept := self._results.get(prepared.key, version)):
            return kept
        reply, body = self._run(prepared.header)
        result = self._kept(prepared, version, reply, body, media_type)
        if prepared.short and reply.get("seconds", INLINE_MAX_S) < INLINE_MAX_S:
            if len(self._cheap) >= INLINE_MEMORY:
                self._cheap.clear()
            # A complete SELECT without random or clock functions gives the same rows again:
            # next time it can be serialized straight from the capped query, rows known.
            direct = (
                prepared.form == "select"
                and not reply["truncated"]
                and reply.get("capped", False)
                and prepared.deterministic
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
        this). New queries, slow ones, and every query after a change go to a worker.
        """
        if not self._ready or self._store.behind():
            return None
        prepared = self._prepared(request, media_type)
        version = self._version
        if prepared.cacheable and (
            kept := self._results.get(prepared.key, version, count_miss=False)
        ):
            return kept
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

    def _run(self, header: dict) -> tuple[dict, bytes]:
        timeout = self.settings.query_timeout_s
        try:
            reply, body = self._pool.run(header, timeout)
        except WorkerTimeout as exc:
            raise QueryTimeout(
                f"the request ran longer than {timeout:g} s and was stopped", timeout_s=timeout
            ) from exc
        except NoWorker as exc:
            raise QueryTimeout(
                f"no query worker became free within {timeout:g} s; try again", timeout_s=timeout
            ) from exc
        except WorkerDied as exc:
            raise QueryTooComplex(
                "the engine could not evaluate this request and its worker stopped "
                f"({exc}); simplify it"
            ) from exc
        if not reply["ok"]:
            if reply["kind"] == "syntax":
                raise guard.syntax_error_from(reply["message"])
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
        with self._write_lock, self._store.writing():
            self._sync()
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
            self._refuse_read_only(removed + added)
            if not removed and not added:
                return UpdateOutcome(0, 0)
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
                inf_removed, inf_added = self._recompute_inference()
                self._version += 1
                self._pool.publish(
                    self._version, _nquads(removed + inf_removed), _nquads(added + inf_added)
                )
        return UpdateOutcome(len(added), len(removed), warnings_on(report, removed + added))

    # ------------------------------------------------------------ export and graphs

    def _refuse_read_only(self, quads: list[Quad]) -> None:
        """The shipped ontology and shapes change in the repository's files, never by an update."""
        touched = sorted({g for q in quads if (g := _graph(q)) in self._read_only})
        if touched:
            raise ForbiddenOperation(
                "the ontology and shapes graphs are read-only (change them in ontology/ and "
                f"shapes/ and restart); the update would change {', '.join(touched)}; "
                "nothing was changed",
                graphs=touched,
            )

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
        nothing changed), recompute the inference and tell the workers."""
        if not self._store.behind():
            return
        with self._state_lock:
            changes = self._store.catch_up()
            if not changes:
                return
            for removed, added in changes:
                self._version += 1
                self._pool.publish(self._version, _nquads(removed), _nquads(added))
            inf_removed, inf_added = self._recompute_inference()
            self._version += 1
            self._pool.publish(self._version, _nquads(inf_removed), _nquads(inf_added))
            LOG.info("applied %d change(s) made by another process", len(changes))

    def _require_ready(self) -> None:
        if not self.is_ready():
            raise NotReady(self.not_ready_reason or "the query workers are restarting")

    def _snapshot(self) -> tuple[int, bytes]:
        return self._version, self._store.snapshot()

    def _kind(self, graph: str | None) -> str:
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
        return "other"

    def _recompute_inference(self) -> tuple[list[Quad], list[Quad]]:
        """Materialise the entailments of everything but the shapes (caller holds state_lock)."""
        source = (
            (q.subject, q.predicate, q.object)
            for q in self._store.quads()
            if self._kind(_graph(q)) not in ("shapes", "inferred")
        )
        return self._store.replace_derived(self.inferred_graph, entailments(source))

    def _validation_data(self, quads: Iterable[Quad]) -> tuple[Graph, dict[Node, str]]:
        """The data the shapes judge: every asserted graph but the ontology and the shapes."""
        g = Graph()
        source_of: dict[Node, str] = {}
        for q in quads:
            graph = _graph(q)
            if self._kind(graph) not in ("default", "facts", "other"):
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


def _graph(q: Quad) -> str | None:
    g = q.graph_name
    return None if isinstance(g, DefaultGraph) else g.value


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
