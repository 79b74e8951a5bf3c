"""Write access: a Bearer token compared in constant time with the configured one."""

from __future__ import annotations

import hmac

from .config import TOKEN_ENV, Settings
from .errors import Forbidden, Unauthorized

REALM = "lec-kg"


def check_write_access(authorization: str | None, settings: Settings) -> None:
    """Pass when the Authorization header carries the write token; raise 401 or 403 otherwise."""
    if not settings.writable or settings.write_token is None:
        raise Forbidden(
            f"writing is disabled on this server: it was started without {TOKEN_ENV} set"
        )
    if not authorization:
        raise Unauthorized("an update needs the write token: send Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must use the Bearer scheme with the token")
    if not hmac.compare_digest(token.encode("utf-8"), settings.write_token.encode("utf-8")):
        raise Forbidden("the write token is not valid")


def challenge() -> dict[str, str]:
    """The WWW-Authenticate header that goes with a 401."""
    return {"WWW-Authenticate": f'Bearer realm="{REALM}"'}
