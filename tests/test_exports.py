"""Dumps, the JSON-LD context and the VoID description, from a real server process.

Round trip: every dump (six formats; the whole dataset and one named graph) is parsed back by
rdflib and by independent parsers (Raptor's `rapper` from Debian; jsonld.js and N3.js from npm,
in tests/tools), and must be isomorphic to the data of a store loaded from the same files.
tests/bootstrap.sh installs the tools; without them these tests skip locally and fail in CI
(`CI` set). The server's public URL points at a loopback listener that must receive nothing:
the server never fetches a context or anything else, not even its own URLs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import quote

import httpx
import pyoxigraph
import pytest
from rdflib import BNode, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, OWL, RDF, VOID

from lec_kg.jsonld_frames import KINDS as FRAMED_KINDS
from tests.conftest import LEC_KG, ROOT, LiveServer, serving
from tests.support import TIMEOUT, LoopbackListener

DCAT = Namespace("http://www.w3.org/ns/dcat#")  # plain namespaces: rdflib's warn on every probe
XSD = Namespace("http://www.w3.org/2001/XMLSchema#")

pytestmark = [pytest.mark.live]

BASE = "https://w3id.org/lec-kg/"
INFERRED = BASE + "graph/inferred"
ONE = "facts/instruments"  # the named graph the per-graph tests dump (it has blank nodes)
SD_NAME = URIRef("http://www.w3.org/ns/sparql-service-description#name")
TOOLS = ROOT / "tests" / "tools"
# extension -> (media type, rdflib format, rapper syntax or None, N3.js reads it, keeps graphs)
FORMATS = {
    "trig": ("application/trig", "trig", "trig", True, True),
    "nq": ("application/n-quads", "nquads", "nquads", True, True),
    "jsonld": ("application/ld+json", "json-ld", None, False, True),
    "ttl": ("text/turtle", "turtle", "turtle", True, False),
    "nt": ("application/n-triples", "nt", "ntriples", True, False),
    "rdf": ("application/rdf+xml", "xml", "rdfxml", False, False),
}
TOOL_TIMEOUT_S = 300  # a guard against a hung tool, not a timed assertion
Quad = tuple  # (subject, predicate, object, graph name or None), rdflib terms


def tool(name: str) -> str:
    """The path of a tool the bootstrap installs: a skip here, a failure in CI."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is missing: run tests/bootstrap.sh (it installs it)")
    return path


def missing(why: str) -> NoReturn:
    """A tool the bootstrap installs is absent: skipped locally, a failure in CI."""
    if os.environ.get("CI"):
        pytest.fail(why)
    pytest.skip(why)


def npm_tools() -> str:
    """node, with jsonld.js and N3.js installed in tests/tools (by the bootstrap)."""
    node = tool("node")
    if (
        not (TOOLS / "node_modules" / "jsonld").is_dir()
        or not (TOOLS / "node_modules" / "n3").is_dir()
    ):
        missing("jsonld.js / N3.js are missing in tests/tools: run tests/bootstrap.sh")
    return node


# ---------------------------------------------------------------- comparing datasets


def _norm(term):
    """RDF 1.1 terms as equal as RDF says: "x" is "x"^^xsd:string, language tags any case."""
    if isinstance(term, Literal):
        if term.language:
            return Literal(str(term), lang=term.language.lower())
        if term.datatype in (None, XSD.string):
            return Literal(str(term))
    return term


def quads_of(data: bytes, fmt: str) -> set[Quad]:
    """The quads of a document parsed by rdflib; graph None for the default graph."""
    if fmt in ("trig", "nquads", "json-ld"):
        ds = Dataset()
        ds.parse(data=data, format=fmt)
        out = set()
        for s, p, o, g in ds.quads((None, None, None, None)):
            name = getattr(g, "identifier", g)
            graph = None if name is None or str(name).startswith("urn:x-rdflib:") else name
            out.add((_norm(s), p, _norm(o), graph))
        return out
    return {(_norm(s), p, _norm(o), None) for s, p, o in Graph().parse(data=data, format=fmt)}


def _text(term, colour: dict) -> str:
    if term is None:
        return ""
    if isinstance(term, BNode):
        return "_:" + colour[term]
    return term.n3()


def _refine(quads: set[Quad], colour: dict) -> dict:
    """One round of colour refinement: a blank node's colour and its edges' colours."""
    seen: dict = {b: [] for b in colour}
    for s, p, o, g in quads:
        if s in seen:
            seen[s].append(("out", p.n3(), _text(o, colour), _text(g, colour)))
        if o in seen:
            seen[o].append(("in", p.n3(), _text(s, colour), _text(g, colour)))
    return {
        b: hashlib.sha1((colour[b] + repr(sorted(edges))).encode()).hexdigest()
        for b, edges in seen.items()
    }


def isomorphic_quads(a: set[Quad], b: set[Quad]) -> bool:
    """True when the two sets of quads are the same up to blank node labels.

    Blank nodes are coloured by their edges, round after round on both sides alike, until the
    partition stops growing; when every blank node has a colour of its own on both sides, the
    colours are a bijection and the sets are isomorphic exactly when they agree once relabelled.
    Otherwise rdflib's isomorphism decides (exact, but slow on many blank nodes).
    """
    if len(a) != len(b):
        return False
    ca = {t: "" for q in a for t in q if isinstance(t, BNode)}
    cb = {t: "" for q in b for t in q if isinstance(t, BNode)}
    if len(ca) != len(cb):
        return False
    while True:
        na, nb = _refine(a, ca), _refine(b, cb)
        grew = len(set(na.values())) > len(set(ca.values())) or len(set(nb.values())) > len(
            set(cb.values())
        )
        ca, cb = na, nb
        if not grew:
            break
    if len(set(ca.values())) == len(ca) and len(set(cb.values())) == len(cb):
        relabel = lambda q, c: tuple(_text(t, c) for t in q)  # noqa: E731
        return {relabel(q, ca) for q in a} == {relabel(q, cb) for q in b}
    return isomorphic(_flat(a), _flat(b))


def _flat(quads: Iterable[Quad]) -> Graph:
    """One graph for a set of quads: the graph name folded into the predicate."""
    g = Graph()
    for s, p, o, name in quads:
        tag = hashlib.sha1(str(name).encode()).hexdigest()[:16]
        g.add((s, URIRef(f"urn:x-quad:{tag}:{p}"), o))
    return g


def union(quads: Iterable[Quad]) -> set[Quad]:
    """The merge of the graphs: their triples, graph names dropped."""
    return {(s, p, o, None) for s, p, o, _ in quads}


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
    log = tmp_path_factory.mktemp("exports") / "serve.log"
    env = {**os.environ, "LEC_KG_PUBLIC_URL": public}
    with serving(["--memory"], env, log) as live:
        yield live


@pytest.fixture(scope="module")
def stored(engine) -> set[Quad]:
    """Every asserted quad of a store loaded from the same files (the inferred graph apart)."""
    everything = quads_of(engine.dump_nquads(), "nquads")
    return {q for q in everything if str(q[3]) != INFERRED}


@pytest.fixture(scope="module")
def inferred(engine) -> set[Quad]:
    """The quads of the inferred graph."""
    everything = quads_of(engine.dump_nquads(), "nquads")
    return {q for q in everything if str(q[3]) == INFERRED}


def get(server: LiveServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url + path, headers=headers, timeout=TIMEOUT)


def expected(stored: set[Quad], graph: str | None, ext: str) -> set[Quad]:
    """What a dump of `graph` (None: the whole dataset) holds: quads in TriG, N-Quads and
    JSON-LD, the union of the graphs in a triple format; one graph keeps its name in TriG and
    N-Quads, and is plain triples in JSON-LD (the document's own graph) and the triple formats."""
    keeps_graphs = FORMATS[ext][4] and (graph is None or ext != "jsonld")
    chosen = (
        stored if graph is None else {q for q in stored if str(q[3]) == BASE + "graph/" + graph}
    )
    return chosen if keeps_graphs else union(chosen)


def independent(ext: str, body: bytes, tmp_path: Path) -> list[tuple[str, set[Quad]]]:
    """The dump as read by each independent parser that reads its format."""
    _, _, syntax, n3_reads, _ = FORMATS[ext]
    path = tmp_path / f"dump.{ext}"
    path.write_bytes(body)
    out = []
    if syntax is not None:
        rapper = tool("rapper")
        run = [rapper, "-q", "-i", syntax, "-o", "nquads", str(path), "http://example.invalid/"]
        done = subprocess.run(run, capture_output=True, timeout=TOOL_TIMEOUT_S)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[:2000]
        out.append(("rapper", quads_of(done.stdout, "nquads")))
    if ext == "jsonld" or n3_reads:
        node = npm_tools()
        parser = "jsonld" if ext == "jsonld" else "n3"
        run = [node, str(TOOLS / "to-nquads.mjs"), parser, str(path)]
        done = subprocess.run(run, capture_output=True, timeout=TOOL_TIMEOUT_S, cwd=TOOLS)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[:2000]
        out.append((f"{parser}.js", quads_of(done.stdout, "nquads")))
    return out


# ---------------------------------------------------------------- dumps


@pytest.mark.parametrize("graph", [None, ONE], ids=["dataset", "graph"])
@pytest.mark.parametrize("ext", list(FORMATS))
def test_dump_round_trips(server, stored, tmp_path, ext: str, graph: str | None) -> None:
    """Each dump: its media type, an attachment with a stable name, and the very data of the
    store when rdflib and the independent parsers read it back."""
    media, rdflib_format, _, _, _ = FORMATS[ext]
    path = f"/dump.{ext}" if graph is None else f"/dump/{graph}.{ext}"
    r = get(server, path)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"] == f"{media}; charset=utf-8"
    slug = "" if graph is None else graph.replace("/", "-") + "-"
    assert r.headers["content-disposition"] == f'attachment; filename="lec-kg-{slug}0.2.0.{ext}"'
    want = expected(stored, graph, ext)
    assert len(want) > 500
    assert isomorphic_quads(quads_of(r.content, rdflib_format), want), f"rdflib: {path}"
    readers = independent(ext, r.content, tmp_path)
    assert readers
    for name, got in readers:
        assert isomorphic_quads(got, want), f"{name}: {path}"


def test_dumps_are_streamed_and_negotiated(server) -> None:
    """A dump is sent in chunks (no Content-Length); /dump negotiates, TriG by default."""
    r = get(server, "/dump.nq")
    assert "content-length" not in r.headers and r.headers.get("transfer-encoding") == "chunked"
    r = get(server, "/dump")
    assert r.headers["content-type"].startswith("application/trig")
    assert "Accept" in r.headers["vary"]
    r = get(server, "/dump", accept="application/n-quads;q=0.5, text/turtle")
    assert r.headers["content-type"].startswith("text/turtle")
    r = get(server, f"/dump?graph={quote(BASE + 'graph/' + ONE)}&format=nt")
    assert r.status_code == 200
    assert r.headers["content-disposition"].endswith('lec-kg-facts-instruments-0.2.0.nt"')
    r = get(server, f"/dump/{ONE}", accept="application/ld+json")
    assert r.headers["content-type"].startswith("application/ld+json")


def test_the_inferred_graph_only_on_request(server, engine) -> None:
    """The whole dataset leaves the entailments out; /dump/inferred.<ext> gives them. (Many of
    their blank nodes look alike within that graph alone, so they are compared by label: the
    store's labels are stable and N-Quads keeps them.)"""
    assert f"<{INFERRED}>".encode() not in get(server, "/dump.nq").content
    r = get(server, "/dump/inferred.nq")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="lec-kg-inferred-0.2.0.nq"'
    served = set(pyoxigraph.parse(r.content, format=pyoxigraph.RdfFormat.N_QUADS))
    store = pyoxigraph.parse(engine.dump_nquads(), format=pyoxigraph.RdfFormat.N_QUADS)
    want = {q for q in store if getattr(q.graph_name, "value", None) == INFERRED}
    assert len(want) > 1000 and served == want


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/dump/facts/no-such-graph.ttl", 404),
        ("/dump.csv", 404),
        ("/dump?format=csv", 406),
        ("/dump?format=bogus", 400),
        ("/dump?format=html", 406),
        ("/dump/..%2F..%2Fetc%2Fpasswd.ttl", 404),
        ("/dump/" + "a/" * 600 + "b.ttl", 404),
        ("/dump?graph=http%3A%2F%2Fexample.org%2Fnone", 404),
        ("/dump/facts/actors.ttl%00.nq", 404),
    ],
)
def test_bad_dump_requests_are_refused(server, path: str, status: int) -> None:
    """Unknown graphs and formats, path tricks: a clear error in JSON, never a file or a 500."""
    r = get(server, path)
    assert r.status_code == status, r.text[:300]
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["detail"]


def test_dump_refuses_html(server) -> None:
    """A browser's Accept gets a dump (*/*); asking for HTML only is a 406."""
    assert get(server, "/dump.ttl", accept="text/html").status_code == 200  # a file: no choice
    assert get(server, "/dump", accept="text/html").status_code == 406


# ---------------------------------------------------------------- JSON-LD


def test_jsonld_uses_the_served_context(server, stored) -> None:
    """The dumps embed the context /context.jsonld serves; keys read like plain JSON, and the
    document expands (jsonld.js) to the store's data, checked in test_dump_round_trips."""
    r = get(server, "/context.jsonld")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/ld+json")
    context = r.json()["@context"]
    assert context["id"] == "@id" and context["type"] == "@type"
    assert context["label"] == "rdfs:label"
    assert context["@language"] == "en"
    assert all(
        not isinstance(v, str) or not v.startswith(("http://127", "file:"))
        for v in context.values()
    )
    doc = get(server, f"/dump/{ONE}.jsonld").json()
    assert doc["@context"] == context
    nodes = doc["@graph"]
    typed = [n for n in nodes if isinstance(n.get("type"), str) and ":" not in n["type"]]
    assert typed, "classes are written as plain terms"
    labelled = [n for n in nodes if isinstance(n.get("label"), str)]
    assert labelled, "English labels are plain strings"
    coerced = [k for k, v in context.items() if isinstance(v, dict) and v.get("@type") == "@id"]
    used = [n[k] for n in nodes for k in coerced if isinstance(n.get(k), str)]
    assert used and all(u.startswith(("https://", "http://", "_:")) for u in used)
    whole = get(server, "/dump.jsonld").json()
    assert whole["@context"] == context
    graphs = {g["id"] for g in whole["@graph"] if "@graph" in g}
    assert graphs == {str(q[3]) for q in stored}


# ---------------------------------------------------------------- VoID and DCAT


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        ("text/turtle", "turtle"),
        ("application/ld+json", "json-ld"),
        ("application/n-triples", "nt"),
        ("application/rdf+xml", "xml"),
        (None, "turtle"),
    ],
)
def test_void_negotiates(server, accept: str | None, fmt: str) -> None:
    """Turtle by default; JSON-LD, N-Triples and RDF/XML on request; all say the same."""
    headers = {"accept": accept} if accept else {}
    r = get(server, "/.well-known/void", **headers)
    assert r.status_code == 200
    assert r.headers["content-type"].split(";")[0] == (accept or "text/turtle")
    g = Graph().parse(data=r.content, format=fmt)
    reference = Graph().parse(data=get(server, "/.well-known/void").content, format="turtle")
    assert isomorphic(g, reference)


def test_void_describes_every_graph_and_dump(server, stored, inferred, public: str) -> None:
    """Licence, version, endpoint, source, sizes per graph, and every dump with the media type
    it is served with."""
    g = Graph().parse(data=get(server, "/.well-known/void").content, format="turtle")
    dataset = URIRef(f"{public}/.well-known/void#lec-kg")
    assert (dataset, RDF.type, VOID.Dataset) in g and (dataset, RDF.type, DCAT.Dataset) in g
    assert g.value(dataset, DCTERMS.license) == URIRef(
        "https://creativecommons.org/licenses/by/4.0/"
    )
    assert str(g.value(dataset, OWL.versionInfo)) == "0.2.0"
    assert g.value(dataset, VOID.sparqlEndpoint) == URIRef(f"{public}/sparql")
    assert g.value(dataset, DCTERMS.source) == URIRef(
        BASE + "id/document/merics-china-monitor-2017-01-18"
    )
    assert int(g.value(dataset, VOID.triples)) == len(stored)
    assert len(list(g.objects(dataset, VOID.exampleResource))) >= 3
    subsets = {g.value(s, SD_NAME): s for s in g.objects(dataset, VOID.subset)}
    names = {q[3] for q in stored}
    assert set(subsets) == names
    for name, subset in subsets.items():
        triples = [q for q in stored if q[3] == name]
        assert int(g.value(subset, VOID.triples)) == len(triples), name
        subjects = {q[0] for q in triples}
        assert int(g.value(subset, VOID.distinctSubjects)) == len(subjects), name
    entailments = URIRef(f"{public}/.well-known/void#inferred")
    assert int(g.value(entailments, VOID.triples)) == len(inferred)

    dumps = set(g.objects(None, VOID.dataDump))
    assert len(dumps) == len(FORMATS) * (len(names) + 2)
    media = {
        g.value(d, DCAT.downloadURL): str(g.value(d, DCAT.mediaType))
        for d in g.subjects(RDF.type, DCAT.Distribution)
    }
    framed = {URIRef(f"{public}/framed/{k}.jsonld") for k in FRAMED_KINDS}  # test_framing
    assert set(media) == dumps | framed
    for url in sorted(dumps):
        assert str(url).startswith(public + "/dump")
        with httpx.stream("GET", server.url + str(url)[len(public) :], timeout=TIMEOUT) as r:
            assert r.status_code == 200, url
            served = r.headers["content-type"].split(";")[0]
            assert media[url] == "https://www.iana.org/assignments/media-types/" + served
            assert r.headers["content-disposition"].startswith("attachment; filename=")


# ---------------------------------------------------------------- the command line


def test_export_command_matches_the_route(server, tmp_path) -> None:
    """`lec-kg export --graph ... --format jsonld` writes what /dump/<graph>.jsonld serves."""
    target = tmp_path / "one.jsonld"
    done = subprocess.run(
        [
            str(LEC_KG),
            "--source-dir",
            str(ROOT),
            "export",
            "--graph",
            ONE,
            "--format",
            "jsonld",
            "-o",
            str(target),
        ],
        capture_output=True,
        timeout=TOOL_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr.decode()
    served = get(server, f"/dump/{ONE}.jsonld").content
    assert json.loads(target.read_bytes()) == json.loads(served)
    done = subprocess.run(
        [str(LEC_KG), "--source-dir", str(ROOT), "export", "--graph", "facts/none"],
        capture_output=True,
        timeout=TOOL_TIMEOUT_S,
    )
    assert done.returncode == 1 and b"no graph" in done.stderr


# ---------------------------------------------------------------- nothing fetched


def test_the_server_fetches_nothing(server, listener: LoopbackListener) -> None:
    """Requests that name the listener (as context, graph, host) make the server fetch nothing."""
    elsewhere = f"http://127.0.0.1:{listener.port}/context.jsonld"
    for path in (
        f"/dump.jsonld?context={quote(elsewhere)}",
        f"/dump?graph={quote(elsewhere)}&format=jsonld",
        f"/dump/{ONE}.jsonld",
        "/context.jsonld",
        "/.well-known/void?format=jsonld",
    ):
        get(server, path, host=f"127.0.0.1:{listener.port}", accept="application/ld+json")
    assert listener.accepted == []


# ---------------------------------------------------------------- awkward values


def test_compact_jsonld_writes_what_a_term_cannot_carry_in_full(tmp_path) -> None:
    """Values that do not fit their term's coercion (another datatype, another language, a
    literal where things are expected, a blank node type) are written in full and read back."""
    from pyoxigraph import BlankNode, NamedNode, serialize
    from pyoxigraph import Literal as OxLiteral
    from pyoxigraph import Quad as OxQuad

    from lec_kg.jsonld import build_context, compact_chunks

    lec = BASE + "ontology#"
    xsd = str(XSD)
    context = build_context(
        {"lec": lec, "xsd": xsd, "rdfs": "http://www.w3.org/2000/01/rdf-schema#"},
        [
            (lec + "party", "@id"),
            (lec + "date", xsd + "date"),
            (lec + "quote", xsd + "string"),
            ("http://www.w3.org/2000/01/rdf-schema#label", None),
        ],
        [lec + "Treaty"],
        lec,
    )
    assert context["@context"]["party"] == {"@id": "lec:party", "@type": "@id"}
    assert context["@context"]["quote"] == {"@id": "lec:quote", "@language": None}
    s, g = NamedNode(BASE + "id/instrument/x"), NamedNode(BASE + "graph/facts/x")
    other, b = NamedNode("http://other.example/p#date"), BlankNode("b1")
    label = NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
    rows = [
        (NamedNode(str(RDF.type)), NamedNode(lec + "Treaty")),
        (NamedNode(str(RDF.type)), b),
        (NamedNode(lec + "party"), NamedNode(BASE + "id/state/FR")),
        (NamedNode(lec + "party"), OxLiteral("not a thing")),
        (NamedNode(lec + "date"), OxLiteral("2015-04-01", datatype=NamedNode(xsd + "date"))),
        (NamedNode(lec + "date"), OxLiteral("2015", datatype=NamedNode(xsd + "gYear"))),
        (NamedNode(lec + "quote"), OxLiteral("plain")),
        (NamedNode(lec + "quote"), OxLiteral("anglais", language="en")),
        (label, OxLiteral("Traité", language="fr")),
        (label, OxLiteral("Treaty", language="en")),
        (label, OxLiteral('with "quotes", \\ and\nlines')),
        (other, OxLiteral("x")),
        (NamedNode(lec + "party"), b),
    ]
    quads = [OxQuad(s, p, o, g) for p, o in rows] + [OxQuad(b, label, OxLiteral("b"), g)]
    body = b"".join(compact_chunks(quads, context, dataset=True))
    doc = json.loads(body)
    node = doc["@graph"][0]["@graph"][-1]
    assert node["type"] == "Treaty" or "Treaty" in node["type"]
    want = quads_of(serialize(quads, format=pyoxigraph.RdfFormat.N_QUADS), "nquads")
    assert isomorphic_quads(quads_of(body, "json-ld"), want)
    if shutil.which("node") and (TOOLS / "node_modules" / "jsonld").is_dir():
        path = tmp_path / "awkward.jsonld"
        path.write_bytes(body)
        run = [str(shutil.which("node")), str(TOOLS / "to-nquads.mjs"), "jsonld", str(path)]
        done = subprocess.run(run, capture_output=True, timeout=TOOL_TIMEOUT_S, cwd=TOOLS)
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        assert isomorphic_quads(quads_of(done.stdout, "nquads"), want)
