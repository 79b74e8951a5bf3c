"""Safety checks on SPARQL text before any engine sees it: size, nesting, outbound access.

Nothing here parses SPARQL fully (the engine does that, in a worker process): a lexer that never
recurses reads the text once, so a hostile query can neither crash nor stall this process. It finds

- the query form (SELECT, ASK, CONSTRUCT, DESCRIBE) after the prologue;
- what this service never does on a request's behalf: SERVICE, LOAD, and FROM / FROM NAMED /
  USING / USING NAMED naming anything but a graph of this store (file:, a remote http(s) graph);
- what would take the engine down: text over the length cap, brackets nested deeper than the
  depth cap, or a group with more patterns and operators than the engine's recursion survives
  (measured with pyoxigraph 0.5: 5,000 nested groups, 10,000 chained `||` or triple patterns, or
  5,000 BINDs overflow its stack).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

from .engine_api import QueryForm
from .errors import ForbiddenOperation, QuerySyntaxError, QueryTooComplex

# Query texts up to this long may be remembered (parsed requests, inspections, row caps, the
# speed of a query and its results); longer ones are handled afresh every time, so what is kept
# stays bounded whatever clients send.
REMEMBER_TEXT_CHARS = 8192

MAX_DEPTH = 64  # brackets ({ ( [) open at once; real queries stay under 20
MAX_GROUP_ITEMS = 1000  # patterns and operators in one group; the engine crashes near 5,000
QUERY_FORMS: dict[str, QueryForm] = {
    "SELECT": "select",
    "ASK": "ask",
    "CONSTRUCT": "construct",
    "DESCRIBE": "describe",
}
CLOSERS = {"}": "{", ")": "(", "]": "["}
CHAIN_PUNCT = frozenset(
    [".", ";", "||", "&&", "+", "-", "*", "/", "|", "=", "!=", "<", ">", "<=", ">="]
)
CHAIN_WORDS = frozenset({"UNION", "FILTER", "BIND", "OPTIONAL", "MINUS"})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\r\n]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string>'''(?:[^'\\]|\\.|'(?!''))*'''|\"\"\"(?:[^"\\]|\\.|"(?!""))*\"\"\"
               |'(?:[^'\\\n\r]|\\.)*'|"(?:[^"\\\n\r]|\\.)*")
  | (?P<open_string>'''|\"\"\"|'|")
  | (?P<var>[?$][\w\u00B7]+)
  | (?P<bnode>_:[^\s{}()\[\],;"'<>\#=!|&^/*+?]+)
  | (?P<pname>(?:[^\W\d_][\w.\-\u00B7]*)?:[^\s{}()\[\],;"'<>\#=!|&^/*+?]*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<punct>\^\^|&&|\|\||!=|<=|>=|.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind, its text and where it starts (offset into the text)."""

    kind: str
    text: str
    start: int


@dataclass(frozen=True)
class Limits:
    """How large and how deep a request may be."""

    max_chars: int = 100_000
    max_depth: int = MAX_DEPTH
    max_group_items: int = MAX_GROUP_ITEMS


@dataclass(frozen=True)
class Inspection:
    """What the guard learnt about one request text."""

    form: QueryForm | None  # None for an update
    default_graphs: tuple[str, ...]  # FROM (or USING) IRIs, resolved
    named_graphs: tuple[str, ...]  # FROM NAMED (or USING NAMED) IRIs, resolved
    iris: frozenset[str]  # every IRI the text names (prefixed names expanded)


def tokens(text: str) -> Iterator[Token]:
    """The tokens of `text`, whitespace and comments left out; an open string is an error."""
    pos, end = 0, len(text)
    while pos < end:
        m = _TOKEN.match(text, pos)
        assert m is not None  # the last alternative matches any character
        kind = m.lastgroup or "punct"
        value = m.group()
        if kind == "open_string":
            raise syntax_error_at(text, pos, "a string is not closed")
        if kind in ("pname", "bnode") and value.endswith("."):  # `ex:a.` ends a triple
            value = value.rstrip(".")
        pos = m.start() + len(value)
        if kind not in ("ws", "comment"):
            yield Token(kind, value, m.start())


def inspect(text: str, limits: Limits, *, update: bool = False) -> Inspection:
    """Lex `text` once and check it against the limits and the refusals (see the module doc)."""
    if not update and len(text) > limits.max_chars:
        raise QueryTooComplex(
            f"the query is {len(text):,} characters long; the limit is {limits.max_chars:,}"
        )
    prefixes: dict[str, str] = {}
    base = ""
    form: QueryForm | None = None
    default: list[str] = []
    named: list[str] = []
    iris: set[str] = set()
    stack: list[tuple[str, int, bool, int]] = []  # (opener, outer items, DATA block, offset)
    items = 0  # items of the top level
    body_at = -1  # offset of the first token after the prologue
    toks = list(tokens(text))
    for i, tok in enumerate(toks):
        upper = tok.text.upper() if tok.kind == "word" else ""
        if tok.kind == "punct" and tok.text in "{([":
            data = bool(stack and stack[-1][2]) or (
                tok.text == "{" and i > 0 and toks[i - 1].text.upper() == "DATA"
            )
            stack.append((tok.text, items, data, tok.start))
            items = 0
            if len(stack) > limits.max_depth:
                raise QueryTooComplex(
                    f"brackets are nested more than {limits.max_depth} deep "
                    f"(line {_line_col(text, tok.start)[0]}); flatten the query"
                )
            continue
        if tok.kind == "punct" and tok.text in CLOSERS:
            if not stack or stack[-1][0] != CLOSERS[tok.text]:
                raise syntax_error_at(text, tok.start, f"unexpected '{tok.text}'")
            items = stack.pop()[1]
            continue
        in_data = bool(stack and stack[-1][2])
        if not in_data and (
            (tok.kind == "punct" and tok.text in CHAIN_PUNCT) or upper in CHAIN_WORDS
        ):
            items += 1
            if items > limits.max_group_items:
                raise QueryTooComplex(
                    f"a group holds more than {limits.max_group_items} patterns and operators "
                    f"(line {_line_col(text, tok.start)[0]}); split the query"
                )
        if upper == "SERVICE":
            raise ForbiddenOperation(
                "SERVICE is not allowed: this service never sends requests to other endpoints "
                f"(line {_line_col(text, tok.start)[0]})"
            )
        if upper == "LOAD":
            raise ForbiddenOperation(
                "LOAD is not allowed: this service never fetches or reads documents on a "
                "request's behalf; send the data in INSERT DATA instead"
            )
        if tok.kind == "iri":
            iris.add(urljoin(base, tok.text[1:-1]) if base else tok.text[1:-1])
        elif tok.kind == "pname" and not _declaring(toks, i):
            expanded = _expand(tok.text, prefixes)
            if expanded is not None:
                iris.add(expanded)
        if stack:
            continue
        if body_at < 0 and upper not in ("PREFIX", "BASE") and not _in_prologue(toks, i):
            body_at = tok.start
        # The prologue and the dataset clauses live at the top level only.
        if upper == "PREFIX" and i + 2 < len(toks) and toks[i + 2].kind == "iri":
            prefixes[toks[i + 1].text[:-1]] = _resolve(toks[i + 2].text[1:-1], base)
        elif upper == "BASE" and i + 1 < len(toks) and toks[i + 1].kind == "iri":
            base = _resolve(toks[i + 1].text[1:-1], base)
        elif upper in QUERY_FORMS and form is None and not update:
            form = QUERY_FORMS[upper]
        elif upper in ("FROM", "USING"):
            is_named = i + 1 < len(toks) and toks[i + 1].text.upper() == "NAMED"
            at = i + 2 if is_named else i + 1
            iri = _term_iri(toks[at], prefixes, base) if at < len(toks) else None
            if iri is None:
                raise syntax_error_at(text, tok.start, f"{upper} must be followed by an IRI")
            (named if is_named else default).append(iri)
    if stack:
        raise syntax_error_at(text, stack[-1][3], f"'{stack[-1][0]}' is not closed")
    if not update and form is None:
        raise syntax_error_at(
            text,
            max(body_at, 0),
            "not a query: expected SELECT, ASK, CONSTRUCT or DESCRIBE after the prologue",
        )
    return Inspection(form, tuple(default), tuple(named), frozenset(iris))


def check_dataset(graphs: Collection[str], known: Collection[str], where: str) -> None:
    """Refuse any dataset IRI that is not a graph of this store (nothing is ever fetched)."""
    for iri in graphs:
        if iri in known:
            continue
        if iri.lower().startswith("file:"):
            why = "this service never reads files on a request's behalf"
        else:
            why = "this service never fetches remote graphs; only its own graphs can be named"
        raise ForbiddenOperation(f"{where} <{iri}> is not a graph of this store: {why}", graph=iri)


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
    line, column = _line_col(text, offset)
    return QuerySyntaxError(f"syntax error at line {line}, column {column}: {why}", line, column)


def _shorten(detail: str, limit: int = 300) -> str:
    """pyoxigraph lists every expected character class; keep the message readable."""
    one_line = " ".join(detail.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _in_prologue(toks: list[Token], i: int) -> bool:
    """True for the name and IRI that follow PREFIX or BASE."""
    before = [t.text.upper() for t in toks[max(0, i - 2) : i]]
    return "PREFIX" in before or (before[-1:] == ["BASE"])


def _declaring(toks: list[Token], i: int) -> bool:
    """True for the `ex:` of `PREFIX ex: <...>` (a declaration, not a use)."""
    return i > 0 and toks[i - 1].text.upper() == "PREFIX"


def _expand(pname: str, prefixes: dict[str, str]) -> str | None:
    prefix, _, local = pname.partition(":")
    ns = prefixes.get(prefix)
    return None if ns is None else ns + re.sub(r"\\(.)", r"\1", local)


def _resolve(iri: str, base: str) -> str:
    return urljoin(base, iri) if base else iri


def _term_iri(tok: Token, prefixes: dict[str, str], base: str) -> str | None:
    if tok.kind == "iri":
        return _resolve(tok.text[1:-1], base)
    if tok.kind == "pname":
        return _expand(tok.text, prefixes)
    return None


def cap_rows(text: str, cap: int) -> str | None:
    """A SELECT with its top-level LIMIT at most `cap` (added when absent), character positions
    kept; None when the text cannot be capped that way (then the caller counts rows itself)."""
    depth = 0
    limit_at: Token | None = None
    values_at: Token | None = None
    toks = list(tokens(text))
    for i, tok in enumerate(toks):
        if tok.kind == "punct" and tok.text in "{([":
            depth += 1
        elif tok.kind == "punct" and tok.text in CLOSERS:
            depth -= 1
        elif depth == 0 and tok.kind == "word":
            word = tok.text.upper()
            if word == "LIMIT" and i + 1 < len(toks) and toks[i + 1].kind == "number":
                limit_at = toks[i + 1]
            elif word == "VALUES":
                values_at = tok
    if limit_at is not None:
        if not limit_at.text.isdigit():
            return None
        if int(limit_at.text) <= cap:
            return text
        width = len(limit_at.text)  # zero-padded: every later character keeps its column
        end = limit_at.start + width
        return text[: limit_at.start] + str(cap).zfill(width) + text[end:]
    if values_at is not None:
        return None  # a trailing VALUES clause: inserting before it would move error columns
    return f"{text}\nLIMIT {cap}"
