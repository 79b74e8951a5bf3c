"""What the service writes out is safe to read: pages link only http(s) targets and carry a
Content-Security-Policy, every serialisation parses back (or is refused with a 406 that says
why), and nothing the service says about itself follows the request's Host header."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pyoxigraph as ox
import pytest
from fastapi.testclient import TestClient
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, OWL, RDF

from lec_kg import results_html
from lec_kg.app import create_app
from lec_kg.errors import NotRepresentable
from lec_kg.namespaces import ONTOLOGY_IRI
from lec_kg.negotiation import offers
from lec_kg.routes.deps import endpoint_iri
from lec_kg.wellformed import rdfxml_predicate_problem, rdfxml_statements, xml_document
from tests.conftest import LEC_KG, ROOT, TOKEN, build

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FACTS = "https://w3id.org/lec-kg/graph/facts/report"
SUBMITTED = "https://w3id.org/lec-kg/graph/submitted/output-safety"
EVIL = "evil.example"
SRX = "{http://www.w3.org/2005/sparql-results#}"
XSD = "http://www.w3.org/2001/XMLSchema#"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
S = "http://x.example/s"
P = "http://x.example/p"

RESULT_PARSERS = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
GRAPH_PARSERS = {
    "text/turtle": (ox.RdfFormat.TURTLE, "turtle"),
    "application/n-triples": (ox.RdfFormat.N_TRIPLES, "nt"),
    "application/ld+json": (ox.RdfFormat.JSON_LD, "json-ld"),
    "application/rdf+xml": (ox.RdfFormat.RDF_XML, "xml"),
    "application/n-quads": (ox.RdfFormat.N_QUADS, "nquads"),
    "application/trig": (ox.RdfFormat.TRIG, "trig"),
}
XML_FORMATS = {"application/sparql-results+xml", "application/rdf+xml"}


def sparql_string(text: str) -> str:
    """A SPARQL string literal for any text: TAB, LF, CR, " and \\ as ECHARs (a \\u escape is
    decoded before the query is parsed, SPARQL 1.1 19.2), the rest of non-printable-ASCII as
    \\u escapes."""
    echar = {"\t": "\\t", "\n": "\\n", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
    out = []
    for c in text:
        if c in echar:
            out.append(echar[c])
        elif 0x20 <= ord(c) < 0x7F:
            out.append(c)
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(f"\\U{ord(c):08X}")
    return '"' + "".join(out) + '"'


# ---------------------------------------------------------------- awkward values

# Characters XML 1.0 cannot carry, not even as &#...; references.
NOT_XML = ["\x00", "a\x01b", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\ufffe", "x\uffff"]
# Text every format must carry exactly.
TEXTS = [
    "a\r\nb\tc",  # an XML parser turns a raw CR into LF
    "\r",
    "</literal>]]>&amp;<script>alert(1)</script>\"'",
    'quote " backslash \\ gt > lt <',
    "é 😀 \u2028 \u00a0 \u200f שלום",
    "",
    "  spaces around  ",
    "\ufdd0 \U0001fffe",  # noncharacters XML 1.0 does allow
]
LONG = "0123456789" * 100_000  # a literal of a million characters
LONG_QUERY = (
    'SELECT ?x WHERE { BIND("0123456789" AS ?l0) '
    + " ".join(f"BIND(CONCAT({', '.join([f'?l{i}'] * 10)}) AS ?l{i + 1})" for i in range(5))
    + " BIND(?l5 AS ?x) }"
)
# (case id, SPARQL expression, the term it must come back as; None: unbound)
VALUE_CASES: list[tuple[str, str, ox.NamedNode | ox.Literal | ox.BlankNode | None]] = [
    *((f"text-{i}", sparql_string(t), ox.Literal(t)) for i, t in enumerate(TEXTS)),
    ("lang-region", 'STRLANG("chat", "fr-CA")', ox.Literal("chat", language="fr-CA")),
    ("lang-private", 'STRLANG("x", "en-GB-x-priv")', ox.Literal("x", language="en-GB-x-priv")),
    (
        "integer",
        f'STRDT("42", <{XSD}integer>)',
        ox.Literal("42", datatype=ox.NamedNode(XSD + "integer")),
    ),
    (
        "odd-datatype",
        'STRDT("v", <http://x.example/d&t\'x>)',
        ox.Literal("v", datatype=ox.NamedNode("http://x.example/d&t'x")),
    ),
    ("iri-escaped-space", "<http://x.example/a%20b>", ox.NamedNode("http://x.example/a%20b")),
    (
        "iri-unicode-query",
        "<http://x.example/é?q='x'&y=1#f>",
        ox.NamedNode("http://x.example/é?q='x'&y=1#f"),
    ),
    ("iri-urn", "<urn:x:a>", ox.NamedNode("urn:x:a")),
    ("iri-javascript", "<javascript:alert(1)>", ox.NamedNode("javascript:alert(1)")),
    # IRIs with a space, >, " or \ cannot be made at all: IRI() leaves the variable unbound.
    ("iri-space", 'IRI("http://x.example/a b")', None),
    ("iri-gt", 'IRI("http://x.example/a>b")', None),
    ("iri-quote", 'IRI("http://x.example/a\\"b")', None),
    ("iri-backslash", 'IRI("http://x.example/a\\\\b")', None),
    ("bnode", "BNODE()", ox.BlankNode()),
]
CONTROL_CASES = [(f"not-xml-{i}", sparql_string(t), ox.Literal(t)) for i, t in enumerate(NOT_XML)]


def _same(got, want) -> bool:
    """Terms equal; any blank node matches any blank node."""
    if isinstance(want, ox.BlankNode):
        return isinstance(got, ox.BlankNode)
    return got == want


def _from_rdflib(term) -> ox.NamedNode | ox.Literal | ox.BlankNode:
    if isinstance(term, URIRef):
        return ox.NamedNode(str(term))
    if isinstance(term, BNode):
        return ox.BlankNode()
    assert isinstance(term, Literal)
    if term.language:
        return ox.Literal(str(term), language=term.language)
    datatype = str(term.datatype) if term.datatype else XSD + "string"
    return ox.Literal(str(term), datatype=ox.NamedNode(datatype))


def _select(client: TestClient, expr: str, mtype: str, query: str | None = None):
    """SELECT ?x with ?x bound to `expr`, sent twice (the second may run in-process)."""
    query = query or f"SELECT ?x WHERE {{ BIND({expr} AS ?x) }}"
    replies = [
        client.post("/sparql", data={"query": query}, headers={"Accept": mtype}) for _ in range(2)
    ]
    assert replies[0].status_code == replies[1].status_code
    if replies[0].status_code == 200 and expr != "BNODE()":
        assert replies[0].content == replies[1].content
    return replies[0]


def _result_terms(body: bytes, mtype: str) -> list:
    """The ?x of each row, read back by strict parsers (and XML checked by xml.etree too)."""
    if mtype == "text/csv":
        limit = csv.field_size_limit(len(body) + 1)  # the module's default stops at 128 KiB
        try:
            rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
        finally:
            csv.field_size_limit(limit)
        assert rows[0] == ["x"]
        return [row[0] if row else "" for row in rows[1:]]
    if mtype == "application/sparql-results+xml":
        root = ET.fromstring(body)  # well-formed XML 1.0
        literal = root.find(f".//{SRX}literal")
        if literal is not None:  # what an XML parser (normalising CR) reads is the value
            parsed = ox.parse_query_results(body, format=RESULT_PARSERS[mtype])
            assert (literal.text or "") == next(iter(parsed))["x"].value
    if mtype == "application/sparql-results+json":
        json.loads(body)
    parsed = ox.parse_query_results(body, format=RESULT_PARSERS[mtype])
    return [row["x"] for row in parsed]


RESULT_TYPES = [m.name for m in offers("results")]


@pytest.mark.parametrize("mtype", RESULT_TYPES)
@pytest.mark.parametrize(("case", "expr", "want"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_select_results_carry_awkward_values(client, mtype, case, expr, want) -> None:
    """Every SPARQL results format carries each value, and it reads back as the same term."""
    reply = _select(client, expr, mtype)
    assert reply.status_code == 200, reply.text
    (got,) = _result_terms(reply.content, mtype)
    if mtype == "text/csv":  # CSV keeps lexical forms only
        lexical = "" if want is None else getattr(want, "value", "")
        assert got == lexical or isinstance(want, ox.BlankNode)
    else:
        assert _same(got, want), (got, want)


@pytest.mark.parametrize("mtype", RESULT_TYPES)
def test_a_literal_of_a_million_characters_reads_back(client, mtype) -> None:
    """A very long literal goes out whole in every results format."""
    reply = _select(client, "", mtype, LONG_QUERY)
    assert reply.status_code == 200, reply.text[:300]
    (got,) = _result_terms(reply.content, mtype)
    assert (got if mtype == "text/csv" else got.value) == LONG


@pytest.mark.parametrize("mtype", RESULT_TYPES)
@pytest.mark.parametrize(("case", "expr", "want"), CONTROL_CASES, ids=[c[0] for c in CONTROL_CASES])
def test_characters_xml_cannot_carry_are_refused_in_xml_only(client, mtype, case, expr, want):
    """XML 1.0 cannot write U+0001 or U+FFFE: SPARQL XML is a 406 naming the character and the
    formats that can; JSON, CSV and TSV carry the value exactly."""
    reply = _select(client, expr, mtype)
    if mtype == "application/sparql-results+xml":
        assert reply.status_code == 406, reply.text
        body = reply.json()
        char = next(c for c in want.value if ord(c) < 0x20 or ord(c) > 0xFFFD)
        assert body["error"] == "not representable"
        assert f"U+{ord(char):04X}" in body["detail"]
        assert "SPARQL Results XML" in body["detail"] and "?x" in body["detail"]
        assert "application/sparql-results+json" in body["available"]
        assert body["available"] and mtype not in body["available"]
        return
    assert reply.status_code == 200, reply.text
    (got,) = _result_terms(reply.content, mtype)
    assert (got if mtype == "text/csv" else got.value) == want.value


# ---------------------------------------------------------------- graphs

GRAPH_TYPES = [m.name for m in offers("graph")]
# (predicate, can RDF/XML write it?)
PREDICATES = [
    ("http://x.example/123", False),  # no XML name at its end
    ("http://x.example/", False),
    ("http://x.example/a#", False),
    ("http://x.example/12-3.4", False),
    (RDF_NS + "li", False),  # RDF/XML syntax names
    (RDF_NS + "about", False),
    (RDF_NS + "aboutEach", False),
    ("http://x.example/1abc", True),
    ("http://x.example/a.b", True),
    ("http://x.example/é", True),
    ("urn:x:a", True),
    (RDF_NS + "_1", True),
    ("http://x.example/a_b-c", True),
]
# rdflib's Turtle parser reads `x:a\.` (a valid escaped local name) as an error.
RDFLIB_TURTLE_BUG = {"http://x.example/a."}


def _construct(client: TestClient, predicate: str, expr: str, mtype: str):
    query = f"CONSTRUCT {{ <{S}> <{predicate}> ?o }} WHERE {{ BIND({expr} AS ?o) }}"
    replies = [
        client.post("/sparql", data={"query": query}, headers={"Accept": mtype}) for _ in range(2)
    ]
    assert replies[0].status_code == replies[1].status_code
    return replies[0]


def _graph_terms(body: bytes, mtype: str, check_rdflib: bool = True) -> list[tuple]:
    """(s, p, o) of every triple, read back by pyoxigraph; rdflib must read the same."""
    oxformat, rdflib_format = GRAPH_PARSERS[mtype]
    if mtype in XML_FORMATS:
        ET.fromstring(body)
    triples = [(q.subject, q.predicate, q.object) for q in ox.parse(body, format=oxformat)]
    if check_rdflib:
        g = Graph().parse(data=body, format=rdflib_format)
        from_rdflib = sorted(str(tuple(map(_from_rdflib, t))) for t in g)
        if not any(isinstance(t, ox.BlankNode) for tr in triples for t in tr):
            assert from_rdflib == sorted(str(t) for t in triples)
        else:
            assert len(from_rdflib) == len(triples)
    return triples


@pytest.mark.parametrize("mtype", GRAPH_TYPES)
@pytest.mark.parametrize(
    ("case", "expr", "want"),
    [c for c in VALUE_CASES + CONTROL_CASES if c[2] is not None],
    ids=[c[0] for c in VALUE_CASES + CONTROL_CASES if c[2] is not None],
)
def test_construct_results_carry_awkward_objects(client, mtype, case, expr, want) -> None:
    """Turtle, N-Triples, JSON-LD and RDF/XML carry each object and read back the same; in
    RDF/XML, a character XML cannot carry is a 406 instead."""
    reply = _construct(client, P, expr, mtype)
    if mtype == "application/rdf+xml" and case.startswith("not-xml"):
        assert reply.status_code == 406, reply.text
        assert "U+" in reply.json()["detail"] and "RDF/XML" in reply.json()["detail"]
        assert "text/turtle" in reply.json()["available"]
        return
    assert reply.status_code == 200, reply.text
    ((s, p, o),) = _graph_terms(reply.content, mtype)
    assert (s, p) == (ox.NamedNode(S), ox.NamedNode(P))
    assert _same(o, want), (o, want)


@pytest.mark.parametrize("mtype", GRAPH_TYPES)
@pytest.mark.parametrize(("predicate", "writable"), PREDICATES, ids=[p for p, _ in PREDICATES])
def test_predicates_rdfxml_cannot_name_are_refused_in_rdfxml_only(
    client, mtype, predicate, writable
) -> None:
    """RDF/XML writes a predicate as an element name: one without an XML name at its end, or
    one of RDF/XML's own syntax names, is a 406 naming it; every other format carries it."""
    reply = _construct(client, predicate, '"v"', mtype)
    if mtype == "application/rdf+xml" and not writable:
        assert reply.status_code == 406, reply.text
        body = reply.json()
        assert body["error"] == "not representable" and f"<{predicate}>" in body["detail"]
        assert set(body["available"]) == {
            "text/turtle",
            "application/n-triples",
            "application/ld+json",
        }
        return
    assert reply.status_code == 200, reply.text
    rdflib_ok = not (mtype == "text/turtle" and predicate in RDFLIB_TURTLE_BUG)
    triples = _graph_terms(reply.content, mtype, check_rdflib=rdflib_ok)
    assert triples == [(ox.NamedNode(S), ox.NamedNode(predicate), ox.Literal("v"))]


def test_predicate_rule_matches_what_pyoxigraph_writes() -> None:
    """`rdfxml_predicate_problem` says yes exactly when pyoxigraph's RDF/XML of the predicate
    is well-formed and reads back (so the check refuses no predicate that could be written)."""
    for iri in [p for p, _ in PREDICATES] + [
        "http://x.example/a.",
        "http://x.example/a:b",
        "http://x.example/·a",
        "http://x.example/_",
        "http://x.example/a%20b",
    ]:
        if iri.startswith(RDF_NS):
            continue
        triple = ox.Triple(ox.NamedNode(S), ox.NamedNode(iri), ox.Literal("v"))
        body = ox.serialize([triple], format=ox.RdfFormat.RDF_XML)
        try:
            ET.fromstring(body)
            back = [q.predicate.value for q in ox.parse(body, format=ox.RdfFormat.RDF_XML)]
            ok = back == [iri]
        except (ET.ParseError, SyntaxError):
            ok = False
        assert (rdfxml_predicate_problem(iri) is None) == ok, iri


def test_blank_nodes_get_labels_rdfxml_can_write() -> None:
    """A blank node label RDF/XML cannot use (it starts with a digit, as most of pyoxigraph's
    random labels do) is relabelled; distinct nodes stay distinct and the graph reads back."""
    a, b, c = ox.BlankNode("0abc"), ox.BlankNode("b0abc"), ox.BlankNode("x")
    p = ox.NamedNode(P)
    triples = [ox.Triple(a, p, b), ox.Triple(b, p, c), ox.Triple(c, p, ox.Literal("v"))]
    body = ox.serialize(rdfxml_statements(triples, "graph"), format=ox.RdfFormat.RDF_XML)
    ET.fromstring(body)
    back = Graph().parse(data=body, format="xml")
    expected = Graph().parse(data=ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES), format="nt")
    assert back.isomorphic(expected)
    assert len(set(back.subjects())) == 3


def test_construct_with_blank_nodes_reads_back_in_rdfxml(client) -> None:
    """CONSTRUCT of many fresh blank nodes is well-formed RDF/XML that reads back (pyoxigraph's
    fresh labels start with a letter; other labels are relabelled, as the test above shows)."""
    query = (
        f"CONSTRUCT {{ ?b <{P}> ?c . ?c <{P}> ?n }} WHERE {{ VALUES ?n {{ 1 2 3 4 5 6 7 8 9 10 }}"
        " BIND(BNODE() AS ?b) BIND(BNODE() AS ?c) }"
    )
    reply = client.post("/sparql", data={"query": query}, headers={"Accept": "application/rdf+xml"})
    assert reply.status_code == 200, reply.text
    triples = _graph_terms(reply.content, "application/rdf+xml")
    assert len(triples) == 20


def test_xml_document_writes_cr_as_a_reference_and_names_the_value() -> None:
    """CR survives an XML parser; a refused character names the variable and row."""
    body = (
        b'<sparql><results><result><binding name="v"><literal>a\r\nb</literal></binding>'
        b"</result></results></sparql>"
    )
    fixed = xml_document(body, "SPARQL Results XML", "results")
    assert ET.fromstring(fixed).find(".//literal").text == "a\r\nb"
    bad = body.replace(b"\r", b"\x07")
    with pytest.raises(NotRepresentable) as caught:
        xml_document(bad, "SPARQL Results XML", "results")
    assert "?v in row 1" in caught.value.detail and "U+0007" in caught.value.detail
    assert caught.value.status == 406


# ---------------------------------------------------------------- exports


SHIPPED = "https://w3id.org/lec-kg/graph/facts/output-safety"


def awkward_source(folder: Path) -> Path:
    """The shipped files plus two graphs a write may no longer make (every write refuses what an
    export cannot carry) but shipped files, or a store written before, may hold."""
    for kind in ("ontology", "shapes", "graph"):
        shutil.copytree(ROOT / kind, folder / kind)
    (folder / "graph" / "output-safety-control.ttl").write_text(
        f'<{S}> <{P}> "a\\u0001b" .\n', encoding="utf-8"
    )
    (folder / "graph" / "output-safety-numeric.ttl").write_text(
        f'<{S}> <http://x.example/123> "v" .\n', encoding="utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def awkward_engine(settings, tmp_path_factory):
    """An engine of its own with awkward data in three graphs of their own."""
    source = awkward_source(tmp_path_factory.mktemp("awkward-source"))
    engine = build(replace(settings, source_dir=source))
    assert engine.is_ready(), engine.not_ready_reason
    ok = "".join(
        f"<{S}> <http://x.example/v{i}> {sparql_string(t)} . " for i, t in enumerate(TEXTS)
    )
    engine.update(
        f"INSERT DATA {{ GRAPH <{SUBMITTED}-ok> {{ {ok} "
        f"<{S}> <http://x.example/1abc> <http://x.example/é?q='x'&y=1> ; "
        f'<{P}> "chat"@fr-CA, "42"^^<{XSD}integer>, [ <{P}> "w" ], [ <{P}> "z" ] . }} }}'
    )
    yield engine
    engine.close()


EXPORT_TYPES = [m.name for m in offers("graph", "dataset")]


def _stored(engine, graph: str) -> Graph:
    nquads = engine.export("application/n-quads", graph)
    g = Graph()
    for q in ox.parse(nquads, format=ox.RdfFormat.N_QUADS):
        g.add(tuple(_to_rdflib(t) for t in (q.subject, q.predicate, q.object)))
    return g


def _to_rdflib(term):
    if isinstance(term, ox.NamedNode):
        return URIRef(term.value)
    if isinstance(term, ox.BlankNode):
        return BNode(term.value)
    if term.language:
        return Literal(term.value, lang=term.language)
    if term.datatype.value == XSD + "string":
        return Literal(term.value)  # as rdflib reads a plain string
    return Literal(term.value, datatype=URIRef(term.datatype.value))


@pytest.mark.parametrize("mtype", EXPORT_TYPES)
def test_export_of_awkward_data_reads_back_in_every_format(awkward_engine, mtype) -> None:
    """Each export format of a graph with CRs, markup, noncharacters, odd IRIs and blank nodes
    parses back (pyoxigraph and rdflib) into the same graph."""
    graph = f"{SUBMITTED}-ok"
    body = awkward_engine.export(mtype, graph)
    oxformat, rdflib_format = GRAPH_PARSERS[mtype]
    if mtype in XML_FORMATS:
        ET.fromstring(body)
    want = _stored(awkward_engine, graph)
    assert {Literal(t) for t in TEXTS} <= set(want.objects())
    from_ox = Graph()
    for q in ox.parse(body, format=oxformat):
        from_ox.add(tuple(_to_rdflib(t) for t in (q.subject, q.predicate, q.object)))
    assert from_ox.isomorphic(want)
    if mtype in ("application/n-quads", "application/trig"):
        from rdflib import Dataset

        ds = Dataset().parse(data=body, format=rdflib_format)
        from_rdflib = Graph()
        for s, p, o, _ in ds.quads():
            from_rdflib.add((s, p, o))
    else:
        from_rdflib = Graph().parse(data=body, format=rdflib_format)
    assert from_rdflib.isomorphic(want)


@pytest.mark.parametrize("graph", ["control", "numeric"])
def test_export_as_rdfxml_refuses_what_it_cannot_carry(awkward_engine, graph) -> None:
    """RDF/XML export of a control character or a numeric predicate is NotRepresentable (406)
    naming it; the same graph exports in N-Quads and reads back."""
    with pytest.raises(NotRepresentable) as caught:
        awkward_engine.export("application/rdf+xml", f"{SHIPPED}-{graph}")
    detail = caught.value.detail
    assert ("U+0001" in detail) if graph == "control" else ("<http://x.example/123>" in detail)
    assert "application/n-quads" in caught.value.extra["available"]
    nquads = awkward_engine.export("application/n-quads", f"{SHIPPED}-{graph}")
    assert len(list(ox.parse(nquads, format=ox.RdfFormat.N_QUADS))) == 1


def test_cli_export_refuses_rdfxml_it_cannot_write_and_writes_nquads(settings, tmp_path):
    """`lec-kg export --format xml` of a store holding U+0001 exits 1 saying why and writes no
    file; --format nquads writes it, and it reads back."""
    source = awkward_source(tmp_path / "source")
    base = [
        str(LEC_KG),
        "--source-dir",
        str(source),
        "export",
        "--data-dir",
        str(tmp_path / "data"),
    ]
    out = tmp_path / "out.rdf"
    xml = subprocess.run(
        [*base, "--format", "xml", "-o", str(out)], capture_output=True, text=True, timeout=300
    )
    assert xml.returncode == 1, xml.stderr
    said = xml.stderr  # the first statement it cannot write: either of the two
    assert ("U+0001" in said or "<http://x.example/123>" in said) and "nquads" in said, said
    assert not out.exists()
    nq = subprocess.run([*base, "--format", "nquads"], capture_output=True, timeout=300)
    assert nq.returncode == 0, nq.stderr
    quads = list(ox.parse(nq.stdout, format=ox.RdfFormat.N_QUADS))
    assert ox.Literal("a\x01b") in {q.object for q in quads}


# ---------------------------------------------------------------- links and pages


@pytest.mark.parametrize(
    ("value", "link"),
    [
        ("https://creativecommons.org/licenses/by/4.0/", True),
        ("HTTP://x.example/", True),
        ("sparql?format=html&query=DESCRIBE%20%3Cx%3E", True),
        ("?format=turtle", True),
        ("docs", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("java\tscript:alert(1)", False),
        (" javascript:alert(1)", False),
        ("\x01javascript:alert(1)", False),
        ("data:text/html,<script>alert(1)</script>", False),
        ("vbscript:msgbox", False),
        ("file:///etc/passwd", False),
        ("urn:x:a", False),
        ("http:\\\\evil.example", False),
        ("", False),
        (None, False),
    ],
)
def test_only_http_and_relative_targets_become_links(value, link) -> None:
    """The one link rule of every page."""
    assert (results_html.http_link(value) is not None) == link


def test_service_page_shows_a_javascript_licence_as_text() -> None:
    """The service page's licence: an https IRI is a link, a javascript: IRI only text."""
    page = results_html.render_service(
        "sparql",
        "http://127.0.0.1:8000/sparql",
        "1.0",
        ["javascript:alert(document.domain)", "https://ok.example/licence"],
        [],
        [],
    ).decode()
    assert 'href="javascript:' not in page
    assert "javascript:alert(document.domain)" in page  # shown, escaped, as text
    assert '<a href="https://ok.example/licence" rel="nofollow noopener noreferrer">' in page


def _policy(reply) -> dict[str, str]:
    header = reply.headers["content-security-policy"]
    return {d.split(" ", 1)[0]: d.partition(" ")[2] for d in (p.strip() for p in header.split(";"))}


def _assert_page_is_locked(reply) -> None:
    """An HTML page: no script at all, a CSP that allows none, its inline style by hash."""
    assert reply.headers["content-type"].startswith("text/html")
    assert "<script" not in reply.text.lower()
    policy = _policy(reply)
    assert policy["default-src"] == "'none'" and "script-src" not in policy
    assert policy["frame-ancestors"] == "'none'" and policy["base-uri"] == "'none'"
    (style,) = re.findall(r"<style>(.*?)</style>", reply.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["referrer-policy"] == "no-referrer"


def test_stored_javascript_licence_is_never_a_link(write_client) -> None:
    """A javascript: licence written into a facts graph is shown as text on the service page,
    which carries a CSP with no script; if writes about the ontology are refused, the refusal
    says so and the page is locked all the same."""
    update = (
        f"INSERT DATA {{ GRAPH <{FACTS}> {{ <{ONTOLOGY_IRI}> <{DCTERMS.license}> "
        "<javascript:alert(document.domain)> } }"
    )
    written = write_client.post("/sparql", data={"update": update}, headers=AUTH)
    assert written.status_code in (200, 400, 403, 422), written.text
    page = write_client.get("/sparql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert 'href="javascript:' not in page.text.lower()
    if written.status_code == 200:
        assert "javascript:alert(document.domain)" in page.text
    else:
        assert "javascript" not in page.text
    _assert_page_is_locked(page)


def test_results_page_shows_a_javascript_iri_as_text_linking_to_describe(client) -> None:
    """A result cell holding javascript:... links to DESCRIBE on this service, never to itself."""
    reply = client.get(
        "/sparql",
        params={"query": "SELECT ?x WHERE { BIND(<javascript:alert(1)> AS ?x) }"},
        headers={"Accept": "text/html"},
    )
    assert reply.status_code == 200, reply.text
    hrefs = re.findall(r'href="([^"]*)"', reply.text)
    assert hrefs and all(h.startswith("sparql") for h in hrefs), hrefs
    assert ">javascript:alert(1)</a>" in reply.text
    _assert_page_is_locked(reply)


def test_docs_page_allows_only_its_own_scripts(client) -> None:
    """/docs: scripts from this service plus its inline start-up script, by hash; no other."""
    reply = client.get("/docs")
    assert reply.status_code == 200
    policy = _policy(reply)
    scripts = re.findall(r"<script>(.*?)</script>", reply.text, re.DOTALL)
    assert scripts
    for body in scripts:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["script-src"]
    assert "unsafe-inline" not in reply.headers["content-security-policy"]
    assert "unsafe-eval" not in reply.headers["content-security-policy"]
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert reply.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/sparql", "text/turtle"),
        ("/sparql?query=ASK%7B%7D", "application/sparql-results+json"),
        ("/sparql?query=ASK%7B", "application/json"),  # a 400
        ("/health", "application/json"),
        ("/nowhere", "application/json"),  # a 404
    ],
)
def test_every_reply_has_nosniff_and_a_policy(client, path, accept) -> None:
    """Replies that are not pages still say nosniff, and a browser opening one runs nothing."""
    reply = client.get(path, headers={"Accept": accept})
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert _policy(reply)["default-src"] == "'none'"
    assert reply.headers["x-frame-options"] == "DENY"


# ---------------------------------------------------------------- the Host header

SELECT_ONE = "SELECT ?x WHERE { BIND(<http://x.example/a> AS ?x) }"
HOST_REQUESTS = [
    ("/sparql", {"Accept": "text/html"}),
    *((f"/sparql?format={k}", {}) for k in ("turtle", "nt", "jsonld", "xml")),
    ("/sparql", {"Accept": "text/html", "X-Forwarded-Host": EVIL}),
    (f"/sparql?format=html&query={SELECT_ONE}", {}),
    (
        "/sparql?format=html&query=CONSTRUCT%20%7B%3Cx%3A1%3E%20%3Cx%3A2%3E%203%7D%20WHERE%20%7B%7D",
        {},
    ),
    ("/docs", {}),
    ("/openapi.json", {}),
    ("/nowhere", {}),
    ("/sparql?query=SELEC", {}),
]


@pytest.mark.parametrize(("path", "headers"), HOST_REQUESTS, ids=[p for p, _ in HOST_REQUESTS])
def test_nothing_follows_the_host_header(client, path, headers) -> None:
    """Host: evil.example appears in no page, RDF description, link, form or header."""
    reply = client.get(path, headers={"Host": EVIL, **headers})
    assert reply.request.headers["host"] == EVIL
    assert EVIL not in reply.text
    assert all(EVIL not in v for v in reply.headers.values())


def test_service_description_names_the_configured_endpoint(settings, engine) -> None:
    """With a public URL set, sd:endpoint and the page's form and links use it."""
    public = replace(settings, public_url="https://kg.example.org/lec-kg/")
    with TestClient(create_app(public, engine), raise_server_exceptions=False) as c:
        turtle = c.get("/sparql", headers={"Accept": "text/turtle", "Host": EVIL})
        g = Graph().parse(data=turtle.content, format="turtle")
        service = URIRef("https://kg.example.org/lec-kg/sparql")
        assert service == URIRef(endpoint_iri(public))
        assert (
            service,
            URIRef("http://www.w3.org/ns/sparql-service-description#endpoint"),
            service,
        ) in g
        page = c.get("/sparql", headers={"Accept": "text/html", "Host": EVIL})
        assert 'action="https://kg.example.org/lec-kg/sparql"' in page.text
        assert (
            "form-action 'self' https://kg.example.org" in page.headers["content-security-policy"]
        )
        results = c.get(f"/sparql?format=html&query={SELECT_ONE}", headers={"Host": EVIL})
        hrefs = re.findall(r'href="([^"]*)"', results.text)
        assert hrefs and all(h.startswith("https://kg.example.org/lec-kg/sparql") for h in hrefs)


def test_without_a_public_url_pages_link_relatively_and_rdf_names_host_and_port(
    client, settings
) -> None:
    """No public URL: page links are relative; sd:endpoint is http://HOST:PORT/sparql."""
    page = client.get("/sparql", headers={"Accept": "text/html"})
    assert 'action="sparql"' in page.text and 'href="docs"' in page.text
    g = Graph().parse(data=client.get("/sparql?format=turtle").content, format="turtle")
    assert (URIRef(f"http://{settings.host}:{settings.port}/sparql"), RDF.type, None) in g
    ipv6 = replace(settings, host="::1", port=8123)
    assert endpoint_iri(ipv6) == "http://[::1]:8123/sparql"


def test_service_description_keeps_term_kinds_and_refuses_what_xml_cannot_carry(
    write_client,
) -> None:
    """A literal licence and a versionInfo holding U+0001 (written into a facts graph): each RDF
    format of the description parses back with the licence still a literal; RDF/XML is a 406.
    If such a write is refused (writes about the ontology are, and every write refuses a
    character XML 1.0 cannot carry), the refusal says why."""
    update = (
        f"INSERT DATA {{ GRAPH <{FACTS}> {{ <{ONTOLOGY_IRI}> <{DCTERMS.license}> "
        f'"CC BY 4.0 (see the text)" ; <{OWL.versionInfo}> "0.1\\u0001beta" }} }}'
    )
    written = write_client.post("/sparql", data={"update": update}, headers=AUTH)
    if written.status_code != 200:
        why = ("ontology" in written.text) or ("U+0001" in written.text)
        assert written.status_code in (400, 403, 422) and why, written.text
        return
    for mtype in GRAPH_TYPES:
        reply = write_client.get("/sparql", headers={"Accept": mtype})
        if mtype == "application/rdf+xml":
            assert reply.status_code == 406, reply.text
            assert "U+0001" in reply.json()["detail"]
            continue
        assert reply.status_code == 200, reply.text
        oxformat, rdflib_format = GRAPH_PARSERS[mtype]
        assert ox.Literal("0.1\x01beta") in {
            t.object for t in ox.parse(reply.content, format=oxformat)
        }
        g = Graph().parse(data=reply.content, format=rdflib_format)
        assert Literal("CC BY 4.0 (see the text)") in set(g.objects(None, DCTERMS.license))
        assert Literal("0.1\x01beta") in set(g.objects(None, OWL.versionInfo))


@pytest.mark.parametrize(
    "url", ["ftp://kg.example.org", "kg.example.org", "https://x.example/?a=1"]
)
def test_serve_refuses_a_public_url_it_cannot_use(url) -> None:
    """`serve --public-url` must be an absolute http(s) URL: anything else exits 2 saying so,
    before any loading."""
    run = subprocess.run(
        [str(LEC_KG), "--source-dir", str(ROOT), "serve", "--memory", "--public-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "--public-url" in run.stderr and repr(url) in run.stderr
    assert "loading" not in run.stderr
