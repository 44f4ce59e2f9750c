"""Where `gdx serve` and `gdx demo` listen: checked before uvicorn starts, then said.

uvicorn alone accepts a port above 65535 (and listens on it modulo 65536), spins on zero
workers, and answers a busy port or an unknown host with its own log lines and exit status 3.
Here each of those is one line and exit 1, like every other command, and a good start prints
the address, the docs address and the number of workers.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket

from rich.console import Console

from gdx.errors import GdxError
from runtime import settings


def port_number(value: int | str, name: str) -> int:
    """A port from 0 to 65535 (0: one the system picks); `name` says where the value came from."""
    text = str(value).strip()
    if not text.isdigit() or int(text) > 65535:
        raise GdxError(f"{name}: expected a port from 1 to 65535 (0: any free port), got {text!r}")
    return int(text)


def worker_count(value: int) -> int:
    if value < 1:
        raise GdxError(f"--workers: expected at least 1 worker process, got {value}")
    return value


def claim(host: str, port: int, name: str = "--host") -> int:
    """Bind host:port the way uvicorn will and let it go again; returns the port (for port 0,
    the free one the system picked). A busy port or a host that is no address of this machine
    is a GdxError naming it; `name` says where the host came from."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn decides
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # uvicorn sets SO_REUSEADDR too: a port a stopped server left in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            raise GdxError(f"{name} {host}: unknown host ({exc.strerror})") from None
        except OverflowError:  # a port number above 65535 that slipped past port_number
            raise GdxError(f"port {port}: expected a port from 1 to 65535") from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise GdxError(f"port {port} on {host} is in use") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise GdxError(f"{name} {host}: not an address of this machine") from None
            if exc.errno == errno.EACCES:
                raise GdxError(
                    f"port {port} on {host}: permission denied (ports below 1024 need privileges)"
                ) from None
            raise GdxError(f"cannot listen on {host} port {port}: {exc.strerror}") from None
        return probe.getsockname()[1]


def base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def announce(console: Console, host: str, port: int, workers: int) -> None:
    """The line a started server prints first (flushed: a pipe reads it at once)."""
    base = base_url(host, port)
    count = f"{workers} worker" + ("s" if workers != 1 else "")
    console.print(
        f"serving the API on {base} (docs {base}/docs), {count}; Ctrl-C to stop",
        highlight=False,
    )
    console.file.flush()


def shared_state(console: Console, port: int, workers: int) -> None:
    """What the workers share besides the port, set up before they start: the metrics folder
    of prometheus_client's multiprocess mode for more than one worker (GDX_HOME/metrics/<port>,
    emptied first; one worker keeps its metrics in the process), and a word on the shared rate
    limit when GDX_REDIS_URL is set but Redis does not answer (a malformed URL: GdxError)."""
    from services import ratelimit

    directory = settings.home() / "metrics" / str(port)
    if workers > 1:
        shutil.rmtree(directory, ignore_errors=True)  # a previous run's counters are not ours
        directory.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    else:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    try:
        reason = ratelimit.check_redis()
    except ValueError as exc:
        raise GdxError(str(exc)) from None
    if reason is not None:
        url = ratelimit.display_url(settings.get("GDX_REDIS_URL"))
        console.print(
            f"warning: GDX_REDIS_URL {url} does not answer ({reason}); each worker limits "
            "consumers on its own (GDX_RATE_LIMIT per worker) until it does",
            highlight=False,
        )
        console.file.flush()
