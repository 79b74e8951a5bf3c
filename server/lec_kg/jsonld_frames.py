"""Framed JSON-LD per kind: the published frames and the framing of the store's data with them.

A frame (JSON-LD 1.1 Framing) picks the nodes of one kind and nests what belongs to them: a
treaty with its parties, its life-cycle steps (each with its step party, stage, dates and
evidence), its safeguard provisions and its evidence passages; a campaign with its actors and
the events that are part of it; an event with its participants, places and instruments; an
actor with the bodies it belongs to and where it is. `KINDS` says which, in the words of the
published context (`jsonld.build_context`, whose reverse terms `steps`, `provisions`, `parts`
and `statements` exist for these frames); `frames_for` makes each frame document with that
context embedded whole and the kind's classes (the root class and its sub-classes, as the
ontology has them). The frames use only these features, so they mean the same to any JSON-LD
1.1 processor:
- the top frame matches by `type`; its node is written whole, and what it links to but the
  frame does not name is a reference (`"@embed": "@never"`);
- a nested frame is `"@embed": "@always"` and `"@explicit": true` with the properties shown
  (`"id": {}` matches any node, so naming properties never filters), or `"@never"`, a reference;
- `"@omitDefault": true` everywhere: a missing property is left out, never written as null.

Doubt stays as the graph has it (graph/README.md, "Statements and doubt"): an uncertain or
competing reading is no triple of the graph, so no frame can write it as a value; the
`lec:Statement` nodes about a node are nested under its `statements`, with their certainty,
argument and evidence, and the statement's object is only a reference.

`frame_chunks` frames quads (the asserted data, every named graph merged, as the Framing
algorithm does by default) with one of these frames, as jsonld.js does (tests/test_framing.py
checks it against jsonld.js): top-level nodes in `@id` order, a blank node's identifier kept
only where it is named twice, no processor, and nothing fetched.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode, Quad, RdfFormat, parse

from .engine_api import Engine, QueryRequest
from .jsonld import CHUNK_CHARS, RDF_TYPE, REVERSE_TERMS, Compactor

OPTIONAL: dict[str, Any] = {"@omitDefault": True}
REF: dict[str, Any] = {"@embed": "@never", "@omitDefault": True}
DATES = ("date", "notBefore", "notAfter", "startDate", "endDate", "earliestDate", "latestDate")


def nested(**properties: Any) -> dict[str, Any]:
    """A nested frame: the node embedded wherever it is linked, with these properties only."""
    frame: dict[str, Any] = {
        "@embed": "@always",
        "@explicit": True,
        "@omitDefault": True,
        "id": {},
    }
    for name, sub in properties.items():
        frame[name.replace("__", ":")] = sub
    return frame


SUMMARY = nested(label=OPTIONAL)
PASSAGE = nested(isPartOf=REF, page=OPTIONAL, quote=OPTIONAL, footnote=OPTIONAL, citesWork=REF)
STATEMENT = nested(
    label=OPTIONAL,
    statementPredicate=REF,
    statementObject=REF,
    certainty=REF,
    alternativeTo=REF,
    readingArgument=OPTIONAL,
    uncertaintyNote=OPTIONAL,
    evidence=PASSAGE,
)
STEP = nested(
    label=OPTIONAL,
    rdfs__comment=OPTIONAL,
    stage=REF,
    stepParty=SUMMARY,
    participant=SUMMARY,
    place=SUMMARY,
    citesWork=REF,
    evidence=PASSAGE,
    statements=STATEMENT,
    **dict.fromkeys(DATES, OPTIONAL),
)
PROVISION = nested(
    label=OPTIONAL,
    rdfs__comment=OPTIONAL,
    safeguard=REF,
    provisionStatus=REF,
    citesWork=REF,
    evidence=PASSAGE,
    statements=STATEMENT,
)
PART = nested(label=OPTIONAL, participant=SUMMARY, place=SUMMARY, **dict.fromkeys(DATES, OPTIONAL))
ROLES = (
    "participant",
    "fromState",
    "toState",
    "requestedBy",
    "host",
    "personConcerned",
    "groupConcerned",
    "victimGroup",
    "targets",
)

# kind -> (root class, classes left out with their sub-classes, what the frame nests)
KINDS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "instrument": (
        "lec:Instrument",
        (),
        {
            "party": SUMMARY,
            "adoptedBy": SUMMARY,
            "supportedBy": SUMMARY,
            "steps": STEP,
            "provisions": PROVISION,
        },
    ),
    "campaign": (
        "lec:Campaign",
        (),
        {
            **dict.fromkeys(
                ("launchedBy", "spearheadedBy", "involvesActor", "wasAssociatedWith"), SUMMARY
            ),
            **dict.fromkeys(("targets", "atLocation", "afterEvent", "broadens"), SUMMARY),
            "partOfCampaign": SUMMARY,
            "parts": PART,
        },
    ),
    "event": (
        "lec:Event",
        ("lec:LifecycleStep",),  # a step is nested in its instrument
        {
            **dict.fromkeys(ROLES, SUMMARY),
            **dict.fromkeys(("place", "instrumentConcerned", "legalBasis"), SUMMARY),
            **dict.fromkeys(("partOfCampaign", "post", "cancelledEvent"), SUMMARY),
        },
    ),
    "actor": (
        "lec:Actor",
        (),
        {
            **dict.fromkeys(("memberOf", "agencyOf", "bodyOf", "locatedIn"), SUMMARY),
            **dict.fromkeys(("homePlace", "atLocation", "holds"), SUMMARY),
        },
    ),
}

SUBCLASSES = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?c WHERE {{ GRAPH ?g {{ ?c rdfs:subClassOf* <{root}> }}
  FILTER(isIRI(?c) && STRSTARTS(STR(?g), "{graph}")) }} ORDER BY ?c"""


def frames_for(engine: Engine, base: str, context: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every kind's frame document: the published context and the kind's classes as terms."""
    compactor = Compactor(context)

    def closure(root: str) -> set[str]:
        query = SUBCLASSES.format(root=compactor.expand(root), graph=base + "graph/ontology/")
        body = engine.query(QueryRequest(query), "application/sparql-results+json").body
        return {row["c"]["value"] for row in json.loads(body)["results"]["bindings"]}

    frames = {}
    for kind, (root, left_out, nests) in KINDS.items():
        classes = closure(root).difference(*(closure(c) for c in left_out))
        types = sorted(compactor.vocab.get(c) or compactor.curie(c) for c in classes)
        frames[kind] = build_frame(context, types, nests)
    return frames


def build_frame(
    context: Mapping[str, Any], types: list[str], nests: Mapping[str, Any]
) -> dict[str, Any]:
    """A top frame: nodes of `types`, whole, with `nests` (and evidence, statements) nested."""
    return {
        "@context": context["@context"],
        "type": types,
        "@embed": "@never",
        **nests,
        "evidence": PASSAGE,
        "statements": STATEMENT,
    }


# ---------------------------------------------------------------- framing


class _Frame:
    """A frame expanded: flags, what it matches, its property and reverse sub-frames."""

    def __init__(self, frame: Mapping[str, Any], compactor: Compactor, reverse: dict[str, str]):
        self.embed = frame.get("@embed", "@once")
        self.explicit = bool(frame.get("@explicit", False))
        self.omit_default = bool(frame.get("@omitDefault", False))
        ids = frame.get("id", frame.get("@id"))
        self.wildcard_id = ids == {}
        self.ids = (
            None if ids is None or ids == {} else set(ids if isinstance(ids, list) else [ids])
        )
        types = frame.get("type", frame.get("@type"))
        self.types = (
            None if types is None else {compactor.expand(_term(t, compactor)) for t in types}
        )
        self.properties: dict[str, _Frame] = {}
        self.reverse: dict[str, _Frame] = {}
        for key, sub in frame.items():
            if key.startswith("@") or key in ("id", "type"):
                continue
            if not isinstance(sub, Mapping):
                raise ValueError(f"unsupported frame value for {key}")
            if key in reverse:
                self.reverse[compactor.expand(reverse[key])] = _Frame(sub, compactor, reverse)
            else:
                self.properties[_property(key, compactor)] = _Frame(sub, compactor, reverse)

    def implicit(self) -> _Frame:
        frame = _Frame.__new__(_Frame)
        frame.embed, frame.explicit, frame.omit_default = self.embed, self.explicit, False
        frame.wildcard_id, frame.ids, frame.types = False, None, None
        frame.properties, frame.reverse = {}, {}
        return frame

    def matches(self, node: _Node) -> bool:
        if self.wildcard_id:
            return True
        if self.ids is not None:
            return node.key in self.ids
        if self.types is not None:
            return bool(self.types.intersection(node.types))
        if self.properties:  # duck typing (not used by the published frames)
            return any(p in node.values for p in self.properties)
        return True


def _term(name: str, compactor: Compactor) -> str:
    """The IRI (or compact IRI) a class term stands for."""
    for iri, term in compactor.vocab.items():
        if term == name:
            return iri
    return name


def _property(key: str, compactor: Compactor) -> str:
    for iri, (term, _) in compactor.terms.items():
        if term == key:
            return iri
    iri = compactor.expand(key)
    if iri == key:
        raise ValueError(f"{key} is no term of the context")
    return iri


class _Node:
    """One node of the node map: its types and its other values (pyoxigraph terms)."""

    __slots__ = ("key", "types", "values")

    def __init__(self, key: str) -> None:
        self.key = key
        self.types: list[str] = []
        self.values: dict[str, list[Any]] = {}


def node_map(quads: Iterable[Quad]) -> dict[str, _Node]:
    """The merged node map: every subject and every node object, all graphs as one."""
    nodes: dict[str, _Node] = {}
    seen: set[tuple[Any, Any, Any]] = set()
    for q in quads:
        triple = (q.subject, q.predicate, q.object)
        if triple in seen:
            continue
        seen.add(triple)
        key = _key(q.subject)
        node = nodes.get(key) or nodes.setdefault(key, _Node(key))
        if q.predicate.value == RDF_TYPE and isinstance(q.object, NamedNode):
            node.types.append(q.object.value)
            continue
        node.values.setdefault(q.predicate.value, []).append(q.object)
        if not isinstance(q.object, Literal):
            other = _key(q.object)
            if other not in nodes:
                nodes[other] = _Node(other)
    return nodes


def _key(term: Any) -> str:
    return f"_:{term.value}" if isinstance(term, BlankNode) else term.value


class _Framer:
    """JSON-LD 1.1 framing (as jsonld.js does it) of a node map, compacted as it goes."""

    def __init__(self, nodes: dict[str, _Node], compactor: Compactor) -> None:
        self.nodes = nodes
        self.compactor = compactor
        self.referrers: dict[tuple[str, str], list[str]] | None = None
        self.stack: list[str] = []
        self.embedded: set[str] = set()
        self.blank_uses: dict[str, list[dict[str, Any]]] = {}
        self.coercion = {name: coercion for name, coercion in compactor.terms.values()}

    def referring(self, predicate: str, target: str) -> list[str]:
        """The nodes whose `predicate` links to `target` (for a reverse frame), in id order."""
        if self.referrers is None:
            self.referrers = {}
            for node in self.nodes.values():
                for p, objects in node.values.items():
                    for o in objects:
                        if not isinstance(o, Literal):
                            self.referrers.setdefault((p, _key(o)), []).append(node.key)
        return sorted(set(self.referrers.get((predicate, target), ())))

    def top(self, frame: _Frame) -> Iterator[dict[str, Any]]:
        """The nodes the top frame matches, in id order, each framed."""
        for key in sorted(k for k, n in self.nodes.items() if frame.matches(n)):
            self.embedded = set()  # each top-level node is a tree of its own
            yield self.embed(self.nodes[key], frame)

    def value(self, key: str, frame: _Frame) -> dict[str, Any] | None:
        """A linked node as `frame` has it: embedded, a reference (`@never`, or a node being
        embedded already: a cycle), or None when it does not match."""
        node = self.nodes[key]
        if not frame.matches(node):
            return None
        if (
            frame.embed == "@never"
            or key in self.stack
            or (frame.embed == "@once" and key in self.embedded)
        ):
            return self._use(key, {"id": key})
        return self.embed(node, frame)

    def _use(self, key: str, out: dict[str, Any]) -> dict[str, Any]:
        if key.startswith("_:"):
            self.blank_uses.setdefault(key, []).append(out)
        return out

    def embed(self, node: _Node, frame: _Frame) -> dict[str, Any]:
        """The node object of `node`: its types, its properties (all, or those the frame names
        when it is explicit), then the nodes linking to it by the frame's reverse properties."""
        self.embedded.add(node.key)
        self.stack.append(node.key)
        out = self._use(node.key, {"id": node.key})
        if node.types:
            types = [self.compactor.vocab.get(t) or self.compactor.curie(t) for t in node.types]
            out["type"] = types[0] if len(types) == 1 else sorted(types)
        entries: dict[str, list[Any]] = {}
        for predicate in sorted(node.values):
            sub = frame.properties.get(predicate)
            if sub is None:
                if frame.explicit:
                    continue
                sub = frame.implicit()
            for obj in sorted(node.values[predicate], key=str):
                if isinstance(obj, Literal):
                    key, value = self.compactor.entry(predicate, obj)
                else:
                    framed = self.value(_key(obj), sub)
                    if framed is None:
                        continue
                    key, _ = self.compactor.entry(predicate, obj)
                    value = framed
                entries.setdefault(key, []).append(value)
        for predicate, sub in frame.properties.items():
            if not sub.omit_default and predicate not in node.values:
                entries.setdefault(self.compactor.entry(predicate, NamedNode(predicate))[0], [])
        for predicate, sub in sorted(frame.reverse.items()):
            term = _reverse_term(self.compactor, predicate)
            for other in self.referring(predicate, node.key):
                framed = self.value(other, sub)
                entries.setdefault(term, [])
                if framed is not None:
                    entries[term].append(framed)
        for key in sorted(entries):
            values = entries[key]
            if not values:
                out[key] = [] if key in REVERSE_TERMS else None
            elif key in REVERSE_TERMS:
                out[key] = values
            else:
                out[key] = values[0] if len(values) == 1 else values
        self.stack.pop()
        return out

    def finish(self, value: Any, key: str | None = None) -> Any:
        """Blank node identifiers named only once dropped (as JSON-LD 1.1 framing prunes them);
        a reference written as a string under a term that coerces to `@id`."""
        if isinstance(value, list):
            return [self.finish(v, key) for v in value]
        if not isinstance(value, dict) or "@value" in value:
            return value
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k == "id":
                if not v.startswith("_:") or len(self.blank_uses.get(v, ())) > 1:
                    out[k] = v
            else:
                out[k] = v if k == "type" else self.finish(v, k)
        if list(out) == ["id"] and key is not None and self.coercion.get(key) == "@id":
            return out["id"]
        return out


def _reverse_term(compactor: Compactor, predicate: str) -> str:
    for term, target in REVERSE_TERMS.items():
        if compactor.expand(target) == predicate:
            return term
    raise ValueError(f"no reverse term for {predicate}")


def frame_nodes(
    data: Iterable[Quad] | dict[str, _Node], frame: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The top-level node objects of the data (quads, or their `node_map`) framed with a frame
    document of `frames_for` (its embedded context compacts them)."""
    context = {"@context": frame["@context"]}
    compactor = Compactor(context)
    reverse = {
        name: definition["@reverse"]
        for name, definition in frame["@context"].items()
        if isinstance(definition, dict) and "@reverse" in definition
    }
    framer = _Framer(data if isinstance(data, dict) else node_map(data), compactor)
    nodes = list(framer.top(_Frame(frame, compactor, reverse)))
    return [framer.finish(node) for node in nodes]


def frame_chunks(quads: Iterable[Quad], frame: Mapping[str, Any]) -> Iterator[bytes]:
    """The framed document, `{"@context": ..., "@graph": [...]}`, in chunks of UTF-8."""
    nodes = frame_nodes(quads, frame)

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    pending = ['{"@context":', dump(frame["@context"]), ',\n"@graph":[']
    size = 0
    for i, node in enumerate(nodes):
        text = ("\n" if i == 0 else ",\n") + dump(node)
        pending.append(text)
        size += len(text)
        if size >= CHUNK_CHARS:
            yield "".join(pending).encode("utf-8")
            pending, size = [], 0
    pending.append("\n]}\n")
    yield "".join(pending).encode("utf-8")


def kind_of(nodes: dict[str, _Node], iri: str, frames: Mapping[str, Any]) -> str | None:
    """The first kind whose frame matches the node `iri`, or None."""
    node = nodes.get(iri)
    for kind, frame in frames.items():
        compactor = Compactor({"@context": frame["@context"]})
        if node is not None and _Frame(frame, compactor, dict(REVERSE_TERMS)).matches(node):
            return kind
    return None


def thing_frame(frame: Mapping[str, Any], iri: str) -> dict[str, Any]:
    """A kind's frame for one node: matched by its `id`, not by type."""
    return {**{k: v for k, v in frame.items() if k != "type"}, "id": iri}


def asserted_quads(engine: Engine) -> list[Quad]:
    """The asserted data (every named graph but the inferred one), taken now, as quads."""
    return list(parse(engine.export("application/n-quads"), format=RdfFormat.N_QUADS))
