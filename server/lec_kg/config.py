"""Settings: read in one place (environment and command line) and passed in everywhere else."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from platformdirs import user_data_dir

DEFAULT_BASE_IRI = "https://w3id.org/lec-kg/"
TOKEN_ENV = "LEC_KG_WRITE_TOKEN"


def default_source_dir() -> Path:
    """The checkout holding ontology/, graph/ and shapes/ (two levels above this package)."""
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
    workers: int = 1

    @property
    def in_memory(self) -> bool:
        """True when no data directory is set: the store lives in memory only."""
        return self.data_dir is None

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
    if env.get("LEC_KG_QUERY_TIMEOUT"):
        base = replace(base, query_timeout_s=float(env["LEC_KG_QUERY_TIMEOUT"]))
    return base.with_overrides(**overrides)
