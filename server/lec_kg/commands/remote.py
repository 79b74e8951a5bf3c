"""The command line's client of a running service (`--url`): one HTTP request, its answer.

Only http(s) URLs; the write token comes from LEC_KG_WRITE_TOKEN, never from a flag. Standard
library only (urllib), with a timeout, no redirects followed (a token is never sent elsewhere).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from ..config import TOKEN_ENV

TIMEOUT_S = 120.0
# File name ending -> Content-Type of the body (`rdf_input` reads these).
SUFFIXES = {
    ".ttl": "text/turtle",
    ".trig": "application/trig",
    ".nt": "application/n-triples",
    ".nq": "application/n-quads",
    ".jsonld": "application/ld+json",
    ".json": "application/ld+json",
    ".rdf": "application/rdf+xml",
    ".owl": "application/rdf+xml",
    ".xml": "application/rdf+xml",
}


class RemoteError(Exception):
    """The service could not be reached, or the URL cannot be used."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    def detail(self) -> str:
        """The error's detail (the service's JSON), or the body's start."""
        try:
            return str(self.json().get("detail") or self.body[:500].decode("utf-8", "replace"))
        except (ValueError, AttributeError):
            return self.body[:500].decode("utf-8", "replace")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def media_type_of(path: Path) -> str:
    """The Content-Type a data file is sent with, by its ending (Turtle when unknown)."""
    return SUFFIXES.get(path.suffix.lower(), "text/turtle")


def request(
    method: str,
    base: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    accept: str = "application/json",
    token: bool = False,
) -> Answer:
    """One request to the service at `base`; HTTP errors are answers too."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RemoteError(f"--url {base!r}: expected an http:// or https:// URL")
    url = base.rstrip("/") + path
    if params:
        url += "?" + urlencode({k: v for k, v in params.items() if v})
    headers = {"Accept": accept}
    if content_type:
        headers["Content-Type"] = content_type
    if token:
        secret = os.environ.get(TOKEN_ENV)
        if not secret:
            raise RemoteError(f"set {TOKEN_ENV} to the write token to write to {base}")
        headers["Authorization"] = f"Bearer {secret}"
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=TIMEOUT_S) as reply:
            return Answer(reply.status, reply.read(), dict(reply.headers))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read(), dict(exc.headers or {}))
    except (urllib.error.URLError, OSError) as exc:
        raise RemoteError(f"cannot reach {base}: {getattr(exc, 'reason', exc)}") from None
