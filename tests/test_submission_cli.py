"""`lec-kg token`, `add --message`, `submissions` and `validate --url`, run as a user runs them:
on a local store (a data directory) and against a running service."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lec_kg.cli import main
from lec_kg.tokens import digest
from tests.conftest import LEC_KG, ROOT, TOKEN, serving
from tests.support import TIMEOUT
from tests.test_submissions import PLACE, place

RUN_TIMEOUT_S = TIMEOUT.read or 60.0


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LEC_KG_WRITE_TOKEN", TOKEN)
    monkeypatch.delenv("LEC_KG_WRITE_TOKENS", raising=False)
    return tmp_path


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--source-dir", str(ROOT), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def export(capsys, data: Path) -> str:
    code, out, err = run_cli(capsys, "export", "--format", "nquads", "--data-dir", str(data))
    assert code == 0, err
    return out


def test_token_makes_a_token_and_its_line(home, capsys) -> None:
    code, out, err = run_cli(capsys, "token", "carol")
    assert code == 0, err
    token, line = out.splitlines()
    assert line == f"carol:{digest(token)}" and len(token) >= 40
    code, _, err = run_cli(capsys, "token", "not a name")
    assert code == 2 and "not a token name" in err


def test_a_bad_token_file_stops_the_command(home, capsys) -> None:
    tokens = home / "tokens"
    tokens.write_text("alice:not-a-hash\n")
    code, _, err = run_cli(capsys, "serve", "--memory", "--tokens-file", str(tokens))
    assert code == 2 and "64 hex digits" in err and "not starting" in err


@pytest.mark.slow
def test_local_submission_listed_shown_and_withdrawn(home, capsys) -> None:
    data = home / "store"
    facts = home / "place.ttl"
    facts.write_text(place("cli-local"))
    bad = home / "bad.ttl"
    bad.write_text(place("cli-bad", evidence=False))
    code, _, err = run_cli(capsys, "submissions", "list", "--data-dir", str(data))
    assert code == 0, err
    before = export(capsys, data)
    code, _, err = run_cli(capsys, "add", str(bad), "--message", "bad", "--data-dir", str(data))
    assert code == 1 and "nothing was added" in err
    assert f"{bad}:5: Violation" in err and "FactNodeShape-evidence" in err
    assert export(capsys, data) == before

    code, out, err = run_cli(
        capsys, "add", str(facts), "--message", "from the CLI", "--data-dir", str(data)
    )
    assert code == 0, err
    sid = out.split()[3]
    assert "by default" in out
    code, out, err = run_cli(
        capsys, "submissions", "list", "--format", "json", "--data-dir", str(data)
    )
    (entry,) = json.loads(out)
    assert (entry["id"], entry["who"], entry["message"]) == (sid, "default", "from the CLI")
    code, out, _ = run_cli(capsys, "submissions", "show", sid, "--data-dir", str(data))
    assert code == 0 and "7 quads" in out
    code, _, err = run_cli(capsys, "submissions", "withdraw", sid, "--data-dir", str(data))
    assert code == 2 and "--message" in err
    code, out, err = run_cli(
        capsys, "submissions", "withdraw", sid, "--message", "test", "--data-dir", str(data)
    )
    assert code == 0, err
    assert "withdrawn" in out and "7 quads removed" in out
    assert PLACE.format("cli-local") not in export(capsys, data).split("graph/records")[0]
    code, _, err = run_cli(
        capsys, "submissions", "show", "0000000000000000", "--data-dir", str(data)
    )
    assert code == 1 and "no submission" in err


@pytest.mark.slow
def test_against_a_running_service(tmp_path) -> None:
    env = {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    good, bad = tmp_path / "good.ttl", tmp_path / "bad.nt"
    good.write_text(place("cli-remote"))
    bad.write_text(
        f"<{PLACE.format('cli-nt')}> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<https://w3id.org/lec-kg/ontology#Plase> .\n"
    )
    with serving(["--memory"], env, tmp_path / "serve.log") as server:

        def cli(*argv: str, token: bool = True) -> subprocess.CompletedProcess:
            environ = env if token else {k: v for k, v in env.items() if k != "LEC_KG_WRITE_TOKEN"}
            return subprocess.run(
                [str(LEC_KG), *argv, "--url", server.url],
                env=environ,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT_S * 5,
            )

        checked = cli("validate", str(good), str(bad))
        assert checked.returncode == 1, checked.stderr
        assert f"{good}: conforms" in checked.stdout
        assert f"{bad}:1: Violation" in checked.stdout and "UndeclaredClassShape" in checked.stdout
        refused = cli("add", str(bad), "--message", "typo")
        assert refused.returncode == 1 and "nothing was added" in refused.stderr
        no_token = cli("add", str(good), "--message", "x", token=False)
        assert no_token.returncode == 2 and "LEC_KG_WRITE_TOKEN" in no_token.stderr
        added = cli("add", str(good), "--message", "remote", "--source", "https://example.org/s")
        assert added.returncode == 0, added.stderr
        sid = added.stdout.split()[3]
        listed = cli("submissions", "list", "--format", "json")
        (entry,) = json.loads(listed.stdout)
        assert entry["id"] == sid and entry["sources"] == ["https://example.org/s"]
        gone = cli("submissions", "withdraw", sid, "--message", "test over")
        assert gone.returncode == 0, gone.stderr
        assert "withdrawn" in gone.stdout
        again = cli("submissions", "withdraw", sid, "--message", "again")
        assert again.returncode == 1
