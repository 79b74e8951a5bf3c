"""SHACL-AF SPARQL targets, selected once per validation with Oxigraph.

pySHACL evaluates an sh:SPARQLTarget with rdflib's SPARQL engine, which takes seconds on the
shipped graph; Oxigraph answers the same queries in milliseconds. The validator takes the SPARQL
targets out of its private copy of the shapes (`split`) and, for each validation, puts in the
nodes they select as sh:targetNode (`with_target_nodes`). The shapes files keep the standard
SHACL-AF form, so any SHACL engine reads them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyoxigraph as ox
from rdflib import RDF, BNode, Graph, Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node


@dataclass(frozen=True)
class SparqlTarget:
    """One sh:target [ a sh:SPARQLTarget ] of a shape, with its query ready to run."""

    shape: Node
    target: Node
    query: str


def split(shapes: Graph) -> tuple[Graph, list[SparqlTarget]]:
    """A copy of the shapes without their SPARQL targets, and those targets."""
    out = Graph()
    for prefix, ns in shapes.namespaces():
        out.bind(prefix, ns)
    out += shapes
    targets = []
    for shape, target in shapes.subject_objects(SH.target):
        if (target, RDF.type, SH.SPARQLTarget) not in shapes:
            continue
        text = str(shapes.value(target, SH.select))
        targets.append(SparqlTarget(shape, target, _prefix_block(shapes, target) + text))
        out.remove((shape, SH.target, target))
        out.remove((target, None, None))
    return out, targets


def with_target_nodes(
    shapes: Graph, targets: Iterable[SparqlTarget], data: Iterable[Graph]
) -> Graph:
    """A copy of `shapes` where each SPARQL target's shape gets the nodes it selects in `data`."""
    store = ox.Store()
    store.bulk_extend(
        ox.Quad(_to_ox(s), _to_ox(p), _to_ox(o))  # type: ignore[arg-type]  # rdflib's triples
        for g in data
        for s, p, o in g
    )
    out = Graph()
    out += shapes
    for t in targets:
        solutions = store.query(t.query)
        assert isinstance(solutions, ox.QuerySolutions)  # sh:select is a SELECT
        for row in solutions:
            out.add((t.shape, SH.targetNode, _from_ox(row["this"])))
    return out


def _prefix_block(shapes: Graph, target: Node) -> str:
    lines = []
    for declarations in shapes.objects(target, SH.prefixes):
        for d in shapes.objects(declarations, SH.declare):
            prefix = shapes.value(d, SH.prefix)
            namespace = shapes.value(d, SH.namespace)
            lines.append(f"PREFIX {prefix}: <{namespace}>\n")
    return "".join(lines)


def _to_ox(term: Node) -> ox.NamedNode | ox.BlankNode | ox.Literal:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode(str(term))
    if isinstance(term, Literal):
        if term.language:
            return ox.Literal(str(term), language=term.language)
        if term.datatype:
            return ox.Literal(str(term), datatype=ox.NamedNode(str(term.datatype)))
        return ox.Literal(str(term))
    raise TypeError(f"not an RDF term: {term!r}")


def _from_ox(term: ox.NamedNode | ox.BlankNode | ox.Literal) -> Node:
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    raise TypeError(f"a SPARQL target selected a literal: {term}")
