"""Helpers for the HTTP tests: parse replies back, count what is in the store."""

from __future__ import annotations

import csv
import io
import json

import pyoxigraph as ox
from rdflib import Graph

LEC = "https://w3id.org/lec-kg/ontology#"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
PREFIXES = (
    f"PREFIX lec: <{LEC}>\nPREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>\n"
    "PREFIX dcterms: <http://purl.org/dc/terms/>\n"
)
COUNT_ALL = "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } }"
INFERRED_GRAPH = "https://w3id.org/lec-kg/graph/inferred"
RECORDS_GRAPH = "https://w3id.org/lec-kg/graph/records"  # who wrote what (`submissions`)
COUNT_ASSERTED = (  # the data writes assert: not the inferred graph, not the records of writes
    "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } "
    f"FILTER(?g NOT IN (<{INFERRED_GRAPH}>, <{RECORDS_GRAPH}>)) }}"
)
RESULT_FORMAT = {
    "application/sparql-results+json": ox.QueryResultsFormat.JSON,
    "application/json": ox.QueryResultsFormat.JSON,
    "application/sparql-results+xml": ox.QueryResultsFormat.XML,
    "application/xml": ox.QueryResultsFormat.XML,
    "text/xml": ox.QueryResultsFormat.XML,
    "text/csv": ox.QueryResultsFormat.CSV,
    "text/tab-separated-values": ox.QueryResultsFormat.TSV,
}
RDFLIB_FORMAT = {
    "text/turtle": "turtle",
    "application/n-triples": "nt",
    "application/ld+json": "json-ld",
    "application/json": "json-ld",
    "application/rdf+xml": "xml",
    "application/xml": "xml",
    "application/n-quads": "nquads",
    "application/trig": "trig",
}


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, without parameters."""
    return content_type.partition(";")[0].strip()


def parse_graph(body: bytes, mtype: str) -> Graph:
    """An RDF reply parsed back with rdflib."""
    return Graph().parse(data=body, format=RDFLIB_FORMAT[mtype])


def parse_results(body: bytes, mtype: str) -> bool | list[dict[str, str]]:
    """A SPARQL results reply parsed back: a boolean (ASK) or rows of {variable: lexical value}.

    JSON, XML and TSV are read by pyoxigraph's strict parsers; CSV (lossy, so pyoxigraph will not
    read it) by the csv module.
    """
    if RESULT_FORMAT[mtype] == ox.QueryResultsFormat.CSV:
        text = body.decode("utf-8")
        if text.strip() in ("true", "false"):
            return text.strip() == "true"
        reader = csv.DictReader(io.StringIO(text))
        return [{k: v for k, v in row.items() if v != ""} for row in reader]
    parsed = ox.parse_query_results(body, format=RESULT_FORMAT[mtype])
    if isinstance(parsed, ox.QueryBoolean):
        return bool(parsed)
    return [{v.value: s[v].value for v in parsed.variables if s[v] is not None} for s in parsed]


def count(client, query: str = COUNT_ALL) -> int:
    """The single integer a COUNT query returns, through the HTTP endpoint."""
    reply = client.get(
        "/sparql", params={"query": query}, headers={"Accept": "application/sparql-results+json"}
    )
    assert reply.status_code == 200, reply.text
    return int(json.loads(reply.content)["results"]["bindings"][0]["n"]["value"])


def ask(client, query: str) -> bool:
    """The boolean an ASK query returns, through the HTTP endpoint."""
    reply = client.get("/sparql", params={"query": query}, headers={"Accept": "application/json"})
    assert reply.status_code == 200, reply.text
    return bool(json.loads(reply.content)["boolean"])
