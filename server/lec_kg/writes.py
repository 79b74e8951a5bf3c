"""The engine's write side: validated updates, and other processes' changes applied.

An update runs one at a time: a worker finds what it would remove and add, from its
operations' parts in time proportional to the update (`update_diff`), or for graph management
operations by running it on a scratch copy of the asserted data (the WHERE of an operation naming
no dataset reads the union of every graph, as queries do: `update_dataset`); the difference
must keep the protection (`protection`: the ontology and the shapes change in their files
only), its inference is computed incrementally within a budget (`inference`), and the result
is validated against the shapes on the nodes the change can affect (`focused`), all while reads
go on; only then, briefly under the state lock, is the change journaled (fsync), applied here
with its inference and the workers told (`_publish`). A rejected update changes nothing.

Processes sharing a data directory (`serve --workers N`) write under the journal's lock and apply
each other's journaled changes (`_sync`) before answering, so none serves stale data; a
journaled change that breaks the protection is not applied and this process stops serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from pyoxigraph import Quad, RdfFormat, parse
from rdflib import Graph, URIRef
from rdflib import Literal as RLiteral
from rdflib.term import Node

from . import guard
from .config import Settings
from .engine_api import UpdateOutcome
from .errors import BadRequest, ForbiddenOperation, NotReady, QueryTooComplex, ValidationFailed
from .focused import CandidateView, Reach, drop, restrict
from .gate import ValidateFn, report_json, report_summary, to_rdflib, warnings_on
from .inference import InferenceBudgetExceeded, Materializer, Schema
from .isolation import WorkerPool
from .journal import JournalError
from .namespaces import CANONICAL_BASE
from .protection import Protection
from .protocol import apply_using
from .sources import rebase, rebase_term
from .store import MemoryStore, graph_of, triple_of
from .update_dataset import worker_request
from .update_diff import MAX_SOLUTIONS
from .validation import SUBMISSION_ONLY
from .wellformed import rdfxml_predicate_problem
from .xml_chars import FORBIDDEN as XML_FORBIDDEN_TEXT

LOG = logging.getLogger("lec_kg.engine")
# Given what an update removes and adds, the quads that record it (`submissions.Records.write`).
Recorder = Callable[[Sequence[Quad], Sequence[Quad]], list[Quad]]


class WriteSide:
    """Updates and synchronisation of `OxigraphEngine` (see the module doc); the engine holds
    the state below."""

    settings: Settings
    inferred_graph: str
    _facts_prefix: str
    _store: MemoryStore
    _pool: WorkerPool
    _validate: ValidateFn
    _limits: guard.Limits
    _base_iri: str  # the query side's: the endpoint's IRI
    _write_lock: threading.Lock
    _change_lock: threading.Lock
    _state_lock: threading.Lock
    _version: int
    _protection: Protection
    _materializer: Materializer | None
    _reach: Reach | None = None  # what the shapes read (`focused`), built with the inference
    _submission_rules: set[str] = set()  # the shapes only new facts must meet, built with it
    _require_ready: Callable[[], None]
    _refuse_to_serve: Callable[[str], None]
    _kind: Callable[[str | None], str]
    _run: Callable[..., tuple[dict, bytes]]

    def update(
        self,
        text: str,
        using: Sequence[str] = (),
        using_named: Sequence[str] = (),
        *,
        record: Recorder | None = None,
    ) -> UpdateOutcome:
        self._require_ready()
        bad = XML_FORBIDDEN_TEXT.search(text)
        if bad is not None:  # the text is kept in the records graph, which every dump carries
            line = text.count("\n", 0, bad.start()) + 1
            column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
            raise BadRequest(
                f"the update holds U+{ord(bad.group()):04X} at line {line}, column {column}: "
                "XML 1.0 cannot carry it, and the update's text is kept in the records graph, "
                "which every export must carry; write it as an escape in a string (\\u0001) or "
                "leave it out; nothing was changed",
                line=line,
                column=column,
            )
        text = apply_using(text, using, using_named)  # the Protocol's using-graph-uri
        inspection = guard.inspect(text, self._limits, update=True, base=self._base_iri)
        if self.inferred_graph in inspection.iris:
            raise ForbiddenOperation(
                f"<{self.inferred_graph}> is computed from the asserted data after every accepted "
                "update; an update may not name it",
                graph=self.inferred_graph,
            )
        known = set(self._store.graph_names())
        guard.check_dataset(using, known, "using-graph-uri")
        guard.check_dataset(using_named, known, "using-named-graph-uri")
        guard.check_dataset(inspection.default_graphs, known, "USING")
        guard.check_dataset(inspection.named_graphs, known, "USING NAMED")
        # The WHERE of an operation that names no dataset reads the union, as queries do.
        request = worker_request(
            text,
            exclude=[self.inferred_graph],
            base=self._base_iri,
            max_solutions=min(self.settings.max_update_quads, MAX_SOLUTIONS),
        )
        # Reads go on meanwhile: the state lock is taken only to store the finished change.
        with self._write_lock, self._store.writing(), self._change_lock:
            self._sync_locked()
            reply, payload = self._run(request)
            cut = reply["removed"]
            removed = list(parse(payload[:cut], format=RdfFormat.N_QUADS))
            added = list(parse(payload[cut:], format=RdfFormat.N_QUADS))
            if any(graph_of(q) == self.inferred_graph for q in added):
                raise ForbiddenOperation(
                    f"the update would write into <{self.inferred_graph}>, which only the engine "
                    "maintains; nothing was changed",
                    graph=self.inferred_graph,
                )
            self._protection.refuse_write(removed, added, what="the update")
            extra = self._recorded(record, removed, added)
            outcome = self._commit_locked(removed, added + extra, note=text, what="the update")
            return replace(outcome, added=outcome.added - len(extra))  # the update's own

    def change(
        self,
        removed: Sequence[Quad],
        added: Sequence[Quad],
        *,
        note: str,
        what: str,
        record: Recorder | None = None,
        submission: str | None = None,
    ) -> UpdateOutcome:
        """Commit a change given as quads (a submission, a Graph Store Protocol request): the same
        checks, validation, journal and publication as an update; a rejected one changes nothing.
        `what` names it in messages ("the submission"), `note` is journaled with it. The change
        is net: a quad both removed and added stays (a PUT of a graph's own content keeps it).
        `record` gives the quads that record it, as for `update`; `submission` is the one
        submission graph the submissions machinery may create or remove (`protection` rule 4)."""
        self._require_ready()
        with self._write_lock, self._store.writing(), self._change_lock:
            self._sync_locked()
            if any(graph_of(q) == self.inferred_graph for q in added):
                raise ForbiddenOperation(
                    f"{what} would write into <{self.inferred_graph}>, which only the engine "
                    "maintains; nothing was changed",
                    graph=self.inferred_graph,
                )
            kept = set(added)
            present = [
                q for q in dict.fromkeys(removed) if q not in kept and self._store.contains(q)
            ]
            new = [q for q in dict.fromkeys(added) if not self._store.contains(q)]
            self._protection.refuse_write(present, new, what=what, submission=submission)
            extra = self._recorded(record, present, new)
            outcome = self._commit_locked(present, new + extra, note=note, what=what)
            return replace(outcome, added=outcome.added - len(extra))  # the change's own

    def _recorded(
        self, record: Recorder | None, removed: list[Quad], added: list[Quad]
    ) -> list[Quad]:
        """The record of a change (who, when, what: `submissions`), none for no change; only
        in the records graph, and new. The protection's refusals come first."""
        if record is None or not (removed or added):
            return []
        self._refuse_read_only(removed, added)
        have = set(added)
        extra = [
            q
            for q in dict.fromkeys(record(removed, added))
            if q not in have and not self._store.contains(q)
        ]
        stray = sorted(
            {str(g) for q in extra if not self._protection.records_graph(g := graph_of(q))}
        )
        if stray:
            raise ForbiddenOperation(
                f"a record may only be written to the records graph, not {stray[0]}"
            )
        return extra

    def check(self, removed: Sequence[Quad], added: Sequence[Quad]) -> Any:
        """A dry run of `change`: the findings of the change (`_judge`), and nothing written
        (a `/validate` request, `lec-kg validate FILE`)."""
        self._require_ready()
        with self._change_lock:
            self._sync_locked()
            present = [q for q in removed if self._store.contains(q)]
            new = [q for q in dict.fromkeys(added) if not self._store.contains(q)]
            self._refuse_read_only(present, new)  # as `change` would, before the shapes
            self._refuse_too_large(present, new, "the change")
            _refuse_unexportable(new, "the change")
            return self._judge(present, new)

    def _refuse_too_large(self, removed: list[Quad], added: list[Quad], what: str) -> None:
        """One change (or its dry run) is at most max_update_quads quads."""
        if len(removed) + len(added) > self.settings.max_update_quads:
            raise QueryTooComplex(
                f"{what} would remove {len(removed):,} and add {len(added):,} quads; "
                f"the limit for one change is {self.settings.max_update_quads:,} "
                "(max_update_quads); split it; nothing was changed",
                limit=self.settings.max_update_quads,
            )

    def _commit_locked(
        self, removed: list[Quad], added: list[Quad], *, note: str, what: str
    ) -> UpdateOutcome:
        """Protection, size limit, inference, validation, journal, publication of one change
        (the caller holds the write, writer and change locks and has synchronised)."""
        self._refuse_read_only(removed, added)
        if not removed and not added:
            return UpdateOutcome(0, 0)
        self._refuse_too_large(removed, added, what)
        _refuse_unexportable(added, what)
        inferred = self._infer(removed, added, self.settings.inference_budget)
        assert self._materializer is not None
        committed = False
        try:
            report = self._judge(removed, added)
            if not report.conforms:
                failure = ValidationFailed(
                    report_summary(report, what) + "; nothing was changed",
                    report=report_json(report),
                )
                failure.validation_report = report  # for renderings other than JSON
                raise failure
            with self._state_lock:
                try:
                    self._store.commit(removed, added, note=note)
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

    def _judge(self, removed: list[Quad], added: list[Quad]) -> Any:
        """The findings of the change (`focused`): the shapes' report on the store as it would
        be after it, on the nodes the change can affect, from validating just those nodes on
        what their shapes read; the whole candidate graph when the shapes defeat the analysis."""
        reach = self._reach
        if reach is None or not reach.complete:
            gone = set(removed)
            candidate = [q for q in self._store.quads() if q not in gone] + added
            report = self._validate(*self._validation_data(candidate), submission=True)
        else:
            view, focus = self._affected(removed, added)
            data = self._validation_data(reach.neighbourhood(view, focus))
            report = self._validate(*data, submission=True)
            report = restrict(report, {self._canonical(n) for n in focus})
        # The rules for newly submitted facts judge the nodes this change describes, only.
        described = {self._canonical(q.subject) for q in added if self._judged(q)}
        return drop(
            report, lambda f: f.shape in self._submission_rules and f.focus not in described
        )

    def _canonical(self, term: Any) -> Node:
        return rebase_term(to_rdflib(term), self.settings.base_iri, CANONICAL_BASE)

    def _affected(self, removed: list[Quad], added: list[Quad]) -> tuple[CandidateView, set]:
        """The store as it would be after the change, and the nodes the change can affect."""
        assert self._reach is not None
        view = CandidateView(self._store.match, self._judged, removed, added)
        return view, self._reach.affected(view, [q for q in removed + added if self._judged(q)])

    def _judged(self, q: Quad) -> bool:
        """True for a quad the shapes judge (see `_validation_data`)."""
        return self._kind(graph_of(q)) not in ("ontology", "shapes", "inferred")

    def _infer(self, removed: list[Quad], added: list[Quad], budget: int | None) -> tuple[set, set]:
        """How the inferred graph changes with this change of the asserted data: computed now
        (pending in the materializer until it commits or rolls back), stored by `_publish`."""
        assert self._materializer is not None
        try:
            return self._materializer.change(
                [triple_of(q) for q in removed if self._inferable(q)],
                [triple_of(q) for q in added if self._inferable(q)],
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

    def _refuse_read_only(self, removed: list[Quad], added: list[Quad]) -> None:
        """The ontology and shapes change in the repository's files, never by an update, and
        nothing outside them may describe the ontology or add schema (`protection`)."""
        self._protection.refuse_change(removed, added)

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

    def _inferable(self, q: Quad) -> bool:
        """True for a quad the inference reads: asserted, and not a shape."""
        return self._kind(graph_of(q)) not in ("shapes", "inferred")

    def _recompute_inference(self) -> tuple[list[Quad], list[Quad]]:
        """Read the schema from the ontology graphs (once: no write may change it) and
        materialise the entailments of everything but the shapes, from scratch."""
        schema = Schema(
            triple_of(q) for q in self._store.quads() if self._kind(graph_of(q)) == "ontology"
        )
        shapes = Graph()
        for q in self._store.quads():
            if self._kind(graph_of(q)) == "shapes":
                shapes.add((to_rdflib(q.subject), to_rdflib(q.predicate), to_rdflib(q.object)))
        home = self.settings.base_iri
        canonical = shapes if home == CANONICAL_BASE else rebase(shapes, home, CANONICAL_BASE)
        self._submission_rules = {  # as the validator names them: canonical IRIs
            str(shape) for shape in canonical.subjects(SUBMISSION_ONLY, RLiteral(True))
        }
        self._reach = Reach.of_shapes(  # the shapes' SPARQL names the canonical IRIs
            shapes,
            lambda iri: (
                iri if iri.startswith(home) else str(rebase_term(URIRef(iri), CANONICAL_BASE, home))
            ),
        )
        if not self._reach.complete:
            LOG.warning("every write validates the whole graph: %s", self._reach.why_incomplete)
        self._materializer = Materializer(
            schema, (triple_of(q) for q in self._store.quads() if self._inferable(q))
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
            graph = graph_of(q)
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


def _nquads(quads: list[Quad]) -> bytes:
    return "".join(f"{q} .\n" for q in quads).encode("utf-8")


def _refuse_unexportable(added: list[Quad], what: str) -> None:
    """Every export carries every statement (`wellformed`): a change adding one that RDF/XML
    cannot write (a character XML 1.0 forbids, a predicate that does not end in an XML name)
    is refused, or one write would break the RDF/XML dumps for good."""
    for q in added:
        for term in (q.subject, q.predicate, q.object, q.graph_name):
            value = getattr(term, "value", None)
            bad = XML_FORBIDDEN_TEXT.search(value) if isinstance(value, str) else None
            if bad is not None:
                raise BadRequest(
                    f"{what} would add a statement about {q.subject} with predicate "
                    f"{q.predicate} holding U+{ord(bad.group()):04X}, which XML 1.0 (and so "
                    "the RDF/XML export) cannot carry; nothing was changed",
                )
        problem = rdfxml_predicate_problem(q.predicate.value)
        if problem is not None:
            raise BadRequest(
                f"{what} would add a statement about {q.subject} with {problem}; every "
                "statement must go into every export; nothing was changed",
            )
