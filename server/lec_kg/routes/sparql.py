"""The SPARQL 1.1 Protocol endpoint /sparql: queries (GET, POST form, POST direct) and updates.

GET and POST /sparql are two ordinary routes of the app, matched by its router and passed
through every middleware (`app.add_middleware`, `@app.middleware("http")`) and its exception
handlers like any other. They are `ProtocolRoute`s: FastAPI documents their parameters, but calls
the handler with the request alone, since the protocol reads its parameters raw (repeated ones,
forms, direct bodies) and FastAPI's parameter solving costs more than a small query.

A query request is prepared once (`Engine.prepare`: inspection and dataset), negotiated once on
the prepared form, then answered inline when the engine knows it to be cheap on this data, else
by a worker off the event loop, with the same prepared query.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from starlette.routing import request_response
from starlette.types import Scope

from .. import results_html
from ..auth import check_write_access
from ..engine_api import Engine, QueryRequest, QueryResult
from ..errors import (
    BadRequest,
    LecKgError,
    NotAcceptable,
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
from ..sparql_lexer import decode_codepoints
from ..submissions import Records
from ..verdict import REPORT_JSON, REPORT_OFFERS, render
from ..xml_chars import codepoint, forbidden_in
from . import service_description
from .deps import endpoint_url, metrics_of, ready_engine, settings_of


class ProtocolRoute(APIRoute):
    """A declared route whose handler is called with the `Request` alone (see the module doc):
    matched, documented, wrapped by middleware and error handlers as any FastAPI route.

    The handler is called as Starlette calls a plain `Route`'s endpoint (its `request_response`:
    the app's exception handlers, no per-request dependency exit stacks, since these handlers
    have no dependencies)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.app = request_response(self.get_route_handler())

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


router = APIRouter(tags=["SPARQL"], route_class=ProtocolRoute)

TRUNCATED_HEADER = "X-LEC-Truncated"
INLINE_INSPECTION_CHARS = 4096
# What the engine serializes a result in before it is rendered as an HTML page.
HTML_SOURCE = {
    "select": by_keyword("json", ["results"]),
    "ask": by_keyword("json", ["results"]),
    "construct": by_keyword("turtle", ["graph"]),
    "describe": by_keyword("turtle", ["graph"]),
}
RESULT_TYPES: dict[str, dict[str, Any]] = {
    m.name: {} for m in TABLE if m.kind in ("results", "graph")
}
ERRORS: dict[int | str, dict[str, Any]] = {
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
    """Prepare, negotiate, run and serialize one query: each step once."""
    engine = ready_engine(request)
    asked = QueryRequest(op.text, op.default_graphs, op.named_graphs)
    try:
        # A short query is prepared inline (remembered per text: well under a millisecond, and
        # one thread-pool hop less per request). Long ones go to the pool, not the event loop.
        if len(op.text) <= INLINE_INSPECTION_CHARS:
            prepared = engine.prepare(asked)
        else:
            prepared = await run_in_threadpool(engine.prepare, asked)
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
    form = prepared.form
    choice = _choose(request, form, op.formats)
    as_html = choice.media.kind == "html"
    media = (HTML_SOURCE[form] if as_html else choice.media).name
    metrics = metrics_of(request)
    start = time.perf_counter()
    try:
        # A query that already ran fast on this very data is answered here, on the event loop;
        # any other runs in a killable worker, waited for in the thread pool.
        result = engine.query_inline(prepared, media)
        if result is None:
            peer = request.client.host if request.client else None  # admission's "client"
            result = await run_in_threadpool(engine.query, prepared, media, peer)
    finally:
        _account(request.scope, metrics, form, time.perf_counter() - start)
    if result.truncated:
        metrics.truncated.inc()
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
    """The negotiated representation (the one negotiation of a query request); the first
    format= / output= value that resolves wins, else the Accept header decides."""
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
    settings = settings_of(request)
    who = check_write_access(request.headers.get("authorization"), settings)
    engine = ready_engine(request)
    metrics = metrics_of(request)
    start = time.perf_counter()
    _refuse_unexportable(op.text)
    record = Records(settings.base_iri).write(who, "the update", op.text)  # who, when, what
    try:
        outcome = await run_in_threadpool(
            partial(engine.update, record=record),
            op.text,
            op.using_graphs,
            op.using_named_graphs,
        )
    except QuerySyntaxError as exc:
        metrics.updates.labels("rejected").inc()
        if _is_query(engine, op.text):
            raise BadRequest(
                f"this is a SPARQL query, not an update: send it as query= or {SPARQL_QUERY}"
            ) from exc
        raise
    except ValidationFailed as exc:
        metrics.updates.labels("rejected").inc()
        graphs = await run_in_threadpool(engine.graph_names)
        return _refused_update(request, exc, settings.base_iri, graphs)
    finally:
        request.state.query_ms = (time.perf_counter() - start) * 1000
    metrics.updates.labels("committed").inc()
    body = {
        "added": outcome.added,
        "removed": outcome.removed,
        "warnings": list(outcome.warnings),
    }
    return Response(json.dumps(body).encode("utf-8"), media_type="application/json; charset=utf-8")


def _refuse_unexportable(text: str) -> None:
    """An update naming a character XML 1.0 cannot hold (`xml_chars`), raw or as a codepoint
    escape, is refused: a literal holding it could never be exported as RDF/XML."""
    decoded, origin = decode_codepoints(text)
    found = forbidden_in(decoded)
    if found is not None:
        at = origin[found.start()] if found.start() < len(origin) else found.start()
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        raise BadRequest(
            f"the update holds {codepoint(found.group())} (line {line}, column {column}), a "
            "character XML 1.0 cannot hold: the store's RDF/XML exports could not carry it",
            line=line,
            column=column,
        )


def _refused_update(
    request: Request, exc: ValidationFailed, home: str, graphs: list[str]
) -> Response:
    """A 422 for an update, rendered as /facts renders one (`verdict.render`): JSON grouped by
    node, or the sh:ValidationReport in Turtle or JSON-LD when Accept asks for it (JSON when
    it asks for neither: an error is not a 406)."""
    try:
        media = negotiate(request.headers.get("accept"), REPORT_OFFERS).media
    except NotAcceptable:
        media = REPORT_JSON
    payload = render(
        exc.validation_report,
        media,
        home=home,
        graphs=set(graphs),
        detail=exc.detail,
        extra={k: v for k, v in exc.to_dict().items() if k != "report"},
    )
    return Response(payload, 422, {"Vary": "Accept"}, media.content_type())


def _is_query(engine: Engine, text: str) -> bool:
    """True when the text parses as a query (so it was sent to the wrong operation)."""
    try:
        engine.query_form(text)
    except LecKgError:
        return False
    return True
