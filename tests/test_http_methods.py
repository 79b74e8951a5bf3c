"""HEAD on every GET route of the app, and 405s that name every method a path answers, against
a real `lec-kg serve` (the routes enumerated from `app.routes`, so a route added later is
covered without being listed here)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import httpx
import pytest

from lec_kg.app import create_app
from lec_kg.config import Settings
from lec_kg.head import flat_routes
from tests.conftest import ROOT, TOKEN, LiveServer, serving
from tests.support import TIMEOUT

# A value for each path parameter of the app's routes; an unknown one gets "x" (a 404 on GET
# must be a 404 on HEAD too).
SAMPLES = {
    "rest": "state/CN",
    "name": "actors.jsonld",
    "ext": "nq",
    "path": "facts/actors",
    "version": "x",
}
UNSTABLE = {"date", "x-request-id", "content-length", "transfer-encoding"}
PLACE = """@prefix lec: <https://w3id.org/lec-kg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
<https://w3id.org/lec-kg/id/place/methods-test> a lec:Place ; rdfs:label "Methods test"@en ;
  lec:evidence [ a lec:SourcePassage ;
    dcterms:isPartOf <https://w3id.org/lec-kg/id/document/merics-china-monitor-2017-01-18> ;
    lec:page 1 ; lec:quote "China" ] .
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("methods")
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    with serving(["--memory"], env, folder / "serve.log") as live:
        yield live


def get_paths(sid: str) -> list[str]:
    """One concrete path for every GET route of the app."""
    app = create_app(Settings(source_dir=ROOT, data_dir=None))
    paths = []
    samples = {**SAMPLES, "sid": sid}
    for route in flat_routes(app.routes):
        if "GET" not in (getattr(route, "methods", None) or ()):
            continue
        paths.append(
            re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: samples.get(m.group(1), "x"), route.path)
        )
    return paths


def test_every_get_route_answers_head_alike(server: LiveServer) -> None:
    posted = httpx.post(
        server.url + "/facts",
        content=PLACE,
        headers={"Content-Type": "text/turtle", "Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert posted.status_code == 201, posted.text
    paths = get_paths(posted.json()["id"])
    for expected in ("/", "/browse", "/.well-known/void", "/context.jsonld", "/dump", "/docs"):
        assert expected in paths
    assert "/dump.nq" in paths and "/dump/facts/actors" in paths and "/sparql" in paths
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        for path in paths:
            got = client.get(path)
            head = client.head(path)
            assert head.status_code == got.status_code != 405, (path, head.status_code)
            assert head.content == b"", path
            names = {k for k in got.headers if k not in UNSTABLE}
            assert names == {k for k in head.headers if k not in UNSTABLE}, path
            for name in ("content-type", "vary", "etag", "content-location", "allow"):
                assert got.headers.get(name) == head.headers.get(name), (path, name)


def test_405_allow_names_every_method_of_the_path(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        reply = client.request("PATCH", "/graph-store", params={"graph": "http://x/g"})
        assert reply.status_code == 405
        allow = {m.strip() for m in reply.headers["allow"].split(",")}
        assert allow == {"GET", "HEAD", "PUT", "POST", "DELETE"}
        reply = client.put("/submissions")
        assert reply.status_code == 405
        assert {m.strip() for m in reply.headers["allow"].split(",")} == {"GET", "HEAD"}
        reply = client.request("PATCH", "/sparql")
        assert reply.status_code == 405
        assert {m.strip() for m in reply.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
