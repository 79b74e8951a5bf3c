"""The gate between the store and the shapes: adapting the validator and reading its reports.

The engine hands the validator rdflib graphs; the shapes name the project's canonical IRIs, so
data served under a deployment's own base is moved back under the canonical base first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from pyoxigraph import BlankNode, Literal, NamedNode, Quad
from rdflib import BNode as RBNode
from rdflib import Graph, URIRef
from rdflib import Literal as RLiteral
from rdflib.term import Node

from .findings import node_text
from .namespaces import CANONICAL_BASE
from .sources import rebase, rebase_term

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

# (data, source_of, submission=False) -> a ValidationReport; `submission`: the stricter rules
# for newly submitted facts (shapes marked lecsh:submissionOnly) are on.
ValidateFn = Callable[..., Any]


def validate_fn(validator: Any, base: str = CANONICAL_BASE) -> ValidateFn:
    """Adapt a Validator (with .validate) or a plain callable to (graph, source_of) -> report.

    The shapes name the canonical IRIs; data served under another base is moved back under the
    canonical one before it is judged, or no shape would find its targets.
    """
    method = getattr(validator, "validate", None)

    def judge(graph: Graph, source_of: Mapping[Node, str], submission: bool = False) -> Any:
        if callable(method):
            return method(graph, source_of=source_of, submission=submission)
        return validator(graph)

    if base == CANONICAL_BASE:
        return judge

    def judge_canonical(
        graph: Graph, source_of: Mapping[Node, str], submission: bool = False
    ) -> Any:
        home = rebase(graph, base, CANONICAL_BASE)
        moved = {rebase_term(n, base, CANONICAL_BASE): f for n, f in source_of.items()}
        return judge(home, moved, submission)

    return judge_canonical


def report_summary(report: Any, what: str) -> str:
    violations = [f for f in report.findings if getattr(f, "severity", "Violation") == "Violation"]
    text = f"{what} breaks {len(violations)} shape constraint(s)"
    if violations:  # the first in the report's own order (`findings.finding_order`)
        f = violations[0]
        focus = getattr(f, "focus", None)
        shown = "?" if focus is None else node_text(focus, getattr(f, "context", None))
        path = getattr(f, "path", None) or "(node)"
        text += f"; first: {shown} {path}: {getattr(f, 'message', f)}"
    return text


def report_json(report: Any) -> Any:
    data = report.to_json()
    return json.loads(data) if isinstance(data, str | bytes) else data


def warnings_on(report: Any, changed: list[Quad]) -> tuple[str, ...]:
    """Warnings and infos about the nodes the update touched (not the whole graph's)."""
    touched = {to_rdflib(q.subject) for q in changed}
    out = []
    for f in report.findings:
        if (
            getattr(f, "severity", "") in ("Warning", "Info")
            and getattr(f, "focus", None) in touched
        ):
            shown = node_text(f.focus, getattr(f, "context", None))
            out.append(f"{f.severity}: {shown} {f.path or '(node)'}: {f.message}")
    return tuple(out)


def to_rdflib(term: Any) -> Node:
    if isinstance(term, NamedNode):
        return URIRef(term.value)
    if isinstance(term, BlankNode):
        return RBNode(term.value)
    if isinstance(term, Literal):
        if term.language:
            return RLiteral(term.value, lang=term.language)
        dt = term.datatype.value
        return RLiteral(term.value, datatype=None if dt == XSD_STRING else URIRef(dt))
    raise TypeError(f"cannot convert {term!r}")
