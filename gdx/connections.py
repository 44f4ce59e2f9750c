"""Connection ids of the source registry, resolved to URLs: credentials never sit in YAML.

Looked up, in order: GDX_CONN_<ID>, Airflow's AIRFLOW_CONN_<ID>, the local connections file
(GDX_CONNECTIONS_FILE, a private YAML mapping of id to URL), and Airflow's stored connections
when running inside Airflow.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from connectors import ConnectorError
from runtime import settings


def env_names(connection_id: str) -> tuple[str, str]:
    upper = connection_id.upper().replace("-", "_")
    return f"GDX_CONN_{upper}", f"AIRFLOW_CONN_{upper}"


def resolve(connection_id: str) -> str:
    """The URL of a connection id (see the module's docstring for where it is looked up)."""
    for name in env_names(connection_id):
        value = os.environ.get(name)
        if value:
            return value
    stored = read_file(settings.connections_file()).get(connection_id)
    if stored:
        return stored
    try:
        from airflow.sdk import Connection

        return Connection.get(connection_id).get_uri()
    except Exception:  # not in Airflow, or no such connection there
        pass
    gdx_name, airflow_name = env_names(connection_id)
    raise ConnectorError(
        f"connection {connection_id!r} is not defined: set {gdx_name} (or {airflow_name}), "
        f"add it to {settings.connections_file()} or to Airflow's connections"
    )


def read_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConnectorError(f"{path}: invalid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConnectorError(f"{path}: expected a mapping of connection id to URL")
    return {str(k): str(v) for k, v in data.items()}


def save(path: Path, connections: dict[str, str]) -> None:
    """Add or replace connections in the file, readable by its owner only."""
    merged = read_file(path) | connections
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(yaml.safe_dump(merged, allow_unicode=True), encoding="utf-8")
