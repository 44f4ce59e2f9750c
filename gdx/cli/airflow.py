"""`gdx airflow`: the whole of Airflow on the embedded default, with an admin login."""

from __future__ import annotations

import configparser
import errno
import json
import os
import re
import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer

from gdx.airflow import home as airflow_home
from gdx.airflow import services as airflow_services
from gdx.airflow import setup as airflow_setup
from gdx.cli.console import out
from gdx.errors import GdxError
from runtime import settings

SIMPLE_AUTH_MANAGER = "SimpleAuthManager"
PASSWORDS_FILE = "simple_auth_manager_passwords.json"


def airflow_command(
    host: Annotated[
        str,
        typer.Option(help="Address the API server and its web UI listen on (0.0.0.0: all)."),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the API server and its web UI.")] = 8080,
    user: Annotated[
        str,
        typer.Option(
            help="Admin login of the web UI (its password is generated once, kept in "
            "GDX_HOME/airflow/)."
        ),
    ] = "admin",
    api_workers: Annotated[
        int, typer.Option(min=1, help="Worker processes of the API server.")
    ] = 1,
    ready_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the API server to answer before giving up.")
    ] = 180,
) -> None:
    """Start the whole of Airflow with the hub's DAGs, active on their schedules: API server
    with its web UI, scheduler, DAG processor and triggerer. Prints the UI address and an admin
    login; runs until Ctrl-C.

    Airflow's home is AIRFLOW_HOME, else GDX_HOME/airflow; its airflow.cfg gets the hub's
    settings as with `gdx init`. Metadata DB, logs and login: GDX_HOME/airflow/. If a
    component dies, all stop with one line naming it.
    """
    if not re.fullmatch(r"[A-Za-z0-9_.@-]+", user):
        raise GdxError(f"--user {user!r}: use letters, digits and _ . @ - only")
    _check_port_free(host, port)
    var = settings.home() / "airflow"
    var.mkdir(parents=True, exist_ok=True)
    out.print("preparing Airflow's home and metadata database…", highlight=False)
    out.print(f"airflow: {airflow_setup.migrate()}", highlight=False)
    login_env, login = admin_login(var / PASSWORDS_FILE, user)
    env = airflow_services.environment(host, port, login_env)
    services = airflow_services.Services(
        airflow_services.standard(host, port, api_workers), env, var
    )
    url = airflow_services.client_url(host, port)
    names = ", ".join(c.name for c in services.components)
    out.print(f"starting {names} (logs in {var})…", highlight=False)

    def ready(health: dict) -> None:
        out.print(f"Airflow is up: {url}", highlight=False)
        out.print(f"login: {login}", highlight=False)
        out.print("Ctrl-C stops it", highlight=False)

    airflow_services.run(services, url + airflow_services.HEALTH_PATH, ready, ready_timeout)
    out.print("Airflow stopped", highlight=False)


def admin_login(passwords_file: Path, user: str) -> tuple[dict[str, str], str]:
    """The environment that gives the web UI a real admin login, and the login to print.

    With Airflow's SimpleAuthManager (airflow.cfg), `user` becomes its one admin user instead of
    the anonymous all-admins mode; the password is generated on first use and kept (mode 600)
    in `passwords_file`, the manager's own passwords file. Another auth manager keeps its logins.
    """
    manager = _auth_manager()
    if not manager.endswith(SIMPLE_AUTH_MANAGER):
        return {}, f"as configured for [core] auth_manager = {manager}"
    passwords: dict[str, str] = {}
    if passwords_file.is_file() and passwords_file.read_text(encoding="utf-8").strip():
        try:
            passwords = json.loads(passwords_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise GdxError(f"{passwords_file}: not JSON ({exc}); delete it for a new one") from None
    if user not in passwords:
        passwords[user] = secrets.token_urlsafe(12)
        passwords_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(passwords_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(json.dumps(passwords) + "\n")
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
    }
    return env, f"{user} / {passwords[user]}"


def _auth_manager() -> str:
    """[core] auth_manager as Airflow will see it: the environment, else airflow.cfg."""
    if value := os.environ.get("AIRFLOW__CORE__AUTH_MANAGER"):
        return value
    config = configparser.ConfigParser(interpolation=None, strict=False)
    config.read(airflow_home.config_file(airflow_setup.environment()), encoding="utf-8")
    return config.get("core", "auth_manager", fallback=SIMPLE_AUTH_MANAGER).strip()


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise GdxError(f"port {port} on {host} is in use (--port picks another)") from None
            raise GdxError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
