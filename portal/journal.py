"""Portal actions in the hub's audit log: the same hash chain as the API's calls, with the
person, their department and what they did (`action`), so `gdx audit verify` covers them.

`record` appends inside the caller's transaction (the action and its record commit together);
`refused` writes a refusal in a transaction of its own (nothing else changes).
"""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Request

from warehouse import audit, people

ACTIONS = (
    "sign_in",
    "sign_in_failed",
    "sign_out",
    "forbidden",
    "csrf",
    "request_filed",
    "request_approved",
    "request_refused",
    "request_revoked",
    "request_withdrawn",
    "key_rotated",
    "file_uploaded",
    "entry_imported",
    "refused",
)


def entry(
    request: Request,
    someone: people.Person | None,
    action: str,
    status: int,
    *,
    resource: str | None = None,
    reason: str | None = None,
    username: str | None = None,
    keys: list[str] | None = None,
) -> audit.Record:
    if action not in ACTIONS:
        raise ValueError(f"action: {action!r} is not a portal action")
    return audit.Record(
        method=request.method,
        path=request.url.path,
        status=status,
        consumer_id=someone.consumer_id if someone else None,
        resource=resource,
        keys=keys or [],
        reason=reason,
        action=action,
        person=someone.username if someone else (username or "?"),
        department=someone.department if someone else None,
    )


def record(
    conn: sa.Connection,
    request: Request,
    someone: people.Person,
    action: str,
    status: int = 200,
    **details,
) -> None:
    """Append the action's record in `conn`'s transaction (a writing() one)."""
    audit.append(conn, [entry(request, someone, action, status, **details)])


def record_anonymous(
    conn: sa.Connection, request: Request, username: str, action: str, status: int, reason: str
) -> None:
    """Append a record of someone not (or not yet) signed in: a failed sign-in names the user
    name that was tried."""
    audit.append(conn, [entry(request, None, action, status, reason=reason, username=username)])


def refused(
    request: Request,
    someone: people.Person | None,
    action: str,
    status: int,
    reason: str,
    **details,
) -> None:
    """Record a refusal on its own (the change it refused made nothing)."""
    audit.write(
        request.app.state.engine,
        [entry(request, someone, action, status, reason=reason, **details)],
    )
