"""Registered API consumers: keys are shown once and stored only as a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from warehouse.ledger import now
from warehouse.tables import api_consumer

KEY_PREFIX = "gdx_"


ROLES = ("consumer", "admin")


@dataclass(frozen=True)
class Consumer:
    """A caller of the API: an approval system (`consumer`) or a department's data
    administrator (`admin`: decides the access requests to its department's resources)."""

    id: int
    name: str
    department: str
    role: str = "consumer"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add(
    conn: sa.Connection, name: str, department: str, role: str = "consumer"
) -> tuple[Consumer, str]:
    """Register a consumer; returns it and its new key (the only time the key is seen)."""
    if role not in ROLES:
        raise ValueError(f"role: expected one of {', '.join(ROLES)}, got {role!r}")
    key = _new_key()
    consumer_id = conn.execute(
        api_consumer.insert()
        .values(
            name=name,
            department=department,
            key_hash=hash_key(key),
            key_prefix=key[:10],
            role=role,
            created_at=now(),
        )
        .returning(api_consumer.c.id)
    ).scalar_one()
    return Consumer(consumer_id, name, department, role), key


def describe(conn: sa.Connection, consumer_id: int) -> dict[str, Any] | None:
    """A consumer as its integrator sees it (never its key: only the first characters), or
    None. Keys: id, name, department, role, key_prefix, created_at, revoked_at."""
    row = conn.execute(
        sa.select(
            api_consumer.c.id,
            api_consumer.c.name,
            api_consumer.c.department,
            sa.func.coalesce(api_consumer.c.role, "consumer").label("role"),
            api_consumer.c.key_prefix,
            api_consumer.c.created_at,
            api_consumer.c.revoked_at,
        ).where(api_consumer.c.id == consumer_id)
    ).first()
    if row is None:
        return None
    found = dict(row._mapping)
    for name in ("created_at", "revoked_at"):
        if found[name] is not None and found[name].tzinfo is None:  # SQLite keeps UTC naive
            found[name] = found[name].replace(tzinfo=dt.UTC)
    return found


def rotate(conn: sa.Connection, consumer_id: int) -> str:
    """Give the live consumer `consumer_id` a new key and return it (the only time it is
    seen). The row, its id and so its grants stay; the old key's hash is replaced, so the old
    key stops on the next call. LookupError for an unknown or revoked consumer."""
    key = _new_key()
    changed = conn.execute(
        api_consumer.update()
        .where(api_consumer.c.id == consumer_id, api_consumer.c.revoked_at.is_(None))
        .values(key_hash=hash_key(key), key_prefix=key[:10])
    ).rowcount
    if changed != 1:
        raise LookupError(f"consumer {consumer_id} is unknown or its key is revoked")
    return key


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def revoke_named(conn: sa.Connection, name: str) -> int:
    """Revoke every live key of consumers called `name`; returns how many."""
    return conn.execute(
        api_consumer.update()
        .where(api_consumer.c.name == name, api_consumer.c.revoked_at.is_(None))
        .values(revoked_at=now())
    ).rowcount


def by_key(conn: sa.Connection, key: str) -> Consumer | None:
    """The live consumer holding `key`, or None."""
    row = conn.execute(
        sa.select(
            api_consumer.c.id,
            api_consumer.c.name,
            api_consumer.c.department,
            sa.func.coalesce(api_consumer.c.role, "consumer"),
        ).where(api_consumer.c.key_hash == hash_key(key), api_consumer.c.revoked_at.is_(None))
    ).first()
    return Consumer(*row) if row else None


def by_id(conn: sa.Connection, consumer_id: int) -> Consumer | None:
    """The live consumer `consumer_id`, or None (unknown or revoked)."""
    row = conn.execute(
        sa.select(
            api_consumer.c.id,
            api_consumer.c.name,
            api_consumer.c.department,
            sa.func.coalesce(api_consumer.c.role, "consumer"),
        ).where(api_consumer.c.id == consumer_id, api_consumer.c.revoked_at.is_(None))
    ).first()
    return Consumer(*row) if row else None
