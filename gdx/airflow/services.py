"""The whole of Airflow as child processes: start its components, wait until the API server
answers, watch them, and stop every one of them (and their children) cleanly.

Each component is an `airflow` command in a session of its own (so a Ctrl-C reaches this
process only, which then stops the components in order), with its output in a log file. The
components share one JWT secret and one API secret key, so the scheduler's (or a Celery
worker's) task tokens are accepted by the API server's execution API.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gdx.airflow import setup as airflow_setup
from gdx.errors import GdxError

HEALTH_PATH = "/api/v2/monitor/health"


@dataclass(frozen=True)
class Component:
    """One long-running Airflow process: a name for messages and logs, and its `airflow` args."""

    name: str
    args: tuple[str, ...]

    def command(self) -> list[str]:
        return airflow_setup.airflow_args(*self.args)


def api_server(host: str, port: int, workers: int = 1) -> Component:
    args = ("api-server", "--host", host, "--port", str(port), "--workers", str(workers))
    return Component("api-server", args)


def scheduler(serve_logs: bool = False) -> Component:
    """The scheduler. Its log server (serve_logs) is only needed when the API server runs on
    another machine: LocalExecutor tasks write their logs where the scheduler runs."""
    return Component(
        "scheduler", ("scheduler",) if serve_logs else ("scheduler", "--skip-serve-logs")
    )


def dag_processor() -> Component:
    return Component("dag-processor", ("dag-processor",))


def triggerer(serve_logs: bool = False) -> Component:
    """The triggerer, which runs deferred tasks' triggers; the web UI's health panel checks it.
    Its log server, like the scheduler's, is only needed by an API server on another machine."""
    return Component(
        "triggerer", ("triggerer",) if serve_logs else ("triggerer", "--skip-serve-logs")
    )


def celery_worker(
    queues: Iterable[str] = (), concurrency: int = 1, hostname: str | None = None
) -> Component:
    """A Celery worker (CeleryExecutor); start more of them, on any machine, to scale out.
    Workers sharing a broker need distinct hostnames (Celery's default: celery@<host>)."""
    args = ["celery", "worker", "--concurrency", str(concurrency), "--without-mingle"]
    if queues:
        args += ["--queues", ",".join(queues)]
    if hostname:
        args += ["--celery-hostname", hostname]
    return Component("celery-worker", tuple(args))


def standard(host: str, port: int, api_workers: int = 1) -> list[Component]:
    """What `gdx airflow` runs: every component the web UI's health panel checks — the API
    server (and web UI, over the metadata DB), the scheduler, the DAG processor, the triggerer."""
    return [api_server(host, port, api_workers), scheduler(), dag_processor(), triggerer()]


def client_url(host: str, port: int) -> str:
    """The address to reach an API server listening on host:port from this machine."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def environment(host: str, port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment all components share: the project's Airflow environment, `extra`, then
    the execution API address and a JWT secret and API secret key common to all components
    (each kept when the environment already sets it, e.g. to reach a load balancer)."""
    env = airflow_setup.environment() | dict(extra or {})
    env.setdefault(
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"{client_url(host, port)}/execution/"
    )
    env.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(32))
    env.setdefault("AIRFLOW__API__SECRET_KEY", secrets.token_urlsafe(32))
    return env


class ComponentDied(GdxError):
    """A component exited while it should be running; the message is one line."""

    def __init__(self, name: str, returncode: int, log: Path) -> None:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        tail = log_tail(log)  # printed literally (gdx.cli.console), [brackets] and all
        super().__init__(f"Airflow's {name} stopped ({how}): {tail} — log: {log}")
        self.name = name
        self.returncode = returncode
        self.log = log


class Stopped(BaseException):
    """Ctrl-C or SIGTERM asked this process to stop its components (like KeyboardInterrupt,
    not caught by `except Exception`)."""


def log_tail(path: Path, limit: int = 240) -> str:
    """The telling line near the end of a log: the last error, else the last line."""
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - 16384))
            text = file.read().decode("utf-8", "replace")
    except OSError:
        return "no log"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line or "Exception" in line]
    line = (errors or lines or ["empty log"])[-1]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the component gets SIGTERM if this process dies without stopping it."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Services:
    """Airflow components as child processes; a context manager that always stops them.

    Start them from the main thread: on Linux a component is sent SIGTERM when the thread that
    started it ends, so that none outlives a killed parent.
    """

    def __init__(self, components: Iterable[Component], env: Mapping[str, str], log_dir: Path):
        self.components = list(components)
        names = [c.name for c in self.components]
        if len(set(names)) != len(names):
            raise ValueError(f"component names must be unique: {names}")
        self.env = dict(env)
        self.log_dir = Path(log_dir)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for component in self.components:
                log = self.log(component.name).open("wb")
                self._logs.append(log)
                self.processes[component.name] = subprocess.Popen(
                    component.command(),
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
        except BaseException:
            self.stop()
            raise

    def check(self) -> None:
        """Raise ComponentDied for the first component that is no longer running."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise ComponentDied(name, process.returncode, self.log(name))

    def wait_until_healthy(self, url: str, timeout: float = 180) -> dict:
        """Wait until `url` (the API server's health endpoint) answers 200; its JSON."""
        import httpx

        deadline = time.monotonic() + timeout
        last = "no answer"
        while True:
            self.check()
            try:
                response = httpx.get(url, timeout=5)
                if response.status_code == 200:
                    return response.json()
                last = f"HTTP {response.status_code}"
            except httpx.TransportError as exc:
                last = type(exc).__name__
            if time.monotonic() > deadline:
                raise GdxError(
                    f"the API server did not answer {url} within {timeout:.0f}s ({last}) — "
                    f"log: {self.log('api-server')}"
                )
            time.sleep(0.5)

    def watch(self, interval: float = 1.0) -> None:
        """Block until a component dies (ComponentDied) or this process is interrupted."""
        while True:
            self.check()
            time.sleep(interval)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM every component, SIGKILL what is left after `timeout` seconds, then kill
        whatever any component left behind in its session. A second Ctrl-C kills at once."""
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            _signal(process.pid, signal.SIGTERM, group=False)
        deadline = time.monotonic() + timeout
        try:
            for process in running:
                try:
                    process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        except (KeyboardInterrupt, Stopped):
            pass
        for process in self.processes.values():
            _signal(process.pid, signal.SIGKILL, group=True)
            process.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __enter__(self) -> Services:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _signal(pid: int, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)  # each component leads its own session and process group
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _raise_stopped(signum, frame) -> None:
    raise Stopped(signal.Signals(signum).name)


def run(
    services: Services,
    health_url: str,
    on_ready: Callable[[dict], None],
    ready_timeout: float = 180,
) -> None:
    """Start the components, call `on_ready(health)` once the API server answers, and run
    until Ctrl-C or SIGTERM (a normal return) or until a component dies (ComponentDied).
    Every component is stopped in all cases."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _raise_stopped)
    try:
        with services:
            on_ready(services.wait_until_healthy(health_url, ready_timeout))
            services.watch()
    except (Stopped, KeyboardInterrupt):
        return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
