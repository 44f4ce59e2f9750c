"""Signing in and out, and the home page of each role."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from portal import journal, pages
from portal.session import (
    COOKIE,
    SIGNIN_COOKIE,
    SessionDep,
    checked_form,
    current,
    idle,
    safe_next,
)
from runtime import settings
from warehouse import engine as engines
from warehouse import people

router = APIRouter()
MAX_USERNAME = 120


def cookie_secure() -> bool:
    return settings.get("GDX_PORTAL_COOKIE_SECURE").strip().lower() in {"1", "true", "yes"}


def _sign_in_page(request: Request, status: int = 200, **context):
    token = secrets.token_urlsafe(32)
    response = pages.render(
        request,
        "sign_in.html",
        status=status,
        csrf=token,
        next=safe_next(request.query_params.get("next") or context.pop("next", None)),
        oidc=bool(settings.get("GDX_OIDC_ISSUER")),
        **context,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(),
        path="/portal/",
    )
    return response


@router.get("/sign-in")
def sign_in_form(request: Request, expired: Annotated[str | None, Query()] = None):
    if current(request) is not None:
        return pages.guarded(RedirectResponse(safe_next(request.query_params.get("next")), 303))
    return _sign_in_page(request, expired=bool(expired))


@router.post("/sign-in")
def sign_in(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/portal/",
):
    expected = request.cookies.get(SIGNIN_COOKIE) or ""
    if not csrf or not secrets.compare_digest(csrf, expected):
        journal.refused(
            request,
            None,
            "csrf",
            403,
            "sign-in form without its token",
            username=username[:MAX_USERNAME] or "?",
        )
        return _sign_in_page(
            request,
            403,
            next=next,
            errors={
                "form": "这个登录表单已失效，请重新登录。 The sign-in form expired: sign in again."
            },
        )
    username = username.strip()[:MAX_USERNAME]
    errors = {}
    if not username:
        errors["username"] = "请输入用户名。 Enter your user name."
    if not password:
        errors["password"] = "请输入密码。 Enter your password."
    if errors:
        return _sign_in_page(request, 422, next=next, errors=errors, username=username)
    failures = settings.positive("GDX_PORTAL_LOCKOUT_FAILURES")
    lock_for = dt.timedelta(minutes=settings.positive("GDX_PORTAL_LOCKOUT_MINUTES"))
    with engines.writing(request.app.state.engine) as conn:
        outcome = people.sign_in(conn, username, password, failures, lock_for)
        if outcome.person is not None:
            return welcome(conn, request, outcome.person, next)
        journal.record_anonymous(
            conn, request, username, "sign_in_failed", 401, outcome.refused or "refused"
        )
    return _sign_in_page(
        request, 401, next=next, username=username, errors={"form": _refusal(outcome)}
    )


def welcome(
    conn: sa.Connection,
    request: Request,
    someone: people.Person,
    next: str | None,
    reason: str | None = None,
) -> Response:
    """Open a session for `someone` (in `conn`'s writing transaction, with its audit record)
    and the redirect to `next` that sets its cookie: every way of signing in ends here."""
    session = people.open_session(conn, someone, idle())
    journal.record(conn, request, someone, "sign_in", reason=reason)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE,
        session.token,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(),
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/portal/")
    return pages.guarded(response)


def _refusal(outcome: people.SignIn) -> str:
    if outcome.refused == "locked":
        until = pages.when(outcome.locked_until)
        return (
            f"账号已锁定，请于 {until} 后再试，或联系平台管理员。 "
            f"This account is locked after repeated wrong passwords until {until}."
        )
    if outcome.refused == "disabled":
        return "账号已停用，请联系平台管理员。 This account is disabled."
    if outcome.refused == "no_password":
        return "该账号通过统一身份认证登录。 This account signs in through the identity platform."
    return "用户名或密码不正确。 The user name or the password is wrong."


@router.post("/sign-out")
async def sign_out(request: Request, session: SessionDep):
    await checked_form(request, session)
    await run_in_threadpool(_close, request, session)
    response = RedirectResponse("/portal/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return pages.guarded(response)


def _close(request: Request, session: people.Session) -> None:
    with engines.writing(request.app.state.engine) as conn:
        people.close_session(conn, session.token)
        journal.record(conn, request, session.person, "sign_out")


@router.get("/")
def home(request: Request, session: SessionDep):
    return pages.render(request, "home.html")
