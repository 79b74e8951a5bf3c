"""POST /validate and /facts, submissions and their records, against a real `lec-kg serve`.

Every kind of bad input gets its status and a message naming what and where, and leaves the
store exactly as it was (every quad compared before and after); an accepted submission is its
own graph, listed, fetched, exported and withdrawn, each write attributed to its token's name."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from rdflib import Dataset, Graph
from rdflib.namespace import SH

from lec_kg.tokens import token_line
from tests.conftest import LiveServer, serving
from tests.support import TIMEOUT, LoopbackListener

ALICE, BOB, SINGLE = "alice-token-8d2f", "bob-token-11ac", "single-token-77e0"
REPORT = "https://w3id.org/lec-kg/id/document/merics-china-monitor-2017-01-18"
PLACE = "https://w3id.org/lec-kg/id/place/submission-test-{}"
RECORDS = "https://w3id.org/lec-kg/graph/records"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
PREFIX_LINES = f"PREFIX lec: <https://w3id.org/lec-kg/ontology#>\nPREFIX rdfs: <{RDFS}>\n"
PREFIX_LINES += "PREFIX prov: <http://www.w3.org/ns/prov#>\nPREFIX rdf: <" + RDF + ">\n"
PREFIXES = """@prefix lec: <https://w3id.org/lec-kg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""
DUMP = "SELECT ?g ?s ?p ?o WHERE { GRAPH ?g { ?s ?p ?o } }"


def place(slug: str, extra: str = "", evidence: bool = True) -> str:
    """Turtle for one place; without evidence it violates the shapes."""
    proof = (
        f"; lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ; "
        'lec:quote "China" ]'
        if evidence
        else ""
    )
    return (
        PREFIXES
        + f"<{PLACE.format(slug)}> a lec:Place ;\n"
        + f'    rdfs:label "Place {slug}"@en {extra} {proof} .\n'
    )


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`lec-kg serve --memory` with two named tokens (a file) and the single one."""
    folder = tmp_path_factory.mktemp("submissions")
    tokens = folder / "tokens"
    tokens.write_text(f"# who may write\n{token_line('alice', ALICE)}\n{token_line('bob', BOB)}\n")
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": SINGLE}
    args = ["--memory", "--tokens-file", str(tokens), "--max-result-rows", "1000000"]
    args += ["--max-body", "200KB"]
    with serving(args, env, folder / "serve.log") as live:
        yield live


def dump(server: LiveServer) -> set[tuple[str, ...]]:
    """Every quad of the store (the inferred graph included), as rows."""
    reply = httpx.get(
        server.sparql,
        params={"query": DUMP},
        headers={"Accept": "application/sparql-results+json"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200 and reply.headers["x-lec-truncated"] == "false"
    rows = reply.json()["results"]["bindings"]
    return {tuple(json.dumps(r[k], sort_keys=True) for k in ("g", "s", "p", "o")) for r in rows}


def post(
    server: LiveServer, path: str, body: bytes | str, media: str, **headers: str
) -> httpx.Response:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return httpx.post(
        server.url + path,
        content=data,
        headers={"Content-Type": media, **headers},
        timeout=TIMEOUT,
    )


# ---------------------------------------------------------------- bad input changes nothing

UNKNOWN_CLASS = PREFIXES + f'<{PLACE.format("k")}> a lec:Plase ; rdfs:label "K"@en .\n'
DATE_ORDER = (
    PREFIXES
    + f"""
<https://w3id.org/lec-kg/id/step/submission-test-ratified> a lec:LifecycleStep ;
    rdfs:label "Ratification of the Interpol-RATS memorandum (test)"@en ;
    lec:stepOf <https://w3id.org/lec-kg/id/instrument/interpol-rats-mou> ;
    lec:stage <https://w3id.org/lec-kg/id/code/lifecycle-stage/ratified> ;
    lec:participant <https://w3id.org/lec-kg/id/organisation/interpol> ;
    lec:date "2010"^^xsd:gYear ;
    lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ;
        lec:quote "China" ] .
"""
)

SHAPE_CASES = [
    # name, body, shape that fires, words of its message
    ("unknown class", UNKNOWN_CLASS, "UndeclaredClassShape-type", "not declared"),
    (
        "unknown property",
        place("p", '; lec:plaseName "P"'),
        "UndeclaredPropertyShape",
        "not a property",
    ),
    ("shape violation", place("v", evidence=False), "FactNodeShape-evidence", "lec:evidence"),
    ("date order", DATE_ORDER, "InstrumentShape-lifecycleOrder", ""),
    # Nodes the fact shapes would not judge are refused.
    (
        "node outside the namespace",
        PREFIXES
        + "<http://evil.example/e> a lec:Extradition ;\n"
        + "    lec:toState <https://w3id.org/lec-kg/id/state/CN> .\n",
        "OwnNamespaceShape",
        "Name this node under",
    ),
    (
        "relative IRI",
        PREFIXES + '<x> a lec:Place ;\n    rdfs:label "X"@en .\n',
        "OwnNamespaceShape",
        "not as a relative IRI",
    ),
    (
        "a thing as a blank node",
        PREFIXES + '[] a lec:Treaty ;\n    rdfs:label "T"@en .\n',
        "BlankNodeShape",
        "only a source passage",
    ),
    (
        "owl:sameAs",
        PREFIXES
        + "<https://w3id.org/lec-kg/id/state/FR> <http://www.w3.org/2002/07/owl#sameAs> "
        + "<https://w3id.org/lec-kg/id/state/CN> .\n",
        "SameAsShape-sameAs",
        "Remove owl:sameAs",
    ),
    # The rules for newly submitted facts (shapes/submission.ttl), on the passage the body adds.
    (
        "quote too long",
        place("q").replace('lec:quote "China"', f'lec:quote "{"China " * 100}"'),
        "SubmittedSourcePassageShape-quote",
        "at most 500 characters",
    ),
    (
        "document without a page count",
        place("d").replace(REPORT, "https://w3id.org/lec-kg/id/document/submission-test-memo")
        + "<https://w3id.org/lec-kg/id/document/submission-test-memo> a lec:Document ;\n"
        + '    rdfs:label "A memo"@en .\n',
        "SubmittedSourcePassageShape-documentPageCount",
        "lec:pageCount",
    ),
]


@pytest.mark.parametrize(
    ("name", "body", "shape", "words"), SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES]
)
def test_facts_that_break_the_shapes_are_422_and_change_nothing(
    server, name, body, shape, words
) -> None:
    """/facts answers 422 with the report (shape, node, line), /validate 200 with the same
    verdict; the store is exactly as before."""
    before = dump(server)
    reply = post(server, "/facts", body, "text/turtle", **auth(ALICE))
    assert reply.status_code == 422, reply.text
    verdict = reply.json()
    assert verdict["conforms"] is False and verdict["counts"]["Violation"] >= 1
    results = [(n, r) for n in verdict["nodes"] for r in n["results"]]
    fired = [(n, r) for n, r in results if r["shape"].endswith("#" + shape)]
    assert fired, verdict
    node, result = fired[0]
    assert words in result["message"] and result["severity"] == "Violation"
    if name in ("unknown class", "unknown property", "shape violation"):  # a node the body
        assert node["line"] == 5 and result["line"] == 5  # names (not blank, not elsewhere)
    assert verdict["nodes"][0]["severity"] == "Violation"  # most serious first
    dry = post(server, "/validate", body, "text/turtle")
    assert dry.status_code == 200 and dry.json()["conforms"] is False
    assert dump(server) == before


def test_a_parse_error_is_400_with_line_and_column(server) -> None:
    before = dump(server)
    body = (
        PREFIXES
        + "<http://x.example/a> <http://x.example/b> \n"
        + "  <http://x.example/c> <http://x.example/d> .\n"
    )
    for path in ("/facts", "/validate"):
        reply = post(server, path, body, "text/turtle", **auth(ALICE))
        assert reply.status_code == 400, reply.text
        error = reply.json()
        assert (error["line"], error["column"]) == (6, 24)  # the IRI where a dot belongs
        assert "text/turtle syntax error" in error["detail"]
    reply = post(
        server, "/facts", '{"@id": "http://x.example/a", ', "application/ld+json", **auth(ALICE)
    )
    assert reply.status_code == 400 and reply.json()["line"] == 1
    assert dump(server) == before


def test_bodies_nested_too_deep_are_400_before_any_parser(server) -> None:
    """5,000 levels of JSON-LD crash pyoxigraph's parser (the server's own process) and Python's
    json recurses; RDF/XML's parser takes time quadratic in the depth: both refused at 129 levels,
    with the place, by both routes; the server goes on answering, the store unchanged."""
    before = dump(server)
    json_ld = '{"@id":"x:a","x:p":' * 5000 + "1" + "}" * 5000  # 100 KB, under the body limit
    arrays = "[" * 200 + "]" * 200
    xml = (
        f'<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="{RDF}" xmlns:p="http://x.example/">'
        + '<rdf:Description rdf:about="http://x.example/a">'
        + "<p:p><rdf:Description>" * 3000
        + "</rdf:Description></p:p>" * 3000
        + "</rdf:Description></rdf:RDF>"
    )
    shallow = '{"@id": "http://x.example/a", "http://x.example/p": "[[[[{{{{"}'
    for path in ("/validate", "/facts"):
        for body, media in (
            (json_ld, "application/ld+json"),
            (arrays, "application/ld+json"),
            (xml, "application/rdf+xml"),
        ):
            reply = post(server, path, body, media, **auth(ALICE))
            assert reply.status_code == 400, reply.text
            error = reply.json()
            assert "nests more than 128 levels" in error["detail"] and error["line"] >= 1
        # brackets inside a string are text, not nesting
        assert post(server, "/validate", shallow, "application/ld+json").status_code == 200
    assert dump(server) == before


def test_the_lines_of_a_large_body_are_found_for_every_subject(server) -> None:
    """A report points back into the body: each of 1,000 subjects of an N-Triples body (which
    the shapes refuse: no label language, no evidence) is reported on its own line."""
    body = "".join(
        f"<{PLACE.format(f'lines-{i}')}> <{RDF}type> <https://w3id.org/lec-kg/ontology#Place> .\n"
        for i in range(1000)
    )
    reply = post(server, "/validate", body, "application/n-triples")
    assert reply.status_code == 200 and reply.json()["conforms"] is False
    lines = {n["focus"]: n["line"] for n in reply.json()["nodes"] if n.get("line") is not None}
    assert lines[PLACE.format("lines-0")] == 1
    assert lines[PLACE.format("lines-999")] == 1000
    assert all(lines[PLACE.format(f"lines-{i}")] == i + 1 for i in range(0, 1000, 97))


def test_too_large_is_413(server) -> None:
    before = dump(server)
    body = place("big", f'; rdfs:comment "{"x" * 300_000}"@en')
    reply = post(server, "/facts", body, "text/turtle", **auth(ALICE))
    assert reply.status_code == 413 and "larger than" in reply.json()["detail"]
    assert dump(server) == before


def test_no_token_is_401_and_a_wrong_one_403(server) -> None:
    before = dump(server)
    reply = post(server, "/facts", place("t"), "text/turtle")
    assert reply.status_code == 401 and "write token" in reply.json()["detail"]
    assert reply.headers["www-authenticate"].startswith("Bearer")
    for token in ("not-a-token", ALICE + "x", ALICE[:-1]):
        reply = post(server, "/facts", place("t"), "text/turtle", **auth(token))
        assert reply.status_code == 403 and "not valid" in reply.json()["detail"]
    reply = post(server, "/facts", place("t"), "text/turtle", Authorization=f"Basic {ALICE}")
    assert reply.status_code == 401
    assert dump(server) == before


def test_a_remote_json_ld_context_is_refused_and_never_fetched(server) -> None:
    """A context named by IRI (at top level, in a list, nested, or @import) is refused before
    parsing: the loopback listener it names receives nothing."""
    before = dump(server)
    listener = LoopbackListener()
    remote = f"http://127.0.0.1:{listener.port}/context.jsonld"
    try:
        documents = [
            {"@context": remote, "@id": PLACE.format("j"), "label": "J"},
            {
                "@context": [{"lec": "https://w3id.org/lec-kg/ontology#"}, remote],
                "@id": PLACE.format("j"),
            },
            {"@context": {"@import": remote}, "@id": PLACE.format("j")},
            {"@id": PLACE.format("j"), "http://x.example/p": {"@context": remote, "@value": "v"}},
        ]
        for document in documents:
            for path in ("/facts", "/validate"):
                reply = post(
                    server, path, json.dumps(document), "application/ld+json", **auth(ALICE)
                )
                assert reply.status_code == 400, reply.text
                assert "never fetched" in reply.json()["detail"]
        # A key given twice: parsers differ on which one wins, so it is refused outright.
        twice = f'{{"@context": "{remote}", "@context": {{}}, "@id": "{PLACE.format("j")}"}}'
        for media in ("application/ld+json", "application/json"):
            reply = post(server, "/facts", twice, media, **auth(ALICE))
            assert reply.status_code == 400 and "twice" in reply.json()["detail"]
    finally:
        accepted = listener.close()
    assert accepted == []
    assert dump(server) == before


def test_rdf_xml_with_a_doctype_or_entity_is_refused(server) -> None:
    before = dump(server)
    listener = LoopbackListener()
    xml = (
        f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY e SYSTEM "http://127.0.0.1:{listener.port}/x">]>\n'
        f'<rdf:RDF xmlns:rdf="{RDF}" xmlns:rdfs="{RDFS}">'
        f'<rdf:Description rdf:about="{PLACE.format("x")}"><rdfs:label>&e;</rdfs:label>'
        "</rdf:Description></rdf:RDF>"
    )
    try:
        for body in (
            xml,
            xml.replace("<!DOCTYPE", "<!doctype"),
            xml.replace("SYSTEM", "").replace('"http', '"boom" "http'),
        ):
            reply = post(server, "/facts", body, "application/rdf+xml", **auth(ALICE))
            assert reply.status_code == 400, reply.text
            error = reply.json()
            assert "DOCTYPE declaration is refused" in error["detail"] and error["line"] == 2
        reply = post(server, "/validate", xml.encode("utf-16"), "application/rdf+xml")
        assert reply.status_code == 400 and "UTF-8" in reply.json()["detail"]
    finally:
        accepted = listener.close()
    assert accepted == []
    assert dump(server) == before


def test_an_unsupported_media_type_is_415_naming_the_accepted_ones(server) -> None:
    before = dump(server)
    for media in ("application/sparql-update", "text/html", "application/x-www-form-urlencoded"):
        reply = post(server, "/facts", place("m"), media, **auth(ALICE))
        assert reply.status_code == 415, reply.text
        detail = reply.json()["detail"]
        assert "text/turtle" in detail and "application/ld+json" in detail
    reply = post(server, "/validate", place("m"), "text/turtle; charset=latin-1")
    assert reply.status_code == 415 and "UTF-8" in reply.json()["detail"]
    reply = httpx.post(server.url + "/validate", content=place("m").encode(), timeout=TIMEOUT)
    assert reply.status_code == 415
    assert dump(server) == before


def test_a_body_naming_a_graph_is_refused(server) -> None:
    before = dump(server)
    body = (
        f'<{PLACE.format("g")}> <http://www.w3.org/2000/01/rdf-schema#label> "G"@en <{RECORDS}> .\n'
    )
    reply = post(server, "/facts", body, "application/n-quads", **auth(ALICE))
    assert reply.status_code == 400 and "names the graph" in reply.json()["detail"]
    assert dump(server) == before


# ---------------------------------------------------------------- accepted submissions


def test_validate_answers_in_json_turtle_or_json_ld(server) -> None:
    before = dump(server)
    good = post(server, "/validate", place("ok"), "text/turtle")
    assert good.status_code == 200 and good.json()["conforms"] is True
    bad = post(
        server, "/validate", place("bad", evidence=False), "text/turtle", Accept="text/turtle"
    )
    assert bad.status_code == 200 and bad.headers["content-type"].startswith("text/turtle")
    graph = Graph().parse(data=bad.content, format="turtle")
    (report,) = graph.subjects(predicate=SH.conforms)
    assert str(graph.value(report, SH.conforms)) == "false"
    assert any(graph.objects(None, SH.resultMessage))
    as_jsonld = post(
        server,
        "/validate",
        place("bad", evidence=False),
        "text/turtle",
        Accept="application/ld+json",
    )
    assert as_jsonld.headers["content-type"].startswith("application/ld+json")
    assert len(Graph().parse(data=as_jsonld.content, format="json-ld")) == len(graph)
    assert (
        post(server, "/validate", place("x"), "text/turtle", Accept="text/csv").status_code == 406
    )
    assert dump(server) == before


@pytest.mark.parametrize(
    ("media", "body"),
    [
        (
            "application/n-triples",
            f"<{PLACE.format('nt')}> <{RDF}type> <https://w3id.org/lec-kg/ontology#Place> .\n",
        ),
        (
            "application/ld+json",
            json.dumps(
                {
                    "@context": {"lec": "https://w3id.org/lec-kg/ontology#"},
                    "@id": PLACE.format("ld"),
                    "@type": "lec:Place",
                }
            ),
        ),
    ],
)
def test_other_formats_are_read(server, media, body) -> None:
    """N-Triples and JSON-LD (inline context) are read: the verdict names the missing label."""
    reply = post(server, "/validate", body, media)
    assert reply.status_code == 200, reply.text
    messages = [r["message"] for n in reply.json()["nodes"] for r in n["results"]]
    assert any("label" in m for m in messages)


def test_a_submission_is_kept_listed_fetched_exported_and_withdrawn(server) -> None:
    before = dump(server)
    reply = httpx.post(
        server.url + "/facts",
        params={"message": "a place the report names", "source": REPORT},
        content=place("kept").encode(),
        headers={"Content-Type": "text/turtle", **auth(BOB)},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 201, reply.text
    made = reply.json()
    sid = made["id"]
    assert reply.headers["location"] == f"/submissions/{sid}" and made["who"] == "bob"
    graph = made["graph"]
    assert graph == f"https://w3id.org/lec-kg/graph/submission/{sid}"
    after = dump(server)
    assert before < after
    assert all(
        json.loads(row[0])["value"] in (graph, RECORDS, "https://w3id.org/lec-kg/graph/inferred")
        for row in after - before
    )

    listed = httpx.get(server.url + "/submissions", timeout=TIMEOUT).json()["submissions"]
    (entry,) = [s for s in listed if s["id"] == sid]
    assert (entry["who"], entry["message"], entry["sources"]) == (
        "bob",
        "a place the report names",
        [REPORT],
    )
    assert entry["withdrawn"] is None and entry["graph"] == graph
    one = httpx.get(server.url + f"/submissions/{sid}", timeout=TIMEOUT)
    assert one.status_code == 200 and "Accept" in one.headers["vary"]  # JSON, or RDF by Accept

    fetched = httpx.get(server.url + f"/submissions/{sid}", timeout=TIMEOUT)
    assert (
        fetched.status_code == 200 and fetched.json()["quads"] == 7
    )  # type, label, evidence + the passage 4
    trig = httpx.get(
        server.url + f"/submissions/{sid}", headers={"Accept": "application/trig"}, timeout=TIMEOUT
    )
    assert trig.status_code == 200 and trig.headers["content-type"].startswith("application/trig")
    exported = Dataset().parse(data=trig.content, format="trig")
    graphs = {str(c.identifier) for c in exported.contexts() if len(c)}
    assert {graph, RECORDS} <= graphs
    assert SINGLE not in trig.text and BOB not in trig.text  # names, never tokens

    # Withdrawn: the graph goes, the withdrawal is recorded, the record stays.
    assert httpx.delete(server.url + f"/submissions/{sid}", timeout=TIMEOUT).status_code == 401
    no_reason = httpx.delete(
        server.url + f"/submissions/{sid}", headers=auth(ALICE), timeout=TIMEOUT
    )
    assert no_reason.status_code == 400 and "says why" in no_reason.json()["detail"]
    control = httpx.delete(  # the reason goes into the records, which RDF/XML carries
        server.url + f"/submissions/{sid}",
        params={"message": "bad \x01 reason"},
        headers=auth(ALICE),
        timeout=TIMEOUT,
    )
    assert control.status_code == 400 and "U+0001" in control.json()["detail"], control.text
    gone = httpx.delete(
        server.url + f"/submissions/{sid}",
        params={"message": "duplicate of an existing place"},
        headers=auth(ALICE),
        timeout=TIMEOUT,
    )
    assert gone.status_code == 200, gone.text
    body = gone.json()
    assert body["removed"] == 7
    assert (
        body["withdrawn"]["who"] == "alice"
        and body["withdrawn"]["why"] == "duplicate of an existing place"
    )
    assert body["who"] == "bob"
    fetched = httpx.get(server.url + f"/submissions/{sid}", timeout=TIMEOUT).json()
    assert fetched["quads"] == 0 and fetched["withdrawn"]["who"] == "alice"
    rows = dump(server)
    assert not any(json.loads(r[0])["value"] == graph for r in rows)
    nquads = httpx.get(
        server.url + f"/submissions/{sid}", params={"format": "nquads"}, timeout=TIMEOUT
    )
    assert PLACE.format("kept") in nquads.text  # the withdrawn quads stay in the record
    again = httpx.delete(
        server.url + f"/submissions/{sid}",
        params={"message": "x"},
        headers=auth(ALICE),
        timeout=TIMEOUT,
    )
    assert again.status_code == 409
    assert (
        httpx.get(server.url + "/submissions/ffffffffffff0000", timeout=TIMEOUT).status_code == 404
    )


def test_every_write_is_attributed_to_its_token_name(server) -> None:
    """The single LEC_KG_WRITE_TOKEN writes as "default"; an update leaves the same record."""
    reply = post(server, "/facts", place("single"), "text/turtle", **auth(SINGLE))
    assert reply.status_code == 201 and reply.json()["who"] == "default"
    graph = "https://w3id.org/lec-kg/graph/submitted/upd"
    update = PREFIX_LINES + (
        f"INSERT DATA {{ GRAPH <{graph}> {{ <{PLACE.format('upd')}> a lec:Place ; "
        'rdfs:label "U"@en ; lec:evidence [ a lec:SourcePassage ; '
        f'<http://purl.org/dc/terms/isPartOf> <{REPORT}> ; lec:page 1 ; lec:quote "China" ] }} }}'
    )
    done = httpx.post(server.sparql, data={"update": update}, headers=auth(ALICE), timeout=TIMEOUT)
    assert done.status_code == 200, done.text
    query = PREFIX_LINES + (
        f"SELECT ?who ?text ?note WHERE {{ GRAPH <{RECORDS}> {{ ?w prov:wasAssociatedWith ?a ; "
        "rdf:value ?text ; rdfs:comment ?note . ?a rdfs:label ?who } "
        f'FILTER(CONTAINS(?text, "{PLACE.format("upd")}")) }}'
    )
    rows = httpx.get(
        server.sparql,
        params={"query": query},
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    (row,) = rows.json()["results"]["bindings"]
    assert row["who"]["value"] == "alice" and "added" in row["note"]["value"]
    # An update may not touch the records.
    before = dump(server)
    forged = f'INSERT DATA {{ GRAPH <{RECORDS}> {{ <{PLACE.format("f")}> <{RDFS}label> "f" }} }}'
    refused = httpx.post(
        server.sparql, data={"update": forged}, headers=auth(ALICE), timeout=TIMEOUT
    )
    assert refused.status_code == 403 and "records" in refused.json()["detail"]
    erase = f"DELETE WHERE {{ GRAPH <{RECORDS}> {{ ?s ?p ?o }} }}"
    refused = httpx.post(
        server.sparql, data={"update": erase}, headers=auth(ALICE), timeout=TIMEOUT
    )
    assert refused.status_code == 403
    assert dump(server) == before
    log = server.log.read_text(errors="replace")
    assert ALICE not in log and BOB not in log and SINGLE not in log


def test_statements_no_write_may_make_are_refused_by_both_routes(server) -> None:
    """Describing a term of the ontology: /validate says it does not conform (200, naming the
    triple), /facts refuses it (422); nothing changes."""
    before = dump(server)
    body = PREFIXES + 'lec:Place rdfs:comment "a place"@en .\n'
    dry = post(server, "/validate", body, "text/turtle")
    assert dry.status_code == 200 and dry.json()["conforms"] is False
    assert "term of the ontology" in dry.json()["detail"]
    wet = post(server, "/facts", body, "text/turtle", **auth(ALICE))
    assert wet.status_code == 422 and "term of the ontology" in wet.json()["detail"]
    assert dump(server) == before


def test_the_rules_for_new_facts_hold_for_sparql_updates_too(server) -> None:
    """A SPARQL update adding a passage with an over-long quote is refused like the submission;
    the same rule does not judge the passages the update leaves alone."""
    before = dump(server)
    quote = "China " * 100
    update = (
        PREFIX_LINES
        + "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
        + "INSERT DATA { GRAPH <https://w3id.org/lec-kg/graph/facts/submission-test> { "
        + f'<{PLACE.format("u")}> a lec:Place ; rdfs:label "Place u"@en ; lec:evidence '
        + f"[ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ; "
        + f'lec:quote "{quote}" ] }} }}'
    )
    reply = httpx.post(server.sparql, data={"update": update}, headers=auth(ALICE), timeout=TIMEOUT)
    assert reply.status_code == 422, reply.text
    assert "SubmittedSourcePassageShape-quote" in reply.text
    assert dump(server) == before
    short = update.replace(quote, "China")
    reply = httpx.post(server.sparql, data={"update": short}, headers=auth(ALICE), timeout=TIMEOUT)
    assert reply.status_code in (200, 204), reply.text


def test_blank_nodes_of_two_submissions_are_two_nodes(server) -> None:
    """`_:e` in two bodies is two passages, not one passage with two quotes."""
    body = (
        PREFIXES
        + '<{}> a lec:Place ; rdfs:label "{}"@en ; lec:evidence _:e .\n'
        + f"_:e a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ; lec:page 1 ; "
        + 'lec:quote "{}" .\n'
    )
    for slug in ("b1", "b2"):
        text = body.format(PLACE.format(slug), f"Place {slug}", f"Quote {slug}")
        reply = post(server, "/facts", text, "text/turtle", **auth(ALICE))
        assert reply.status_code == 201, reply.text
    query = (
        PREFIX_LINES
        + "SELECT ?e (COUNT(?q) AS ?n) WHERE { VALUES ?p { "
        + f"<{PLACE.format('b1')}> <{PLACE.format('b2')}> }} ?p lec:evidence ?e . "
        + "?e lec:quote ?q } GROUP BY ?e"
    )
    reply = httpx.get(
        server.sparql,
        params={"query": query},
        headers={"Accept": "application/sparql-results+json"},
        timeout=TIMEOUT,
    )
    rows = reply.json()["results"]["bindings"]
    assert len(rows) == 2 and all(r["n"]["value"] == "1" for r in rows), rows


def test_what_an_export_cannot_carry_is_refused_by_every_write(server) -> None:
    """A control character in a literal, a predicate RDF/XML cannot write, a control character
    in an update's text (kept in the records graph): 400, nothing stored, the RDF/XML dump
    still served."""
    before = dump(server)
    control = place("x1", '; rdfs:comment "ctl\\u0001char"')
    predicate = place("x2", "; <http://x.example/123> 1")
    for body, words in ((control, "U+0001"), (predicate, "does not end in an XML name")):
        for path in ("/facts", "/validate"):
            reply = post(server, path, body, "text/turtle", **auth(ALICE))
            assert reply.status_code == 400, (path, reply.text)
            assert words in reply.json()["detail"], reply.text
    update = "# a comment with \x01 in it\n" + PREFIX_LINES + "INSERT DATA { }"
    reply = httpx.post(server.sparql, data={"update": update}, headers=auth(ALICE), timeout=TIMEOUT)
    assert reply.status_code == 400 and "U+0001" in reply.json()["detail"], reply.text
    assert reply.json()["line"] == 1, reply.text
    assert dump(server) == before
    assert httpx.get(server.url + "/dump.rdf", timeout=TIMEOUT).status_code == 200
