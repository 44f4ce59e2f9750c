"""Tables generated from the declarations, and the idempotent schema step of `gdx init`.

Layer names are in the table names: `<library>_<entity>` is the golden table (one current
record per key), `hist_` every version, `quarantine_` rejected rows, `stg_` a batch in flight.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import sqlalchemy as sa

from catalog_schema import Catalog, FieldSpec, Resource

metadata = sa.MetaData()

batch_ledger = sa.Table(
    "batch_ledger",
    metadata,
    sa.Column("batch_id", sa.String(40), primary_key=True),
    sa.Column("resource", sa.String(80), nullable=False),
    sa.Column("department", sa.String(80), nullable=False),
    sa.Column("source", sa.String(120)),
    sa.Column("file_path", sa.Text),
    sa.Column("file_checksum", sa.String(64)),
    sa.Column("encoding", sa.String(20)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("rows_read", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_validated", sa.BigInteger),  # null: a batch from before it was counted
    sa.Column("rows_loaded", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_inserted", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_updated", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_unchanged", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_duplicate", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_quarantined", sa.BigInteger, nullable=False, default=0),
    sa.Column("rows_withdrawn", sa.BigInteger, default=0),
    sa.Column("withdrawal_held", sa.Boolean, default=False),
    sa.Column("records_changed", sa.BigInteger, default=0),
    sa.Column("conflicts", sa.BigInteger, default=0),
    sa.Column("rejected_by_rule", sa.JSON, nullable=False, default=dict),
    sa.Column("warned_by_rule", sa.JSON),
    sa.Column("rules_checked", sa.JSON),  # the rule ids the batch's columns allowed
    sa.Column("retry_of", sa.String(40)),  # set on a batch that re-validated quarantined rows
    sa.Column("same_as", sa.String(40)),  # a skipped re-sent file: the batch that loaded it
    sa.Column("data_docs", sa.Text),  # the index of the batch's Great Expectations HTML report
    sa.Column("unknown_columns", sa.JSON, nullable=False, default=list),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("seconds", sa.Float),
    sa.Index("ix_batch_ledger_resource_started", "resource", "started_at"),
    sa.Index("ix_batch_ledger_checksum", "file_checksum"),
)

source_state = sa.Table(
    "source_state",
    metadata,
    sa.Column("source", sa.String(120), primary_key=True),
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("batch_id", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    comment="Where each registered source got to (file checksums, watermarks, cursors)",
)

api_consumer = sa.Table(
    "api_consumer",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("department", sa.String(80), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("key_prefix", sa.String(12), nullable=False),
    sa.Column("role", sa.String(20)),  # consumer (an approval system) or admin (a department's)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

access_request = sa.Table(
    "access_request",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("consumer_id", sa.Integer, nullable=False),
    sa.Column("department", sa.String(80), nullable=False),  # the consumer's department
    sa.Column("resource", sa.String(80), nullable=False),
    sa.Column("provider", sa.String(80), nullable=False),  # who decides
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("service_item", sa.String(40), nullable=False),
    sa.Column("requested_until", sa.Date, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),  # pending, approved, … (grants.py)
    sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("decide_by", sa.Date, nullable=False),  # 10 working days after filing
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", sa.String(120)),
    sa.Column("reason", sa.Text),
    sa.Column("expires_at", sa.DateTime(timezone=True)),  # end of the approved period
    sa.Column("revoked_at", sa.DateTime(timezone=True)),  # revoked, or withdrawn (by the consumer)
    sa.Column("revoked_by", sa.String(120)),
    sa.Column("revoke_reason", sa.Text),
    sa.Index("ix_access_request_consumer", "consumer_id", "resource", "status"),
    sa.Index("ix_access_request_provider", "provider", "status"),
    comment="Requests for conditional (or unmasked) access and the provider's decisions",
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(  # assigned by the writer under the chain lock: 1, 2, 3 … without gaps
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("consumer_id", sa.Integer),
    sa.Column("consumer", sa.String(120)),
    sa.Column("purpose", sa.String(40)),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("resource", sa.String(80)),
    sa.Column("keys", sa.JSON, nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text),
    # a portal action: what was done, by which person (user name) of which department; null
    # on API calls
    sa.Column("action", sa.String(40)),
    sa.Column("person", sa.String(120)),
    sa.Column("department", sa.String(80)),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_consumer_at", "consumer", "at"),
    sa.Index("ix_audit_log_at", "at"),
    comment="Every data call, append-only; each record's hash covers it and the previous hash",
)

person = sa.Table(
    "person",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(120), nullable=False, unique=True),
    sa.Column("display_name", sa.String(120), nullable=False),
    sa.Column("department", sa.String(80), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),  # hub_admin, department_admin, integrator
    sa.Column("consumer_id", sa.Integer),  # an integrator acts for this API consumer
    sa.Column("password_hash", sa.String(200)),  # scrypt; null: signs in only through OIDC
    sa.Column("oidc_subject", sa.String(255)),  # the identity platform's `sub`, once matched
    sa.Column("failed_signins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("disabled_at", sa.DateTime(timezone=True)),
    comment="People who sign in to the portal (machines call the API with keys)",
)

portal_session = sa.Table(
    "portal_session",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # SHA-256 of the cookie's token
    sa.Column("person_id", sa.Integer, nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),  # the token every form of it carries
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_portal_session_person", "person_id"),
    comment="Signed-in portal sessions; the cookie holds a token whose hash is the key",
)

passed_row = sa.Table(
    "passed_row",
    metadata,
    sa.Column("batch_id", sa.String(40), nullable=False, index=True),
    sa.Column("resource", sa.String(80), nullable=False),
    sa.Column("department", sa.String(80), nullable=False),
    sa.Column("day_hash", sa.BigInteger, nullable=False),
    comment="Rows that passed every rule but were dropped as repeats of their key: their hash "
    "salted with the day, so that the same row sent again that day is not validated again "
    "(warehouse/unchanged.py); kept a day",
)

directory_figures = sa.Table(
    "directory_figures",
    metadata,
    sa.Column("resource", sa.String(80), primary_key=True),
    sa.Column("records", sa.BigInteger, nullable=False),
    sa.Column("last_update", sa.DateTime(timezone=True)),
    sa.Column("last_collected", sa.DateTime(timezone=True)),
    sa.Column("update_cycle", sa.String(20), nullable=False),
    sa.Column("fresh", sa.Boolean, nullable=False),
    sa.Column("pass_rate", sa.Float),
    sa.Column("open_conflicts", sa.BigInteger, nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    comment="The published figures of each resource in the directory (the publish DAG)",
)


def column_type(spec: FieldSpec) -> sa.types.TypeEngine:
    if spec.type == "date":
        return sa.Date()
    if spec.type == "decimal":
        return sa.Numeric(20, 4)
    return sa.Text()  # a declared length is checked by the field's rules, not by the column


def _field_columns(resource: Resource, key_is_primary: bool) -> list[sa.Column]:
    return [
        sa.Column(
            spec.name,
            column_type(spec),
            primary_key=key_is_primary and spec.name == resource.key,
            nullable=spec.name != resource.key,
            comment=spec.label_zh,
        )
        for spec in resource.fields
    ]


def _serial(name: str) -> sa.Column:
    """A 64-bit autoincrement key (SQLite autoincrements only an INTEGER primary key)."""
    return sa.Column(
        name,
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    )


def source_column(field: str) -> str:
    """The column naming the batch that supplied a field's current value (provenance)."""
    return f"_src_{field}"


def _source_columns(resource: Resource) -> list[sa.Column]:
    return [
        sa.Column(source_column(spec.name), sa.String(40))
        for spec in resource.fields
        if spec.name != resource.key
    ]


@dataclass(frozen=True)
class ResourceTables:
    """The tables of one resource."""

    resource: Resource
    golden: sa.Table
    history: sa.Table
    quarantine: sa.Table
    contribution: sa.Table
    conflict: sa.Table
    subject_status: sa.Table | None = None  # a status per subject, when declared

    def all(self) -> tuple[sa.Table, ...]:
        tables = (self.golden, self.history, self.quarantine, self.contribution, self.conflict)
        return tables + ((self.subject_status,) if self.subject_status is not None else ())


def _build(resource: Resource) -> ResourceTables:
    name = resource.table_name
    golden = sa.Table(
        name,
        metadata,
        *_field_columns(resource, key_is_primary=True),
        *_source_columns(resource),
        sa.Column("_state", sa.String(10), nullable=False, server_default="active"),
        sa.Column("_batch_id", sa.String(40), nullable=False),
        sa.Column("_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("_removed_at", sa.DateTime(timezone=True)),
        *[
            sa.Index(f"ix_{name}_{spec.name}", spec.name)
            for spec in resource.fields
            if spec.indexed and spec.name != resource.key
        ],
        comment=f"{resource.name_zh}: the golden record per key (active, ended or removed)",
    )
    history = sa.Table(
        f"hist_{name}",
        metadata,
        _serial("_version_id"),
        *_field_columns(resource, key_is_primary=False),
        sa.Column("_state", sa.String(10), nullable=False, server_default="active"),
        sa.Column("_op", sa.String(10), nullable=False),
        sa.Column("_changed", sa.Text, nullable=False),
        sa.Column("_batch_id", sa.String(40), nullable=False),
        sa.Column("_department", sa.String(80), nullable=False),
        sa.Column("_valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Index(f"ix_hist_{name}_key", resource.key, "_valid_from"),
        *([sa.Index(f"ix_hist_{name}_batch", "_batch_id")] if resource.subject_status else []),
        comment=f"{resource.name_zh}: every version",
    )
    quarantine = sa.Table(
        f"quarantine_{name}",
        metadata,
        _serial("id"),
        sa.Column("batch_id", sa.String(40), nullable=False, index=True),
        sa.Column("department", sa.String(80), nullable=False),
        sa.Column("line", sa.BigInteger),
        sa.Column("record_key", sa.Text),
        sa.Column("rules", sa.JSON, nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retried_in", sa.String(40)),  # the batch that re-validated the row
        sa.Column("superseded_by", sa.String(40)),  # a later delivery of the key: not retried
        # the row as delivered, salted with the day it was judged (warehouse/unchanged.py)
        sa.Column("raw_hash", sa.BigInteger),
        comment=f"{resource.name_zh}: rejected rows with every rule they failed",
    )
    contribution = sa.Table(
        f"contrib_{name}",
        metadata,
        *_field_columns(resource, key_is_primary=True),
        sa.Column("_department", sa.String(80), primary_key=True),
        *_source_columns(resource),
        sa.Column("_source", sa.String(120)),
        sa.Column("_batch_id", sa.String(40), nullable=False),
        sa.Column("_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("_withdrawn_at", sa.DateTime(timezone=True)),
        sa.Column("_raw_hash", sa.BigInteger),  # the row as delivered (warehouse/unchanged.py)
        comment=f"{resource.name_zh}: each department's current delivery per key",
    )
    conflict = sa.Table(
        f"conflict_{name}",
        metadata,
        _serial("id"),
        sa.Column("record_key", sa.Text, nullable=False),
        sa.Column("field", sa.String(80), nullable=False),
        sa.Column("winner_department", sa.String(80), nullable=False),
        sa.Column("winner_value", sa.Text),
        sa.Column("winner_batch", sa.String(40)),
        sa.Column("other_department", sa.String(80), nullable=False),
        sa.Column("other_value", sa.Text),
        sa.Column("other_batch", sa.String(40)),
        sa.Column("found_batch", sa.String(40), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_batch", sa.String(40)),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Index(f"ix_conflict_{name}_key", "record_key", "field"),
        comment=f"{resource.name_zh}: departments that disagree on a field, and who won",
    )
    subjects = None
    if resource.subject_status:
        subject = resource.field(resource.subject_status.subject)
        subjects = sa.Table(
            f"{name}_subject",
            metadata,
            sa.Column("subject", column_type(subject), primary_key=True, comment=subject.label_zh),
            sa.Column("subject_type", sa.Text),
            sa.Column("subject_name", sa.Text),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("live_records", sa.Integer, nullable=False),
            sa.Column("since", sa.DateTime(timezone=True), nullable=False),
            sa.Column("batch_id", sa.String(40), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            comment=f"{resource.name_zh}: the status of each subject from its live records",
        )
    return ResourceTables(resource, golden, history, quarantine, contribution, conflict, subjects)


_cache: dict[str, ResourceTables] = {}
_building = threading.Lock()


def for_resource(resource: Resource) -> ResourceTables:
    """The tables of a resource (built once per process per declaration; thread-safe: the API
    serves calls from many threads)."""
    tables = _cache.get(resource.code)
    if tables is not None and tables.resource is resource:
        return tables
    with _building:
        tables = _cache.get(resource.code)
        if tables is None or tables.resource != resource:
            for table in tables.all() if tables else ():
                metadata.remove(table)
            tables = _cache[resource.code] = _build(resource)
    return tables


def subject_status_table(resource: Resource) -> sa.Table:
    table = for_resource(resource).subject_status
    if table is None:
        raise KeyError(f"{resource.code} declares no subject_status")
    return table


def staging_table(resource: Resource) -> sa.Table:
    """A temporary table for one batch in flight: the normalised fields, line and row hash."""
    return sa.Table(
        f"stg_{resource.table_name}",
        sa.MetaData(),
        *[sa.Column(spec.name, column_type(spec)) for spec in resource.fields],
        sa.Column("_line", sa.BigInteger, nullable=False),
        sa.Column("_row_hash", sa.BigInteger, nullable=False),  # normalised: repeats
        sa.Column("_raw_hash", sa.BigInteger),  # as delivered: unchanged next time
        prefixes=["TEMPORARY"],
    )


def init_schema(engine: sa.Engine, catalog: Catalog) -> list[str]:
    """Create missing tables and add missing columns; never drops anything. Returns the changes."""
    for resource in catalog.resources.values():
        for_resource(resource)
    changes: list[str] = []
    with engine.begin() as conn:
        inspector = sa.inspect(conn)
        existing = set(inspector.get_table_names())
        for table in metadata.sorted_tables:
            if table.name not in existing:
                table.create(conn)
                changes.append(f"created table {table.name}")
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    _add_column(conn, table, column)
                    changes.append(f"added column {table.name}.{column.name}")
            indexes = {index["name"] for index in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexes:
                    index.create(conn)
                    changes.append(f"created index {index.name}")
        changes += _notify_access_changes(conn)
    return changes


#: The channel on which PostgreSQL announces every committed change of the consumers and the
#: access requests (their grants): the API's cache of callers (warehouse.callers) listens.
ACCESS_CHANNEL = "gdx_access"
ACCESS_TRIGGER = "gdx_access_changed"
ACCESS_TABLES = ("api_consumer", "access_request")


def _notify_access_changes(conn: sa.Connection) -> list[str]:
    """On PostgreSQL, a trigger on each table of `ACCESS_TABLES` that notifies `ACCESS_CHANNEL`
    after every statement that changes it, whoever writes (the CLI, the portal, the API, psql):
    delivered when the writer commits. SQLite has no notifications and needs none (its API
    caches nothing)."""
    if conn.dialect.name != "postgresql":
        return []
    conn.exec_driver_sql(
        f"CREATE OR REPLACE FUNCTION {ACCESS_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_notify('{ACCESS_CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"
    )
    changes = []
    for table in ACCESS_TABLES:
        present = conn.exec_driver_sql(
            "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%(table)s) AND tgname = %(name)s",
            {"table": table, "name": ACCESS_TRIGGER},
        ).first()
        if present is None:
            conn.exec_driver_sql(
                f"CREATE TRIGGER {ACCESS_TRIGGER} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {ACCESS_TRIGGER}()"
            )
            changes.append(f"created trigger {ACCESS_TRIGGER} on {table}")
    return changes


def _add_column(conn: sa.Connection, table: sa.Table, column: sa.Column) -> None:
    type_sql = column.type.compile(dialect=conn.dialect)
    preparer = conn.dialect.identifier_preparer
    conn.exec_driver_sql(
        f"ALTER TABLE {preparer.format_table(table)} "
        f"ADD COLUMN {preparer.format_column(column)} {type_sql}"
    )
