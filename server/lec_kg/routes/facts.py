"""New facts: POST /validate (a dry run, open to all) and POST /facts (a submission, with a
write token).

Both read the body by its Content-Type (`rdf_input`: Turtle, TriG, N-Triples, N-Quads, JSON-LD,
RDF/XML; 415 otherwise, 400 with line and column when it does not parse, 413 past the body
limit), and answer with the verdict (`verdict`): JSON grouped by node by default, a SHACL
sh:ValidationReport in Turtle or JSON-LD on request (Accept). /validate answers 200 either way;
/facts commits the submission with its record (`submissions`) and answers 201 with its id and
Location, or 422 with the report, having stored nothing.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from ..auth import check_write_access
from ..config import Settings
from ..errors import BadRequest, ValidationFailed
from ..negotiation import Choice, negotiate
from ..rdf_input import ACCEPTED, Parsed, parse_body
from ..submissions import Records, check_message, new_id, submit
from ..verdict import REPORT_OFFERS, render
from ..xml_chars import codepoint, forbidden_in
from .deps import ready_engine, settings_of
from .dumps import jsonld_context

router = APIRouter(tags=["facts"])

BODY = {
    "requestBody": {
        "required": True,
        "content": {media: {"schema": {"type": "string"}} for media in ACCEPTED},
    }
}
REPORT_TYPES: dict[str, dict[str, Any]] = {m.name: {} for m in REPORT_OFFERS}
INPUT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body does not parse (line and column), or names a graph"},
    406: {"description": "no report format fits the Accept header"},
    413: {"description": "the body is over the size limit"},
    415: {"description": "the Content-Type is not an RDF format read here (the body lists them)"},
    503: {"description": "the graph is not loaded yet"},
}
Message = Annotated[str | None, Query(description="why: recorded with the write")]
Source = Annotated[
    list[str] | None,
    Query(
        description="a source the facts cite, an absolute http(s) IRI (repeat for several); "
        "default: dcterms:source in the data"
    ),
]


def choose_report(request: Request) -> Choice:
    """The report's representation: JSON unless Accept asks for Turtle or JSON-LD."""
    return negotiate(request.headers.get("accept"), REPORT_OFFERS)


async def read_body(request: Request, graph: str) -> Parsed:
    """The body's quads, all in `graph` (parsed off the event loop). A JSON-LD body may name
    the service's own context by its IRI (`own_contexts`)."""
    body = await request.body()
    content_type = request.headers.get("content-type")
    contexts = own_contexts(request) if "json" in (content_type or "").lower() else None
    parsed = await run_in_threadpool(parse_body, body, content_type, graph, None, contexts)
    return replace(parsed, home=settings_of(request).base_iri)


def own_contexts(request: Request) -> dict[str, Any]:
    """The context /context.jsonld serves, by the IRIs it is published under: under the
    base IRI and under the service's own URL. Made from the store, never fetched."""
    settings = settings_of(request)
    context = jsonld_context(request, ready_engine(request))
    return {
        f"{settings.base_iri}context.jsonld": context,
        f"{settings.public_base}/context.jsonld": context,
    }


def report_response(
    choice: Choice,
    report: Any,
    parsed: Parsed,
    status: int,
    *,
    detail: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The verdict, in the chosen representation (which Accept picks: `Vary: Accept`)."""
    headers = {**(headers or {}), "Vary": "Accept"}
    payload = render(
        report,
        choice.media,
        home=parsed.home,
        quads=parsed.quads,
        lines=parsed.lines,
        detail=detail,
        extra=extra,
    )
    return Response(payload, status, headers, choice.content_type)


def refused(choice: Choice, exc: ValidationFailed, parsed: Parsed) -> Response:
    """A 422: the shapes' report (or the protection's reason), nothing stored."""
    return report_response(
        choice,
        exc.validation_report,
        parsed,
        422,
        detail=exc.detail,
        extra={k: v for k, v in exc.to_dict().items() if k != "report"},
    )


@router.post(
    "/validate",
    response_class=Response,
    openapi_extra=BODY,
    responses={200: {"content": REPORT_TYPES}, **INPUT_ERRORS},
)
async def validate(request: Request) -> Response:
    """Check facts against the shapes together with the current graph; nothing is written."""
    choice = choose_report(request)
    engine = ready_engine(request)
    parsed = await read_body(request, Records(settings_of(request).base_iri).names.graph(new_id()))
    if not parsed.quads:
        raise BadRequest("the body holds no triples; nothing to validate")
    try:
        report = await run_in_threadpool(engine.check, [], parsed.quads)
    except ValidationFailed as exc:  # a statement no write may make (`protection`)
        return report_response(choice, None, parsed, 200, detail=exc.detail)
    return report_response(choice, report, parsed, 200)


@router.post(
    "/facts",
    response_class=Response,
    openapi_extra=BODY,
    status_code=201,
    responses={
        201: {"description": "accepted: the submission's id, graph and Location"},
        401: {"description": "no write token"},
        403: {"description": "wrong write token, or writing is off"},
        422: {"description": "the facts would violate the shapes: the report; nothing stored"},
        **INPUT_ERRORS,
    },
)
async def facts(request: Request, message: Message = None, source: Source = None) -> Response:
    """Submit facts: validated with the current graph, then kept as a submission of their own."""
    settings = settings_of(request)
    who = check_write_access(request.headers.get("authorization"), settings)
    choice = choose_report(request)
    engine = ready_engine(request)
    note = check_message(message, "message")  # XML 1.0's characters only, as sources
    for given in source or []:
        found = forbidden_in(given)
        if found is not None:
            raise BadRequest(
                f"the source holds {codepoint(found.group())}, a character XML 1.0 cannot "
                "hold: the records' RDF/XML exports could not carry it"
            )
    records = Records(settings.base_iri)
    sid = new_id()
    parsed = await read_body(request, records.names.graph(sid))
    if not parsed.quads:
        raise BadRequest("the body holds no triples; nothing to submit")
    try:
        outcome = await run_in_threadpool(
            submit, engine, records, sid, parsed.quads, who, note, source or []
        )
    except ValidationFailed as exc:
        return refused(choice, exc, parsed)
    location = submission_location(settings, sid)
    body = {
        "id": sid,
        "graph": records.names.graph(sid),
        "location": location,
        "who": who,
        "added": len(parsed.quads),
        "warnings": list(outcome.warnings),
    }
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return Response(payload, 201, {"Location": location}, "application/json; charset=utf-8")


def submission_location(settings: Settings, sid: str) -> str:
    """Where a submission is fetched: under the public URL when there is one, else the path."""
    path = f"/submissions/{sid}"
    return f"{settings.public_url.rstrip('/')}{path}" if settings.public_url else path
