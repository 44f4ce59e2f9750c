"""The API's documentation pages, `/docs` (Swagger UI) and `/redoc` (ReDoc), served whole by the
hub: their scripts, style sheet and icon come from `services/static/` (the npm packages
swagger-ui-dist and redoc, vendored with their licences: see its README), never from a CDN, so
the pages work on a network without internet. A Content-Security-Policy holds the browser to
the hub's own host, so that nothing in the bundles (ReDoc's logo, Swagger UI's validator
badge) is fetched from elsewhere either.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
ASSETS = "/docs/assets"
SWAGGER_JS = f"{ASSETS}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{ASSETS}/swagger-ui/swagger-ui.css"
REDOC_JS = f"{ASSETS}/redoc/redoc.standalone.js"
FAVICON = f"{ASSETS}/swagger-ui/favicon-32x32.png"

# the pages start their bundle with an inline script and the bundles set inline styles; ReDoc
# runs its search in a worker made from a blob
POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'self'",
    ]
)


def install(app: FastAPI) -> None:
    """`/docs`, `/redoc` and their assets under /docs/assets (the app is made with
    docs_url=None and redoc_url=None, so FastAPI's CDN pages are not there)."""
    app.mount(ASSETS, StaticFiles(directory=STATIC), name="docs-assets")
    title = app.title

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} — Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
            swagger_favicon_url=FAVICON,
            oauth2_redirect_url=None,
            # no validator badge: it would send the document to the validator's host
            swagger_ui_parameters={"validatorUrl": None},
        )
        return _guarded(page)

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{title} — ReDoc",
            redoc_js_url=REDOC_JS,
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
        return _guarded(page)


def _guarded(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = POLICY
    return page
