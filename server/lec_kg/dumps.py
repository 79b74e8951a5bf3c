"""The catalogue of dumps: their formats, URLs and file names, one place for routes, VoID and CLI.

A dump is the whole dataset or one named graph in one format. The whole dataset (every named
graph but the inferred one) keeps its graphs in the quad formats (TriG, N-Quads, JSON-LD); in
a triple format (Turtle, N-Triples, RDF/XML) it is the union of its graphs, merged, as RDF
defines the merge of graphs: the same triples, without saying which graph holds each. A named
graph keeps its name in TriG and N-Quads and is its triples in the other formats (in JSON-LD
the document's own `@graph`). The inferred graph is a dump of its own, never in the whole.

URLs, under the service's public base:
- `/dump` and `/dump.<ext>`: the whole dataset (negotiated, or by extension);
- `/dump/<path>` and `/dump/<path>.<ext>`: the graph `<base>graph/<path>`
  (`/dump/facts/actors.ttl`, `/dump/inferred.nq`);
- `/dump?graph=<IRI>&format=<key>`: any graph, its IRI given whole.
- `/framed/<kind>.jsonld`: the nodes of one kind framed with `/frame/<kind>.jsonld`
  (`jsonld_frames`).
File names are stable for a release: `lec-kg-<version>.<ext>`,
`lec-kg-<path with dashes>-<version>.<ext>` and `lec-kg-framed-<kind>-<version>.jsonld`.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

from .negotiation import MediaType, by_name

# The formats of a dump, in the server's order of preference (TriG first: it keeps the graphs
# and reads like Turtle).
DUMP_FORMATS: tuple[MediaType, ...] = tuple(
    m
    for name in (
        "application/trig",
        "application/n-quads",
        "application/ld+json",
        "text/turtle",
        "application/n-triples",
        "application/rdf+xml",
    )
    if (m := by_name(name, "graph", "dataset")) is not None
)
BY_EXTENSION: dict[str, MediaType] = {m.extension: m for m in DUMP_FORMATS}
IANA = "https://www.iana.org/assignments/media-types/"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def graph_path(graph: str, base: str) -> str | None:
    """The path of a graph under `<base>graph/` (`facts/actors`), or None for any other IRI."""
    prefix = base + "graph/"
    if graph.startswith(prefix) and len(graph) > len(prefix):
        return graph[len(prefix) :]
    return None


def graph_at(path: str, base: str) -> str:
    """The graph IRI a dump path names: `<base>graph/<path>`."""
    return f"{base}graph/{path}"


def dump_url(public_base: str, base: str, graph: str | None, media: MediaType) -> str:
    """The absolute URL of a dump: the whole dataset (`graph` None) or one graph."""
    if graph is None:
        return f"{public_base}/dump.{media.extension}"
    path = graph_path(graph, base)
    if path is not None:
        return f"{public_base}/dump/{quote(path, safe='/-._~')}.{media.extension}"
    return f"{public_base}/dump?graph={quote(graph, safe='')}&format={media.key}"


def file_name(version: str, base: str, graph: str | None, media: MediaType) -> str:
    """The file a dump is saved as: `lec-kg-0.2.0.trig`, `lec-kg-facts-actors-0.2.0.ttl`."""
    version = _UNSAFE.sub("-", version).strip("-") or "unversioned"
    if graph is None:
        return f"lec-kg-{version}.{media.extension}"
    path = graph_path(graph, base)
    if path is None:
        slug = "graph-" + hashlib.sha1(graph.encode("utf-8")).hexdigest()[:12]
    else:
        slug = _UNSAFE.sub("-", path.replace("/", "-")).strip("-")[:120] or "graph"
    return f"lec-kg-{slug}-{version}.{media.extension}"


def framed_url(public_base: str, kind: str) -> str:
    """The absolute URL of the framed document of one kind."""
    return f"{public_base}/framed/{quote(kind, safe='')}.jsonld"


def frame_url(public_base: str, kind: str) -> str:
    """The absolute URL of the frame of one kind (what its framed document conforms to)."""
    return f"{public_base}/frame/{quote(kind, safe='')}.jsonld"


def framed_file_name(version: str, kind: str) -> str:
    """The file a framed document is saved as: `lec-kg-framed-instrument-0.2.0.jsonld`."""
    version = _UNSAFE.sub("-", version).strip("-") or "unversioned"
    return f"lec-kg-framed-{_UNSAFE.sub('-', kind)}-{version}.jsonld"


def iana(media: MediaType) -> str:
    """The IANA registry IRI of a media type (what dcat:mediaType names)."""
    return IANA + media.name
