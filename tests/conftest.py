"""Shared fixtures: settings, the engine (once per session), a fresh app per test, a live server.

The graph is parsed and validated once per session (`engine`); each test gets a new app from
`create_app(settings, engine)`. Tests that write get an engine of their own (`write_engine`).
The live server is `lec-kg serve --memory` started as a subprocess on a free loopback port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from lec_kg.app import create_app
from lec_kg.config import Settings
from lec_kg.engine_api import Engine

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


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    """A `lec-kg serve` subprocess and where it listens."""

    process: subprocess.Popen
    url: str
    log: Path

    @property
    def sparql(self) -> str:
        return self.url + "/sparql"


def wait_until_ready(process: subprocess.Popen, url: str, log: Path, limit_s: float) -> None:
    """Poll /ready until it says 200; fail with the server's log if it exits or never gets there."""
    deadline = time.monotonic() + limit_s  # a guard against hanging, not a timed assertion
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"lec-kg serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/ready", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"lec-kg serve did not get ready:\n{log.read_text()}")


@contextmanager
def serving(args: list[str], env: dict[str, str], log: Path) -> Iterator[LiveServer]:
    """`lec-kg ... serve <args> --port P` on a free loopback port until the block ends."""
    port = free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(LEC_KG), "--source-dir", str(ROOT), "serve", *args, "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, url, log, limit_s=300)
        yield LiveServer(process, url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`lec-kg serve --memory` on a free loopback port, ready to answer."""
    log = tmp_path_factory.mktemp("live") / "serve.log"
    with serving(["--memory"], {**os.environ, "LEC_KG_WRITE_TOKEN": TOKEN}, log) as server:
        yield server
