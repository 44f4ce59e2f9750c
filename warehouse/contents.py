"""What a warehouse holds, in a form a backup records and a restore checks: the rows of every
table, the audit chain's head, and a digest of the batch ledger."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa

from warehouse import audit


class BackupError(ValueError):
    """A backup or restore that cannot go on; the message names the file, table or tool."""


def table_names(conn: sa.Connection) -> list[str]:
    """The tables of the connection's schema (PostgreSQL: the first of its search_path)."""
    schema = None
    if conn.dialect.name == "postgresql":
        # not the dialect's cached default: a restore looks into another schema by search_path
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        if schema is None:
            return []
    return sorted(sa.inspect(conn).get_table_names(schema=schema))


def _quoted(conn: sa.Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def count_rows(conn: sa.Connection, names: list[str] | None = None) -> dict[str, int]:
    """Rows per table."""
    return {
        name: conn.exec_driver_sql(f"SELECT count(*) FROM {_quoted(conn, name)}").scalar_one()
        for name in (table_names(conn) if names is None else names)
    }


def first_with_rows(conn: sa.Connection) -> str | None:
    """A table that holds at least one row, or None for an empty (or uncreated) warehouse."""
    for name in table_names(conn):
        found = conn.exec_driver_sql(f"SELECT 1 FROM {_quoted(conn, name)} LIMIT 1").first()
        if found:
            return name
    return None


def ledger_digest(conn: sa.Connection) -> str:
    """SHA-256 of every batch ledger row as the database returns it, in batch id order."""
    rows = conn.exec_driver_sql("SELECT * FROM batch_ledger ORDER BY batch_id")
    digest = hashlib.sha256()
    for row in rows:
        line = json.dumps(dict(row._mapping), sort_keys=True, default=str, ensure_ascii=False)
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def describe(conn: sa.Connection) -> dict[str, Any]:
    """Rows per table, the audit chain as `gdx audit verify` finds it, the ledger's digest."""
    tables = count_rows(conn)
    found: dict[str, Any] = {"tables": tables, "rows": sum(tables.values())}
    if "audit_log" in tables:
        chain = audit.verify(conn)
        found["audit"] = {
            "records": chain.records,
            "head": chain.head,
            "intact": chain.ok,
            "bad_seq": chain.bad_seq,
        }
    if "batch_ledger" in tables:
        found["ledger"] = {"batches": tables["batch_ledger"], "sha256": ledger_digest(conn)}
    return found


def difference(found: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """The first way `found` differs from what the manifest `expected`, or None."""
    missing = sorted(set(expected["tables"]) - set(found["tables"]))
    if missing:
        return f"table {missing[0]} is missing"
    extra = sorted(set(found["tables"]) - set(expected["tables"]))
    if extra:
        return f"table {extra[0]} is not in the manifest"
    for name, rows in expected["tables"].items():
        if found["tables"][name] != rows:
            return f"table {name} has {found['tables'][name]} rows, the manifest says {rows}"
    chain, recorded = found.get("audit"), expected.get("audit")
    if chain != recorded:
        return f"audit log is {_chain(chain)}, the manifest says {_chain(recorded)}"
    if found.get("ledger") != expected.get("ledger"):
        return "batch ledger rows differ from the manifest's digest"
    return None


def _chain(state: dict[str, Any] | None) -> str:
    if state is None:
        return "absent"
    head = (state["head"] or "none")[:16]
    broken = "" if state["intact"] else f", broken at seq {state['bad_seq']}"
    return f"{state['records']} records with head {head}{broken}"
