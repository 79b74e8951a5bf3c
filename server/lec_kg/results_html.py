"""Query results as an HTML page for people in a browser (escaped by the template engine)."""

from __future__ import annotations

import json
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

# One read-only template environment for the process: compiled templates, no request state.
TEMPLATES = Environment(
    loader=PackageLoader("lec_kg", "templates"),
    autoescape=select_autoescape(["html"]),
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
