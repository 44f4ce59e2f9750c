"""Signing in through the province's identity platform (一次登录、全网漫游).

`/portal/oidc/start` sends the person to the platform with a flow sealed in a short-lived
HttpOnly cookie; `/portal/oidc/callback` checks the platform's answer (portal/oidc.py), matches
the person (warehouse.people.by_identity) and opens a session as the password sign-in does.
Every failure is a page that says what happened, and an audit record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from portal import journal, oidc, pages
from portal.routes.signin import cookie_secure, welcome
from portal.session import PortalError, safe_next
from warehouse import engine as engines
from warehouse import people

router = APIRouter(prefix="/oidc")
FLOW_COOKIE = "gdx_oidc"
FLOW_PATH = "/portal/oidc/"
TITLE = "统一身份认证登录未成功 Single sign-on failed"
_REFUSED = {
    "disabled": "账号已停用，请联系平台管理员。 This account is disabled.",
    "taken": (
        "该用户名已绑定另一个统一身份认证账号，请联系平台管理员。 This user name is already "
        "matched to another identity of the platform: ask the hub administrator."
    ),
    "unknown": (
        "统一身份认证平台已确认您的身份，但本平台没有您的账号，请联系平台管理员开通。 The identity "
        "platform knows you, but the hub has no account for you: ask the hub administrator."
    ),
}


def _platform() -> oidc.Provider:
    found = oidc.provider()
    if found is None:
        raise PortalError(
            404,
            "本平台未配置统一身份认证，请使用密码登录。 Single sign-on is not set up here: sign in "
            "with your password.",
            "页面不存在 Not found",
        )
    return found


@router.get("/start")
def start(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
    platform = _platform()
    redirect_uri = str(request.url_for("oidc_callback"))
    try:
        url, sealed = oidc.begin(platform, redirect_uri, safe_next(next))
    except oidc.OidcError as exc:
        journal.refused(request, None, "sign_in_failed", exc.status, "oidc: " + exc.reason)
        return _failed(request, exc.status, exc.message)
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        sealed,
        max_age=oidc.FLOW_SECONDS,
        httponly=True,
        samesite="lax",  # the platform's redirect back is a top-level navigation from its site
        secure=cookie_secure(),
        path=FLOW_PATH,
    )
    return pages.guarded(response)


@router.get("/callback", name="oidc_callback")
def callback(request: Request) -> Response:
    platform = _platform()
    answer = {
        key: request.query_params[key]
        for key in ("code", "state", "error")
        if key in request.query_params
    }
    try:
        identity, next_page = oidc.finish(platform, request.cookies.get(FLOW_COOKIE), answer)
    except oidc.OidcError as exc:
        journal.refused(request, None, "sign_in_failed", exc.status, "oidc: " + exc.reason)
        return _failed(request, exc.status, exc.message)
    with engines.writing(request.app.state.engine) as conn:
        someone = people.by_identity(conn, identity.subject, identity.username)
        if someone is not None:
            response = welcome(conn, request, someone, next_page, reason="oidc")
            response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
            return response
        why = people.identity_refusal(conn, identity.subject, identity.username)
        journal.record_anonymous(
            conn,
            request,
            (identity.username or "?")[:120],
            "sign_in_failed",
            403,
            f"oidc: {why} (subject {identity.subject[:200]})",
        )
    return _failed(request, 403, _REFUSED[why])


def _failed(request: Request, status: int, message: str) -> Response:
    response = pages.render(request, "message.html", status=status, title=TITLE, message=message)
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response
