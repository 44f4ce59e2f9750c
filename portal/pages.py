"""Rendering a page: Jinja2 templates (autoescaped), the language, and the security headers.

Chinese first: a template says each label in both languages, `{{ tr("待办", "Inbox") }}`, and
the person's choice (`?lang=en`, kept in a cookie) picks one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from runtime import clock

TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("zh", "en")
LANG_COOKIE = "gdx_lang"
# nothing from another host, no inline script; styles and images from the hub only
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

_env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def language(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGUAGES else "zh"


def when(at: dt.datetime | None) -> str:
    """A time as a person reads it: local, to the minute, with the zone's offset."""
    if at is None:
        return ""
    return clock.local(at).strftime("%Y-%m-%d %H:%M %z")


def render(
    request: Request,
    template: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page `template` with `context`, the signed-in session (request.state.session, if
    any), the language and its CSRF token."""
    lang = language(request)
    session = getattr(request.state, "session", None)

    catalog = request.app.state.catalog

    def tr(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    def department(code: str | None) -> str:
        """A department's name in the page's language (its code when not declared)."""
        found = catalog.departments.get(code or "")
        if found is None:
            return code or ""
        return found.name_en if lang == "en" else found.name_zh

    html = _env.get_template(template).render(
        request=request,
        session=session,
        me=session.person if session else None,
        csrf=session.csrf if session else context.pop("csrf", ""),
        lang=lang,
        tr=tr,
        when=when,
        department=department,
        **context,
    )
    return guarded(HTMLResponse(html, status_code=status, headers=headers), request)


def guarded(response: Response, request: Request | None = None) -> Response:
    """The portal's headers on any of its responses (pages, downloads, redirects)."""
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    if request is not None and request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(
            LANG_COOKIE, request.query_params["lang"], max_age=365 * 86400, samesite="lax"
        )
    return response
