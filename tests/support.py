"""Helpers the tests share: where the project's files are, the source text by page, and the
timeout every test's HTTP request to a live server uses."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SOURCE_TEXT = ROOT / "sources" / "merics-china-monitor-2017-01-18.txt"
# A write takes seconds on a loaded two-core machine; httpx's 5 s default fails such a test for
# no fault of the code. 60 s only guards against a request that never ends.
TIMEOUT = httpx.Timeout(60.0)


@cache
def pages() -> dict[int, str]:
    """Page number -> page text; line N of the source is `| N<text of page N>`."""
    out = {}
    lines = SOURCE_TEXT.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        prefix = f"| {number}"
        if not line.startswith(prefix):
            raise ValueError(f"line {number} of the source does not start with {prefix!r}")
        out[number] = line[len(prefix) :]
    return out
