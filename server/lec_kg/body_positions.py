"""Where things are in the text of a request body: the line each subject is described on
(so a finding points back into the body), and where an error the parser gave no position
for is (so a 400 says line and column)."""

from __future__ import annotations

import bisect
import re
from typing import Any

from pyoxigraph import NamedNode, Quad, RdfFormat

LINE_FORMATS = (RdfFormat.N_TRIPLES, RdfFormat.N_QUADS)
_IRI_REF = re.compile(r"<([^<>\s]*)>")
_QUOTED = re.compile(r'"([^"\s]*)"')
_PNAME = re.compile(r"(?<![\w.:/-])([A-Za-z][\w.-]*|):([\w.%-]*[\w%])")


_KEYWORD = re.compile(r"@\w+")
_NAMED_PREFIX = re.compile(r"\b([A-Za-z_][\w.-]*):(?=\s|$)")
_NAMED_IRI = re.compile(r"<([^<>\s]+)>")


def locate(text: str, fmt: RdfFormat, detail: str) -> tuple[int | None, int | None]:
    """Where in the text an error the parser gave no position for is, from what its message
    names: for JSON-LD the first key it names whose value is not a string (else the key's
    first use); for RDF/XML the first use of the prefix or the term it names."""
    at: int | None = None
    if fmt == RdfFormat.JSON_LD:
        keyword = _KEYWORD.search(detail)
        if keyword is not None:
            uses = list(re.finditer(rf'"{re.escape(keyword.group())}"\s*:\s*(.)', text))
            odd = [m for m in uses if m.group(1) != '"']
            at = (odd or uses)[0].start() if uses else None
    elif fmt == RdfFormat.RDF_XML:
        prefix = _NAMED_PREFIX.search(detail)
        if prefix is not None:
            found = re.search(rf"[<\s]{re.escape(prefix.group(1))}:", text)
            at = None if found is None else found.start() + 1
        for iri in _NAMED_IRI.findall(detail) if at is None else ():
            local = re.split(r"[#/]", iri)[-1]
            found = (
                re.search(rf"(?:{re.escape(iri)}|:{re.escape(local)}\b)", text) if local else None
            )
            if found is not None:
                at = found.start()
                break
    if at is None:
        return None, None
    encoded = text[:at].encode("utf-8")
    return position(encoded, len(encoded))


def position(body: bytes, offset: int) -> tuple[int, int]:
    line = body.count(b"\n", 0, offset) + 1
    return line, offset - (body.rfind(b"\n", 0, offset) + 1) + 1


def subject_lines(text: str, quads: list[Quad], fmt: RdfFormat) -> dict[str, int]:
    """The line each named subject is described on: the line of its first triple as subject
    (`_subject_lines`), else the first line that names it at all (whole, prefixed, or for
    JSON-LD and RDF/XML in quotes). One pass over the text indexes every IRI it names, so a
    large body costs its length, not its subjects times its lines."""
    subjects = {q.subject.value for q in quads if isinstance(q.subject, NamedNode)}
    if not subjects:
        return {}
    prefixes = dict(re.findall(r"@?prefix\s+([\w.-]*):\s*<([^>]*)>", text, re.IGNORECASE))
    first = _subject_lines(text, fmt, subjects, prefixes)
    if len(first) < len(subjects):
        quoted = fmt not in LINE_FORMATS
        mentioned: dict[str, int] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            named = _IRI_REF.findall(line)
            if quoted:
                named += _QUOTED.findall(line)
            if prefixes:
                named += [prefixes[p] + local for p, local in _PNAME.findall(line) if p in prefixes]
            for iri in named:
                if iri in subjects and iri not in mentioned:
                    mentioned[iri] = number
        first = {**mentioned, **first}
    return {f"<{iri}>": number for iri, number in first.items()}


# Turtle and TriG, as far as finding subjects needs: strings and comments (skipped whole),
# IRIs, prefixed names, numbers (whose dot ends no statement) and punctuation.
_TURTLE_TOKEN = re.compile(
    r'"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^\'\\]|\\.|\'(?!\'\'))*\'\'\''
    r'|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|#[^\n]*'
    r"|<[^<>\s]*>|[+-]?(?:\d*\.\d+|\d+)(?:[eE][+-]?\d+)?"
    r"|[A-Za-z_][\w.-]*:[\w.%-]*[\w%]|[A-Za-z_][\w.-]*:|:[\w.%-]*[\w%]|:"
    r"|@?[A-Za-z]+|\^\^|[.;,\[\](){}]|\S",
    re.DOTALL,
)
_JSONLD_ID = re.compile(r'"@id"\s*:\s*"((?:[^"\\]|\\.)*)"')
_XML_ABOUT = re.compile(r'\brdf:about\s*=\s*(?:"([^"]*)"|\'([^\']*)\')')


def _subject_lines(
    text: str, fmt: RdfFormat, subjects: set[str], prefixes: dict[str, str]
) -> dict[str, int]:
    """The line of each subject's first triple as subject, where the syntax shows it: the
    first term of a statement in Turtle and TriG (and of a line in N-Triples and N-Quads),
    an object's "@id" in JSON-LD, an rdf:about in RDF/XML."""
    found: dict[str, int] = {}
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def note(iri: str, offset: int) -> None:
        if iri in subjects and iri not in found:
            found[iri] = bisect.bisect_right(newlines, offset) + 1

    if fmt in LINE_FORMATS:
        for number, line in enumerate(text.splitlines(), start=1):
            head = _IRI_REF.match(line.lstrip())
            if head and head.group(1) in subjects and head.group(1) not in found:
                found[head.group(1)] = number
    elif fmt == RdfFormat.JSON_LD:
        for m in _JSONLD_ID.finditer(text):
            note(m.group(1), m.start())
    elif fmt == RdfFormat.RDF_XML:
        for m in _XML_ABOUT.finditer(text):
            note(m.group(1) or m.group(2) or "", m.start())
    else:
        _turtle_subjects(text, prefixes, note)
    return found


def _turtle_subjects(text: str, prefixes: dict[str, str], note: Any) -> None:
    """Call `note(iri, offset)` for each IRI that opens a Turtle or TriG statement."""
    expect = True  # the next term is a statement's subject
    skip = 0  # terms of a SPARQL-style PREFIX or BASE still to pass
    directive = False  # inside an @prefix or @base, up to its dot
    depth = 0  # brackets open: a dot in a collection or blank node ends nothing
    for m in _TURTLE_TOKEN.finditer(text):
        token = m.group()
        if token[0] in "\"'#":  # a string or a comment: nothing in it is a term
            continue
        if directive:
            directive = token != "."
            continue
        if skip:
            skip -= 1
            continue
        if token in ("[", "("):
            depth += 1
            expect = False
        elif token in ("]", ")"):
            depth = max(depth - 1, 0)
        elif token in (".", "{", "}") and depth == 0:
            expect = True
        elif expect and token.lower() in ("@prefix", "@base"):
            directive = True
        elif expect and token.upper() in ("PREFIX", "BASE", "GRAPH"):
            skip = {"PREFIX": 2, "BASE": 1, "GRAPH": 1}[token.upper()]
        elif expect:
            if token.startswith("<"):
                note(token[1:-1], m.start())
            elif ":" in token:
                prefix, _, local = token.partition(":")
                if prefix in prefixes:
                    note(prefixes[prefix] + local, m.start())
            expect = False
