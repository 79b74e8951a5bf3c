"""What the service says about one resource of the graph's own namespaces.

`resource_iri` turns a request path (as the client sent it, percent-encoding and all) into the
IRI it names under the base IRI, or None: only plain slug segments pass (no `..`, no encoded
slash, backslash, NUL or other escapes, nothing longer than MAX_PATH_CHARS), so a path trick is
an unknown thing, never a file. `description` asks the engine, through its normal query path, for
the resource's own statements (with their blank-node evidence passages), from every graph
but the inferred one, the default graph included, the things that link
to it (with their labels), the labels of what it links to, and the `lec:Statement` nodes about
it (certainty, argument, evidence): one CONSTRUCT whose only variable part is an IRI checked by
`sparql_iri`, read back as N-Triples into a set of pyoxigraph triples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pyoxigraph import RdfFormat, Triple, parse

from .engine_api import Engine, QueryRequest
from .errors import BadRequest

MAX_PATH_CHARS = 512
LABEL_BATCH = 200  # IRIs per label query
_SEGMENT = r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*"  # no segment is "." or ".."
SAFE_PATH = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
# Characters an IRIREF may not hold (SPARQL 1.1 grammar [139]), and whitespace.
IRI_FORBIDDEN = re.compile(r'[\x00-\x20<>"{}|^`\\\x7f]')
SERVED_ROOTS = ("id/", "record/", "graph/", "ontology", "shapes")  # what the service resolves

LEC = "ontology#"  # under the base IRI
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_PREF_LABEL = "http://www.w3.org/2004/02/skos/core#prefLabel"
DCTERMS_TITLE = "http://purl.org/dc/terms/title"
LABELS = (RDFS_LABEL, SKOS_PREF_LABEL, DCTERMS_TITLE)

DESCRIPTION = """PREFIX lec: <{lec}>
CONSTRUCT {{
  {x} ?p ?o . ?o ?bp ?bo . ?o ?olp ?ol .
  ?s ?ip {x} . ?s ?slp ?sl .
  ?st ?sp ?so . ?so ?sbp ?sbo . ?so ?solp ?sol .
}}
WHERE {{
  {{ {own} OPTIONAL {{ VALUES ?olp {{ {labels} }} ?o ?olp ?ol FILTER(isIRI(?o)) }} }}
  UNION
  {{ {incoming} FILTER(isIRI(?s)) OPTIONAL {{ VALUES ?slp {{ {labels} }} ?s ?slp ?sl }} }}
  UNION
  {{ {statements}
     OPTIONAL {{ VALUES ?solp {{ {labels} }} ?so ?solp ?sol FILTER(isIRI(?so)) }} }}
}}"""

LABELS_OF = """SELECT ?x ?p ?label WHERE {{
  VALUES ?x {{ {iris} }} VALUES ?p {{ {labels} }} ?x ?p ?label
}}"""


def resource_iri(base_iri: str, raw_path: str) -> str | None:
    """The IRI under `base_iri` that a raw request path (relative to the service root, with its
    leading slash, percent-encoding as sent) names, or None when it names none we serve."""
    if len(raw_path) > MAX_PATH_CHARS or not raw_path.startswith("/"):
        return None
    rest = raw_path[1:]
    if rest in ("ontology", "shapes"):
        return base_iri + rest
    roots = tuple(r if r.endswith("/") else r + "/" for r in SERVED_ROOTS)
    if not rest.startswith(roots) or not SAFE_PATH.fullmatch(rest):
        return None
    return base_iri + rest


def sparql_iri(iri: str) -> str:
    """`<iri>` for a query text; BadRequest unless it is an absolute IRI an IRIREF may hold."""
    if IRI_FORBIDDEN.search(iri) or not re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", iri):
        raise BadRequest(f"not an IRI: {iri[:200]!r}")
    return f"<{iri}>"


def sparql_iri_string(iri: str) -> str:
    """`"iri"`, a string literal for STRSTARTS, checked as `sparql_iri` checks it (an IRI holds
    no quote or backslash, so nothing needs escaping)."""
    sparql_iri(iri)
    return f'"{iri}"'


@dataclass(frozen=True)
class Description:
    """What is said about `iri`: triples, and whether the engine's result cap cut them."""

    iri: str
    triples: frozenset[Triple]
    truncated: bool

    @property
    def known(self) -> bool:
        return bool(self.triples)


def asserted(pattern: str, inferred: str, blank: str = "") -> str:
    """A group matching `pattern` where the data asserts it: in a named graph but the inferred
    one, or in the default graph (in no named graph: queries read the union, so pages must see
    what they see). `blank`, optional, is matched in the same graph as the pattern."""
    inner = f"OPTIONAL {{ GRAPH ?g {{ {blank} }} }}" if blank else ""
    outer = f"OPTIONAL {{ {blank} }}" if blank else ""
    return (
        f"{{ GRAPH ?g {{ {pattern} }} FILTER(?g != {inferred}) {inner} }} UNION "
        f"{{ {pattern} FILTER NOT EXISTS {{ GRAPH ?any {{ {pattern} }} }} {outer} }}"
    )


def description(engine: Engine, iri: str, base_iri: str) -> Description:
    """The resource's description (see the module doc)."""
    x = sparql_iri(iri)
    inferred = sparql_iri(base_iri + "graph/inferred")
    statement = f"?st <{base_iri}{LEC}statementSubject> {x} ; ?sp ?so"
    text = DESCRIPTION.format(
        lec=base_iri + LEC,
        x=x,
        own=asserted(f"{x} ?p ?o", inferred, "?o ?bp ?bo FILTER(isBlank(?o))"),
        incoming=asserted(f"?s ?ip {x}", inferred),
        statements=asserted(statement, inferred, "?so ?sbp ?sbo FILTER(isBlank(?so))"),
        labels=" ".join(f"<{p}>" for p in LABELS),
    )
    result = engine.query(QueryRequest(text), "application/n-triples")
    triples = frozenset(
        Triple(q.subject, q.predicate, q.object)
        for q in parse(result.body, format=RdfFormat.N_TRIPLES)
    )
    return Description(iri, triples, result.truncated)


def labels_of(engine: Engine, iris: Iterable[str]) -> dict[str, str]:
    """A label for each IRI that has one (rdfs:label, skos:prefLabel or dcterms:title; English
    or untagged preferred)."""
    wanted = sorted({i for i in iris if not IRI_FORBIDDEN.search(i)})
    found: dict[str, tuple[int, str]] = {}
    for start in range(0, len(wanted), LABEL_BATCH):  # queries of bounded length
        batch = wanted[start : start + LABEL_BATCH]
        text = LABELS_OF.format(
            iris=" ".join(sparql_iri(i) for i in batch), labels=" ".join(f"<{p}>" for p in LABELS)
        )
        for row in select(engine, text):
            label = row["label"]
            english = label.get("xml:lang", "en").startswith("en")
            rank = (0 if english else 10) + LABELS.index(row["p"]["value"])
            key = row["x"]["value"]
            if key not in found or (rank, label["value"]) < found[key]:
                found[key] = (rank, label["value"])
    return {k: v for k, (_, v) in found.items()}


def select(engine: Engine, text: str) -> list[dict[str, dict[str, str]]]:
    """A SELECT's bindings as SPARQL JSON terms."""
    body = engine.query(QueryRequest(text), "application/sparql-results+json").body
    return json.loads(body)["results"]["bindings"]
