"""Who is signed in, what they may do, and the CSRF token of every form.

A page takes `SessionDep` (anyone signed in) or a role's dependency (`HubAdminDep`,
`DepartmentAdminDep`, `IntegratorDep`). A form post reads its fields through `checked_form`,
which refuses a missing or stale CSRF token. Refusals are recorded in the audit log.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from portal import journal
from runtime import settings
from warehouse import engine as engines
from warehouse import people

COOKIE = "gdx_session"
SIGNIN_COOKIE = "gdx_signin"  # the sign-in form's own CSRF token (before there is a session)
ROLE_NAMES = {
    "hub_admin": ("数据共享交换平台管理员", "hub administrator"),
    "department_admin": ("部门数据管理员", "department data administrator"),
    "integrator": ("系统对接人员", "integrator"),
}


class PortalError(Exception):
    """A page's refusal, shown to the person as a page (never a traceback)."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title


class SignInNeeded(Exception):
    """No live session: the person is sent to the sign-in page, and back afterwards."""

    def __init__(self, back: str, expired: bool = False) -> None:
        super().__init__(back)
        self.back = back
        self.expired = expired


def idle() -> dt.timedelta:
    return dt.timedelta(minutes=settings.positive("GDX_PORTAL_SESSION_MINUTES"))


def engine_of(request: Request) -> sa.Engine:
    return request.app.state.engine


def current(request: Request) -> people.Session | None:
    """The request's live session, or None (kept in request.state.session for the page)."""
    token = request.cookies.get(COOKIE)
    found = None
    if token:
        with engines.writing(engine_of(request)) as conn:
            found = people.session(conn, token, idle())
    request.state.session = found
    return found


def signed_in(request: Request) -> people.Session:
    found = current(request)
    if found is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(back, expired=bool(request.cookies.get(COOKIE)))
    return found


SessionDep = Annotated[people.Session, Depends(signed_in)]


def _role(*roles: str):
    def allowed(request: Request, session: SessionDep) -> people.Session:
        if session.person.role not in roles:
            role = session.person.role
            journal.refused(request, session.person, "forbidden", 403, "role " + role)
            raise PortalError(
                403,
                "This page is for "
                + " or ".join(ROLE_NAMES[role][1] for role in roles)
                + f"; you are signed in as {ROLE_NAMES[session.person.role][1]}.",
                "没有权限 Not allowed",
            )
        return session

    return allowed


HubAdminDep = Annotated[people.Session, Depends(_role("hub_admin"))]
DepartmentAdminDep = Annotated[people.Session, Depends(_role("department_admin"))]
IntegratorDep = Annotated[people.Session, Depends(_role("integrator"))]


async def checked_form(request: Request, session: people.Session) -> FormData:
    """The posted form, once its CSRF token matches the session's; else a refusal (403)."""
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, session.csrf):
        await run_in_threadpool(
            journal.refused, request, session.person, "csrf", 403, "missing or stale CSRF token"
        )
        raise PortalError(
            403,
            "This form has expired or did not come from this page (its security token does not "
            "match your session). Go back, reload the page and send it again.",
            "表单已失效 Form expired",
        )
    return form


def sign_in_url(back: str, expired: bool = False) -> str:
    url = "/portal/sign-in?next=" + quote(back, safe="/")
    return url + "&expired=1" if expired else url


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a portal page of this host only."""
    if value and value.startswith("/portal/") and not value.startswith("//"):
        if "\\" not in value and "\n" not in value and "\r" not in value:
            return value
    return "/portal/"
