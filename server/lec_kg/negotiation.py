"""Content negotiation: the one Accept parser and the one media-type table every route uses.

Each representation the service writes is one `MediaType` row in `TABLE`. A route asks for the
rows that fit what it answers (`offers(kind)`), then `negotiate()` picks one from the Accept header
(q-values, `type/*`, `*/*`, combined lists) or from an explicit `format=` / `output=` parameter.
The engine finds the row of a media type it is handed with `by_name`, and names it to the query
workers by its `key`; pyoxigraph maps the row's name to its own format
(`RdfFormat.from_media_type`), rdflib serializes by that name too: there is no other table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from .errors import BadRequest, NotAcceptable

Kind = Literal["results", "graph", "dataset", "html"]

FORMATS = "http://www.w3.org/ns/formats/"
CHARSET = "; charset=utf-8"


@dataclass(frozen=True)
class MediaType:
    """One representation: its canonical name, the names it also answers to, its `format=` keys."""

    name: str  # canonical media type, handed to the engine
    kind: Kind  # results (SELECT/ASK), graph (CONSTRUCT/DESCRIBE), dataset (quads), html
    keywords: tuple[str, ...]  # values of the format= / output= parameter; the first is `key`
    aliases: tuple[str, ...] = ()  # other media types a client may ask for to get this one
    format_iri: str | None = None  # W3C format IRI (service description)
    extension: str = ""

    @property
    def key(self) -> str:
        """The engine's and the query workers' name for it (json, turtle, rdfxml...)."""
        return self.keywords[0]

    def content_type(self, name: str | None = None) -> str:
        """The Content-Type header value (everything served is UTF-8 text)."""
        return (name or self.name) + CHARSET


# Order within a kind is the server's preference when the client does not prefer one.
TABLE: tuple[MediaType, ...] = (
    MediaType(
        "application/sparql-results+json",
        "results",
        ("json", "srj"),
        ("application/json",),
        FORMATS + "SPARQL_Results_JSON",
        "srj",
    ),
    MediaType(
        "application/sparql-results+xml",
        "results",
        ("xml", "srx"),
        ("application/xml", "text/xml"),
        FORMATS + "SPARQL_Results_XML",
        "srx",
    ),
    MediaType("text/csv", "results", ("csv",), (), FORMATS + "SPARQL_Results_CSV", "csv"),
    MediaType(
        "text/tab-separated-values", "results", ("tsv",), (), FORMATS + "SPARQL_Results_TSV", "tsv"
    ),
    MediaType(
        "text/turtle",
        "graph",
        ("turtle", "ttl", "n3"),  # Turtle is N3 too, so N3-only clients are served
        ("application/x-turtle", "text/n3", "text/rdf+n3"),
        FORMATS + "Turtle",
        "ttl",
    ),
    MediaType(
        "application/n-triples",
        "graph",
        ("nt", "ntriples", "n-triples"),
        (),
        FORMATS + "N-Triples",
        "nt",
    ),
    MediaType(
        "application/ld+json",
        "graph",
        ("jsonld", "json-ld", "json"),
        ("application/json",),
        FORMATS + "JSON-LD",
        "jsonld",
    ),
    MediaType(
        "application/rdf+xml",
        "graph",
        ("rdfxml", "xml", "rdf"),
        ("application/xml", "text/xml"),
        FORMATS + "RDF_XML",
        "rdf",
    ),
    MediaType("application/n-quads", "dataset", ("nquads", "nq"), (), FORMATS + "N-Quads", "nq"),
    MediaType("application/trig", "dataset", ("trig",), (), FORMATS + "TriG", "trig"),
    # HTML5 only: not offered as application/xhtml+xml, which would promise well-formed XML.
    MediaType("text/html", "html", ("html",), (), None, "html"),
)

FORM_KIND: dict[str, Kind] = {
    "select": "results",
    "ask": "results",
    "construct": "graph",
    "describe": "graph",
}


@lru_cache(maxsize=64)
def offers(*kinds: Kind) -> tuple[MediaType, ...]:
    """The rows of the table of the given kinds, in preference order."""
    return tuple(m for k in kinds for m in TABLE if m.kind == k)


@lru_cache(maxsize=256)
def by_name(name: str, *kinds: Kind) -> MediaType | None:
    """The row of one of `kinds` a media type names (canonical first, then an alias; parameters
    such as charset ignored), or None."""
    bare = name.split(";", 1)[0].strip().lower()
    rows = offers(*kinds)
    return next((m for m in rows if m.name == bare), None) or next(
        (m for m in rows if bare in m.aliases), None
    )


def offers_for_form(form: str) -> tuple[MediaType, ...]:
    """What a query of this form (select, ask, construct, describe) can be answered in.

    HTML (a page for people) comes last, so that only a client that asks for it gets it.
    """
    return offers(FORM_KIND[form], "html")


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept header."""

    type: str
    subtype: str
    q: float
    position: int

    def specificity(self, name: str) -> int:
        """3 for an exact match, 2 for type/*, 1 for */*, 0 when the range does not match."""
        mtype, _, msub = name.partition("/")
        if self.type == "*" and self.subtype == "*":
            return 1
        if self.type != mtype:
            return 0
        if self.subtype == "*":
            return 2
        return 3 if self.subtype == msub else 0


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header; a missing or empty header accepts anything."""
    ranges = []
    for position, item in enumerate((header or "").split(",")):
        main, *params = [p.strip() for p in item.split(";")]
        mtype, slash, msub = main.lower().partition("/")
        if not slash or not mtype or not msub:
            continue  # not a media range (e.g. a stray comma or "json"): ignore it
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0  # a q-value we cannot read accepts nothing, rather than everything
        ranges.append(MediaRange(mtype, msub, q, position))
    return ranges or [MediaRange("*", "*", 1.0, 0)]


def profiles(header: str | None, name: str) -> set[str]:
    """The profile IRIs an Accept header asks for with the media type `name` (the `profile`
    parameter of JSON-LD, RFC 6906: space-separated, quoted or not), from entries with q > 0."""
    wanted: set[str] = set()
    for item in (header or "").split(",")[:64]:
        main, *params = [p.strip() for p in item.split(";")]
        if main.lower() != name:
            continue
        q, found = 1.0, []
        for param in params:
            key, _, value = param.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key == "profile":
                found.extend(value.split())
        if q > 0:
            wanted.update(found)
    return wanted


@dataclass(frozen=True)
class Choice:
    """The representation chosen and the media type name to label it with."""

    media: MediaType
    name: str  # the canonical name, or the alias the client asked for

    @property
    def content_type(self) -> str:
        """The Content-Type header value."""
        return self.media.content_type(self.name)


def _quality(ranges: Sequence[MediaRange], name: str) -> tuple[float, int, int]:
    """(q, specificity, -position) of the most specific range matching `name`."""
    best: tuple[float, int, int] | None = None
    for r in ranges:
        spec = r.specificity(name)
        if spec and (best is None or spec > best[1]):
            best = (r.q, spec, -r.position)
    return best or (0.0, 0, 0)


def negotiate(accept: str | None, available: Sequence[MediaType], fmt: str | None = None) -> Choice:
    """Pick a representation: `fmt` (format= / output=) wins, else the Accept header decides."""
    if isinstance(available, tuple) and len(accept or "") <= 512:  # remembered
        return _negotiate_cached(accept, available, fmt)
    return _negotiate(accept, available, fmt)


@lru_cache(maxsize=1024)
def _negotiate_cached(
    accept: str | None, available: tuple[MediaType, ...], fmt: str | None
) -> Choice:
    """`_negotiate` for the few Accept headers clients really send (errors are not cached)."""
    return _negotiate(accept, available, fmt)


def _negotiate(accept: str | None, available: Sequence[MediaType], fmt: str | None) -> Choice:
    """See `negotiate`."""
    if fmt:
        return _by_format(fmt, available)
    ranges = parse_accept(accept)
    best: tuple[tuple[float, int, int, bool, int], Choice] | None = None
    preference = 0
    for media in available:
        for name in (media.name, *media.aliases):
            preference -= 1
            q, spec, pos = _quality(ranges, name)
            if q <= 0:
                continue
            # Higher q, then a more specific range, then the earlier range, then a canonical name
            # over an alias (text/* means text/csv, not text/xml), then the server's preference.
            key = (q, spec, pos, name == media.name, preference)
            if best is None or key > best[0]:
                best = (key, Choice(media, name))
    if best is None:
        raise not_acceptable(f"nothing matches Accept: {accept}", available)
    return best[1]


def _by_format(fmt: str, available: Sequence[MediaType]) -> Choice:
    """The representation named by a format= value: a keyword (csv, turtle) or a media type."""
    key = fmt.strip().lower()
    for media in available:
        if key in media.keywords or key == media.name:
            return Choice(media, media.name)
        if key in media.aliases:
            return Choice(media, key)
    known = {k for m in TABLE for k in (*m.keywords, m.name, *m.aliases)}
    if key in known:
        raise not_acceptable(f"format={fmt} does not fit this result", available)
    raise BadRequest(
        f"unknown format {fmt!r}; use one of: "
        + ", ".join(sorted({k for m in available for k in m.keywords}))
    )


def not_acceptable(detail: str, available: Sequence[MediaType]) -> NotAcceptable:
    """A 406 error that lists the media types and format keywords there are."""
    return NotAcceptable(
        detail,
        available=[m.name for m in available],
        formats=sorted({k for m in available for k in m.keywords}),
    )


def by_keyword(fmt: str, kinds: Sequence[Kind]) -> MediaType:
    """The media type of a command-line --format value among the given kinds."""
    return _by_format(fmt, offers(*kinds)).media
