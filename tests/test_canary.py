"""No outbound request, no file read on a request's behalf: a loopback canary server counts every
request it gets, and SERVICE, LOAD and foreign FROM / USING / dataset parameters must leave it
untouched (pyoxigraph itself *would* fetch LOAD and SERVICE: it ships an HTTP client)."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lec_kg.engine_api import QueryRequest
from lec_kg.errors import ForbiddenOperation

JSON = "application/sparql-results+json"


class Canary(ThreadingHTTPServer):
    """Answers every request with an empty Turtle document and remembers its path."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/turtle")
        self.end_headers()
        self.wfile.write(b"<urn:canary> <urn:was> <urn:fetched> .\n")

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def canary() -> Iterator[Canary]:
    server = Canary()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The canary is alive and counts: one request of our own, then the count starts at zero.
    urllib.request.urlopen(f"{server.base}/alive", timeout=10).read()
    assert server.requests == ["GET /alive"]
    server.requests.clear()
    yield server
    server.shutdown()
    server.server_close()


def test_no_query_or_update_reaches_the_canary(write_engine, canary: Canary) -> None:
    c = canary.base
    queries = [
        QueryRequest(f"SELECT * WHERE {{ SERVICE <{c}/> {{ ?s ?p ?o }} }}"),
        QueryRequest(f"SELECT * WHERE {{ SERVICE SILENT <{c}/sparql> {{ ?s ?p ?o }} }}"),
        QueryRequest(f"SELECT * FROM <{c}/g> WHERE {{ ?s ?p ?o }}"),
        QueryRequest(f"SELECT * FROM NAMED <{c}/g> WHERE {{ GRAPH ?g {{ ?s ?p ?o }} }}"),
        QueryRequest("SELECT * FROM <file:///etc/passwd> WHERE { ?s ?p ?o }"),
        QueryRequest(f"PREFIX c: <{c}/>\nASK FROM c:g {{ ?s ?p ?o }}"),
        QueryRequest("SELECT * WHERE { ?s ?p ?o }", default_graph_uris=(f"{c}/g",)),
        QueryRequest("SELECT * WHERE { ?s ?p ?o }", named_graph_uris=("file:///etc/passwd",)),
    ]
    for request in queries:
        with pytest.raises(ForbiddenOperation):
            write_engine.query(request, JSON)
    updates = [
        f"LOAD <{c}/x.ttl>",
        f"LOAD SILENT <{c}/x.ttl> INTO GRAPH <urn:lec-kg-test:loaded>",
        "LOAD <file:///etc/passwd>",
        f"INSERT {{ ?s ?p ?o }} WHERE {{ SERVICE <{c}/> {{ ?s ?p ?o }} }}",
        f"DELETE {{ ?s ?p ?o }} USING <{c}/g> WHERE {{ ?s ?p ?o }}",
        "DELETE { ?s ?p ?o } USING NAMED <file:///etc/passwd> WHERE { ?s ?p ?o }",
    ]
    for text in updates:
        with pytest.raises(ForbiddenOperation):
            write_engine.update(text)
    assert canary.requests == []


def test_the_refusal_says_why(write_engine, canary: Canary) -> None:
    with pytest.raises(ForbiddenOperation) as err:
        write_engine.query(QueryRequest("SELECT * FROM <file:///etc/passwd> { ?s ?p ?o }"), JSON)
    assert "never reads files" in err.value.detail
    assert err.value.status == 400
    with pytest.raises(ForbiddenOperation) as err:
        write_engine.update(f"LOAD <{canary.base}/x.ttl>")
    assert "LOAD is not allowed" in err.value.detail
    assert canary.requests == []
