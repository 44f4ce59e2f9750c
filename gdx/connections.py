"""Connection ids of the source registry, resolved to URLs: credentials never sit in YAML."""

from __future__ import annotations

import os

from connectors import ConnectorError


def env_names(connection_id: str) -> tuple[str, str]:
    upper = connection_id.upper().replace("-", "_")
    return f"GDX_CONN_{upper}", f"AIRFLOW_CONN_{upper}"


def resolve(connection_id: str) -> str:
    """The URL of a connection: GDX_CONN_<ID>, Airflow's AIRFLOW_CONN_<ID>, or a connection
    stored in Airflow (when running inside Airflow)."""
    for name in env_names(connection_id):
        value = os.environ.get(name)
        if value:
            return value
    try:
        from airflow.sdk import Connection

        return Connection.get(connection_id).get_uri()
    except Exception:  # not in Airflow, or no such connection there
        pass
    gdx_name, airflow_name = env_names(connection_id)
    raise ConnectorError(
        f"connection {connection_id!r} is not defined: set {gdx_name} (or {airflow_name}) "
        "or add it to Airflow's connections"
    )
