"""Write access: a Bearer token matched against the named write tokens (`tokens`).

`check_write_access` answers with the token's name, which is what a write is attributed to; the
token itself goes no further than this module (never into a record or a log line).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from .config import TOKEN_ENV, TOKENS_ENV, Settings
from .errors import Forbidden, NotReady, Unauthorized
from .tokens import TokenFileError, TokenRing

REALM = "lec-kg"


def check_write_access(authorization: str | None, settings: Settings) -> str:
    """The name of the write token the Authorization header carries; 401 without one, 403 for
    a token that is not one of them (or when writing is off)."""
    if not settings.writable:
        raise Forbidden(
            f"writing is disabled on this server: it was started without {TOKEN_ENV}, "
            f"{TOKENS_ENV} or a token file"
        )
    if not authorization:
        raise Unauthorized("a write needs a write token: send Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must use the Bearer scheme with the token")
    name = token_ring(settings).identify(token)
    if name is None:
        raise Forbidden("the write token is not valid")
    return name


def token_ring(settings: Settings) -> TokenRing:
    """The tokens of these settings; the token file is read again when it changes, so a token
    can be added or revoked without a restart."""
    stamp = None
    if settings.write_tokens_file is not None:
        try:
            stamp = os.stat(settings.write_tokens_file).st_mtime_ns
        except OSError:
            stamp = None
    try:
        return _ring(settings.write_token, settings.write_tokens, settings.write_tokens_file, stamp)
    except TokenFileError as exc:
        raise NotReady(f"the write tokens cannot be read: {exc}") from None


@lru_cache(maxsize=8)
def _ring(single: str | None, lines: str | None, file: Path | None, stamp: int | None) -> TokenRing:
    """The ring, remembered while the settings and the file's modification time are the same."""
    return TokenRing.load(single, lines, file)


def challenge() -> dict[str, str]:
    """The WWW-Authenticate header that goes with a 401."""
    return {"WWW-Authenticate": f'Bearer realm="{REALM}"'}
