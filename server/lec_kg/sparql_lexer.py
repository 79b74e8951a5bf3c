"""The lexer of SPARQL text: tokens, IRIs (escapes decoded, relative ones resolved), positions.

A lexer that never recurses reads the text once, in time linear in its length. It follows the
terminals of the SPARQL 1.1 grammar (IRIs and the four kinds of string with their escapes,
prefixed names with `%XX` and `\\` escapes, blank nodes, variables, comments, whitespace being
space, tab, CR and LF only) and refuses, with line and column, any text it cannot read (a long
string that does not close included): it never guesses. `\\uXXXX` escapes count inside IRIs and
strings only, as pyoxigraph 0.5 reads them; `decode_codepoints` gives the text as SPARQL 1.1 §19.2
reads it, every escape decoded, for a second reading.

Relative IRIs resolve as RFC 3986 §5.2 says and as pyoxigraph (oxiri) does it: a reference with a
scheme is kept as written; any other is merged with the base and its dot segments removed.
`guard` builds its checks on these; `protocol` its rewrites.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

from .errors import QuerySyntaxError

_BASE = (
    "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c-\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_PN = _BASE + "_\\-0-9\u00b7\u0300-\u036f\u203f-\u2040"  # PN_CHARS
_UCHAR = r"\\u[0-9A-Fa-f]{4}|\\U[0-9A-Fa-f]{8}"
_ECHAR = r"""\\[tbnrf\\"']"""
_PLX = r"%[0-9A-Fa-f]{2}|\\[_~.\-!$&'()*+,;=/?\#@%]"
_TOKEN_PATTERN = rf"""
    (?>(?:[ \t\r\n]+|\#[^\r\n]*)*)  # whitespace and comments before it, never given back
    (?:(?P<end>\Z)
  | (?P<iri><(?:[^<>"{{}}|^`\\\x00-\x20]|{_UCHAR})*>)
  | (?P<string>'''(?:(?:''|')?(?:[^'\\]|{_ECHAR}|{_UCHAR}))*'''
              |\"\"\"(?:(?:\"\"|\")?(?:[^"\\]|{_ECHAR}|{_UCHAR}))*\"\"\")
  | (?P<unclosed>'''|\"\"\")
  | (?P<short>'(?:[^'\\\n\r]|{_ECHAR}|{_UCHAR})*'|"(?:[^"\\\n\r]|{_ECHAR}|{_UCHAR})*")
  | (?P<var>[?$][{_BASE}_0-9][{_BASE}_0-9\u00b7\u0300-\u036f\u203f-\u2040]*)
  | (?P<bnode>_:[{_BASE}_0-9](?:[{_PN}.]*[{_PN}])?)
  | PNAME
  | (?P<langtag>@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*(?:--[a-zA-Z]+)?)
  | (?P<number>[0-9]+\.[0-9]*[eE][+-]?[0-9]+|\.?[0-9]+[eE][+-]?[0-9]+|[0-9]*\.[0-9]+|[0-9]+)
  | (?P<word>[A-Za-z][A-Za-z0-9_]*)
  | (?P<punct><<\(|\)>>|<<|>>|\{{\||\|\}}|\|\||&&|\^\^|<=|>=|!=|[{{}}()\[\];,.+\-*/<>=!^|~?]))
    """
_PNAME = rf"""(?P<pname>(?:[{_BASE}](?:[{_PN}.]*[{_PN}])?)?:
               (?:(?:[{_BASE}_:0-9]|{_PLX})(?:(?:[{_PN}.:]|{_PLX})*(?:[{_PN}:]|{_PLX}))?)?)"""
_TOKEN = re.compile(_TOKEN_PATTERN.replace("PNAME", _PNAME), re.VERBOSE)
# Where no prefixed name can start (inside a run of name characters that no `:` ends).
_TOKEN_NO_PNAME = re.compile(_TOKEN_PATTERN.replace("PNAME", "(?!)"), re.VERBOSE)
_NAME_RUN = re.compile(f"[{_PN}.]*")
_SKIP = re.compile(r"(?:[ \t\r\n]+|\#[^\r\n]*)*")
_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
_PN_ESCAPE = re.compile(r"\\(.)")
NOT_IN_IRIREF = re.compile(r'[<>"{}|^`\\\x00-\x20]')  # what an IRIREF may not hold
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_IRI_PARTS = re.compile(r"(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(?://([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?")


class Token(NamedTuple):
    """One lexical token: its kind, its text and where it starts (offset into the text)."""

    kind: str
    text: str
    start: int


def tokens(text: str) -> Iterator[Token]:
    """The tokens of `text`, whitespace and comments left out; what is not a token is an error.

    Every character is looked at a bounded number of times whatever the text: a long string
    that does not close is an error (no second reading), and once a run of name characters is
    known to end without a `:`, no prefixed name is tried again inside it."""
    pos, end = 0, len(text)
    no_pname_before = 0
    with_pname, without_pname = _TOKEN.match, _TOKEN_NO_PNAME.match
    while True:
        m = (without_pname if pos < no_pname_before else with_pname)(text, pos)
        if m is None:
            raise Unreadable(text, _SKIP.match(text, pos).end())  # type: ignore[union-attr]
        kind = m.lastgroup or "end"
        if kind == "end":
            return
        start, pos = m.span(kind)
        value = m.group(kind)
        if kind == "unclosed":
            raise Unreadable(text, start)
        if kind == "short":
            kind = "string"
        elif kind == "word" and start >= no_pname_before and pos < end and text[pos] not in " ({":
            no_pname_before = _NAME_RUN.match(text, start).end()  # type: ignore[union-attr]
        if kind in ("iri", "string") and "\\" in value:
            _check_codepoints(text, value, start)
        yield Token(kind, value, start)


class Unreadable(QuerySyntaxError):
    """What the lexer cannot read, with its offset."""

    def __init__(self, text: str, offset: int, why: str | None = None) -> None:
        error = syntax_error_at(text, offset, why or _unreadable(text, offset))
        super().__init__(error.detail, error.line, error.column)
        self.offset = offset
        self.why = why or _unreadable(text, offset)


def _check_codepoints(text: str, lexeme: str, start: int) -> None:
    """The engine refuses escapes naming a surrogate or a number past U+10FFFF."""
    for m in _CODEPOINT.finditer(lexeme):
        if not _codepoint_ok(int(m.group(1) or m.group(2), 16)):
            raise Unreadable(text, start + m.start(), f"'{m.group()}' is not a character")
    if lexeme.startswith("<"):
        bad = NOT_IN_IRIREF.search(decode_iri(lexeme))
        if bad is not None:
            why = f"the IRI holds {bad.group()!r} once its escapes are decoded"
            raise Unreadable(text, start, why)


def _codepoint_ok(code: int) -> bool:
    return code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF


def decode_iri(iri: str) -> str:
    """The IRI inside an IRIREF token (`<...>`), its codepoint escapes decoded."""
    inner = iri[1:-1]
    if "\\" not in inner:
        return inner
    return _CODEPOINT.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), inner)


def decode_codepoints(text: str) -> tuple[str, list[int]]:
    """`text` with every codepoint escape decoded, and where each character came from."""
    out: list[str] = []
    origin: list[int] = []
    pos = 0
    for m in _CODEPOINT.finditer(text):
        code = int(m.group(1) or m.group(2), 16)
        if not _codepoint_ok(code):
            continue
        out.append(text[pos : m.start()])
        origin.extend(range(pos, m.start()))
        out.append(chr(code))
        origin.append(m.start())
        pos = m.end()
    out.append(text[pos:])
    origin.extend(range(pos, len(text) + 1))
    return "".join(out), origin


def expand(pname: str, prefixes: dict[str, str]) -> str:
    """A prefixed name's IRI (its `\\` escapes removed); its prefix must be in `prefixes`."""
    prefix, _, local = pname.partition(":")
    return prefixes[prefix] + _PN_ESCAPE.sub(r"\1", local)


def is_absolute(iri: str) -> bool:
    """True when `iri` starts with a scheme (`http:`, `urn:`, ...)."""
    return _SCHEME.match(iri) is not None


def resolve(ref: str, base: str) -> str:
    """`ref` resolved against `base` as pyoxigraph (oxiri) resolves it: RFC 3986 §5.2, where a
    reference with a scheme or an authority keeps its path as written, and the `.` and `..`
    segments of a relative path step through the base's directory (its own segments kept)."""
    if not base or is_absolute(ref):
        return ref
    _, authority, path, query, fragment = _IRI_PARTS.fullmatch(ref).groups()  # type: ignore[union-attr]
    b_scheme, b_authority, b_path, b_query, _ = _IRI_PARTS.fullmatch(base).groups()  # type: ignore[union-attr]
    if authority is None:
        authority = b_authority
        if not path:
            path = b_path
            query = b_query if query is None else query
        elif path.startswith("/"):
            path = _walk("/", path[1:], authority is not None)
        else:
            directory = b_path[: b_path.rfind("/") + 1]
            if not directory and authority is not None:
                directory = "/"
            path = _walk(directory, path, authority is not None)
    out = f"{b_scheme}:" if b_scheme is not None else ""
    if authority is not None:
        out += f"//{authority}"
    return out + path + (query or "") + (fragment or "")


def _walk(directory: str, path: str, rooted: bool) -> str:
    """`path` (relative) followed from `directory`: `.` stays, `..` goes up one segment (never
    above the root `/` when there is an authority). Linear in the lengths."""
    pieces = [piece + "/" for piece in directory.split("/")[:-1]]  # each segment with its `/`
    segments = path.split("/")
    last = len(segments) - 1
    for i, segment in enumerate(segments):
        if segment == ".":
            continue
        if segment == "..":
            if pieces and not (rooted and pieces == ["/"]):
                pieces.pop()
            continue
        pieces.append(segment if i == last else segment + "/")
    return "".join(pieces)


def _unreadable(text: str, pos: int) -> str:
    char = text[pos]
    if char in "'\"":
        return "a string is not closed or holds a bad escape"
    if char == "<":
        return "an IRI is not closed or holds a character IRIs cannot hold"
    return f"unexpected character {char!r}"


def syntax_error_from(message: str) -> QuerySyntaxError:
    """A QuerySyntaxError from pyoxigraph's message (`error at 3:16: expected ...`)."""
    m = re.match(r"error at (\d+):(\d+): (.*)", message, re.DOTALL)
    if m is None:
        return QuerySyntaxError(_shorten(message))
    line, column = int(m.group(1)), int(m.group(2))
    return QuerySyntaxError(
        f"syntax error at line {line}, column {column}: {_shorten(m.group(3))}", line, column
    )


def syntax_error_at(text: str, offset: int, why: str) -> QuerySyntaxError:
    """A QuerySyntaxError pointing at a character offset of `text`."""
    line, column = line_col(text, offset)
    return QuerySyntaxError(f"syntax error at line {line}, column {column}: {why}", line, column)


def _shorten(detail: str, limit: int = 300) -> str:
    """pyoxigraph lists every expected character class; keep the message readable."""
    one_line = " ".join(detail.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def line_col(text: str, offset: int) -> tuple[int, int]:
    """The 1-based line and column of a character offset of `text`."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
