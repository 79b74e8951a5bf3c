"""The OpenAPI docs page at /docs, with Swagger UI served from this process (no CDN).

Its Content-Security-Policy lets in the Swagger UI files of this service and the page's one
inline script (which starts Swagger UI), by its hash: no other script runs.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/static/swagger-ui"
# Swagger UI 5 (reads OpenAPI 3.1) as shipped inside the fastapi-offline wheel.
ASSET_DIR = Path(fastapi_offline.__file__).parent / "static"

INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """The interactive API documentation, working offline."""
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - API docs",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
    )
    page.headers["Content-Security-Policy"] = docs_policy(bytes(page.body))
    return page


def docs_policy(html: bytes) -> str:
    """The page's policy: scripts and styles from this service, and its inline scripts by hash;
    Swagger UI's icons are data: images, and it fetches /openapi.json (and tries requests out)
    from this service only."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def mount(app: FastAPI) -> None:
    """Serve the docs page and the Swagger UI files it needs."""
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="swagger-ui")
    app.include_router(router)
