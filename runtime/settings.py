"""Every setting in one place: a default, an environment variable and a line of help."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    env: str
    default: str
    help: str


SETTINGS = (
    Setting(
        "GDX_HOME",
        "var",
        "Folder of everything a deployment writes: the embedded databases (the warehouse, "
        "Airflow's metadata DB), Airflow's home and logs, incoming files and reports.",
    ),
    Setting(
        "GDX_DATABASE_URL",
        "sqlite:///{GDX_HOME}/gdx.db",
        "SQLAlchemy URL of the warehouse (PostgreSQL: postgresql+psycopg2://user@host/db).",
    ),
    Setting(
        "GDX_CATALOG_DIR",
        "",
        "Folder of the declarations (departments, resources, sources); empty: the packaged one.",
    ),
    Setting(
        "GDX_IMPORTS_DIR",
        "{GDX_HOME}/catalog_imports",
        "Folder of the resources departments added with `gdx catalog import` (one YAML each).",
    ),
    Setting(
        "GDX_INCOMING_DIR",
        "{GDX_HOME}/incoming",
        "Folder against which relative source paths of the registry are read.",
    ),
    Setting(
        "GDX_CONNECTIONS_FILE",
        "{GDX_HOME}/connections.yaml",
        "Local file of connection URLs by id (written by `gdx demo-data`); keep it private.",
    ),
    Setting(
        "GDX_DATA_DOCS_DIR",
        "{GDX_HOME}/data_docs",
        "Folder of the Great Expectations Data Docs (HTML) of every batch's validation.",
    ),
    Setting(
        "GDX_READ_BLOCK_MB",
        "16",
        "Megabytes of a file read, validated and staged at a time (bounds memory per batch).",
    ),
    Setting(
        "GDX_MAX_COLUMNS",
        "1000",
        "Columns a delivery may have (a file's header, a table, an API's record keys); more "
        "fails the batch before any work grows with them.",
    ),
    Setting(
        "GDX_MAX_HEADER_KB",
        "64",
        "Kibibytes of a file's header row (its line break included); a longer one fails the "
        "batch after reading only that much.",
    ),
    Setting(
        "GDX_MAX_FIELD_KB",
        "128",
        "Kibibytes of one value of a delivery; a longer one fails the batch, naming its line "
        "and column (a CSV record may be at most 1 MiB, or twice this if more).",
    ),
    Setting(
        "GDX_MAX_PAGE_MB",
        "64",
        "Mebibytes of one page of a department's HTTP API; a larger one fails the batch (each "
        "page must also arrive whole within the source's timeout_seconds).",
    ),
    Setting(
        "GDX_BATCH_TIME_LIMIT_SECONDS",
        "3600",
        "Seconds a batch without a registered source's own time_limit_seconds (gdx load, a "
        "retry) may take; past it the batch fails and nothing of it is merged.",
    ),
    Setting(
        "GDX_TIMEZONE",
        "Asia/Shanghai",
        "Time zone of 'today' in the date rules (a date of today there is not in the future) "
        "and of every time the command line, its JSON and the API show (ISO 8601 with offset).",
    ),
    Setting(
        "GDX_CATALOG_PUBLISHER",
        "government_services",
        "Code of the declared department that runs the hub: the publisher of the DCAT-AP "
        "directory (catalog.jsonld) and of its data service.",
    ),
    Setting("GDX_API_HOST", "127.0.0.1", "Address `gdx serve` listens on."),
    Setting("GDX_API_PORT", "8000", "Port `gdx serve` listens on."),
    Setting(
        "GDX_API_SECRET",
        "",
        "Secret that seals the API's paging cursors; empty: one generated once into "
        "GDX_HOME/api_secret (every worker of one GDX_HOME shares it).",
    ),
    Setting(
        "GDX_RATE_LIMIT",
        "50",
        "Data calls a consumer may make per second, on average (a burst of twice as many is let "
        "through); above it the API answers 429 with Retry-After.",
    ),
    Setting(
        "GDX_REDIS_URL",
        "",
        "Redis URL (redis://host:6379/0) of the rate limit every worker and host shares; empty: "
        "each worker limits on its own. Down: each worker limits on its own until it answers.",
    ),
    Setting(
        "GDX_REDIS_PREFIX",
        "gdx:",
        "Prefix of the hub's keys in Redis (two hubs sharing one Redis need different ones).",
    ),
    Setting(
        "GDX_API_POOL",
        "40",
        "PostgreSQL connections each `gdx serve` worker keeps open, the most it uses (a call "
        "waits for one beyond): workers x this must stay under the server's max_connections.",
    ),
    Setting(
        "GDX_BODY_TIMEOUT_SECONDS",
        "10",
        "Seconds a request's body may take to arrive after its headers; a client still sending "
        "then is answered 408 and its connection closed.",
    ),
    Setting(
        "GDX_AUDIT_COMMIT_MS",
        "0",
        "Milliseconds the audit writer waits for more calls before it commits (group commit; 0: "
        "it commits what is waiting at once, and calls that arrive meanwhile go together in the "
        "next commit); a call's response leaves only after its audit record is committed.",
    ),
    Setting(
        "GDX_PORTAL_SESSION_MINUTES",
        "60",
        "Minutes a portal session lasts without use; each page renews it (at most 12 hours "
        "after sign-in).",
    ),
    Setting(
        "GDX_PORTAL_LOCKOUT_FAILURES",
        "5",
        "Wrong passwords in a row after which a portal account is locked.",
    ),
    Setting(
        "GDX_PORTAL_LOCKOUT_MINUTES",
        "15",
        "Minutes a locked portal account stays locked (a hub administrator can unlock it "
        "sooner with `gdx users unlock`).",
    ),
    Setting(
        "GDX_PORTAL_COOKIE_SECURE",
        "false",
        "true: the portal's session cookie is sent over HTTPS only (set it behind TLS).",
    ),
    Setting(
        "GDX_PORTAL_UPLOAD_MB",
        "50",
        "Megabytes of a file a department uploads in the portal (a fixed quarantine file, "
        "directory entries); every other request body stays under 1 MiB.",
    ),
    Setting(
        "GDX_OIDC_ISSUER",
        "",
        "Issuer URL of the province's identity platform (OpenID Connect); empty: the portal "
        "signs in with passwords only.",
    ),
    Setting("GDX_OIDC_CLIENT_ID", "", "The portal's client id at the identity platform."),
    Setting("GDX_OIDC_CLIENT_SECRET", "", "The portal's client secret at the identity platform."),
)


def get(env: str) -> str:
    """The value of a setting: its environment variable, or its default with {GDX_HOME} filled."""
    for setting in SETTINGS:
        if setting.env == env:
            value = os.environ.get(env) or setting.default
            if "{GDX_HOME}" in value:
                value = value.replace("{GDX_HOME}", str(home()))
            return value
    raise KeyError(env)


def home() -> Path:
    return Path(os.environ.get("GDX_HOME") or "var").resolve()


def database_url() -> str:
    return get("GDX_DATABASE_URL")


def catalog_dir() -> Path | None:
    value = get("GDX_CATALOG_DIR")
    return Path(value) if value else None


def imports_dir() -> Path:
    return Path(get("GDX_IMPORTS_DIR"))


def positive(env: str) -> int:
    value = get(env)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{env}: expected a positive whole number, got {value!r}")
    return int(value)


def incoming_dir() -> Path:
    return Path(get("GDX_INCOMING_DIR"))


def connections_file() -> Path:
    return Path(get("GDX_CONNECTIONS_FILE"))


def data_docs_dir() -> Path:
    return Path(get("GDX_DATA_DOCS_DIR"))


def read_block_bytes() -> int:
    return positive("GDX_READ_BLOCK_MB") << 20
