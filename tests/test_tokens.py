"""Named write tokens: the `name:sha256hex` lines, the single token as `default`, and the
answer a request gets (401, 403, or the token's name), the file read again when it changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lec_kg.auth import check_write_access
from lec_kg.config import Settings, load_settings
from lec_kg.errors import Forbidden, NotReady, Unauthorized
from lec_kg.tokens import TokenFileError, TokenRing, digest, token_line


def test_lines_from_the_file_and_the_variable_and_the_single_token(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"# comment\n\n{token_line('alice', 'a-secret')}\n")
    ring = TokenRing.load("s-secret", f"{token_line('bob', 'b-secret')},", file)
    assert ring.names() == ["alice", "bob", "default"]
    assert [ring.identify(t) for t in ("a-secret", "b-secret", "s-secret")] == [
        "alice",
        "bob",
        "default",
    ]
    assert ring.identify("a-secre") is None and ring.identify("") is None
    assert ring.digests["alice"] == digest("a-secret")  # only the hash is held


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("alice", "expected name:sha256hex"),
        ("alice:1234", "64 hex digits"),
        ("al ice:" + "0" * 64, "expected name:sha256hex"),
        (f"a:{'0' * 64}\na:{'1' * 64}", "given twice"),
    ],
)
def test_a_bad_line_is_refused_naming_where_never_a_token(text: str, words: str) -> None:
    with pytest.raises(TokenFileError) as refused:
        TokenRing.load(None, text)
    assert words in str(refused.value) and "LEC_KG_WRITE_TOKENS" in str(refused.value)


def test_requests_get_401_403_or_the_name(tmp_path: Path) -> None:
    file = tmp_path / "tokens"
    file.write_text(token_line("alice", "a-secret") + "\n")
    settings = Settings(write_tokens_file=file)
    assert settings.writable
    assert check_write_access("Bearer a-secret", settings) == "alice"
    with pytest.raises(Unauthorized):
        check_write_access(None, settings)
    with pytest.raises(Unauthorized):
        check_write_access("Basic a-secret", settings)
    with pytest.raises(Forbidden):
        check_write_access("Bearer b-secret", settings)
    # Revoked and replaced in the file: no restart needed.
    file.write_text(token_line("bob", "b-secret") + "\n")
    stamp = file.stat().st_mtime_ns + 1_000_000
    os.utime(file, ns=(stamp, stamp))
    assert check_write_access("Bearer b-secret", settings) == "bob"
    with pytest.raises(Forbidden):
        check_write_access("Bearer a-secret", settings)
    file.write_text("broken\n")
    os.utime(file, ns=(stamp + 1_000_000, stamp + 1_000_000))
    with pytest.raises(NotReady):
        check_write_access("Bearer b-secret", settings)
    with pytest.raises(Forbidden) as off:
        check_write_access("Bearer a-secret", Settings())
    assert "disabled" in off.value.detail


def test_the_tokens_are_settings_and_stay_out_of_the_child_json(tmp_path: Path) -> None:
    line = token_line("alice", "a-secret")
    settings = load_settings({"LEC_KG_WRITE_TOKENS": line})
    assert settings.write_tokens == line and settings.writable
    text = settings.to_json()
    assert line not in text
    back = Settings.from_json(text, environ={"LEC_KG_WRITE_TOKENS": line})
    assert back == settings
