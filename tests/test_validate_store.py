"""`lec-kg validate [--data-dir DIR] [FILE ...]` judges with the graph `serve` would build from
DIR: the shipped files plus its journaled writes, read and never written, even while a server
runs on it and writes there."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from lec_kg.cli import main
from lec_kg.journal import Journal
from tests.conftest import LEC_KG, ROOT, TOKEN, serving
from tests.support import TIMEOUT
from tests.test_submissions import PLACE, place

RUN_TIMEOUT_S = (TIMEOUT.read or 60.0) * 5
REGION = PLACE.format("validate-region")
TOWN = PLACE.format("validate-town")
LOCATED_IN = "https://w3id.org/lec-kg/shapes#PlaceShape-locatedIn"
LABEL = "https://w3id.org/lec-kg/shapes#FactNodeShape-label"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LEC_KG_WRITE_TOKEN", TOKEN)
    monkeypatch.delenv("LEC_KG_WRITE_TOKENS", raising=False)
    monkeypatch.delenv("LEC_KG_DATA_DIR", raising=False)
    return tmp_path


@pytest.fixture
def files(home: Path) -> dict[str, Path]:
    """The region (added to the store first), a town in it (valid only with the region) and a
    rival description of the region (valid only without it: a second English label)."""
    texts = {
        "region": place("validate-region"),
        "town": place("validate-town", extra=f"; lec:locatedIn <{REGION}>"),
        "rival": place("validate-region").replace("Place validate-region", "Rival region"),
    }
    out = {}
    for name, text in texts.items():
        out[name] = home / f"{name}.ttl"
        out[name].write_text(text, encoding="utf-8")
    return out


def run_cli(capsys, *argv: str | Path) -> tuple[int, str, str]:
    code = main(["--source-dir", str(ROOT), *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def state_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the folder: its bytes and its modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def violations(out: str) -> list[dict]:
    return [f for f in json.loads(out)["findings"] if f["severity"] == "Violation"]


@pytest.mark.slow
def test_a_write_in_the_data_dir_changes_the_verdict_on_a_file(home, files, capsys) -> None:
    data = home / "store"
    code, out, err = run_cli(
        capsys, "validate", "--format", "json", "--data-dir", data, files["town"]
    )
    assert code == 1, err
    assert [(f["shape"], f["focus"], f["source_file"]) for f in violations(out)] == [
        (LOCATED_IN, TOWN, str(files["town"]))
    ]
    assert f"no store in {data} yet" in err
    assert not data.exists()  # validate creates nothing
    code, out, err = run_cli(capsys, "validate", "--data-dir", data, files["rival"])
    assert code == 0, out + err
    assert "conforms: 0 violation(s)" in out

    code, _, err = run_cli(capsys, "add", files["region"], "--data-dir", data)
    assert code == 0, err
    before = state_of(data)
    assert "journal.lecj" in before

    code, out, err = run_cli(capsys, "validate", "--data-dir", data, files["town"])
    assert code == 0, out + err
    assert "conforms: 0 violation(s)" in out and f"journaled in {data}" in err
    code, out, err = run_cli(
        capsys, "validate", "--format", "json", "--data-dir", data, files["rival"]
    )
    assert code == 1, err
    assert [(f["shape"], f["focus"]) for f in violations(out)] == [(LABEL, REGION)]
    code, out, _ = run_cli(capsys, "validate", "--format", "json", "--memory", files["town"])
    assert code == 1 and [f["shape"] for f in violations(out)] == [LOCATED_IN]
    code, out, err = run_cli(capsys, "validate", "--data-dir", data)  # the whole graph
    assert code == 0, out + err
    assert "conforms: 0 violation(s)" in out
    assert state_of(data) == before  # nothing written, not even touched

    # `lec-kg add` on the same folder agrees with what validate said.
    code, _, err = run_cli(capsys, "add", files["rival"], "--data-dir", data)
    assert code == 1 and "nothing was added" in err
    assert state_of(data) == before
    code, _, err = run_cli(capsys, "add", files["town"], "--data-dir", data)
    assert code == 0, err


@pytest.mark.slow
def test_the_whole_graph_includes_the_journaled_writes(home, files, capsys) -> None:
    """A journaled write the shapes now refuse (say, accepted under older shapes): validate
    without FILE reports it as `serve` would, and a FILE cannot be judged on that graph."""
    data = home / "store"
    journal = Journal(data)
    typo = f"<{REGION}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
    typo += "<https://w3id.org/lec-kg/ontology#Plase> <https://w3id.org/lec-kg/graph/added/x> .\n"
    journal.append(
        {"at": "2026-01-01T00:00:00.000+00:00", "update": "", "removed": "", "added": typo}
    )
    journal.close()
    before = state_of(data)
    code, out, err = run_cli(capsys, "validate", "--format", "json", "--data-dir", data)
    assert code == 1, err
    assert REGION in {f["focus"] for f in violations(out)}
    code, out, err = run_cli(capsys, "validate", "--data-dir", data, files["town"])
    assert code == 2 and out == ""
    assert "cannot be served" in err and "`lec-kg validate` shows why" in err
    code, out, _ = run_cli(capsys, "validate", "--memory")
    assert code == 0 and "conforms: 0 violation(s)" in out
    assert state_of(data) == before


@pytest.mark.live
@pytest.mark.slow
def test_validate_beside_a_running_server(home, files) -> None:
    """validate reads the folder a server is writing: it sees the server's writes, changes no
    byte, and the server goes on accepting writes while validate runs."""
    data = home / "store"
    env = {**os.environ}

    def post(name: str) -> httpx.Response:
        return httpx.post(
            f"{server.url}/facts",
            params={"message": name},
            content=files[name].read_bytes(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/turtle"},
            timeout=TIMEOUT,
        )

    def validate(name: str) -> subprocess.Popen:
        argv = [LEC_KG, "--source-dir", ROOT, "validate", "--data-dir", data, files[name]]
        return subprocess.Popen(
            [str(a) for a in argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    with serving(["--data-dir", str(data)], env, home / "serve.log") as server:
        assert post("region").status_code == 201
        before = state_of(data)
        out, err = validate("town").communicate(timeout=RUN_TIMEOUT_S)
        assert "conforms: 0 violation(s)" in out, out + err
        assert state_of(data) == before

        running = validate("rival")  # the server writes while validate reads
        assert post("town").status_code == 201
        out, err = running.communicate(timeout=RUN_TIMEOUT_S)
        assert running.returncode == 1, out + err
        assert "FactNodeShape-label" in out
        ask = f"ASK {{ GRAPH ?g {{ <{TOWN}> ?p ?o }} }}"
        reply = httpx.get(
            server.sparql,
            params={"query": ask},
            headers={"Accept": "application/sparql-results+json"},
            timeout=TIMEOUT,
        )
        assert reply.json()["boolean"] is True
