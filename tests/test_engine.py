"""The engine over the real shipped files and the real validator: graphs, inference, datasets,
formats, caps, exports, and updates that commit or roll back exactly."""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pyoxigraph import Literal, NamedNode, Quad, QueryResultsFormat, parse_query_results
from rdflib import Graph

from lec_kg.config import Settings
from lec_kg.engine import OxigraphEngine, build_engine
from lec_kg.engine_api import QueryRequest
from lec_kg.errors import (
    BadRequest,
    ForbiddenOperation,
    NotAcceptable,
    NotFound,
    NotReady,
    QuerySyntaxError,
    ValidationFailed,
)
from lec_kg.inference import RDF_TYPE, SUB_CLASS, SUB_PROPERTY, entailments
from lec_kg.sources import SourceError
from lec_kg.validation import load_validator

ROOT = Path(__file__).resolve().parents[1]
BASE = "https://w3id.org/lec-kg/"
INFERRED = f"{BASE}graph/inferred"
# A property no shape judges on nodes outside the graph's namespace (the ontology's would be).
COMMENT = "http://www.w3.org/2000/01/rdf-schema#comment"
LEC = "https://w3id.org/lec-kg/ontology#"
PREFIXES = (
    "PREFIX lec: <https://w3id.org/lec-kg/ontology#>\n"
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    "PREFIX sh: <http://www.w3.org/ns/shacl#>\n"
    "PREFIX lecsh: <https://w3id.org/lec-kg/shapes#>\n"
)
JSON = "application/sparql-results+json"


def rows(engine: OxigraphEngine, text: str, **dataset: tuple[str, ...]) -> list[dict[str, str]]:
    result = engine.query(QueryRequest(PREFIXES + text, **dataset), JSON)
    doc = json.loads(result.body)
    return [{k: v["value"] for k, v in b.items()} for b in doc["results"]["bindings"]]


def values(engine: OxigraphEngine, text: str, **dataset: tuple[str, ...]) -> set[str]:
    return {next(iter(r.values())) for r in rows(engine, text, **dataset) if r}


# ---------------------------------------------------------------- loading and inference


def test_every_shipped_file_is_a_named_graph_and_inferred_has_its_own(engine) -> None:
    names = engine.graph_names()
    assert f"{BASE}graph/ontology/lec" in names
    assert any(n.startswith(f"{BASE}graph/facts/") for n in names)
    assert any(n.startswith(f"{BASE}graph/shapes/") for n in names)
    assert INFERRED in names


def test_every_extradition_treaty_is_found_as_a_treaty_without_a_path(engine) -> None:
    extradition = values(engine, "SELECT ?x WHERE { GRAPH ?g { ?x a lec:ExtraditionTreaty } }")
    assert extradition, "the facts hold at least one lec:ExtraditionTreaty"
    treaties = values(engine, "SELECT ?x WHERE { ?x a lec:Treaty }")
    assert extradition <= treaties
    asserted_treaties = values(
        engine, f"SELECT ?x WHERE {{ GRAPH ?g {{ ?x a lec:Treaty }} FILTER(?g != <{INFERRED}>) }}"
    )
    assert extradition - asserted_treaties, "some treaty is a lec:Treaty by inference only"
    inferred = values(engine, f"SELECT ?x WHERE {{ GRAPH <{INFERRED}> {{ ?x a lec:Treaty }} }}")
    assert extradition - asserted_treaties <= inferred


def test_symmetric_alternative_to_holds_both_ways(engine) -> None:
    """lec:alternativeTo joins competing statements (never fact nodes), and holds both ways."""
    pairs = rows(engine, "SELECT ?a ?b WHERE { ?a lec:alternativeTo ?b }")
    assert pairs, "the facts hold competing readings"
    for pair in pairs:
        assert {"a": pair["b"], "b": pair["a"]} in pairs
    ends = {p["a"] for p in pairs} | {p["b"] for p in pairs}
    statements = values(engine, "SELECT ?s WHERE { ?s a lec:Statement }")
    assert ends <= statements


def test_inference_asserts_no_uncertain_reading(engine) -> None:
    """No graph, the inferred one included, holds the triple of an uncertain statement: the
    closure does not turn the Cyprus activity into an extradition, say."""
    uncertain = "https://w3id.org/lec-kg/id/code/certainty/uncertain"
    found = rows(
        engine,
        f"SELECT ?st ?g WHERE {{ ?st lec:certainty <{uncertain}> ; lec:statementSubject ?s ;"
        " lec:statementPredicate ?p ; lec:statementObject ?o . GRAPH ?g { ?s ?p ?o } }",
    )
    assert found == []
    assert values(engine, f"SELECT ?st WHERE {{ ?st lec:certainty <{uncertain}> }}")


def test_the_inferred_graph_repeats_nothing_asserted(engine) -> None:
    repeated = rows(
        engine,
        f"SELECT ?s WHERE {{ GRAPH <{INFERRED}> {{ ?s ?p ?o }} GRAPH ?g {{ ?s ?p ?o }} "
        f"FILTER(?g != <{INFERRED}>) }} LIMIT 1",
    )
    assert repeated == []


def n(local: str) -> NamedNode:
    return NamedNode(f"http://example.org/{local}")


def test_entailment_rules() -> None:
    domain = NamedNode("http://www.w3.org/2000/01/rdf-schema#domain")
    rng = NamedNode("http://www.w3.org/2000/01/rdf-schema#range")
    owl = "http://www.w3.org/2002/07/owl#"
    asserted = [
        (n("Extradition"), SUB_CLASS, n("Treaty")),
        (n("Treaty"), SUB_CLASS, n("Instrument")),
        (n("hasParty"), SUB_PROPERTY, n("involves")),
        (n("involves"), domain, n("Instrument")),
        (n("involves"), rng, n("Actor")),
        (n("label"), rng, n("Text")),
        (n("partyTo"), NamedNode(owl + "inverseOf"), n("hasParty")),
        (n("alt"), RDF_TYPE, NamedNode(owl + "SymmetricProperty")),
        (n("partOf"), RDF_TYPE, NamedNode(owl + "TransitiveProperty")),
        (n("t1"), RDF_TYPE, n("Extradition")),
        (n("fr"), n("partyTo"), n("t2")),
        (n("t1"), n("label"), Literal("a literal is never typed")),
        (n("r1"), n("alt"), n("r2")),
        (n("a"), n("partOf"), n("b")),
        (n("b"), n("partOf"), n("c")),
        (n("c"), n("partOf"), n("d")),
    ]
    out = entailments(asserted)
    expected = {
        (n("Extradition"), SUB_CLASS, n("Instrument")),
        (n("hasParty"), SUB_PROPERTY, n("involves")),  # asserted: must not be repeated
        (n("t1"), RDF_TYPE, n("Treaty")),
        (n("t1"), RDF_TYPE, n("Instrument")),
        (n("t2"), n("hasParty"), n("fr")),  # inverse
        (n("t2"), n("involves"), n("fr")),  # then the super-property
        (n("t2"), RDF_TYPE, n("Instrument")),  # its domain
        (n("fr"), RDF_TYPE, n("Actor")),  # its range
        (n("r2"), n("alt"), n("r1")),  # symmetric
        (n("a"), n("partOf"), n("c")),
        (n("a"), n("partOf"), n("d")),
        (n("b"), n("partOf"), n("d")),
    }
    assert expected - {(n("hasParty"), SUB_PROPERTY, n("involves"))} <= out
    assert not out & set(asserted)
    assert not any(isinstance(s, Literal) for s, _, _ in out)
    assert (n("t1"), RDF_TYPE, n("Text")) not in out


# ---------------------------------------------------------------- datasets


def test_default_graph_is_the_union_unless_a_dataset_is_given(engine) -> None:
    lec = f"{BASE}graph/ontology/lec"
    union = values(engine, "SELECT DISTINCT ?c WHERE { ?x a ?c }")
    only_ontology = values(engine, f"SELECT DISTINCT ?c FROM <{lec}> WHERE {{ ?x a ?c }}")
    assert f"{LEC}ExtraditionTreaty" in union
    assert f"{LEC}ExtraditionTreaty" not in only_ontology
    assert "http://www.w3.org/2002/07/owl#Class" in only_ontology
    facts = next(g for g in engine.graph_names() if g.startswith(f"{BASE}graph/facts/"))
    protocol = values(
        engine,
        f"SELECT DISTINCT ?c FROM <{lec}> WHERE {{ ?x a ?c }}",
        default_graph_uris=(facts,),
    )
    assert "http://www.w3.org/2002/07/owl#Class" not in protocol  # the protocol wins
    named = values(
        engine, "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } }", named_graph_uris=(lec,)
    )
    assert named == {lec}
    empty_default = rows(engine, f"SELECT ?s FROM NAMED <{lec}> WHERE {{ ?s ?p ?o }} LIMIT 1")
    assert empty_default == []


# ---------------------------------------------------------------- formats


SELECT = "SELECT ?x ?label WHERE { ?x a lec:ExtraditionTreaty ; rdfs:label ?label } LIMIT 5"


@pytest.mark.parametrize(
    ("media", "fmt"),
    [
        (JSON, QueryResultsFormat.JSON),
        ("application/sparql-results+xml", QueryResultsFormat.XML),
        ("text/csv", QueryResultsFormat.CSV),
        ("text/tab-separated-values", QueryResultsFormat.TSV),
    ],
)
def test_select_results_in_every_results_format_parse_back(engine, media, fmt) -> None:
    result = engine.query(QueryRequest(PREFIXES + SELECT), media)
    assert (result.form, result.media_type, result.truncated) == ("select", media, False)
    if media == "text/csv":  # lossy: pyoxigraph will not parse it back
        table = list(csv.reader(io.StringIO(result.body.decode())))
        assert table[0] == ["x", "label"]
        assert len(table) - 1 == result.rows > 0
    else:
        assert len(list(parse_query_results(result.body, fmt))) == result.rows > 0


@pytest.mark.parametrize(
    ("media", "rdflib_format"),
    [
        ("text/turtle", "turtle"),
        ("application/n-triples", "nt"),
        ("application/ld+json", "json-ld"),
        ("application/rdf+xml", "xml"),
    ],
)
def test_construct_in_every_graph_format_parses_back(engine, media, rdflib_format) -> None:
    text = PREFIXES + (
        "CONSTRUCT { ?x a lec:Treaty ; rdfs:label ?label } "
        "WHERE { ?x a lec:ExtraditionTreaty ; rdfs:label ?label }"
    )
    result = engine.query(QueryRequest(text), media)
    g = Graph().parse(data=result.body, format=rdflib_format)
    assert len(g) == result.rows > 0


def test_ask_and_describe(engine) -> None:
    ask = engine.query(QueryRequest(PREFIXES + "ASK { ?x a lec:Treaty }"), JSON)
    assert json.loads(ask.body)["boolean"] is True
    some = sorted(values(engine, "SELECT ?x WHERE { ?x a lec:ExtraditionTreaty }"))[0]
    described = engine.query(QueryRequest(f"DESCRIBE <{some}>"), "application/n-triples")
    assert some.encode() in described.body


def test_a_form_in_the_wrong_media_type_is_not_acceptable(engine) -> None:
    with pytest.raises(NotAcceptable) as err:
        engine.query(QueryRequest(PREFIXES + SELECT), "text/turtle")
    assert JSON in err.value.extra["available"]


def test_engine_syntax_errors_carry_line_and_column(engine) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        engine.query(QueryRequest("SELECT *\nWHERE { ?s ?p }"), JSON)
    assert err.value.line == 2 and err.value.column is not None


def test_result_cap_is_flagged_never_silent(engine) -> None:
    capped = build_engine(replace(engine.settings, max_result_rows=3), query_workers=1)
    try:
        result = capped.query(QueryRequest("SELECT ?s WHERE { ?s ?p ?o }"), JSON)
        assert result.truncated and result.rows == 3
        assert len(json.loads(result.body)["results"]["bindings"]) == 3
        built = capped.query(QueryRequest("CONSTRUCT WHERE { ?s ?p ?o }"), "text/turtle")
        assert built.truncated and len(Graph().parse(data=built.body, format="turtle")) == 3
        small = capped.query(QueryRequest("SELECT ?x WHERE { VALUES ?x { 1 2 3 } }"), JSON)
        assert not small.truncated and small.rows == 3
    finally:
        capped.close()


# ---------------------------------------------------------------- export


def test_export_leaves_the_inferred_graph_out(engine) -> None:
    nquads = engine.export("application/n-quads").decode()
    assert f"<{BASE}graph/facts/" in nquads
    assert INFERRED not in nquads
    trig = engine.export("application/trig")
    assert INFERRED.encode() not in trig
    everything = Graph().parse(data=engine.export("text/turtle"), format="turtle")
    asserted = values(
        engine,
        f"SELECT (COUNT(*) AS ?n) WHERE {{ GRAPH ?g {{ ?s ?p ?o }} FILTER(?g != <{INFERRED}>) }}",
    )
    assert 0 < len(everything) <= int(next(iter(asserted)))
    one = f"{BASE}graph/ontology/lec"
    ontology = Graph().parse(data=engine.export("application/ld+json", one), format="json-ld")
    assert 0 < len(ontology) < len(everything)
    with pytest.raises(BadRequest, match="entailments"):
        engine.export("text/turtle", INFERRED)
    with pytest.raises(NotFound, match="no graph"):
        engine.export("text/turtle", f"{BASE}graph/facts/no-such-file")
    with pytest.raises(NotAcceptable):
        engine.export("text/html")


# ---------------------------------------------------------------- updates


TEST_GRAPH = f"{BASE}graph/facts/engine-test"


def violating_class(engine) -> str:
    """A class whose instances must have some property (a Violation-level sh:minCount)."""
    found = rows(
        engine,
        "SELECT ?c WHERE { GRAPH ?g { ?shape sh:targetClass ?c ; sh:property ?ps . "
        "?ps sh:minCount ?m FILTER(?m >= 1) OPTIONAL { ?ps sh:severity ?sev } "
        "FILTER(!BOUND(?sev) || ?sev = sh:Violation) "
        "FILTER NOT EXISTS { ?shape lecsh:submissionOnly true } "
        "FILTER NOT EXISTS { ?ps lecsh:submissionOnly true } "
        "FILTER NOT EXISTS { ?shape sh:deactivated true } } } ORDER BY ?c LIMIT 1",
    )
    assert found, "the shapes hold at least one required property"
    return found[0]["c"]


def test_an_accepted_update_is_visible_and_counted(write_engine) -> None:
    outcome = write_engine.update(
        f"INSERT DATA {{ GRAPH <{TEST_GRAPH}> "
        f'{{ <urn:lec-kg-test:a> <{COMMENT}> "one" , "two" }} }}'
    )
    assert (outcome.added, outcome.removed) == (2, 0)
    assert values(write_engine, "SELECT ?o WHERE { <urn:lec-kg-test:a> ?p ?o }") == {"one", "two"}
    outcome = write_engine.update(
        f'DELETE DATA {{ GRAPH <{TEST_GRAPH}> {{ <urn:lec-kg-test:a> <{COMMENT}> "two" }} }}'
    )
    assert (outcome.added, outcome.removed) == (0, 1)
    assert values(write_engine, "SELECT ?o WHERE { <urn:lec-kg-test:a> ?p ?o }") == {"one"}


def test_inference_follows_each_accepted_update(write_engine) -> None:
    """A place written is a prov:Location by inference (lec:Place rdfs:subClassOf
    prov:Location); once its graph is dropped, so is the entailment. (The schema itself is
    the ontology's: an update may not add an axiom, see test_write_safety.)"""
    graph = f"{BASE}graph/facts/engine-test-inference"
    place = "https://w3id.org/lec-kg/id/place/engine-test"
    located = f"ASK {{ GRAPH <{INFERRED}> {{ <{place}> a <http://www.w3.org/ns/prov#Location> }} }}"
    report = "https://w3id.org/lec-kg/id/document/merics-china-monitor-2017-01-18"
    write_engine.update(
        PREFIXES
        + "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
        + f"""INSERT DATA {{ GRAPH <{graph}> {{
            <{place}> a lec:Place ; rdfs:label "engine test place"@en ;
                lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{report}> ;
                               lec:page 1 ; lec:quote "China" ] . }} }}"""
    )
    assert json.loads(write_engine.query(QueryRequest(located), JSON).body)["boolean"] is True
    write_engine.update(f"DROP GRAPH <{graph}>")
    assert json.loads(write_engine.query(QueryRequest(located), JSON).body)["boolean"] is False


def test_a_rejected_update_leaves_the_store_byte_for_byte_as_it_was(write_engine) -> None:
    cls = violating_class(write_engine)
    before = write_engine.dump_nquads()
    with pytest.raises(ValidationFailed) as err:
        write_engine.update(
            f"INSERT DATA {{ GRAPH <{TEST_GRAPH}> {{ <urn:lec-kg-test:bad> a <{cls}> }} }}"
        )
    assert write_engine.dump_nquads() == before
    report = err.value.extra["report"]
    assert report["conforms"] is False
    assert any(f["focus"] == "urn:lec-kg-test:bad" for f in report["findings"])
    assert rows(write_engine, "SELECT ?c WHERE { <urn:lec-kg-test:bad> a ?c }") == []


def test_a_change_given_as_quads_goes_through_the_same_gate(write_engine) -> None:
    """`change` (submissions, the Graph Store Protocol) commits quads with the update's checks:
    an accepted change is served with its inference, a repeated one adds nothing, an invalid one
    and one into the inferred graph leave the store byte for byte as it was."""
    graph = NamedNode(TEST_GRAPH + "-change")
    subject = NamedNode("urn:lec-kg-test:change")
    good = [
        Quad(
            subject,
            NamedNode(COMMENT),
            Literal("given as quads"),
            graph,
        )
    ]
    outcome = write_engine.change([], good, note="test", what="the test change")
    assert (outcome.added, outcome.removed) == (1, 0)
    assert values(write_engine, "SELECT ?o WHERE { <urn:lec-kg-test:change> ?p ?o }") == {
        "given as quads"
    }
    assert write_engine.change([], good, note="again", what="the test change").added == 0
    before = write_engine.dump_nquads()
    cls = NamedNode(violating_class(write_engine))
    bad = [Quad(NamedNode("urn:lec-kg-test:change-bad"), RDF_TYPE, cls, graph)]
    assert write_engine.check([], good).conforms is True
    dry = write_engine.check([], bad)  # the dry run: the same report, nothing written
    assert dry.conforms is False
    assert any(str(f.focus) == "urn:lec-kg-test:change-bad" for f in dry.findings)
    assert write_engine.dump_nquads() == before
    with pytest.raises(ValidationFailed, match="the test change"):
        write_engine.change([], bad, note="bad", what="the test change")
    inferred = [
        Quad(
            subject,
            NamedNode(COMMENT),
            Literal("x"),
            NamedNode(INFERRED),
        )
    ]
    with pytest.raises(ForbiddenOperation):
        write_engine.change([], inferred, note="inferred", what="the test change")
    assert write_engine.dump_nquads() == before
    outcome = write_engine.change(good, [], note="withdraw", what="the test change")
    assert (outcome.added, outcome.removed) == (0, 1)


def test_concurrent_writers_are_serialised_and_both_land(write_engine) -> None:
    outcomes: list = []

    def write(i: int) -> None:
        outcomes.append(
            write_engine.update(
                f"INSERT DATA {{ GRAPH <{TEST_GRAPH}> "
                f'{{ <urn:lec-kg-test:w{i}> <{COMMENT}> "writer {i}" }} }}'
            )
        )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [(o.added, o.removed) for o in outcomes] == [(1, 0)] * 3
    found = values(
        write_engine,
        f'SELECT ?o WHERE {{ ?s <{COMMENT}> ?o FILTER(STRSTARTS(?o, "writer")) }}',
    )
    assert found == {"writer 0", "writer 1", "writer 2"}


def test_updates_may_not_touch_the_inferred_graph(write_engine) -> None:
    before = write_engine.dump_nquads()
    with pytest.raises(ForbiddenOperation, match="may not name it"):
        write_engine.update(f"INSERT DATA {{ GRAPH <{INFERRED}> {{ <urn:a> <urn:b> <urn:c> }} }}")
    with pytest.raises(ForbiddenOperation, match="only the engine"):
        write_engine.update(
            "INSERT { GRAPH ?g { <urn:a> <urn:b> <urn:c> } } "
            f'WHERE {{ BIND(IRI(CONCAT("{BASE}graph/", "inferred")) AS ?g) }}'
        )
    with pytest.raises(ForbiddenOperation, match="not a graph of this store"):
        write_engine.update("DELETE { ?s ?p ?o } USING <http://127.0.0.1:9/g> WHERE { ?s ?p ?o }")
    assert write_engine.dump_nquads() == before


def test_update_errors_are_bad_requests(write_engine) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        write_engine.update("INSERT DATA { <urn:a> <urn:b> }")
    assert err.value.line == 1
    with pytest.raises(BadRequest, match="does not exist"):
        write_engine.update("DROP GRAPH <urn:lec-kg-test:none>")


# ---------------------------------------------------------------- refusing to serve


@pytest.fixture
def source_copy(tmp_path: Path) -> Iterator[Path]:
    for folder in ("ontology", "graph", "shapes"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    yield tmp_path


def test_an_invalid_shipped_graph_is_never_served(engine, source_copy: Path) -> None:
    cls = violating_class(engine)
    (source_copy / "graph" / "zz-broken.ttl").write_text(f"<urn:lec-kg-test:broken> a <{cls}> .\n")
    settings = Settings(source_dir=source_copy, data_dir=None)
    broken = build_engine(settings, load_validator(settings), query_workers=1)
    try:
        assert not broken.is_ready()
        assert "shape constraint" in (broken.not_ready_reason or "")
        assert "urn:lec-kg-test:broken" in (broken.not_ready_reason or "")
        with pytest.raises(NotReady):
            broken.query(QueryRequest("ASK {}"), JSON)
        with pytest.raises(NotReady):
            broken.update("INSERT DATA { <urn:a> <urn:b> <urn:c> }")
    finally:
        broken.close()


def test_a_shipped_file_that_does_not_parse_is_named(source_copy: Path) -> None:
    (source_copy / "graph" / "zz-bad.ttl").write_text("<urn:a> <urn:b> .\n")
    settings = Settings(source_dir=source_copy, data_dir=None)
    with pytest.raises(SourceError, match="zz-bad.ttl"):
        build_engine(settings, load_validator(settings), query_workers=1)


# ---------------------------------------------------------------- a deployment's own base IRI


def test_a_deployment_base_serves_rebased_iris_and_still_validates(tmp_path) -> None:
    """Under another base the graph passes the shapes, inference works, and a bad update fails."""
    other = "http://lec-kg.example/"
    settings = Settings(source_dir=ROOT, data_dir=None, base_iri=other, write_token="t")
    engine = build_engine(settings, load_validator(settings), query_workers=1)
    try:
        assert engine.is_ready(), engine.not_ready_reason
        treaty = f"<{other}ontology#Treaty>"
        found = values(engine, f"SELECT ?x WHERE {{ ?x a {treaty} }}")
        assert found and all(x.startswith(other + "id/") for x in found)
        assert not values(engine, "SELECT ?x WHERE { ?x a lec:Treaty }")  # no canonical IRIs left
        place = f"<{other}id/place/unproven>"
        with pytest.raises(ValidationFailed):
            engine.update(
                PREFIXES + f"INSERT DATA {{ GRAPH <{other}graph/facts/test> {{ {place} a "
                f'<{other}ontology#Place> ; rdfs:label "X"@en }} }}'
            )
        assert not values(engine, f"SELECT ?p WHERE {{ {place} ?p ?o }}")
    finally:
        engine.close()
