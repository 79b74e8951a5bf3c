"""Framed JSON-LD per kind (`/frame/<kind>.jsonld`, `/framed/<kind>.jsonld`), from a real
server process.

An independent check: jsonld.js (tests/tools, installed by tests/bootstrap.sh; without it the
check skips locally and fails in CI) frames the flat `/dump.jsonld` with each published frame,
and the service's framed document must be the same document (expanded, arrays as sets) and the
same RDF. Then, against a store loaded from the same files: every triple a framed document
holds is the store's, every treaty has its parties and life-cycle steps nested, and a reading
the graph holds uncertain is a nested statement, never a value. The server's public URL points
at a loopback listener: nothing is fetched, neither context nor frame.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, RDF, VOID

from tests.conftest import LEC_KG, ROOT, TOKEN, LiveServer, serving
from tests.support import TIMEOUT, LoopbackListener
from tests.test_exports import (
    DCAT,
    TOOL_TIMEOUT_S,
    TOOLS,
    Quad,
    isomorphic_quads,
    npm_tools,
    quads_of,
    union,
)

pytestmark = [pytest.mark.live]

BASE = "https://w3id.org/lec-kg/"
LEC = BASE + "ontology#"
INFERRED = BASE + "graph/inferred"
KINDS = ("instrument", "campaign", "event", "actor")
FRAMED = 'application/ld+json; profile="http://www.w3.org/ns/json-ld#framed"'
JSONLD = "application/ld+json"
UNCERTAIN = BASE + "id/code/certainty/uncertain"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def listener() -> Iterator[LoopbackListener]:
    """Where the server's public URL points: nothing may ever arrive here."""
    lo = LoopbackListener()
    yield lo
    assert lo.close() == [], "the server reached out to its public URL"


@pytest.fixture(scope="module")
def public(listener: LoopbackListener) -> str:
    return f"http://127.0.0.1:{listener.port}/lec-kg"


@pytest.fixture(scope="module")
def server(tmp_path_factory, public: str) -> Iterator[LiveServer]:
    log = tmp_path_factory.mktemp("framing") / "serve.log"
    env = {**os.environ, "LEC_KG_PUBLIC_URL": public, "LEC_KG_WRITE_TOKEN": TOKEN}
    with serving(["--memory"], env, log) as live:
        yield live


@pytest.fixture(scope="module")
def triples(engine) -> set[Quad]:
    """The asserted triples of a store loaded from the same files, every graph merged."""
    everything = quads_of(engine.dump_nquads(), "nquads")
    return union(q for q in everything if str(q[3]) != INFERRED)


@pytest.fixture(scope="module")
def framed(server) -> dict[str, bytes]:
    """Each kind's framed document, as served."""
    out = {}
    for kind in KINDS:
        r = get(server, f"/framed/{kind}.jsonld")
        assert r.status_code == 200, r.text[:500]
        out[kind] = r.content
    return out


def get(server: LiveServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url + path, headers=headers, timeout=TIMEOUT)


def canonical(value: Any) -> Any:
    """Expanded JSON-LD compared as JSON-LD means it: arrays as sets, blank node labels out."""
    if isinstance(value, list):
        items = (canonical(v) for v in value)
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {
            k: canonical(v)
            for k, v in value.items()
            if not (k == "@id" and isinstance(v, str) and v.startswith("_:"))
        }
    return value


def nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every node object of a compact document, nested ones included."""
    if isinstance(value, list):
        for v in value:
            yield from nodes(v)
    elif isinstance(value, dict) and "@value" not in value:
        if "id" in value:
            yield value
        for k, v in value.items():
            if k != "@context":
                yield from nodes(v)


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def ids(values: Any) -> set[str]:
    return {v if isinstance(v, str) else v["id"] for v in listed(values)}


# ---------------------------------------------------------------- the independent check


@pytest.mark.parametrize("kind", KINDS)
def test_jsonld_js_frames_the_dump_the_same(server, framed, tmp_path, kind: str) -> None:
    """jsonld.js, framing /dump.jsonld with the published frame, writes the document the
    service serves: the same top-level nodes, the same expanded JSON-LD, the same RDF."""
    node = npm_tools()
    files = {}
    for name, path in (("flat", "/dump.jsonld"), ("frame", f"/frame/{kind}.jsonld")):
        r = get(server, path)
        assert r.status_code == 200, path
        files[name] = tmp_path / f"{name}.jsonld"
        files[name].write_bytes(r.content)
    files["mine"] = tmp_path / "mine.jsonld"
    files["mine"].write_bytes(framed[kind])
    run = [node, str(TOOLS / "frame.mjs"), *(str(files[n]) for n in ("flat", "frame", "mine"))]
    done = subprocess.run(run, capture_output=True, timeout=TOOL_TIMEOUT_S, cwd=TOOLS)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[:2000]
    out = json.loads(done.stdout)
    mine = json.loads(framed[kind])
    theirs = out["theirs"]
    top = theirs.get("@graph", [theirs] if "id" in theirs else [])
    assert [n["id"] for n in top] == [n["id"] for n in mine["@graph"]]
    assert len(mine["@graph"]) >= 5
    expanded_theirs, expanded_mine = (canonical(e) for e in out["expanded"])
    assert expanded_mine == expanded_theirs
    rdf_theirs, rdf_mine = (quads_of(q.encode(), "nquads") for q in out["nquads"])
    assert rdf_mine and isomorphic_quads(rdf_mine, rdf_theirs)


# ---------------------------------------------------------------- what the documents hold


@pytest.mark.parametrize("kind", KINDS)
def test_every_framed_triple_is_the_stores(framed, triples, kind: str) -> None:
    """Nothing invented: each triple of a framed document is in the store (a blank node, an
    evidence passage, known by what it says and who cites it)."""
    doc = framed[kind]
    assert json.loads(doc)["@context"] == json.loads(framed["instrument"])["@context"]
    got = quads_of(doc, "json-ld")
    assert len(got) > 100

    def described(quads: set[Quad]) -> set[tuple]:
        about: dict[BNode, frozenset] = {}
        for s, p, o, _ in quads:
            if isinstance(s, BNode):
                about[s] = about.get(s, frozenset()) | {(p, o)}
        out = set()
        for s, p, o, _ in quads:
            if isinstance(s, BNode):
                out.add((about[s], p, o))
            elif isinstance(o, BNode):
                out.add((s, p, about.get(o, frozenset())))
            else:
                out.add((s, p, o))
        return out

    extra = described(got) - described(triples)
    assert not extra, sorted(map(str, extra))[:5]


def test_every_treaty_has_its_parties_and_steps_nested(framed, triples) -> None:
    """Each instrument is a top-level node with its parties (id, type, label), its life-cycle
    steps (stage, dates, evidence, step party nested) and its provisions; the store's and no
    other."""
    doc = json.loads(framed["instrument"])
    top = {n["id"]: n for n in doc["@graph"]}
    label = URIRef("http://www.w3.org/2000/01/rdf-schema#label")
    treaties = {
        str(s)
        for s, p, o, _ in triples
        if p == RDF.type and str(o).startswith(LEC) and str(o).endswith(("Treaty", "Convention"))
    }
    assert len(treaties) >= 25 and treaties <= set(top)
    links = {}
    for s, p, o, _ in triples:
        links.setdefault((str(p), str(o) if p != RDF.type else None), set()).add(str(s))
    for iri, node in top.items():
        parties = {str(o) for s, p, o, _ in triples if str(s) == iri and p == URIRef(LEC + "party")}
        assert ids(node.get("party")) == parties, iri
        for party in listed(node.get("party")):
            assert party["type"] and party["label"], party
            assert (URIRef(party["id"]), label, Literal(party["label"], lang="en")) in {
                (s, p, o) for s, p, o, _ in triples if p == label and str(s) == party["id"]
            }
        steps = links.get((LEC + "stepOf", iri), set())
        assert ids(node.get("steps")) == steps, iri
        for step in listed(node.get("steps")):
            assert step["type"] == "LifecycleStep" and step["stage"] and step["evidence"], step
            assert "earliestDate" in step or "latestDate" in step, step
            for party in listed(step.get("stepParty")):
                assert isinstance(party, dict) and party["label"], step["id"]
        provisions = links.get((LEC + "provisionOf", iri), set())
        assert ids(node.get("provisions")) == provisions, iri
        assert all(isinstance(e, dict) and e["quote"] for e in listed(node["evidence"])), iri
    fr = top[BASE + "id/instrument/extradition-treaty-cn-fr"]
    ratified = [s for s in fr["steps"] if s.get("stepParty")]
    assert ratified and ratified[0]["stepParty"]["id"] == BASE + "id/state/FR"
    assert ratified[0]["stage"] == BASE + "id/code/lifecycle-stage/ratified"


def test_an_uncertain_reading_is_a_statement_never_a_value(framed, triples) -> None:
    """Every uncertain statement of the graph: its triple is in no framed document, and where
    its subject is a top-level node, the statement is nested under it with its certainty."""
    uncertain = {
        str(s) for s, p, o, _ in triples if p == URIRef(LEC + "certainty") and str(o) == UNCERTAIN
    }
    assert len(uncertain) >= 10
    about = {
        (str(s), str(p)): o
        for s, p, o, _ in triples
        if str(s) in uncertain
        and p in (URIRef(LEC + f"statement{x}") for x in ("Subject", "Predicate", "Object"))
    }
    readings = {
        st: (
            about[(st, LEC + "statementSubject")],
            about[(st, LEC + "statementPredicate")],
            about[(st, LEC + "statementObject")],
        )
        for st in uncertain
    }
    found = 0
    for kind in KINDS:
        got = union(quads_of(framed[kind], "json-ld"))
        doc = json.loads(framed[kind])
        top = {n["id"]: n for n in doc["@graph"]}
        for st, (s, p, o) in readings.items():
            assert (s, p, o, None) not in got, (kind, st)
            if str(s) in top:
                nested = {n["id"]: n for n in listed(top[str(s)].get("statements"))}
                assert nested[st]["certainty"] == UNCERTAIN, st
                found += 1
    assert found >= 5
    events = {n["id"]: n for n in json.loads(framed["event"])["@graph"]}
    cyprus = events[BASE + "id/event/activity-cy-2015-04"]
    assert cyprus["type"] == "Event" and "fromState" not in cyprus
    kinds = {s["statementObject"]["id"] for s in cyprus["statements"] if s["statementObject"]}
    assert LEC + "Extradition" in kinds


# ---------------------------------------------------------------- routes


def test_frames_are_published_with_the_context(server) -> None:
    """Each frame: JSON-LD with the frame profile, the published context embedded whole, an
    ETag (304 when it matches), HEAD alike without a body."""
    context = get(server, "/context.jsonld").json()["@context"]
    assert context["steps"] == {"@reverse": "lec:stepOf", "@container": "@set"}
    for kind in KINDS:
        r = get(server, f"/frame/{kind}.jsonld")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(
            'application/ld+json; profile="http://www.w3.org/ns/json-ld#frame"'
        )
        frame = r.json()
        assert frame["@context"] == context and frame["type"] and frame["@embed"] == "@never"
        etag = r.headers["etag"]
        head = httpx.head(server.url + f"/frame/{kind}.jsonld", timeout=TIMEOUT)
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
        again = get(server, f"/frame/{kind}.jsonld", **{"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
    assert "Treaty" in get(server, "/frame/instrument.jsonld").json()["type"]
    assert "LifecycleStep" not in get(server, "/frame/event.jsonld").json()["type"]


def test_framed_documents_are_files_with_an_etag(server, framed) -> None:
    """An attachment with a stable name, the framed profile, an ETag per kind and data version
    (304 when it matches, on GET and HEAD); negotiated without the extension."""
    names = set()
    for kind in KINDS:
        r = get(server, f"/framed/{kind}.jsonld")
        assert r.headers["content-type"].startswith(FRAMED)
        assert r.headers["content-disposition"] == (
            f'attachment; filename="lec-kg-framed-{kind}-0.2.0.jsonld"'
        )
        assert r.content == framed[kind]
        etag = r.headers["etag"]
        names.add(etag)
        head = httpx.head(server.url + f"/framed/{kind}.jsonld", timeout=TIMEOUT)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == etag
        assert head.headers["content-disposition"] == r.headers["content-disposition"]
        for method in ("GET", "HEAD"):
            same = httpx.request(
                method,
                server.url + f"/framed/{kind}.jsonld",
                headers={"If-None-Match": f'W/"x", {etag}'},
                timeout=TIMEOUT,
            )
            assert same.status_code == 304 and same.content == b"", method
        other = get(server, f"/framed/{kind}.jsonld", **{"If-None-Match": '"other"'})
        assert other.status_code == 200
    assert len(names) == len(KINDS)
    r = get(server, "/framed/campaign", accept="application/ld+json")
    assert r.status_code == 200 and "Accept" in r.headers["vary"]
    assert r.content == framed["campaign"]
    assert get(server, "/framed/campaign", accept="application/json").status_code == 200


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/framed/treaty.jsonld", {}, 404),
        ("/frame/treaty.jsonld", {}, 404),
        ("/framed/INSTRUMENT.jsonld", {}, 404),
        ("/framed/__init__.jsonld", {}, 404),
        ("/framed/instrument.ttl", {}, 404),
        ("/framed/instrument.JSONLD", {}, 404),
        ("/framed/instrument.jsonld.ttl", {}, 404),
        ("/frame/instrument.nq", {}, 404),
        ("/framed/%00.jsonld", {}, 404),
        ("/framed/..%2Fdump.jsonld", {}, 404),
        ("/framed/instrument%00.jsonld", {}, 404),
        ("/framed/instrument", {"accept": "text/turtle"}, 406),
        ("/frame/instrument", {"accept": "application/n-quads"}, 406),
        ("/framed/instrument?format=turtle", {}, 406),
    ],
)
def test_unknown_kinds_and_formats_are_refused(server, path: str, headers, status: int) -> None:
    """An unknown kind or another extension is a 404, a format the client refuses a 406: with a
    message, never a document."""
    r = get(server, path, **headers)
    assert r.status_code == status, (path, r.text[:300])
    assert "@graph" not in r.text and r.headers["content-type"].startswith(
        ("application/problem+json", "application/json", "text/")
    )
    if status == 404 and "treaty" in path:
        assert "instrument" in r.text  # names the kinds there are
    head = httpx.head(server.url + path, headers=headers, timeout=TIMEOUT)
    assert head.status_code == status


def doc_context(server) -> dict:
    """The context /context.jsonld publishes."""
    return get(server, "/context.jsonld").json()["@context"]


def test_a_thing_framed_on_request(server, framed) -> None:
    """/id/... with JSON-LD 1.1's framed profile: the thing as its kind's frame has it (the node
    of /framed/<kind>.jsonld, context embedded), with its own ETag; a thing no frame takes, or
    JSON-LD without the profile, is the plain description."""
    want = 'application/ld+json;profile="http://www.w3.org/ns/json-ld#framed"'
    for kind, path in (
        ("instrument", "instrument/extradition-treaty-cn-fr"),
        ("event", "event/activity-cy-2015-04"),
        ("campaign", "campaign/fox-hunt"),
        ("actor", "state/FR"),
    ):
        r = get(server, f"/id/{path}", accept=want)
        assert r.status_code == 200 and r.headers["content-type"].startswith(FRAMED), path
        doc = r.json()
        whole = {n["id"]: n for n in json.loads(framed[kind])["@graph"]}
        assert doc.pop("@context") == json.loads(framed[kind])["@context"]
        assert doc == whole[BASE + "id/" + path], path
        plain = get(server, f"/id/{path}", accept="application/ld+json")
        assert plain.headers["content-type"].startswith("application/ld+json; charset")
        assert plain.headers["etag"] != r.headers["etag"]
        assert plain.json()["@context"] == doc_context(server)  # compacted, not framed
        assert not [n for n in plain.json()["@graph"] if "steps" in n]
        again = get(server, f"/id/{path}", accept=want, **{"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
    # another profile, or a statement (no kind's frame takes it): the plain description
    for accept, path in (
        ('application/ld+json;profile="http://www.w3.org/ns/json-ld#flattened"', "state/FR"),
        (want, "statement/event-activity-cy-2015-04--type--extradition"),
    ):
        r = get(server, f"/id/{path}", accept=accept)
        assert r.status_code == 200, accept
        assert r.headers["content-type"].startswith("application/ld+json; charset"), accept


def test_the_profile_an_accept_header_asks_for() -> None:
    """`negotiation.profiles`: quoted or not, several at once, only for that media type, not at
    q=0, and nothing from a header that names none."""
    from lec_kg.negotiation import profiles

    framed = "http://www.w3.org/ns/json-ld#framed"
    compacted = "http://www.w3.org/ns/json-ld#compacted"
    assert profiles(f'application/ld+json;profile="{framed}"', JSONLD) == {framed}
    assert profiles(f"Application/LD+JSON ; Profile={framed}", JSONLD) == {framed}
    assert profiles(f'application/ld+json;profile="{framed} {compacted}"', JSONLD) == {
        framed,
        compacted,
    }
    assert profiles(f'application/ld+json;profile="{framed}";q=0', JSONLD) == set()
    assert profiles(f'application/ld+json;profile="{framed}";q=x', JSONLD) == set()
    assert profiles(f'text/turtle;profile="{framed}", application/ld+json', JSONLD) == set()
    assert profiles(None, JSONLD) == profiles("", JSONLD) == set()


def test_void_lists_the_framed_documents(server, public: str) -> None:
    """Each framed document is a dcat:Distribution: its URL, JSON-LD, conforming to its frame;
    both URLs answer."""
    g = Graph().parse(data=get(server, "/.well-known/void").content, format="turtle")
    dataset = URIRef(f"{public}/.well-known/void#lec-kg")
    for kind in KINDS:
        url = URIRef(f"{public}/framed/{kind}.jsonld")
        (distribution,) = set(g.subjects(DCAT.downloadURL, url))
        assert (dataset, DCAT.distribution, distribution) in g
        assert g.value(distribution, DCAT.mediaType) == URIRef(
            "https://www.iana.org/assignments/media-types/application/ld+json"
        )
        frame = g.value(distribution, DCTERMS.conformsTo)
        assert frame == URIRef(f"{public}/frame/{kind}.jsonld")
        assert (None, VOID.dataDump, url) not in g  # a part of the data, not a dump of it
        for link in (url, frame):
            assert get(server, str(link)[len(public) :]).status_code == 200


def test_export_command_writes_what_the_route_serves(framed, tmp_path) -> None:
    """`lec-kg export --frame instrument` writes /framed/instrument.jsonld; a wrong kind or an
    other format is refused in one line."""
    target = tmp_path / "framed.jsonld"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        command = [str(LEC_KG), "--source-dir", str(ROOT), "export", *args]
        return subprocess.run(command, capture_output=True, timeout=TOOL_TIMEOUT_S, env=env)

    done = run("--frame", "instrument", "-o", str(target))
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(target.read_bytes()) == json.loads(framed["instrument"])
    bad = run("--frame", "treaty")
    assert bad.returncode == 2 and b"instrument, campaign, event, actor" in bad.stderr
    assert bad.stdout == b""
    other = run("--frame", "event", "--format", "nt")
    assert other.returncode == 2 and b"--frame" in other.stderr


def test_the_framed_routes_fetch_nothing(server, listener: LoopbackListener) -> None:
    """Framing uses the embedded context and the service's own frames: nothing is fetched."""
    for path in ("/frame/instrument.jsonld", "/framed/event.jsonld", "/framed/actor"):
        get(server, path, host=f"127.0.0.1:{listener.port}", accept="application/ld+json")
    assert listener.accepted == []


def test_every_frame_key_is_a_term_of_the_context(engine, settings) -> None:
    """The frames speak the published context: each key a term, keyword or compact IRI of it
    (an unknown one is refused when the frame is read), each class a term."""
    from lec_kg.jsonld import context_for
    from lec_kg.jsonld_framer import frame_nodes
    from lec_kg.jsonld_frames import KINDS as FRAMES
    from lec_kg.jsonld_frames import build_frame, frames_for

    assert tuple(FRAMES) == KINDS
    context = context_for(engine, settings)
    frames = frames_for(engine, settings.base_iri, context)
    for kind, frame in frames.items():
        assert all(t in context["@context"] for t in frame["type"]), kind
        assert frame["@context"] == context["@context"]
    with pytest.raises(ValueError, match="no term"):
        frame_nodes([], build_frame(context, ["Treaty"], {"noSuchTerm": {}}))


# ---------------------------------------------------------------- last: a write


def test_a_write_gives_new_framed_documents(server, framed) -> None:
    """After an accepted write the framed documents and a framed thing say what the store now
    says (the kept node map is per data version), under a new ETag. Last: it changes the data."""
    france = BASE + "id/state/FR"
    treaty = "/id/instrument/extradition-treaty-cn-fr"
    want = 'application/ld+json;profile="http://www.w3.org/ns/json-ld#framed"'
    before = get(server, "/framed/instrument.jsonld")
    thing = get(server, treaty, accept=want)
    assert {p["label"] for p in thing.json()["party"]} == {"China", "France"}
    update = (
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
        f"DELETE {{ GRAPH ?g {{ <{france}> rdfs:label ?l }} }} "
        f'INSERT {{ GRAPH ?g {{ <{france}> rdfs:label "French Republic"@en }} }} '
        f"WHERE {{ GRAPH ?g {{ <{france}> rdfs:label ?l FILTER(lang(?l) = 'en') }} }}"
    )
    r = httpx.post(
        server.sparql,
        data={"update": update},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=TIMEOUT,
    )
    assert r.status_code in (200, 204), r.text
    after = get(server, "/framed/instrument.jsonld", **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    top = {n["id"]: n for n in after.json()["@graph"]}
    parties = top[BASE + treaty.removeprefix("/")]["party"]
    assert {p["label"] for p in parties} == {"China", "French Republic"}
    again = get(server, treaty, accept=want, **{"If-None-Match": thing.headers["etag"]})
    assert again.status_code == 200 and again.headers["etag"] != thing.headers["etag"]
    assert {p["label"] for p in again.json()["party"]} == {"China", "French Republic"}
