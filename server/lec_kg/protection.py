"""What no write may change: the release's ontology and shapes, and the engine's inferred graph;
and what only the submissions machinery writes: submissions and the records of writes.

Every change passes two rules before it is validated (an update, `lec-kg add`, a change another
process journaled), and the whole store passes them at start-up:

1. Graphs. Everything under `<base>graph/ontology`, `<base>graph/shapes` and `<base>graph/inferred`
   (whole prefixes, and the same under the canonical base) belongs to the release or to the
   engine: a write may neither add nor remove a quad there, and at start-up those graphs must be
   exactly the shipped files. A graph is compared in normal form (scheme and host in lower case,
   percent-escapes of unreserved characters decoded, dot segments removed), so no spelling of a
   name gets in. A graph must be named by an IRI.
2. Statements. Outside the ontology nothing may describe the ontology's own terms (its namespace
   `<base>ontology#`, the ontology IRI, the shapes' namespace, the code lists under
   `<base>id/code/`, and every IRI the ontology graphs describe, such as the reused terms it
   declares locally) nor add schema: rdfs:subClassOf, rdfs:subPropertyOf, rdfs:domain,
   rdfs:range, any OWL term as a predicate (equivalence, inverse, restrictions, list-built
   classes, owl:imports, ...) but owl:sameAs and owl:differentFrom between things, any OWL or RDFS
   meta-class as a type (owl:Class, owl:TransitiveProperty, owl:Restriction, rdf:Property, ...),
   and no new member of a shipped code list (skos:inScheme to it). RDF 1.2 triple terms are
   refused too: the shapes cannot judge them.

So the rules of inference and the targets of the shapes are what the release says, whatever is
written: a writer cannot make a class empty, two classes one, or a property transitive.

A write made now (a SPARQL update, a Graph Store Protocol request, `lec-kg add`, a submission or
a withdrawal; not a change replayed from the journal, which was judged when it was made) passes
two more rules, after rule 1 (`refuse_write`):

3. Names. A quad is added only to a graph named in normal form (see `normal_iri`): another
   spelling of a name (`graph/facts/../records`, `HTTPS://W3ID.org/...`, `graph/%72ecords`) is
   refused (400, naming the normal form), so no two names of one graph are served, published
   or dumped apart. A graph written under such a name before may still be emptied.
4. Kept graphs. `<base>graph/records` (and below it) holds the record of who wrote what, and
   each `<base>graph/submission/<id>` one submission, never edited: only the engine's own record
   quads (the `record` of `Engine.update` and `Engine.change`) and the submissions machinery
   (`submissions.submit` and `withdraw`, which name the one submission graph they create or
   remove) may add or remove a quad there; any other write touching them is refused (403).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from pyoxigraph import DefaultGraph, NamedNode, Quad, Triple

from .errors import BadRequest, Forbidden, ForbiddenOperation, ValidationFailed
from .namespaces import CANONICAL_BASE

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
RDF_TYPE = RDF + "type"
SCHEMA_PREDICATES = frozenset(RDFS + n for n in ("subClassOf", "subPropertyOf", "domain", "range"))
INDIVIDUAL_OWL_PREDICATES = frozenset({OWL + "sameAs", OWL + "differentFrom"})
META_CLASSES = frozenset(
    [RDFS + "Class", RDFS + "Datatype", RDFS + "ContainerMembershipProperty", RDF + "Property"]
)
MEMBERSHIP_PREDICATES = frozenset(
    SKOS + n for n in ("inScheme", "topConceptOf", "member", "hasTopConcept")
)
PROTECTED_GRAPHS = ("graph/ontology", "graph/shapes", "graph/inferred")
RECORDS_GRAPH = "graph/records"
SUBMISSION_GRAPHS = "graph/submission/"
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")


class Protection:
    """The two rules (see the module doc) for one deployment's base IRI."""

    def __init__(self, base: str, ontology_subjects: Iterable[str] = ()) -> None:
        bases = {base, CANONICAL_BASE}
        self._graph_prefixes = tuple(normal_iri(b + p) for b in bases for p in PROTECTED_GRAPHS)
        self._term_prefixes = tuple(
            b + p for b in bases for p in ("ontology", "shapes#", "id/code/")
        )
        self._terms = frozenset(ontology_subjects)
        self._closed: dict[str, bool] = {}
        self._records = frozenset(b + RECORDS_GRAPH for b in bases)
        self._records_prefixes = tuple(r + "/" for r in self._records)
        self._submission_prefixes = tuple(b + SUBMISSION_GRAPHS for b in bases)

    # ------------------------------------------------------------ rule 1: graphs

    def closed_graph(self, graph: str) -> bool:
        """True when the named graph lies under a protected prefix (in any spelling)."""
        closed = self._closed.get(graph)
        if closed is None:
            closed = normal_iri(graph).startswith(self._graph_prefixes)
            if len(self._closed) < 4096:  # graph names are few; a flood is not remembered
                self._closed[graph] = closed
        return closed

    def graph_problem(self, q: Quad) -> str | None:
        """Why a write may not touch the graph of `q`, or None."""
        g = q.graph_name
        if isinstance(g, DefaultGraph):
            return None
        if not isinstance(g, NamedNode):
            return f"a graph must be named by an IRI, not the blank node {g}"
        if self.closed_graph(g.value):
            return (
                f"<{g.value}> lies under a graph prefix that only the release or the engine fills"
            )
        return None

    # ------------------------------------------------------------ rule 2: statements

    def is_term(self, term: object) -> bool:
        """True for an IRI the ontology owns (see the module doc)."""
        return isinstance(term, NamedNode) and (
            term.value.startswith(self._term_prefixes) or term.value in self._terms
        )

    def statement_problem(self, q: Quad) -> str | None:
        """Why a graph outside the ontology may not hold `q`, or None."""
        s, p, o = q.subject, q.predicate.value, q.object
        if isinstance(s, Triple) or isinstance(o, Triple):
            return "RDF 1.2 triple terms are not accepted: the shapes cannot judge them"
        if self.is_term(s):
            return f"<{s.value}> is a term of the ontology; only ontology/*.ttl describes it"
        if p in SCHEMA_PREDICATES or (p.startswith(OWL) and p not in INDIVIDUAL_OWL_PREDICATES):
            return f"<{p}> states schema; only ontology/*.ttl may"
        meta = isinstance(o, NamedNode) and (o.value.startswith(OWL) or o.value in META_CLASSES)
        if p == RDF_TYPE and meta:
            return f"typing a node as <{o.value}> states schema; only ontology/*.ttl may"
        if (p in INDIVIDUAL_OWL_PREDICATES or p in MEMBERSHIP_PREDICATES) and self.is_term(o):
            return f"<{p}> to <{o.value}> changes a term of the ontology; only ontology/*.ttl may"
        return None

    # ------------------------------------------------------ rules 3 and 4: names, kept graphs

    def records_graph(self, graph: str | None) -> bool:
        """True for the records graph (or a graph below it)."""
        return graph is not None and (
            graph in self._records or graph.startswith(self._records_prefixes)
        )

    def kept_graph(self, graph: str) -> str | None:
        """Why only the submissions machinery and the engine's records write `graph`, or None."""
        if self.records_graph(graph):
            return f"<{graph}> is the record of who wrote what, which only the service writes"
        if graph.startswith(self._submission_prefixes):
            return (
                f"<{graph}> is a submission: it is never edited; withdraw it with DELETE "
                "/submissions/{id} and submit anew"
            )
        return None

    def refuse_write(
        self,
        removed: Iterable[Quad],
        added: Iterable[Quad],
        *,
        what: str,
        submission: str | None = None,
    ) -> None:
        """Raise for a write made now that breaks rule 1 (ForbiddenOperation), adds to a graph
        not named in normal form (rule 3, BadRequest) or would add or remove a quad in a kept
        graph (rule 4, Forbidden) but the one `submission` graph the submissions machinery
        names. Rule 2 is `refuse_change`'s, after."""
        removed, added = list(removed), list(added)
        self._refuse_closed(removed, added)
        for name in dict.fromkeys(q.graph_name for q in added):  # graph names are few
            if isinstance(name, NamedNode) and (normal := normal_iri(name.value)) != name.value:
                raise BadRequest(
                    f"{what} would write into <{name.value}>, a graph name not in normal form; "
                    f"name it <{normal}> (scheme and host in lower case, no dot segments, "
                    "unreserved characters unescaped); nothing was changed",
                    graph=name.value,
                    normal=normal,
                )
        refused: dict[str, str] = {}
        for q in (*removed, *added):
            g = q.graph_name
            if not isinstance(g, NamedNode) or g.value == submission or g.value in refused:
                continue
            why = self.kept_graph(g.value)
            if why is not None:
                refused[g.value] = why
        if refused:
            graphs = sorted(refused)
            raise Forbidden(
                f"{what} would change {', '.join(f'<{g}>' for g in graphs)}: "
                f"{refused[graphs[0]]}; nothing was changed",
                graphs=graphs,
            )

    # ------------------------------------------------------------ all, on a change

    def refuse_change(self, removed: Iterable[Quad], added: Iterable[Quad]) -> None:
        """Raise ForbiddenOperation (a closed graph) or ValidationFailed (a statement) for the
        first quad of the change that breaks a rule; nothing has been changed yet."""
        added = list(added)
        self._refuse_closed(removed, added)
        for q in added:
            why = self.statement_problem(q)
            if why is not None:
                raise ValidationFailed(
                    f"the update would state {_triple_text(q)} in {_graph_text(q)}: {why}; "
                    "nothing was changed",
                    triple=_triple_text(q),
                    graph=_graph_text(q),
                )

    def _refuse_closed(self, removed: Iterable[Quad], added: Iterable[Quad]) -> None:
        """Rule 1 on a change: ForbiddenOperation for the graphs it may not touch."""
        refused: dict[str, str] = {}
        for q in (*removed, *added):
            g = q.graph_name
            if not isinstance(g, DefaultGraph | NamedNode):
                raise ForbiddenOperation(
                    f"a graph must be named by an IRI, not the blank node {g}; nothing was changed"
                )
            why = self.graph_problem(q)
            if why is not None and isinstance(g, NamedNode):
                refused.setdefault(g.value, why)
        if refused:
            closed = sorted(refused)
            raise ForbiddenOperation(
                "the ontology, shapes and inferred graphs are read-only (change ontology/ or "
                f"shapes/ and restart): the update would change {', '.join(closed)} "
                f"({refused[closed[0]]}); nothing was changed",
                graphs=closed,
            )

    def store_problem(self, quads: Iterable[Quad], shipped: Iterable[str]) -> str | None:
        """Why a store (shipped files plus journal) may not be served, or None: a graph under a
        protected prefix that is not one of the `shipped` ones, or a statement elsewhere that
        breaks rule 2. (That the shipped protected graphs are unchanged, the caller checks.)"""
        shipped = set(shipped)
        for q in quads:
            g = q.graph_name
            if isinstance(g, NamedNode) and self.closed_graph(g.value):
                if g.value in shipped:
                    continue
                return (
                    f"the store holds {_graph_text(q)}, under a prefix only the release or the "
                    "engine fills (a journaled change made it?)"
                )
            why = self.graph_problem(q) or self.statement_problem(q)
            if why is not None:
                return f"{_graph_text(q)} holds {_triple_text(q)}: {why}"
        return None


def normal_iri(iri: str) -> str:
    """`iri` in the normal form RFC 3986 calls equivalent: scheme and host in lower case,
    percent-escapes of unreserved characters decoded (others upper-cased), no dot segments."""
    try:
        parts = urlsplit(iri)
    except ValueError:
        return iri
    path = _UNRESERVED.sub(_decode_unreserved, parts.path)
    return urlunsplit(
        (parts.scheme, parts.netloc.lower(), _without_dots(path), parts.query, parts.fragment)
    )


def _decode_unreserved(m: re.Match) -> str:
    char = chr(int(m.group(1), 16))
    unreserved = (char.isascii() and char.isalnum()) or char in "-._~"
    return char if unreserved else m.group(0).upper()


def _without_dots(path: str) -> str:
    """RFC 3986 remove_dot_segments."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/".join(out)


def _triple_text(q: Quad) -> str:
    return " ".join(_term_text(t) for t in (q.subject, q.predicate, q.object))


def _term_text(term: object) -> str:
    if isinstance(term, Triple):
        return f"<<( {_term_text(term.subject)} {term.predicate} {_term_text(term.object)} )>>"
    return str(term)


def _graph_text(q: Quad) -> str:
    g = q.graph_name
    return "the default graph" if isinstance(g, DefaultGraph) else f"graph {g}"
