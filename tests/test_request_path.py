"""One path per request: middleware added the standard FastAPI ways sees every /sparql request
(answered from the result cache, inline, or by a worker; GET and POST; queries and updates), and
a query request is inspected, checked and negotiated once, however it is answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import quote

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

import lec_kg.guard
from lec_kg.app import create_app
from lec_kg.config import Settings
from lec_kg.engine_api import Engine, QueryRequest
from lec_kg.guard import REMEMBER_TEXT_CHARS
from lec_kg.routes import sparql
from tests.conftest import TOKEN, build

JSON = "application/sparql-results+json"
# A property no shape judges on nodes outside the graph's namespace (the ontology's would be).
COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"
LEC = "https://w3id.org/lec-kg/ontology#"
GRAPH = "https://w3id.org/lec-kg/graph/facts/request-path-test"
QUERY = (
    f"SELECT ?label WHERE {{ <{LEC}Actor> <http://www.w3.org/2000/01/rdf-schema#label> ?label }}"
)


class Recorder:
    """A plain ASGI middleware, added with `app.add_middleware`: notes each HTTP request."""

    def __init__(self, app: ASGIApp, seen: list[tuple[str, str]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"]))
        await self.app(scope, receive, send)


def instrumented(app: FastAPI) -> tuple[list[tuple[str, str]], list[tuple[str, str, int, str]]]:
    """Add one middleware each standard way; return what each of them saw."""
    by_class: list[tuple[str, str]] = []
    by_decorator: list[tuple[str, str, int, str]] = []
    app.add_middleware(Recorder, seen=by_class)

    @app.middleware("http")
    async def record(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        cache = response.headers.get("x-lec-cache", "-")
        by_decorator.append((request.method, request.url.path, response.status_code, cache))
        return response

    return by_class, by_decorator


@pytest.fixture(scope="module")
def uncached(settings: Settings) -> Iterator[Engine]:
    """An engine without a result cache: a repeated cheap query is evaluated inline."""
    built = build(replace(settings, result_cache_bytes=0))
    assert built.is_ready(), built.not_ready_reason
    yield built
    built.close()


def test_added_middleware_sees_cached_get_post_query_update_and_health(
    settings: Settings, write_engine: Engine
) -> None:
    app = create_app(settings, write_engine)
    by_class, by_decorator = instrumented(app)
    url = f"/sparql?query={quote(QUERY + ' # request-path cached')}"
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/sparql-update"}
    insert = f'INSERT DATA {{ GRAPH <{GRAPH}> {{ <urn:lec-kg-test:p> <{COMMENT}> "n" }} }}'
    with TestClient(app, raise_server_exceptions=False) as client:
        first = client.get(url, headers={"Accept": JSON})
        again = client.get(url, headers={"Accept": JSON})
        posted = client.post("/sparql", data={"query": QUERY}, headers={"Accept": JSON})
        updated = client.post("/sparql", content=insert.encode(), headers=auth)
        health = client.get("/health")
    assert [r.status_code for r in (first, again, posted, updated, health)] == [200] * 5
    assert (first.headers["x-lec-cache"], again.headers["x-lec-cache"]) == ("miss", "hit")
    assert updated.json()["added"] == 1
    expected = [
        ("GET", "/sparql"),
        ("GET", "/sparql"),
        ("POST", "/sparql"),
        ("POST", "/sparql"),
        ("GET", "/health"),
    ]
    assert by_class == expected
    assert [(m, p) for m, p, _, _ in by_decorator] == expected
    assert [(s, c) for _, _, s, c in by_decorator[:3]] == [
        (200, "miss"),
        (200, "hit"),
        (200, "miss"),
    ]


def test_added_middleware_sees_a_query_answered_inline(
    settings: Settings, uncached: Engine
) -> None:
    text = QUERY + " # request-path inline"
    for _ in range(5):  # "cheap" is measured time: a cold worker may need a second run
        uncached.query(QueryRequest(text), JSON)
        if uncached.query_inline(QueryRequest(text), JSON) is not None:
            break
    else:
        pytest.fail("five worker runs and the query never counted as cheap")
    app = create_app(replace(settings, result_cache_bytes=0), uncached)
    by_class, by_decorator = instrumented(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        reply = client.get(f"/sparql?query={quote(text)}", headers={"Accept": JSON})
    assert reply.status_code == 200
    assert json.loads(reply.content)["results"]["bindings"][0]["label"]["value"] == "actor"
    assert by_class == [("GET", "/sparql")]
    assert by_decorator == [("GET", "/sparql", 200, "miss")]


def test_a_middleware_can_stop_a_sparql_request(settings: Settings, engine: Engine) -> None:
    """What a middleware decides holds for /sparql too: it is not routed around."""
    app = create_app(settings, engine)

    @app.middleware("http")
    async def closed(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path == "/sparql":
            return PlainTextResponse("closed for maintenance", status_code=503)
        return await call_next(request)

    with TestClient(app, raise_server_exceptions=False) as client:
        get = client.get(f"/sparql?query={quote(QUERY)}")
        post = client.post("/sparql", data={"query": QUERY})
        health = client.get("/health")
    assert (get.status_code, get.text) == (503, "closed for maintenance")
    assert (post.status_code, post.text) == (503, "closed for maintenance")
    assert health.status_code == 200


@pytest.mark.parametrize("long", [False, True], ids=["short", "long"])
def test_a_query_request_is_prepared_once_on_a_miss(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, long: bool
) -> None:
    """A new query, with a dataset, answered by a worker: one inspection, one negotiation,
    one check of each dataset parameter (the long text is remembered nowhere)."""
    calls = {"inspect": 0, "negotiate": 0, "check_dataset": 0}

    def counting(name: str, real):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(lec_kg.guard, "inspect", counting("inspect", lec_kg.guard.inspect))
    monkeypatch.setattr(
        lec_kg.guard, "check_dataset", counting("check_dataset", lec_kg.guard.check_dataset)
    )
    monkeypatch.setattr(sparql, "negotiate", counting("negotiate", sparql.negotiate))
    padding = "#" + "x" * (REMEMBER_TEXT_CHARS + 10) + "\n" if long else ""
    text = f"{padding}SELECT ?g WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }} GROUP BY ?g # {long}-once"
    graph = engine.graph_names()[0]
    params = {"query": text, "default-graph-uri": graph, "named-graph-uri": graph}
    app = create_app(settings, engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        reply = client.post("/sparql", data=params, headers={"Accept": JSON})
    assert reply.status_code == 200, reply.text
    assert reply.headers["x-lec-cache"] == "miss"
    assert json.loads(reply.content)["results"]["bindings"] == [
        {"g": {"type": "uri", "value": graph}}
    ]
    assert calls == {"inspect": 1, "negotiate": 1, "check_dataset": 2}
