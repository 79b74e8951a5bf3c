"""RDF in a request body: read by its Content-Type into quads, or refused saying why.

Turtle, TriG, N-Triples, N-Quads, JSON-LD and RDF/XML, in UTF-8, are read with pyoxigraph; any
other type is 415 naming the ones there are, and a body that does not parse is 400 with the line
and column. Nothing in a body can make the server reach out: a JSON-LD `@context` must be inline
(a context named by IRI, or one that `@import`s, is refused before parsing, never fetched), and
RDF/XML may not carry a DOCTYPE (so no entity, internal or external, is ever expanded).

Triples without a graph go into `graph`, the one the caller names (a submission's own graph, the
Graph Store Protocol's target). A body that names a graph of its own is refused: what it writes
goes where the request says, and only there. Where the text shows it, each subject gets the line
it is described on (`Parsed.lines`, `body_positions`), so a report can point back into the body.

What would not survive is refused too: JSON-LD the JSON-LD algorithm would drop in part
(`jsonld_input`, which also reads the service's own context by its IRI), and a literal with a
character XML 1.0 cannot hold (`xml_chars`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad, RdfFormat, parse

from .body_positions import locate, position, subject_lines
from .errors import BadRequest, UnsupportedMediaType
from .jsonld_input import Dropped, contexts_in, refuse_dropped, use_local_contexts
from .namespaces import CANONICAL_BASE
from .xml_chars import codepoint, escapes_of, forbidden_in

# Content-Type -> pyoxigraph format (aliases included), in the order the 415 names them.
FORMATS: dict[str, RdfFormat] = {
    "text/turtle": RdfFormat.TURTLE,
    "application/trig": RdfFormat.TRIG,
    "application/n-triples": RdfFormat.N_TRIPLES,
    "application/n-quads": RdfFormat.N_QUADS,
    "application/ld+json": RdfFormat.JSON_LD,
    "application/rdf+xml": RdfFormat.RDF_XML,
}
ALIASES = {
    "application/x-turtle": "text/turtle",
    "text/plain": "application/n-triples",  # N-Triples' old media type
    "application/json": "application/ld+json",
}
ACCEPTED = tuple(FORMATS)
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
MAX_DEPTH = 128  # nesting of JSON arrays/objects or XML elements a body may have
_JSON_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


@dataclass(frozen=True)
class Parsed:
    """The quads of a body (all in the caller's graph) and the line each subject is first
    named on, where the text shows it."""

    quads: list[Quad]
    media_type: str
    lines: dict[str, int] = field(default_factory=dict)  # subject (N-Triples form) -> line
    home: str = CANONICAL_BASE  # the deployment's base IRI, which answers about it are under


class InputSyntaxError(BadRequest):
    """The body does not parse; `line` and `column` (1-based) say where, when known."""

    title = "malformed data"

    def __init__(self, detail: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(detail, line=line, column=column)
        self.line = line
        self.column = column


def media_type_of(content_type: str | None) -> str:
    """The canonical media type of a Content-Type header, or 415 naming the accepted ones.
    A charset other than UTF-8 is refused too: every format read here is UTF-8."""
    if not content_type or not content_type.strip():
        raise _unsupported("the request has no Content-Type")
    main, *params = [p.strip() for p in content_type.split(";")]
    media = ALIASES.get(main.lower(), main.lower())
    if media not in FORMATS:
        raise _unsupported(f"Content-Type {main} is not an RDF format this service reads")
    for param in params:
        key, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if key.strip().lower() == "charset" and charset not in ("utf-8", "utf8"):
            raise _unsupported(f"charset {charset} is not read: send the body in UTF-8")
    return media


def parse_body(
    body: bytes,
    content_type: str | None,
    graph: str,
    base: str | None = None,
    contexts: Mapping[str, Any] | None = None,
) -> Parsed:
    """The quads of `body`, every one in `graph`; 415, 400 (with line and column) otherwise.
    Relative IRIs resolve against `base` (default: the graph's IRI). A JSON-LD context named
    by one of the IRIs of `contexts` is that object (`jsonld_input`), never fetched."""
    media = media_type_of(content_type)
    fmt = FORMATS[media]
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(body):
        raise InputSyntaxError("the body is UTF-16; send it in UTF-8", 1, 1)
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = position(body, exc.start)
        raise InputSyntaxError(
            f"the body is not UTF-8 (byte {exc.start} cannot be decoded)", line, column
        ) from None
    document = None
    if fmt == RdfFormat.JSON_LD:
        _refuse_deep_json(text)
        if contexts:
            text = use_local_contexts(text, contexts)
            body = text.encode("utf-8")
        document = _refuse_remote_contexts(text)
    if fmt == RdfFormat.RDF_XML:
        _refuse_doctype(body)
        _refuse_deep_xml(body)
    target = NamedNode(graph)
    quads: list[Quad] = []
    try:
        # Blank nodes get fresh names: `_:e` in two submissions (or in the store) is two nodes.
        for q in parse(body, format=fmt, base_iri=base or graph, rename_blank_nodes=True):
            if not isinstance(q.graph_name, DefaultGraph):
                raise InputSyntaxError(
                    f"the body names the graph {q.graph_name}; this request writes one graph, "
                    f"<{graph}>: send its triples without a graph name",
                )
            quads.append(Quad(q.subject, q.predicate, q.object, target))
    except SyntaxError as exc:
        detail = getattr(exc, "msg", None) or str(exc)
        where: tuple[int | None, int | None] = (exc.lineno, exc.offset)
        if exc.lineno is None:  # the JSON-LD and RDF/XML parsers often say what but not where
            where = locate(text, fmt, detail)
        raise InputSyntaxError(f"{media} syntax error: {detail}", *where) from None
    _refuse_unexportable(text, quads)
    if document is not None:
        try:
            refuse_dropped(document, quads)
        except Dropped as exc:
            at = text.find(exc.needle)
            where = (
                (None, None) if at < 0 else position(text[:at].encode(), len(text[:at].encode()))
            )
            raise InputSyntaxError(exc.detail, *where) from None
    return Parsed(quads, media, subject_lines(text, quads, fmt))


def _refuse_unexportable(text: str, quads: list[Quad]) -> None:
    """A literal holding a character XML 1.0 cannot write (`xml_chars`) is refused, with the
    line and column of the character or of its escape in the text."""
    for q in quads:
        if isinstance(q.object, Literal):
            found = forbidden_in(q.object.value)
            if found is None:
                continue
            char = found.group()
            at = text.find(char)
            if at < 0:
                escape = escapes_of(char).search(text)
                at = -1 if escape is None else escape.start()
            where = (
                (None, None) if at < 0 else position(text[:at].encode(), len(text[:at].encode()))
            )
            raise InputSyntaxError(
                f"the literal {q.object} holds {codepoint(char)}, a character XML 1.0 cannot "
                "hold: the store's RDF/XML exports could not carry it; remove it",
                *where,
            )


def _unsupported(why: str) -> UnsupportedMediaType:
    return UnsupportedMediaType(
        f"{why}; send one of: {', '.join(ACCEPTED)}", accepted=list(ACCEPTED)
    )


def _utf16_without_bom(body: bytes) -> bool:
    """UTF-16 text without a byte-order mark: every other byte of its ASCII start is NUL."""
    head = body[:64]
    return len(head) >= 4 and (
        head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4
    )


def _refuse_doctype(body: bytes) -> None:
    """No DOCTYPE in RDF/XML: it is where entities (and external ones) are declared."""
    found = _DOCTYPE.search(body)
    if found is not None:
        line, column = position(body, found.start())
        raise InputSyntaxError(
            f"RDF/XML with a {found.group(1).decode().upper()} declaration is refused: no "
            "entity is expanded or fetched here; send the document without it",
            line,
            column,
        )


def _too_deep(line: int | None, column: int | None) -> InputSyntaxError:
    return InputSyntaxError(
        f"the body nests more than {MAX_DEPTH} levels deep; no RDF this service keeps needs "
        "that, and the parsers' cost grows with it: flatten it",
        line,
        column,
    )


def _refuse_deep_json(text: str) -> None:
    """JSON nested more than MAX_DEPTH arrays and objects deep is refused before any parser
    sees it (pyoxigraph's JSON-LD parser crashes the process on a few thousand levels, and
    Python's json recurses), counted in one pass over the brackets outside strings."""
    depth = 0
    for found in _JSON_BRACKET.finditer(text):
        bracket = found.group()
        if bracket[0] == '"':
            continue
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_DEPTH:
            before = text[: found.start()].encode("utf-8")
            raise _too_deep(*position(before, len(before)))


def _refuse_deep_xml(body: bytes) -> None:
    """RDF/XML nested more than MAX_DEPTH elements deep is refused (pyoxigraph's RDF/XML
    parser takes time quadratic in the depth), counted by expat (no DOCTYPE reaches here)."""
    depth = 0

    def start(name: str, attrs: object) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _too_deep(reader.CurrentLineNumber, reader.CurrentColumnNumber + 1)

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    reader = expat.ParserCreate(namespace_separator=" ")  # an undeclared prefix: where it is
    reader.StartElementHandler = start
    reader.EndElementHandler = end
    try:
        reader.Parse(body, True)
    except expat.ExpatError as exc:
        raise InputSyntaxError(
            f"application/rdf+xml syntax error: {expat.ErrorString(exc.code)}",
            exc.lineno,
            exc.offset + 1,
        ) from None


def _refuse_remote_contexts(text: str) -> Any:
    """The JSON document, once every @context is known to be an inline object (or null): a
    context named by IRI, or one that @imports another, would be fetched; refused before
    parsing."""
    try:
        document = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise InputSyntaxError(f"JSON syntax error: {exc.msg}", exc.lineno, exc.colno) from None
    except RecursionError:  # a second wall behind _refuse_deep_json
        raise _too_deep(None, None) from None
    for context in contexts_in(document):
        for item in context if isinstance(context, list) else [context]:
            if isinstance(item, str):
                raise BadRequest(
                    f"the JSON-LD @context {item!r} is remote: contexts are never fetched "
                    "here; put the context inline (an object)",
                    context=item,
                )
            if isinstance(item, dict) and "@import" in item:
                raise BadRequest(
                    f"the JSON-LD context imports {item['@import']!r}: contexts are never "
                    "fetched here; put the context inline",
                    context=str(item["@import"]),
                )
            if item is not None and not isinstance(item, dict):
                raise BadRequest("a JSON-LD @context must be an object or null")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a key given twice is refused (parsers differ on which one wins, so the
    @context checked here could be another than the one read)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BadRequest(f"the JSON-LD body gives the key {key!r} twice in one object")
        out[key] = value
    return out
