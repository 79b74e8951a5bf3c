"""Helpers the tests share: where the project's files are, and the source text by page."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NAME = "merics-china-monitor-2017-01-18.txt"


def source_text_path() -> Path:
    """The report's plain text: $LEC_KG_SOURCE_TEXT, else ../shared/source/ beside the checkout."""
    env = os.environ.get("LEC_KG_SOURCE_TEXT")
    return Path(env) if env else ROOT.parent / "shared" / "source" / SOURCE_NAME


@cache
def pages() -> dict[int, str]:
    """Page number -> page text; line N of the source is `| N<text of page N>`."""
    out = {}
    lines = source_text_path().read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        prefix = f"| {number}"
        if not line.startswith(prefix):
            raise ValueError(f"line {number} of the source does not start with {prefix!r}")
        out[number] = line[len(prefix) :]
    return out
