"""Characters XML 1.0 cannot hold, refused where they would enter the store.

XML 1.0 (§2.2) has no way to write U+0000-U+0008, U+000B, U+000C, U+000E-U+001F, U+FFFE,
U+FFFF or a lone surrogate, not even as a character reference; a literal holding one could
never be exported as RDF/XML (`/dump.rdf` would fail for as long as it is stored). So a write
refuses them: in a body (`rdf_input`), an update's text, and the text a submission records
(its message, source, a withdrawal's reason).
"""

from __future__ import annotations

import re

FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def forbidden_in(text: str) -> re.Match[str] | None:
    """The first character of `text` XML 1.0 cannot hold, if any."""
    return FORBIDDEN.search(text)


def codepoint(char: str) -> str:
    """U+XXXX, as a message names a character."""
    return f"U+{ord(char):04X}"


def escapes_of(char: str) -> re.Pattern[str]:
    """The escapes that write `char` in Turtle, N-Triples, SPARQL and JSON strings."""
    return re.compile(rf"\\u{ord(char):04x}|\\U{ord(char):08x}", re.IGNORECASE)
