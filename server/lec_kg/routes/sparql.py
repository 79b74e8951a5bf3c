"""The SPARQL 1.1 Protocol endpoint /sparql: queries (GET, POST form, POST direct) and updates."""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from .. import results_html
from ..auth import check_write_access
from ..engine_api import Engine, QueryRequest, QueryResult
from ..errors import (
    BadRequest,
    LecKgError,
    QuerySyntaxError,
    UnsupportedMediaType,
    ValidationFailed,
)
from ..negotiation import TABLE, Choice, by_keyword, negotiate, offers_for_form
from ..protocol import (
    FORM,
    PROTOCOL_PARAMS,
    SPARQL_QUERY,
    SPARQL_UPDATE,
    Operation,
    decode_text,
    formats,
    parse_form,
    read_operation,
    update_keyword,
)
from . import service_description
from .deps import metrics_of, ready_engine, settings_of

router = APIRouter(tags=["SPARQL"])

TRUNCATED_HEADER = "X-LEC-Truncated"
INLINE_INSPECTION_CHARS = 4096
# What the engine serializes a result in before it is rendered as an HTML page.
HTML_SOURCE = {
    "select": by_keyword("json", ["results"]),
    "ask": by_keyword("json", ["results"]),
    "construct": by_keyword("turtle", ["graph"]),
    "describe": by_keyword("turtle", ["graph"]),
}
RESULT_TYPES = {m.name: {} for m in TABLE if m.kind in ("results", "graph")}
ERRORS = {
    400: {"description": "malformed request or query (message, line and column)"},
    406: {"description": "no representation fits the Accept header; the body lists them"},
    413: {"description": "request body over the size limit"},
    503: {"description": "graph not ready, or the query ran out of time"},
}


Param = Annotated[str | None, Query(description="SPARQL 1.1 query text")]
Graphs = Annotated[list[str] | None, Query(alias="default-graph-uri", description="default graph")]
Named = Annotated[list[str] | None, Query(alias="named-graph-uri", description="named graph")]
Format = Annotated[str | None, Query(description="json, xml, csv, tsv, turtle, nt, jsonld, rdfxml")]


@router.get(
    "/sparql",
    name="sparql_get",
    response_class=Response,
    responses={200: {"content": {**RESULT_TYPES, "text/html": {}}}, **ERRORS},
)
async def sparql_get(
    request: Request,
    query: Param = None,
    default_graph_uri: Graphs = None,
    named_graph_uri: Named = None,
    format: Format = None,
) -> Response:
    """Run a SPARQL query given as ?query=; without one, describe the service (SPARQL 1.1 SD)."""
    # The declared parameters document the route (OpenAPI); the protocol rules need them all,
    # repeated ones included, so they are read from the raw query string.
    params = request.query_params.multi_items()
    if PROTOCOL_PARAMS.isdisjoint(k for k, _ in params):
        return await run_in_threadpool(service_description.respond, request, formats(params))
    if any(k == "update" for k, _ in params):
        raise BadRequest("an update must be sent with POST (update= form field or sparql-update)")
    return await _answer_query(request, read_operation(params))


@router.post(
    "/sparql",
    name="sparql_post",
    response_class=Response,
    responses={
        200: {"content": {**RESULT_TYPES, "application/json": {}}},
        401: {"description": "update without the write token"},
        403: {"description": "wrong write token, or writing is disabled"},
        415: {"description": "body is not a form, sparql-query or sparql-update"},
        422: {"description": "the update would violate the shapes; nothing was changed"},
        **ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "properties": {"query": {"type": "string"}, "update": {"type": "string"}},
                    }
                },
                SPARQL_QUERY: {"schema": {"type": "string"}},
                SPARQL_UPDATE: {"schema": {"type": "string"}},
            }
        }
    },
)
async def sparql_post(request: Request) -> Response:
    """Run a query (form query= or sparql-query body) or an update (update= or sparql-update)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.partition(";")[0].strip().lower()
    url_params = request.query_params.multi_items()
    if media_type == FORM:
        op = read_operation(url_params + await _read_form(request))
    elif media_type == SPARQL_QUERY:
        op = read_operation(url_params, direct=("query", await _read_text(request)))
    elif media_type == SPARQL_UPDATE:
        check_write_access(request.headers.get("authorization"), settings_of(request))
        op = read_operation(url_params, direct=("update", await _read_text(request)))
    else:
        raise UnsupportedMediaType(
            f"POST /sparql reads {FORM}, {SPARQL_QUERY} or {SPARQL_UPDATE}, "
            f"not {media_type or 'a body without Content-Type'}",
            accepted=[FORM, SPARQL_QUERY, SPARQL_UPDATE],
        )
    if op.kind == "query":
        return await _answer_query(request, op)
    return await _apply_update(request, op)


async def _read_form(request: Request) -> list[tuple[str, str]]:
    """The fields of a url-encoded form body."""
    return parse_form(await request.body())


async def _read_text(request: Request) -> str:
    """A direct POST body as text."""
    return decode_text(await request.body())


async def _answer_query(request: Request, op: Operation) -> Response:
    """Parse, negotiate, run and serialize one query."""
    engine = ready_engine(request)
    try:
        # A short query is inspected inline (a cached tokenizer pass, well under a millisecond):
        # one thread-pool hop less per request. Long ones go to the pool, not the event loop.
        if len(op.text) <= INLINE_INSPECTION_CHARS:
            form = engine.query_form(op.text)
        else:
            form = await run_in_threadpool(engine.query_form, op.text)
    except QuerySyntaxError as exc:
        verb = update_keyword(op.text)
        if verb is None:
            raise
        raise QuerySyntaxError(
            f"this is a SPARQL Update ({verb}), not a query: POST it as "
            f"update= or {SPARQL_UPDATE} with the write token ({exc.detail})",
            exc.line,
            exc.column,
        ) from exc
    choice = _choose(request, form, op.formats)
    as_html = choice.media.kind == "html"
    media = (HTML_SOURCE[form] if as_html else choice.media).name
    metrics = metrics_of(request)
    start = time.perf_counter()
    request.state.query_form = form
    try:
        result = await run_in_threadpool(
            engine.query,
            QueryRequest(op.text, op.default_graphs, op.named_graphs),
            media,
        )
    finally:
        elapsed = time.perf_counter() - start
        metrics.query_duration.labels(form).observe(elapsed)
        request.state.query_ms = elapsed * 1000
    if result.truncated:
        metrics.truncated.inc()
    headers = {TRUNCATED_HEADER: "true" if result.truncated else "false", "Vary": "Accept"}
    if result.rows is not None:
        headers["X-LEC-Rows"] = str(result.rows)
    if as_html:
        endpoint = str(request.url_for("sparql_get"))
        page = results_html.render(endpoint, op.text, form, result.body, result.truncated)
        return Response(page, media_type=choice.content_type, headers=headers)
    return Response(_flag_truncation(result), media_type=choice.content_type, headers=headers)


def _choose(request: Request, form: str, wanted: tuple[str, ...]) -> Choice:
    """The negotiated representation; the first format= / output= value that resolves wins."""
    available = offers_for_form(form)
    first_error: LecKgError | None = None
    for fmt in wanted:
        try:
            return negotiate(None, available, fmt)
        except LecKgError as exc:
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return negotiate(request.headers.get("accept"), available)


def _flag_truncation(result: QueryResult) -> bytes:
    """The body; a truncated JSON result also says so in a top-level "truncated" member."""
    # Other formats have no room for it: the X-LEC-Truncated header says it for every format.
    if not result.truncated or result.media_type != "application/sparql-results+json":
        return result.body
    document = json.loads(result.body)
    if "truncated" in document:
        return result.body
    # First, not last: streaming parsers (Oxigraph's) stop reading after "results".
    flagged = {"truncated": True, **document}
    return json.dumps(flagged, ensure_ascii=False).encode("utf-8")


async def _apply_update(request: Request, op: Operation) -> Response:
    """Authorize, then let the engine apply, validate and commit (or roll back) the update."""
    check_write_access(request.headers.get("authorization"), settings_of(request))
    engine = ready_engine(request)
    metrics = metrics_of(request)
    start = time.perf_counter()
    try:
        outcome = await run_in_threadpool(engine.update, op.text)
    except QuerySyntaxError as exc:
        metrics.updates.labels("rejected").inc()
        if _is_query(engine, op.text):
            raise BadRequest(
                f"this is a SPARQL query, not an update: send it as query= or {SPARQL_QUERY}"
            ) from exc
        raise
    except ValidationFailed:
        metrics.updates.labels("rejected").inc()
        raise
    finally:
        request.state.query_ms = (time.perf_counter() - start) * 1000
    metrics.updates.labels("committed").inc()
    body = {
        "added": outcome.added,
        "removed": outcome.removed,
        "warnings": list(outcome.warnings),
    }
    return Response(json.dumps(body).encode("utf-8"), media_type="application/json; charset=utf-8")


def _is_query(engine: Engine, text: str) -> bool:
    """True when the text parses as a query (so it was sent to the wrong operation)."""
    try:
        engine.query_form(text)
    except LecKgError:
        return False
    return True
