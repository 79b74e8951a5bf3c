"""Which dataset an update's WHERE reads: the union default graph, as queries read it.

Queries see as default graph the union of every graph (pyoxigraph's `use_default_graph_as_union`),
but pyoxigraph's `Store.update` offers no such option: a `DELETE/INSERT ... WHERE` reads the
store's own default graph only. So the worker runs an update one operation at a time
(`operations`) and, before the WHERE of each operation that does not choose its dataset itself
(no USING, USING NAMED or WITH), writes `USING <u> USING NAMED <g>...`, where `<u>` is a graph
holding the union of the data at that moment (under a name no request can know) and the `<g>`
are the store's named graphs, so GRAPH patterns see what they saw before.

Left as SPARQL defines them: what a template writes or deletes without GRAPH is the store's own
default graph (only the WHERE reads the union); `DELETE WHERE { P }`, whose pattern is also
what it deletes, reads the default graph alone; an operation with USING, USING NAMED or WITH
(or the Protocol's using-graph-uri, made into USING) reads the dataset it names.

The same reading gives each operation's parts (`Parts`): the worker finds the difference of
INSERT DATA, DELETE DATA, DELETE WHERE and DELETE/INSERT ... WHERE from them without copying the
store (`update_diff`), over the same datasets; the copy above stays for the other operations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .guard import CLOSERS, OPENERS, tokens
from .sparql_lexer import Token


@dataclass(frozen=True)
class Parts:
    """The parts of an operation that `update_diff` needs to find its difference without copying
    the store, as text (None: the operation has not that part). `kind` is "insert-data",
    "delete-data", "delete-where" or "modify"; `where` is the group after WHERE (for the data and
    DELETE WHERE forms, the quads' block); `using` the USING clauses written as FROM clauses."""

    kind: str
    prologue: str
    where: str
    with_iri: str | None = None
    delete: str | None = None
    insert: str | None = None
    using: str | None = None


@dataclass(frozen=True)
class Operation:
    """One operation of an update, with the update's prologue in front, where in `text` the USING
    clauses go when its WHERE reads the union (None: it does not), and its parts when it is one of
    the forms `update_diff` handles (INSERT DATA, DELETE DATA, DELETE WHERE, DELETE/INSERT ...
    WHERE; None for the graph management operations)."""

    text: str
    union_at: int | None
    parts: Parts | None = None


def operations(text: str) -> list[Operation]:
    """The operations of `text` (split at `;` outside brackets), each with the prologue (BASE,
    PREFIX: pyoxigraph reads one, at the start), where its WHERE's dataset goes, and its parts."""
    toks = list(tokens(text))
    i = 0
    while i < len(toks) and toks[i].kind == "word" and toks[i].text.upper() in ("BASE", "PREFIX"):
        i += 2 if toks[i].text.upper() == "BASE" else 3
    prologue = text[: toks[i].start] if i < len(toks) else text
    out: list[Operation] = []
    depth = 0
    start = i
    for j in range(i, len(toks) + 1):
        tok = toks[j] if j < len(toks) else None
        if tok is None or (tok.kind == "punct" and tok.text == ";" and depth == 0):
            if j > start:
                end = tok.start if tok is not None else len(text)
                out.append(_operation(text, toks[start:j], end, prologue))
            start = j + 1
            continue
        if tok.kind == "punct":
            depth += tok.text in OPENERS
            depth -= tok.text in CLOSERS
    return out


def _operation(text: str, toks: list[Token], end: int, prologue: str) -> Operation:
    """One operation from its tokens (`end`: where its text ends)."""
    begin = toks[0].start
    items = _top_level(toks, end)
    words = [tok.text.upper() if tok is not None and tok.kind == "word" else "" for tok, _ in items]
    own_dataset = "USING" in words or "WITH" in words
    union_at: int | None = None
    if "WHERE" in words:
        at = words.index("WHERE")
        if not (at > 0 and words[at - 1] == "DELETE"):
            union_at = items[at][0].start  # type: ignore[union-attr]
    offset = len(prologue) - begin
    return Operation(
        prologue + text[begin:end],
        None if own_dataset or union_at is None else union_at + offset,
        _parts(text, items, words, prologue),
    )


def _top_level(toks: list[Token], end: int) -> list[tuple[Token | None, tuple[int, int] | None]]:
    """The operation's tokens outside brackets, each bracketed group as (None, (start, end))."""
    items: list[tuple[Token | None, tuple[int, int] | None]] = []
    depth = 0
    opened = 0
    for tok in toks:
        if tok.kind == "punct" and tok.text in OPENERS:
            if depth == 0:
                opened = tok.start
            depth += 1
            continue
        if tok.kind == "punct" and tok.text in CLOSERS:
            depth -= 1
            if depth == 0:
                items.append((None, (opened, tok.start + len(tok.text))))
            continue
        if depth == 0:
            items.append((tok, None))
    if depth:  # unbalanced: the engine's parser reports it
        items.append((None, None))
    return items


def _parts(text: str, items: list, words: list[str], prologue: str) -> Parts | None:
    """The parts of one operation, or None when it is not a form `update_diff` handles."""

    def group(k: int) -> str | None:
        if k < len(items) and items[k][0] is None and items[k][1] is not None:
            a, b = items[k][1]
            return text[a:b] if text[a] == "{" else None
        return None

    def ends_at(k: int) -> bool:
        return k == len(items)

    first = words[0] if words else ""
    second = words[1] if len(words) > 1 else ""
    if (first, second) in (("INSERT", "DATA"), ("DELETE", "DATA"), ("DELETE", "WHERE")):
        block = group(2)
        if block is None or not ends_at(3):
            return None
        kind = "delete-where" if second == "WHERE" else f"{first.lower()}-data"
        return Parts(kind, prologue, block)
    k = 0
    with_iri = None
    if first == "WITH":
        tok = items[1][0] if len(items) > 1 else None
        if tok is None or tok.kind not in ("iri", "pname"):
            return None
        with_iri, k = tok.text, 2
    delete = insert = None
    if k < len(words) and words[k] == "DELETE":
        delete, k = group(k + 1), k + 2
        if delete is None:
            return None
    if k < len(words) and words[k] == "INSERT":
        insert, k = group(k + 1), k + 2
        if insert is None:
            return None
    if delete is None and insert is None:
        return None
    using: list[str] = []
    while k < len(words) and words[k] == "USING":
        named = k + 1 < len(words) and words[k + 1] == "NAMED"
        at = k + 1 + named
        tok = items[at][0] if at < len(items) else None
        if tok is None or tok.kind not in ("iri", "pname"):
            return None
        using.append(("FROM NAMED " if named else "FROM ") + tok.text)
        k = at + 1
    if k >= len(words) or words[k] != "WHERE":
        return None
    where = group(k + 1)
    if where is None or not ends_at(k + 2):
        return None
    return Parts(
        "modify", prologue, where, with_iri, delete, insert, " ".join(using) if using else None
    )


def using_clause(union: str, named: list[str]) -> str:
    """`USING <union>` and `USING NAMED <g>` for each named graph, ready to go before WHERE."""
    return " ".join([f"USING <{union}>", *(f"USING NAMED <{g}>" for g in named), ""])


def worker_request(text: str, *, exclude: list[str], base: str, max_solutions: int) -> dict:
    """The query worker's "update" request for `text` (`worker._run_update`): its operations'
    parts for `update_diff`, and for the copy the operations whose WHERE reads the union."""
    ops = operations(text)
    union = [[op.text, op.union_at] for op in ops] if any(op.union_at for op in ops) else []
    return {
        "op": "update",
        "text": text,
        "ops": union,
        "plan": [{"parts": asdict(op.parts) if op.parts else None} for op in ops],
        "max_solutions": max_solutions,
        "exclude": exclude,
        "base": base,
    }
