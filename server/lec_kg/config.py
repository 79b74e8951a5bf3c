"""Settings: read in one place (environment and command line) and passed in everywhere else.

`Settings` holds the values; `OPTIONS` is the one table of every setting's environment variable,
flag, accepted values and help, from which `load_settings` reads the environment and the flags,
`cli.build_parser` makes the flags, and `settings_table` writes the README's table. A bad value
is refused with a `SettingError` naming the variable or flag, the value and what is expected.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from .setting_values import (
    Parser,
    base_iri,
    duration,
    file_path,
    folder,
    host,
    plain,
    public_url,
    size,
    switch,
    whole,
)

DEFAULT_BASE_IRI = "https://w3id.org/lec-kg/"
TOKEN_ENV = "LEC_KG_WRITE_TOKEN"
TOKENS_ENV = "LEC_KG_WRITE_TOKENS"  # name:sha256hex lines (`tokens`)
PACKAGED_SOURCE = "data"  # lec_kg/data/{ontology,graph,shapes} inside a built wheel


def default_source_dir() -> Path:
    """Where ontology/, graph/ and shapes/ are read from when no --source-dir is given.

    An installed wheel carries them inside the package (lec_kg/data/, copied there by setup.py
    at build time); an editable install or a plain checkout has no such copy and reads the
    working tree, two levels above this package.
    """
    shipped = files(__package__) / PACKAGED_SOURCE
    if isinstance(shipped, Path) and (shipped / "ontology").is_dir():
        return shipped
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    """Everything the service and the command line need to know, fixed at start-up."""

    source_dir: Path = field(default_factory=default_source_dir)
    data_dir: Path | None = field(default_factory=lambda: Path(user_data_dir("lec-kg")))
    base_iri: str = DEFAULT_BASE_IRI
    write_token: str | None = None
    write_tokens: str | None = None  # name:sha256hex lines (`tokens`), environment only
    write_tokens_file: Path | None = None  # a file of such lines
    host: str = "127.0.0.1"
    port: int = 8000
    port_file: Path | None = None  # once listening, `serve` writes the port there
    query_timeout_s: float = 30.0
    max_body_bytes: int = 1_000_000
    max_query_chars: int = 100_000
    max_result_rows: int = 10_000
    result_cache_bytes: int = 64 * 2**20  # results kept per data version; 0 keeps none
    # Query workers (see `admission`, `confine`): each may use worker_memory_mb MiB of address
    # space (0: no ceiling); a query still running after query_slice_s is long-running and
    # needs one of long_query_slots (0: one fewer than the workers), at most
    # long_queries_per_client of them per client.
    worker_memory_mb: int = 2048
    query_slice_s: float = 0.5
    long_query_slots: int = 0
    long_queries_per_client: int = 1
    max_waiting_queries: int = 8  # requests waiting for a free worker, overall ...
    max_waiting_per_client: int = 4  # ... and per client; past either: 503 / 429
    retry_after_s: int = 2
    workers: int = 1  # server processes sharing the port
    query_workers: int = 0  # query processes per server process; 0: `automatic_query_workers`
    # Inferred triples one write may derive or withdraw; over it the write is refused, so its
    # cost cannot be chosen by a writer (the shipped data's whole closure is about 3,000).
    inference_budget: int = 100_000
    max_update_quads: int = 200_000  # quads one update may remove and add, all told
    # A start folds the journal into a snapshot once it holds more journaled writes than this
    # (0: never by itself; `lec-kg compact` does it by hand).
    compact_after: int = 1000
    # Where people and clients reach the service (https://kg.example.org/lec-kg), for the
    # absolute IRIs it writes about itself; never taken from a request's Host header.
    public_url: str | None = None

    @property
    def in_memory(self) -> bool:
        """True when no data directory is set: the store lives in memory only."""
        return self.data_dir is None

    @property
    def public_base(self) -> str:
        """The service's absolute base URL, no trailing slash: `public_url`, else host and port."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def query_processes(self) -> int:
        """Query processes for each server process: `query_workers`, or when 0 the automatic
        number (see `automatic_query_workers`)."""
        return self.query_workers or automatic_query_workers(self.workers)

    @property
    def writable(self) -> bool:
        """Writing is on only when a write token is configured: the single one, or named ones
        (`tokens`)."""
        return bool(self.write_token or self.write_tokens or self.write_tokens_file)

    def to_json(self) -> str:
        """The settings as JSON for a child process, without the write token (the child reads
        that from its environment, as this process did)."""
        values = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        values.pop("write_token")
        values.pop("write_tokens")
        return json.dumps(values)

    @classmethod
    def from_json(cls, text: str, environ: dict[str, str] | None = None) -> Settings:
        """Settings written by `to_json`, with the write token from the environment."""
        values = json.loads(text)
        for f in fields(cls):
            if "Path" in str(f.type) and values.get(f.name) is not None:
                values[f.name] = Path(values[f.name])
        env = os.environ if environ is None else environ
        return cls(
            **values,
            write_token=env.get(TOKEN_ENV) or None,
            write_tokens=env.get(TOKENS_ENV) or None,
        )

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given fields changed; None values are ignored."""
        kept: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **kept)


def automatic_query_workers(workers: int, cores: int | None = None) -> int:
    """Query processes per server process when `query_workers` is 0: max(2, cores) for one
    server process, cores // workers (at least 2) for several, so they share the cores."""
    if cores is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity else (os.cpu_count() or 2)
    return max(2, cores // max(1, workers))


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from the environment, then typed overrides on top (None values are ignored)."""
    return load_settings(environ).with_overrides(**overrides)


# ---------------------------------------------------------------- the table of settings


class SettingError(ValueError):
    """A setting's value cannot be used; the message is one line naming it, its value and
    what is expected."""


@dataclass(frozen=True)
class Option:
    """One setting: where it is read from, how its text is parsed, what it means."""

    name: str  # the Settings field (or `memory`, which clears data_dir)
    env: str
    flag: str | None  # None: environment only
    parse: Parser
    help: str
    commands: tuple[str, ...] = ("serve",)  # the commands that take the flag
    metavar: str = "N"
    default: str | None = None  # shown in the table; None: the Settings default, as written
    show: Callable[[object], str] = plain  # how the Settings default is written


ALL_COMMANDS = (
    "serve",
    "validate",
    "query",
    "export",
    "add",
    "dates",
    "compact",
    "submissions",
    "token",
)
STORE_COMMANDS = ("serve", "validate", "export", "add", "compact", "submissions")


def _mib(value: object) -> str:
    return plain(int(value) / 2**20)  # type: ignore[call-overload]


OPTIONS: tuple[Option, ...] = (
    Option(
        "source_dir",
        "LEC_KG_SOURCE_DIR",
        "--source-dir",
        folder,
        "folder holding ontology/, graph/ and shapes/",
        ALL_COMMANDS,
        "DIR",
        "the copy installed with the package, or the checkout it runs from",
    ),
    Option(
        "base_iri",
        "LEC_KG_BASE_IRI",
        "--base-iri",
        base_iri,
        "base IRI things and terms are served under",
        ALL_COMMANDS,
        "IRI",
    ),
    Option(
        "data_dir",
        "LEC_KG_DATA_DIR",
        "--data-dir",
        folder,
        "store folder (the journal of writes and its snapshots)",
        STORE_COMMANDS,
        "DIR",
        "the user data folder (`~/.local/share/lec-kg` on Linux)",
    ),
    Option(
        "memory",
        "LEC_KG_MEMORY",
        "--memory",
        switch,
        "no store folder: keep everything in memory (export, validate: the shipped files only)",
        ("serve", "validate", "export"),
        "",
        "off",
    ),
    Option(
        "write_token",
        TOKEN_ENV,
        None,
        str,
        "the Bearer token that turns writing on (never a flag, so it stays out of process lists)",
        (),
        "",
        "unset: writing off",
    ),
    Option(
        "write_tokens",
        TOKENS_ENV,
        None,
        str,
        "named write tokens, `name:sha256hex` lines or comma-separated pairs (make one with "
        "`lec-kg token NAME`); each write is recorded under its token's name",
        (),
        "",
        "unset",
    ),
    Option(
        "write_tokens_file",
        "LEC_KG_WRITE_TOKENS_FILE",
        "--tokens-file",
        file_path,
        "file of named write tokens, one `name:sha256hex` a line (`#` comments)",
        ("serve",),
        "FILE",
        "none",
    ),
    Option("host", "LEC_KG_HOST", "--host", host, "interface to listen on", metavar="HOST"),
    Option(
        "port",
        "LEC_KG_PORT",
        "--port",
        whole(0, 65535),
        "port to listen on (0: any free one)",
        metavar="PORT",
    ),
    Option(
        "port_file",
        "LEC_KG_PORT_FILE",
        "--port-file",
        file_path,
        "once listening, write the port there (for port 0)",
        metavar="FILE",
        default="none",
    ),
    Option(
        "public_url",
        "LEC_KG_PUBLIC_URL",
        "--public-url",
        public_url,
        "URL people reach the service at (https://kg.example.org), for the IRIs it writes "
        "about itself",
        metavar="URL",
        default="http://HOST:PORT",
    ),
    Option(
        "workers",
        "LEC_KG_WORKERS",
        "--workers",
        whole(1, 256),
        "server processes sharing the port (one per core is fastest)",
    ),
    Option(
        "query_workers",
        "LEC_KG_QUERY_WORKERS",
        "--query-workers",
        whole(0, 256, " (0: automatic)"),
        "query processes per server process; 0: automatic, max(2, cores) with one server "
        "process, cores // workers (at least 2) with several",
    ),
    Option(
        "query_timeout_s",
        "LEC_KG_QUERY_TIMEOUT",
        "--query-timeout",
        duration(86400),
        "seconds a query may run before it is stopped (503)",
        ("serve", "query"),
        "SECONDS",
    ),
    Option(
        "query_slice_s",
        "LEC_KG_QUERY_SLICE",
        "--query-slice",
        duration(3600),
        "seconds after which a running query counts as long-running",
        metavar="SECONDS",
    ),
    Option(
        "long_query_slots",
        "LEC_KG_LONG_QUERY_SLOTS",
        "--long-query-slots",
        whole(0, 1024, " (0: automatic)"),
        "long-running queries at once; 0: one fewer than the query processes",
    ),
    Option(
        "long_queries_per_client",
        "LEC_KG_LONG_QUERIES_PER_CLIENT",
        "--long-queries-per-client",
        whole(1, 1024),
        "long-running queries one client may have at once (past it: 429)",
    ),
    Option(
        "max_waiting_queries",
        "LEC_KG_MAX_WAITING_QUERIES",
        "--max-waiting-queries",
        whole(0, 100_000),
        "queries waiting for a free query process, overall (past it: 503)",
    ),
    Option(
        "max_waiting_per_client",
        "LEC_KG_MAX_WAITING_PER_CLIENT",
        "--max-waiting-per-client",
        whole(0, 100_000),
        "queries waiting for a free query process, per client (past it: 429)",
    ),
    Option(
        "retry_after_s",
        "LEC_KG_RETRY_AFTER",
        "--retry-after",
        duration(86400, whole_seconds=True),
        "seconds a busy answer (429, 503) asks the client to wait (Retry-After)",
        metavar="SECONDS",
    ),
    Option(
        "worker_memory_mb",
        "LEC_KG_WORKER_MEMORY_MB",
        "--worker-memory-mb",
        size("MiB", 2**40, "MiB"),
        "address space of each query process in MiB; a query past it is answered 507 "
        "(0: no ceiling)",
        metavar="MB",
    ),
    Option(
        "max_body_bytes",
        "LEC_KG_MAX_BODY",
        "--max-body",
        size("", 2**30, low_bytes=1),
        "largest request body in bytes, or with a unit (1MB); past it: 413",
        metavar="SIZE",
    ),
    Option(
        "max_query_chars",
        "LEC_KG_MAX_QUERY_CHARS",
        "--max-query-chars",
        whole(1, 100_000_000),
        "longest query or update text, in characters",
    ),
    Option(
        "max_result_rows",
        "LEC_KG_MAX_RESULT_ROWS",
        "--max-result-rows",
        whole(1, 100_000_000),
        "rows a result is cut at (header X-LEC-Truncated)",
        ("serve", "query"),
    ),
    Option(
        "result_cache_bytes",
        "LEC_KG_RESULT_CACHE_MB",
        "--result-cache-mb",
        size("MiB", 2**40),
        "memory in MiB for results kept until the data changes (0 keeps none)",
        metavar="MB",
        show=_mib,
    ),
    Option(
        "inference_budget",
        "LEC_KG_INFERENCE_BUDGET",
        "--inference-budget",
        whole(0, 100_000_000),
        "inferred triples one write may derive or withdraw; over it the write is refused",
        ("serve", "add"),
    ),
    Option(
        "max_update_quads",
        "LEC_KG_MAX_UPDATE_QUADS",
        "--max-update-quads",
        whole(1, 100_000_000),
        "quads one update may remove and add, all told",
        ("serve", "add"),
    ),
    Option(
        "compact_after",
        "LEC_KG_COMPACT_AFTER",
        "--compact-after",
        whole(0, 100_000_000),
        "journaled writes after which a start folds the journal into a snapshot (0: only "
        "`lec-kg compact` does)",
        ("serve", "export", "add"),
    ),
)


def load_settings(
    environ: Mapping[str, str] | None = None, flags: Mapping[str, str] | None = None
) -> Settings:
    """Settings from `OPTIONS`: the defaults, then the environment, then the flags (by option
    name, as text); SettingError on the first value that cannot be used. An empty environment
    variable counts as unset."""
    env = os.environ if environ is None else environ
    given = flags or {}
    settings = Settings()
    for layer in ("env", "flag"):
        for option in OPTIONS:
            if layer == "env":  # a flag overrides its variable, which is then not read at all
                text = None if option.name in given else env.get(option.env) or None
            else:
                text = given.get(option.name)
            if text is None:
                continue
            where = option.env if layer == "env" else option.flag
            try:
                value = option.parse(text)
            except ValueError as exc:
                raise SettingError(f"{where}={text!r}: {exc}") from None
            if option.name == "memory":
                settings = replace(settings, data_dir=None) if value else settings
            else:
                field_value: dict[str, Any] = {option.name: value}
                settings = replace(settings, **field_value)
    return settings


def default_text(option: Option, defaults: Settings | None = None) -> str:
    """The option's default as the table and `--help` show it."""
    if option.default is not None:
        return option.default
    return f"`{option.show(getattr(defaults or Settings(), option.name))}`"


def settings_table() -> str:
    """The README's table of settings, one row per option, in `OPTIONS` order."""
    defaults = Settings()
    rows = [
        "| environment variable | flag | default | what it sets |",
        "| --- | --- | --- | --- |",
    ]
    for o in OPTIONS:
        flag = "—"
        if o.flag is not None:
            takes = f"{o.flag} {o.metavar}".strip()
            where = "all commands" if o.commands == ALL_COMMANDS else ", ".join(o.commands)
            flag = f"`{takes}` ({where})"
        rows.append(f"| `{o.env}` | {flag} | {default_text(o, defaults)} | {o.help} |")
    return "\n".join(rows) + "\n"
