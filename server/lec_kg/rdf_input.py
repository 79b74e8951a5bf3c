"""RDF in a request body: read by its Content-Type into quads, or refused saying why.

Turtle, TriG, N-Triples, N-Quads, JSON-LD and RDF/XML, in UTF-8, are read with pyoxigraph; any
other type is 415 naming the ones there are, and a body that does not parse is 400 with the line
and column. Nothing in a body can make the server reach out: a JSON-LD `@context` must be inline
(a context named by IRI, or one that `@import`s, is refused before parsing, never fetched), and
RDF/XML may not carry a DOCTYPE (so no entity, internal or external, is ever expanded).

Triples without a graph go into `graph`, the one the caller names (a submission's own graph, the
Graph Store Protocol's target). A body that names a graph of its own is refused: what it writes
goes where the request says, and only there. Where the text shows it, each subject gets the line
it is first named on (`Parsed.lines`), so a report can point back into the body.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from pyoxigraph import DefaultGraph, Literal, NamedNode, Quad, RdfFormat, parse

from .errors import BadRequest, UnsupportedMediaType
from .jsonld_input import Dropped, refuse_dropped, use_local_contexts
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
LINE_FORMATS = (RdfFormat.N_TRIPLES, RdfFormat.N_QUADS)
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
MAX_DEPTH = 128  # nesting of JSON arrays/objects or XML elements a body may have
_JSON_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_IRI_REF = re.compile(r"<([^<>\s]*)>")
_QUOTED = re.compile(r'"([^"\s]*)"')
_PNAME = re.compile(r"(?<![\w.:/-])([A-Za-z][\w.-]*|):([\w.%-]*[\w%])")


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
        line, column = _position(body, exc.start)
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
            where = _locate(text, fmt, detail)
        raise InputSyntaxError(f"{media} syntax error: {detail}", *where) from None
    _refuse_unexportable(text, quads)
    if document is not None:
        try:
            refuse_dropped(document, quads)
        except Dropped as exc:
            at = text.find(exc.needle)
            where = (
                (None, None) if at < 0 else _position(text[:at].encode(), len(text[:at].encode()))
            )
            raise InputSyntaxError(exc.detail, *where) from None
    return Parsed(quads, media, _lines(text, quads, fmt))


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
                (None, None) if at < 0 else _position(text[:at].encode(), len(text[:at].encode()))
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
        line, column = _position(body, found.start())
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
            raise _too_deep(*_position(before, len(before)))


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
    for context in _contexts(document):
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


def _contexts(node: Any) -> Iterator[Any]:
    """Every @context value anywhere in a JSON document (scoped contexts in term definitions
    included)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if key == "@context":
                    yield value
                stack.append(value)
        elif isinstance(current, list):
            stack.extend(current)


_KEYWORD = re.compile(r"@\w+")
_NAMED_PREFIX = re.compile(r"\b([A-Za-z_][\w.-]*):(?=\s|$)")
_NAMED_IRI = re.compile(r"<([^<>\s]+)>")


def _locate(text: str, fmt: RdfFormat, detail: str) -> tuple[int | None, int | None]:
    """Where in the text an error the parser gave no position for is, from what its message
    names: for JSON-LD the first key it names whose value is not a string (else the key's
    first use); for RDF/XML the first use of the prefix or the term it names."""
    at: int | None = None
    if fmt == RdfFormat.JSON_LD:
        keyword = _KEYWORD.search(detail)
        if keyword is not None:
            uses = list(re.finditer(rf'"{re.escape(keyword.group())}"\s*:\s*(.)', text))
            odd = [m for m in uses if m.group(1) != '"']
            at = (odd or uses)[0].start() if uses else None
    elif fmt == RdfFormat.RDF_XML:
        prefix = _NAMED_PREFIX.search(detail)
        if prefix is not None:
            found = re.search(rf"[<\s]{re.escape(prefix.group(1))}:", text)
            at = None if found is None else found.start() + 1
        for iri in _NAMED_IRI.findall(detail) if at is None else ():
            local = re.split(r"[#/]", iri)[-1]
            found = (
                re.search(rf"(?:{re.escape(iri)}|:{re.escape(local)}\b)", text) if local else None
            )
            if found is not None:
                at = found.start()
                break
    if at is None:
        return None, None
    encoded = text[:at].encode("utf-8")
    return _position(encoded, len(encoded))


def _position(body: bytes, offset: int) -> tuple[int, int]:
    line = body.count(b"\n", 0, offset) + 1
    return line, offset - (body.rfind(b"\n", 0, offset) + 1) + 1


def _lines(text: str, quads: list[Quad], fmt: RdfFormat) -> dict[str, int]:
    """The line each named subject is described on: the line of its first triple as subject
    (`_subject_lines`), else the first line that names it at all (whole, prefixed, or for
    JSON-LD and RDF/XML in quotes). One pass over the text indexes every IRI it names, so a
    large body costs its length, not its subjects times its lines."""
    subjects = {q.subject.value for q in quads if isinstance(q.subject, NamedNode)}
    if not subjects:
        return {}
    prefixes = dict(re.findall(r"@?prefix\s+([\w.-]*):\s*<([^>]*)>", text, re.IGNORECASE))
    first = _subject_lines(text, fmt, subjects, prefixes)
    if len(first) < len(subjects):
        quoted = fmt not in LINE_FORMATS
        mentioned: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            named = _IRI_REF.findall(line)
            if quoted:
                named += _QUOTED.findall(line)
            if prefixes:
                named += [prefixes[p] + local for p, local in _PNAME.findall(line) if p in prefixes]
            for iri in named:
                if iri in subjects and iri not in mentioned:
                    mentioned[iri] = number
        first = {**mentioned, **first}
    return {f"<{iri}>": number for iri, number in first.items()}


# Turtle and TriG, as far as finding subjects needs: strings and comments (skipped whole),
# IRIs, prefixed names, numbers (whose dot ends no statement) and punctuation.
_TURTLE_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\'\\]|\\.|\'(?!\'\'))*\'\'\''
    r'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*'
    r"|<[^<>\s]*>|[+-]?(?:\d*\.\d+|\d+)(?:[eE][+-]?\d+)?"
    r"|[A-Za-z_][\w.-]*:[\w.%-]*[\w%]|[A-Za-z_][\w.-]*:|:[\w.%-]*[\w%]|:"
    r"|@?[A-Za-z]+|\^\^|[.;,\[\](){}]|\S",
    re.DOTALL,
)
_JSONLD_ID = re.compile(r'"@id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_XML_ABOUT = re.compile(r'\brdf:about\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')


def _subject_lines(
    text: str, fmt: RdfFormat, subjects: set[str], prefixes: dict[str, str]
) -> dict[str, int]:
    """The line of each subject's first triple as subject, where the syntax shows it: the
    first term of a statement in Turtle and TriG (and of a line in N-Triples and N-Quads),
    an object's "@id" in JSON-LD, an rdf:about in RDF/XML."""
    found: dict[str, int] = {}
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def note(iri: str, offset: int) -> None:
        if iri in subjects and iri not in found:
            found[iri] = bisect.bisect_right(newlines, offset) + 1

    if fmt in LINE_FORMATS:
        for number, line in enumerate(text.splitlines(), start=1):
            head = _IRI_REF.match(line.lstrip())
            if head and head.group(1) in subjects and head.group(1) not in found:
                found[head.group(1)] = number
    elif fmt == RdfFormat.JSON_LD:
        for m in _JSONLD_ID.finditer(text):
            note(m.group(1), m.start())
    elif fmt == RdfFormat.RDF_XML:
        for m in _XML_ABOUT.finditer(text):
            note(m.group(1) or m.group(2) or "", m.start())
    else:
        _turtle_subjects(text, prefixes, note)
    return found


def _turtle_subjects(text: str, prefixes: dict[str, str], note: Any) -> None:
    """Call `note(iri, offset)` for each IRI that opens a Turtle or TriG statement."""
    expect = True  # the next term is a statement's subject
    skip = 0  # terms of a SPARQL-style PREFIX or BASE still to pass
    directive = False  # inside an @prefix or @base, up to its dot
    depth = 0  # brackets open: a dot in a collection or blank node ends nothing
    for m in _TURTLE_TOKEN.finditer(text):
        token = m.group()
        if token[0] in "\"'#":  # a string or a comment: nothing in it is a term
            continue
        if directive:
            directive = token != "."
            continue
        if skip:
            skip -= 1
            continue
        if token in ("[", "("):
            depth += 1
            expect = False
        elif token in ("]", ")"):
            depth = max(depth - 1, 0)
        elif token in (".", "{", "}") and depth == 0:
            expect = True
        elif expect and token.lower() in ("@prefix", "@base"):
            directive = True
        elif expect and token.upper() in ("PREFIX", "BASE", "GRAPH"):
            skip = {"PREFIX": 2, "BASE": 1, "GRAPH": 1}[token.upper()]
        elif expect:
            if token.startswith("<"):
                note(token[1:-1], m.start())
            elif ":" in token:
                prefix, _, local = token.partition(":")
                if prefix in prefixes:
                    note(prefixes[prefix] + local, m.start())
            expect = False
