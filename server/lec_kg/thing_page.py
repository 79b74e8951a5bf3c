"""A thing's page for people, made from its description (`describe`): no RDF needed to read it.

`page_context` turns the description's triples into what `templates/thing.html` shows: the
label and kinds, the definition, each property with linked values (labels, not IRIs) and human
dates ("April 2015", "between 2000 and 2009", "since 2014"), the statement nodes that mark a
value reconstructed or stated (with their argument and evidence), the uncertain readings apart
(they are not asserted: never shown as facts), the incoming links grouped by property (capped,
with a count), and every evidence passage with its page, quote and a "cite this" line.
Every string goes to the template as text; the template escapes it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import quote

from pyoxigraph import BlankNode, Literal, NamedNode, Triple

from .citation import cite, works_of
from .describe import LABELS, SERVED_ROOTS, Description, labels_of
from .engine_api import Engine
from .human_dates import date_range, human_date

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
XSD = "http://www.w3.org/2001/XMLSchema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
DCTERMS = "http://purl.org/dc/terms/"
DEFINITIONS = (SKOS + "definition", DCTERMS + "description", RDFS + "comment")
INCOMING_CAP = 50  # links shown per incoming property; the rest counted


@dataclass(frozen=True)
class Link:
    """A resource as a reader sees it: its label, and where its page is (None: no link)."""

    text: str
    href: str | None
    iri: str

    @property
    def external(self) -> bool:
        """True for a link out of this service (from the data: rel=nofollow noopener)."""
        return self.href == self.iri and not self.iri.startswith("/")


@dataclass(frozen=True)
class Value:
    """One value of a property: a link, or text (a human date, a literal) with a note."""

    text: str
    link: Link | None = None
    note: str = ""  # language tag or datatype, for a literal


@dataclass(frozen=True)
class Passage:
    """An evidence passage: the page, the verbatim quote, the work, a "cite this" line."""

    page: str
    quote: str
    work: Link | None
    cite: str


@dataclass
class StatementView:
    """A `lec:Statement` about the thing: the triple it qualifies, how certain, why."""

    link: Link
    certainty: str  # stated, reconstructed, uncertain (or the code's label)
    predicate: Link
    value: Value | None
    arguments: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    alternatives: list[Link] = field(default_factory=list)


@dataclass
class Row:
    """A property of the thing and its values, each with the statements that qualify it."""

    prop: Link
    values: list[tuple[Value, list[StatementView]]]


@dataclass
class Group:
    """Things linking to this one through one property (capped at INCOMING_CAP)."""

    prop: Link
    links: list[Link]
    total: int


class Linker:
    """Where a resource's page is: a path on this service for the graph's own IRIs, the IRI
    itself elsewhere (the template's `link` filter drops anything but http(s))."""

    def __init__(self, base_iri: str, root: str, labels: dict[str, str]) -> None:
        self.base = base_iri
        self.root = root.rstrip("/")
        self.labels = labels

    def href(self, iri: str) -> str:
        if iri.startswith(self.base):
            rest = iri[len(self.base) :]
            if rest.startswith(SERVED_ROOTS):
                return f"{self.root}/{rest}"
        return iri

    def link(self, iri: str) -> Link:
        return Link(self.labels.get(iri) or short_name(iri), self.href(iri), iri)

    def kind_members(self, iri: str) -> str:
        return f"{self.root}/browse?kind={quote(iri, safe='')}"


def short_name(iri: str) -> str:
    """The last part of an IRI (after #, else after the last slash): a fallback label."""
    for sep in ("#", "/"):
        if sep in iri.rstrip(sep):
            return iri.rstrip(sep).rsplit(sep, 1)[1]
    return iri


def page_context(
    desc: Description, engine: Engine, base_iri: str, root: str, today: date
) -> dict[str, Any]:
    """What thing.html shows for the description (see the module doc)."""
    lec = base_iri + "ontology#"
    x = NamedNode(desc.iri)
    triples: list[Any] = list(desc.triples)  # terms of every kind; checked where it matters
    by_subject: dict[Any, list[Any]] = defaultdict(list)
    for t in triples:
        by_subject[t.subject].append(t)
    own = by_subject.get(x, [])
    mentioned = {
        term.value
        for t in triples
        for term in (t.subject, t.predicate, t.object)
        if isinstance(term, NamedNode)
    }
    labels = {
        t.subject.value: t.object.value
        for t in sorted(triples, key=_label_rank)
        if t.predicate.value in LABELS and isinstance(t.subject, NamedNode)
    }
    missing = [i for i in mentioned if i not in labels]
    labels.update(labels_of(engine, missing) if missing else {})
    linker = Linker(base_iri, root, labels)
    works = works_of(engine, desc.triples, linker.labels)

    def value(term: Any) -> Value:
        if isinstance(term, NamedNode):
            return Value(linker.link(term.value).text, linker.link(term.value))
        if isinstance(term, Literal):
            dt = term.datatype.value if term.datatype else ""
            text = human_date(term.value, dt)
            note = term.language or ("" if text != term.value or dt == XSD + "string" else "")
            return Value(text, None, note or "")
        return Value("(a structured value)")

    def passages(node: Any) -> list[Passage]:
        found = []
        for t in by_subject.get(node, []):
            if t.predicate.value != lec + "evidence":
                continue
            fields = {u.predicate.value: u.object for u in by_subject.get(t.object, [])}
            page = fields.get(lec + "page")
            quote_ = fields.get(lec + "quote")
            work = fields.get(DCTERMS + "isPartOf")
            work_link = linker.link(work.value) if isinstance(work, NamedNode) else None
            page_text = page.value if page is not None else ""
            found.append(
                Passage(
                    page_text,
                    quote_.value if quote_ is not None else "",
                    work_link,
                    cite(works.get(work.value) if work else None, page_text, desc.iri, today),
                )
            )
        return sorted(found, key=lambda p: (_int(p.page), p.quote))

    statements: list[StatementView] = []
    for st in sorted({t.subject for t in triples if t.object == x}, key=str):
        fields: dict[str, list[Any]] = defaultdict(list)
        for t in by_subject.get(st, []):
            fields[t.predicate.value].append(t.object)
        if x not in fields.get(lec + "statementSubject", []) or not fields.get(lec + "certainty"):
            continue
        certainty = fields[lec + "certainty"][0]
        predicate = fields.get(lec + "statementPredicate", [None])[0]
        obj = fields.get(lec + "statementObject", [None])[0]
        statements.append(
            StatementView(
                linker.link(st.value),
                short_name(certainty.value) if isinstance(certainty, NamedNode) else "",
                _prop_link(linker, predicate.value) if predicate else Link("?", None, ""),
                value(obj) if obj is not None else None,
                sorted(a.value for a in fields.get(lec + "readingArgument", []))
                + sorted(a.value for a in fields.get(lec + "uncertaintyNote", [])),
                passages(st),
                sorted(
                    (linker.link(a.value) for a in fields.get(lec + "alternativeTo", [])),
                    key=lambda link: link.text,
                ),
            )
        )
    qualifying = defaultdict(list)
    for s in statements:
        qualifying[(s.predicate.iri, s.value)].append(s)

    hidden = {*LABELS, *DEFINITIONS, lec + "evidence", lec + "notBefore", lec + "notAfter"}
    rows: dict[str, Row] = {}
    for t in sorted(own, key=lambda t: (t.predicate.value, str(t.object))):
        p = t.predicate.value
        if p in hidden or isinstance(t.object, BlankNode):
            continue
        row = rows.setdefault(p, Row(_prop_link(linker, p), []))
        v = value(t.object)
        row.values.append((v, qualifying.get((p, v), [])))
    ordered = sorted(rows.values(), key=lambda r: (r.prop.iri != RDF_TYPE, r.prop.text.lower()))

    fields_of_x: dict[str, list[Any]] = defaultdict(list)
    for t in own:
        fields_of_x[t.predicate.value].append(t.object)
    bounds = {
        k: human_date(v[0].value, v[0].datatype.value if v[0].datatype else "")
        for k, v in (("before", fields_of_x.get(lec + "notBefore")),)
        if v and isinstance(v[0], Literal)
    }
    after = fields_of_x.get(lec + "notAfter")
    not_after = (
        human_date(after[0].value, after[0].datatype.value if after[0].datatype else "")
        if after and isinstance(after[0], Literal)
        else None
    )
    when = (
        date_range(bounds.get("before"), not_after) if bounds.get("before") or not_after else None
    )

    range_props = (lec + "notBefore", lec + "notAfter")
    dated = [s for s in statements if s.certainty != "uncertain" and s.predicate.iri in range_props]
    groups: dict[str, list[Link]] = defaultdict(list)
    for t in triples:
        if t.object == x and isinstance(t.subject, NamedNode) and t.subject != x:
            groups[t.predicate.value].append(linker.link(t.subject.value))
    incoming = [
        Group(
            _prop_link(linker, p),
            sorted(links, key=lambda k: k.text.lower())[:INCOMING_CAP],
            len(links),
        )
        for p, links in sorted(groups.items(), key=lambda kv: _prop_link(linker, kv[0]).text)
    ]
    kinds = [o.value for o in fields_of_x.get(RDF_TYPE, []) if isinstance(o, NamedNode)]
    definition = next(
        (o.value for p in DEFINITIONS for o in fields_of_x.get(p, []) if isinstance(o, Literal)),
        None,
    )
    return {
        "iri": desc.iri,
        "label": labels.get(desc.iri) or short_name(desc.iri),
        "kinds": [
            {"link": linker.link(k), "members": linker.kind_members(k)} for k in sorted(kinds)
        ],
        "definition": definition,
        "when": when,
        "rows": ordered,
        "readings": [s for s in statements if s.certainty == "uncertain"],
        "when_marks": [s for s in statements if s in dated],
        "unplaced": [  # stated or reconstructed, but about no value shown above
            s
            for s in statements
            if s.certainty != "uncertain"
            and s not in dated
            and not any(s in v[1] for r in ordered for v in r.values)
        ],
        "passages": passages(x),
        "incoming": incoming,
        "truncated": desc.truncated,
        "root": linker.root,
        "formats": [
            ("Turtle", "ttl"),
            ("JSON-LD", "jsonld"),
            ("N-Triples", "nt"),
            ("RDF/XML", "rdf"),
        ],
        "today": today.isoformat(),
    }


def _prop_link(linker: Linker, iri: str) -> Link:
    if iri == RDF_TYPE:
        return Link("kind", linker.href(iri), iri)
    return linker.link(iri)


def _label_rank(t: Triple) -> tuple:
    """Label triples ordered so that the best one is applied last: rdfs:label, English."""
    lang = t.object.language if isinstance(t.object, Literal) else None
    english = lang is None or lang.startswith("en")
    return (english, LABELS[::-1].index(t.predicate.value) if t.predicate.value in LABELS else -1)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 10**6
