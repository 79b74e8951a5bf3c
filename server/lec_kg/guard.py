"""Safety checks on SPARQL text before any engine sees it: size, nesting, outbound access.

Nothing here parses SPARQL fully (the engine does that, in a worker process): the lexer of
`sparql_lexer` reads the text once, in time linear in its length, so a hostile query can neither
crash nor stall this process, and refuses, with line and column, any text it cannot read. On its
tokens the guard finds

- the query form (SELECT, ASK, CONSTRUCT, DESCRIBE) after the prologue;
- what this service never does on a request's behalf: SERVICE, LOAD, and FROM / FROM NAMED /
  USING / USING NAMED naming anything but a graph of this store (file:, a remote http(s) graph),
  relative IRIs resolved as the engine resolves them: against the text's BASE, else the base
  given (the service's: the endpoint's IRI);
- what would take the engine down: text over the length cap, brackets nested deeper than the
  depth cap, or a group with more patterns and operators than the engine's recursion survives
  (measured with pyoxigraph 0.5: 5,000 nested groups, 10,000 chained `||` or triple patterns, or
  5,000 BINDs overflow its stack).

The text is read the way pyoxigraph 0.5 reads it (measured, and pinned by tests/test_guard_grammar
against its parser): `\\uXXXX` escapes count inside IRIs and strings only, and its parser, having
no separate lexer, reads keywords without word boundaries (`SERVICE<x>`, `trueSERVICE <x> {}`,
`LOADex:doc`) and a `<` after an operand inside brackets as less-than. So a bare word must be a
SPARQL keyword, a prefixed name must use a declared prefix and must not start with a keyword that
would make the engine read it differently, and an IRI holding `#` or `'` where the engine could
take its `<` for less-than is refused as ambiguous. SPARQL 1.1 §19.2 says codepoint escapes are
decoded everywhere before parsing (spargebra does so only with a build option pyoxigraph leaves
off); a text holding any is therefore also read once decoded, and must pass there too, so an
engine that follows §19.2 to the letter is guarded as well. Only SERVICE and LOAD reach out: FROM,
USING, WITH and GRAPH name graphs of the store, which pyoxigraph never fetches.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache

from .engine_api import QueryForm
from .errors import ForbiddenOperation, QuerySyntaxError, QueryTooComplex
from .sparql_lexer import (
    Token,
    Unreadable,
    decode_codepoints,
    decode_iri,
    expand,
    line_col,
    resolve,
    syntax_error_at,
    syntax_error_from,
    tokens,
)

# The lexer's names its callers (engine, worker, protocol, tests) know from the guard.
__all__ = [
    "REMEMBER_TEXT_CHARS",
    "Inspection",
    "Limits",
    "Token",
    "cap_rows",
    "check_dataset",
    "inspect",
    "syntax_error_at",
    "syntax_error_from",
    "tokens",
]

# Query texts up to this long may be remembered (parsed requests, inspections, row caps, the
# speed of a query and its results); longer ones are handled afresh every time, so what is kept
# stays bounded whatever clients send.
REMEMBER_TEXT_CHARS = 8192

MAX_DEPTH = 64  # brackets ({ ( [ << <<( {|) open at once; real queries stay under 20
MAX_GROUP_ITEMS = 1000  # patterns and operators in one group; the engine crashes near 5,000
QUERY_FORMS: dict[str, QueryForm] = {
    "SELECT": "select",
    "ASK": "ask",
    "CONSTRUCT": "construct",
    "DESCRIBE": "describe",
}
CLOSERS = {"}": "{", ")": "(", "]": "[", ")>>": "<<(", ">>": "<<", "|}": "{|"}
OPENERS = frozenset(CLOSERS.values())
CHAIN_PUNCT = frozenset(
    [".", ";", "||", "&&", "+", "-", "*", "/", "|", "=", "!=", "<", ">", "<=", ">="]
)
CHAIN_WORDS = frozenset({"UNION", "FILTER", "BIND", "OPTIONAL", "MINUS"})
FORBIDDEN = ("SERVICE", "LOAD")
# Every bare word of SPARQL 1.1 and 1.2 and of pyoxigraph's extensions (case-insensitive).
KEYWORDS = frozenset(
    """BASE PREFIX VERSION SELECT DISTINCT REDUCED AS CONSTRUCT WHERE DESCRIBE ASK FROM NAMED
    GROUP BY HAVING ORDER ASC DESC LIMIT OFFSET VALUES LOAD SILENT INTO CLEAR DROP CREATE ADD TO
    MOVE COPY INSERT DATA DELETE WITH USING DEFAULT GRAPH ALL OPTIONAL SERVICE BIND UNDEF MINUS
    UNION FILTER LATERAL IN NOT EXISTS SEPARATOR A TRUE FALSE STR LANG LANGMATCHES LANGDIR
    DATATYPE BOUND IRI URI BNODE RAND ABS CEIL FLOOR ROUND CONCAT STRLEN UCASE LCASE
    ENCODE_FOR_URI CONTAINS STRSTARTS STRENDS STRBEFORE STRAFTER YEAR MONTH DAY HOURS MINUTES
    SECONDS TIMEZONE TZ NOW UUID STRUUID MD5 SHA1 SHA256 SHA384 SHA512 COALESCE IF STRLANG
    STRLANGDIR STRDT SAMETERM ISIRI ISURI ISBLANK ISLITERAL ISNUMERIC ISTRIPLE HASLANG HASLANGDIR
    TRIPLE SUBJECT PREDICATE OBJECT ADJUST REGEX SUBSTR REPLACE COUNT SUM MIN MAX AVG SAMPLE
    GROUP_CONCAT""".split()  # noqa: SIM905
)
# Words after which the engine reads an IRI or a prefixed name that names a graph, a prefix or
# an endpoint: a prefixed name glued to one of them (`GRAPHex:g`) is refused as ambiguous.
GLUE_WORDS = frozenset(
    """SERVICE LOAD SILENT FROM NAMED USING WITH GRAPH INTO TO DEFAULT ADD MOVE COPY CREATE DROP
    CLEAR PREFIX DESCRIBE""".split()  # noqa: SIM905
)
OPERAND_ENDS = frozenset({"var", "string", "langtag", "number", "iri", "pname", "bnode"})


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
    iris: frozenset[str]  # every IRI the text names (escapes decoded, prefixed names expanded)


def inspect(text: str, limits: Limits, *, update: bool = False, base: str = "") -> Inspection:
    """Read `text` once and check it against the limits and the refusals (see the module doc).

    Relative IRIs resolve against `base` (the service's base IRI, the endpoint's), or against
    the text's own BASE, itself resolved against `base`, as the engine resolves them; with no
    base (the default), a relative IRI is kept as written."""
    if not update and len(text) > limits.max_chars:
        raise QueryTooComplex(
            f"the query is {len(text):,} characters long; the limit is {limits.max_chars:,}"
        )
    if "\\u" not in text and "\\U" not in text:
        return _inspect(text, limits, update, base, text, None)
    decoded, origin = decode_codepoints(text)  # SPARQL 1.1 §19.2: decoded before parsing
    try:
        found = _inspect(text, limits, update, base, text, None)
    except QuerySyntaxError:
        if decoded != text:  # a refusal of what the decoded text asks for says more
            _inspect(decoded, limits, update, base, text, origin)
        raise
    if decoded != text:
        _inspect(decoded, limits, update, base, text, origin)
    return found


def _inspect(
    text: str, limits: Limits, update: bool, base: str, shown: str, origin: list[int] | None
) -> Inspection:
    """The checks on one reading of the request; positions are reported in `shown`."""

    def where(offset: int) -> int:
        return offset if origin is None else origin[min(offset, len(origin) - 1)]

    def refuse(offset: int, why: str) -> QuerySyntaxError:
        if origin is not None:
            why += " (once its \\u escapes are decoded, as SPARQL 1.1 §19.2 reads it)"
        return syntax_error_at(shown, where(offset), why)

    def line(offset: int) -> str:
        decoded = "" if origin is None else ", once its \\u escapes are decoded"
        return f"line {line_col(shown, where(offset))[0]}{decoded}"

    try:
        toks = list(tokens(text))
    except Unreadable as exc:
        if origin is None:
            raise
        raise refuse(exc.offset, exc.why) from None
    declared_anywhere = {
        toks[i + 1].text[:-1]
        for i in range(len(toks) - 1)
        if toks[i].kind == "word" and toks[i].text.upper() == "PREFIX"
    }
    prefixes: dict[str, str] = {}
    form: QueryForm | None = None
    default: list[str] = []
    named: list[str] = []
    iris: set[str] = set()
    stack: list[tuple[str, int, bool, int]] = []  # (opener, outer items, data, offset)
    items = 0  # items of the current group
    values_at = -1  # depth at which a VALUES clause waits for its `{`
    body_at = -1  # offset of the first token after the prologue
    skip = 0  # tokens of a prologue declaration still to pass over
    prev: Token | None = None
    for i, tok in enumerate(toks):
        kind, value = tok.kind, tok.text
        upper = value.upper() if kind == "word" else ""
        # Inside brackets, after an operand, the engine reads `<` as less than: an IRI there
        # that holds `#` or `'`, or a `<<`, would be read differently by the two.
        after_operand = (
            value[0] == "<"
            and bool(stack)
            and stack[-1][0] == "("
            and not stack[-1][2]
            and _ends_operand(prev)
        )
        if after_operand and value in ("<<", "<<("):
            raise refuse(tok.start, f"'{value}' after an operand: write '< <' for less than")
        if kind == "punct" and value in OPENERS:
            data = bool(stack and stack[-1][2]) or (
                value == "{" and (prev is not None and prev.text.upper() == "DATA")
            )
            if value == "{" and values_at == len(stack):
                data, values_at = True, -1
            stack.append((value, items, data, tok.start))
            items = 0
            if len(stack) > limits.max_depth:
                raise QueryTooComplex(
                    f"brackets are nested more than {limits.max_depth} deep "
                    f"({line(tok.start)}); flatten the query"
                )
            prev = tok
            continue
        if kind == "punct" and value in CLOSERS:
            if not stack or stack[-1][0] != CLOSERS[value]:
                raise refuse(tok.start, f"unexpected '{value}'")
            items = stack.pop()[1]
            prev = tok
            continue
        in_data = bool(stack and stack[-1][2])
        if not in_data and ((kind == "punct" and value in CHAIN_PUNCT) or upper in CHAIN_WORDS):
            items += 1
            if items > limits.max_group_items:
                raise QueryTooComplex(
                    f"a group holds more than {limits.max_group_items} patterns and operators "
                    f"({line(tok.start)}); split the query"
                )
        if kind == "word":
            _check_word(value, upper, tok.start, refuse, line)
            if upper == "VALUES":
                values_at = len(stack)
        elif kind == "iri":
            if after_operand and ("#" in value or "'" in value):
                raise refuse(
                    tok.start,
                    f"'{value}' may be read as an IRI or as '<' (less than) followed by code; "
                    "write a space after '<' when it means less than",
                )
            iris.add(resolve(decode_iri(value), base))
        elif kind == "pname":
            prefix = value[: value.index(":")]
            if not (prev is not None and prev.text.upper() == "PREFIX"):  # a use, not a declaration
                _check_glued(prefix, declared_anywhere, tok.start, refuse, line)
                if prefix not in prefixes:
                    raise refuse(tok.start, f"the prefix '{prefix}:' is not declared")
                iris.add(expand(value, prefixes))
        prev = tok
        if stack:
            continue
        # The prologue and the dataset clauses live at the top level only.
        if skip:
            skip -= 1
            continue
        if upper == "PREFIX":
            name = toks[i + 1] if i + 1 < len(toks) else None
            iri = toks[i + 2] if i + 2 < len(toks) else None
            if name is None or name.kind != "pname" or not name.text.endswith(":"):
                raise refuse(tok.start, "PREFIX must be followed by a name like 'ex:'")
            if iri is None or iri.kind != "iri":
                raise refuse(tok.start, "PREFIX must be followed by a name and an IRI")
            prefixes[name.text[:-1]] = resolve(decode_iri(iri.text), base)
            skip = 2
        elif upper == "BASE":
            if i + 1 >= len(toks) or toks[i + 1].kind != "iri":
                raise refuse(tok.start, "BASE must be followed by an IRI")
            base = resolve(decode_iri(toks[i + 1].text), base)
            skip = 1
        elif upper == "VERSION":
            skip = 1
        elif body_at < 0:
            body_at = tok.start
        if upper in QUERY_FORMS and form is None and not update:
            form = QUERY_FORMS[upper]
        elif upper in ("FROM", "USING"):
            is_named = i + 1 < len(toks) and toks[i + 1].text.upper() == "NAMED"
            at = i + 2 if is_named else i + 1
            graph = _term_iri(toks[at], prefixes, base) if at < len(toks) else None
            if graph is None:
                raise refuse(tok.start, f"{upper} must be followed by an IRI")
            (named if is_named else default).append(graph)
    if stack:
        raise refuse(stack[-1][3], f"'{stack[-1][0]}' is not closed")
    if not update and form is None:
        raise refuse(
            max(body_at, 0),
            "not a query: expected SELECT, ASK, CONSTRUCT or DESCRIBE after the prologue",
        )
    return Inspection(form, tuple(default), tuple(named), frozenset(iris))


def _forbidden(word: str, where: str) -> ForbiddenOperation:
    if word == "SERVICE":
        return ForbiddenOperation(
            "SERVICE is not allowed: this service never sends requests to other endpoints "
            f"({where})"
        )
    return ForbiddenOperation(
        "LOAD is not allowed: this service never fetches or reads documents on a "
        f"request's behalf; send the data in INSERT DATA instead ({where})"
    )


def _check_word(
    value: str,
    upper: str,
    start: int,
    refuse: Callable[[int, str], QuerySyntaxError],
    line: Callable[[int], str],
) -> None:
    """A bare word is a keyword; SERVICE and LOAD, even glued to others, are refused."""
    if upper in KEYWORDS:
        if upper in FORBIDDEN:
            raise _forbidden(upper, line(start))
        return
    for word in FORBIDDEN:
        if word in upper:
            raise _forbidden(word, line(start))
    parts = _split(upper, KEYWORDS)
    if parts:
        raise refuse(start, f"'{value}' reads as {' '.join(parts)}: put spaces between keywords")
    raise refuse(start, f"'{value}' is not a SPARQL keyword")


def _check_glued(
    prefix: str,
    declared: Collection[str],
    start: int,
    refuse: Callable[[int, str], QuerySyntaxError],
    line: Callable[[int], str],
) -> None:
    """Refuse a prefix the engine could read as keywords and another prefix (`GRAPHex:`)."""
    forbidden, cuts = _glue(prefix.upper())
    if forbidden:
        raise ForbiddenOperation(
            f"{forbidden} is not allowed, and the engine may read the prefix '{prefix}:' as "
            f"{forbidden} ({line(start)}): rename the prefix"
        )
    for cut in cuts:
        if prefix[cut:] in declared:
            raise refuse(
                start,
                f"'{prefix}:' may be read as {prefix[:cut]} {prefix[cut:]}:; "
                "rename the prefix or put a space after the keyword",
            )


def _glue(upper: str) -> tuple[str | None, tuple[int, ...]]:
    """How a prefix name may come apart: a forbidden keyword in it after other keywords (or at
    its start), and the lengths of its beginnings made of keywords that precede a name."""
    return _glue_short(upper) if len(upper) <= 64 else _glue_now(upper)


def _glue_now(upper: str) -> tuple[str | None, tuple[int, ...]]:
    keywords = _reach(upper, KEYWORDS)
    for word in FORBIDDEN:
        at = upper.find(word)
        while at >= 0:
            if keywords[at] >= 0:
                return word, ()
            at = upper.find(word, at + 1)
    glue = _reach(upper, GLUE_WORDS)
    return None, tuple(cut for cut in range(1, len(upper) + 1) if glue[cut] >= 0)


_glue_short = lru_cache(maxsize=4096)(_glue_now)


def _split(word: str, vocabulary: frozenset[str]) -> tuple[str, ...] | None:
    """`word` (upper case) cut into two or more keywords of `vocabulary`, if it can be."""
    back = _reach(word, vocabulary)
    if back[len(word)] < 0:
        return None
    parts: list[str] = []
    end = len(word)
    while end > 0:
        parts.append(word[back[end] : end])
        end = back[end]
    return tuple(reversed(parts)) if len(parts) > 1 else None


def _reach(word: str, vocabulary: frozenset[str]) -> list[int]:
    """For each length n, where the last keyword of a cut of `word[:n]` into keywords of
    `vocabulary` begins (-1: no cut; 0 for n = 0); keywords are at most 14 letters."""
    back = [0] + [-1] * len(word)
    for end in range(1, len(word) + 1):
        for begin in range(max(0, end - 14), end):
            if back[begin] >= 0 and word[begin:end] in vocabulary:
                back[end] = begin
                break
    return back


def _ends_operand(tok: Token | None) -> bool:
    """True for a token after which a `<` may be the less-than operator."""
    if tok is None:
        return False
    if tok.kind in OPERAND_ENDS:
        return True
    if tok.kind == "word":
        return tok.text in ("true", "false")
    return tok.kind == "punct" and tok.text in (")", "]", "}", ")>>", ">>")


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


def _term_iri(tok: Token, prefixes: dict[str, str], base: str) -> str | None:
    if tok.kind == "iri":
        return resolve(decode_iri(tok.text), base)
    if tok.kind == "pname" and tok.text.partition(":")[0] in prefixes:
        return expand(tok.text, prefixes)
    return None


def cap_rows(text: str, cap: int) -> str | None:
    """A SELECT with its top-level LIMIT at most `cap` (added when absent), character positions
    kept; None when the text cannot be capped that way (then the caller counts rows itself)."""
    depth = 0
    limit_at: Token | None = None
    values_at: Token | None = None
    try:
        toks = list(tokens(text))
    except QuerySyntaxError:
        return None
    for i, tok in enumerate(toks):
        if tok.kind == "punct" and tok.text in OPENERS:
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
