"""API benchmark (issue 7, items 4 and 5): `gdx serve` against Datasette, on loopback.

    python bench/api.py [--size 100000] [--seconds 30] [--quick] [--merge bench/results.json]

1. a population library: the demo generator's public-security file of `--size` people
   (bench/ingest.py's dataset) loaded by `gdx load` into the PostgreSQL database `bench_api`
   (created afresh, dropped at the end);
2. a consumer `bench` of government_services, its key captured;
3. `gdx serve --workers 2` (GDX_RATE_LIMIT 1,000,000 so the limiter never refuses the benchmark;
   authentication, masking and the audit log stay on), waited for on /healthz;
4. the peer: the golden rows of `population_person` exported to a SQLite file (id_number the
   primary key) served by `datasette serve` with its default settings;
5. a load generator in a second process (this file, `load`): asyncio streams, HTTP/1.1
   keep-alive, one connection per concurrent client, random keys drawn from the loaded ids;
   16 and 64 connections, `--seconds` each after a short warm-up. Record by key on both
   servers, then (item 5) `POST /api/v1/verify/citizen` and 1,000-key batch look-ups on gdx.
`wrk` is used for nothing: it is not installed on this machine and the generator needs
random keys; the Python generator shares the 2 cores with the servers (see the report).
`--merge FILE` writes the figures into FILE's "api" entry (bench/run.py --only-api uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from importlib import metadata
from pathlib import Path

import ingest
import measure
import psycopg2

DB = "bench_api"
PURPOSE = "000105001000"  # a service item of the directory that population.person supplies
RECORD = "/api/v1/resources/population.person/records/"
BATCH = "/api/v1/resources/population.person/records:batch"
VERIFY = "/api/v1/verify/citizen"
SAMPLE_KEYS = 200_000  # keys drawn from the library (all of them below that)
BATCH_KEYS = 1_000
COLUMNS = (
    "id_number",
    "name",
    "gender",
    "birth_date",
    "ethnicity",
    "household_address",
    "phone",
    "marital_status",
    "death_date",
    "insured_status",
    "employer_uscc",
)
GDX_WORKERS = 2
RATE_LIMIT = "1000000"
# (server, endpoint, concurrency); item 4 first, then item 5
POINTS = (
    ("gdx", "record", 16),
    ("datasette", "record", 16),
    ("gdx", "record", 64),
    ("datasette", "record", 64),
    ("gdx", "verify", 16),
    ("gdx", "batch", 4),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Library:
    """The gdx library of one size in PostgreSQL `bench_api`, its consumer and its export."""

    def __init__(self, pg: ingest.Postgres, size: int, log, work: Path = ingest.WORK):
        self.pg, self.size, self.log = pg, size, log
        self.work = work / "api"
        self.home = self.work / "gdx_home"
        self.gdx = str(Path(sys.executable).with_name("gdx"))
        self.facts: dict = {}

    def env(self) -> dict[str, str]:
        url = self.pg.url_of(DB).replace("postgresql://", "postgresql+psycopg2://", 1)
        return os.environ | {
            "GDX_DATABASE_URL": url,
            "GDX_HOME": str(self.home),
            "GDX_RATE_LIMIT": RATE_LIMIT,
            "GX_ANALYTICS_ENABLED": "False",
        }

    def build(self) -> None:
        dataset = ingest.make_dataset(self.size)
        self.pg.recreate(DB)
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        env = self.env()
        measure.run([self.gdx, "init", "--warehouse-only"], env).check("gdx init")
        cmd = [self.gdx, "load", str(dataset.path), "--resource", "population.person"]
        done = measure.run([*cmd, "--department", "public_security", "--json"], env)
        summary = ingest._last_json(done.check("gdx load").stdout)
        done_key = measure.run(
            [self.gdx, "consumers", "add", "bench", "--department", "government_services"], env
        ).check("gdx consumers add")
        self.key = done_key.stdout.strip().split()[-1]
        rows = self.pg.execute(DB, "SELECT count(*) FROM population_person")[0][0]
        self.facts = {
            "people": self.size,
            "file_rows": dataset.rows,
            "records": rows,
            "load_seconds": round(done.seconds, 1),
            "rows_loaded": summary["rows_loaded"],
        }
        # settle the bulk load (autovacuum, dirty pages) before any point is measured
        self.pg.execute(DB, "VACUUM (ANALYZE)", "CHECKPOINT")
        self.log(f"  api: library of {rows:,} records loaded in {done.seconds:.1f} s")

    def keys(self) -> Path:
        """A sample of (id_number, name) of the library, for the load generator."""
        conn = psycopg2.connect(self.pg.url_of(DB))
        try:
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT id_number, name FROM population_person WHERE _state = 'active' "
                    "ORDER BY random() LIMIT %s",
                    (SAMPLE_KEYS,),
                )
                pairs = cursor.fetchall()
        finally:
            conn.close()
        path = self.work / "keys.json"
        path.write_text(json.dumps(pairs, ensure_ascii=False))
        self.facts["keys"] = len(pairs)
        return path

    def export(self) -> Path:
        """The golden rows into SQLite, id_number the primary key (Datasette's table)."""
        path = self.work / "population.db"
        path.unlink(missing_ok=True)
        started = time.perf_counter()
        lite = sqlite3.connect(path)
        types = {"birth_date": "TEXT", "death_date": "TEXT"}
        cols = ", ".join(
            f"{c} TEXT PRIMARY KEY" if c == "id_number" else f"{c} {types.get(c, 'TEXT')}"
            for c in COLUMNS
        )
        lite.execute(f"CREATE TABLE population_person ({cols})")
        conn = psycopg2.connect(self.pg.url_of(DB))
        try:
            with conn.cursor(name="export") as cursor:
                cursor.itersize = 50_000
                cursor.execute(
                    f"SELECT {', '.join(COLUMNS)} FROM population_person WHERE _state = 'active'"
                )
                marks = ", ".join("?" for _ in COLUMNS)
                while rows := cursor.fetchmany(50_000):
                    rows = [tuple(None if v is None else str(v) for v in r) for r in rows]
                    lite.executemany(f"INSERT INTO population_person VALUES ({marks})", rows)
        finally:
            conn.close()
        lite.commit()
        lite.close()
        self.facts["export_seconds"] = round(time.perf_counter() - started, 1)
        return path

    def audit_rows(self) -> int:
        return self.pg.execute(DB, "SELECT count(*) FROM audit_log")[0][0]


class Server:
    """A server process (its own process group), stopped with its workers."""

    def __init__(self, name: str, cmd: list[str], env: dict, port: int, health: str, log: Path):
        self.name, self.cmd, self.port, self.health = name, cmd, port, health
        self.out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.log_path = log

    def wait(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}{self.health}"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{self.name} did not come up on {url}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.out.close()


def fetch(port: int, path: str, headers: dict, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode(errors="replace")[:300]}


def benchmark(
    size: int,
    seconds: float,
    log,
    pg: ingest.Postgres | None = None,
    warmup: float = 3.0,
    bigger: tuple[int, ...] = (),
) -> dict:
    """Every point of POINTS; the library is built first and dropped at the end. Then, for
    every size of `bigger`, gdx's record by key at 64 connections again over a library of
    that size (built in turn, in the same database)."""
    pg = pg or ingest.Postgres()
    started = time.monotonic()
    loadavg = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lib = Library(pg, size, log)
    lib.build()
    keys = lib.keys()
    sqlite_path = lib.export()
    log(f"  api: {lib.facts['keys']:,} keys; SQLite export in {lib.facts['export_seconds']} s")
    gdx_port, ds_port = free_port(), free_port()
    datasette = str(Path(sys.executable).with_name("datasette"))
    gdx_cmd = [lib.gdx, "serve", "--workers", str(GDX_WORKERS), "--port", str(gdx_port)]
    ds_cmd = [datasette, "serve", str(sqlite_path), "--port", str(ds_port)]
    servers = {}
    points = []
    try:
        servers["gdx"] = Server(
            "gdx serve", gdx_cmd, lib.env(), gdx_port, "/healthz", lib.work / "gdx.log"
        )
        servers["datasette"] = Server(
            "datasette", ds_cmd, dict(os.environ), ds_port, "/-/versions.json",
            lib.work / "datasette.log",
        )  # fmt: skip
        for server in servers.values():
            server.wait()
        headers = {"X-API-Key": lib.key, "X-Purpose": PURPOSE}
        pairs = json.loads(keys.read_text())
        status, sample = fetch(gdx_port, RECORD + pairs[0][0], headers)
        if status != 200:
            raise RuntimeError(f"gdx record by key: {status} {sample}")
        status, ds_sample = fetch(ds_port, f"/population/population_person/{pairs[0][0]}.json", {})
        if status != 200:
            raise RuntimeError(f"datasette row: {status} {ds_sample}")
        audit_before = lib.audit_rows()
        for server, endpoint, concurrency in POINTS:
            port = gdx_port if server == "gdx" else ds_port
            point = _point(
                port, server, endpoint, concurrency, keys, seconds, warmup, lib.key,
                servers[server].proc.pid,
            )  # fmt: skip
            points.append(point)
            log(_said(point))
        audit_written = lib.audit_rows() - audit_before
        try:
            profile = _server_profile(gdx_port, keys, lib.key, servers["gdx"].proc.pid, lib.work)
            log(f"  api: py-spy over gdx serve: {profile['samples']:,} samples")
        except Exception as exc:  # the points stand; the report says what failed
            profile = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"}
            log(f"  api: the server's profile failed: {profile['error']}")
    finally:
        for server in servers.values():
            server.stop()
    larger = []
    for people in bigger:
        try:
            larger.append(_larger(pg, people, seconds, warmup, log))
        except Exception as exc:  # the points above stand; the report says what failed
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
            larger.append({"people": people, "error": error})
            log(f"  api: the {people:,}-person library failed: {error}")
    record_fields = sorted(sample)
    masked = {
        k: v for k, v in (sample.get("data") or {}).items() if k in sample.get("masked_fields", ())
    }
    result = {
        "size": size,
        "seconds_per_point": seconds,
        "warmup_seconds": warmup,
        "loadavg": loadavg,
        "library": lib.facts,
        "gdx": {
            "command": f"gdx serve --workers {GDX_WORKERS}",
            "workers": GDX_WORKERS,
            "rate_limit": int(RATE_LIMIT),
            "purpose": PURPOSE,
            "answer_keys": record_fields,
            "masked_fields": sample.get("masked_fields"),
            "masked_sample": masked,
        },
        "datasette": {
            "command": "datasette serve population.db",
            "version": _version("datasette"),
            "settings": "defaults: one process, num_sql_threads 3, mutable database",
        },
        "generator": "Python asyncio streams (uvloop), HTTP/1.1 keep-alive, one process",
        "versions": {
            name: _version(name)
            for name in (
                "uvicorn",
                "uvloop",
                "httptools",
                "fastapi",
                "datasette",
                "psycopg2-binary",
            )
        },
        "points": points,
        "audit_rows_written": audit_written,
        "requests_sent_to_gdx": sum(
            p["requests"] + p["warmup_requests"] for p in points if p["server"] == "gdx"
        ),
        "larger": larger,
        "server_profile": profile,
        "stage_seconds": round(time.monotonic() - started, 1),
    }
    pg.drop(DB)
    return result


def _point(
    port: int,
    server: str,
    endpoint: str,
    concurrency: int,
    keys: Path,
    seconds: float,
    warmup: float,
    api_key: str,
    server_pid: int | None = None,
) -> dict:
    """One point of the load generator, in its own process; with `server_pid`, the CPU time
    per request (warm-up included) of the server's processes, of PostgreSQL's and of the
    generator: where the two cores went."""
    cmd = [sys.executable, __file__, "load", "--port", str(port)]
    cmd += ["--target", f"{server}-{endpoint}", "--keys", str(keys)]
    cmd += ["--concurrency", str(concurrency), "--seconds", str(seconds)]
    cmd += ["--warmup", str(warmup), "--api-key", api_key]
    before = (measure.tree_cpu(server_pid), measure.named_cpu("postgres")) if server_pid else None
    done = measure.run(cmd).check(f"load generator {server} {endpoint}")
    point = ingest._last_json(done.stdout)
    point |= {"server": server, "endpoint": endpoint, "concurrency": concurrency}
    point["generator_cpu_note"] = "same 2 cores"
    sent = point["requests"] + point["warmup_requests"]
    if before and sent:
        used = (
            measure.tree_cpu(server_pid) - before[0],
            measure.named_cpu("postgres") - before[1],
            done.cpu_seconds,
        )
        names = ("server", "postgres", "generator")
        point["cpu_ms_per_request"] = {
            name: round(seconds * 1000 / sent, 3) for name, seconds in zip(names, used, strict=True)
        }
    return point


PROFILE_SECONDS = 10  # of record calls at 64 connections under py-spy (not counted above)
PROFILE_RATE = 200  # samples a second per thread


def _server_profile(port: int, keys: Path, api_key: str, server_pid: int, work: Path) -> dict:
    """Where `gdx serve`'s Python time goes during record calls at 64 connections: py-spy over
    every worker during one more point, sampling only the thread that holds the GIL (so waits
    on PostgreSQL, on the network and on locks are left out), each sample charged to the
    package of its innermost frame and to that frame's function."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    raw = work / "profile-serve.txt"
    raw.unlink(missing_ok=True)
    cmd = [py_spy, "record", "--pid", str(server_pid), "--subprocesses", "--nonblocking"]
    cmd += ["--gil", "--full-filenames"]
    cmd += ["--rate", str(PROFILE_RATE), "--duration", str(PROFILE_SECONDS + 2)]
    cmd += ["--format", "raw", "-o", str(raw)]
    spy = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(1)  # py-spy attaches to the workers
        point = _point(port, "gdx", "record", 64, keys, PROFILE_SECONDS, 0, api_key)
    finally:
        _, err = spy.communicate(timeout=PROFILE_SECONDS + 60)
    if spy.returncode or not raw.exists():
        raise RuntimeError(f"py-spy: {err.decode(errors='replace').strip()[-300:]}")
    return analyse_server_profile(raw.read_text(errors="replace")) | {
        "requests": point["requests"],
        "seconds": PROFILE_SECONDS,
        "rate": PROFILE_RATE,
    }


def analyse_server_profile(text: str, top: int = 12) -> dict:
    """py-spy's raw (collapsed) stacks: samples by the package of the innermost frame and by
    that frame's function."""
    packages: Counter = Counter()
    functions: Counter = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit() or not stack:
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        n = int(count)
        total += n
        leaf = frames[-1]
        packages[_package(leaf)] += n
        functions[leaf.split(" (", 1)[0] + " · " + _package(leaf)] += n
    return {
        "samples": total,
        "packages": [[name, n] for name, n in packages.most_common(top)],
        "functions": [[name, n] for name, n in functions.most_common(top)],
    }


def _package(frame: str) -> str:
    """`func (path:line)` → the installed package, the project's folder or the stdlib module."""
    path = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    try:
        inside = Path(path).resolve().relative_to(ingest.CODE_ROOT)
    except ValueError:
        return "python: " + Path(path).stem if path else "native"
    return f"gdx: {inside.parts[0]}/" if len(inside.parts) > 1 else f"gdx: {inside}"


def _said(point: dict) -> str:
    cpu = point.get("cpu_ms_per_request")
    spent = (
        f"; CPU ms/request: server {cpu['server']:.2f}, PostgreSQL {cpu['postgres']:.2f}, "
        f"generator {cpu['generator']:.2f}"
        if cpu
        else ""
    )
    return (
        f"  api: {point['server']} {point['endpoint']} c={point['concurrency']}: "
        f"{point['rps']:,.0f} req/s, p50 {point['p50_ms']:.1f} ms, p99 {point['p99_ms']:.1f} ms, "
        f"errors {point['errors']}{spent}"
    )


def _larger(pg: ingest.Postgres, size: int, seconds: float, warmup: float, log) -> dict:
    """Record by key at 64 connections over a library of `size` people (is latency flat?)."""
    lib = Library(pg, size, log)
    lib.build()
    keys = lib.keys()
    port = free_port()
    cmd = [lib.gdx, "serve", "--workers", str(GDX_WORKERS), "--port", str(port)]
    server = Server("gdx serve", cmd, lib.env(), port, "/healthz", lib.work / "gdx-larger.log")
    try:
        server.wait()
        point = _point(port, "gdx", "record", 64, keys, seconds, warmup, lib.key, server.proc.pid)
    finally:
        server.stop()
    log(_said(point) + f" ({lib.facts['records']:,} records)")
    return {"library": lib.facts, "point": point}


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


# --- the load generator (its own process) ---------------------------------------------------


class Target:
    """The bytes of one request of a benchmark point."""

    def __init__(self, kind: str, port: int, pairs: list, api_key: str):
        self.kind, self.pairs = kind, pairs
        self.host = f"Host: 127.0.0.1:{port}\r\n".encode()
        self.auth = f"X-API-Key: {api_key}\r\nX-Purpose: {PURPOSE}\r\n".encode()

    def _post(self, path: str, body: dict) -> bytes:
        data = json.dumps(body, ensure_ascii=False).encode()
        head = f"POST {path} HTTP/1.1\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n"
        return head.encode() + self.host + self.auth + b"\r\n" + data

    def request(self) -> bytes:
        key, name = random.choice(self.pairs)
        if self.kind == "gdx-record":
            return f"GET {RECORD}{key} HTTP/1.1\r\n".encode() + self.host + self.auth + b"\r\n"
        if self.kind == "datasette-record":
            line = f"GET /population/population_person/{key}.json HTTP/1.1\r\n"
            return line.encode() + self.host + b"\r\n"
        if self.kind == "gdx-verify":
            return self._post(VERIFY, {"id_number": key, "name": name})
        if self.kind == "gdx-batch":
            keys = [k for k, _ in random.sample(self.pairs, min(BATCH_KEYS, len(self.pairs)))]
            return self._post(BATCH, {"keys": keys})
        raise ValueError(self.kind)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status and whether the server closes the connection after this response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    close = b"\r\nconnection: close" in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        await reader.readexactly(int(lower[at + 17 : end]))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, close


async def _load(target: Target, port: int, concurrency: int, seconds: float, warmup: float):
    loop = asyncio.get_running_loop()
    begin = loop.time() + warmup
    end = begin + seconds
    latencies: list[float] = []
    finished: list[float] = []  # when each measured response arrived (loop time)
    statuses: Counter = Counter()
    errors = Counter()
    warm = [0]

    async def client() -> None:
        conn = None
        while True:
            if loop.time() >= end:
                break
            if conn is None:
                try:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                except OSError as exc:
                    errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.05)
                    continue
            reader, writer = conn
            data = target.request()
            t0 = time.perf_counter()
            try:
                writer.write(data)
                status, close = await _response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                if loop.time() >= begin:
                    errors[type(exc).__name__] += 1
                writer.close()
                conn = None
                continue
            elapsed = time.perf_counter() - t0
            if close:
                writer.close()
                conn = None
            now = loop.time()
            if now < begin:
                warm[0] += 1
            elif now <= end:
                latencies.append(elapsed)
                finished.append(now)
                statuses[status] += 1
        if conn is not None:
            conn[1].close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    measured = loop.time() - begin
    windows = _windows(latencies, finished, begin, measured)
    latencies.sort()

    def pct(q: float) -> float:
        return _percentile(latencies, q)

    bad = sum(n for s, n in statuses.items() if not 200 <= s < 300)
    return {
        "windows": windows,
        "requests": len(latencies),
        "warmup_requests": warm[0],
        "seconds": round(measured, 2),
        "rps": round(len(latencies) / measured, 1),
        "p50_ms": round(pct(0.50), 2) if latencies else None,
        "p90_ms": round(pct(0.90), 2) if latencies else None,
        "p99_ms": round(pct(0.99), 2) if latencies else None,
        "max_ms": round(1000 * latencies[-1], 2) if latencies else None,
        "statuses": {str(s): n for s, n in sorted(statuses.items())},
        "connection_errors": dict(errors),
        "errors": bad + sum(errors.values()),
    }


WINDOWS = 3  # a point's figures again over each third of it: runs of 10 s in a 30 s point


def _percentile(ordered: list[float], q: float) -> float:
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _windows(latencies: list[float], finished: list[float], begin: float, measured: float):
    """Requests/s, p50 and p99 of each of WINDOWS equal parts of the measured time, by when
    each response arrived: a point's spread, as if it were WINDOWS shorter runs."""
    width = measured / WINDOWS
    parts: list[list[float]] = [[] for _ in range(WINDOWS)]
    for latency, at in zip(latencies, finished, strict=True):
        parts[min(int((at - begin) / width), WINDOWS - 1)].append(latency)
    out = []
    for part in parts:
        part.sort()
        out.append(
            {
                "rps": round(len(part) / width, 1),
                "p50_ms": round(_percentile(part, 0.50), 2) if part else None,
                "p99_ms": round(_percentile(part, 0.99), 2) if part else None,
            }
        )
    return out


def load_main(args: argparse.Namespace) -> None:
    pairs = json.loads(Path(args.keys).read_text())
    target = Target(args.target, args.port, pairs, args.api_key)
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(_load(target, args.port, args.concurrency, args.seconds, args.warmup))
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        parser = argparse.ArgumentParser()
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--target", required=True)
        parser.add_argument("--keys", required=True)
        parser.add_argument("--concurrency", type=int, default=16)
        parser.add_argument("--seconds", type=float, default=30)
        parser.add_argument("--warmup", type=float, default=3)
        parser.add_argument("--api-key", default="")
        load_main(parser.parse_args(sys.argv[2:]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000, help="people (1M, 10M for scale)")
    parser.add_argument("--seconds", type=float, default=30, help="seconds of load per point")
    parser.add_argument("--quick", action="store_true", help="3 s per point, 1 s warm-up")
    parser.add_argument("--merge", type=Path, help="write the figures into this results.json")
    args = parser.parse_args()
    seconds, warmup = (3.0, 1.0) if args.quick else (args.seconds, 3.0)

    def log(text: str) -> None:
        print(text, flush=True)

    result = benchmark(args.size, seconds, log, warmup=warmup)
    if args.merge:
        data = json.loads(args.merge.read_text()) if args.merge.exists() else {}
        data["api"] = result
        args.merge.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        print(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
