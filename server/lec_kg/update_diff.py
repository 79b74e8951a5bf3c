"""An update's difference found without copying the store (runs in a query worker).

The engine must know what an update removes and adds before anything is stored (to check the
protection, infer, validate, journal). Copying the whole asserted data into a scratch store,
running the update there and comparing costs time in proportion to the graph (0.8 s at 1e5
triples); here it costs time in proportion to the update, for the operation forms that carry
their data or a WHERE (`update_dataset.Parts`):

- INSERT DATA / DELETE DATA: the quads of the block, read by the engine itself (the block run as
  INSERT DATA on an empty store, so blank nodes, IRIs and literals are exactly what the engine
  makes of them);
- DELETE/INSERT ... WHERE and DELETE WHERE: the WHERE's solutions, asked of the store as a
  SELECT over the dataset the operation reads (`update_dataset`: the union for one that names
  none, its USING as FROM, WITH's graph, or the default graph for DELETE WHERE; named graphs: the
  asserted ones), then each template instantiated by the engine on an empty store with the
  solutions as VALUES (blank nodes of the store go there as IRIs no request can know and come
  back), as SPARQL defines: unbound or ill-formed instantiations dropped, fresh blank nodes per
  solution for INSERT.

Operations run one after another, each on the store as the earlier ones left it: their changes
are applied to the worker's own store and taken back before the answer, whatever happens. A
form not listed (CLEAR, DROP, COPY, ...), more solutions than `max_solutions`, or a solution
holding a triple term gives None: the caller then runs the update on a copy (`worker`).

Quads of the excluded (inferred) graphs count as absent, as in the copy, which holds none: an
update cannot delete them, and one that would write there is refused by the engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pyoxigraph import (
    BlankNode,
    DefaultGraph,
    NamedNode,
    Quad,
    QuerySolutions,
    Store,
    Triple,
)

from .union import Union

# Above this many solutions of one WHERE, the copy is as quick and needs no VALUES text that big.
MAX_SOLUTIONS = 20_000


class _Unhandled(Exception):
    """This update needs the copy (see the module doc)."""


def difference(
    store: Store,
    plan: list[dict],
    exclude: set[str],
    base: str | None,
    max_solutions: int,
    union: Union | None = None,
) -> tuple[list[Quad], list[Quad]] | None:
    """What running `plan` (`update_dataset.Operation`s as dicts) would remove from and add to
    `store`, which is left as it was; None when a part of the plan needs the copy. With `union`
    (the worker's union graph, `union`, whose name is in `exclude`), a WHERE over the union reads
    it, and it follows the operations' changes."""
    add = union.add if union is not None else store.extend
    drop = union.remove if union is not None else _remove_each(store)
    if not plan or any(op.get("parts") is None for op in plan):
        return None
    removed: dict[Quad, None] = {}
    added: dict[Quad, None] = {}
    # The named graphs an operation's GRAPH sees: the asserted ones holding quads, and those the
    # earlier operations wrote to (a graph emptied on the way stays one), as in the copy.
    named = {
        g: None
        for g in store.named_graphs()
        if not isinstance(g, BlankNode)
        and g.value not in exclude
        and next(iter(store.quads_for_pattern(None, None, None, g)), None) is not None
    }
    try:
        for op in plan:
            gone, new = _operation(store, op["parts"], list(named), base, max_solutions, union)
            for q in gone:
                if _present(store, q, exclude):
                    drop([q])
                    if q in added:
                        del added[q]
                    else:
                        removed[q] = None
            for q in new:
                if isinstance(q.graph_name, NamedNode):
                    named.setdefault(q.graph_name)
                if not _present(store, q, exclude):
                    add([q])
                    if q in removed:
                        del removed[q]
                    else:
                        added[q] = None
        return list(removed), list(added)
    except (_Unhandled, SyntaxError, OSError, RuntimeError, ValueError, TypeError):
        return None  # the copy runs it, and reports any error against the update's own text
    finally:  # the store as it was
        drop(list(added))
        add(list(removed))


def _remove_each(store: Store) -> Callable[[Iterable[Quad]], None]:
    def remove(quads: Iterable[Quad]) -> None:
        for q in quads:
            store.remove(q)

    return remove


def _present(store: Store, q: Quad, exclude: set[str]) -> bool:
    graph = q.graph_name
    if not isinstance(graph, DefaultGraph) and graph.value in exclude:
        return False
    return q in store


def _operation(
    store: Store,
    parts: dict,
    named: list[NamedNode],
    base: str | None,
    max_solutions: int,
    union: Union | None,
) -> tuple[list[Quad], list[Quad]]:
    """What one operation deletes and inserts (before checking what is there); `named`: the
    named graphs its WHERE's GRAPH patterns see."""
    kind, prologue = parts["kind"], parts["prologue"]
    if kind == "insert-data":
        return [], _instantiate(prologue + "INSERT DATA " + parts["where"], base, {})
    if kind == "delete-data":  # the same block, read the same way
        return _instantiate(prologue + "INSERT DATA " + parts["where"], base, {}), []
    select = (
        prologue + "SELECT DISTINCT * " + (parts.get("using") or "") + " WHERE " + parts["where"]
    )
    dataset: dict = {}
    if kind == "delete-where":
        dataset = {"default_graph": [DefaultGraph()], "named_graphs": named}
    elif parts.get("using"):
        dataset = {}  # the query's FROM and FROM NAMED
    elif parts.get("with_iri"):
        dataset = {"default_graph": [_with_graph(parts, base)], "named_graphs": named}
    elif union is not None:
        dataset = {"default_graph": [union.graph], "named_graphs": named}
    else:
        dataset = {"use_default_graph_as_union": True, "named_graphs": named}
    solutions = store.query(select, base_iri=base, **dataset)
    assert isinstance(solutions, QuerySolutions)
    variables = [v.value for v in solutions.variables]
    rows = []
    for solution in solutions:
        rows.append([solution[v] for v in variables])
        if len(rows) > max_solutions:
            raise _Unhandled
    if not rows:
        return [], []
    values = _values(variables, rows)
    head = prologue + (f"WITH {parts['with_iri']} " if parts.get("with_iri") else "")
    if kind == "delete-where":
        templates = [parts["where"], None]
    else:
        templates = [parts.get("delete"), parts.get("insert")]
    gone, new = (
        _instantiate(f"{head}INSERT {t} WHERE {{ {values.text} }}", base, values.blanks)
        if t
        else []
        for t in templates
    )
    return gone, new


def _with_graph(parts: dict, base: str | None) -> NamedNode:
    """The graph WITH names, resolved by the engine (prefixed names, relative IRIs)."""
    scratch = Store()
    scratch.update(
        parts["prologue"] + f"WITH {parts['with_iri']} INSERT {{ <urn:x:s> <urn:x:p> <urn:x:o> }} "
        "WHERE {}",
        base_iri=base,
    )
    (quad,) = list(scratch)
    assert isinstance(quad.graph_name, NamedNode)
    return quad.graph_name


@dataclass(frozen=True)
class _Values:
    """A VALUES clause, and the IRIs in it that stand for the store's blank nodes."""

    text: str
    blanks: dict[str, BlankNode]


def _values(variables: list[str], rows: list[list]) -> _Values:
    prefix = f"urn:uuid:{uuid.uuid4()}:"
    blanks: dict[str, BlankNode] = {}

    def term(t: object) -> str:
        if t is None:
            return "UNDEF"
        if isinstance(t, Triple):
            raise _Unhandled
        if isinstance(t, BlankNode):
            iri = prefix + t.value
            blanks[iri] = t
            return f"<{iri}>"
        return str(t)

    rows_text = " ".join("(" + " ".join(term(t) for t in row) + ")" for row in rows)
    names = " ".join("?" + v for v in variables)
    return _Values(f"VALUES ({names}) {{ {rows_text} }}", blanks)


def _instantiate(update: str, base: str | None, blanks: dict[str, BlankNode]) -> list[Quad]:
    """The quads `update` (an INSERT) writes into an empty store, blank-node stand-ins put back."""
    scratch = Store()
    scratch.update(update, base_iri=base)
    if not blanks:
        return list(scratch)
    return [_unblank(q, blanks) for q in scratch]


def _unblank(q: Quad, blanks: dict[str, BlankNode]) -> Quad:
    def back(t: object) -> object:
        return blanks.get(t.value, t) if isinstance(t, NamedNode) else t

    return Quad(back(q.subject), q.predicate, back(q.object), back(q.graph_name))  # type: ignore[arg-type]
