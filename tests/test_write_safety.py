"""What no write may change, however it is spelt: the release's ontology and shapes graphs and the
engine's inferred graph (whole prefixes), the meaning of the ontology's terms (schema stated in
the facts), and the cost of inference; checked on updates, on the shipped files, on the journal
at start-up and on changes other processes journal. Reads go on while a write is processed, and
/ready says why when it cannot."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pyoxigraph import Literal, NamedNode, Quad
from rdflib import Graph

from lec_kg.app import create_app
from lec_kg.config import Settings
from lec_kg.engine import OxigraphEngine, build_engine
from lec_kg.engine_api import QueryRequest
from lec_kg.errors import ForbiddenOperation, NotReady, QueryTooComplex, ValidationFailed
from lec_kg.journal import Journal
from lec_kg.namespaces import CANONICAL_BASE
from lec_kg.protection import Protection
from lec_kg.sources import discover
from lec_kg.store import MemoryStore
from lec_kg.validation import ValidationReport, load_validator
from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parents[1]
BASE = CANONICAL_BASE
# Data about things outside the graph's namespaces, with a property that is not the ontology's:
# no shape judges it (lecsh:OwnNamespaceShape judges nodes described with the ontology's terms).
COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"
LEC = f"{BASE}ontology#"
FACTS = f"{BASE}graph/facts/safety-test"
PREFIXES = (
    f"PREFIX lec: <{LEC}>\n"
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    "PREFIX owl: <http://www.w3.org/2002/07/owl#>\n"
    "PREFIX skos: <http://www.w3.org/2004/02/skos/core#>\n"
    "PREFIX prov: <http://www.w3.org/ns/prov#>\n"
    "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
)
JSON = "application/sparql-results+json"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT_S = 120  # a guard against hanging, never a timed assertion
# Breaks the shapes: a place without evidence (FactNodeShape-evidence).
SHAPE_BREAKING = f'<{BASE}id/place/safety-evil> a lec:Place ; rdfs:label "evil"@en .'


def ask(engine: OxigraphEngine, text: str) -> bool:
    return json.loads(engine.query(QueryRequest(PREFIXES + text), JSON).body)["boolean"]


def insert(graph: str, triples: str = SHAPE_BREAKING) -> str:
    return PREFIXES + f"INSERT DATA {{ GRAPH <{graph}> {{ {triples} }} }}"


# ---------------------------------------------------------------- rule 1: protected graphs

CLOSED_GRAPH_UPDATES = {
    "a new graph under graph/ontology/": insert(f"{BASE}graph/ontology/evil"),
    "a new graph under graph/shapes/": insert(f"{BASE}graph/shapes/evil"),
    "a graph under the inferred prefix": insert(f"{BASE}graph/inferred/evil"),
    "a relative IRI against BASE": f"BASE <{BASE}graph/facts/>\n" + insert("../ontology/relative"),
    "a \\u escape": insert(f"{BASE}graph/\\u006Fntology/escaped"),
    "a percent escape of an unreserved character": insert(f"{BASE}graph/%6Fntology/percent"),
    "dot segments": insert(f"{BASE}graph/facts/../ontology/dots"),
    "scheme and host in capitals": insert("HTTPS://W3ID.ORG/lec-kg/graph/ontology/capitals"),
    "a graph computed in WHERE": PREFIXES
    + f'INSERT {{ GRAPH ?g {{ {SHAPE_BREAKING} }} }} WHERE {{ BIND(IRI(CONCAT("{BASE}graph/", '
    '"shapes/computed")) AS ?g) }',
    "a blank node as graph name": PREFIXES
    + f"INSERT {{ GRAPH ?g {{ {SHAPE_BREAKING} }} }} WHERE {{ BIND(BNODE() AS ?g) }}",
    "WITH the ontology graph": PREFIXES
    + f"WITH <{BASE}graph/ontology/lec> DELETE {{ ?s rdfs:label ?l }} WHERE {{ ?s rdfs:label ?l }}",
    "GRAPH ?g in DELETE WHERE": PREFIXES + "DELETE WHERE { GRAPH ?g { lec:Treaty rdfs:label ?l } }",
    "DROP ALL": "DROP ALL",
    "CLEAR NAMED": "CLEAR NAMED",
    "DROP GRAPH of the shapes": f"DROP GRAPH <{BASE}graph/shapes/core>",
    "MOVE into the ontology": f"MOVE <{BASE}graph/facts/actors> TO <{BASE}graph/ontology/lec>",
    "ADD into the shapes": f"ADD <{BASE}graph/facts/actors> TO <{BASE}graph/shapes/core>",
    "COPY into a new ontology graph": (
        f"COPY <{BASE}graph/facts/actors> TO <{BASE}graph/ontology/copied>"
    ),
    "MOVE out of the ontology": f"MOVE <{BASE}graph/ontology/lec> TO <{FACTS}>",
}


@pytest.mark.parametrize("update", CLOSED_GRAPH_UPDATES.values(), ids=CLOSED_GRAPH_UPDATES)
def test_no_spelling_of_a_protected_graph_can_be_written(write_engine, update: str) -> None:
    before = write_engine.dump_nquads()
    graphs = write_engine.graph_names()
    with pytest.raises(ForbiddenOperation, match="read-only|named by an IRI") as err:
        write_engine.update(update)
    assert "nothing was changed" in err.value.detail
    assert write_engine.dump_nquads() == before
    assert write_engine.graph_names() == graphs


def test_a_refused_graph_is_a_400_naming_it_over_http(write_client) -> None:
    before = write_client.get("/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"})
    reply = write_client.post(
        "/sparql", data={"update": insert(f"{BASE}graph/ontology/evil")}, headers=AUTH
    )
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["graphs"] == [f"{BASE}graph/ontology/evil"]
    assert "read-only" in body["detail"]
    after = write_client.get("/sparql", params={"query": "SELECT (COUNT(*) AS ?n) { ?s ?p ?o }"})
    assert after.json() == before.json()


# ---------------------------------------------------------------- rule 2: the ontology's meaning

CODE = f"{BASE}id/code/lifecycle-stage"
SCHEMA_IN_FACTS = {
    "a class made empty": (
        f"{LEC}ExtraditionTreaty",
        "lec:ExtraditionTreaty rdfs:subClassOf owl:Nothing",
    ),
    "two classes made one": (f"{LEC}Campaign", "lec:Campaign owl:equivalentClass lec:Treaty"),
    "a label on an ontology term": (f"{LEC}Treaty", 'lec:Treaty rdfs:label "anything"@en'),
    "a reused term the ontology declares": (
        "http://www.w3.org/ns/prov#Agent",
        'prov:Agent rdfs:label "x"',
    ),
    "the ontology header": (f"{BASE}ontology", f'<{BASE}ontology> dcterms:title "x"'),
    "a code of a shipped list": (f"{CODE}/signed", f'<{CODE}/signed> skos:prefLabel "x"@en'),
    "a new code in a shipped list": (CODE, f"<urn:lec-kg-test:code> skos:inScheme <{CODE}>"),
    "a property made transitive": (
        "TransitiveProperty",
        "<urn:lec-kg-test:p> a owl:TransitiveProperty",
    ),
    "a new class": ("owl#Class", "<urn:lec-kg-test:C> a owl:Class"),
    "an RDFS class": ("rdf-schema#Class", "<urn:lec-kg-test:C> a rdfs:Class"),
    "a sub-property": ("subPropertyOf", "<urn:lec-kg-test:p> rdfs:subPropertyOf lec:party"),
    "a domain": ("rdf-schema#domain", "<urn:lec-kg-test:p> rdfs:domain lec:Treaty"),
    "a range": ("rdf-schema#range", "<urn:lec-kg-test:p> rdfs:range lec:Treaty"),
    "an inverse": ("inverseOf", "<urn:lec-kg-test:p> owl:inverseOf lec:party"),
    "a subclass of ours": ("subClassOf", "<urn:lec-kg-test:C> rdfs:subClassOf lec:Treaty"),
    "a restriction on a blank node": (
        "http://www.w3.org/2002/07/owl#",
        "[] a owl:Restriction ; owl:onProperty lec:party ; owl:someValuesFrom lec:Campaign",
    ),
    "a class built by intersection": (
        "intersectionOf",
        "<urn:lec-kg-test:C> owl:intersectionOf ( lec:Treaty lec:Campaign )",
    ),
    "a class built by union": ("unionOf", "<urn:lec-kg-test:C> owl:unionOf ( lec:Treaty )"),
    "owl:sameAs on our term": ("sameAs", "<urn:lec-kg-test:x> owl:sameAs lec:Treaty"),
    "owl:imports": ("imports", "<urn:lec-kg-test:o> owl:imports <http://127.0.0.1:9/o>"),
    "an RDF 1.2 triple term": (
        "triple terms",
        "<urn:lec-kg-test:x> rdfs:seeAlso <<( lec:Treaty rdfs:subClassOf owl:Nothing )>>",
    ),
}


@pytest.mark.parametrize(("named", "triples"), SCHEMA_IN_FACTS.values(), ids=list(SCHEMA_IN_FACTS))
@pytest.mark.parametrize("graph", [FACTS, None], ids=["facts graph", "default graph"])
def test_no_write_outside_the_ontology_may_change_its_meaning(
    write_engine, named: str, triples: str, graph: str | None
) -> None:
    """Refused with 422 naming the offending triple (before the shapes run); nothing changes."""
    before = write_engine.dump_nquads()
    update = insert(graph, triples) if graph else PREFIXES + f"INSERT DATA {{ {triples} }}"
    with pytest.raises(ValidationFailed) as err:
        write_engine.update(update)
    assert named in err.value.detail
    assert err.value.extra["triple"] in err.value.detail
    assert "nothing was changed" in err.value.detail
    assert write_engine.dump_nquads() == before


def test_copying_the_ontology_into_a_facts_graph_is_refused(write_engine) -> None:
    before = write_engine.dump_nquads()
    with pytest.raises(ValidationFailed, match="term of the ontology"):
        write_engine.update(f"COPY <{BASE}graph/ontology/lec> TO <{FACTS}>")
    assert write_engine.dump_nquads() == before


def test_a_schema_write_is_a_422_naming_the_triple_over_http(write_client) -> None:
    update = insert(FACTS, "lec:ExtraditionTreaty rdfs:subClassOf owl:Nothing")
    reply = write_client.post("/sparql", data={"update": update}, headers=AUTH)
    assert reply.status_code == 422, reply.text
    body = reply.json()
    assert body["error"] == "validation failed"
    assert body["triple"] == (
        f"<{LEC}ExtraditionTreaty> <http://www.w3.org/2000/01/rdf-schema#subClassOf> "
        "<http://www.w3.org/2002/07/owl#Nothing>"
    )
    assert body["graph"] == f"graph <{FACTS}>"
    nothing = "ASK { ?x a <http://www.w3.org/2002/07/owl#Nothing> }"
    assert write_client.get("/sparql", params={"query": nothing}).json()["boolean"] is False


def test_the_transitive_chain_is_refused_before_any_inference(write_engine) -> None:
    """The 139 kB update that stalled the service for minutes: refused by rule 2."""
    chain = " ".join(
        f"<urn:lec-kg-test:n{i}> <urn:lec-kg-test:next> <urn:lec-kg-test:n{i + 1}> ."
        for i in range(1500)
    )
    update = insert(FACTS, f"<urn:lec-kg-test:next> a owl:TransitiveProperty . {chain}")
    before = write_engine.dump_nquads()
    with pytest.raises(ValidationFailed, match="TransitiveProperty"):
        write_engine.update(update)
    assert write_engine.dump_nquads() == before


def test_facts_about_things_are_still_accepted(write_engine) -> None:
    """The rule refuses schema, not data: types and links between things pass."""
    report = f"{BASE}id/document/merics-china-monitor-2017-01-18"
    place = f"{BASE}id/place/safety-test"
    outcome = write_engine.update(
        insert(
            FACTS,
            f"""<{place}> a lec:Place ; rdfs:label "safety test place"@en ;
                lec:wikidataItem <http://www.wikidata.org/entity/Q90> ;
                lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{report}> ;
                               lec:page 1 ; lec:quote "China" ] .""",
        )
    )
    assert outcome.added == 8
    assert ask(write_engine, f"ASK {{ <{place}> a prov:Location }}")  # inferred
    write_engine.update(f"DROP GRAPH <{FACTS}>")
    assert not ask(write_engine, f"ASK {{ <{place}> ?p ?o }}")


# ---------------------------------------------------------------- the shipped files and start-up


def test_the_shipped_files_keep_the_rules() -> None:
    store = MemoryStore()
    store.load_files(discover(ROOT, BASE), BASE, BASE)
    ontology = {
        q.subject.value
        for q in store.quads()
        if "/graph/ontology/" in q.graph_name.value and isinstance(q.subject, NamedNode)
    }
    assert f"{LEC}Treaty" in ontology
    assert Protection(BASE, ontology).store_problem(store.quads(), store.shipped) is None


@pytest.fixture
def source_copy(tmp_path: Path) -> Iterator[Path]:
    for folder in ("ontology", "graph", "shapes"):
        shutil.copytree(ROOT / folder, tmp_path / "source" / folder)
    yield tmp_path / "source"


@contextmanager
def built(settings: Settings) -> Iterator[OxigraphEngine]:
    """A real engine for these settings (one query worker), closed afterwards."""
    engine = build_engine(settings, load_validator(settings), query_workers=1)
    try:
        yield engine
    finally:
        engine.close()


def test_a_shipped_file_describing_the_ontology_is_not_served(source_copy: Path) -> None:
    (source_copy / "graph" / "zz-schema.ttl").write_text(
        f'<{LEC}Treaty> <http://www.w3.org/2000/01/rdf-schema#label> "redefined"@en .\n'
    )
    with built(Settings(source_dir=source_copy, data_dir=None)) as engine:
        assert not engine.is_ready()
        reason = engine.not_ready_reason or ""
        assert "graph/facts/zz-schema" in reason and f"{LEC}Treaty" in reason
        with pytest.raises(NotReady):
            engine.query(QueryRequest("ASK {}"), JSON)


JOURNALED = {
    "a graph under graph/ontology/": (
        "",
        f"<urn:a> <urn:b> <urn:c> <{BASE}graph/ontology/evil> .\n",
    ),
    "a change of the shipped ontology": (
        f'<{LEC}Treaty> <http://www.w3.org/2000/01/rdf-schema#label> "treaty"@en '
        f"<{BASE}graph/ontology/lec> .\n",
        "",
    ),
    "schema in a facts graph": (
        "",
        f"<{LEC}ExtraditionTreaty> <http://www.w3.org/2000/01/rdf-schema#subClassOf> "
        f"<http://www.w3.org/2002/07/owl#Nothing> <{FACTS}> .\n",
    ),
}


@pytest.mark.parametrize(("removed", "added"), JOURNALED.values(), ids=list(JOURNALED))
def test_a_journal_that_breaks_the_rules_is_not_served(
    tmp_path: Path, removed: str, added: str
) -> None:
    """A journal written by an older version, or by hand: start-up refuses to serve it."""
    journal = Journal(tmp_path / "data")
    journal.append({"at": "2026-12-01T00:00:00Z", "update": "", "removed": removed, "added": added})
    journal.close()
    settings = Settings(source_dir=ROOT, data_dir=tmp_path / "data")
    with built(settings) as engine:
        assert not engine.is_ready()
        reason = engine.not_ready_reason or ""
        assert "ontology" in reason.lower() or "schema" in reason, reason
        assert "not served" in reason


def test_changes_other_processes_journal_are_checked_too(tmp_path: Path) -> None:
    """A valid change journaled by another process is served with its inference; one that
    breaks the rules is not applied and the engine stops serving, saying why."""
    settings = Settings(source_dir=ROOT, data_dir=tmp_path / "data", write_token=TOKEN)
    with built(settings) as engine:
        assert engine.is_ready(), engine.not_ready_reason
        other = Journal(tmp_path / "data")  # another process's handle on the same journal
        place = f"{BASE}id/place/journaled"
        other.append(
            {
                "at": "2026-12-01T00:00:00Z",
                "update": "",
                "removed": "",
                "added": f"<{place}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
                f"<{LEC}Place> <{FACTS}> .\n",
            }
        )
        assert ask(
            engine, f"ASK {{ GRAPH <{BASE}graph/inferred> {{ <{place}> a prov:Location }} }}"
        )
        other.append(
            {
                "at": "2026-12-01T00:00:01Z",
                "update": "",
                "removed": "",
                "added": f"<urn:a> <urn:b> <urn:c> <{BASE}graph/shapes/evil> .\n",
            }
        )
        with pytest.raises(NotReady, match="another process"):
            engine.query(QueryRequest("ASK {}"), JSON)
        assert not engine.is_ready()
        assert b"graph/shapes/evil" not in engine.dump_nquads()
        other.close()


# ---------------------------------------------------------------- cost and concurrency


def test_writes_over_the_inference_budget_or_the_size_cap_are_refused(settings: Settings) -> None:
    """Each extradition treaty is also a treaty, an instrument, ...: three are over an inference
    budget of 5; five quads are over a cap of 4 quads per update. Refused, nothing changed."""
    small = replace(settings, inference_budget=5, max_update_quads=4)
    treaties = " ".join(f"<urn:lec-kg-test:t{i}> a lec:ExtraditionTreaty ." for i in range(3))
    notes = " ".join(f'<urn:lec-kg-test:n{i}> <{COMMENT}> "n" .' for i in range(5))
    with built(small) as engine:
        before = engine.dump_nquads()
        with pytest.raises(QueryTooComplex, match="inference_budget") as err:
            engine.update(insert(FACTS, treaties))
        assert err.value.extra["budget"] == 5
        with pytest.raises(QueryTooComplex, match="max_update_quads") as err:
            engine.update(insert(FACTS, notes))
        assert err.value.extra["limit"] == 4
        note_quads = [  # the same five as quads: a dry run (`check`, POST /validate) is capped too
            Quad(
                NamedNode(f"urn:lec-kg-test:n{i}"),
                NamedNode(COMMENT),
                Literal("n"),
                NamedNode(FACTS),
            )
            for i in range(5)
        ]
        with pytest.raises(QueryTooComplex, match="max_update_quads"):
            engine.check([], note_quads)
        assert engine.check([], note_quads[:4]).conforms is True
        assert engine.dump_nquads() == before
        assert not ask(engine, "ASK { ?s ?p ?o FILTER(STRSTARTS(STR(?s), 'urn:lec-kg-test:')) }")


class GatedValidator:
    """The real validator, made to wait inside a write once armed (to hold a write open)."""

    def __init__(self, settings: Settings) -> None:
        self.validator = load_validator(settings)
        self.armed = False
        self.entered = threading.Event()
        self.go = threading.Event()

    def validate(
        self, data: Graph, *, source_of: Mapping | None = None, submission: bool = False
    ) -> ValidationReport:
        if self.armed:
            self.entered.set()
            assert self.go.wait(WAIT_S)
        return self.validator.validate(data, source_of=source_of, submission=submission)


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list]:
    out: list = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:  # reported by the caller
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def answered(fn: Callable[[], object]) -> object:
    """fn's result, computed in another thread, or a failure if it does not come back."""
    thread, out = in_thread(fn)
    thread.join(WAIT_S)
    assert not thread.is_alive(), "no answer while the write was in progress"
    assert not isinstance(out[0], BaseException), out[0]
    return out[0]


def test_reads_are_answered_while_a_write_is_in_progress(settings: Settings) -> None:
    """A write held inside its inference, then inside its validation: queries and /ready answer
    meanwhile (on the data before the write), and the write lands afterwards."""
    gate = GatedValidator(settings)
    inference_entered, inference_go = threading.Event(), threading.Event()
    engine = build_engine(settings, gate, query_workers=2)
    try:
        assert engine.is_ready(), engine.not_ready_reason
        change = engine._materializer.change

        def held_change(*args: object, **kwargs: object) -> tuple[set, set]:
            inference_entered.set()
            assert inference_go.wait(WAIT_S)
            return change(*args, **kwargs)

        engine._materializer.change = held_change
        gate.armed = True
        marker = "ASK { <urn:lec-kg-test:during> ?p ?o }"
        writer, result = in_thread(
            lambda: engine.update(
                f'INSERT DATA {{ GRAPH <{FACTS}> {{ <urn:lec-kg-test:during> <{COMMENT}> "x" }} }}'
            )
        )
        with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
            for entered, go in ((inference_entered, inference_go), (gate.entered, gate.go)):
                assert entered.wait(WAIT_S), "the write reached the step"
                assert answered(lambda: ask(engine, marker)) is False
                assert answered(lambda: ask(engine, "ASK { ?x a lec:Treaty }")) is True
                assert answered(lambda: client.get("/ready").status_code) == 200
                go.set()
            writer.join(WAIT_S)
        assert not writer.is_alive() and not isinstance(result[0], BaseException), result
        assert ask(engine, marker) is True
    finally:
        inference_go.set()
        gate.go.set()
        engine.close()


def test_ready_names_the_real_reason_when_no_query_worker_runs(settings: Settings) -> None:
    """With its only worker gone and the replacement waiting, /ready says so (not the shapes)."""
    with (
        built(settings) as engine,
        TestClient(create_app(settings, engine), raise_server_exceptions=False) as client,
    ):
        with engine._state_lock:  # the replacement worker cannot take its snapshot yet
            engine._pool.crash_one_for_test()
            reply = answered(lambda: client.get("/ready"))
            assert reply.status_code == 503
            assert "no query worker is running" in reply.json()["reason"]
            assert "shapes" not in reply.json()["reason"]
        deadline = time.monotonic() + WAIT_S  # a guard against hanging
        while not engine.is_ready() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/ready").status_code == 200
