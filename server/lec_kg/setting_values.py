"""The values settings take, read from text: each parser returns the value or raises
ValueError("expected ...") saying what it accepts, which `config.load_settings` turns into a
one-line refusal naming the variable or flag."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

Parser = Callable[[str], object]  # the text of a value -> the value; ValueError("expected ...")

SIZE_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20}
SIZE_UNITS |= {"mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30}
TIME_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "min": 60.0, "h": 3600.0}
NUMBER_WITH_UNIT = re.compile(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-z]*)\s*", re.I)
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _number(text: str, units: Mapping[str, float], expected: str) -> float:
    """A non-negative number with an optional unit, in the unit whose factor is 1."""
    match = NUMBER_WITH_UNIT.fullmatch(text)
    if match is None:
        raise ValueError(f"expected {expected}")
    unit = match[2].lower()
    if unit not in units:
        raise ValueError(f"unknown unit {match[2]!r}: expected {expected}")
    value = float(match[1]) * units[unit]
    if not math.isfinite(value):
        raise ValueError(f"expected {expected}")
    return value


def plain(value: object) -> str:
    """A number as people write it: 30 rather than 30.0, 1048576 rather than 1.04858e+06."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounded(value: float, low: float, high: float, expected: str, above: bool = False) -> None:
    if value < low or value > high or (above and value == low):
        raise ValueError(f"expected {expected}")


def whole(low: int, high: int, meaning: str = "") -> Parser:
    """A whole number from low to high."""
    expected = f"a whole number from {low} to {high}{meaning}"

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise ValueError(f"expected {expected}") from None
        _bounded(value, low, high, expected)
        return value

    return parse


def duration(high: float, whole_seconds: bool = False) -> Parser:
    """Seconds above 0 (at least 0 with whole_seconds), with an optional unit: 30, 2.5s, 500ms."""
    top = plain(float(high))
    expected = (
        f"a whole number of seconds from 0 to {top} (or with a unit: 2s, 1min, 1h)"
        if whole_seconds
        else f"a number of seconds above 0, at most {top} (or with a unit: 2.5s, 500ms, 2min, 1h)"
    )

    def parse(text: str) -> float | int:
        value = _number(text, TIME_UNITS, expected)
        _bounded(value, 0, high, expected, above=not whole_seconds)
        if whole_seconds:
            if value != int(value):
                raise ValueError(f"expected {expected}")
            return int(value)
        return value

    return parse


def size(unit: str, high_bytes: int, result: str = "bytes", low_bytes: int = 0) -> Parser:
    """A size, in `unit` when no unit is given (64, 512KB, 1.5GB; 1 KB = 1024 B), as bytes
    (result "bytes") or whole MiB (result "MiB")."""
    factor = SIZE_UNITS[unit.lower()]
    expected = (
        f"a size in {unit or 'bytes'} (or with a unit: B, KB, MB, GB) from "
        f"{plain(low_bytes / factor)} to {plain(high_bytes / factor)}"
    )

    def parse(text: str) -> int:
        value = _number(text, {**SIZE_UNITS, "": factor}, expected)  # in bytes
        _bounded(value, low_bytes, high_bytes, expected)
        return int(value) if result == "bytes" else int(value // 2**20)

    return parse


def switch(text: str) -> bool:
    """On or off: 1/true/yes/on or 0/false/no/off."""
    if text.strip().lower() in TRUE:
        return True
    if text.strip().lower() in FALSE:
        return False
    raise ValueError("expected 1, true, yes or on (or 0, false, no, off)")


def folder(text: str) -> Path:
    """A folder's path; it may not exist yet, but it may not be a file."""
    if not text.strip():
        raise ValueError("expected the path of a folder")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError("expected a folder, but that path is a file")
    return path


def file_path(text: str) -> Path:
    """A file's path (it need not exist); not a folder."""
    if not text.strip():
        raise ValueError("expected the path of a file")
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError("expected the path of a file, but that path is a folder")
    return path


def host(text: str) -> str:
    """A host name or address to listen on."""
    if not text or any(c.isspace() or c in "/[]" for c in text):
        raise ValueError("expected a host name or IP address (like 127.0.0.1, ::1, 0.0.0.0)")
    return text


def public_url(text: str) -> str:
    """An absolute http(s) URL with no query, fragment or spaces."""
    if public_url_problem(text) is not None:
        raise ValueError("expected an absolute http:// or https:// URL with no query or fragment")
    return text


def base_iri(text: str) -> str:
    """An absolute http(s) IRI ending in '/', the namespace things and terms are minted in."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or not text.endswith("/"):
        raise ValueError("expected an absolute http:// or https:// IRI ending in '/'")
    if parts.query or parts.fragment or any(c.isspace() or c in '<>"{}|\\^`' for c in text):
        raise ValueError('expected an IRI with no query, fragment, spaces or <>"{}|\\^`')
    return text


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
