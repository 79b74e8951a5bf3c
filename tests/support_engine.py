"""A small pyoxigraph-backed stand-in for the engine, used only while the real one is missing."""

from __future__ import annotations

import re
from pathlib import Path

import pyoxigraph as ox

from lec_kg.engine_api import QueryRequest, QueryResult, UpdateOutcome
from lec_kg.errors import QuerySyntaxError, ValidationFailed
from lec_kg.sources import discover

_POS = re.compile(r"error at (\d+):(\d+)")
_FORM = re.compile(r"\b(SELECT|ASK|CONSTRUCT|DESCRIBE)\b", re.IGNORECASE)
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
LEC = "https://w3id.org/lec-kg/ontology#"


class FakeEngine:
    """Loads ontology/ and graph/ into named graphs; default graph = union; toy validation."""

    def __init__(self, source_dir: Path, base_iri: str, max_rows: int = 10_000) -> None:
        self.store = ox.Store()
        self.max_rows = max_rows
        for f in discover(source_dir, base_iri, ("ontology", "graph")):
            self.store.load(
                path=str(f.path), format=ox.RdfFormat.TURTLE, to_graph=ox.NamedNode(f.graph_name)
            )

    def is_ready(self) -> bool:
        return True

    def _syntax(self, exc: SyntaxError) -> QuerySyntaxError:
        m = _POS.search(str(exc))
        return QuerySyntaxError(str(exc), int(m[1]) if m else None, int(m[2]) if m else None)

    def query_form(self, text: str):
        try:
            ox.Store().query(text)
        except SyntaxError as exc:
            raise self._syntax(exc) from exc
        body = re.sub(r"(PREFIX\s+\S*\s*<[^>]*>|BASE\s*<[^>]*>|#[^\n]*)", " ", text, flags=re.I)
        return _FORM.search(body)[1].lower()

    def query(self, request: QueryRequest, media_type: str) -> QueryResult:
        form = self.query_form(request.text)
        kwargs: dict = {"use_default_graph_as_union": not request.default_graph_uris}
        if request.default_graph_uris:
            kwargs["default_graph"] = [ox.NamedNode(u) for u in request.default_graph_uris]
        if request.named_graph_uris:
            kwargs["named_graphs"] = [ox.NamedNode(u) for u in request.named_graph_uris]
        result = self.store.query(request.text, **kwargs)
        if form in ("construct", "describe"):
            triples = list(result)
            body = ox.serialize(triples, format=ox.RdfFormat.from_media_type(media_type))
            return QueryResult(form, body, media_type, False, len(triples))
        fmt = ox.QueryResultsFormat.from_media_type(media_type)
        if form == "ask":
            return QueryResult(form, result.serialize(format=fmt), media_type, False, 1)
        variables = result.variables
        rows = []
        truncated = False
        for i, solution in enumerate(result):
            if i == self.max_rows:
                truncated = True
                break
            rows.append(solution)
        body = _serialize_solutions(variables, rows, fmt)
        return QueryResult(form, body, media_type, truncated, len(rows))

    def update(self, text: str) -> UpdateOutcome:
        before = set(self.store)
        try:
            self.store.update(text)
        except SyntaxError as exc:
            raise self._syntax(exc) from exc
        after = set(self.store)
        added, removed = after - before, before - after
        for quad in added:  # toy shape: every lec: typed thing needs evidence
            if (
                quad.predicate.value.endswith("#type")
                and quad.object.value.startswith(LEC)
                and quad.object.value != LEC + "SourcePassage"
            ):
                if not any(
                    True
                    for _ in self.store.quads_for_pattern(
                        quad.subject, ox.NamedNode(LEC + "evidence"), None
                    )
                ):
                    self.store.clear()
                    self.store.extend(before)
                    raise ValidationFailed(
                        "the update would violate the shapes; nothing was changed",
                        report={
                            "conforms": False,
                            "results": [
                                {
                                    "focus": quad.subject.value,
                                    "shape": "https://w3id.org/lec-kg/shapes#FactNodeShape-evidence",
                                    "message": "Add lec:evidence",
                                }
                            ],
                        },
                    )
        return UpdateOutcome(len(added), len(removed))

    def export(self, media_type: str, graph_name: str | None = None) -> bytes:
        fmt = ox.RdfFormat.from_media_type(media_type)
        if graph_name:
            return self.store.dump(format=fmt, from_graph=ox.NamedNode(graph_name))
        return self.store.dump(format=fmt)

    def graph_names(self) -> list[str]:
        return sorted(g.value for g in self.store.named_graphs())


def _serialize_solutions(variables, rows, fmt) -> bytes:
    store = ox.Store()
    values = " ".join(
        "(" + " ".join(str(r[v]) if r[v] is not None else "UNDEF" for v in variables) + ")"
        for r in rows
    )
    names = " ".join(str(v) for v in variables)
    q = (
        f"SELECT {names} WHERE {{ VALUES ({names}) {{ {values} }} }}"
        if variables
        else "SELECT * WHERE {}"
    )
    return store.query(q).serialize(format=fmt)


if (
    __name__ == "__main__"
):  # TEMPORARY: `python tests/support_engine.py <lec-kg args>` with the fake
    import sys
    import types

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    fake = types.ModuleType("lec_kg.engine")
    fake.build_engine = lambda settings, validator: FakeEngine(
        settings.source_dir, settings.base_iri
    )
    sys.modules["lec_kg.engine"] = fake
    import lec_kg.validation

    lec_kg.validation.load_validator = lambda settings: None
    from lec_kg.cli import main

    sys.exit(main())
