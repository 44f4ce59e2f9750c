"""Registered API consumers: keys are shown once and stored only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

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
    key = KEY_PREFIX + secrets.token_urlsafe(32)
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
