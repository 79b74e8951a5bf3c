"""The shipped files: find them, say which named graph each goes into, and rebase IRIs.

Data flows one way: files -> load (here) -> validate -> store -> routes.

A source is a folder holding ontology/, graph/ and shapes/: the checkout for curators
(`--source-dir`), or the copy an installed package carries (`config.default_source_dir`).
`check_source` refuses a source missing any of the three before anything is loaded: an empty
graph that "conforms" is the worst kind of success.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
from rdflib import Graph, URIRef

from .namespaces import graph_iri

KINDS = ("ontology", "graph", "shapes")
GRAPH_KIND = {"ontology": "ontology", "graph": "facts", "shapes": "shapes"}
WHAT = {"ontology": "ontology", "graph": "facts", "shapes": "shapes"}  # what a folder holds


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


class MissingSourceError(SourceError):
    """The source folder lacks the ontology, the shapes or the facts (the message is one line)."""


def check_source(source_dir: Path) -> None:
    """Raise MissingSourceError unless each of ontology/, graph/ and shapes/ under `source_dir`
    has a Turtle file stating at least one triple.

    Cheap: each file is read only up to its first triple. A file that does not parse counts as
    present here; loading it reports the syntax error with its line and column.
    """
    if not source_dir.is_dir():
        raise MissingSourceError(f"the source folder {source_dir} does not exist")
    missing = [f"no {WHAT[kind]} ({kind}/*.ttl)" for kind in KINDS if not _states(source_dir, kind)]
    if missing:
        raise MissingSourceError(
            f"{source_dir} has {', '.join(missing)}: "
            "--source-dir must name a folder holding ontology/, graph/ and shapes/"
        )


def _states(source_dir: Path, kind: str) -> bool:
    """True when some Turtle file in source_dir/kind states a triple (or fails to parse)."""
    for path in sorted((source_dir / kind).glob("*.ttl")):
        try:
            if next(iter(ox.parse(path=path, format=ox.RdfFormat.TURTLE)), None) is not None:
                return True
        except (SyntaxError, ValueError):
            return True  # not empty; loading reports where it breaks
        except OSError:
            continue  # unreadable: not a source of anything
    return False


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
