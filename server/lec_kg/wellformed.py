"""What XML can carry: checks every XML serialisation gets before it leaves the process.

XML 1.0 cannot write U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+FFFE or U+FFFF, not even
as character references, and a parser reads a raw carriage return as a line feed. RDF/XML
writes each predicate as an element name, so a predicate must end in an XML name (an NCName)
and must not be one of RDF/XML's own syntax terms; a blank node label must be an NCName too.
pyoxigraph and rdflib write such values as they are, and the document is then malformed (or
reads back as other data) while the reply says 200. So here: carriage returns become `&#13;`,
blank nodes are relabelled (labels are local to a document), and anything else is refused with
`NotRepresentable` (406), naming the character or IRI (for RDF/XML, the statement: its subject
and predicate) and the formats that can carry it. A predicate is split where its end is an
NCName (pyoxigraph's writer declares the namespace before it: `http://x.example/1a` is `a` in
`http://x.example/1`); one with no NCName at its end (`http://x.example/123`,
`http://x.example/a/`) cannot be a property element at all, RDF/XML's own limit (RDF 1.1
XML Syntax, section 2.2), and is refused.

Only the standard library and `errors` are imported: the query workers use this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .errors import NotRepresentable
from .xml_chars import FORBIDDEN

# Bytes of UTF-8 that are code points XML 1.0 excludes: the C0 controls but TAB, LF and CR
# (single bytes, never part of a longer sequence), U+FFFE and U+FFFF.
XML_FORBIDDEN = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")

_START = (
    "A-Z_a-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u02ff\u0370-\u037d\u037f-\u1fff\u200c\u200d"
    "\u2070-\u218f\u2c00-\u2fef\u3001-\ud7ff\uf900-\ufdcf\ufdf0-\ufffd\U00010000-\U000effff"
)
_CHAR = _START + r"\-.0-9\u00b7\u0300-\u036f\u203f\u2040"
NCNAME = re.compile(f"[{_START}][{_CHAR}]*")
NCNAME_SUFFIX = re.compile(f"[{_START}][{_CHAR}]*\\Z")

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# Names RDF/XML keeps for its syntax (coreSyntaxTerms, rdf:li, oldTerms): never a property.
RDFXML_RESERVED = frozenset(
    RDF + name
    for name in (
        "RDF",
        "ID",
        "about",
        "parseType",
        "resource",
        "nodeID",
        "datatype",
        "Description",
        "li",
        "aboutEach",
        "aboutEachPrefix",
        "bagID",
        "annotation",
        "annotationNodeID",
    )
)

# What to ask for instead, by kind of result: (media type, format= keyword).
ALTERNATIVES = {
    "results": (
        ("application/sparql-results+json", "json"),
        ("text/csv", "csv"),
        ("text/tab-separated-values", "tsv"),
    ),
    "graph": (
        ("text/turtle", "turtle"),
        ("application/n-triples", "nt"),
        ("application/ld+json", "jsonld"),
    ),
    "dataset": (
        ("application/n-quads", "nquads"),
        ("application/trig", "trig"),
        ("text/turtle", "turtle"),
        ("application/n-triples", "nt"),
        ("application/ld+json", "jsonld"),
    ),
}


def refusal(detail: str, fmt: str, kind: str) -> NotRepresentable:
    """The 406 for a result `fmt` cannot carry, listing the formats of `kind` that can."""
    others = ALTERNATIVES[kind]
    suggestion = ", ".join(f"{media} (format={key})" for media, key in others)
    return NotRepresentable(
        f"{detail}; ask for {suggestion} instead",
        format=fmt,
        available=[media for media, _ in others],
        formats=[key for _, key in others],
    )


def xml_document(body: bytes, fmt: str, kind: str) -> bytes:
    """`body`, an XML document, made safe to read back: CRs written as `&#13;` (a parser would
    read a raw one as LF), or `NotRepresentable` when it holds a character XML 1.0 cannot carry."""
    bad = XML_FORBIDDEN.search(body)
    if bad is not None:
        char = ord(bad.group().decode("utf-8"))
        what = "a noncharacter" if char > 0xFF else "a control character"
        raise refusal(
            f"{_where(body, bad.start())} holds U+{char:04X} ({what}), which {fmt} cannot carry: "
            "XML 1.0 forbids it, even as a character reference",
            fmt,
            kind,
        )
    return body.replace(b"\r", b"&#13;") if b"\r" in body else body


def _where(body: bytes, pos: int) -> str:
    """Which value of an XML result holds byte `pos`: the variable and row, or the subject."""
    binding = body.rfind(b'<binding name="', 0, pos)
    if binding >= 0:
        name = body[binding + 15 : body.find(b'"', binding + 15)].decode("utf-8")
        row = body.count(b"<result>", 0, pos)
        return f"the value of ?{name} in row {row} of the result"
    for attribute in (b'rdf:about="', b'rdf:nodeID="'):
        found = body.rfind(attribute, 0, pos)
        if found >= 0:
            start = found + len(attribute)
            subject = body[start : body.find(b'"', start)].decode("utf-8")
            return f"a literal about {subject}"
    return "a literal of the result"


def rdfxml_statements(statements: Sequence, kind: str) -> Sequence:
    """Triples RDF/XML can write: `NotRepresentable` for a predicate it cannot name, and blank
    nodes relabelled when one label is not an NCName (every label gets the same prefix, so
    distinct nodes stay distinct)."""
    from pyoxigraph import BlankNode, Triple

    predicates = set()
    labels = set()
    for st in _nested(statements):
        predicates.add(st.predicate.value)
        for term in (st.subject, st.object):
            if isinstance(term, BlankNode):
                labels.add(term.value)
    for iri in sorted(predicates):
        problem = rdfxml_predicate_problem(iri)
        if problem is not None:
            raise refusal(problem, "RDF/XML", kind)
    for st in _nested(statements):
        _check_characters(st, kind)
    if all(NCNAME.fullmatch(label) for label in labels):
        return statements

    def relabel(term):
        if isinstance(term, BlankNode):
            return BlankNode("b" + term.value)
        if isinstance(term, Triple):
            return Triple(relabel(term.subject), term.predicate, relabel(term.object))
        return term

    return [Triple(relabel(st.subject), st.predicate, relabel(st.object)) for st in statements]


XML_FORBIDDEN_TEXT = FORBIDDEN  # the characters XML 1.0 cannot hold, in text (`xml_chars`)


def _check_characters(st, kind: str) -> None:
    """`NotRepresentable` naming the statement (subject, predicate, graph) when one of its terms
    holds a character XML 1.0 cannot carry."""
    for term in (st.subject, st.predicate, st.object):
        value = getattr(term, "value", None)
        bad = XML_FORBIDDEN_TEXT.search(value) if isinstance(value, str) else None
        if bad is None:
            continue
        graph = getattr(getattr(st, "graph_name", None), "value", None)
        where = f" in <{graph}>" if graph else ""
        what = "a noncharacter" if ord(bad.group()) > 0xFF else "a control character"
        raise refusal(
            f"the statement about {st.subject} with predicate {st.predicate}"
            f"{where} holds U+{ord(bad.group()):04X} ({what}), which RDF/XML cannot carry: "
            "XML 1.0 forbids it, even as a character reference",
            "RDF/XML",
            kind,
        )


def rdfxml_predicate_problem(iri: str) -> str | None:
    """Why RDF/XML cannot write `iri` as a predicate, or None when it can."""
    if iri in RDFXML_RESERVED:
        return f"the predicate <{iri}> is a syntax name of RDF/XML, which cannot use it as one"
    if NCNAME_SUFFIX.search(iri) is None:
        return (
            f"the predicate <{iri}> does not end in an XML name (a letter or _ then letters, "
            "digits, - or .), so RDF/XML, which writes predicates as element names, cannot "
            "write it"
        )
    return None


def _nested(statements: Iterable) -> Iterable:
    """The statements and every triple term inside them (RDF 1.2)."""
    for st in statements:
        yield st
        for term in (st.subject, st.object):
            if hasattr(term, "predicate"):
                yield from _nested([term])
