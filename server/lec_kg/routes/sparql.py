"""The SPARQL 1.1 Protocol endpoint /sparql: queries (GET, POST form, POST direct) and updates."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import results_html
from ..auth import check_write_access
from ..engine_api import Engine, QueryRequest, QueryResult
from ..errors import (
    BadRequest,
    LecKgError,
    QuerySyntaxError,
    ValidationFailed,
)
from ..negotiation import TABLE, Choice, by_keyword, negotiate, offers_for_form
from ..observability import Metrics
from ..protocol import (
    FORM,
    PROTOCOL_PARAMS,
    SPARQL_QUERY,
    SPARQL_UPDATE,
    Operation,
    decode_text,
    formats,
    parse_form,
    query_items,
    read_operation,
    update_keyword,
)
from . import service_description
from .deps import (
    endpoint_url,
    error_response,
    metrics_of,
    ready_engine,
    settings_of,
    unexpected_error_response,
)

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
    400: {
        "description": "malformed request or query (message, line and column), or a POST body "
        "that is not a form, sparql-query or sparql-update"
    },
    406: {
        "description": "no representation fits the Accept header, or the one chosen cannot carry "
        "this result (a character XML 1.0 forbids, a predicate RDF/XML cannot name); the body "
        "lists the formats that can"
    },
    413: {"description": "request body over the size limit"},
    429: {"description": "this client has too many long-running or waiting queries (Retry-After)"},
    503: {
        "description": "graph not ready, the query ran out of time, or every worker slot and "
        "queue place is taken (then with Retry-After)"
    },
    507: {"description": "the query needed more memory than one query may use"},
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
    params = query_items(request.scope["query_string"])
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
    url_params = query_items(request.scope["query_string"])
    if media_type == FORM:
        op = read_operation(url_params + await _read_form(request))
    elif media_type == SPARQL_QUERY:
        op = read_operation(url_params, direct=("query", await _read_text(request)))
    elif media_type == SPARQL_UPDATE:
        check_write_access(request.headers.get("authorization"), settings_of(request))
        op = read_operation(url_params, direct=("update", await _read_text(request)))
    else:
        # A body of any other type is a malformed protocol request: 400, as for the other
        # protocol errors (the SPARQL 1.1 Protocol's tests ask for a 4xx).
        raise BadRequest(
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
    start = time.perf_counter()
    asked = QueryRequest(op.text, op.default_graphs, op.named_graphs)
    try:
        # A query that already ran fast on this very data is answered here, on the event loop;
        # any other runs in a killable worker, waited for in the thread pool.
        result = engine.query_inline(asked, media)
        if result is None:
            peer = request.client.host if request.client else None  # admission's "client"
            result = await run_in_threadpool(engine.query, asked, media, peer)
    finally:
        _account(request.scope, metrics_of(request), form, time.perf_counter() - start)
    if result.truncated:
        metrics_of(request).truncated.inc()
    if as_html:
        endpoint = endpoint_url(request)
        page = results_html.render(endpoint, op.text, form, result.body, result.truncated)
        return ResultResponse(page, choice.content_type, _result_headers(result))
    return _result_response(result, choice)


def _account(scope: Scope, metrics: Metrics, form: str, seconds: float) -> None:
    """A query's time, in the metrics and (through the request state) in the access log."""
    metrics.labelled(metrics.query_duration, form).observe(seconds)
    state = scope.setdefault("state", {})
    state["query_form"] = form
    state["query_ms"] = seconds * 1000


def _result_headers(result: QueryResult) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"x-lec-truncated", b"true" if result.truncated else b"false"),
        (b"x-lec-cache", b"hit" if result.cached else b"miss"),
        (b"vary", b"Accept"),
    ]
    if result.rows is not None:
        headers.append((b"x-lec-rows", str(result.rows).encode()))
    return headers


def _result_response(result: QueryResult, choice: Choice) -> ResultResponse:
    return ResultResponse(_flag_truncation(result), choice.content_type, _result_headers(result))


class ResultResponse(Response):
    """A query result: body, Content-Type and a few raw headers, sent as they are (Starlette's
    Response rebuilds its header list from a dict on every request)."""

    def __init__(self, body: bytes, content_type: str, headers: list[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.body = body
        self.background = None
        self.raw_headers = [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", content_type.encode("latin-1")),
            *headers,
        ]


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


class SparqlShortcut:
    """ASGI middleware: GET and POST /sparql go straight to `sparql_get` / `sparql_post`.

    FastAPI's router and its parameter validation cost more than a small query itself (the
    handlers read the raw parameters anyway), so the hot path skips them. The routes above stay
    declared: they are what /docs and /openapi.json describe, and other methods reach them (405).
    It sits inside the request id, access log, metrics, CORS and the body limit (see
    `app.LecKgApp`); errors are rendered here exactly as the app's handlers render them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method")
        if scope["type"] != "http" or scope["path"] != "/sparql" or method not in _SHORTCUT:
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTE  # the metrics' route label
        response = _cheap_get(scope) if method == "GET" else None
        if response is not None:
            await response(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await _SHORTCUT[method](request)
        except LecKgError as exc:
            response = error_response(exc)
        except Exception as exc:  # the app's own 500, never a traceback to the client
            response = unexpected_error_response(scope, exc)
        await response(scope, receive, send)


def _cheap_get(scope: Scope) -> ResultResponse | None:
    """The common case at the least cost: GET ?query= of a query the engine answers inline,
    negotiated by Accept alone. None for anything else, errors included: `sparql_get` then
    handles the request in full and says what is wrong."""
    try:
        op = read_operation(query_items(scope["query_string"]))
        engine = scope["app"].state.engine
        if op.kind != "query" or op.formats or engine is None or not engine.is_ready():
            return None
        if len(op.text) > INLINE_INSPECTION_CHARS:  # inspected off the event loop
            return None
        form = engine.query_form(op.text)
        accept = next((v for k, v in scope["headers"] if k == b"accept"), None)
        choice = negotiate(accept and accept.decode("latin-1"), offers_for_form(form))
        if choice.media.kind == "html":
            return None
        start = time.perf_counter()
        asked = QueryRequest(op.text, op.default_graphs, op.named_graphs)
        result = engine.query_inline(asked, choice.media.name)
    except LecKgError:
        return None
    if result is None:
        return None
    metrics = scope["app"].state.metrics
    _account(scope, metrics, form, time.perf_counter() - start)
    if result.truncated:
        metrics.truncated.inc()
    return _result_response(result, choice)


_SHORTCUT = {"GET": sparql_get, "POST": sparql_post}
_ROUTE = SimpleNamespace(path="/sparql")
