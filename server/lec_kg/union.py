"""The union default graph as a set: what queries read when they name no dataset (runs in a query
worker).

pyoxigraph's `use_default_graph_as_union` reads every graph in turn, so a triple held by two
graphs (a submission restating a shipped fact, an update restating it in the default graph) is
matched twice: `COUNT` counts it twice and a label comes back twice. SPARQL's dataset is an RDF
merge, a set of triples, as Fuseki's union graph is. So the worker keeps, beside the graphs, one
graph under a name no request can know holding each triple of any graph once, changed with
every quad it adds or removes, and queries read it as their default graph, with every other graph
as a named graph (never this one: `GRAPH ?g` does not see it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from pyoxigraph import DefaultGraph, NamedNode, Quad, Store


class Union:
    """The store's union graph (see the module doc), kept by `add` and `remove`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.graph = NamedNode(f"urn:uuid:{uuid.uuid4()}")
        self.named: list[NamedNode] = []
        self._known: set = set()

    def rebuild(self) -> None:
        """The union graph made anew from the graphs (after a load)."""
        g = self.graph
        if g in self.store.named_graphs():
            self.store.remove_graph(g)
        self.store.extend([Quad(q.subject, q.predicate, q.object, g) for q in self.store])
        self._refresh()

    def add(self, quads: Iterable[Quad]) -> None:
        quads = list(quads)
        g = self.graph
        self.store.extend(quads)
        self.store.extend([Quad(q.subject, q.predicate, q.object, g) for q in quads])
        if any(q.graph_name not in self._known for q in quads):
            self._refresh()

    def remove(self, quads: Iterable[Quad]) -> None:
        """Remove `quads`; a triple no graph holds any more leaves the union, and a named graph
        left empty is gone, as in the engine's own store (`store.MemoryStore`)."""
        g = self.graph
        emptied = set()
        for q in quads:
            self.store.remove(q)
            if not any(
                other.graph_name != g
                for other in self.store.quads_for_pattern(q.subject, q.predicate, q.object, None)
            ):
                self.store.remove(Quad(q.subject, q.predicate, q.object, g))
            if isinstance(q.graph_name, NamedNode):
                emptied.add(q.graph_name)
        gone = [
            graph
            for graph in emptied
            if next(iter(self.store.quads_for_pattern(None, None, None, graph)), None) is None
        ]
        for graph in gone:
            self.store.remove_graph(graph)
        if gone:
            self._refresh()

    def dataset(self) -> dict:
        """pyoxigraph's keyword arguments for a query over the union: this graph as the default
        graph, every other graph as a named graph."""
        return {"default_graph": [self.graph], "named_graphs": self.named}

    def _refresh(self) -> None:
        self.named = [g for g in self.store.named_graphs() if g != self.graph]  # type: ignore[misc]
        self._known = {*self.named, self.graph, DefaultGraph()}
