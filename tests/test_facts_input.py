"""POST /validate and /facts as an auditor found them, against a real `lec-kg serve`: the
answer varies with Accept and says so, encodings the server does not decode are refused, a
client that drops mid-body is no server error, the SHACL report is a valid one pointing at the
right place, and what the body holds is kept whole or refused (never dropped in part)."""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from pyoxigraph import BlankNode, DefaultGraph, NamedNode, Quad
from rdflib import RDF, BNode, Graph, URIRef
from rdflib.namespace import DCTERMS, SH

from lec_kg.findings import Finding, ValidationReport
from lec_kg.gate import warnings_on
from tests.conftest import TOKEN, LiveServer, serving
from tests.support import TIMEOUT

REPORT = "https://w3id.org/lec-kg/id/document/merics-china-monitor-2017-01-18"
PREFIXES = """@prefix lec: <https://w3id.org/lec-kg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
"""
EVIDENCE = (
    f"lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ; "
    'lec:quote "China" ]'
)
GRAPH = "https://w3id.org/lec-kg/graph/facts/facts-input-test"
DUMP = "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"
WAIT_S = 60.0
WRITE = {"Authorization": f"Bearer {TOKEN}"}


def place(slug: str, evidence: bool = True) -> str:
    """Turtle for one place; without evidence it violates the shapes."""
    proof = f"; {EVIDENCE}" if evidence else ""
    return (
        PREFIXES + f"<https://w3id.org/lec-kg/id/place/facts-input-{slug}> a lec:Place ;\n"
        f'    rdfs:label "Place {slug}"@en {proof} .\n'
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("facts-input")
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    with serving(["--memory"], env, folder / "serve.log") as live:
        yield live


def dump(server: LiveServer) -> set[tuple[str, ...]]:
    """Every quad of the store, as rows."""
    reply = httpx.get(
        server.sparql,
        params={"query": DUMP},
        headers={"Accept": "application/sparql-results+json"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200
    rows = reply.json()["results"]["bindings"]
    return {tuple(json.dumps(r[k], sort_keys=True) for k in ("g", "s", "p", "o")) for r in rows}


def post(server: LiveServer, path: str, body: str | bytes, **headers: str) -> httpx.Response:
    sent = {"Content-Type": "text/turtle", **WRITE, **headers}
    return httpx.post(server.url + path, content=body, headers=sent, timeout=TIMEOUT)


def vary(reply: httpx.Response) -> set[str]:
    return {v.strip().lower() for v in reply.headers.get("vary", "").split(",") if v.strip()}


def test_reports_vary_with_accept(server: LiveServer) -> None:
    before = dump(server)
    for accept in ("application/json", "text/turtle", "application/ld+json"):
        checked = post(server, "/validate", place("vary", evidence=False), Accept=accept)
        assert checked.status_code == 200 and "accept" in vary(checked), accept
        refused = post(server, "/facts", place("vary", evidence=False), Accept=accept)
        assert refused.status_code == 422 and "accept" in vary(refused), accept
    assert dump(server) == before


@pytest.mark.parametrize("coding", ["gzip", "br", "deflate, identity", "x-unknown"])
def test_content_encodings_are_refused_on_every_body(server: LiveServer, coding: str) -> None:
    body = place(f"coded-{coding.partition(',')[0]}")
    sent = gzip.compress(body.encode()) if coding == "gzip" else body.encode()
    update = f"INSERT DATA {{ GRAPH <{GRAPH}> {{ <urn:x:s> <urn:x:p> <urn:x:o> }} }}"
    before = dump(server)
    for method, path, params, content, media in (
        ("POST", "/validate", {}, sent, "text/turtle"),
        ("POST", "/facts", {}, sent, "text/turtle"),
        ("PUT", "/graph-store", {"graph": GRAPH}, sent, "text/turtle"),
        ("POST", "/graph-store", {"graph": GRAPH}, sent, "text/turtle"),
        ("POST", "/sparql", {}, update.encode(), "application/sparql-update"),
    ):
        reply = httpx.request(
            method,
            server.url + path,
            params=params,
            content=content,
            headers={"Content-Type": media, "Content-Encoding": coding, **WRITE},
            timeout=TIMEOUT,
        )
        assert reply.status_code == 415, (path, reply.status_code, reply.text)
        assert coding.partition(",")[0] in reply.json()["detail"], path
        assert reply.headers["accept-encoding"] == "identity"
    assert dump(server) == before
    plain = post(server, "/validate", body, **{"Content-Encoding": "identity"})
    assert plain.status_code == 200, plain.text


@pytest.mark.parametrize("path", ["validate", "sparql", "facts"])
def test_a_client_dropping_mid_body_is_no_server_error(server: LiveServer, path: str) -> None:
    request_id = f"drop-mid-body-{path}"
    host, port = server.url.removeprefix("http://").split(":")
    media = b"application/sparql-update" if path == "sparql" else b"text/turtle"
    with socket.create_connection((host, int(port)), timeout=WAIT_S) as conn:
        conn.sendall(
            b"POST /"
            + path.encode()
            + b" HTTP/1.1\r\nHost: x\r\nContent-Type: "
            + media
            + b"\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\n"
            b"Content-Length: 100\r\nX-Request-Id: " + request_id.encode() + b"\r\n\r\n"
            b"<urn:x:a> <ur"
        )
    deadline = time.monotonic() + WAIT_S  # a guard against hanging, not a timed assertion
    access = f"lec_kg.access: request_id={request_id} "
    while access not in (logged := server.log.read_text(errors="replace")):
        assert time.monotonic() < deadline, logged[-2000:]
        time.sleep(0.1)
    lines = [line for line in logged.splitlines() if request_id in line]
    assert any("lec_kg.access" in line and "status=499" in line for line in lines), lines
    assert not any(" ERROR " in line for line in lines), lines
    assert "Traceback" not in logged and "unhandled error" not in logged
    assert any(" INFO " in line and "disconnect" in line for line in lines), lines


SH_NS = "http://www.w3.org/ns/shacl#"
# SHACL 1.0 §3.6.2: the values each sh:ValidationResult has (min, max).
RESULT_CARDINALITIES = {
    "focusNode": (1, 1),
    "resultSeverity": (1, 1),
    "sourceConstraintComponent": (1, 1),
    "sourceShape": (0, 1),
    "resultPath": (0, 1),
    "value": (0, 1),
}
BROKEN = (
    PREFIXES
    + "<https://w3id.org/lec-kg/id/place/facts-input-broken> a lec:Place ;\n"
    + '    rdfs:label "Broken"@en ;\n'
    + "    lec:bogusProperty 3 .\n"
)


def check_shacl_report(graph: Graph) -> None:
    """The graph is one sh:ValidationReport whose results have SHACL's cardinalities, and
    whose dcterms:source, if any, is an IRI."""
    reports = list(graph.subjects(RDF.type, SH.ValidationReport))
    assert len(reports) == 1
    assert len(list(graph.objects(reports[0], SH.conforms))) == 1
    results = list(graph.objects(reports[0], SH.result))
    assert results
    for result in results:
        assert (result, RDF.type, SH.ValidationResult) in graph
        for name, (low, high) in RESULT_CARDINALITIES.items():
            found = len(list(graph.objects(result, URIRef(SH_NS + name))))
            assert low <= found <= high, (name, found, graph.serialize(format="turtle"))
        for source in graph.objects(result, DCTERMS.source):
            assert isinstance(source, URIRef), source


@pytest.mark.parametrize("accept", ["text/turtle", "application/ld+json"])
def test_the_shacl_report_is_a_valid_validation_report(server: LiveServer, accept: str) -> None:
    before = dump(server)
    for path in ("/validate", "/facts"):
        reply = post(server, path, BROKEN + place("report", evidence=False), Accept=accept)
        assert reply.status_code == (200 if path == "/validate" else 422), reply.text
        assert reply.headers["content-type"].startswith(accept)
        graph = Graph().parse(
            data=reply.content, format="json-ld" if "json" in accept else "turtle"
        )
        check_shacl_report(graph)
        assert "submission/" not in reply.text  # the graph a dry run names does not exist
    assert dump(server) == before


def test_an_update_refused_is_rendered_as_facts_are(server: LiveServer) -> None:
    slug = "https://w3id.org/lec-kg/id/place/facts-input-update"
    update = (
        "PREFIX lec: <https://w3id.org/lec-kg/ontology#>\n"
        f"INSERT DATA {{ GRAPH <{GRAPH}> {{ <{slug}> a lec:Place ; lec:bogusProperty 3 }} }}"
    )
    before = dump(server)
    sent = {"Content-Type": "application/sparql-update"}
    for accept in ("text/turtle", "application/ld+json"):
        reply = post(server, "/sparql", update, **sent, Accept=accept)
        assert reply.status_code == 422 and "accept" in vary(reply)
        assert reply.headers["content-type"].startswith(accept)
        fmt = "json-ld" if "json" in accept else "turtle"
        check_shacl_report(Graph().parse(data=reply.content, format=fmt))
    for accept in ("application/json", "application/sparql-results+json", "*/*"):
        reply = post(server, "/sparql", update, **sent, Accept=accept)
        assert reply.status_code == 422
        body = reply.json()
        assert body["conforms"] is False and "report" not in body
        assert body["error"] == "validation failed" and body["detail"]
        assert slug in {node["focus"] for node in body["nodes"]}
        reference = post(server, "/facts", BROKEN, Accept="application/json").json()
        assert set(body) == set(reference)
        assert set(body["nodes"][0]) == set(reference["nodes"][0])
    assert dump(server) == before


def test_the_detail_is_the_same_first_violation_every_time(server: LiveServer) -> None:
    body = BROKEN + place("detail-a", evidence=False) + place("detail-b", evidence=False)
    details = {post(server, "/facts", body).json()["detail"] for _ in range(6)}
    assert len(details) == 1, details
    (detail,) = details
    assert "first: <https://w3id.org/lec-kg/id/place/facts-input-" in detail
    # A blank node as focus: written _:label with what holds it, never as an IRI <label>.
    quote_missing = PREFIXES + (
        "<https://w3id.org/lec-kg/id/place/facts-input-blank> a lec:Place ;\n"
        '    rdfs:label "Blank"@en ;\n'
        f"    lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ] .\n"
    )
    reply = post(server, "/facts", quote_missing)
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert re.search(r"first: _:\w+ \(lec:evidence of <?https://", detail), detail
    assert not re.search(r"<(?!https?://)[^>]*>", detail.partition("first:")[2]), detail


LINES = PREFIXES + (  # lines 1-3 are the prefixes
    "<https://w3id.org/lec-kg/id/place/facts-input-holder> a lec:Place ;\n"  # 4
    '    rdfs:label "Holder"@en ;\n'  # 5
    "    rdfs:seeAlso <https://w3id.org/lec-kg/id/place/facts-input-lines> .\n"  # 6
    "# <https://w3id.org/lec-kg/id/place/facts-input-lines> in a comment\n"  # 7
    "<https://w3id.org/lec-kg/id/place/facts-input-lines> a lec:Place ;\n"  # 8
    '    rdfs:label "Lines"@en ;\n'  # 9
    "    lec:bogusLink <https://w3id.org/lec-kg/id/place/facts-input-elsewhere> .\n"  # 10
)


def test_findings_point_at_the_subject_and_the_offending_value(server: LiveServer) -> None:
    reply = post(server, "/validate", LINES, Accept="application/json")
    assert reply.status_code == 200
    nodes = {node["focus"]: node for node in reply.json()["nodes"]}
    lines = nodes["https://w3id.org/lec-kg/id/place/facts-input-lines"]
    assert lines["line"] == 8  # described from line 8 (named on 6 as an object, on 7 in a comment)
    bogus = [r for r in lines["results"] if r["path"] == "lec:bogusLink"]
    assert bogus and all(r["line"] == 8 for r in bogus)
    assert {r["value"] for r in bogus} == {"https://w3id.org/lec-kg/id/place/facts-input-elsewhere"}
    assert nodes["https://w3id.org/lec-kg/id/place/facts-input-holder"]["line"] == 4


RDF_NS = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'


@pytest.mark.parametrize(
    ("media", "body", "line", "column"),
    [
        (  # an undeclared namespace prefix
            "application/rdf+xml",
            f'<?xml version="1.0"?>\n<rdf:RDF {RDF_NS}>\n'
            '  <rdf:Description rdf:about="http://x.example/a">\n'
            "    <foo:bar>1</foo:bar>\n  </rdf:Description>\n</rdf:RDF>\n",
            4,
            5,
        ),
        (  # a malformed element
            "application/rdf+xml",
            f'<?xml version="1.0"?>\n<rdf:RDF {RDF_NS}>\n'
            '  <rdf:Description rdf:about="http://x.example/a">\n</rdf:RDF>\n',
            4,
            3,
        ),
        ("application/ld+json", '{"@id": "http://x.example/a",\n  "@type": 5}', 2, 3),
        (
            "application/ld+json",
            '{"@context": {"ex": "http://x.example/"},\n "@id": "http://x.example/a",\n'
            ' "ex:p": {"@value": "v", "@language": 5}}',
            3,
            26,
        ),
    ],
)
def test_parse_errors_give_line_and_column(
    server: LiveServer, media: str, body: str, line: int, column: int
) -> None:
    reply = post(server, "/validate", body, **{"Content-Type": media})
    assert reply.status_code == 400, reply.text
    found = reply.json()
    assert (found["line"], found["column"]) == (line, column), found


ELSEWHERE = "https://data.example.org/kg/"


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose IRIs are under another base."""
    folder = tmp_path_factory.mktemp("facts-input-elsewhere")
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    with serving(["--memory", "--base-iri", ELSEWHERE], env, folder / "serve.log") as live:
        yield live


def test_reports_name_the_deployments_iris(elsewhere: LiveServer) -> None:
    body = (
        f"@prefix lec: <{ELSEWHERE}ontology#> .\n"
        "@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
        f"<{ELSEWHERE}id/event/facts-input-extradition> a lec:Extradition ;\n"
        '    rdfs:label "An extradition"@en ;\n'
        f"    lec:bogusLink <{ELSEWHERE}id/place/nowhere> .\n"
    )
    for path in ("/validate", "/facts"):
        for accept in ("application/json", "text/turtle", "application/ld+json"):
            reply = post(elsewhere, path, body, Accept=accept)
            assert reply.status_code in (200, 422), reply.text
            assert "w3id.org/lec-kg" not in reply.text, (path, accept, reply.text)
            assert f"{ELSEWHERE}id/event/facts-input-extradition" in reply.text
        if path == "/validate":
            found = post(elsewhere, path, body).json()
            messages = [r["message"] for n in found["nodes"] for r in n["results"]]
            assert any(f"lec:toState <{ELSEWHERE}id/state/XX>" in m for m in messages), messages
            shapes = {r["shape"] for n in found["nodes"] for r in n["results"]}
            assert all(s.startswith(ELSEWHERE) for s in shapes), shapes
            assert found["nodes"][0]["line"] == 3


JSONLD_CONTEXT = {
    "lec": "https://w3id.org/lec-kg/ontology#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "dcterms": "http://purl.org/dc/terms/",
}


def jsonld_place(slug: str, **extra: object) -> dict[str, object]:
    """A conforming place in JSON-LD, with `extra` keys."""
    return {
        "@id": f"https://w3id.org/lec-kg/id/place/facts-input-{slug}",
        "@type": "lec:Place",
        "rdfs:label": {"@value": f"Place {slug}", "@language": "en"},
        "lec:evidence": {
            "@type": "lec:SourcePassage",
            "dcterms:isPartOf": {"@id": REPORT},
            "lec:page": 1,
            "lec:quote": "China",
        },
        **extra,
    }


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"@id": "http://ex.org/a b"}, "http://ex.org/a b"),
        ({"rdfs:seeAlso": {"@id": "http://ex.org/c d"}}, "http://ex.org/c d"),
        ({"lec:bogus term": "x"}, "lec:bogus term"),
        ({"bogus": "x"}, "bogus"),
        ({"@type": ["lec:Place", "http://ex.org/a type"]}, "http://ex.org/a type"),
    ],
)
def test_jsonld_that_would_be_dropped_is_refused(
    server: LiveServer, change: dict[str, object], named: str
) -> None:
    before = dump(server)
    document = {"@context": JSONLD_CONTEXT, **jsonld_place("dropped"), **change}
    body = json.dumps(document, indent=1)
    for path in ("/validate", "/facts"):
        reply = post(server, path, body, **{"Content-Type": "application/ld+json"})
        assert reply.status_code == 400, (path, reply.text)
        found = reply.json()
        assert named in found["detail"] and found["line"] and found["column"], found
    assert dump(server) == before
    intact = json.dumps({"@context": JSONLD_CONTEXT, **jsonld_place("intact")})
    assert post(server, "/validate", intact, **{"Content-Type": "application/ld+json"}).json()[
        "conforms"
    ]


def test_jsonld_may_name_the_services_own_context(server: LiveServer) -> None:
    published = httpx.get(server.url + "/context.jsonld", timeout=TIMEOUT).json()
    context = published.get("@context", published)
    assert "label" in context
    document = {
        "@context": "https://w3id.org/lec-kg/context.jsonld",
        "@id": "https://w3id.org/lec-kg/id/place/facts-input-own-context",
        "@type": "lec:Place",
        "label": "Own context",
    }
    reply = post(
        server,
        "/validate",
        json.dumps(document),
        **{"Content-Type": "application/ld+json", "Accept": "application/json"},
    )
    assert reply.status_code == 200, reply.text
    labels = [r for n in reply.json()["nodes"] for r in n["results"] if r["path"] == "rdfs:label"]
    assert not labels  # the label was read through the context
    for other in ("https://w3id.org/lec-kg/context.jsonld#x", "http://example.org/context"):
        refused = post(
            server,
            "/validate",
            json.dumps({**document, "@context": other}),
            **{"Content-Type": "application/ld+json"},
        )
        assert refused.status_code == 400 and "remote" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("media", "body", "line"),
    [
        ("text/turtle", place("xml-a") + '<urn:x:a> rdfs:comment "a\\u0001b" .\n', 6),
        ("text/turtle", place("xml-b") + '<urn:x:a> rdfs:comment "a\x0bb" .\n', 6),
        ("application/n-triples", '<urn:x:a> <urn:x:p> "\\U0000FFFF" .\n', 1),
        ("application/ld+json", '{"@id": "urn:x:a",\n "urn:x:p": "a\\u001fb"}', 2),
    ],
)
def test_characters_xml_cannot_hold_are_refused_in_bodies(
    server: LiveServer, media: str, body: str, line: int
) -> None:
    before = dump(server)
    for path in ("/validate", "/facts"):
        reply = post(server, path, body.encode("utf-8"), **{"Content-Type": media})
        assert reply.status_code == 400, (path, reply.text)
        found = reply.json()
        assert "XML 1.0" in found["detail"] and found["line"] == line, found
    reply = httpx.put(
        server.url + "/graph-store",
        params={"graph": GRAPH},
        content=body.encode("utf-8"),
        headers={"Content-Type": media, **WRITE},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 400
    assert dump(server) == before
    assert httpx.get(server.url + "/dump.rdf", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize("literal", ['"a\\u0001b"', '"a\x02b"', '"\\U0000FFFE"'])
def test_characters_xml_cannot_hold_are_refused_in_updates(
    server: LiveServer, literal: str
) -> None:
    before = dump(server)
    update = f"INSERT DATA {{ GRAPH <{GRAPH}> {{ <urn:x:a> <urn:x:p> {literal} }} }}"
    for reply in (
        post(server, "/sparql", update, **{"Content-Type": "application/sparql-update"}),
        httpx.post(server.sparql, data={"update": update}, headers=WRITE, timeout=TIMEOUT),
    ):
        assert reply.status_code == 400, reply.text
        assert "XML 1.0" in reply.json()["detail"]
    assert dump(server) == before


@pytest.mark.parametrize("name", ["message", "source"])
def test_characters_xml_cannot_hold_are_refused_in_records(server: LiveServer, name: str) -> None:
    before = dump(server)
    reply = httpx.post(
        server.url + "/facts",
        params={name: "why\x01not"},
        content=place(f"record-{name}"),
        headers={"Content-Type": "text/turtle", **WRITE},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 400, reply.text
    assert name in reply.json()["detail"] and "XML 1.0" in reply.json()["detail"]
    assert dump(server) == before


def test_warnings_write_a_blank_node_as_one() -> None:
    """The warnings of an accepted write name a blank node _:label (what holds it), an IRI
    <iri>."""
    blank = BNode("b0")
    report = ValidationReport(
        (
            Finding("Warning", "urn:x:shape", blank, "lec:page", "check", context="of <urn:x:a>"),
            Finding("Warning", "urn:x:shape", URIRef("urn:x:a"), None, "check"),
        )
    )
    changed = [
        Quad(BlankNode("b0"), NamedNode("urn:x:p"), NamedNode("urn:x:o"), DefaultGraph()),
        Quad(NamedNode("urn:x:a"), NamedNode("urn:x:p"), NamedNode("urn:x:o"), DefaultGraph()),
    ]
    assert warnings_on(report, changed) == (
        "Warning: <urn:x:a> (node): check",
        "Warning: _:b0 (of <urn:x:a>) lec:page: check",
    )
