"""The SPARQL 1.1 Protocol's request rules: which operation a request carries, and its dataset.

Pure functions over parameters and bytes; the route reads the request and hands them in. Every rule
broken is a `BadRequest` that says which. An update's `using-graph-uri` / `using-named-graph-uri`
(Protocol §2.2.3) become USING / USING NAMED clauses in the text itself (`apply_using`), so the
guard checks them and the engine evaluates them exactly as if the client had written them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl

from .errors import BadRequest
from .guard import CLOSERS, OPENERS, REMEMBER_TEXT_CHARS
from .sparql_lexer import NOT_IN_IRIREF, Token, is_absolute, line_col, tokens

FORM = "application/x-www-form-urlencoded"
SPARQL_QUERY = "application/sparql-query"
SPARQL_UPDATE = "application/sparql-update"
PROTOCOL_PARAMS = {
    "query",
    "update",
    "default-graph-uri",
    "named-graph-uri",
    "using-graph-uri",
    "using-named-graph-uri",
}
FORMAT_PARAMS = ("format", "output")
TRUNCATED_HEADER = "X-LEC-Truncated"
UPDATE_WORD = re.compile(
    r"^\s*(?:(?:PREFIX\s+\S*\s*<[^>]*>|BASE\s*<[^>]*>|#[^\n]*)\s*)*"
    r"(INSERT|DELETE|LOAD|CLEAR|CREATE|DROP|COPY|MOVE|ADD|WITH)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Operation:
    """One protocol operation read from a request: a query or an update, and its dataset."""

    kind: Literal["query", "update"]
    text: str
    default_graphs: tuple[str, ...] = ()
    named_graphs: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    using_graphs: tuple[str, ...] = ()  # using-graph-uri (updates)
    using_named_graphs: tuple[str, ...] = ()  # using-named-graph-uri (updates)


def read_operation(
    params: list[tuple[str, str]], direct: tuple[Literal["query", "update"], str] | None = None
) -> Operation:
    """Read the one query or update and its dataset parameters; 400 when they do not add up."""
    if direct is None and sum(len(v) for _, v in params) <= REMEMBER_TEXT_CHARS:
        return _read_operation(tuple(params), None)
    return _read_operation.__wrapped__(tuple(params), direct)


@lru_cache(maxsize=1024)
def _read_operation(
    params: tuple[tuple[str, str], ...], direct: tuple[Literal["query", "update"], str] | None
) -> Operation:
    """See `read_operation` (the result is remembered; errors are raised anew each time)."""
    queries = [v for k, v in params if k == "query"]
    updates = [v for k, v in params if k == "update"]
    if direct is not None and (queries or updates):
        raise BadRequest(f"the {direct[0]} is the request body; do not also send query= or update=")
    if len(queries) > 1:
        raise BadRequest(f"{len(queries)} query parameters were sent; send exactly one")
    if len(updates) > 1:
        raise BadRequest(f"{len(updates)} update parameters were sent; send exactly one")
    if queries and updates:
        raise BadRequest("send either query= or update=, not both")
    if direct is not None:
        kind, text = direct
    elif queries:
        kind, text = "query", queries[0]
    elif updates:
        kind, text = "update", updates[0]
    else:
        raise BadRequest("the query parameter is missing: send query=<SPARQL query>")
    if not text.strip():
        raise BadRequest(f"the {kind} is empty")
    dataset = {k: tuple(v for key, v in params if key == k) for k in PROTOCOL_PARAMS}
    unsupported = (
        ("using-graph-uri", "using-named-graph-uri")
        if kind == "query"
        else ("default-graph-uri", "named-graph-uri")
    )
    for name in unsupported:
        if dataset[name]:
            other = "update=" if kind == "query" else "query="
            raise BadRequest(f"{name} is not supported with {kind}=; it goes with {other}")
    if any(not uri.strip() for k in ("default-graph-uri", "named-graph-uri") for uri in dataset[k]):
        raise BadRequest("default-graph-uri and named-graph-uri must not be empty")
    for name in ("using-graph-uri", "using-named-graph-uri"):
        for uri in dataset[name]:
            graph_iri(uri, name)
    return Operation(
        kind,
        text,
        dataset["default-graph-uri"],
        dataset["named-graph-uri"],
        formats(params),
        dataset["using-graph-uri"],
        dataset["using-named-graph-uri"],
    )


def graph_iri(value: str, where: str) -> str:
    """`value`, when it can be written as an absolute IRIREF (`<...>`); else a 400 naming it."""
    if not value:
        raise BadRequest(f"{where} must not be empty")
    bad = NOT_IN_IRIREF.search(value)
    if bad is not None:
        raise BadRequest(
            f"{where} {value!r} is not an IRI: it holds {bad.group()!r} at position "
            f"{bad.start() + 1}, which an IRI cannot hold"
        )
    if not is_absolute(value):
        raise BadRequest(f"{where} {value!r} is not an absolute IRI (like http://example.org/g)")
    return value


def apply_using(text: str, using: Sequence[str] = (), using_named: Sequence[str] = ()) -> str:
    """The update `text` with `USING <g>` for each of `using` and `USING NAMED <g>` for each of
    `using_named` in every operation that reads a dataset (Protocol §2.2.3): before the WHERE of
    each DELETE / INSERT ... WHERE, and `DELETE WHERE { P }` written as its equivalent
    `DELETE { P } USING ... WHERE { P }`. Other operations (INSERT DATA, CLEAR, ...) are left as
    they are. A text that already says USING, USING NAMED or WITH is a 400, as the Protocol
    requires; so is an IRI that cannot be written as an IRIREF. What is inserted stays on its
    line: the line numbers of the text are kept (columns after an insertion move)."""
    if not using and not using_named:
        return text
    clause = " ".join(
        [f"USING <{graph_iri(g, 'using-graph-uri')}>" for g in using]
        + [f"USING NAMED <{graph_iri(g, 'using-named-graph-uri')}>" for g in using_named]
    )
    toks = list(tokens(text))  # what the lexer cannot read is a 400 with line and column
    inserts: list[tuple[int, str]] = []
    depth = 0
    for i, tok in enumerate(toks):
        if tok.kind == "punct":
            depth += tok.text in OPENERS
            depth -= tok.text in CLOSERS
            continue
        word = tok.text.upper() if tok.kind == "word" else ""
        if word in ("USING", "WITH"):
            line, column = line_col(text, tok.start)
            raise BadRequest(
                "using-graph-uri and using-named-graph-uri cannot be combined with USING, "
                f"USING NAMED or WITH in the update ({tok.text} at line {line}, column {column})"
            )
        if word != "WHERE" or depth:
            continue
        if i > 0 and toks[i - 1].kind == "word" and toks[i - 1].text.upper() == "DELETE":
            pattern = _group(text, toks, i + 1)
            if pattern is not None:  # else the engine says what is wrong with the text
                inserts.append((tok.start, f"{pattern} {clause} "))
        else:
            inserts.append((tok.start, f"{clause} "))
    pieces: list[str] = []
    pos = 0
    for at, inserted in inserts:
        pieces += [text[pos:at], inserted]
        pos = at
    pieces.append(text[pos:])
    return "".join(pieces)


def _group(text: str, toks: list[Token], first: int) -> str | None:
    """The `{ ... }` group that starts at token `first`, if one does, on one line: its tokens
    as written, comments and line breaks between them made one space, line breaks in long
    strings written as `\\n` / `\\r` escapes (the same string)."""
    if first >= len(toks) or toks[first].text != "{":
        return None
    depth = 0
    pieces: list[str] = []
    end = toks[first].start
    for tok in toks[first:]:
        if tok.start > end:
            pieces.append(" ")
        end = tok.start + len(tok.text)
        pieces.append(tok.text.replace("\r", "\\r").replace("\n", "\\n"))
        if tok.kind != "punct":
            continue
        depth += tok.text in OPENERS
        depth -= tok.text in CLOSERS
        if depth == 0:
            return "".join(pieces)
    return None


@lru_cache(maxsize=1024)
def _query_items(raw: bytes) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def query_items(raw: bytes) -> list[tuple[str, str]]:
    """The parameters of a URL's query string, repeated ones kept (as Starlette reads them);
    short query strings are remembered, since clients send the same ones again and again."""
    if len(raw) > REMEMBER_TEXT_CHARS:
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return list(_query_items(raw))


def formats(params: Sequence[tuple[str, str]]) -> tuple[str, ...]:
    """The values of the format= and output= parameters, in order."""
    return tuple(v for k, v in params if k in FORMAT_PARAMS and v.strip())


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """The fields of a url-encoded form body, repeated fields kept."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        raise BadRequest("the form body is not url-encoded UTF-8") from exc


def decode_text(body: bytes) -> str:
    """A direct POST body: the query or update text, UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 (byte {exc.start})") from exc


def update_keyword(text: str) -> str | None:
    """The update verb (INSERT, CLEAR, ...) the text starts with after its prologue, if any."""
    match = UPDATE_WORD.match(text)
    return match.group(1).upper() if match else None
