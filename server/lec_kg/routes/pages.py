"""The pages a newcomer starts from: the home page (/) and browsing by kind (/browse).

From the home page every thing is a few links away: the report's own page, and the kinds of
thing with their members, each member linking to its page (`linked_data`), which links back.
Things are found in every graph but the inferred one, the default graph included (`describe.
asserted`); a kind the ontology does not declare, with no members, is a 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ..describe import asserted, labels_of, select, sparql_iri, sparql_iri_string
from ..errors import BadRequest, NotFound
from ..results_html import TEMPLATES
from ..thing_page import Linker, short_name
from .deps import ready_engine, settings_of
from .linked_data import service_root

router = APIRouter(include_in_schema=False)

MEMBER_CAP = 1000  # members listed on one kind's page; the rest counted

KINDS = """SELECT ?kind (COUNT(DISTINCT ?s) AS ?n) WHERE {{
  {asserted} FILTER(STRSTARTS(STR(?s), {things}))
}} GROUP BY ?kind"""
MEMBERS = """SELECT DISTINCT ?s WHERE {{
  {asserted} FILTER(STRSTARTS(STR(?s), {things}))
}}"""
DECLARED = """SELECT ?t WHERE {{ VALUES ?t {{ <http://www.w3.org/2002/07/owl#Class>
  <http://www.w3.org/2000/01/rdf-schema#Class> }} GRAPH ?g {{ {kind} a ?t }}
  FILTER(STRSTARTS(STR(?g), "{base}graph/ontology/")) }} LIMIT 1"""
REPORTS = """SELECT ?r WHERE {{ GRAPH ?g {{ ?r a {report} }} }} ORDER BY ?r"""


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The home page: what this is, the report, the kinds of thing, the other ways in."""
    engine = ready_engine(request)
    base = settings_of(request).base_iri
    root = service_root(request)
    reports = [
        r["r"]["value"]
        for r in select(engine, REPORTS.format(report=sparql_iri(base + "ontology#Report")))
    ]
    linker = Linker(base, root, labels_of(engine, reports))
    context = {
        "root": root,
        "reports": [linker.link(r) for r in reports],
        "kinds": _kinds(request),
    }
    return HTMLResponse(TEMPLATES.get_template("home.html").render(context))


@router.get("/browse", response_class=HTMLResponse)
def browse(request: Request, kind: str | None = None) -> HTMLResponse:
    """Every kind of thing with its count, or the things of one kind (`kind=<IRI>`)."""
    engine = ready_engine(request)
    base = settings_of(request).base_iri
    root = service_root(request)
    if kind is None:
        context: dict[str, Any] = {"root": root, "kinds": _kinds(request), "kind": None}
        return HTMLResponse(TEMPLATES.get_template("browse.html").render(context))
    if len(kind) > 2000:
        raise BadRequest("kind: an IRI of at most 2,000 characters")
    inferred = sparql_iri(base + "graph/inferred")
    rows = select(
        engine,
        MEMBERS.format(
            asserted=asserted(f"?s a {sparql_iri(kind)}", inferred),
            things=sparql_iri_string(base + "id/"),
        ),
    )
    members = [r["s"]["value"] for r in rows]
    if not members and not select(engine, DECLARED.format(kind=sparql_iri(kind), base=base)):
        raise NotFound(f"the ontology declares no class <{kind[:200]}>", kind=kind[:200])
    linker = Linker(base, root, labels_of(engine, [kind, *members[:MEMBER_CAP]]))
    links = sorted((linker.link(m) for m in members), key=lambda k: k.text.lower())
    context = {
        "root": root,
        "kind": linker.link(kind),
        "members": links[:MEMBER_CAP],
        "total": len(links),
    }
    return HTMLResponse(TEMPLATES.get_template("browse.html").render(context))


def _kinds(request: Request) -> list[dict]:
    """The kinds of thing under /id/, with how many there are, by label."""
    engine = ready_engine(request)
    base = settings_of(request).base_iri
    rows = select(
        engine,
        KINDS.format(
            asserted=asserted("?s a ?kind", sparql_iri(base + "graph/inferred")),
            things=sparql_iri_string(base + "id/"),
        ),
    )
    kinds = [(r["kind"]["value"], int(r["n"]["value"])) for r in rows]
    labels = labels_of(engine, [k for k, _ in kinds])
    root = service_root(request)
    return sorted(
        (
            {
                "label": labels.get(k) or short_name(k),
                "href": f"{root}/browse?kind={quote(k, safe='')}",
                "count": n,
            }
            for k, n in kinds
        ),
        key=lambda d: str(d["label"]).lower(),
    )
