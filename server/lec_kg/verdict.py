"""The answer to a submission: does it conform, and what to fix, node by node.

From the shapes' report on the store as it would be after a change (`Engine.check`, or the
report a refused `Engine.change` carries), keep every Violation and the Warnings and Infos about
the nodes the submission touches; group them by focus node, most serious first, each result with
the shape's message, the path, the offending value and the line of the body that names the
node (when the parser knows it). The same findings render as a SHACL sh:ValidationReport in
Turtle or JSON-LD (`as_rdf`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from typing import Any

from pyoxigraph import BlankNode, NamedNode, Quad
from rdflib import URIRef

from .findings import SEVERITY_ORDER, Finding, ValidationReport, term_text
from .gate import to_rdflib
from .namespaces import CANONICAL_BASE
from .negotiation import MediaType, by_name

REPORT_JSON = MediaType("application/json", "results", ("json",))
REPORT_OFFERS: tuple[MediaType, ...] = (
    REPORT_JSON,
    *(m for m in (by_name("text/turtle", "graph"), by_name("application/ld+json", "graph")) if m),
)


def touched_nodes(quads: Iterable[Quad]) -> set[str]:
    """The nodes a change names, as the findings write them (IRIs bare, blank nodes _:x)."""
    out = set()
    for q in quads:
        for term in (q.subject, q.object):
            if isinstance(term, NamedNode):
                out.add(term.value)
            elif isinstance(term, BlankNode):
                out.add(f"_:{term.value}")
    return out


def render(
    report: Any,
    media: MediaType,
    *,
    home: str = CANONICAL_BASE,
    quads: Iterable[Quad] = (),
    lines: Mapping[str, int] | None = None,
    graphs: Collection[str] | None = None,
    detail: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """The verdict on a change as a client reads it, in `media` (`REPORT_OFFERS`): JSON
    grouped by node (`grouped`, with `detail` when the change was refused), or an
    sh:ValidationReport in Turtle or JSON-LD. Its IRIs are under `home`, the deployment's base
    (the shapes judge canonical IRIs); `quads` are what the request sent (the nodes it touches,
    the values a finding names), `lines` the line each node is described on, `graphs` (when
    known) the graphs of the store: a finding's source is named only when it is one of them."""
    sent = list(quads)
    kept = None
    if report is not None:
        kept = relevant(for_client(report, home, sent, graphs), touched_nodes(sent))
    if detail is not None:
        detail = detail.replace(CANONICAL_BASE, home)
    if media.name != "application/json":
        return as_rdf(kept, media)
    body = grouped(kept, line_of_lines(lines or {}), detail=detail)
    if detail is not None:
        body["conforms"] = False
    body = {**(extra or {}), **body}
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def for_client(
    report: Any, home: str, quads: list[Quad], graphs: Collection[str] | None = None
) -> Any:
    """The report under the deployment's base; each finding's source as the IRI of its graph,
    and none when that graph does not exist (the one the request was to write: a dry run, or
    a refused write); and for a finding whose value is its own focus node (a SPARQL
    constraint naming no ?value), the object the request gave that property, if just one."""
    if not isinstance(report, ValidationReport):
        return report
    report = report.rebased(CANONICAL_BASE, home)
    own = {q.graph_name.value for q in quads if isinstance(q.graph_name, NamedNode)}
    objects: dict[tuple[str, str], list[Quad]] = {}
    for q in quads:
        objects.setdefault((term_text(to_rdflib(q.subject)), q.predicate.value), []).append(q)
    out = []
    for f in report.findings:
        source = _graph_of(f.source_file, home)
        if source is None or source in own or (graphs is not None and source not in graphs):
            f = replace(f, source_file=None)
        else:
            f = replace(f, source_file=f"<{source}>")
        if f.value is not None and f.value == f.focus and isinstance(f.path_node, URIRef):
            given = objects.get((term_text(f.focus), str(f.path_node)), [])
            if len(given) == 1:
                f = replace(f, value=to_rdflib(given[0].object))
        out.append(f)
    return ValidationReport(tuple(out), path_graph=report.path_graph)


def _graph_of(source: str | None, home: str) -> str | None:
    """The graph IRI a finding's source names: `<iri>`, or `graph/NAME.ttl` for a graph of
    facts (the engine names those as the files they are shipped in, `writes._source_name`)."""
    if source and source.startswith("<") and source.endswith(">"):
        return source[1:-1]
    if source and source.startswith("graph/") and source.endswith(".ttl"):
        return f"{home}graph/facts/{source[len('graph/') : -len('.ttl')]}"
    return None


def relevant(report: Any, touched: set[str]) -> ValidationReport:
    """Every Violation, and the Warnings and Infos about the touched nodes."""
    kept = tuple(
        f for f in report.findings if f.severity == "Violation" or term_text(f.focus) in touched
    )
    return ValidationReport(kept, path_graph=getattr(report, "path_graph", None) or _empty())


def _empty() -> Any:
    from rdflib import Graph

    return Graph()


def grouped(
    report: ValidationReport | None,
    lines: Mapping[str, int],
    *,
    detail: str | None = None,
    conforms: bool | None = None,
) -> dict[str, Any]:
    """The JSON answer: conforms, counts, and the results grouped by node, most serious first.
    `detail` (and `conforms` False) when the change was refused before the shapes judged it."""
    findings: tuple[Finding, ...] = report.findings if report is not None else ()
    nodes: dict[str, list[Finding]] = {}
    for f in findings:
        nodes.setdefault(term_text(f.focus), []).append(f)
    groups: list[dict[str, Any]] = []
    for focus, found in nodes.items():
        found.sort(key=lambda f: (SEVERITY_ORDER[f.severity], f.path or "", f.message))
        groups.append(
            {
                "focus": focus,
                "line": lines.get(focus),
                "context": found[0].context,
                "severity": found[0].severity,
                "results": [
                    {
                        "severity": f.severity,
                        "message": f.message,
                        "path": f.path,
                        "value": None if f.value is None else term_text(f.value),
                        "shape": f.shape,
                        "line": lines.get(focus),
                    }
                    for f in found
                ],
            }
        )
    groups.sort(key=lambda g: (SEVERITY_ORDER[g["severity"]], g["line"] or 0, g["focus"]))
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITY_ORDER}
    ok = (report.conforms if report is not None else False) if conforms is None else conforms
    body: dict[str, Any] = {"conforms": ok, "counts": counts, "nodes": groups}
    if detail is not None:
        body["detail"] = detail
    return body


def as_rdf(report: ValidationReport | None, media: MediaType) -> bytes:
    """The findings as an sh:ValidationReport in Turtle or JSON-LD (rdflib, nothing fetched)."""
    if report is None:
        report = ValidationReport((), path_graph=_empty())
    fmt = "json-ld" if media.name == "application/ld+json" else "turtle"
    return report.to_graph().serialize(format=fmt, encoding="utf-8")


def line_of_lines(lines: Mapping[str, int]) -> dict[str, int]:
    """`Parsed.lines` (N-Triples keys, <iri>) keyed as findings write nodes (bare IRIs)."""
    return {k[1:-1] if k.startswith("<") else k: v for k, v in lines.items()}


def as_text(body: Mapping[str, Any], where: str) -> str:
    """The JSON answer (`grouped`) as lines a person reads: `where:line: severity: focus — path
    — message (value) [shape]`, then the verdict."""
    lines = []
    for node in body.get("nodes", []):
        for r in node["results"]:
            at = f"{where}:{r['line']}" if r.get("line") else where
            focus = f"[{node['context']}]" if node.get("context") else node["focus"]
            value = "" if r.get("value") is None else f" (value: {r['value']})"
            shape = str(r.get("shape", "")).rpartition("#")[2]
            lines.append(
                f"{at}: {r['severity']}: {focus} — {r.get('path') or '(node)'} — "
                f"{r['message']}{value} [{shape}]"
            )
    if body.get("detail") and not body.get("nodes"):
        lines.append(f"{where}: {body['detail']}")
    c = body.get("counts", {})
    verdict = "conforms" if body.get("conforms") else "does not conform"
    lines.append(
        f"{where}: {verdict}: {c.get('Violation', 0)} violation(s), {c.get('Warning', 0)} "
        f"warning(s), {c.get('Info', 0)} info(s)"
    )
    return "\n".join(lines)
