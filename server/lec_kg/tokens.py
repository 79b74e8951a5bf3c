"""Named write tokens: who may write, and under which name each write is recorded.

A token is known by its SHA-256 (hex) only, paired with a name, one `name:sha256hex` a line
(blank lines and `#` comments ignored), from the file `LEC_KG_WRITE_TOKENS_FILE` and the variable
`LEC_KG_WRITE_TOKENS` (lines, or pairs separated by commas). The single token of
`LEC_KG_WRITE_TOKEN` keeps working, under the name `default`. `lec-kg token NAME` makes a new
token and prints the line for it. Names are what writes are attributed to; a token itself is
never stored, recorded or logged.

A token is compared by its digest, in constant time against every entry, so neither a wrong
token nor a near miss shows in the time of the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_NAME = "default"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
DIGEST = re.compile(r"[0-9a-f]{64}\Z")


class TokenFileError(ValueError):
    """A token line cannot be read; the message names the place, never a token."""


def digest(token: str) -> str:
    """The SHA-256 of a token, in lower-case hex: what the token file holds."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_line(name: str, token: str) -> str:
    """The `name:sha256hex` line for a token."""
    return f"{name}:{digest(token)}"


def parse_lines(text: str, where: str) -> dict[str, str]:
    """name -> digest from `name:sha256hex` lines (or comma-separated pairs)."""
    out: dict[str, str] = {}
    for number, raw in enumerate(re.split(r"[\n,]", text), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hexdigest = line.partition(":")
        name, hexdigest = name.strip(), hexdigest.strip().lower()
        if not sep or not NAME.match(name):
            raise TokenFileError(
                f"{where}, entry {number}: expected name:sha256hex with a name of letters, "
                "digits, '.', '_', '@' or '-' (make one with `lec-kg token NAME`)"
            )
        if not DIGEST.match(hexdigest):
            raise TokenFileError(
                f"{where}, entry {number} ({name}): the hash must be 64 hex digits, the "
                "SHA-256 of the token (make one with `lec-kg token NAME`)"
            )
        if name in out:
            raise TokenFileError(f"{where}: the name {name} is given twice")
        out[name] = hexdigest
    return out


@dataclass(frozen=True)
class TokenRing:
    """The write tokens one server accepts: name -> SHA-256 hex digest."""

    digests: Mapping[str, str]

    @classmethod
    def load(
        cls,
        single: str | None = None,
        lines: str | None = None,
        file: Path | None = None,
    ) -> TokenRing:
        """From `LEC_KG_WRITE_TOKEN` (named `default`), `LEC_KG_WRITE_TOKENS` and the file."""
        found: dict[str, str] = {}
        sources: list[tuple[str, str]] = []
        if file is not None:
            try:
                sources.append((file.read_text(encoding="utf-8"), str(file)))
            except OSError as exc:
                raise TokenFileError(
                    f"{file}: cannot read the token file ({exc.strerror})"
                ) from None
        if lines:
            sources.append((lines, "LEC_KG_WRITE_TOKENS"))
        for text, where in sources:
            for name, hexdigest in parse_lines(text, where).items():
                if name in found:
                    raise TokenFileError(f"{where}: the name {name} is given twice")
                found[name] = hexdigest
        if single:
            if DEFAULT_NAME in found:
                raise TokenFileError(
                    f"the name {DEFAULT_NAME} is taken by LEC_KG_WRITE_TOKEN; use another"
                )
            found[DEFAULT_NAME] = digest(single)
        return cls(found)

    def __bool__(self) -> bool:
        return bool(self.digests)

    def names(self) -> list[str]:
        return sorted(self.digests)

    def identify(self, token: str) -> str | None:
        """The name of `token`, or None; every entry is compared, in constant time."""
        offered = digest(token).encode("ascii")
        name = None
        for candidate, hexdigest in self.digests.items():
            if hmac.compare_digest(offered, hexdigest.encode("ascii")):
                name = candidate
        return name
