"""Submissions and the record of every write: who, when, what it cites, why.

Each accepted submission is its own named graph, `<base>graph/submission/<id>`, and every write
leaves PROV in the records graph `<base>graph/records`, committed in the same change as the data
(so a record never exists without its write, nor a write without its record):

    <base>record/submission/<id> a prov:Activity ; dcterms:identifier "<id>" ;
        prov:wasAssociatedWith <base>record/agent/<token name> ; prov:endedAtTime "…" ;
        prov:generated <base>graph/submission/<id> ; rdfs:comment "<message>" ;
        dcterms:source <cited source> .
    <base>graph/submission/<id> a prov:Entity ; prov:wasGeneratedBy … ;
        prov:wasAttributedTo <agent> ; prov:generatedAtTime "…" ; dcterms:source … .

A withdrawal removes the submission's graph and adds `<…/submission/<id>/withdrawal>` (a
prov:Activity: who, when, why, and as its rdf:value the N-Quads it removed) with
`prov:wasInvalidatedBy` on the graph: nothing vanishes without trace. A SPARQL update or a Graph
Store Protocol write leaves `<base>record/write/<id>` (who, when, what it was as rdf:value, the
counts in rdfs:comment) and, when it removed something, `prov:invalidated <…/write/<id>/removed>`
(a prov:Entity whose prov:value is the N-Quads it removed). Only this module writes the records
and submission graphs, through the engine's `record` and `submission` leave; any other write
that would touch them is refused (`protection`). The agent is the write token's name, never
the token.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat, parse

from .engine_api import Engine, QueryRequest, UpdateOutcome
from .errors import BadRequest, Conflict, NotFound
from .xml_chars import codepoint, forbidden_in

PROV = "http://www.w3.org/ns/prov#"
DCTERMS = "http://purl.org/dc/terms/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
JSON_RESULTS = "application/sparql-results+json"
MAX_MESSAGE_CHARS = 2000
Recorder = Callable[[Sequence[Quad], Sequence[Quad]], list[Quad]]


def new_id() -> str:
    """A submission id: the time in ms (hex, so ids sort by time) and 32 random bits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def valid_id(text: str) -> bool:
    return 8 <= len(text) <= 64 and all(c in "0123456789abcdef" for c in text)


@dataclass(frozen=True)
class Names:
    """The IRIs of one deployment's submissions and records."""

    base: str

    @property
    def records_graph(self) -> str:
        return f"{self.base}graph/records"

    @property
    def submission_prefix(self) -> str:
        return f"{self.base}graph/submission/"

    def graph(self, sid: str) -> str:
        return f"{self.submission_prefix}{sid}"

    def activity(self, sid: str) -> str:
        return f"{self.base}record/submission/{sid}"

    def agent(self, who: str) -> str:
        return f"{self.base}record/agent/{who}"

    def write(self, wid: str) -> str:
        return f"{self.base}record/write/{wid}"

    def id_of_graph(self, graph: str) -> str | None:
        return (
            graph[len(self.submission_prefix) :]
            if graph.startswith(self.submission_prefix)
            else None
        )


def _now() -> Literal:
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Literal(stamp, datatype=NamedNode(XSD + "dateTime"))


def _text(value: str) -> Literal:
    return Literal(value)


def cited(source: str) -> NamedNode:
    """A source a request cites: an absolute http(s) IRI, else 400 naming the value."""
    text = source.strip()
    try:
        parts = urlsplit(text)
        good = parts.scheme in ("http", "https") and bool(parts.hostname)
        good = good and not any(c in text for c in ' <>"{}|\\^`') and text.isprintable()
        iri = NamedNode(text) if good else None
    except ValueError:
        iri = None
    if iri is None:
        raise BadRequest(
            f"source={source!r} is not an absolute http(s) IRI; cite the source by its URL",
            source=source,
        )
    return iri


class Records:
    """The quads that record writes, for one deployment (see the module doc)."""

    def __init__(self, base: str) -> None:
        self.names = Names(base)
        self._g = NamedNode(self.names.records_graph)

    def _q(self, s: str | NamedNode, p: str, o: Any) -> Quad:
        subject = NamedNode(s) if isinstance(s, str) else s
        return Quad(subject, NamedNode(p), o, self._g)

    def _agent(self, who: str) -> list[Quad]:
        agent = self.names.agent(who)
        return [
            self._q(agent, RDF + "type", NamedNode(PROV + "Agent")),
            self._q(agent, RDFS + "label", _text(who)),
        ]

    def submission(
        self, sid: str, who: str, message: str, sources: Sequence[NamedNode | Literal]
    ) -> list[Quad]:
        act, graph, agent, when = (
            self.names.activity(sid),
            self.names.graph(sid),
            NamedNode(self.names.agent(who)),
            _now(),
        )
        out = [
            self._q(act, RDF + "type", NamedNode(PROV + "Activity")),
            self._q(act, DCTERMS + "identifier", _text(sid)),
            self._q(act, PROV + "wasAssociatedWith", agent),
            self._q(act, PROV + "endedAtTime", when),
            self._q(act, PROV + "generated", NamedNode(graph)),
            self._q(graph, RDF + "type", NamedNode(PROV + "Entity")),
            self._q(graph, DCTERMS + "identifier", _text(sid)),
            self._q(graph, PROV + "wasGeneratedBy", NamedNode(act)),
            self._q(graph, PROV + "wasAttributedTo", agent),
            self._q(graph, PROV + "generatedAtTime", when),
            *self._agent(who),
        ]
        if message:
            out.append(self._q(act, RDFS + "comment", _text(message)))
        for source in sources:
            out.append(self._q(act, DCTERMS + "source", source))
            out.append(self._q(graph, DCTERMS + "source", source))
        return out

    def withdrawal(self, sid: str, who: str, why: str, removed: Sequence[Quad]) -> list[Quad]:
        act, graph, when = f"{self.names.activity(sid)}/withdrawal", self.names.graph(sid), _now()
        return [
            self._q(act, RDF + "type", NamedNode(PROV + "Activity")),
            self._q(act, PROV + "wasAssociatedWith", NamedNode(self.names.agent(who))),
            self._q(act, PROV + "endedAtTime", when),
            self._q(act, PROV + "used", NamedNode(graph)),
            self._q(act, RDFS + "comment", _text(why)),
            self._q(act, RDF + "value", _text(_nquads(removed))),
            self._q(graph, PROV + "wasInvalidatedBy", NamedNode(act)),
            self._q(graph, PROV + "invalidatedAtTime", when),
            *self._agent(who),
        ]

    def write(self, who: str, what: str, text: str) -> Recorder:
        """The recorder of one SPARQL update or Graph Store Protocol write: the record of the
        change it is given (the engine refuses a change touching the records: `protection`)."""

        def record(removed: Sequence[Quad], added: Sequence[Quad]) -> list[Quad]:
            wid = new_id()
            act = self.names.write(wid)
            summary = f"{what}: added {len(added)} quads, removed {len(removed)}"
            out = [
                self._q(act, RDF + "type", NamedNode(PROV + "Activity")),
                self._q(act, DCTERMS + "identifier", _text(wid)),
                self._q(act, PROV + "wasAssociatedWith", NamedNode(self.names.agent(who))),
                self._q(act, PROV + "endedAtTime", _now()),
                self._q(act, RDFS + "comment", _text(summary)),
                self._q(act, RDF + "value", _text(text)),
                *self._agent(who),
            ]
            if removed:  # what it removed, as a withdrawal keeps it: nothing vanishes
                gone = f"{act}/removed"
                out += [
                    self._q(act, PROV + "invalidated", NamedNode(gone)),
                    self._q(gone, RDF + "type", NamedNode(PROV + "Entity")),
                    self._q(gone, RDFS + "comment", _text(f"the {len(removed)} quads removed")),
                    self._q(gone, PROV + "value", _text(_nquads(removed))),
                ]
            return out

        return record


def _nquads(quads: Sequence[Quad]) -> str:
    return "".join(f"{q} .\n" for q in quads)


def check_message(message: str | None, what: str) -> str:
    """A message or reason as the records keep it: at most MAX_MESSAGE_CHARS, and only what XML
    1.0 can hold (the records' RDF/XML export carries it)."""
    text = (message or "").strip()
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadRequest(f"the {what} is longer than {MAX_MESSAGE_CHARS} characters")
    found = forbidden_in(text)
    if found is not None:
        raise BadRequest(
            f"the {what} holds {codepoint(found.group())}, a character XML 1.0 cannot hold: "
            "the records' RDF/XML exports could not carry it"
        )
    return text


def sources_of(quads: Sequence[Quad], given: Sequence[str]) -> list[NamedNode | Literal]:
    """The sources a submission cites: every one given with the request (absolute http(s)
    IRIs, blank values ignored), else every object of dcterms:source in its data."""
    named = [cited(g) for g in given if g.strip()]
    if named:
        return list(dict.fromkeys(named))
    found: dict[Any, None] = {}
    for q in quads:
        if q.predicate.value == DCTERMS + "source" and not isinstance(q.object, BlankNode):
            found[q.object] = None
    return list(found)


# ---------------------------------------------------------------- acting on an engine


def submit(
    engine: Engine,
    records: Records,
    sid: str,
    quads: Sequence[Quad],
    who: str,
    message: str,
    sources: Sequence[str] = (),
) -> UpdateOutcome:
    """Commit a submission (its quads, already in its graph) with its record in one change;
    `sources`: the ones the request cites (400 for one that is not an http(s) IRI)."""
    record = records.submission(sid, who, message, sources_of(quads, sources))
    return engine.change(
        [],
        list(quads),
        note=f"submission {sid} by {who}",
        what="the submission",
        record=lambda _removed, _added: record,
        submission=records.names.graph(sid),
    )


def withdraw(engine: Engine, records: Records, sid: str, who: str, why: str) -> int:
    """Remove a submission's graph, recording who withdrew it, when, why and what it held;
    409 when it was withdrawn already, saying when and by whom."""
    _refuse_withdrawn(fetch(engine, records, sid))
    graph = records.names.graph(sid)
    outcome = engine.change(
        graph_quads(engine, graph),
        [],
        note=f"withdrawal of {sid} by {who}",
        what="the withdrawal",
        record=lambda removed, _added: records.withdrawal(sid, who, why, removed),
        submission=graph,
    )
    if outcome.removed == 0:  # another withdrawal came first
        _refuse_withdrawn(fetch(engine, records, sid))
    return outcome.removed


def _refuse_withdrawn(info: dict[str, Any]) -> None:
    gone = info["withdrawn"]
    if gone is not None:
        why = f" ({gone['why']})" if gone.get("why") else ""
        raise Conflict(
            f"submission {info['id']} was already withdrawn at {gone['when']} by "
            f"{gone['who']}{why}; nothing was changed",
            id=info["id"],
            withdrawn=gone,
        )


def graph_quads(engine: Engine, graph: str) -> list[Quad]:
    """The quads of one named graph (none when it is not there)."""
    if graph not in engine.graph_names():
        return []
    return list(parse(engine.export("application/n-quads", graph), format=RdfFormat.N_QUADS))


LIST_QUERY = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?id ?graph ?who ?when ?message ?source ?withdrawnBy ?withdrawnAt ?why
WHERE { GRAPH <%(records)s> {
  ?act prov:generated ?graph ; dcterms:identifier ?id ; prov:wasAssociatedWith ?agent ;
       prov:endedAtTime ?when .
  ?agent rdfs:label ?who .
  %(filter)s
  OPTIONAL { ?act rdfs:comment ?message }
  OPTIONAL { ?act dcterms:source ?source }
  OPTIONAL { ?graph prov:wasInvalidatedBy ?w . ?w prov:wasAssociatedWith ?wa ;
             prov:endedAtTime ?withdrawnAt . ?wa rdfs:label ?withdrawnBy .
             OPTIONAL { ?w rdfs:comment ?why } }
} }
ORDER BY ?when ?id STR(?source)
"""


def listing(engine: Engine, records: Records, sid: str | None = None) -> list[dict[str, Any]]:
    """Every submission's record (or one's), oldest first, as JSON-ready dicts."""
    where = "" if sid is None else f'FILTER(?id = "{sid}")'
    text = LIST_QUERY % {"records": records.names.records_graph, "filter": where}
    result = engine.query(QueryRequest(text), JSON_RESULTS)
    rows = json.loads(result.body)["results"]["bindings"]
    out: dict[str, dict[str, Any]] = {}
    for row in rows:  # one per source: each source whole, as the RDF holds it
        value = {k: v["value"] for k, v in row.items()}
        if value["id"] in out:
            if "source" in value:
                out[value["id"]]["sources"].append(value["source"])
            continue
        withdrawn = None
        if "withdrawnAt" in value:
            withdrawn = {
                "who": value.get("withdrawnBy"),
                "when": value["withdrawnAt"],
                "why": value.get("why"),
            }
        out[value["id"]] = {
            "id": value["id"],
            "graph": value["graph"],
            "who": value["who"],
            "when": value["when"],
            "message": value.get("message", ""),
            "sources": [value["source"]] if "source" in value else [],
            "withdrawn": withdrawn,
        }
    return list(out.values())


def fetch(engine: Engine, records: Records, sid: str) -> dict[str, Any]:
    """One submission's record, or 404."""
    if not valid_id(sid):
        raise NotFound(f"there is no submission {sid!r}", id=sid)
    found = listing(engine, records, sid)
    if not found:
        raise NotFound(f"there is no submission {sid}", id=sid)
    return found[0]


RECORD_QUERY = """
CONSTRUCT { ?s ?p ?o } WHERE { GRAPH <%(records)s> {
  ?s ?p ?o . FILTER(?s IN (<%(act)s>, <%(act)s/withdrawal>, <%(graph)s>))
} }
"""


def record_quads(engine: Engine, records: Records, sid: str) -> list[Quad]:
    """The record of one submission (its activity, its graph's entity, its withdrawal)."""
    names = records.names
    text = RECORD_QUERY % {
        "records": names.records_graph,
        "act": names.activity(sid),
        "graph": names.graph(sid),
    }
    body = engine.query(QueryRequest(text), "application/n-triples").body
    g = NamedNode(names.records_graph)
    return [
        Quad(t.subject, t.predicate, t.object, g) for t in parse(body, format=RdfFormat.N_TRIPLES)
    ]
