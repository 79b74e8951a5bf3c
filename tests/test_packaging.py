"""The package works wherever it is installed, and never serves an empty graph.

A wheel built from the sdist carries the ontology, the shapes and the facts (setup.py copies
ontology/, graph/ and shapes/ into lec_kg/data/), so `lec-kg` installed into a fresh virtual
environment outside the checkout validates and counts the same graph as the checkout. An editable
install reads the working tree instead. Whatever the source, a folder without an ontology, shapes
or facts is refused with one line and exit code 2 before anything is loaded.

The fresh environments get no dependencies from an index: a .pth file puts the test
environment's site-packages after their own, so they import the test environment's rdflib,
pyoxigraph and the rest, but not its lec_kg (the editable install's .pth there is not processed
from a path added this way).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

from lec_kg.cli import main
from lec_kg.config import default_source_dir
from tests.conftest import LEC_KG, ROOT, stop, wait_for_port, wait_until_ready
from tests.support import TIMEOUT

COUNT = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
GRAPHS = "SELECT DISTINCT ?g WHERE { GRAPH ?g { ?s ?p ?o } } ORDER BY ?g"
SHIPPED = {"ontology": "*.ttl", "graph": "*.ttl", "shapes": "*.ttl"}
NOT_COPIED = {".git", ".venv", "build", "dist", "data", ".pytest_cache", ".ruff_cache"}
WHERE = "import lec_kg, lec_kg.config as c; print(lec_kg.__file__); print(c.default_source_dir())"
INVALID_PLACE = """@prefix lec: <https://w3id.org/lec-kg/ontology#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
<https://w3id.org/lec-kg/id/place/packaging-test> a lec:Place ; rdfs:label "No evidence"@en .
"""


# ---------------------------------------------------------------- helpers


def run(command: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """A child process in `cwd`, with no PYTHONPATH, no lec-kg settings and a private data home."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("LEC_KG_")
    }
    env["XDG_DATA_HOME"] = str(cwd / "xdg")
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args}\n{done.stdout}\n{done.stderr}"
    return done


def copy_checkout(target: Path) -> Path:
    """The checkout as a clone would have it: no .git, no virtual environment, no build output."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
        return skip | (NOT_COPIED & set(names) if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def fresh_venv(target: Path) -> Path:
    """A virtual environment without lec_kg that imports the test environment's dependencies;
    returns its bin/ folder."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", target], check=True, timeout=300)
    ours = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(ok(run([target / "bin" / "python", "-c", purelib], cwd=target)).stdout.strip())
    (site / "lec-kg-test-dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    bin_dir = target / "bin"
    imported = run([bin_dir / "python", "-c", "import lec_kg"], cwd=target)
    assert imported.returncode != 0, "the fresh environment already sees a lec_kg"
    return bin_dir


def pip(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """The test environment's pip, offline."""
    return ok(run([sys.executable, "-m", "pip", *args, "--no-index", "--quiet"], cwd=cwd))


def count_and_graphs(lec_kg: list[str | Path], cwd: Path) -> tuple[int, list[str]]:
    """The number of quads and the named graphs `lec-kg query` finds."""
    count = json.loads(ok(run([*lec_kg, "query", COUNT, "--format", "json"], cwd)).stdout)
    graphs = json.loads(ok(run([*lec_kg, "query", GRAPHS, "--format", "json"], cwd)).stdout)
    n = int(count["results"]["bindings"][0]["n"]["value"])
    return n, [b["g"]["value"] for b in graphs["results"]["bindings"]]


def shipped_names() -> dict[str, set[str]]:
    """The data files of the checkout, per folder."""
    return {kind: {p.name for p in (ROOT / kind).glob(glob)} for kind, glob in SHIPPED.items()}


# ---------------------------------------------------------------- installed elsewhere


@pytest.mark.slow
def test_wheel_built_from_the_sdist_serves_the_full_graph_anywhere(tmp_path: Path) -> None:
    """sdist -> wheel (`pip wheel --no-deps`) -> a fresh venv: from another folder, `lec-kg
    validate` conforms, and `lec-kg query` and `lec-kg serve` (over HTTP) count exactly what
    the checkout counts."""
    checkout = copy_checkout(tmp_path / "checkout")
    dist = tmp_path / "dist"
    build = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    name = ok(run([sys.executable, "-c", build, dist], cwd=checkout)).stdout.strip().splitlines()
    sdist = dist / name[-1]
    with tarfile.open(sdist) as tar:
        in_sdist = [Path(*Path(m).parts[1:]) for m in tar.getnames()]
    for kind, names in shipped_names().items():
        assert names <= {p.name for p in in_sdist if p.parent == Path(kind)}, kind
    assert Path("graph/README.md") in in_sdist

    pip("wheel", "--no-deps", "--no-build-isolation", "-w", dist, sdist, cwd=tmp_path)
    (wheel,) = dist.glob("lec_kg-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        in_wheel = [Path(n) for n in zf.namelist()]
    for kind, names in shipped_names().items():
        packaged = {p for p in in_wheel if p.parent == Path("lec_kg", "data", kind)}
        assert names == {p.name for p in packaged if p.suffix == ".ttl"}, kind
    assert Path("lec_kg/data/graph/README.md") in in_wheel
    package = ROOT / "server" / "lec_kg"
    for folder in ("templates", "static"):  # what the pages need (style sheets included)
        files = {p.relative_to(package.parent) for p in (package / folder).glob("*")}
        assert files <= set(in_wheel), folder

    bin_dir = fresh_venv(tmp_path / "venv")
    pip("--python", bin_dir / "python", "install", "--no-deps", wheel, cwd=tmp_path)
    shutil.rmtree(checkout)  # nothing may lean on the folder it was built from
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    module, source = ok(run([bin_dir / "python", "-c", WHERE], elsewhere)).stdout.split()
    site = tmp_path / "venv" / "lib"
    assert Path(module).is_relative_to(site) and Path(source).is_relative_to(site)

    validated = ok(run([bin_dir / "lec-kg", "validate"], elsewhere))
    assert "conforms: 0 violation(s)" in validated.stdout
    installed = count_and_graphs([bin_dir / "lec-kg"], elsewhere)
    from_checkout = count_and_graphs([LEC_KG, "--source-dir", ROOT], elsewhere)
    assert from_checkout[0] > 1000
    assert installed == from_checkout
    assert served_count(bin_dir / "lec-kg", elsewhere) == installed[0]


def served_count(lec_kg: Path, cwd: Path) -> int:
    """The quads `lec-kg serve --memory` (port 0) answers over HTTP, counted at /sparql."""
    port_file, log = cwd / "serve.port", cwd / "serve.log"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("LEC_KG_")
    }
    command = [str(lec_kg), "serve", "--memory", "--port", "0", "--port-file", str(port_file)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{wait_for_port(process, port_file, log, limit_s=300)}"
        wait_until_ready(process, url, log, limit_s=300)
        reply = httpx.get(
            f"{url}/sparql",
            params={"query": COUNT},
            headers={"Accept": "application/sparql-results+json"},
            timeout=TIMEOUT,
        )
        assert reply.status_code == 200, reply.text
        return int(reply.json()["results"]["bindings"][0]["n"]["value"])
    finally:
        stop(process)


@pytest.mark.slow
def test_editable_install_reads_the_working_tree(tmp_path: Path) -> None:
    """`pip install -e` copies no data: a file added to graph/ afterwards is what validate
    judges (here, a place without evidence: exit 1 naming it)."""
    checkout = copy_checkout(tmp_path / "checkout")
    bin_dir = fresh_venv(tmp_path / "venv")
    editable = ["install", "--no-deps", "--no-build-isolation", "--editable", checkout]
    pip("--python", bin_dir / "python", *editable, cwd=tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    module, source = ok(run([bin_dir / "python", "-c", WHERE], elsewhere)).stdout.split()
    assert Path(module).is_relative_to(checkout) and Path(source) == checkout
    (checkout / "graph" / "zz-no-evidence.ttl").write_text(INVALID_PLACE, encoding="utf-8")
    done = run([bin_dir / "lec-kg", "validate"], elsewhere)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "packaging-test" in done.stdout and "graph/zz-no-evidence.ttl" in done.stdout


def test_the_checkout_is_the_default_source_here() -> None:
    """Run from the checkout (editable install or PYTHONPATH=server), the working tree is read."""
    assert default_source_dir() == ROOT


# ---------------------------------------------------------------- refusing an empty source

COMMANDS = ["validate", "query", "export", "serve", "add"]


def arguments(command: str, store: Path) -> list[str]:
    """The command with arguments it would run with on a good source."""
    return {
        "validate": ["validate"],
        "query": ["query", COUNT],
        "export": ["export", "--format", "nt", "--data-dir", str(store)],
        "serve": ["serve", "--port", "0", "--data-dir", str(store)],
        "add": ["add", str(ROOT / "tests/fixtures/shapes/base.ttl"), "--data-dir", str(store)],
    }[command]


def source_without(tmp_path: Path, kind: str, how: str) -> Path:
    """A copy of the three folders with `kind` missing, empty, or holding a file without triples."""
    source = tmp_path / "source"
    for folder in SHIPPED:
        if folder != kind or how == "no-file-with-triples":
            shutil.copytree(ROOT / folder, source / folder)
    if how == "empty-folder":
        (source / kind).mkdir()
    elif how == "no-file-with-triples":
        for path in (source / kind).glob("*.ttl"):
            path.unlink()
        (source / kind / "prefixes-only.ttl").write_text("@prefix lec: <urn:x#> .\n# nothing\n")
    return source


@pytest.mark.parametrize("how", ["no-folder", "empty-folder", "no-file-with-triples"])
@pytest.mark.parametrize(
    ("kind", "what"), [("ontology", "ontology"), ("shapes", "shapes"), ("graph", "facts")]
)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_source_without_ontology_shapes_or_facts_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str, what: str, how: str
) -> None:
    """Every command refuses with exit 2 and one line naming what is missing and where."""
    source = source_without(tmp_path, kind, how)
    code = main(["--source-dir", str(source), *arguments(command, tmp_path / "store")])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(f"lec-kg {command}: not starting: {source} has no {what} ({kind}/")
    assert not (tmp_path / "store").exists()  # nothing was written


def test_validate_and_serve_on_a_folder_that_is_not_a_source_exit_2(tmp_path: Path) -> None:
    """Run as a user runs them: a folder without the three subfolders is no source; validate
    prints no "conforms", serve never listens."""
    empty = tmp_path / "empty"
    empty.mkdir()
    validated = run([LEC_KG, "--source-dir", empty, "validate"], tmp_path, timeout=300)
    assert validated.returncode == 2
    assert validated.stdout == ""
    assert validated.stderr.count("\n") == 1
    assert "no ontology (ontology/*.ttl), no facts (graph/*.ttl), no shapes (shapes/*.ttl)" in (
        validated.stderr
    )
    port_file = tmp_path / "port"
    serve = ["serve", "--source-dir", empty, "--memory", "--port", "0", "--port-file", port_file]
    served = run([LEC_KG, *serve], tmp_path, timeout=300)  # --source-dir after the command
    assert served.returncode == 2
    assert served.stderr.startswith(f"lec-kg serve: not starting: {empty} has no ontology")
    assert not port_file.exists()
    missing = run([LEC_KG, "--source-dir", tmp_path / "nowhere", "validate"], tmp_path)
    assert missing.returncode == 2
    expected = f"the source folder {tmp_path / 'nowhere'} does not exist"
    assert missing.stderr == f"lec-kg validate: not starting: {expected}\n"


def test_nothing_reads_beyond_the_checkout() -> None:
    """No code, test, CI script or data file points outside the repository for its source."""
    needles = ("../" + "shared", "shared/" + "source")
    places = ["server", "tests", "bench", ".ci", "graph", "pyproject.toml", "setup.py"]
    hits = []
    for place in places:
        paths = [ROOT / place] if (ROOT / place).is_file() else (ROOT / place).rglob("*")
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                text = path.read_text(encoding="utf-8", errors="replace")
                hits += [f"{path.relative_to(ROOT)}: {n}" for n in needles if n in text]
    assert hits == []
