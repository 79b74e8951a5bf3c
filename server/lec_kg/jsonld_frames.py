"""Framed JSON-LD per kind: the published frames and the framing of the store's data with them.

A frame (JSON-LD 1.1 Framing) picks the nodes of one kind and nests what belongs to them: a
treaty with its parties, its life-cycle steps (each with its step party, stage, dates and
evidence), its safeguard provisions and its evidence passages; a campaign with its actors and
the events that are part of it; an event with its participants, places and instruments; an
actor with the bodies it belongs to and where it is. `KINDS` says which, in the words of the
published context (`jsonld.build_context`, whose reverse terms `steps`, `provisions`, `parts`
and `statements` exist for these frames); `frames_for` makes each frame document with that
context embedded whole and the kind's classes (the root class and its sub-classes, as the
ontology has them). The frames use only these features, so they mean the same to any JSON-LD
1.1 processor:
- the top frame matches by `type`; its node is written whole, and what it links to but the
  frame does not name is a reference (`"@embed": "@never"`);
- a nested frame is `"@embed": "@always"` and `"@explicit": true` with the properties shown
  (`"id": {}` matches any node, so naming properties never filters), or `"@never"`, a reference;
- `"@omitDefault": true` everywhere: a missing property is left out, never written as null.

Doubt stays as the graph has it (graph/README.md, "Statements and doubt"): an uncertain or
competing reading is no triple of the graph, so no frame can write it as a value; the
`lec:Statement` nodes about a node are nested under its `statements`, with their certainty,
argument and evidence, and the statement's object is only a reference.

`jsonld_framer` frames the asserted data (`asserted_quads`) with them, as jsonld.js does, no
processor and nothing fetched; `thing_frame` is a kind's frame for one node (`/id/...` asked
for framed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pyoxigraph import Quad, RdfFormat, parse

from .engine_api import Engine, QueryRequest
from .jsonld import Compactor

OPTIONAL: dict[str, Any] = {"@omitDefault": True}
REF: dict[str, Any] = {"@embed": "@never", "@omitDefault": True}
DATES = ("date", "notBefore", "notAfter", "startDate", "endDate", "earliestDate", "latestDate")


def nested(**properties: Any) -> dict[str, Any]:
    """A nested frame: the node embedded wherever it is linked, with these properties only."""
    frame: dict[str, Any] = {
        "@embed": "@always",
        "@explicit": True,
        "@omitDefault": True,
        "id": {},
    }
    for name, sub in properties.items():
        frame[name.replace("__", ":")] = sub
    return frame


SUMMARY = nested(label=OPTIONAL)
PASSAGE = nested(isPartOf=REF, page=OPTIONAL, quote=OPTIONAL, footnote=OPTIONAL, citesWork=REF)
STATEMENT = nested(
    label=OPTIONAL,
    statementPredicate=REF,
    statementObject=REF,
    certainty=REF,
    alternativeTo=REF,
    readingArgument=OPTIONAL,
    uncertaintyNote=OPTIONAL,
    evidence=PASSAGE,
)
STEP = nested(
    label=OPTIONAL,
    rdfs__comment=OPTIONAL,
    stage=REF,
    stepParty=SUMMARY,
    participant=SUMMARY,
    place=SUMMARY,
    citesWork=REF,
    evidence=PASSAGE,
    statements=STATEMENT,
    **dict.fromkeys(DATES, OPTIONAL),
)
PROVISION = nested(
    label=OPTIONAL,
    rdfs__comment=OPTIONAL,
    safeguard=REF,
    provisionStatus=REF,
    citesWork=REF,
    evidence=PASSAGE,
    statements=STATEMENT,
)
PART = nested(label=OPTIONAL, participant=SUMMARY, place=SUMMARY, **dict.fromkeys(DATES, OPTIONAL))
ROLES = (
    "participant",
    "fromState",
    "toState",
    "requestedBy",
    "host",
    "personConcerned",
    "groupConcerned",
    "victimGroup",
    "targets",
)

# kind -> (root class, classes left out with their sub-classes, what the frame nests)
KINDS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "instrument": (
        "lec:Instrument",
        (),
        {
            "party": SUMMARY,
            "adoptedBy": SUMMARY,
            "supportedBy": SUMMARY,
            "steps": STEP,
            "provisions": PROVISION,
        },
    ),
    "campaign": (
        "lec:Campaign",
        (),
        {
            **dict.fromkeys(
                ("launchedBy", "spearheadedBy", "involvesActor", "wasAssociatedWith"), SUMMARY
            ),
            **dict.fromkeys(("targets", "atLocation", "afterEvent", "broadens"), SUMMARY),
            "partOfCampaign": SUMMARY,
            "parts": PART,
        },
    ),
    "event": (
        "lec:Event",
        ("lec:LifecycleStep",),  # a step is nested in its instrument
        {
            **dict.fromkeys(ROLES, SUMMARY),
            **dict.fromkeys(("place", "instrumentConcerned", "legalBasis"), SUMMARY),
            **dict.fromkeys(("partOfCampaign", "post", "cancelledEvent"), SUMMARY),
        },
    ),
    "actor": (
        "lec:Actor",
        (),
        {
            **dict.fromkeys(("memberOf", "agencyOf", "bodyOf", "locatedIn"), SUMMARY),
            **dict.fromkeys(("homePlace", "atLocation", "holds"), SUMMARY),
        },
    ),
}

SUBCLASSES = """PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?c WHERE {{ GRAPH ?g {{ ?c rdfs:subClassOf* <{root}> }}
  FILTER(isIRI(?c) && STRSTARTS(STR(?g), "{graph}")) }} ORDER BY ?c"""


def frames_for(engine: Engine, base: str, context: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every kind's frame document: the published context and the kind's classes as terms."""
    compactor = Compactor(context)

    def closure(root: str) -> set[str]:
        query = SUBCLASSES.format(root=compactor.expand(root), graph=base + "graph/ontology/")
        body = engine.query(QueryRequest(query), "application/sparql-results+json").body
        return {row["c"]["value"] for row in json.loads(body)["results"]["bindings"]}

    frames = {}
    for kind, (root, left_out, nests) in KINDS.items():
        classes = closure(root).difference(*(closure(c) for c in left_out))
        types = sorted(compactor.vocab.get(c) or compactor.curie(c) for c in classes)
        frames[kind] = build_frame(context, types, nests)
    return frames


def build_frame(
    context: Mapping[str, Any], types: list[str], nests: Mapping[str, Any]
) -> dict[str, Any]:
    """A top frame: nodes of `types`, whole, with `nests` (and evidence, statements) nested."""
    return {
        "@context": context["@context"],
        "type": types,
        "@embed": "@never",
        **nests,
        "evidence": PASSAGE,
        "statements": STATEMENT,
    }


def thing_frame(frame: Mapping[str, Any], iri: str) -> dict[str, Any]:
    """A kind's frame for one node: matched by its `id`, not by type."""
    return {**{k: v for k, v in frame.items() if k != "type"}, "id": iri}


def asserted_quads(engine: Engine) -> list[Quad]:
    """The asserted data (every named graph but the inferred one), taken now, as quads."""
    return list(parse(engine.export("application/n-quads"), format=RdfFormat.N_QUADS))
