"""Settings: read in one place (environment and command line) and passed in everywhere else."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from urllib.parse import urlsplit

from platformdirs import user_data_dir

DEFAULT_BASE_IRI = "https://w3id.org/lec-kg/"
TOKEN_ENV = "LEC_KG_WRITE_TOKEN"
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
    host: str = "127.0.0.1"
    port: int = 8000
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
    workers: int = 1
    # Inferred triples one write may derive or withdraw; over it the write is refused, so its
    # cost cannot be chosen by a writer (the shipped data's whole closure is about 3,000).
    inference_budget: int = 100_000
    max_update_quads: int = 200_000  # quads one update may remove and add, all told
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
    def writable(self) -> bool:
        """Writing is on only when a non-empty write token is configured."""
        return bool(self.write_token)

    def to_json(self) -> str:
        """The settings as JSON for a child process, without the write token (the child reads
        that from its environment, as this process did)."""
        fields = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        fields.pop("write_token")
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str, environ: dict[str, str] | None = None) -> Settings:
        """Settings written by `to_json`, with the write token from the environment."""
        fields = json.loads(text)
        for name in ("source_dir", "data_dir"):
            if fields.get(name) is not None:
                fields[name] = Path(fields[name])
        env = os.environ if environ is None else environ
        return cls(**fields, write_token=env.get(TOKEN_ENV) or None)

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the given fields changed; None values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def settings_from_env(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from the environment, then the command line's overrides on top."""
    env = os.environ if environ is None else environ
    base = Settings(write_token=env.get(TOKEN_ENV) or None)
    if env.get("LEC_KG_BASE_IRI"):
        base = replace(base, base_iri=env["LEC_KG_BASE_IRI"])
    if env.get("LEC_KG_RESULT_CACHE_MB"):
        mb = float(env["LEC_KG_RESULT_CACHE_MB"])
        base = replace(base, result_cache_bytes=int(mb * 2**20))
    if env.get("LEC_KG_PUBLIC_URL"):
        base = replace(base, public_url=env["LEC_KG_PUBLIC_URL"])
    if env.get("LEC_KG_QUERY_TIMEOUT"):
        base = replace(base, query_timeout_s=float(env["LEC_KG_QUERY_TIMEOUT"]))
    if env.get("LEC_KG_WORKER_MEMORY_MB"):
        base = replace(base, worker_memory_mb=int(env["LEC_KG_WORKER_MEMORY_MB"]))
    return base.with_overrides(**overrides)


def public_url_problem(url: str | None) -> str | None:
    """Why `url` cannot be the service's public URL (None when it can, or when it is unset)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"the public URL must be an absolute http:// or https:// URL, not {url!r}"
    if parts.query or parts.fragment or any(c.isspace() or ord(c) < 32 for c in url):
        return f"the public URL must have no query, fragment or spaces: {url!r}"
    return None
