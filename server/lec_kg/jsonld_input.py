"""JSON-LD request bodies: the service's own context by its IRI, and nothing dropped unsaid.

A body may name the context this service publishes (`<base>context.jsonld`, or where the
service serves it) by its IRI: that one IRI is replaced by the context object itself, on the
line it was on, so nothing is fetched and every line keeps its number. Any other context named
by IRI stays refused (`rdf_input`).

The JSON-LD algorithms drop what they cannot turn into RDF without a word: an `@id` or `@type`
that is not a valid IRI, a key that no context defines, a key whose IRI is not valid
(`"lec:bogus term"`). A body that holds such a thing is refused, naming it and where it is, so
that a submission is stored whole or not at all: every `@id` and `@type` is checked for
characters no IRI may hold, and every key of a node object must expand (by the document's
contexts, taken together) to a predicate the parsed quads hold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pyoxigraph import Quad

# Characters RFC 3987 allows nowhere in an IRI (RDF 1.1 §3.2: such an "IRI" is not one).
_NOT_IRI = re.compile(r'[\x00-\x20<>"{}|^`\\]')


class Dropped(ValueError):
    """Something in the document would be dropped; `needle` is the JSON text to point at."""

    def __init__(self, detail: str, needle: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.needle = needle


def use_local_contexts(text: str, contexts: Mapping[str, Any]) -> str:
    """The text with each `"@context": "<iri>"` (alone or first in a list) naming one of
    `contexts` (context documents, or context objects) replaced by that context's object,
    written on one line."""
    for iri, context in contexts.items():
        if isinstance(context, dict) and "@context" in context:  # a context document
            context = context["@context"]
        inline = json.dumps(context, ensure_ascii=False, separators=(",", ":"))
        pattern = re.compile(r'("@context"\s*:\s*\[?\s*)"' + re.escape(iri) + '"')
        text = pattern.sub(lambda m, inline=inline: m.group(1) + inline, text)  # type: ignore[misc]
    return text


def refuse_dropped(document: Any, quads: list[Quad]) -> None:
    """Raise `Dropped` for the first thing of `document` its quads do not carry (see the
    module doc)."""
    terms, vocab = _definitions(document)
    predicates = {q.predicate.value for q in quads}
    entries = list(_node_entries(document))
    for key, value in entries:  # the IRIs first: a key whose values all drop is their fault
        meaning = _keyword(key, terms) or key
        if meaning == "@id" and isinstance(value, str):
            _check_iri(_expand(value, terms), value, "@id")
        elif meaning == "@type":
            for kind in value if isinstance(value, list) else [value]:
                if isinstance(kind, str):
                    _check_iri(_expand(kind, terms, vocab), kind, "@type")
    for key, value in entries:
        meaning = _keyword(key, terms) or key
        if meaning.startswith("@") or value in (None, []):
            continue
        expansions = _expansions(key, terms, vocab)
        if expansions is not None and not expansions & predicates:
            why = (
                f"expands to {', '.join(sorted(expansions))}, which is no valid IRI"
                if expansions
                else "is defined by no @context (and there is no @vocab)"
            )
            raise Dropped(
                f"the JSON-LD key {key!r} {why}: JSON-LD would drop its values without a "
                "word; define the term in the @context or use a full IRI",
                json.dumps(key, ensure_ascii=False),
            )


def _definitions(document: Any) -> tuple[dict[str, Any], list[str]]:
    """Every term definition and @vocab of every context of the document, taken together."""
    terms: dict[str, Any] = {}
    vocab: list[str] = []
    for context in contexts_in(document):
        for item in context if isinstance(context, list) else [context]:
            if not isinstance(item, dict):
                continue
            for name, definition in item.items():
                if name == "@vocab" and isinstance(definition, str):
                    vocab.append(definition)
                elif not name.startswith("@"):
                    terms.setdefault(name, definition)
    return terms, vocab


def contexts_in(node: Any) -> Iterator[Any]:
    """Every @context value anywhere in a JSON document (scoped contexts in term definitions
    included)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                if key == "@context":
                    yield value
                stack.append(value)
        elif isinstance(current, list):
            stack.extend(current)


def _node_entries(node: Any) -> Iterator[tuple[str, Any]]:
    """(key, value) of every object of the document outside its contexts and value objects."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, list):
            stack.extend(current)
        elif isinstance(current, dict) and "@value" not in current:
            for key, value in current.items():
                if key != "@context":
                    yield key, value
                    stack.append(value)


def _term_iri(definition: Any) -> Any:
    if isinstance(definition, dict):
        return definition.get("@id", definition.get("@reverse", ""))
    return definition


def _keyword(key: str, terms: Mapping[str, Any]) -> str | None:
    """The keyword `key` is, or is an alias of (`"type": "@type"`)."""
    if key.startswith("@"):
        return key
    iri = _term_iri(terms.get(key))
    return iri if isinstance(iri, str) and iri.startswith("@") else None


def _expand(value: str, terms: Mapping[str, Any], vocab: list[str] | None = None) -> str:
    """A compact IRI or term as its IRI, as far as the contexts say (else as written)."""
    if vocab is not None and value in terms:
        iri = _term_iri(terms[value])
        if isinstance(iri, str) and iri:
            value = iri
    prefix, colon, local = value.partition(":")
    if colon and not local.startswith("//") and prefix in terms:
        iri = _term_iri(terms[prefix])
        if isinstance(iri, str):
            return iri + local
    if vocab and not colon and value not in ("", "_"):
        return vocab[0] + value
    return value


def _expansions(key: str, terms: Mapping[str, Any], vocab: list[str]) -> set[str] | None:
    """The IRIs a key may stand for; None when it is deliberately ignored (a term mapped to
    null) or nests other keys (@nest)."""
    if key in terms:
        iri = _term_iri(terms[key])
        if iri is None or iri == "@nest":
            return None
        if isinstance(iri, str) and iri:
            return {_expand(iri, terms)}
    prefix, colon, local = key.partition(":")
    if colon:
        if prefix in terms and isinstance(_term_iri(terms[prefix]), str):
            return {_term_iri(terms[prefix]) + local}
        return {key}
    return {v + key for v in vocab}


def _check_iri(iri: str, written: str, where: str) -> None:
    if iri.startswith("_:"):
        return
    bad = _NOT_IRI.search(iri)
    if bad is not None:
        raise Dropped(
            f"the JSON-LD {where} {written!r} is not a valid IRI (it holds "
            f"{bad.group()!r}): JSON-LD would drop it, and what it says, without a word",
            json.dumps(written, ensure_ascii=False),
        )
