"""Operations: /health, /ready, /metrics, request ids, the access log, CORS, errors, /docs."""

from __future__ import annotations

import logging
import os
import re
import time

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from lec_kg.app import create_app
from lec_kg.engine_api import PreparedQuery, QueryRequest, QueryResult
from lec_kg.errors import QueryTimeout
from tests.http_support import PREFIXES, count, parse_results

SELECT = PREFIXES + "SELECT ?label WHERE { lec:Actor rdfs:label ?label }"


class NotReadyEngine:
    """An engine whose graph has not passed the shapes (and that does not say why)."""

    not_ready_reason = None
    startup_report = None

    def is_ready(self) -> bool:
        return False

    def close(self) -> None:
        pass


class CannedEngine:
    """An engine that answers every query with one canned result, or one canned error."""

    def __init__(self, result: QueryResult | None = None, error: Exception | None = None) -> None:
        self.result = result
        self.error = error

    def is_ready(self) -> bool:
        return True

    def prepare(self, request: QueryRequest) -> PreparedQuery:
        return PreparedQuery(request, "select", {"union": True}, True, True)

    def query_form(self, text: str) -> str:
        return "select"

    def query_inline(self, request, media_type) -> None:
        return None  # never known cheap: every query takes the worker path

    def result_cache_stats(self) -> None:
        return None  # keeps no results

    def query(self, request, media_type, client=None) -> QueryResult:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

    def graph_names(self) -> list[str]:
        return []


def samples(client) -> dict[tuple[str, tuple], float]:
    """The /metrics samples as {(name, sorted labels): value}."""
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(reply.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_health_answers_200(client) -> None:
    """/health is 200 while the process lives."""
    reply = client.get("/health")
    assert reply.status_code == 200
    assert reply.json()["status"] == "ok"
    assert client.head("/health").status_code == 200  # load balancers probe with HEAD


def test_ready_is_200_once_the_graph_is_loaded(client, engine) -> None:
    """/ready is 200 with the number of graphs and the answering process when ready."""
    reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json() == {
        "ready": True,
        "graphs": len(engine.graph_names()),
        "pid": os.getpid(),
        "isolation": engine.isolation_report(),
    }


def test_ready_is_503_and_queries_refused_until_the_graph_passes(settings) -> None:
    """An engine that has not passed the shapes: /ready 503 says why, queries get 503."""
    with TestClient(create_app(settings, NotReadyEngine()), raise_server_exceptions=False) as c:
        reply = c.get("/ready")
        assert reply.status_code == 503
        assert reply.json()["reason"] == "the graph has not passed the shapes"
        assert c.get("/health").status_code == 200
        query = c.get("/sparql", params={"query": SELECT})
        assert query.status_code == 503
        assert query.json()["error"] == "not ready"


def test_ready_is_503_while_loading(settings) -> None:
    """Without an engine (and before the lifespan built one) /ready says it is still loading."""
    reply = TestClient(create_app(settings)).get("/ready")  # no lifespan: nothing is loaded
    assert reply.status_code == 503
    assert reply.json()["reason"] == "the graph is still loading"


def test_metrics_count_requests_by_route_and_status(client, engine) -> None:
    """Request counts by route template and status, query durations, and the store size."""
    client.get("/sparql", params={"query": SELECT})
    client.get("/sparql", params={"query": "SELEC"})
    client.get("/no/such/page")
    m = samples(client)
    ok = (("method", "GET"), ("route", "/sparql"), ("status", "200"))
    bad = (("method", "GET"), ("route", "/sparql"), ("status", "400"))
    assert m[("lec_kg_http_requests_total", ok)] == 1
    assert m[("lec_kg_http_requests_total", bad)] == 1
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert m[("lec_kg_http_requests_total", unmatched)] == 1
    assert m[("lec_kg_query_duration_seconds_count", (("form", "select"),))] == 1
    assert m[("lec_kg_store_quads", ())] == count(client)
    assert m[("lec_kg_ready", ())] == 1


def test_metrics_registry_belongs_to_one_app(settings, engine) -> None:
    """Two apps do not share counters (the registry is per app)."""
    first = TestClient(create_app(settings, engine))
    first.get("/health")
    second = TestClient(create_app(settings, engine))
    key = (
        "lec_kg_http_requests_total",
        (("method", "GET"), ("route", "/health"), ("status", "200")),
    )
    assert samples(first)[key] == 1
    assert key not in samples(second)


def test_request_id_is_given_and_echoed(client) -> None:
    """Every reply carries X-Request-Id: a new one, or the caller's when it is a sane token."""
    fresh = client.get("/health").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert (
        client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    odd = client.get("/health", headers={"X-Request-Id": "a b\tc"}).headers["x-request-id"]
    assert odd != "a b\tc"


def test_access_log_has_request_id_status_and_times(client, caplog) -> None:
    """One access-log line per request with its id, status, duration and query time."""
    with caplog.at_level(logging.INFO, logger="lec_kg.access"):
        reply = client.get(
            "/sparql", params={"query": SELECT}, headers={"X-Request-Id": "log-test-1"}
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "lec_kg.access"]
    assert len(lines) == 1
    assert reply.status_code == 200
    assert re.search(
        r'request_id=log-test-1 method=GET path="/sparql" status=200 duration_ms=\d+\.\d '
        r"query_ms=\d+\.\d",
        lines[0],
    ), lines[0]


def test_cors_headers_on_reads(client) -> None:
    """Cross-origin reads are allowed: ACAO * on a GET and a POST query, and preflight passes."""
    get = client.get("/sparql", params={"query": SELECT}, headers={"Origin": "https://x.example"})
    assert get.headers["access-control-allow-origin"] == "*"
    assert "X-LEC-Truncated" in get.headers["access-control-expose-headers"]
    post = client.post("/sparql", data={"query": SELECT}, headers={"Origin": "https://x.example"})
    assert post.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in post.headers


def test_unexpected_failure_is_500_without_traceback(settings) -> None:
    """An engine failing unexpectedly gives a JSON 500 naming the request id, no internals."""
    app = create_app(settings, CannedEngine(error=RuntimeError("disk on fire at /secret/path")))
    with TestClient(app, raise_server_exceptions=False) as c:
        reply = c.get("/sparql", params={"query": SELECT}, headers={"X-Request-Id": "boom-1"})
    assert reply.status_code == 500
    assert reply.json() == {
        "error": "internal error",
        "detail": "the server failed; request id boom-1",
    }
    assert "Traceback" not in reply.text and "/secret/path" not in reply.text


@pytest.mark.parametrize(
    ("method", "path", "status"), [("GET", "/no/such/page", 404), ("PUT", "/sparql", 405)]
)
def test_routing_errors_are_json(client, method, path, status) -> None:
    """404 and 405 have the same JSON shape as the other errors."""
    reply = client.request(method, path)
    assert reply.status_code == status
    assert set(reply.json()) == {"error", "detail"}


def test_openapi_docs_describe_the_endpoint(client) -> None:
    """/docs is served and the OpenAPI text uses the handlers' docstrings."""
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    get = spec["paths"]["/sparql"]["get"]
    assert get["description"].startswith("Run a SPARQL query")
    names = {p["name"] for p in get["parameters"]}
    assert {"query", "default-graph-uri", "named-graph-uri", "format"} <= names
    post = spec["paths"]["/sparql"]["post"]
    assert {
        "application/sparql-query",
        "application/sparql-update",
        "application/x-www-form-urlencoded",
    } <= set(post["requestBody"]["content"])
    assert {"/health", "/ready", "/metrics"} <= set(spec["paths"])


def test_truncated_results_are_flagged_in_header_and_json(settings) -> None:
    """A result cut by the cap says so: X-LEC-Truncated: true, and "truncated" in the JSON."""
    body = b'{"head":{"vars":["x"]},"results":{"bindings":[{"x":{"type":"literal","value":"1"}}]}}'
    cut = QueryResult("select", body, "application/sparql-results+json", truncated=True, rows=1)
    with TestClient(create_app(settings, CannedEngine(cut))) as c:
        reply = c.get("/sparql", params={"query": SELECT})
    assert reply.status_code == 200
    assert reply.headers["x-lec-truncated"] == "true"
    assert reply.json()["truncated"] is True
    # the flag does not stop a strict parser from reading the results
    assert parse_results(reply.content, "application/sparql-results+json") == [{"x": "1"}]


def test_complete_results_say_so_too(client) -> None:
    """A complete result carries X-LEC-Truncated: false and no "truncated" member."""
    reply = client.get("/sparql", params={"query": SELECT})
    assert reply.headers["x-lec-truncated"] == "false"
    assert "truncated" not in reply.json()


def test_query_timeout_is_503_not_200(settings) -> None:
    """A query stopped at its deadline is a 503 with the engine's message."""
    engine = CannedEngine(error=QueryTimeout("the query ran longer than 30 s and was stopped"))
    with TestClient(create_app(settings, engine)) as c:
        reply = c.get("/sparql", params={"query": SELECT})
    assert reply.status_code == 503
    assert reply.json() == {
        "error": "query timeout",
        "detail": "the query ran longer than 30 s and was stopped",
    }


def test_app_without_engine_loads_it_in_the_background(settings) -> None:
    """create_app(settings) alone builds the engine at start-up; /ready turns 200 when done."""
    with TestClient(create_app(settings)) as c:
        assert c.get("/health").status_code == 200
        deadline = time.monotonic() + 300  # a guard against hanging, not a timed assertion
        while c.get("/ready").status_code != 200:
            assert time.monotonic() < deadline, c.get("/ready").json()
            time.sleep(0.1)
        assert c.get("/sparql", params={"query": SELECT}).status_code == 200


def test_docs_page_loads_nothing_from_other_hosts(client) -> None:
    """/docs works offline: every script and stylesheet it names is served by this process."""
    import re

    page = client.get("/docs").text
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page)
    assert assets, "the docs page names no assets"
    for url in assets:
        assert url.startswith("/"), f"/docs loads {url} from elsewhere"
        assert client.get(url).status_code == 200, url
