"""Merge a staged batch into a resource, set-based, in four steps.

1. Contributions: the batch's rows become the department's current delivery per key (new,
   changed or, for a full snapshot, withdrawn when the key is gone). Unchanged rows stop here.
2. Winners: for every key whose contributions changed, each field's value is chosen among the
   active contributions: the declared department priority first, then the newest value; an empty
   value wins only from the field's owner (see `catalog_schema.survivorship`).
3. Conflicts: where departments deliver different values, the loser, the winner and both
   batches are recorded; a disagreement that has gone is marked resolved, never deleted.
4. Golden records: inserted, updated, restored or marked removed (no contributor left), with a
   history row per change and, per field, the batch that supplied the value (provenance).
   Declared derived values (an expiry) are applied to the winners first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from catalog_schema.survivorship import FieldPolicy
from warehouse import staging
from warehouse.derived import expired_value
from warehouse.tables import ResourceTables, column_type, source_column

ACTIVE, ENDED, REMOVED = "active", "ended", "removed"
#: From this many staged rows on, the merge joins by hashing only (PostgreSQL).
BIG_BATCH = 10_000
#: ... unless the library holds more than this many times as many records (PostgreSQL's
#: estimate): then probing its indexes beats reading it whole.
LIBRARY_SHARE = 10
#: What a random page costs the planner while a delivery probes the library's indexes (about a
#: sequential page's: the usual setting for SSDs and cached tables; PostgreSQL's default is 4).
PROBE_PAGE_COST = 1.1
#: A full snapshot may always withdraw this many keys, whatever its department's size.
WITHDRAW_ALWAYS = 10


@dataclass(frozen=True)
class Contribution:
    """Who delivers what: the batch, its department and source, the fields it carries."""

    batch_id: str
    department: str
    source: str | None
    fields: list[str]
    at: dt.datetime
    full_snapshot: bool = False
    max_withdraw_ratio: float = 1.0
    today: dt.date | None = None  # for derived values (an expiry); None derives nothing


@dataclass(frozen=True)
class MergeCounts:
    inserted: int = 0  # delivered rows new for this department
    updated: int = 0  # delivered rows that changed the department's contribution
    withdrawn: int = 0  # keys a full snapshot no longer holds
    withdrawal_held: bool = False  # a snapshot with unreadable rows withdraws nothing
    records_changed: int = 0  # golden records inserted, updated, restored or removed
    records_removed: int = 0
    conflicts: int = 0  # disagreements this batch found


class TooManyWithdrawals(Exception):
    """A full snapshot would withdraw more of the department's records than it may."""


def merge(
    conn: sa.Connection,
    tables: ResourceTables,
    stg: sa.Table,
    batch: Contribution,
    policy: dict[str, FieldPolicy],
    kept: sa.Table | None = None,
) -> MergeCounts:
    """Merge the staged rows; `kept` holds the keys the batch delivered unchanged (not staged,
    still held by a full snapshot)."""
    if _empty(conn, tables):
        return _first_load(conn, tables, stg, batch)
    touched = staging.temporary(conn, _touched_table(tables))
    _plan(conn, tables, stg)
    inserted, updated = _contribute(conn, tables, stg, touched, batch)
    withdrawn, held = 0, False
    if batch.full_snapshot:
        withdrawn, held = _withdraw(conn, tables, stg, touched, batch, kept)
    staging.analyze(conn, touched)
    counted = _count_contributors(conn, tables, touched)
    winners = staging.temporary(conn, _winners_table(tables, policy))
    _single(conn, tables, counted, winners)
    _multiple(conn, tables, counted, winners, policy)
    staging.analyze(conn, winners)
    conflicts = _conflicts(conn, tables, touched, winners, batch)
    _derive(conn, tables, winners, batch)
    changed, removed = _apply(conn, tables, touched, counted, winners, batch)
    for table in (winners, counted, touched):
        staging.drop(conn, table)
    return MergeCounts(inserted, updated, withdrawn, held, changed, removed, conflicts)


def _plan(conn: sa.Connection, tables: ResourceTables, stg: sa.Table) -> None:
    """How PostgreSQL joins the staged rows with the library, for the rest of the transaction.

    A big delivery joins by hashing: with statistics that lag behind the table (a department's
    first delivery, rows inserted by this very statement) the planner would otherwise pick a
    nested loop that scans the whole table once per delivered row. A small delivery, or one
    small beside an analysed library (1% of 5 million records, 50,000 newcomers beside 1
    million), probes the key indexes: the planner is told that random pages cost about what
    sequential ones do, else it hashed the whole library in every statement (2 s each at 5
    million records, where probing takes 0.3 s).
    """
    if not staging.is_postgres(conn):
        return
    if _big(conn, tables, stg):
        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
        return
    current = float(conn.exec_driver_sql("SHOW random_page_cost").scalar_one())
    if current > PROBE_PAGE_COST:  # a server set lower keeps its own
        conn.exec_driver_sql(f"SET LOCAL random_page_cost = {PROBE_PAGE_COST}")


def _big(conn: sa.Connection, tables: ResourceTables, stg: sa.Table) -> bool:
    """At least BIG_BATCH staged rows, and not under 1/LIBRARY_SHARE of what the contributions
    held when PostgreSQL last analysed them (never analysed: big)."""
    staged = conn.execute(sa.select(sa.func.count()).select_from(stg)).scalar_one()
    if staged < BIG_BATCH:
        return False
    estimate = sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)")
    name = conn.dialect.identifier_preparer.format_table(tables.contribution)
    held = conn.execute(estimate, {"name": name}).scalar() or -1
    return held < 0 or staged * LIBRARY_SHARE >= held


def _empty(conn: sa.Connection, tables: ResourceTables) -> bool:
    """No department has delivered anything yet (the caller holds the resource's lock)."""
    anything = [
        sa.select(sa.exists().select_from(table)).scalar_subquery()
        for table in (tables.contribution, tables.golden, tables.history)
    ]
    return not conn.execute(sa.select(sa.or_(*anything))).scalar_one()


def _first_load(
    conn: sa.Connection, tables: ResourceTables, stg: sa.Table, batch: Contribution
) -> MergeCounts:
    """The first delivery into an empty resource: every staged key is new and has this one
    contributor, so its values win as delivered. Contributions, records and their first history
    rows are inserted straight from staging: no changed keys to collect, no winners to choose,
    no conflicts, no records to compare."""
    held = batch.full_snapshot and _keyless(conn, tables, batch)
    filled = (tables.contribution, tables.golden, tables.history)
    big = conn.execute(sa.select(sa.func.count()).select_from(stg)).scalar_one() >= BIG_BATCH
    # a big first load builds the indexes once after its rows (readers of the three tables
    # then wait for the batch); a small one is not worth holding them
    with staging.indexes_deferred(conn, *filled) if big else contextlib.nullcontext():
        inserted = _insert_contributions(conn, tables, stg, batch)
        created = _insert_first(conn, tables, stg, batch)
    for table in filled if big else ():  # the next batch's plans need their size now
        staging.analyze(conn, table)
    return MergeCounts(inserted, 0, 0, held, created, 0, 0)


def _insert_first(
    conn: sa.Connection, tables: ResourceTables, stg: sa.Table, batch: Contribution
) -> int:
    """The records of a first load: the staged values as delivered, expiry applied."""
    values = {n: stg.c[n] for n in _values(tables)}
    sources = {n: sa.case((column.is_not(None), batch.batch_id)) for n, column in values.items()}
    rule = tables.resource.expiry
    if rule is not None and batch.today is not None:
        values[rule.field] = expired_value(
            tables.resource, values[rule.field], values[rule.date], batch.today
        )
    return _insert_records(conn, tables, stg.c[tables.resource.key], values, sources, batch)


def _values(tables: ResourceTables) -> list[str]:
    key = tables.resource.key
    return [spec.name for spec in tables.resource.fields if spec.name != key]


def _touched_table(tables: ResourceTables) -> sa.Table:
    key = tables.resource.key_field
    return sa.Table(
        f"tch_{tables.resource.table_name}",
        sa.MetaData(),
        sa.Column(key.name, column_type(key), primary_key=True),
        prefixes=["TEMPORARY"],
    )


def _counted_table(tables: ResourceTables) -> sa.Table:
    """Touched keys that still have active contributions, with how many (`_n`)."""
    key = tables.resource.key_field
    return sa.Table(
        f"cnt_{tables.resource.table_name}",
        sa.MetaData(),
        sa.Column(key.name, column_type(key), primary_key=True),
        sa.Column("_n", sa.Integer, nullable=False),
        prefixes=["TEMPORARY"],
    )


def _winners_table(tables: ResourceTables, policy: dict[str, FieldPolicy]) -> sa.Table:
    """Active contributions of keys with several contributors, each field's winner beside them
    (value `_w_`, batch `_ws_`, department `_wd_`); `_rn` 1 on one row per key."""
    key = tables.resource.key_field
    columns = [sa.Column(key.name, column_type(key)), sa.Column("_department", sa.String(80))]
    for name in _values(tables):
        kind = column_type(tables.resource.field(name))
        columns += [
            sa.Column(name, kind),
            sa.Column(source_column(name), sa.String(40)),
            sa.Column(f"_w_{name}", kind),
            sa.Column(f"_ws_{name}", sa.String(40)),
            sa.Column(f"_wd_{name}", sa.String(80)),
        ]
    return sa.Table(
        f"win_{tables.resource.table_name}",
        sa.MetaData(),
        *columns,
        sa.Column("_rn", sa.Integer),
        prefixes=["TEMPORARY"],
    )


def _contribute(
    conn: sa.Connection,
    tables: ResourceTables,
    stg: sa.Table,
    touched: sa.Table,
    batch: Contribution,
) -> tuple[int, int]:
    """Upsert the department's contributions; note every key whose contribution changed."""
    updated = _update_contributions(conn, tables, stg, touched, batch)
    contrib, key = tables.contribution, tables.resource.key
    absent = ~sa.exists().where(
        contrib.c[key] == stg.c[key], contrib.c._department == batch.department
    )
    conn.execute(touched.insert().from_select([key], sa.select(stg.c[key]).where(absent)))
    inserted = _insert_contributions(conn, tables, stg, batch, absent)
    return inserted, updated


def _update_contributions(
    conn: sa.Connection,
    tables: ResourceTables,
    stg: sa.Table,
    touched: sa.Table,
    batch: Contribution,
) -> int:
    """The department's contributions the batch changes (or revives); returns how many."""
    contrib, key = tables.contribution, tables.resource.key
    values = [name for name in batch.fields if name != key]
    mine = sa.and_(contrib.c[key] == stg.c[key], contrib.c._department == batch.department)
    revived = contrib.c._withdrawn_at.is_not(None)
    # a column delivered for the first time counts even when empty (an owner's blank)
    changed = {
        n: sa.or_(contrib.c[n].is_distinct_from(stg.c[n]), contrib.c[source_column(n)].is_(None))
        for n in values
    }
    differs = sa.or_(revived, *changed.values())
    conn.execute(
        touched.insert().from_select(
            [key], sa.select(stg.c[key]).select_from(stg.join(contrib, mine)).where(differs)
        )
    )
    sources = {
        source_column(n): sa.case(
            (sa.or_(revived, change), batch.batch_id), else_=contrib.c[source_column(n)]
        )
        for n, change in changed.items()
    }
    updated = conn.execute(
        contrib.update()
        .where(mine, differs)
        .values(
            {n: stg.c[n] for n in values}
            | sources
            | {
                "_batch_id": batch.batch_id,
                "_changed_at": batch.at,
                "_withdrawn_at": None,
                "_source": batch.source,
                "_raw_hash": stg.c._raw_hash,
            }
        )
    ).rowcount
    # the same values spelt differently (男 for 1): nothing changed, but next time the row as
    # now delivered is the one that is unchanged
    conn.execute(
        contrib.update()
        .where(mine, contrib.c._raw_hash.is_distinct_from(stg.c._raw_hash))
        .values(_raw_hash=stg.c._raw_hash)
    )
    return updated


def _insert_contributions(
    conn: sa.Connection,
    tables: ResourceTables,
    stg: sa.Table,
    batch: Contribution,
    *where: sa.ColumnElement[bool],
) -> int:
    """The department's first contribution for the staged keys (all of them, or those `where`
    picks); every delivered column names this batch, even when empty (an owner's blank)."""
    contrib, key = tables.contribution, tables.resource.key
    values = [name for name in batch.fields if name != key]
    stamp = sa.literal(batch.batch_id, sa.String)
    return conn.execute(
        contrib.insert().from_select(
            [key, *values, *map(source_column, values), "_department", "_source"]
            + ["_batch_id", "_changed_at", "_raw_hash"],
            sa.select(
                stg.c[key],
                *[stg.c[n] for n in values],
                *[stamp for _ in values],
                sa.literal(batch.department, sa.String),
                sa.literal(batch.source, sa.String),
                stamp,
                sa.literal(batch.at, sa.DateTime(timezone=True)),
                stg.c._raw_hash,
            ).where(*where),
        )
    ).rowcount


def _keyless(conn: sa.Connection, tables: ResourceTables, batch: Contribution) -> bool:
    """Some row of the batch could not even be read (no key): a snapshot then withdraws
    nothing, since any key may be among them."""
    quarantine = tables.quarantine
    rows = sa.select(sa.func.count()).where(
        quarantine.c.batch_id == batch.batch_id, quarantine.c.record_key.is_(None)
    )
    return conn.execute(rows).scalar_one() > 0


def _withdraw(
    conn: sa.Connection,
    tables: ResourceTables,
    stg: sa.Table,
    touched: sa.Table,
    batch: Contribution,
    kept: sa.Table | None = None,
) -> tuple[int, bool]:
    """A full snapshot withdraws the department's keys it no longer holds. Keys of rows it
    quarantined are still held; if a row could not even be read (no key), nothing is withdrawn."""
    contrib, quarantine, key = tables.contribution, tables.quarantine, tables.resource.key
    if _keyless(conn, tables, batch):
        return 0, True
    this_batch = quarantine.c.batch_id == batch.batch_id
    active = sa.and_(contrib.c._department == batch.department, contrib.c._withdrawn_at.is_(None))
    gone = sa.and_(
        active,
        ~sa.exists().where(stg.c[key] == contrib.c[key]),
        ~sa.exists().where(this_batch, quarantine.c.record_key == contrib.c[key]),
        *([~sa.exists().where(kept.c[key] == contrib.c[key])] if kept is not None else []),
    )
    held = conn.execute(sa.select(sa.func.count()).where(active)).scalar_one()
    leaving = conn.execute(sa.select(sa.func.count()).where(gone)).scalar_one()
    if leaving > max(held * batch.max_withdraw_ratio, WITHDRAW_ALWAYS):
        raise TooManyWithdrawals(
            f"full snapshot would withdraw {leaving} of {batch.department}'s {held} records "
            f"(more than {batch.max_withdraw_ratio:.0%} and more than {WITHDRAW_ALWAYS}); is the "
            "file complete? nothing was merged"
        )
    conn.execute(touched.insert().from_select([key], sa.select(contrib.c[key]).where(gone)))
    withdrawn = conn.execute(
        contrib.update()
        .where(gone)
        .values(_withdrawn_at=batch.at, _batch_id=batch.batch_id, _changed_at=batch.at)
    ).rowcount
    return withdrawn, False


def _active(tables: ResourceTables, touched: sa.Table) -> sa.ColumnElement[bool]:
    contrib, key = tables.contribution, tables.resource.key
    return sa.and_(contrib.c[key] == touched.c[key], contrib.c._withdrawn_at.is_(None))


def _count_contributors(conn: sa.Connection, tables: ResourceTables, touched: sa.Table) -> sa.Table:
    """One grouped pass (no per-key subquery): the active contributors of each touched key."""
    contrib, key = tables.contribution, tables.resource.key
    counted = staging.temporary(conn, _counted_table(tables))
    rows = (
        sa.select(contrib.c[key], sa.func.count())
        .select_from(contrib.join(touched, _active(tables, touched)))
        .group_by(contrib.c[key])
    )
    conn.execute(counted.insert().from_select([key, "_n"], rows))
    staging.analyze(conn, counted)
    return counted


def _single(
    conn: sa.Connection, tables: ResourceTables, counted: sa.Table, winners: sa.Table
) -> None:
    """Keys with one contributor take its values as they are."""
    touched = counted
    contrib, key = tables.contribution, tables.resource.key
    values = _values(tables)
    rows = (
        sa.select(
            contrib.c[key],
            *[contrib.c[n] for n in values],
            *[_source_if_value(contrib, n) for n in values],
            sa.literal(1),
        )
        .select_from(contrib.join(touched, _active(tables, touched)))
        .where(touched.c._n == 1)
    )
    targets = [key, *[f"_w_{n}" for n in values], *[f"_ws_{n}" for n in values], "_rn"]
    conn.execute(winners.insert().from_select(targets, rows))


def _source_if_value(contrib: sa.Table, name: str) -> sa.ColumnElement:
    """An empty field has no provenance."""
    return sa.case((contrib.c[name].is_not(None), contrib.c[source_column(name)]))


def _multiple(
    conn: sa.Connection,
    tables: ResourceTables,
    counted: sa.Table,
    winners: sa.Table,
    policy: dict[str, FieldPolicy],
) -> None:
    """Keys with several contributors: each field's winner by window functions."""
    touched = counted
    contrib, key = tables.contribution, tables.resource.key
    department = contrib.c._department
    columns: list[sa.ColumnElement] = [contrib.c[key], department]
    targets = [key, "_department"]
    for name in _values(tables):
        columns += _field_winner(tables, name, policy.get(name) or FieldPolicy((), None))
        targets += [name, source_column(name), f"_w_{name}", f"_ws_{name}", f"_wd_{name}"]
    columns.append(sa.func.row_number().over(partition_by=contrib.c[key], order_by=department))
    targets.append("_rn")
    rows = (
        sa.select(*columns)
        .select_from(contrib.join(touched, _active(tables, touched)))
        .where(touched.c._n > 1)
    )
    conn.execute(winners.insert().from_select(targets, rows))


def _field_winner(tables: ResourceTables, name: str, rule: FieldPolicy) -> list[sa.ColumnElement]:
    """A contribution's value and source beside the field's winning value, source and
    department among the key's contributions."""
    contrib = tables.contribution
    department = contrib.c._department
    value, source = contrib.c[name], contrib.c[source_column(name)]
    candidate = value.is_not(None)
    if rule.owner:
        candidate = sa.or_(candidate, sa.and_(department == rule.owner, source.is_not(None)))
    rank = (
        sa.case({code: i for i, code in enumerate(rule.order)}, value=department, else_=99)
        if rule.order
        else sa.literal(0)
    )
    window = {
        "partition_by": contrib.c[tables.resource.key],
        "order_by": [
            sa.case((candidate, 0), else_=1),
            rank,
            source.desc().nulls_last(),
            department,
        ],
    }
    return [
        value,
        source,
        sa.func.first_value(value).over(**window),
        sa.func.first_value(sa.case((value.is_not(None), source))).over(**window),
        sa.func.first_value(sa.case((candidate, department))).over(**window),
    ]


def _conflicts(
    conn: sa.Connection,
    tables: ResourceTables,
    touched: sa.Table,
    winners: sa.Table,
    batch: Contribution,
) -> int:
    """Record new disagreements of the touched keys; mark those that have gone resolved."""
    found = _disagreements(tables, winners)
    if not found:
        return 0
    # materialised and indexed: the comparisons below then probe it instead of re-running the
    # union for every recorded conflict
    current = staging.temporary(conn, _found_table(tables))
    conn.execute(current.insert().from_select(list(current.c.keys()), sa.union_all(*found)))
    staging.analyze(conn, current)
    inserted = _record_conflicts(conn, tables, touched, current, batch)
    staging.drop(conn, current)
    return inserted


def _disagreements(tables: ResourceTables, winners: sa.Table) -> list[sa.Select]:
    """Per field: the touched keys whose contributions differ from the winning value."""
    w, key = winners.c, tables.resource.key
    return [
        sa.select(
            w[key].label("record_key"),
            sa.literal(name, sa.String).label("field"),
            w[f"_wd_{name}"].label("winner_department"),
            sa.cast(w[f"_w_{name}"], sa.Text).label("winner_value"),
            w[f"_ws_{name}"].label("winner_batch"),
            w._department.label("other_department"),
            sa.cast(w[name], sa.Text).label("other_value"),
            w[source_column(name)].label("other_batch"),
        ).where(
            w._department.is_not(None),
            w[name].is_not(None),
            w[f"_w_{name}"].is_not(None),  # an owner's blank is not a disagreement
            w[f"_wd_{name}"].is_not(None),
            w._department != w[f"_wd_{name}"],
            w[name].is_distinct_from(w[f"_w_{name}"]),
        )
        for name in _values(tables)
    ]


def _record_conflicts(
    conn: sa.Connection,
    tables: ResourceTables,
    touched: sa.Table,
    current: sa.Table,
    batch: Contribution,
) -> int:
    """Resolve the open conflicts no longer found; insert those found anew."""
    conflict, key = tables.conflict, tables.resource.key
    c = conflict.c
    open_for_touched = sa.and_(
        c.resolved_at.is_(None), sa.exists().where(touched.c[key] == c.record_key)
    )
    same = sa.and_(
        current.c.record_key == c.record_key,
        current.c.field == c.field,
        current.c.other_department == c.other_department,
        current.c.winner_department == c.winner_department,
        current.c.other_value.is_not_distinct_from(c.other_value),
        current.c.winner_value.is_not_distinct_from(c.winner_value),
    )
    conn.execute(
        conflict.update()
        .where(open_for_touched, ~sa.exists().where(same))
        .values(resolved_batch=batch.batch_id, resolved_at=batch.at)
    )
    names = [col.name for col in current.c]
    new = sa.select(
        *current.c,
        sa.literal(batch.batch_id, sa.String),
        sa.literal(batch.at, sa.DateTime(timezone=True)),
    ).where(~sa.exists().where(same, c.resolved_at.is_(None)))
    return conn.execute(
        conflict.insert().from_select([*names, "found_batch", "found_at"], new)
    ).rowcount


def _found_table(tables: ResourceTables) -> sa.Table:
    """The disagreements among the touched keys' contributions, as found now."""
    name = tables.resource.table_name
    return sa.Table(
        f"found_{name}",
        sa.MetaData(),
        sa.Column("record_key", sa.Text),
        sa.Column("field", sa.String(80)),
        sa.Column("winner_department", sa.String(80)),
        sa.Column("winner_value", sa.Text),
        sa.Column("winner_batch", sa.String(40)),
        sa.Column("other_department", sa.String(80)),
        sa.Column("other_value", sa.Text),
        sa.Column("other_batch", sa.String(40)),
        sa.Index(f"ix_found_{name}", "record_key", "field"),
        prefixes=["TEMPORARY"],
    )


def _derive(
    conn: sa.Connection, tables: ResourceTables, winners: sa.Table, batch: Contribution
) -> None:
    """Derived values (a licence past its end date is 过期) go into the golden record with the
    delivered ones, so that a later refresh has nothing to flip back and forth."""
    rule = tables.resource.expiry
    if rule is None or batch.today is None:
        return
    w = winners.c
    value, date = w[f"_w_{rule.field}"], w[f"_w_{rule.date}"]
    conn.execute(
        winners.update()
        .where(w._rn == 1)
        .values({value.name: expired_value(tables.resource, value, date, batch.today)})
    )


def _state(
    tables: ResourceTables, key: sa.ColumnElement, values: dict[str, sa.ColumnElement]
) -> sa.ColumnElement:
    """`ended` when a declared end condition holds (注销, a death date), else `active`."""
    ends = []
    for end in tables.resource.ended_by:
        value = values[end.field] if end.field != tables.resource.key else key
        ends.append(value.in_(end.values) if end.values else value.is_not(None))
    if not ends:
        return sa.literal(ACTIVE, sa.String)
    return sa.case((sa.or_(*ends), ENDED), else_=ACTIVE)


def _history_columns(tables: ResourceTables) -> list[str]:
    names = [tables.resource.key, *_values(tables), "_state", "_op", "_changed", "_batch_id"]
    return [*names, "_department", "_valid_from"]


def _meta(batch: Contribution) -> list[sa.ColumnElement]:
    """A history row's batch, department and time."""
    return [
        sa.literal(batch.batch_id, sa.String),
        sa.literal(batch.department, sa.String),
        sa.literal(batch.at, sa.DateTime(timezone=True)),
    ]


def _insert_records(
    conn: sa.Connection,
    tables: ResourceTables,
    key: sa.ColumnElement,
    values: dict[str, sa.ColumnElement],
    sources: dict[str, sa.ColumnElement],
    batch: Contribution,
    *where: sa.ColumnElement[bool],
) -> int:
    """New golden records (a first history row each) from the winners' values and sources."""
    names = _values(tables)
    state = _state(tables, key, values)
    winners = [values[n] for n in names]
    conn.execute(
        tables.history.insert().from_select(
            _history_columns(tables),
            sa.select(key, *winners, state, sa.literal("insert"), sa.literal(" ".join(names)))
            .add_columns(*_meta(batch))
            .where(*where),
        )
    )
    at = sa.literal(batch.at, sa.DateTime(timezone=True))
    return conn.execute(
        tables.golden.insert().from_select(
            [tables.resource.key, *names, *map(source_column, names), "_state", "_batch_id"]
            + ["_created_at", "_updated_at"],
            sa.select(
                key,
                *winners,
                *[sources[n] for n in names],
                state,
                sa.literal(batch.batch_id, sa.String),
                at,
                at,
            ).where(*where),
        )
    ).rowcount


def _apply(
    conn: sa.Connection,
    tables: ResourceTables,
    touched: sa.Table,
    counted: sa.Table,
    winners: sa.Table,
    batch: Contribution,
) -> tuple[int, int]:
    """Write the winners into the golden table, a history row per change."""
    removed = _remove_uncontributed(conn, tables, touched, counted, batch)
    key, values = tables.resource.key, _values(tables)
    new = sa.select(winners).where(winners.c._rn == 1).subquery("new")
    updated = _update_records(conn, tables, new, batch)
    absent = ~sa.exists().where(tables.golden.c[key] == new.c[key])
    sources = {n: new.c[f"_ws_{n}"] for n in values}
    winners_values = {n: new.c[f"_w_{n}"] for n in values}
    inserted = _insert_records(conn, tables, new.c[key], winners_values, sources, batch, absent)
    return removed + updated + inserted, removed


def _remove_uncontributed(
    conn: sa.Connection,
    tables: ResourceTables,
    touched: sa.Table,
    counted: sa.Table,
    batch: Contribution,
) -> int:
    """Golden records no active contribution holds any more are marked removed."""
    golden, key, values = tables.golden, tables.resource.key, _values(tables)
    gone = sa.and_(
        touched.c[key] == golden.c[key],
        ~sa.exists().where(counted.c[key] == touched.c[key]),
        golden.c._removed_at.is_(None),
    )
    conn.execute(
        tables.history.insert().from_select(
            _history_columns(tables),
            sa.select(
                golden.c[key],
                *[golden.c[n] for n in values],
                sa.literal(REMOVED),
                sa.literal("remove"),
                sa.literal(""),
                *_meta(batch),
            ).select_from(golden.join(touched, gone)),
        )
    )
    return conn.execute(
        golden.update()
        .where(sa.exists().where(gone))
        .values(
            _state=REMOVED, _removed_at=batch.at, _batch_id=batch.batch_id, _updated_at=batch.at
        )
    ).rowcount


def _update_records(
    conn: sa.Connection, tables: ResourceTables, new: sa.Subquery, batch: Contribution
) -> int:
    """Golden records whose winning values or state changed (or that come back), each with a
    history row; where only the provenance moved, the provenance alone."""
    golden, key, values = tables.golden, tables.resource.key, _values(tables)
    winners_values = {n: new.c[f"_w_{n}"] for n in values}
    state = _state(tables, new.c[key], winners_values)
    same_key = new.c[key] == golden.c[key]
    value_differs = [golden.c[n].is_distinct_from(new.c[f"_w_{n}"]) for n in values]
    restored = golden.c._removed_at.is_not(None)
    differs = sa.or_(restored, golden.c._state != state, *value_differs)
    changed = sa.literal("", sa.Text)
    for name, differ in zip(values, value_differs, strict=True):
        changed = changed + sa.case((differ, name + " "), else_="")
    conn.execute(
        tables.history.insert().from_select(
            _history_columns(tables),
            sa.select(
                new.c[key],
                *[new.c[f"_w_{n}"] for n in values],
                state,
                sa.case((restored, "restore"), else_="update"),
                sa.func.trim(changed),
                *_meta(batch),
            )
            .select_from(new.join(golden, same_key))
            .where(differs),
        )
    )
    provenance = {source_column(n): new.c[f"_ws_{n}"] for n in values}
    updated = conn.execute(
        golden.update()
        .where(same_key, differs)
        .values(
            winners_values
            | provenance
            | {
                "_state": state,
                "_removed_at": None,
                "_batch_id": batch.batch_id,
                "_updated_at": batch.at,
            }
        )
    ).rowcount
    # the same values from another department or batch: provenance only, no new version
    moved = sa.or_(*[golden.c[c].is_distinct_from(v) for c, v in provenance.items()])
    conn.execute(golden.update().where(same_key, moved).values(provenance))
    return updated
