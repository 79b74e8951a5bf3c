"""The works evidence passages are part of, and the "cite this" line a page gives a passage."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from pyoxigraph import BlankNode, NamedNode

from .describe import select, sparql_iri
from .engine_api import Engine

DCTERMS = "http://purl.org/dc/terms/"
DOCUMENTS = """PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?doc ?title ?issued ?name WHERE {{ VALUES ?doc {{ {docs} }}
  OPTIONAL {{ ?doc dcterms:title ?title }} OPTIONAL {{ ?doc dcterms:issued ?issued }}
  OPTIONAL {{ ?doc dcterms:creator/rdfs:label ?name }} }}"""


def works_of(engine: Engine, triples: Iterable[Any], labels: dict[str, str]) -> dict[str, dict]:
    """Title, year and authors of each work an evidence passage is part of."""
    iris = {
        t.object.value
        for t in triples
        if t.predicate.value == DCTERMS + "isPartOf"
        and isinstance(t.subject, BlankNode)
        and isinstance(t.object, NamedNode)
    }
    if not iris:
        return {}
    rows = select(engine, DOCUMENTS.format(docs=" ".join(sparql_iri(i) for i in sorted(iris))))
    works: dict[str, dict] = {i: {"title": None, "year": None, "authors": set()} for i in iris}
    for row in rows:
        work = works[row["doc"]["value"]]
        if "title" in row:
            work["title"] = row["title"]["value"]
        if "issued" in row:
            work["year"] = row["issued"]["value"][:4]
        if "name" in row:
            work["authors"].add(row["name"]["value"])
        work["label"] = labels.get(row["doc"]["value"])
    return works


def cite(work: dict | None, page: str, iri: str, today: date) -> str:
    """Authors (year). Title, p. N. <IRI>, accessed YYYY-MM-DD."""
    parts = []
    if work:
        authors = sorted(work["authors"], key=lambda n: (n.split()[-1], n))
        names = "; ".join(f"{n.split()[-1]}, {' '.join(n.split()[:-1])}" for n in authors)
        head = names or "Anonymous"
        title = work["title"] or work.get("label") or ""
        parts.append(f"{head} ({work['year'] or 'n.d.'}). {title}.")
    if page:
        parts.append(f"p. {page}.")
    parts.append(f"{iri}, accessed {today.isoformat()}.")
    return " ".join(p for p in parts if p)
