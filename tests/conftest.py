"""Shared fixtures: settings, the engine (once per session), a fresh app per test, a live server.

The graph is parsed and validated once per session (`engine`); each test gets a new app from
`create_app(settings, engine)`. Tests that write get an engine of their own (`write_engine`).
The live server is `lec-kg serve --memory` started as a subprocess with `--port 0`: the server
binds a port the system picks and writes it to a file, which `serving` reads back (a port found
free here and handed to the subprocess could be taken by someone else in between).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from fastapi.testclient import TestClient

from lec_kg.app import create_app
from lec_kg.config import Settings
from lec_kg.engine_api import Engine
from tests.support import TIMEOUT

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-write-token-5f1c"
LEC_KG = Path(sys.executable).with_name("lec-kg")


def build(settings: Settings) -> Engine:
    """The real engine for these settings."""
    from lec_kg.engine import build_engine
    from lec_kg.validation import load_validator

    return build_engine(settings, load_validator(settings))


@pytest.fixture(scope="session")
def settings() -> Settings:
    """In-memory settings with writing on (the token is TOKEN)."""
    return Settings(source_dir=ROOT, data_dir=None, write_token=TOKEN)


def ready_engine(settings: Settings) -> Iterator[Engine]:
    """A built engine that passed the shapes, closed when the fixture ends."""
    built = build(settings)
    assert built.is_ready(), built.not_ready_reason
    yield built
    built.close()


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    """The shipped graph, loaded and validated once per session; read-only tests share it."""
    yield from ready_engine(settings)


@pytest.fixture(scope="module")
def write_engine(settings: Settings) -> Iterator[Engine]:
    """An engine of its own for a module of tests that write."""
    yield from ready_engine(settings)


@pytest.fixture
def client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """A fresh app over the shared engine."""
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def write_client(settings: Settings, write_engine: Engine) -> Iterator[TestClient]:
    """A fresh app over the module's writable engine."""
    with TestClient(create_app(settings, write_engine), raise_server_exceptions=False) as c:
        yield c


@dataclass
class LiveServer:
    """A `lec-kg serve` subprocess and where it listens."""

    process: subprocess.Popen
    url: str
    log: Path

    @property
    def sparql(self) -> str:
        return self.url + "/sparql"


def _fail(process: subprocess.Popen, log: Path, what: str) -> NoReturn:
    pytest.fail(f"lec-kg serve {what}:\n{log.read_text(errors='replace')}")


def wait_for_port(process: subprocess.Popen, port_file: Path, log: Path, limit_s: float) -> int:
    """The port `serve --port-file` wrote once listening; fail with the log if it exits first."""
    deadline = time.monotonic() + limit_s  # a guard against hanging, not a timed assertion
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text(encoding="ascii"))
        if process.poll() is not None:
            _fail(process, log, f"exited with {process.returncode}")
        time.sleep(0.1)
    _fail(process, log, "never listened")


def wait_until_ready(process: subprocess.Popen, url: str, log: Path, limit_s: float) -> None:
    """Poll /ready until it says 200; fail with the server's log if it exits or never gets there."""
    deadline = time.monotonic() + limit_s  # a guard against hanging, not a timed assertion
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _fail(process, log, f"exited with {process.returncode}")
        try:
            if httpx.get(url + "/ready", timeout=TIMEOUT).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    _fail(process, log, "did not get ready")


@contextmanager
def serving(
    args: list[str], env: dict[str, str], log: Path, source_dir: Path = ROOT
) -> Iterator[LiveServer]:
    """`lec-kg --source-dir SOURCE serve <args> --port 0` until the block ends, on the port the
    server picked and reported through --port-file."""
    port_file = log.with_name(log.name + ".port")
    port_file.unlink(missing_ok=True)
    command = [str(LEC_KG), "--source-dir", str(source_dir), "serve", *args]
    command += ["--port", "0", "--port-file", str(port_file)]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        port = wait_for_port(process, port_file, log, limit_s=300)
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(process, url, log, limit_s=300)
        yield LiveServer(process, url, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not ended within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`lec-kg serve --memory` on a loopback port it picked, ready to answer."""
    log = tmp_path_factory.mktemp("live") / "serve.log"
    with serving(["--memory"], {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}, log) as server:
        yield server
