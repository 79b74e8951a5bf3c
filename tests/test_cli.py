"""The `serve`, `query`, `export` and `add` commands, run as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from rdflib import BNode, Dataset, Graph, URIRef
from rdflib.namespace import RDFS

from lec_kg.cli import main
from tests.conftest import LEC_KG, ROOT, TOKEN, serving
from tests.http_support import LEC, RDFLIB_FORMAT, parse_results
from tests.support import TIMEOUT

SELECT = (
    "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    f"SELECT ?label WHERE {{ <{LEC}Actor> rdfs:label ?label }}"
)
CONSTRUCT = f"CONSTRUCT {{ <{LEC}Actor> ?p ?o }} WHERE {{ <{LEC}Actor> ?p ?o }}"
REPORT = "https://w3id.org/lec-kg/id/document/merics-china-monitor-2017-01-18"
PLACE = "https://w3id.org/lec-kg/id/place/cli-test-{}"
PLACE_TTL = """@prefix lec: <https://w3id.org/lec-kg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix dcterms: <http://purl.org/dc/terms/> .
<{place}> a lec:Place ;
    rdfs:label "CLI test place"@en {evidence} .
"""
EVIDENCE = f"""; lec:evidence [ a lec:SourcePassage ; dcterms:isPartOf <{REPORT}> ;
        lec:page 1 ; lec:quote "China" ]"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user data folder (XDG_DATA_HOME), so no test touches the real one."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LEC_KG_WRITE_TOKEN", raising=False)
    return tmp_path


def run_cli(capsysbinary, *argv: str) -> tuple[int, bytes, str]:
    """Run `lec-kg argv...` in this process; exit code, stdout bytes, stderr text."""
    code = main(["--source-dir", str(ROOT), *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err.decode("utf-8")


def test_query_prints_a_table(home, capsysbinary) -> None:
    """The default format is an aligned table with a row count."""
    code, out, err = run_cli(capsysbinary, "query", SELECT)
    assert code == 0, err
    lines = out.decode("utf-8").splitlines()
    assert lines[0].strip() == "label"
    assert lines[2].strip() == "actor@en"
    assert lines[-1] == "(1 row)"


def test_query_table_shortens_known_namespaces(home, capsysbinary) -> None:
    """IRIs in a known namespace show as prefixed names, others in full between <>."""
    query = f"SELECT ?a ?b WHERE {{ VALUES (?a ?b) {{ (<{LEC}Actor> <http://example.org/x>) }} }}"
    code, out, err = run_cli(capsysbinary, "query", query)
    assert code == 0, err
    assert out.decode("utf-8").splitlines()[2].split(" | ") == [
        "lec:Actor",
        "<http://example.org/x>",
    ]


@pytest.mark.parametrize(
    ("fmt", "mtype"),
    [
        ("json", "application/sparql-results+json"),
        ("csv", "text/csv"),
        ("tsv", "text/tab-separated-values"),
    ],
)
def test_query_result_formats(home, capsysbinary, fmt, mtype) -> None:
    """--format json, csv and tsv print SPARQL results that parse back."""
    code, out, err = run_cli(capsysbinary, "query", SELECT, "--format", fmt)
    assert code == 0, err
    assert parse_results(out, mtype) == [{"label": "actor"}]


@pytest.mark.parametrize(
    ("fmt", "mtype"), [("turtle", "text/turtle"), ("nt", "application/n-triples")]
)
def test_query_construct_formats(home, capsysbinary, fmt, mtype) -> None:
    """A CONSTRUCT prints RDF that parses back."""
    code, out, err = run_cli(capsysbinary, "query", CONSTRUCT, "--format", fmt)
    assert code == 0, err
    graph = Graph().parse(data=out, format=RDFLIB_FORMAT[mtype])
    assert (URIRef(LEC + "Actor"), RDFS.label, None) in graph


def test_query_from_a_file(home, capsysbinary, tmp_path) -> None:
    """@file.rq reads the query from a file."""
    rq = tmp_path / "actor.rq"
    rq.write_text(SELECT, encoding="utf-8")
    code, out, err = run_cli(capsysbinary, "query", f"@{rq}", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["results"]["bindings"][0]["label"]["value"] == "actor"


def test_query_errors_say_what_and_where(home, capsysbinary, tmp_path) -> None:
    """A malformed query, a format that does not fit, a missing file: non-zero with a message."""
    code, out, err = run_cli(capsysbinary, "query", "SELECT ?s\nWHERE { ?s ?p }")
    assert code == 1 and out == b""
    assert "malformed query" in err and "line 2" in err
    code, _, err = run_cli(capsysbinary, "query", SELECT, "--format", "turtle")
    assert code == 1 and "not acceptable" in err and "csv" in err
    code, _, err = run_cli(capsysbinary, "query", f"@{tmp_path / 'missing.rq'}")
    assert code == 2 and "cannot read" in err


def test_source_dir_goes_before_or_after_the_command(home, capsysbinary, tmp_path) -> None:
    """`--source-dir` is honoured in either place; given after the command it wins."""
    nowhere = str(tmp_path / "nowhere")
    assert main(["--source-dir", nowhere, "query", "--source-dir", str(ROOT), SELECT]) == 0
    capsysbinary.readouterr()
    for argv in (
        ["--source-dir", nowhere, "query", SELECT],
        ["query", "--source-dir", nowhere, SELECT],
    ):
        assert main(argv) == 2
        out, err = capsysbinary.readouterr()
        assert out == b"" and f"{nowhere} does not exist" in err.decode("utf-8")


def _source_triples() -> Graph:
    """Every triple of the shipped files (ontology, graph, shapes): what was asserted."""
    g = Graph()
    for folder in ("ontology", "graph", "shapes"):
        for path in sorted((ROOT / folder).glob("*.ttl")):
            g.parse(path, format="turtle")
    return g


@pytest.mark.parametrize("fmt", ["turtle", "nt", "nquads", "trig", "jsonld", "xml"])
def test_export_writes_asserted_data_only(home, capsysbinary, fmt) -> None:
    """Every format parses back; every ground triple was asserted in a shipped file."""
    target = home / f"export.{fmt}"
    code, _, err = run_cli(capsysbinary, "export", "--format", fmt, "-o", str(target))
    assert code == 0, err
    mtype = {
        "turtle": "text/turtle",
        "nt": "application/n-triples",
        "nquads": "application/n-quads",
        "trig": "application/trig",
        "jsonld": "application/ld+json",
        "xml": "application/rdf+xml",
    }[fmt]
    if fmt in ("nquads", "trig", "jsonld"):  # JSON-LD keeps the named graphs too
        exported = Dataset()
        exported.parse(target, format=RDFLIB_FORMAT[mtype])
        triples = {(s, p, o) for s, p, o, _ in exported.quads()}
    else:
        triples = set(Graph().parse(target, format=RDFLIB_FORMAT[mtype]))
    ground = {t for t in triples if not any(isinstance(n, BNode) for n in t)}
    assert len(ground) > 1000
    asserted = _source_triples()
    not_asserted = [t for t in ground if t not in asserted]
    assert not_asserted == []


def test_export_to_stdout_and_bad_format(home, capsysbinary) -> None:
    """Without -o the data goes to stdout; an unknown format is refused."""
    code, out, err = run_cli(capsysbinary, "export", "--format", "nt")
    assert code == 0, err
    assert len(Graph().parse(data=out, format="nt")) > 1000
    code, out, err = run_cli(capsysbinary, "export", "--format", "csv")
    assert code == 2 and "not acceptable" not in out.decode() and "csv" in err


@pytest.mark.slow
def test_add_valid_facts_lands_in_its_own_graph(home, capsysbinary, monkeypatch) -> None:
    """A valid file is added to <base>graph/added/<stem>; a second add of it is refused."""
    monkeypatch.setenv("LEC_KG_WRITE_TOKEN", TOKEN)
    data_dir = home / "store"
    facts = home / "new-place.ttl"
    facts.write_text(PLACE_TTL.format(place=PLACE.format("valid"), evidence=EVIDENCE))
    code, out, err = run_cli(capsysbinary, "add", str(facts), "--data-dir", str(data_dir))
    assert code == 0, err
    assert b"added" in out
    ds = _exported_from(capsysbinary, data_dir)
    graph = URIRef("https://w3id.org/lec-kg/graph/added/new-place")
    assert (URIRef(PLACE.format("valid")), RDFS.label, None, graph) in ds
    code, _, err = run_cli(capsysbinary, "add", str(facts), "--data-dir", str(data_dir))
    assert code == 2 and "already in the store" in err


def _exported_from(capsysbinary, data_dir: Path) -> Dataset:
    """Export the store in data_dir (the export command has no --data-dir of its own)."""
    from lec_kg.commands import export as export_command
    from lec_kg.config import settings_from_env

    class Args:
        format = "nquads"
        output = data_dir.parent / "store.nq"

    assert export_command.run(Args, settings_from_env(source_dir=ROOT, data_dir=data_dir)) == 0
    capsysbinary.readouterr()
    ds = Dataset()
    ds.parse(Args.output, format="nquads")
    return ds


@pytest.mark.slow
def test_add_invalid_facts_prints_the_report_and_adds_nothing(
    home, capsysbinary, monkeypatch
) -> None:
    """A file that violates the shapes: exit 1, the report names shape and focus, nothing added."""
    monkeypatch.setenv("LEC_KG_WRITE_TOKEN", TOKEN)
    data_dir = home / "store"
    facts = home / "bad-place.ttl"
    facts.write_text(PLACE_TTL.format(place=PLACE.format("invalid"), evidence=""))
    code, out, err = run_cli(capsysbinary, "add", str(facts), "--data-dir", str(data_dir))
    assert code == 1
    assert "nothing was added" in err
    assert PLACE.format("invalid") in err and "FactNodeShape-evidence" in err
    ds = _exported_from(capsysbinary, data_dir)
    assert (URIRef(PLACE.format("invalid")), None, None, None) not in ds


def test_add_needs_the_write_token(home, capsysbinary) -> None:
    """Without LEC_KG_WRITE_TOKEN, add refuses: writing is off."""
    facts = home / "new-place.ttl"
    facts.write_text(PLACE_TTL.format(place=PLACE.format("no-token"), evidence=EVIDENCE))
    code, _, err = run_cli(capsysbinary, "add", str(facts), "--data-dir", str(home / "store"))
    assert code == 2
    assert "writing is disabled" in err and "LEC_KG_WRITE_TOKEN" in err


def test_serve_refuses_a_graph_that_fails_the_shapes(tmp_path) -> None:
    """serve exits non-zero with a clear message, and never listens, when the graph is invalid."""
    source = tmp_path / "checkout"
    for folder in ("ontology", "graph", "shapes"):
        shutil.copytree(ROOT / folder, source / folder)
    (source / "graph" / "zz-invalid.ttl").write_text(
        PLACE_TTL.format(place=PLACE.format("serve-invalid"), evidence="")
    )
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    port_file = tmp_path / "port"
    serve = ["serve", "--memory", "--port", "0", "--port-file", str(port_file)]
    done = subprocess.run(
        [str(LEC_KG), "--source-dir", str(source), *serve],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 1
    assert "not serving" in done.stderr
    assert PLACE.format("serve-invalid") in done.stderr  # the focus node ...
    assert "FactNodeShape-evidence" in done.stderr  # ... and the shape it breaks
    assert "graph/zz-invalid.ttl" in done.stderr  # ... and the file to fix
    assert "SPARQL endpoint" not in done.stderr and not port_file.exists()  # never listened


@pytest.mark.live
@pytest.mark.slow
def test_serve_with_a_data_dir_keeps_added_and_updated_facts(home, capsysbinary, monkeypatch):
    """add, then serve that folder: the added fact is served, and an update survives a restart."""
    monkeypatch.setenv("LEC_KG_WRITE_TOKEN", TOKEN)
    data_dir = home / "store"
    facts = home / "served-place.ttl"
    facts.write_text(PLACE_TTL.format(place=PLACE.format("added"), evidence=EVIDENCE))
    code, _, err = run_cli(capsysbinary, "add", str(facts), "--data-dir", str(data_dir))
    assert code == 0, err
    insert = (
        "PREFIX lec: <https://w3id.org/lec-kg/ontology#>\n"
        "PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
        "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
        "INSERT DATA { GRAPH <https://w3id.org/lec-kg/graph/submitted/cli-test> {\n"
        f'<{PLACE.format("updated")}> a lec:Place ; rdfs:label "Updated place"@en {EVIDENCE} .\n'
        "} }"
    )

    def served(slug: str, server) -> bool:
        reply = httpx.get(
            server.sparql,
            params={"query": f"ASK {{ GRAPH ?g {{ <{PLACE.format(slug)}> ?p ?o }} }}"},
            headers={"Accept": "application/json"},
            timeout=TIMEOUT,
        )
        return reply.json()["boolean"]

    with running_server(home, data_dir) as server:
        assert served("added", server)
        reply = httpx.post(
            server.sparql,
            data={"update": insert},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=TIMEOUT,
        )
        assert reply.status_code == 200, reply.text
        assert served("updated", server)
    with running_server(home, data_dir) as server:
        assert served("added", server) and served("updated", server)


def running_server(home: Path, data_dir: Path):
    """`lec-kg serve --data-dir` on a port it picked until the block ends (then SIGTERM)."""
    env = {**os.environ, "XDG_DATA_HOME": str(home / "xdg")}
    return serving(["--data-dir", str(data_dir)], env, home / f"serve-{data_dir.name}.log")


@pytest.mark.live
@pytest.mark.slow
def test_add_beside_a_running_server_is_served_at_once(tmp_path) -> None:
    """`lec-kg add` writes to the data directory a server is using: the server's next answer
    includes the new facts (they share the journal and its lock)."""
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}
    data_dir = tmp_path / "store"
    facts = tmp_path / "beside-server.ttl"
    facts.write_text(PLACE_TTL.format(place=PLACE.format("beside"), evidence=EVIDENCE))
    ask = f"ASK {{ <{PLACE.format('beside')}> ?p ?o }}"
    accept = {"Accept": "application/sparql-results+json"}
    with serving(["--data-dir", str(data_dir)], env, tmp_path / "serve.log") as server:
        before = httpx.get(server.sparql, params={"query": ask}, headers=accept, timeout=TIMEOUT)
        assert before.json()["boolean"] is False
        add = ["add", str(facts), "--data-dir", str(data_dir)]
        done = subprocess.run(
            [str(LEC_KG), "--source-dir", str(ROOT), *add],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        after = httpx.get(server.sparql, params={"query": ask}, headers=accept, timeout=TIMEOUT)
        assert after.json()["boolean"] is True
        assert after.headers["x-lec-cache"] == "miss"  # the journal grew: nothing kept is used
