"""Registered consumers: describing one and rotating its key."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from warehouse import consumers
from warehouse.tables import api_consumer


def test_rotate_replaces_the_key_and_keeps_the_consumer(engine):
    with engine.begin() as conn:
        consumer, old = consumers.add(conn, "approval", "government_services")
        other, other_key = consumers.add(conn, "other", "civil_affairs")
        new = consumers.rotate(conn, consumer.id)
    assert new.startswith(consumers.KEY_PREFIX) and new != old
    with engine.connect() as conn:
        assert consumers.by_key(conn, old) is None
        assert consumers.by_key(conn, new) == consumer  # same id, name, department
        assert consumers.by_key(conn, other_key) == other  # nobody else's key moved
        shown = consumers.describe(conn, consumer.id)
        stored = conn.execute(
            sa.select(api_consumer.c.key_hash).where(api_consumer.c.id == consumer.id)
        ).scalar_one()
    assert shown["key_prefix"] == new[:10] and shown["name"] == "approval"
    assert shown["created_at"].tzinfo is not None and shown["revoked_at"] is None
    assert stored == consumers.hash_key(new) and new not in stored


def test_a_revoked_or_unknown_consumer_is_not_rotated(engine):
    with engine.begin() as conn:
        consumer, key = consumers.add(conn, "approval", "government_services")
        consumers.revoke_named(conn, "approval")
    with engine.begin() as conn:
        with pytest.raises(LookupError):
            consumers.rotate(conn, consumer.id)
        with pytest.raises(LookupError):
            consumers.rotate(conn, consumer.id + 100)
    with engine.connect() as conn:
        assert consumers.describe(conn, consumer.id)["revoked_at"] is not None
        assert consumers.describe(conn, consumer.id + 100) is None
        assert consumers.by_key(conn, key) is None
