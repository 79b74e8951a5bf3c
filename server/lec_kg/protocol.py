"""The SPARQL 1.1 Protocol's request rules: which operation a request carries, and its dataset.

Pure functions over parameters and bytes; the route reads the request and hands them in. Every rule
broken is a `BadRequest` that says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl

from .errors import BadRequest
from .guard import REMEMBER_TEXT_CHARS

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
        else ("default-graph-uri", "named-graph-uri", "using-graph-uri", "using-named-graph-uri")
    )
    for name in unsupported:
        if dataset[name]:
            raise BadRequest(f"{name} is not supported with {kind}= on this service")
    if any(not uri.strip() for k in ("default-graph-uri", "named-graph-uri") for uri in dataset[k]):
        raise BadRequest("default-graph-uri and named-graph-uri must not be empty")
    return Operation(
        kind, text, dataset["default-graph-uri"], dataset["named-graph-uri"], formats(params)
    )


@lru_cache(maxsize=1024)
def _query_items(raw: bytes) -> tuple[tuple[str, str], ...]:
    return tuple(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def query_items(raw: bytes) -> list[tuple[str, str]]:
    """The parameters of a URL's query string, repeated ones kept (as Starlette reads them);
    short query strings are remembered, since clients send the same ones again and again."""
    if len(raw) > REMEMBER_TEXT_CHARS:
        return parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return list(_query_items(raw))


def formats(params: list[tuple[str, str]]) -> tuple[str, ...]:
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
