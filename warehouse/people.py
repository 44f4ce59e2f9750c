"""People who sign in to the portal, their passwords and their sessions.

Machines call the API with keys (warehouse/consumers.py); people sign in. A person belongs to a
department and has one role: `hub_admin` (the hub's supervisors), `department_admin` (decides
the department's access requests, manages its resources and deliveries) or `integrator` (an
approval system's operator, acting for one API consumer). Passwords are kept as scrypt hashes
(memory-hard, 16 MiB a try); a session's cookie token is kept only as its SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from warehouse.ledger import now as utc_now
from warehouse.passwords import check_password, decoy, hash_password, password_matches
from warehouse.tables import api_consumer, person, portal_session

ROLES = ("hub_admin", "department_admin", "integrator")
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
LONGEST_SESSION = dt.timedelta(hours=12)


class PersonError(ValueError):
    """An account that cannot be added or changed; the message names the field."""


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    display_name: str
    department: str
    role: str
    consumer_id: int | None = None

    @property
    def is_hub_admin(self) -> bool:
        return self.role == "hub_admin"

    @property
    def is_department_admin(self) -> bool:
        return self.role == "department_admin"

    @property
    def is_integrator(self) -> bool:
        return self.role == "integrator"


def _acceptable(password: str) -> str:
    try:
        return check_password(password)
    except ValueError as exc:
        raise PersonError(str(exc)) from None


# --- accounts -----------------------------------------------------------------------------------


def add(
    conn: sa.Connection,
    username: str,
    display_name: str,
    department: str,
    role: str,
    password: str | None,
    departments: Iterable[str],
    consumer: str | None = None,
) -> Person:
    """Add an account. An integrator names the API consumer (an approval system of its
    department) it acts for; a person without a password signs in only through OIDC."""
    if not USERNAME.fullmatch(username or ""):
        raise PersonError(
            f"username: {username!r} is not 2-64 of a-z, 0-9, '.', '_', '-' (starting with a "
            "letter or digit)"
        )
    if role not in ROLES:
        raise PersonError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    if department not in set(departments):
        raise PersonError(f"department: {department!r} is not a department of the directory")
    display_name = (display_name or "").strip() or username
    if len(display_name) > 120:
        raise PersonError("name: at most 120 characters")
    consumer_id = _consumer_of(conn, role, department, consumer)
    if conn.execute(sa.select(person.c.id).where(person.c.username == username)).first():
        raise PersonError(f"username: {username} is taken")
    person_id = conn.execute(
        person.insert()
        .values(
            username=username,
            display_name=display_name,
            department=department,
            role=role,
            consumer_id=consumer_id,
            password_hash=hash_password(_acceptable(password)) if password else None,
            failed_signins=0,
            created_at=utc_now(),
        )
        .returning(person.c.id)
    ).scalar_one()
    return Person(person_id, username, display_name, department, role, consumer_id)


def _consumer_of(conn: sa.Connection, role: str, department: str, name: str | None) -> int | None:
    if role != "integrator":
        if name:
            raise PersonError("consumer: only an integrator acts for an API consumer")
        return None
    if not name:
        raise PersonError("consumer: an integrator names the API consumer it acts for")
    found = conn.execute(
        sa.select(api_consumer.c.id, api_consumer.c.department, api_consumer.c.role)
        .where(api_consumer.c.name == name, api_consumer.c.revoked_at.is_(None))
        .order_by(api_consumer.c.id.desc())
    ).first()
    if found is None:
        raise PersonError(f"consumer: no live API consumer named {name!r}")
    if found.department != department or (found.role or "consumer") != "consumer":
        raise PersonError(
            f"consumer: {name} is not an approval system of {department} (it is "
            f"{found.department}'s {found.role or 'consumer'})"
        )
    return found.id


def act_for(conn: sa.Connection, username: str, consumer: str) -> None:
    """Bind an integrator to (another) API consumer of its department, e.g. after the consumer
    was registered anew."""
    found = _live(conn, username)
    consumer_id = _consumer_of(conn, found.role, found.department, consumer)
    conn.execute(person.update().where(person.c.id == found.id).values(consumer_id=consumer_id))


def exists(conn: sa.Connection, username: str) -> bool:
    return (
        conn.execute(sa.select(person.c.id).where(person.c.username == username)).first()
        is not None
    )


def listing(conn: sa.Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(person, api_consumer.c.name.label("consumer"))
        .select_from(person.outerjoin(api_consumer, api_consumer.c.id == person.c.consumer_id))
        .order_by(person.c.department, person.c.username)
    ).all()
    return [
        {
            "username": row.username,
            "name": row.display_name,
            "department": row.department,
            "role": row.role,
            "consumer": row.consumer,
            "password": row.password_hash is not None,
            "oidc": row.oidc_subject is not None,
            "failed_signins": row.failed_signins,
            "locked_until": _aware(row.locked_until),
            "created_at": _aware(row.created_at),
            "disabled_at": _aware(row.disabled_at),
        }
        for row in rows
    ]


def disable(conn: sa.Connection, username: str) -> None:
    """Disable an account and end its sessions at once."""
    found = _live(conn, username)
    conn.execute(person.update().where(person.c.id == found.id).values(disabled_at=utc_now()))
    conn.execute(portal_session.delete().where(portal_session.c.person_id == found.id))


def unlock(conn: sa.Connection, username: str) -> None:
    found = _live(conn, username)
    conn.execute(
        person.update().where(person.c.id == found.id).values(failed_signins=0, locked_until=None)
    )


def set_password(conn: sa.Connection, username: str, password: str) -> None:
    found = _live(conn, username)
    conn.execute(
        person.update()
        .where(person.c.id == found.id)
        .values(password_hash=hash_password(_acceptable(password)))
    )
    conn.execute(portal_session.delete().where(portal_session.c.person_id == found.id))


def _live(conn: sa.Connection, username: str) -> sa.Row:
    found = conn.execute(sa.select(person).where(person.c.username == username)).first()
    if found is None:
        raise PersonError(f"username: no account {username!r}")
    if found.disabled_at is not None:
        raise PersonError(f"username: {username} is disabled")
    return found


def get(conn: sa.Connection, person_id: int) -> Person | None:
    row = conn.execute(
        sa.select(person).where(person.c.id == person_id, person.c.disabled_at.is_(None))
    ).first()
    return _person(row) if row else None


def _person(row: sa.Row) -> Person:
    return Person(row.id, row.username, row.display_name, row.department, row.role, row.consumer_id)


# --- signing in ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignIn:
    """What a sign-in attempt came to: the person, or why not (`refused`)."""

    person: Person | None
    refused: str | None = None  # unknown, wrong_password, locked, disabled, no_password
    locked_until: dt.datetime | None = None
    username: str = ""


def sign_in(
    conn: sa.Connection,
    username: str,
    password: str,
    failures: int,
    lock_for: dt.timedelta,
    now: dt.datetime | None = None,
) -> SignIn:
    """Check a password. `failures` wrong passwords in a row lock the account for `lock_for`;
    while locked even the right password is refused. The caller commits either way."""
    moment = now or utc_now()
    row = conn.execute(
        sa.select(person).where(person.c.username == username).with_for_update()
    ).first()
    if row is None or row.password_hash is None:
        password_matches(decoy(), password)
        return SignIn(None, "unknown" if row is None else "no_password", username=username)
    if row.disabled_at is not None:
        return SignIn(None, "disabled", username=username)
    locked = _aware(row.locked_until)
    if locked and locked > moment:
        return SignIn(None, "locked", locked, username)
    if not password_matches(row.password_hash, password):
        count = (row.failed_signins or 0) + 1
        until = moment + lock_for if count >= failures else None
        conn.execute(
            person.update()
            .where(person.c.id == row.id)
            .values(failed_signins=0 if until else count, locked_until=until)
        )
        return SignIn(None, "locked" if until else "wrong_password", until, username)
    conn.execute(
        person.update().where(person.c.id == row.id).values(failed_signins=0, locked_until=None)
    )
    return SignIn(_person(row), username=username)


def by_identity(conn: sa.Connection, subject: str, username: str | None) -> Person | None:
    """The live account of an identity platform's subject: the one matched before, else the
    account whose user name the platform gives (matched from then on)."""
    row = conn.execute(
        sa.select(person).where(person.c.oidc_subject == subject, person.c.disabled_at.is_(None))
    ).first()
    if row is None and username:
        row = conn.execute(
            sa.select(person).where(
                person.c.username == username,
                person.c.oidc_subject.is_(None),
                person.c.disabled_at.is_(None),
            )
        ).first()
        if row is not None:
            conn.execute(person.update().where(person.c.id == row.id).values(oidc_subject=subject))
    return _person(row) if row else None


def identity_refusal(conn: sa.Connection, subject: str, username: str | None) -> str:
    """Why `by_identity` found no live account: `disabled` (the subject's account, or the
    unmatched account of that user name, is disabled), `taken` (that user name is matched to
    another subject) or `unknown`."""
    row = conn.execute(sa.select(person).where(person.c.oidc_subject == subject)).first()
    if row is None and username:
        row = conn.execute(sa.select(person).where(person.c.username == username)).first()
        if row is not None and row.oidc_subject is not None:
            return "taken"
    if row is None:
        return "unknown"
    return "disabled" if row.disabled_at is not None else "unknown"


# --- sessions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    person: Person
    csrf: str
    token: str


def open_session(
    conn: sa.Connection, someone: Person, idle: dt.timedelta, now: dt.datetime | None = None
) -> Session:
    moment = now or utc_now()
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    conn.execute(
        portal_session.insert().values(
            token_hash=_token_hash(token),
            person_id=someone.id,
            csrf=csrf,
            created_at=moment,
            expires_at=moment + idle,
        )
    )
    return Session(someone, csrf, token)


def session(
    conn: sa.Connection, token: str, idle: dt.timedelta, now: dt.datetime | None = None
) -> Session | None:
    """The live session of a cookie's token, renewed for `idle` more (never past 12 hours from
    its start); None when unknown, expired or its person disabled."""
    moment = now or utc_now()
    row = conn.execute(
        sa.select(portal_session).where(portal_session.c.token_hash == _token_hash(token))
    ).first()
    if row is None or _aware(row.expires_at) <= moment:
        return None
    someone = get(conn, row.person_id)
    if someone is None:
        return None
    renewed = min(moment + idle, _aware(row.created_at) + LONGEST_SESSION)
    if renewed - _aware(row.expires_at) > dt.timedelta(minutes=1):
        conn.execute(
            portal_session.update()
            .where(portal_session.c.token_hash == row.token_hash)
            .values(expires_at=renewed)
        )
    return Session(someone, row.csrf, token)


def close_session(conn: sa.Connection, token: str) -> None:
    conn.execute(portal_session.delete().where(portal_session.c.token_hash == _token_hash(token)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
