"""`lec-kg serve`: load and validate the graph, then serve it over SPARQL 1.1 with uvicorn.

A graph that fails the shapes is not served: the command prints the report and exits with 1
before it listens on any port. Once the graph has passed, the command binds the port itself
(`--port 0` lets the system pick a free one), announces the bound address on stderr, writes the
port to `--port-file` (`settings.port_file`) if given, and hands the socket to uvicorn.

With `--workers N` (N > 1) uvicorn runs N server processes on one listening socket, each with
its own in-memory copy of the graph built by `worker_app`. They share the data directory's
journal: a write takes the directory's lock, and every process applies the others' journaled
changes before its next request, so a write acknowledged by one is seen by all. Without a data
directory (`--memory`) there is no journal to share, so writing is refused with several workers.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import inspect
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..config import TOKEN_ENV, Settings
from ..errors import LecKgError
from ..observability import ACCESS_LOG, BufferedLineHandler

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SETTINGS_ENV = "LEC_KG_SERVE_SETTINGS"  # how the worker processes get the settings
BACKLOG = 2048  # uvicorn's default


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the engine, refuse an invalid graph, then run uvicorn until stopped."""
    import uvicorn

    from ..app import create_app
    from ..engine import build_engine
    from ..sources import SourceError
    from ..validation import load_validator

    _configure_logging()
    # Each value was checked as it was read (config.load_settings); what is left to refuse is
    # a combination.
    if settings.workers > 1 and settings.in_memory and settings.writable:
        print(
            "lec-kg serve: several workers share writes through the data directory's journal; "
            f"with --memory there is none: use --data-dir, one worker, or unset {TOKEN_ENV}",
            file=sys.stderr,
        )
        return 2
    where = "in memory" if settings.in_memory else f"in {settings.data_dir}"
    print(f"lec-kg serve: loading and validating the graph ({where})", file=sys.stderr)
    try:
        # With several workers this engine only judges the graph (each worker builds its own):
        # one query process is enough for that.
        judge = settings.with_overrides(query_workers=1) if settings.workers > 1 else settings
        engine = build_engine(judge, load_validator(settings))
    except LecKgError as exc:
        print(f"lec-kg serve: not serving: {exc.title}: {exc.detail}", file=sys.stderr)
        _print_report(exc.extra.get("report"))
        return 1
    except SourceError as exc:
        print(f"lec-kg serve: not serving: a shipped file does not parse: {exc}", file=sys.stderr)
        return 1
    if not engine.is_ready():
        reason = engine.not_ready_reason or "the graph has not passed the shapes"
        print(f"lec-kg serve: not serving: {reason}", file=sys.stderr)
        _print_report(engine.startup_report)
        engine.close()
        return 1
    try:
        sock = _listen(settings.host, settings.port)
    except OSError as exc:
        print(
            f"lec-kg serve: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        engine.close()
        return 2
    with sock:
        port = sock.getsockname()[1]
        settings = settings.with_overrides(port=port)  # the IRIs it writes name this port
        writing = "on (Bearer token)" if settings.writable else "off (LEC_KG_WRITE_TOKEN not set)"
        print(
            f"lec-kg serve: SPARQL endpoint {_url(settings.host, port)}/sparql, writing {writing}",
            file=sys.stderr,
        )
        if settings.port_file is not None:
            _write_port_file(settings.port_file, port)
        # uvicorn serves the socket bound here, so the port announced is the port listened on,
        # also when --port 0 let the system pick it.
        # log_config None: the logging set up here stays as it is (no dictConfig)
        options: dict[str, Any] = {"server_header": False, "access_log": False, "log_config": None}
        if settings.workers == 1:
            server = uvicorn.Server(uvicorn.Config(create_app(settings, engine), **options))
            with contextlib.suppress(KeyboardInterrupt):
                server.run(sockets=[sock])
            engine.close()
            return 0 if server.started else 1
        engine.close()  # judged valid; each worker process loads its own copy
        print(f"lec-kg serve: starting {settings.workers} worker processes", file=sys.stderr)
        os.environ[SETTINGS_ENV] = settings.to_json()
        target = f"{__name__}:worker_app"
        config = uvicorn.Config(target, factory=True, workers=settings.workers, **options)
        _supervise(config, sock)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (port 0: one the system picks), ready to be served."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)  # the worker processes serve it too
    return sock


def _supervise(config, sock: socket.socket) -> None:
    """What `uvicorn.run` does for several workers, on the socket bound here: its supervisor
    starts `config.workers` processes serving `sock` and replaces any that dies."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    kwargs: dict[str, Any] = {"sockets": [sock]}
    if "target" in inspect.signature(Multiprocess).parameters:  # older uvicorn (0.30) wants it
        kwargs["target"] = uvicorn.Server(config).run
    with contextlib.suppress(KeyboardInterrupt):
        Multiprocess(config, **kwargs).run()


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _write_port_file(path: Path, port: int) -> None:
    """The port, written whole (a reader never sees half a number): a temporary file renamed."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{port}\n", encoding="ascii")
    os.replace(partial, path)


def worker_app():
    """The app of one of several server processes (uvicorn calls this in each of them)."""
    from ..app import create_app
    from ..engine import build_engine
    from ..validation import load_validator

    _configure_logging()
    settings = Settings.from_json(os.environ[SETTINGS_ENV])
    engine = build_engine(settings, load_validator(settings))
    if not engine.is_ready():  # the parent judged the same files valid: something changed
        raise SystemExit(f"lec-kg serve worker: not serving: {engine.not_ready_reason}")
    atexit.register(engine.close)
    return create_app(settings, engine)


def _configure_logging() -> None:
    """Log lines to stderr, the access log's in batches; records skip what the format never
    shows (the calling source line, thread and process names), as the logging HOWTO's
    "Optimization" section advises: the access log writes one per request."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    access = logging.getLogger(ACCESS_LOG.name)
    if not access.handlers:
        handler = BufferedLineHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        access.addHandler(handler)
        access.propagate = False  # written once, by the buffered handler
    logging._srcfile = None  # no sys._getframe() walk per record
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _print_report(report: object) -> None:
    """The validation report that came with the error, readable."""
    if report is None:
        return
    if getattr(report, "conforms", False):
        return
    text = getattr(report, "to_text", None)
    if not callable(text):
        print(report, file=sys.stderr)
        return
    lines = text().splitlines()  # the violations, and the summary; warnings do not block
    print(
        "\n".join([ln for ln in lines[:-1] if ln.startswith("Violation")] + lines[-1:]),
        file=sys.stderr,
    )
