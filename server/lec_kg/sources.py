"""The shipped files: find them, say which named graph each goes into, and rebase IRIs.

Data flows one way: files -> load (here) -> validate -> store -> routes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph, URIRef

from .namespaces import graph_iri

KINDS = ("ontology", "graph", "shapes")
GRAPH_KIND = {"ontology": "ontology", "graph": "facts", "shapes": "shapes"}


@dataclass(frozen=True)
class SourceFile:
    """One Turtle file of the project and the named graph it is loaded into."""

    path: Path
    kind: str  # one of KINDS: the folder it lives in
    graph_name: str  # <base>graph/<ontology|facts|shapes>/<stem>


def discover(source_dir: Path, base_iri: str, kinds: Iterable[str] = KINDS) -> list[SourceFile]:
    """Every *.ttl file under the given folders, in a stable order."""
    found = []
    for kind in kinds:
        folder = source_dir / kind
        for path in sorted(folder.glob("*.ttl")):
            found.append(SourceFile(path, kind, graph_iri(base_iri, GRAPH_KIND[kind], path.stem)))
    return found


class SourceError(ValueError):
    """A shipped file cannot be read or parsed."""


def rebase_term(term, canonical: str, base: str):
    """The term with an IRI under `canonical` moved under `base`; other terms unchanged."""
    if isinstance(term, URIRef) and str(term).startswith(canonical):
        return URIRef(base + str(term)[len(canonical) :])
    return term


def rebase(graph: Graph, canonical: str, base: str) -> Graph:
    """The graph with every IRI under `canonical` moved under `base` (a deployment's own host)."""
    if base == canonical:
        return graph
    out = Graph()
    for prefix, ns in graph.namespaces():
        out.bind(prefix, rebase_term(URIRef(ns), canonical, base), override=True)
    for s, p, o in graph:
        out.add(tuple(rebase_term(t, canonical, base) for t in (s, p, o)))
    return out
