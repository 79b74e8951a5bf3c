"""The SPARQL 1.1 Protocol at /sparql: the three ways to send a query, the dataset parameters, and
every refusal (status, message, and a store left as it was)."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from lec_kg.app import create_app
from tests.conftest import TOKEN
from tests.http_support import PREFIXES, count, parse_results

SELECT = PREFIXES + "SELECT ?label WHERE { lec:Actor rdfs:label ?label }"
ONTOLOGY_GRAPH = "https://w3id.org/lec-kg/graph/ontology/lec"
VOCABULARIES_GRAPH = "https://w3id.org/lec-kg/graph/ontology/vocabularies"
COUNT_DEFAULT = "SELECT (COUNT(*) AS ?n) WHERE { ?s ?p ?o }"
GRAPHS_SEEN = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"
JSON = {"Accept": "application/sparql-results+json"}


def rows(reply) -> list[dict[str, str]]:
    assert reply.status_code == 200, reply.text
    return parse_results(reply.content, "application/sparql-results+json")


def test_get_post_form_and_post_direct_answer_alike(client) -> None:
    """GET ?query=, POST form query= and POST application/sparql-query give the same result."""
    by_get = rows(client.get("/sparql", params={"query": SELECT}, headers=JSON))
    by_form = rows(client.post("/sparql", data={"query": SELECT}, headers=JSON))
    by_body = rows(
        client.post(
            "/sparql",
            content=SELECT.encode("utf-8"),
            headers={**JSON, "Content-Type": "application/sparql-query; charset=utf-8"},
        )
    )
    assert by_get == by_form == by_body == [{"label": "actor"}]


def test_default_graph_uri_is_honoured_and_repeatable(client) -> None:
    """default-graph-uri makes the default graph that graph (or the merge of several)."""
    in_ontology = count(
        client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{ONTOLOGY_GRAPH}> {{ ?s ?p ?o }} }}"
    )
    in_vocab = count(
        client, f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH <{VOCABULARIES_GRAPH}> {{ ?s ?p ?o }} }}"
    )
    assert in_ontology > 0 and in_vocab > 0

    def n(params) -> int:
        return int(rows(client.get("/sparql", params=params, headers=JSON))[0]["n"])

    assert n({"query": COUNT_DEFAULT, "default-graph-uri": ONTOLOGY_GRAPH}) == in_ontology
    both = [
        ("query", COUNT_DEFAULT),
        ("default-graph-uri", ONTOLOGY_GRAPH),
        ("default-graph-uri", VOCABULARIES_GRAPH),
    ]
    assert n(both) == in_ontology + in_vocab
    # the same through a form body and through the URL of a direct POST
    form = client.post(
        "/sparql", data={"query": COUNT_DEFAULT, "default-graph-uri": ONTOLOGY_GRAPH}, headers=JSON
    )
    assert int(rows(form)[0]["n"]) == in_ontology
    direct = client.post(
        "/sparql",
        params={"default-graph-uri": VOCABULARIES_GRAPH},
        content=COUNT_DEFAULT,
        headers={**JSON, "Content-Type": "application/sparql-query"},
    )
    assert int(rows(direct)[0]["n"]) == in_vocab


def test_named_graph_uri_limits_the_named_graphs(client) -> None:
    """named-graph-uri (repeatable) says which graphs GRAPH ?g can see."""
    one = rows(
        client.get(
            "/sparql",
            params={"query": GRAPHS_SEEN, "named-graph-uri": ONTOLOGY_GRAPH},
            headers=JSON,
        )
    )
    assert one == [{"g": ONTOLOGY_GRAPH}]
    two = rows(
        client.get(
            "/sparql",
            params=[
                ("query", GRAPHS_SEEN),
                ("named-graph-uri", ONTOLOGY_GRAPH),
                ("named-graph-uri", VOCABULARIES_GRAPH),
            ],
            headers=JSON,
        )
    )
    assert two == [{"g": ONTOLOGY_GRAPH}, {"g": VOCABULARIES_GRAPH}]


# (description, request keyword arguments, expected status, words the message must contain)
REFUSALS = [
    (
        "two query parameters by GET",
        {"method": "GET", "params": [("query", SELECT), ("query", SELECT)]},
        400,
        "2 query parameters",
    ),
    (
        "two query fields in a form",
        {
            "method": "POST",
            "content": urlencode([("query", SELECT)] * 2),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        400,
        "2 query parameters",
    ),
    (
        "query in the URL and in the form",
        {"method": "POST", "params": {"query": SELECT}, "data": {"query": SELECT}},
        400,
        "2 query parameters",
    ),
    (
        "query in the URL and as the body",
        {
            "method": "POST",
            "params": {"query": SELECT},
            "content": SELECT,
            "headers": {"Content-Type": "application/sparql-query"},
        },
        400,
        "request body",
    ),
    (
        "no query, only a dataset",
        {"method": "GET", "params": {"default-graph-uri": ONTOLOGY_GRAPH}},
        400,
        "query parameter is missing",
    ),
    (
        "form without a query",
        {"method": "POST", "data": {"default-graph-uri": ONTOLOGY_GRAPH}},
        400,
        "query parameter is missing",
    ),
    ("empty query", {"method": "GET", "params": {"query": "  "}}, 400, "empty"),
    (
        "query and update together",
        {"method": "POST", "data": {"query": SELECT, "update": "CLEAR ALL"}},
        400,
        "not both",
    ),
    ("update by GET", {"method": "GET", "params": {"update": "CLEAR ALL"}}, 400, "POST"),
    (
        "using-graph-uri with a query",
        {"method": "GET", "params": {"query": SELECT, "using-graph-uri": ONTOLOGY_GRAPH}},
        400,
        "using-graph-uri",
    ),
    (
        "default-graph-uri with an update",
        {"method": "POST", "data": {"update": "CLEAR ALL", "default-graph-uri": ONTOLOGY_GRAPH}},
        400,
        "default-graph-uri is not supported with update=",
    ),
    (
        "using-graph-uri that is not an IRI",
        {
            "method": "POST",
            "data": {
                "update": "DELETE WHERE { ?s ?p ?o }",
                "using-graph-uri": ONTOLOGY_GRAPH + "> } ; CLEAR ALL ; INSERT DATA { <x",
            },
        },
        400,
        "is not an IRI: it holds '>'",
    ),
    (
        "text/plain body",
        {"method": "POST", "content": SELECT, "headers": {"Content-Type": "text/plain"}},
        400,
        "not text/plain",
    ),
    (
        "JSON body",
        {
            "method": "POST",
            "content": '{"query": "ASK {}"}',
            "headers": {"Content-Type": "application/json"},
        },
        400,
        "application/sparql-query",
    ),
    (
        "body without Content-Type",
        {"method": "POST", "content": SELECT},
        400,
        "without Content-Type",
    ),
    (
        "form that is not UTF-8",
        {
            "method": "POST",
            "content": b"query=%FF%FE",
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        },
        400,
        "UTF-8",
    ),
    (
        "body that is not UTF-8",
        {
            "method": "POST",
            "content": b"ASK {} \xff",
            "headers": {"Content-Type": "application/sparql-query"},
        },
        400,
        "not UTF-8",
    ),
    (
        "no acceptable format",
        {"method": "GET", "params": {"query": SELECT}, "headers": {"Accept": "image/png"}},
        406,
        "nothing matches Accept: image/png",
    ),
    (
        "update sent as a query",
        {"method": "GET", "params": {"query": "CLEAR ALL"}},
        400,
        "SPARQL Update",
    ),
]


@pytest.mark.parametrize(
    ("what", "kwargs", "status", "words"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_refusals_say_why_and_change_nothing(client, what, kwargs, status, words) -> None:
    """Each malformed request gets its status and a message that says what is wrong."""
    before = count(client)
    kwargs = dict(kwargs)
    reply = client.request(kwargs.pop("method"), "/sparql", **kwargs)
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert words in body["detail"], body
    assert "Traceback" not in reply.text
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    assert count(client) == before


def test_malformed_query_gives_the_parser_message_line_and_column(client) -> None:
    """A syntax error is a 400 carrying the parser's message and where it is (1-based)."""
    query = "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\nSELECT ?s\n"
    query += "WHERE { ?s rdfs:label ?l ."
    reply = client.get("/sparql", params={"query": query})
    assert reply.status_code == 400
    body = reply.json()
    assert body["error"] == "malformed query"
    assert body["line"] == 3
    assert isinstance(body["column"], int) and body["column"] >= 1
    assert body["detail"]


@pytest.fixture
def small_client(settings, engine):
    """An app whose body limit is 512 bytes."""
    app = create_app(replace(settings, max_body_bytes=512), engine)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_body_over_the_limit_is_413_by_content_length(small_client) -> None:
    """A declared Content-Length over the limit is refused before the body is read."""
    before = count(small_client)
    big = SELECT + "\n#" + "x" * 1000
    reply = small_client.post(
        "/sparql", content=big, headers={"Content-Type": "application/sparql-query"}
    )
    assert reply.status_code == 413
    assert reply.json()["error"] == "payload too large"
    assert "512 bytes" in reply.json()["detail"]
    assert count(small_client) == before


def test_body_over_the_limit_is_413_when_streamed(small_client) -> None:
    """A chunked body (no Content-Length) is counted as it arrives and refused past the limit."""
    before = count(small_client)

    def chunks():
        yield b"update=INSERT+DATA+%7B+%3Chttp%3A%2F%2Fex.org%2Fs%3E+"
        yield b"%3Chttp%3A%2F%2Fex.org%2Fp%3E+%22"
        for _ in range(20):
            yield b"x" * 100
        yield b"%22+%7D"

    reply = small_client.post(
        "/sparql", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert reply.status_code == 413
    assert reply.json()["error"] == "payload too large"
    assert count(small_client) == before


def test_service_description_is_not_confused_with_a_missing_query(client) -> None:
    """GET /sparql without protocol parameters is the service description, not a 400."""
    reply = client.get("/sparql", headers={"Accept": "text/turtle"})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/turtle; charset=utf-8"


@pytest.fixture(scope="module")
def capped_client(settings):
    """An app over an engine whose result cap is 3 rows."""
    from tests.conftest import build

    capped = replace(settings, max_result_rows=3)
    engine = build(capped)
    with TestClient(create_app(capped, engine), raise_server_exceptions=False) as c:
        yield c
    engine.close()


@pytest.mark.parametrize("mtype", ["application/sparql-results+json", "text/csv"])
def test_a_result_cut_by_the_cap_says_so(capped_client, mtype) -> None:
    """Past max_result_rows the reply is cut and flagged: header always, JSON member too."""
    reply = capped_client.get(
        "/sparql",
        params={"query": "SELECT ?s ?p ?o WHERE { ?s ?p ?o }"},
        headers={"Accept": mtype},
    )
    assert reply.status_code == 200
    assert reply.headers["x-lec-truncated"] == "true"
    assert reply.headers["x-lec-rows"] == "3"
    assert len(parse_results(reply.content, mtype)) == 3
    if mtype == "application/sparql-results+json":
        assert reply.json()["truncated"] is True
    small = capped_client.get("/sparql", params={"query": "SELECT * WHERE { } LIMIT 1"})
    assert small.headers["x-lec-truncated"] == "false"


# ------------------------------------------------------------------ relative IRIs, using-graph-uri

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SUBMITTED = "https://w3id.org/lec-kg/graph/submitted/protocol-test"
REPORT = "https://w3id.org/lec-kg/id/document/merics-china-monitor-2017-01-18"
PLACE = "https://w3id.org/lec-kg/id/place/protocol-test"
RENAME = (
    PREFIXES + f"DELETE {{ GRAPH <{SUBMITTED}> {{ ?s rdfs:label ?l }} }} "
    f'INSERT {{ GRAPH <{SUBMITTED}> {{ ?s rdfs:label "renamed place"@en }} }} '
    f"WHERE {{ ?s a lec:Place ; rdfs:label ?l FILTER(?s = <{PLACE}>) }}"
)


def test_relative_iris_resolve_against_the_endpoint(client, settings) -> None:
    """The W3C protocol tests' CONSTRUCT { <s> <p> 1 } WHERE {}: relative IRIs resolve against
    the service's base IRI, its endpoint's IRI."""
    reply = client.get(
        "/sparql",
        params={"query": "CONSTRUCT { <s> <p> 1 } WHERE {}"},
        headers={"Accept": "application/n-triples"},
    )
    assert reply.status_code == 200, reply.text
    base = settings.public_base
    assert reply.text.startswith(f'<{base}/s> <{base}/p> "1"^^')
    with_base = client.get(
        "/sparql",
        params={"query": "BASE <http://example.org/x/> CONSTRUCT { <s> <p> 1 } WHERE {}"},
        headers={"Accept": "application/n-triples"},
    )
    assert with_base.text.startswith("<http://example.org/x/s> <http://example.org/x/p> ")


def test_a_relative_from_is_checked_once_resolved(client, settings) -> None:
    reply = client.get("/sparql", params={"query": "SELECT * FROM <graph/x> { ?s ?p ?o }"})
    assert reply.status_code == 400, reply.text
    assert f"FROM <{settings.public_base}/graph/x> is not a graph of this store" in reply.text
    relative = "BASE <https://w3id.org/lec-kg/graph/ontology/> SELECT * FROM <lec> { ?s ?p ?o }"
    assert rows(client.get("/sparql", params={"query": relative}, headers=JSON))


def test_using_graph_uri_sets_the_dataset_of_an_update(write_client) -> None:
    """using-graph-uri reads the update's WHERE from that graph, as USING would."""
    insert = (
        PREFIXES + f"INSERT DATA {{ GRAPH <{SUBMITTED}> {{ <{PLACE}> a lec:Place ; "
        f'rdfs:label "protocol test place"@en ; lec:evidence [ a lec:SourcePassage ; '
        f'dcterms:isPartOf <{REPORT}> ; lec:page 1 ; lec:quote "China" ] . }} }}'
    )
    reply = write_client.post("/sparql", data={"update": insert}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    elsewhere = write_client.post(
        "/sparql", data={"update": RENAME, "using-graph-uri": ONTOLOGY_GRAPH}, headers=AUTH
    )
    assert elsewhere.status_code == 200, elsewhere.text
    assert (elsewhere.json()["added"], elsewhere.json()["removed"]) == (0, 0)
    there = write_client.post(
        "/sparql",
        params={"using-graph-uri": SUBMITTED},
        content=RENAME,
        headers={**AUTH, "Content-Type": "application/sparql-update"},
    )
    assert there.status_code == 200, there.text
    assert (there.json()["added"], there.json()["removed"]) == (1, 1)


@pytest.mark.parametrize(
    ("update", "graph", "words"),
    [
        (
            "DELETE { ?s ?p ?o } USING <https://w3id.org/lec-kg/graph/ontology/lec> "
            "WHERE { ?s ?p ?o }",
            ONTOLOGY_GRAPH,
            "cannot be combined with USING, USING NAMED or WITH in the update (USING at line 1",
        ),
        (
            f"WITH <{ONTOLOGY_GRAPH}> DELETE {{ ?s ?p ?o }} WHERE {{ ?s ?p ?o }}",
            ONTOLOGY_GRAPH,
            "(WITH at line 1, column 1)",
        ),
        (
            "DELETE WHERE { ?s ?p ?o }",
            "http://127.0.0.1:9/remote",
            "using-graph-uri <http://127.0.0.1:9/remote> is not a graph of this store",
        ),
        ("DELETE WHERE { ?s ?p ?o }", "http://x/a> } ; CLEAR ALL", "is not an IRI"),
    ],
)
def test_a_using_graph_uri_refusal_changes_nothing(write_client, update, graph, words) -> None:
    before = count(write_client)
    reply = write_client.post(
        "/sparql", data={"update": update, "using-graph-uri": graph}, headers=AUTH
    )
    assert reply.status_code == 400, reply.text
    assert words in reply.json()["detail"]
    assert count(write_client) == before
