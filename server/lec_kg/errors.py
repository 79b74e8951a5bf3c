"""Typed errors, each mapped to one HTTP status in one place (`STATUS`)."""

from __future__ import annotations

from typing import Any


class LecKgError(Exception):
    """Base class: a request or a file that cannot be processed. `detail` says what and where."""

    status = 500
    title = "internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the error response."""
        return {"error": self.title, "detail": self.detail, **self.extra}


class BadRequest(LecKgError):
    """The request is malformed (missing or repeated parameter, wrong form)."""

    status = 400
    title = "bad request"


class QuerySyntaxError(BadRequest):
    """The SPARQL text does not parse; `line` and `column` say where (1-based)."""

    title = "malformed query"

    def __init__(self, detail: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(detail, line=line, column=column)
        self.line = line
        self.column = column


class ForbiddenOperation(BadRequest):
    """The request asks for something this service never does (SERVICE, LOAD, remote FROM...)."""

    title = "forbidden operation"


class QueryTooComplex(BadRequest):
    """The query is too long or too deeply nested to be run safely."""

    title = "query too complex"


class Unauthorized(LecKgError):
    """No write token was sent."""

    status = 401
    title = "unauthorized"


class Forbidden(LecKgError):
    """A write token was sent but it is wrong, or writing is off."""

    status = 403
    title = "forbidden"


class NotFound(LecKgError):
    """The thing asked for (a named graph, a resource) is not in the store."""

    status = 404
    title = "not found"


class Conflict(LecKgError):
    """The request conflicts with the thing's state (a submission already withdrawn)."""

    status = 409
    title = "conflict"


class MethodNotAllowed(LecKgError):
    """The method does not apply to this resource (writing the union default graph);
    `allow` goes out as the Allow header."""

    status = 405
    title = "method not allowed"

    def __init__(self, detail: str, allow: str, **extra: Any) -> None:
        super().__init__(detail, allow=allow, **extra)
        self.allow = allow


class NotAcceptable(LecKgError):
    """No representation matches the Accept header; `available` lists what there is."""

    status = 406
    title = "not acceptable"


class NotRepresentable(NotAcceptable):
    """The format asked for cannot carry this result (a character XML 1.0 forbids, a predicate
    RDF/XML cannot name): 406, and `available` lists the formats that can."""

    title = "not representable"


class PayloadTooLarge(LecKgError):
    """The request body is larger than the configured limit."""

    status = 413
    title = "payload too large"


class UnsupportedMediaType(LecKgError):
    """The request body's Content-Type is not one this route reads."""

    status = 415
    title = "unsupported media type"


class ValidationFailed(LecKgError):
    """The data would violate the shapes; `report` holds the findings. Nothing was changed."""

    status = 422
    title = "validation failed"
    validation_report: Any = None  # the report itself, when the shapes judged


class QueryTimeout(LecKgError):
    """The query ran past its deadline and was stopped."""

    status = 503
    title = "query timeout"


class QueryOutOfMemory(LecKgError):
    """The query needed more memory than one query may use; its worker was replaced.

    507 Insufficient Storage (RFC 4918 11.5: the server cannot store what the request needs to
    complete): a server-side limit, as 5xx says, but not a passing one, so not 503, which
    clients and proxies retry; the same query will hit the same ceiling again. Not 413, which
    is about the request's own size."""

    status = 507
    title = "query out of memory"


class Busy(LecKgError):
    """A bound on concurrent queries was reached; `retry_after_s` goes out as Retry-After."""

    def __init__(self, detail: str, retry_after_s: int, **extra: Any) -> None:
        super().__init__(detail, retry_after_s=retry_after_s, **extra)
        self.retry_after_s = retry_after_s


class TooManyQueries(Busy):
    """This client already has as many long-running or waiting queries as one client may."""

    status = 429
    title = "too many queries"


class Overloaded(Busy):
    """Every slot for long-running queries, or the queue for a worker, is full."""

    status = 503
    title = "overloaded"


class NotReady(LecKgError):
    """The graph is not loaded or has not passed the shapes yet."""

    status = 503
    title = "not ready"
