"""The HTML pages for people: query results and the service description.

One Jinja environment renders them, escaping every value (autoescape), and one rule decides
what may be a link (`http_link`, the `link` filter and the `anchor` macro): http(s) and
relative targets only, so a `javascript:` IRI in the data is shown, never followed. The pages
carry no script; their one stylesheet is inline, allowed by its hash in `page_policy`, the
Content-Security-Policy `security_headers` gives every page.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

# A scheme is a letter, then letters, digits, + - . up to the first colon (RFC 3986 3.1).
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
LINK_SCHEMES = ("http", "https")


def http_link(value: object) -> str | None:
    """`value` when it may be a link's target: an http(s) URL, or a reference relative to this
    service (no scheme). None for any other scheme (javascript:, data:, vbscript:...), and for
    text with spaces, control characters or backslashes, which browsers strip or rewrite before
    they read the scheme ("java\\tscript:" runs as javascript:)."""
    if value is None:
        return None
    text = str(value)
    if not text or "\\" in text or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
        return None
    scheme = _SCHEME.match(text)
    if scheme is None:
        return text
    return text if scheme.group()[:-1].lower() in LINK_SCHEMES else None


# One read-only template environment for the process: compiled templates, no request state.
TEMPLATES = Environment(
    loader=PackageLoader("lec_kg", "templates"),
    autoescape=select_autoescape(["html"]),
)
TEMPLATES.filters["link"] = http_link
STYLE = TEMPLATES.get_template("style.css").render()  # what the pages inline, byte for byte
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()


def page_policy(public_url: str | None) -> str:
    """The Content-Security-Policy of the pages rendered here: no script, no frames, nothing
    loaded from elsewhere, the inline stylesheet by its hash, forms sent to this service."""
    form_targets = "'self'"
    if public_url:
        parts = urlsplit(public_url)
        form_targets += f" {parts.scheme}://{parts.netloc}"
    return (
        f"default-src 'none'; style-src '{STYLE_HASH}'; img-src 'self'; "
        f"form-action {form_targets}; base-uri 'none'; frame-ancestors 'none'"
    )


def render(endpoint: str, query: str, form: str, body: bytes, truncated: bool) -> bytes:
    """The page for a result serialized as SPARQL JSON (SELECT/ASK) or Turtle (CONSTRUCT)."""
    context: dict[str, Any] = {
        "endpoint": endpoint,
        "query": query,
        "truncated": truncated,
        "boolean": None,
        "turtle": None,
        "variables": [],
        "rows": [],
    }
    if form in ("construct", "describe"):
        context["turtle"] = body.decode("utf-8")
    else:
        document = json.loads(body)
        if "boolean" in document:
            context["boolean"] = bool(document["boolean"])
        else:
            variables = document["head"].get("vars", [])
            bindings = document["results"]["bindings"]
            context["variables"] = variables
            context["rows"] = [[_cell(b.get(v)) for v in variables] for b in bindings]
    return TEMPLATES.get_template("results.html").render(context).encode("utf-8")


def render_service(
    endpoint: str,
    endpoint_iri: str,
    version: str | None,
    licences: list[str],
    graphs: list[str],
    shapes: list[str],
) -> bytes:
    """The service description's page: what this is, and a form that sends a query."""
    context = {
        "endpoint": endpoint,
        "endpoint_iri": endpoint_iri,
        "version": version,
        "licences": licences,
        "graphs": graphs,
        "shapes": shapes,
        "example": (
            "SELECT ?class (COUNT(?s) AS ?n) WHERE { ?s a ?class } GROUP BY ?class "
            "ORDER BY DESC(?n)"
        ),
    }
    return TEMPLATES.get_template("service.html").render(context).encode("utf-8")


def _cell(term: dict[str, str] | None) -> dict[str, str] | None:
    """A SPARQL JSON term with its language tag or datatype under plain keys."""
    if term is None:
        return None
    return {
        "type": term["type"],
        "value": term["value"],
        "lang": term.get("xml:lang", ""),
        "datatype": term.get("datatype", ""),
    }
