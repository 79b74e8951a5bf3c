"""Framed JSON-LD per kind (`jsonld_frames`): the frames and the framed documents.

- `/frame/<kind>.jsonld`: the JSON-LD 1.1 frame of a kind (`instrument`, `campaign`, `event`,
  `actor`), the published context embedded whole; media type `application/ld+json` with the
  profile `http://www.w3.org/ns/json-ld#frame`.
- `/framed/<kind>.jsonld`: the asserted data framed with it, every node of that kind with what
  belongs to it nested (profile `http://www.w3.org/ns/json-ld#framed`), an attachment with a
  stable file name like the dumps (`dumps.framed_file_name`).
Without the extension the Accept header must allow JSON-LD (else 406); another extension or
an unknown kind is a 404. Both answer HEAD, carry an ETag (the frame's digest; the data's
version for a framed document) and give a 304 to a matching If-None-Match. The data is taken
before the response starts; the server fetches nothing, neither context nor frame.

`framed_thing` is one thing framed by its kind's frame, for `/id/...` asked for with
`Accept: application/ld+json;profile="http://www.w3.org/ns/json-ld#framed"` (`linked_data`):
the node map it frames is kept per data version, so a thing costs a lookup, not a dump.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from ..dumps import framed_file_name
from ..engine_api import Engine
from ..errors import NotFound
from ..jsonld_framer import frame_chunks, frame_nodes, kind_of, node_map
from ..jsonld_frames import asserted_quads, frames_for, thing_frame
from ..negotiation import by_name, negotiate
from .deps import ready_engine, settings_of
from .dumps import jsonld_context, release_version

router = APIRouter(tags=["dumps"])

JSONLD = by_name("application/ld+json", "graph")
FRAME_PROFILE = "http://www.w3.org/ns/json-ld#frame"
FRAMED_PROFILE = "http://www.w3.org/ns/json-ld#framed"


def jsonld_frames(request: Request, engine: Engine) -> dict[str, dict[str, Any]]:
    """The frames of this app, made once (like the context, they follow the ontology)."""
    state = request.app.state
    if getattr(state, "jsonld_frames", None) is None:
        settings = settings_of(request)
        state.jsonld_frames = frames_for(engine, settings.base_iri, jsonld_context(request, engine))
    return state.jsonld_frames


@router.head("/frame/{name}", include_in_schema=False)
@router.get("/frame/{name}", response_class=Response)
def frame(
    request: Request, name: str, format: str | None = Query(None, description="jsonld")
) -> Response:
    """The JSON-LD 1.1 frame of one kind (instrument, campaign, event, actor)."""
    engine = ready_engine(request)
    frames = jsonld_frames(request, engine)
    kind, negotiated = _kind(request, name, frames, format)
    body = json.dumps(frames[kind], indent=1, ensure_ascii=False).encode("utf-8")
    headers = {
        "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        "Cache-Control": "public, max-age=3600",
    }
    if negotiated:
        headers["Vary"] = "Accept"
    content_type = f'application/ld+json; profile="{FRAME_PROFILE}"; charset=utf-8'
    if _current(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(headers=headers, media_type=content_type)
    return Response(body, headers=headers, media_type=content_type)


@router.head("/framed/{name}", include_in_schema=False)
@router.get("/framed/{name}", response_class=Response)
def framed(
    request: Request, name: str, format: str | None = Query(None, description="jsonld")
) -> Response:
    """Every node of one kind with what belongs to it nested: JSON-LD framed by its frame."""
    engine = ready_engine(request)
    frames = jsonld_frames(request, engine)
    kind, negotiated = _kind(request, name, frames, format)
    token, _ = engine.data_version()
    file = framed_file_name(release_version(request, engine), kind)
    headers = {
        "ETag": f'"{token}-framed-{kind}"',
        "Content-Disposition": f'attachment; filename="{file}"',
        "Cache-Control": "no-cache",
    }
    if negotiated:
        headers["Vary"] = "Accept"
    content_type = f'application/ld+json; profile="{FRAMED_PROFILE}"; charset=utf-8'
    if _current(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(headers=headers, media_type=content_type)
    chunks = frame_chunks(asserted_quads(engine), frames[kind])
    return StreamingResponse(chunks, media_type=content_type, headers=headers)


def framed_thing(request: Request, engine: Engine, iri: str) -> bytes | None:
    """The framed description of one thing, `{"@context": ..., "id": ...}`; None when no
    kind's frame takes it (a statement, a code, a document)."""
    frames = jsonld_frames(request, engine)
    state = request.app.state
    token, _ = engine.data_version()
    cached = getattr(state, "framing_nodes", None)
    if cached is None or cached[0] != token:
        cached = state.framing_nodes = (token, node_map(asserted_quads(engine)))
    nodes = cached[1]
    kind = kind_of(nodes, iri, frames)
    if kind is None:
        return None
    (node,) = frame_nodes(nodes, thing_frame(frames[kind], iri))
    document = {"@context": frames[kind]["@context"], **node}
    return json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")


def _kind(request: Request, name: str, frames: dict[str, Any], fmt: str | None) -> tuple[str, bool]:
    """The kind a path names, and whether it was negotiated (no extension): 404 for an unknown
    kind or another extension than .jsonld, 406 when the client takes no JSON-LD."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    elif ext != "jsonld":
        raise NotFound(f"frames and framed documents are JSON-LD only: .jsonld, not .{ext[:20]}")
    if stem not in frames:
        raise NotFound(f"no frame for {stem[:80]!r}; the kinds are: " + ", ".join(frames))
    if not ext:
        assert JSONLD is not None
        negotiate(request.headers.get("accept"), (JSONLD,), fmt)
    return stem, not ext and fmt is None


def _current(request: Request, etag: str) -> bool:
    """A matching If-None-Match: the client's copy is current."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags or "*" in tags
