"""SPARQL Update at /sparql: only with the write token, validated by the shapes, rolled back when
invalid. Every refusal shows its status and message and leaves the store as it was."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from lec_kg.app import create_app
from tests.conftest import TOKEN
from tests.http_support import COUNT_ASSERTED, PREFIXES, ask, count

GRAPH = "https://w3id.org/lec-kg/graph/submitted/http-test"
REPORT = "https://w3id.org/lec-kg/id/document/merics-china-monitor-2017-01-18"
PLACE = "https://w3id.org/lec-kg/id/place/http-test-{}"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def insert_place(slug: str, with_evidence: bool = True) -> str:
    """An INSERT DATA of one place; without evidence it violates the shapes."""
    evidence = (
        f"""; lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ;
                  lec:page 1 ; lec:quote "China" ]"""
        if with_evidence
        else ""
    )
    return (
        PREFIXES
        + f"""INSERT DATA {{ GRAPH <{GRAPH}> {{
        <{PLACE.format(slug)}> a lec:Place ; rdfs:label "HTTP test place {slug}"@en {evidence} .
    }} }}"""
    )


def exists(client, slug: str) -> bool:
    return ask(client, f"ASK {{ GRAPH ?g {{ <{PLACE.format(slug)}> ?p ?o }} }}")


def test_valid_update_with_the_token_round_trips(write_client) -> None:
    """A valid INSERT with the token is applied, counted, and can be queried back."""
    before = count(write_client, COUNT_ASSERTED)
    reply = write_client.post("/sparql", data={"update": insert_place("form")}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    outcome = reply.json()
    assert outcome["added"] > 0 and outcome["removed"] == 0
    assert exists(write_client, "form")
    assert count(write_client, COUNT_ASSERTED) == before + outcome["added"]


def test_direct_sparql_update_body_is_accepted(write_client) -> None:
    """POST application/sparql-update with the token works like the form."""
    reply = write_client.post(
        "/sparql",
        content=insert_place("direct"),
        headers={**AUTH, "Content-Type": "application/sparql-update"},
    )
    assert reply.status_code == 200, reply.text
    assert exists(write_client, "direct")


def test_invalid_update_is_422_with_the_report_and_nothing_changes(write_client) -> None:
    """An INSERT that violates the shapes is rolled back; the report names shape and focus node."""
    before = count(write_client)
    reply = write_client.post(
        "/sparql", data={"update": insert_place("invalid", with_evidence=False)}, headers=AUTH
    )
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "validation failed"
    text = json.dumps(body)
    assert PLACE.format("invalid") in text  # the focus node
    assert "FactNodeShape-evidence" in text  # the shape that fired
    assert not exists(write_client, "invalid")
    assert count(write_client) == before


# (description, headers, expected status, words of the message)
AUTH_REFUSALS = [
    ("no Authorization header", {}, 401, "write token"),
    ("Basic instead of Bearer", {"Authorization": "Basic dXNlcjpwYXNz"}, 401, "Bearer"),
    ("empty Bearer", {"Authorization": "Bearer "}, 401, "Bearer"),
    ("wrong token", {"Authorization": "Bearer not-the-token"}, 403, "not valid"),
    ("token with a different length", {"Authorization": f"Bearer {TOKEN}x"}, 403, "not valid"),
]


@pytest.mark.parametrize(
    ("what", "headers", "status", "words"), AUTH_REFUSALS, ids=[a[0] for a in AUTH_REFUSALS]
)
@pytest.mark.parametrize("style", ["form", "direct"])
def test_update_without_the_right_token_is_refused(
    write_client, what, headers, status, words, style
) -> None:
    """401 (with WWW-Authenticate: Bearer) without a usable token, 403 with a wrong one."""
    before = count(write_client)
    slug = f"refused-{status}-{style}"
    if style == "form":
        reply = write_client.post("/sparql", data={"update": insert_place(slug)}, headers=headers)
    else:
        reply = write_client.post(
            "/sparql",
            content=insert_place(slug),
            headers={**headers, "Content-Type": "application/sparql-update"},
        )
    assert reply.status_code == status, reply.text
    assert words in reply.json()["detail"]
    if status == 401:
        assert reply.headers["www-authenticate"].startswith("Bearer")
    assert not exists(write_client, slug)
    assert count(write_client) == before


def test_writing_disabled_without_a_configured_token(settings, write_engine) -> None:
    """With no LEC_KG_WRITE_TOKEN the server refuses every update with 403 saying so."""
    app = create_app(replace(settings, write_token=None), write_engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        before = count(client)
        reply = client.post("/sparql", data={"update": insert_place("disabled")}, headers=AUTH)
        assert reply.status_code == 403
        assert "writing is disabled" in reply.json()["detail"]
        assert "LEC_KG_WRITE_TOKEN" in reply.json()["detail"]
        assert count(client) == before
        assert not exists(client, "disabled")


def test_query_sent_as_update_is_400(write_client) -> None:
    """A SELECT posted as update= is a 400 that says to send it as a query."""
    before = count(write_client)
    reply = write_client.post(
        "/sparql", data={"update": "SELECT * WHERE { ?s ?p ?o }"}, headers=AUTH
    )
    assert reply.status_code == 400
    assert "is a SPARQL query" in reply.json()["detail"]
    assert count(write_client) == before


def test_update_sent_as_query_is_400(write_client) -> None:
    """An INSERT posted as query= is a 400 that says to send it as an update; nothing changes."""
    before = count(write_client)
    reply = write_client.post("/sparql", data={"query": insert_place("as-query")}, headers=AUTH)
    assert reply.status_code == 400
    assert "SPARQL Update (INSERT)" in reply.json()["detail"]
    assert not exists(write_client, "as-query")
    assert count(write_client) == before


def test_malformed_update_is_400_with_line_and_column(write_client) -> None:
    """A syntax error in an update is a 400 with the parser's position."""
    before = count(write_client)
    reply = write_client.post(
        "/sparql",
        data={"update": "INSERT DATA {\n <a:b> <a:c> <a:d> .\n <a:b> <a:c> \n}"},
        headers=AUTH,
    )
    assert reply.status_code == 400
    body = reply.json()
    assert body["error"] == "malformed query"
    assert body["line"] == 4
    assert count(write_client) == before


def test_cross_origin_writes_are_not_allowed(write_client) -> None:
    """CORS preflight allows cross-origin reads, but not a request carrying Authorization."""
    read = write_client.options(
        "/sparql",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert read.status_code == 200
    assert read.headers["access-control-allow-origin"] == "*"
    write = write_client.options(
        "/sparql",
        headers={
            "Origin": "https://example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert write.status_code == 400  # a failed preflight: the browser does not send the request
    assert "authorization" not in write.headers.get("access-control-allow-headers", "").lower()
    assert "Disallowed CORS headers" in write.text


@pytest.mark.parametrize(
    "update",
    [
        "CLEAR ALL",
        "DROP GRAPH <https://w3id.org/lec-kg/graph/ontology/lec>",
        "DELETE WHERE { GRAPH <https://w3id.org/lec-kg/graph/shapes/core> { ?s ?p ?o } }",
    ],
)
def test_updates_may_not_touch_the_ontology_or_the_shapes(write_client, update) -> None:
    """Even with the token, the ontology and shapes graphs are read-only: 400, nothing changed."""
    before = count(write_client, COUNT_ASSERTED)
    reply = write_client.post("/sparql", data={"update": update}, headers=AUTH)
    assert reply.status_code == 400, reply.text
    assert "read-only" in reply.json()["detail"]
    assert count(write_client, COUNT_ASSERTED) == before
