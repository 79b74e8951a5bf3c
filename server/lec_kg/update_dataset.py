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
"""

from __future__ import annotations

from dataclasses import dataclass

from .guard import CLOSERS, OPENERS, tokens


@dataclass(frozen=True)
class Operation:
    """One operation of an update, with the update's prologue in front, and where in `text`
    the USING clauses go when its WHERE reads the union (None: it does not)."""

    text: str
    union_at: int | None


def operations(text: str) -> list[Operation]:
    """The operations of `text` (split at `;` outside brackets), each with the prologue (BASE,
    PREFIX: pyoxigraph reads one, at the start), and where its WHERE's dataset goes."""
    toks = list(tokens(text))
    i = 0
    while i < len(toks) and toks[i].kind == "word" and toks[i].text.upper() in ("BASE", "PREFIX"):
        i += 2 if toks[i].text.upper() == "BASE" else 3
    prologue = text[: toks[i].start] if i < len(toks) else text
    out: list[Operation] = []
    depth = 0
    start = i
    union_at: int | None = None
    own_dataset = False
    for j in range(i, len(toks) + 1):
        tok = toks[j] if j < len(toks) else None
        if tok is None or (tok.kind == "punct" and tok.text == ";" and depth == 0):
            if j > start:
                begin = toks[start].start
                end = tok.start if tok is not None else len(text)
                at = None if own_dataset or union_at is None else union_at - begin
                op = prologue + text[begin:end]
                out.append(Operation(op, None if at is None else len(prologue) + at))
            start, union_at, own_dataset = j + 1, None, False
            continue
        if tok.kind == "punct":
            depth += tok.text in OPENERS
            depth -= tok.text in CLOSERS
            continue
        word = tok.text.upper() if tok.kind == "word" else ""
        if depth or not word:
            continue
        if word in ("USING", "WITH"):
            own_dataset = True
        elif word == "WHERE":
            after_delete = j > start and toks[j - 1].text.upper() == "DELETE"
            union_at = None if after_delete else tok.start
    return out


def using_clause(union: str, named: list[str]) -> str:
    """`USING <union>` and `USING NAMED <g>` for each named graph, ready to go before WHERE."""
    return " ".join([f"USING <{union}>", *(f"USING NAMED <{g}>" for g in named), ""])
