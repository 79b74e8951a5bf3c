"""The project's namespaces: terms (hash), things (slash) and named graphs."""

from __future__ import annotations

from rdflib import Namespace

CANONICAL_BASE = "https://w3id.org/lec-kg/"
LEC = Namespace(CANONICAL_BASE + "ontology#")
ONTOLOGY_IRI = CANONICAL_BASE + "ontology"
ID = Namespace(CANONICAL_BASE + "id/")
CODE = Namespace(CANONICAL_BASE + "id/code/")


def graph_iri(base: str, kind: str, name: str) -> str:
    """The named graph a file is loaded into: <base>graph/<kind>/<name>."""
    return f"{base}graph/{kind}/{name}"
