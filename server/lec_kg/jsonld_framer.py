"""JSON-LD 1.1 framing of quads with a frame document, as jsonld.js frames, without a processor.

The data (quads, every named graph merged, as the Framing algorithm does by default) becomes a
node map (`node_map`); a frame document's embedded context gives the frame's terms and writes
the output compact, as `jsonld.Compactor` writes the flat dumps. What a frame may say is what
the frames of `jsonld_frames` use: match by `type`, by `id` (`{}`, any node) or, with neither,
duck typing on the properties it names; `@embed` `@always`, `@never` or `@once` (a node once
per top-level node, a cycle always a reference); `@explicit`; `@omitDefault`; property frames
and reverse frames (`@reverse` terms of the context). Top-level nodes come in `@id` order, a
blank node's identifier is kept only where it is named twice (JSON-LD 1.1 prunes the others),
and a frame key that is no term, keyword or compact IRI of the context is a ValueError.
tests/test_framing.py checks the output against jsonld.js framing the flat dump.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode, Quad

from .jsonld import RDF_TYPE, REVERSE_TERMS, Compactor, batched, dump


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

    def pieces() -> Iterator[str]:
        yield '{"@context":' + dump(frame["@context"]) + ',\n"@graph":['
        for i, node in enumerate(nodes):
            yield ("\n" if i == 0 else ",\n") + dump(node)
        yield "\n]}\n"

    return batched(pieces())


def kind_of(nodes: dict[str, _Node], iri: str, frames: Mapping[str, Any]) -> str | None:
    """The first kind whose frame matches the node `iri`, or None."""
    node = nodes.get(iri)
    for kind, frame in frames.items():
        compactor = Compactor({"@context": frame["@context"]})
        if node is not None and _Frame(frame, compactor, dict(REVERSE_TERMS)).matches(node):
            return kind
    return None
