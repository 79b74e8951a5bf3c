"""JSON-LD that reads like plain JSON: the published `@context` and the compact writer using it.

`build_context` makes the context from what the ontology and the shapes declare: the
vocabularies' prefixes, one short term per property (`label`, `party`, `date`: the local
name; where two vocabularies share a local name the project's own term keeps it and the other
is written as a compact IRI, `dcterms:title`), typed coercions where the declarations agree
(`"@type": "@id"` for a property whose values are things, `xsd:date` for dates,
`"@language": null` for plain strings), one term per class of the ontology
(`"type": "Treaty"`), `id` and `type` for `@id` and `@type`, English as the default
language, so `"label": "Europol"` means "Europol"@en, and the reverse terms the framed
documents nest with (`steps`: the nodes whose `lec:stepOf` is this one; `jsonld_frames`).

`compact_chunks` writes quads compacted with such a context, as a stream, without a JSON-LD
processor: a value is written short under its term only when the term's coercion gives it back
exactly; any other value is written in full (`{"@value": ..., "@type": ...}`) under the
property's compact IRI, which carries no coercion. The context is embedded in every document
written (the very object `/context.jsonld` serves), so no reader, and never the server, has to
fetch anything to read a dump.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pyoxigraph import BlankNode, DefaultGraph, Literal, NamedNode, Quad

from .config import Settings
from .engine_api import Engine, QueryRequest
from .namespaces import CANONICAL_BASE
from .sources import discover
from .store import prefixes_of

RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XSD = "http://www.w3.org/2001/XMLSchema#"
NOT_COERCED = {
    RDF + "langString",
    RDF + "PlainLiteral",
    "http://www.w3.org/2000/01/rdf-schema#Literal",
}
LANGUAGE = "en"
KEYWORD_ALIASES = {"id": "@id", "type": "@type"}
# Reverse terms, for the framed documents: a treaty's `steps`, a node's `statements`.
REVERSE_TERMS = {
    "steps": "lec:stepOf",
    "provisions": "lec:provisionOf",
    "parts": "lec:partOfCampaign",
    "statements": "lec:statementSubject",
}
CHUNK_CHARS = 1 << 16


# What the ontology and the shapes say of each property: ("@id" for things, or a datatype).
PROPERTY_SIGNALS = """
PREFIX owl: <http://www.w3.org/2002/07/owl#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#>
PREFIX sh: <http://www.w3.org/ns/shacl#>
SELECT DISTINCT ?p ?signal WHERE {
  GRAPH ?g {
    { VALUES ?kind { owl:ObjectProperty owl:DatatypeProperty owl:AnnotationProperty rdf:Property }
      ?p a ?kind .
      OPTIONAL { ?p rdfs:range ?range }
      BIND(IF(?kind = owl:ObjectProperty, "@id", IF(STRSTARTS(STR(?range),
        "http://www.w3.org/2001/XMLSchema#"), STR(?range), ?unbound)) AS ?signal) }
    UNION
    { ?shape sh:path ?p . FILTER(isIRI(?p))
      OPTIONAL { ?shape sh:datatype ?datatype }
      OPTIONAL { ?shape sh:nodeKind ?kind }
      OPTIONAL { ?shape sh:class ?class }
      BIND(IF(BOUND(?datatype), STR(?datatype), IF(BOUND(?class) || ?kind = sh:IRI,
        "@id", ?unbound)) AS ?signal) }
  }
  FILTER(STRSTARTS(STR(?g), "{ontology}") || STRSTARTS(STR(?g), "{shapes}"))
}"""
CLASSES = """
SELECT DISTINCT ?c WHERE { GRAPH ?g { ?c a <http://www.w3.org/2002/07/owl#Class> }
  FILTER(isIRI(?c) && STRSTARTS(STR(?g), "{ontology}")) }"""


def context_for(engine: Engine, settings: Settings) -> dict[str, Any]:
    """The context of this deployment: its ontology and shapes as the store holds them, and
    the prefixes the shipped files declare for vocabularies (not those of things under id/)."""
    base = settings.base_iri
    graphs = {"{ontology}": f"{base}graph/ontology/", "{shapes}": f"{base}graph/shapes/"}

    def rows(query: str) -> list[dict[str, str]]:
        for key, value in graphs.items():
            query = query.replace(key, value)
        body = engine.query(QueryRequest(query), "application/sparql-results+json").body
        found = json.loads(body)["results"]["bindings"]
        return [{k: v["value"] for k, v in row.items()} for row in found]

    prefixes = {}
    for name, ns in prefixes_of(discover(settings.source_dir, base)).items():
        ns = base + ns[len(CANONICAL_BASE) :] if ns.startswith(CANONICAL_BASE) else ns
        if not ns.startswith(base + "id/"):
            prefixes[name] = ns
    properties = [(r["p"], r.get("signal")) for r in rows(PROPERTY_SIGNALS)]
    classes = [r["c"] for r in rows(CLASSES)]
    return build_context(prefixes, properties, classes, base + "ontology#")


def local_name(iri: str) -> str:
    """What follows the last `#` or `/` of an IRI."""
    return iri[max(iri.rfind("#"), iri.rfind("/")) + 1 :]


def build_context(
    prefixes: Mapping[str, str],
    properties: Iterable[tuple[str, str | None]],
    classes: Iterable[str],
    own_namespace: str,
) -> dict[str, Any]:
    """The `{"@context": ...}` document: `prefixes` (name -> namespace), `properties` as
    (property IRI, what a declaration says its values are: "@id", a datatype IRI or None),
    `classes` the ontology's classes; terms of `own_namespace` win a shared local name."""
    names = {n: ns for n, ns in sorted(prefixes.items()) if n and n not in KEYWORD_ALIASES}
    signals: dict[str, set[str]] = {}
    for iri, signal in properties:
        signals.setdefault(iri, set())
        if signal is not None and signal not in NOT_COERCED:
            signals[iri].add(signal)
    candidates: dict[str, list[str]] = {}
    for iri in sorted({*signals, *classes}):
        name = local_name(iri)
        if name and name not in names and name not in KEYWORD_ALIASES and ":" not in name:
            candidates.setdefault(name, []).append(iri)
    ctx: dict[str, Any] = {"@language": LANGUAGE, **KEYWORD_ALIASES, **names}
    terms: dict[str, Any] = {}
    for name, iris in sorted(candidates.items()):
        own = [i for i in iris if i.startswith(own_namespace)]
        if len(iris) > 1 and len(own) != 1:
            continue  # nobody's: every one of them is written as a compact IRI
        iri = own[0] if len(iris) > 1 else iris[0]
        short = _curie(iri, names)
        kinds = signals.get(iri)
        if kinds is None or len(kinds) != 1 or iri == RDF_TYPE:
            terms[name] = short  # a class, or a property without one agreed coercion
        else:
            (kind,) = kinds
            if kind == XSD + "string":  # a plain string, no language: as readers expect it
                terms[name] = {"@id": short, "@language": None}
            else:
                terms[name] = {
                    "@id": short,
                    "@type": kind if kind == "@id" else _curie(kind, names),
                }
    ctx.update(terms)
    for name, target in REVERSE_TERMS.items():  # for the frames (`jsonld_frames`)
        iri = own_namespace + target.partition(":")[2]
        if name not in ctx and iri in signals:
            ctx[name] = {"@reverse": _curie(iri, names), "@container": "@set"}
    return {"@context": ctx}


def _curie(iri: str, prefixes: Mapping[str, str]) -> str:
    """`iri` as prefix:local with the longest namespace that fits, else the IRI itself."""
    best = ""
    for name, ns in prefixes.items():
        if iri.startswith(ns) and len(ns) > len(prefixes.get(best, "")):
            best = name
    return f"{best}:{iri[len(prefixes[best]) :]}" if best else iri


class Compactor:
    """Writes node objects for one context (see the module doc)."""

    def __init__(self, context: Mapping[str, Any]) -> None:
        ctx = context["@context"]
        self.language = ctx.get("@language")
        self.prefixes = {
            n: d for n, d in ctx.items() if isinstance(d, str) and d.endswith(("#", "/"))
        }
        self.terms: dict[str, tuple[str, str | None]] = {}  # IRI -> (term, coercion)
        self.vocab: dict[str, str] = {}  # IRI -> term, for values of `type`
        for name, definition in ctx.items():
            if name.startswith("@") or name in self.prefixes or name in KEYWORD_ALIASES:
                continue
            if isinstance(definition, dict) and "@reverse" in definition:
                continue  # a reverse term: for the frames, never written by this compactor
            if isinstance(definition, str):
                iri = self.expand(definition)
                self.terms[iri] = (name, None)
                self.vocab[iri] = name
            else:
                coercion = definition.get("@type")
                if "@language" in definition:  # null: strings without a language
                    coercion = XSD + "string"
                elif coercion is not None and coercion != "@id":
                    coercion = self.expand(coercion)
                self.terms[self.expand(definition["@id"])] = (name, coercion)

    def expand(self, value: str) -> str:
        prefix, colon, rest = value.partition(":")
        if colon and prefix in self.prefixes and not rest.startswith("//"):
            return self.prefixes[prefix] + rest
        return value

    def node(self, subject: Any, pairs: Iterable[tuple[Any, Any]]) -> dict[str, Any]:
        """The node object of `subject` with its (predicate, object) pairs."""
        out: dict[str, Any] = {"id": _ref(subject)}
        types: list[str] = []
        keys: dict[str, list[Any]] = {}
        for predicate, obj in pairs:
            if predicate.value == RDF_TYPE and isinstance(obj, NamedNode):
                types.append(self.vocab.get(obj.value) or self.curie(obj.value))
                continue
            key, value = self.entry(predicate.value, obj)
            keys.setdefault(key, []).append(value)
        if types:
            out["type"] = types[0] if len(types) == 1 else types
        for key in sorted(keys):
            values = keys[key]
            out[key] = values[0] if len(values) == 1 else values
        return out

    def entry(self, predicate: str, obj: Any) -> tuple[str, Any]:
        """The key and value one statement is written with."""
        term = self.terms.get(predicate)
        if term is not None:
            name, coercion = term
            if coercion is None:
                if isinstance(obj, Literal) and obj.language and obj.language == self.language:
                    return name, obj.value
                return name, self.value(obj)
            if coercion == "@id" and isinstance(obj, (NamedNode, BlankNode)):
                return name, _ref(obj)
            if isinstance(obj, Literal) and not obj.language and obj.datatype.value == coercion:
                return name, obj.value
        return self.curie(predicate), self.value(obj)

    def value(self, obj: Any) -> dict[str, str]:
        """A value object that means `obj` under any key without a coercion."""
        if isinstance(obj, (NamedNode, BlankNode)):
            return {"@id": _ref(obj)}
        if obj.language:
            return {"@value": obj.value, "@language": obj.language}
        if obj.datatype.value == XSD + "string":
            return {"@value": obj.value}
        return {"@value": obj.value, "@type": self.curie(obj.datatype.value)}

    def curie(self, iri: str) -> str:
        """A compact IRI for a key or a type, never a term (a term may carry a coercion)."""
        short = _curie(iri, self.prefixes)
        return short if short != iri and local_name(short) else iri


def _ref(term: Any) -> str:
    return f"_:{term.value}" if isinstance(term, BlankNode) else term.value


def compact_chunks(
    quads: Iterable[Quad], context: Mapping[str, Any], *, dataset: bool
) -> Iterator[bytes]:
    """The quads as one compact JSON-LD document, in chunks of UTF-8. `dataset`: named graphs
    as `{"id": <graph>, "@graph": [...]}` (default-graph nodes at the top); else one graph's
    triples as the document's `@graph`."""
    compactor = Compactor(context)
    by_graph: dict[str | None, dict[Any, list[tuple[Any, Any]]]] = {}
    for q in quads:
        graph = None if isinstance(q.graph_name, DefaultGraph) or not dataset else q.graph_name
        key = None if graph is None else graph.value
        by_graph.setdefault(key, {}).setdefault(q.subject, []).append((q.predicate, q.object))
    return _write(compactor, context, by_graph)


def _write(
    compactor: Compactor,
    context: Mapping[str, Any],
    by_graph: dict[str | None, dict[Any, list[tuple[Any, Any]]]],
) -> Iterator[bytes]:
    def nodes(subjects: dict[Any, list[tuple[Any, Any]]]) -> list[dict[str, Any]]:
        ordered = sorted(subjects.items(), key=lambda item: _ref(item[0]))
        return [compactor.node(s, sorted(pairs, key=str)) for s, pairs in ordered]

    top = {node["id"]: node for node in nodes(by_graph.pop(None, {}))}

    def pieces() -> Iterator[str]:
        yield '{"@context":' + dump(context["@context"]) + ',\n"@graph":['
        first = True
        for name in sorted(k for k in by_graph if k is not None):
            graph_node = top.pop(name, None) or {"id": name}
            yield ("\n" if first else ",\n") + dump(graph_node)[:-1] + ',"@graph":['
            first = False
            for i, node in enumerate(nodes(by_graph[name])):
                yield ("\n" if i == 0 else ",\n") + dump(node)
            yield "]}"
        for node in top.values():
            yield ("\n" if first else ",\n") + dump(node)
            first = False
        yield "\n]}\n"

    return batched(pieces())


def dump(value: Any) -> str:
    """One JSON value, compact, as the JSON-LD writers write it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def batched(pieces: Iterable[str]) -> Iterator[bytes]:
    """`pieces` joined into UTF-8 chunks of about CHUNK_CHARS characters, for streaming."""
    pending: list[str] = []
    size = 0
    for piece in pieces:
        pending.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            yield "".join(pending).encode("utf-8")
            pending, size = [], 0
    if pending:
        yield "".join(pending).encode("utf-8")
