"""The query worker process: holds a copy of the data, answers one request at a time.

Started by `isolation.WorkerPool` as `python -c "...worker_main(memory_mb)"`; it imports the
standard library, pyoxigraph and the light modules `framing`, `guard` (row cap),
`wellformed` (what XML can carry) and `confine` (its walls) only, so it starts fast. It confines
itself before it reads a request. Requests come on stdin, answers go to the original stdout
(see `isolation` for the wire format and the operations: load, apply, query, update).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import islice

from .confine import confine
from .errors import NotRepresentable
from .framing import read_frame, write_frame
from .guard import REMEMBER_TEXT_CHARS, cap_rows  # light: no rdflib
from .union import Union
from .update_diff import difference
from .wellformed import rdfxml_statements, xml_document


def worker_main(memory_mb: int | None = None) -> None:
    """Confine this process (`confine`: no network, at most `memory_mb` MiB of address space),
    then serve requests from stdin until it closes; answers go to the original stdout. A
    request that runs out of memory is answered so and the worker exits (the parent replaces
    it: the store may be half-changed)."""
    out = os.dup(1)
    os.dup2(2, 1)  # anything printed by accident goes to stderr, never into the protocol
    walls = confine(memory_mb)  # first: one thread, no request read yet
    _die_with_parent()
    from pyoxigraph import RdfFormat, Store, parse

    store = Store()
    union = Union(store)
    prefixes: dict[str, str] = {}
    while True:
        frame = read_frame(0, None)
        if frame is None:
            return
        header, payload = frame
        op = header["op"]
        try:
            if op == "load":
                store.extend(parse(payload, format=RdfFormat.N_QUADS))
                union.rebuild()
                prefixes = header.get("prefixes") or {}
                write_frame(out, {"ok": True, "walls": walls}, b"")
            elif op == "apply":
                cut = header["removed"]
                union.remove(parse(payload[:cut], format=RdfFormat.N_QUADS))
                union.add(parse(payload[cut:], format=RdfFormat.N_QUADS))
            elif op == "query":
                start = time.perf_counter()
                reply, body = run_query(store, header, prefixes, union)
                reply["seconds"] = time.perf_counter() - start
                write_frame(out, reply, body)
            elif op == "update":
                write_frame(out, *_run_update(store, header, union))
            elif op == "crash":  # for tests: a worker dying mid-request
                os._exit(3)
        except MemoryError:
            write_frame(out, {"ok": False, "kind": "memory", "message": "out of memory"}, b"")
            os._exit(4)


@lru_cache(maxsize=1024)
def _cap_rows_cached(text: str, cap: int) -> str | None:
    return cap_rows(text, cap)


def _cap_rows(text: str, cap: int) -> str | None:
    """`guard.cap_rows`, remembered for short texts: the same ones come again and again."""
    return cap_rows(text, cap) if len(text) > REMEMBER_TEXT_CHARS else _cap_rows_cached(text, cap)


def run_query(store, h: dict, prefixes: dict[str, str], union=None) -> tuple[dict, bytes]:
    """Evaluate one query request on `store` and serialize it: (reply header, body). Over the
    union, `union` (`union.Union`) is the default graph; without one, the store's graphs read in
    turn (the engine asks so only while no triple is held by two graphs)."""
    from pyoxigraph import QueryBoolean, QuerySolutions

    kw = _dataset(h, union)
    capped = None
    if h.get("form") == "select":
        with contextlib.suppress(Exception):  # uncapped: rows are then counted one by one
            capped = _cap_rows(h["text"], h["max_rows"] + 1)
    try:
        try:
            result = store.query(capped or h["text"], **kw)
        except SyntaxError:
            if capped is None or capped == h["text"]:
                raise
            result = store.query(h["text"], **kw)  # the error, as the original text has it
            capped = None
        if isinstance(result, QueryBoolean):
            return {"ok": True, "rows": None, "truncated": False}, _boolean(result, h["format"])
        limit = h["max_rows"]
        if isinstance(result, QuerySolutions) and capped is not None and result.variables:
            reply, body = _native_solutions(result, limit, h["format"])
            return {**reply, "capped": True}, body
        items = list(islice(result, limit + 1))
        truncated = len(items) > limit
        items = items[:limit]
        if isinstance(result, QuerySolutions):
            variables = [v.value for v in result.variables]
            body = _solutions(variables, items, h["format"])
        else:
            body = _triples(items, h["format"], prefixes)
    except NotRepresentable as exc:  # the format asked for cannot carry this result
        return {"ok": False, "kind": "unrepresentable", "message": exc.detail, **exc.extra}, b""
    except SyntaxError as exc:
        return {"ok": False, "kind": "syntax", "message": str(exc)}, b""
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        return {"ok": False, "kind": "evaluation", "message": str(exc)}, b""
    return {"ok": True, "rows": len(items), "truncated": truncated}, body


def run_select_direct(store, h: dict, union=None) -> bytes | None:
    """A SELECT known to fit under the row cap, serialized by pyoxigraph straight from its capped
    text (no row counting); None when it cannot be capped, or its format cannot carry it."""
    from pyoxigraph import QueryResultsFormat

    capped = _cap_rows(h["text"], h["max_rows"] + 1)
    if capped is None:
        return None
    result = store.query(capped, **_dataset(h, union))
    body = result.serialize(format=getattr(QueryResultsFormat, h["format"].upper()))
    try:
        return _results_checked(body, h["format"])
    except NotRepresentable:
        return None  # the worker path runs it again and says why


def _dataset(h: dict, union=None) -> dict:
    """pyoxigraph's keyword arguments for the request's dataset, and the base IRI its relative
    IRIs resolve against (the optional "base": the service's; none, and they are an error)."""
    base = {"base_iri": h["base"]} if h.get("base") else {}
    if h["union"]:
        if union is not None:
            return {**union.dataset(), **base}
        return {"use_default_graph_as_union": True, **base}
    from pyoxigraph import NamedNode

    return {
        "default_graph": [NamedNode(g) for g in h["default"]],
        "named_graphs": [NamedNode(g) for g in h["named"]],
        **base,
    }


def _run_update(store, h: dict, union: Union | None = None) -> tuple[dict, bytes]:
    """Answer with the update's difference: found from its operations' parts where they allow
    ("plan", `update_diff`, in time proportional to the update), else by applying the update to
    a scratch copy of the asserted quads. Relative IRIs resolve against the optional "base" of the
    request (the service's). With "ops" (`update_dataset.operations`), the copy runs one
    operation at a time, and the WHERE of each that has a place for it reads the union of every
    graph, the inferred one included; "copied" in the answer says which way was taken."""
    from pyoxigraph import DefaultGraph, RdfFormat, Store, serialize

    exclude = set(h["exclude"]) | ({union.graph.value} if union is not None else set())
    base = h.get("base") or None
    try:  # its syntax errors, where the text has them (what it does to an empty store: no matter)
        Store().update(h["text"], base_iri=base)
    except SyntaxError as exc:
        return {"ok": False, "kind": "syntax", "message": str(exc)}, b""
    except (OSError, RuntimeError, ValueError, TypeError):
        pass  # CLEAR GRAPH of a graph an empty store lacks: the update itself is run below
    plan = h.get("plan") or []
    quick = difference(store, plan, exclude, base, h.get("max_solutions", 0), union)
    if quick is not None:
        gone, new = quick
        removed = serialize(gone, format=RdfFormat.N_QUADS) or b""
        added = serialize(new, format=RdfFormat.N_QUADS) or b""
        return {"ok": True, "removed": len(removed), "copied": False}, removed + added
    before = {
        q
        for q in store
        if isinstance(q.graph_name, DefaultGraph) or q.graph_name.value not in exclude
    }
    scratch = Store()
    scratch.extend(before)
    try:
        if not h.get("ops"):
            scratch.update(h["text"], base_iri=base)
        else:
            _run_operations(store, scratch, h["ops"], exclude, base)
    except SyntaxError as exc:
        return {"ok": False, "kind": "syntax", "message": str(exc)}, b""
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        return {"ok": False, "kind": "evaluation", "message": str(exc)}, b""
    after = set(scratch)
    removed = serialize(list(before - after), format=RdfFormat.N_QUADS) or b""
    added = serialize(list(after - before), format=RdfFormat.N_QUADS) or b""
    return {"ok": True, "removed": len(removed), "copied": True}, removed + added


def _run_operations(store, scratch, ops: list, exclude: set[str], base: str | None) -> None:
    """Each operation (text, where its USING goes or None) in turn on `scratch`; before one that
    reads the union, a graph under a fresh random name gets every triple of `scratch` and of
    the excluded (inferred) graphs, and is taken away again after it."""
    import uuid

    from pyoxigraph import NamedNode, Quad

    from .update_dataset import using_clause

    union = NamedNode(f"urn:uuid:{uuid.uuid4()}")
    for text, at in ops:
        if at is None:
            scratch.update(text, base_iri=base)
            continue
        quads = list(scratch) + [
            q for g in exclude for q in store.quads_for_pattern(None, None, None, NamedNode(g))
        ]
        scratch.extend(Quad(q.subject, q.predicate, q.object, union) for q in quads)
        named = sorted(g.value for g in scratch.named_graphs() if g != union)
        scratch.update(text[:at] + using_clause(union.value, named) + text[at:], base_iri=base)
        scratch.remove_graph(union)


def _native_solutions(result, limit: int, fmt: str) -> tuple[dict, bytes]:
    """Serialized by pyoxigraph as TSV (one line per row, so rows are counted as lines), cut
    at the cap, then converted by pyoxigraph to the asked format (TSV keeps every term)."""
    from pyoxigraph import QueryResultsFormat, parse_query_results

    tsv = result.serialize(format=QueryResultsFormat.TSV)
    rows = tsv.count(b"\n") - 1
    truncated = rows > limit
    if truncated:
        cut = -1
        for _ in range(limit + 1):
            cut = tsv.index(b"\n", cut + 1)
        tsv, rows = tsv[: cut + 1], limit
    if fmt == "tsv":
        return {"ok": True, "rows": rows, "truncated": truncated}, tsv
    parsed = parse_query_results(tsv, format=QueryResultsFormat.TSV)
    body = parsed.serialize(format=getattr(QueryResultsFormat, fmt.upper()))
    return {"ok": True, "rows": rows, "truncated": truncated}, _results_checked(body, fmt)


def _boolean(result, fmt: str) -> bytes:
    from pyoxigraph import QueryResultsFormat

    return _results_checked(result.serialize(format=getattr(QueryResultsFormat, fmt.upper())), fmt)


def _results_checked(body: bytes | None, fmt: str) -> bytes:
    """SPARQL results as serialized, XML made well-formed or refused (`wellformed`)."""
    body = body or b""
    return xml_document(body, "SPARQL Results XML", "results") if fmt == "xml" else body


def _solutions(variables: list[str], rows: list, fmt: str) -> bytes:
    """SPARQL JSON results built here; pyoxigraph converts them to XML, CSV or TSV."""
    from pyoxigraph import QueryResultsFormat, parse_query_results

    bindings = []
    for row in rows:
        binding = {}
        for name, term in zip(variables, row, strict=True):
            if term is not None:
                binding[name] = _term_json(term)
        bindings.append(binding)
    doc = {"head": {"vars": variables}, "results": {"bindings": bindings}}
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if fmt == "json":
        return body
    parsed = parse_query_results(body, format=QueryResultsFormat.JSON)
    return _results_checked(parsed.serialize(format=getattr(QueryResultsFormat, fmt.upper())), fmt)


def _term_json(term) -> dict:
    from pyoxigraph import BlankNode, Literal, NamedNode

    if isinstance(term, NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != "http://www.w3.org/2001/XMLSchema#string":
            out["datatype"] = term.datatype.value
        return out
    return {  # an RDF 1.2 triple term
        "type": "triple",
        "value": {
            "subject": _term_json(term.subject),
            "predicate": _term_json(term.predicate),
            "object": _term_json(term.object),
        },
    }


def _triples(triples: Sequence, fmt: str, prefixes: dict[str, str]) -> bytes:
    from pyoxigraph import RdfFormat, serialize

    rdf = {
        "turtle": RdfFormat.TURTLE,
        "nt": RdfFormat.N_TRIPLES,
        "jsonld": RdfFormat.JSON_LD,
        "rdfxml": RdfFormat.RDF_XML,
    }[fmt]
    if rdf == RdfFormat.RDF_XML:
        triples = rdfxml_statements(triples, "graph")
    with_prefixes = None
    if rdf in (RdfFormat.TURTLE, RdfFormat.RDF_XML):
        with_prefixes = used_prefixes(triples, prefixes)
    body = serialize(triples, format=rdf, prefixes=with_prefixes) or b""
    return xml_document(body, "RDF/XML", "graph") if rdf == RdfFormat.RDF_XML else body


def used_prefixes(statements: Iterable, prefixes: dict[str, str]) -> dict[str, str]:
    """The prefixes whose namespace some IRI of `statements` (triples or quads) lives in."""
    by_ns: dict[str, str] = {}
    for name, ns in prefixes.items():
        by_ns.setdefault(ns, name)
    used: dict[str, str] = {}
    seen: set[str] = set()
    for st in statements:
        for term in (st.subject, st.predicate, st.object, getattr(st, "graph_name", None)):
            iri = getattr(term, "value", None)
            if iri is None or type(term).__name__ != "NamedNode":
                term = getattr(term, "datatype", None)  # a literal's datatype
                iri = getattr(term, "value", None)
                if iri is None:
                    continue
            cut = max(iri.rfind("#"), iri.rfind("/")) + 1
            ns = iri[:cut]
            if ns in seen:
                continue
            seen.add(ns)
            if ns in by_ns:
                used[by_ns[ns]] = ns
    return used


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies, and watch the parent anyway."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()
