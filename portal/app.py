"""Mounting the portal in the hub's app (`services.app.create_app` calls `install`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from portal import pages
from portal.routes import (
    consumer,
    directory,
    entries,
    inbox,
    oidc,
    quarantine,
    requests,
    signin,
    sources,
    supervision,
)
from portal.session import PortalError, SignInNeeded, sign_in_url

STATIC = Path(__file__).parent / "static"
PREFIX = "/portal"


def install(app: FastAPI) -> None:
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="portal-static")
    for router in routers():
        app.include_router(router, prefix=PREFIX, include_in_schema=False)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(PREFIX + "/", status_code=303)

    @app.exception_handler(PortalError)
    async def refused(request: Request, exc: PortalError):
        return pages.render(
            request,
            "message.html",
            status=exc.status,
            title=exc.title or _title(exc.status),
            message=exc.message,
        )

    @app.exception_handler(SignInNeeded)
    async def sign_in_first(request: Request, exc: SignInNeeded):
        return pages.guarded(RedirectResponse(sign_in_url(exc.back, exc.expired), 303))

    app.state.body_refusal = _body_refusal  # services.bodies: a too-large body, as a page
    api_handler = app.exception_handlers[HTTPException]

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if not request.url.path.startswith(PREFIX + "/"):
            return await api_handler(request, exc)
        message = {
            404: "There is no such page in the portal.",
            405: "This page does not take that kind of request.",
            413: str(exc.detail),
        }.get(exc.status_code, str(exc.detail))
        return pages.render(
            request,
            "message.html",
            status=exc.status_code,
            title=_title(exc.status_code),
            message=message,
        )


def routers() -> list:
    """Every area's router, in the order of the menu."""
    areas = (signin, oidc, directory, requests, consumer, inbox, sources, quarantine, entries)
    areas += (supervision,)
    return [area.router for area in areas]


def _body_refusal(scope, status: int, detail: str):
    """services.bodies refuses a body (too large, too slow) of a portal path: as a page."""
    if not scope.get("path", "").startswith(PREFIX + "/"):
        return None
    return pages.render(
        Request(scope), "message.html", status=status, title=_title(status), message=detail
    )


def _title(status: int) -> str:
    return {
        403: "没有权限 Not allowed",
        404: "页面不存在 Not found",
        405: "不支持的请求 Not allowed",
        413: "文件过大 Too large",
        422: "无法处理 Cannot be processed",
    }.get(status, "出错了 Something went wrong")
