"""Ingest benchmark (issue 7, items 2 and 3): one population file into PostgreSQL, four ways.

    python bench/ingest.py [--sizes 100000 1000000] [--runs 3]

The demo generator's public-security population file (GBK, `gdx.demo.data`, default defect rate)
at each size, loaded into PostgreSQL by
  - `psql \\copy` into an UNLOGGED table of text columns (the physical limit),
  - `pandas.read_csv` + `DataFrame.to_sql` (the naive peer),
  - a `dlt` pipeline (the peer a Python data engineer picks),
  - `gdx load` into an empty warehouse, then the same file again with `--force`, then a copy
    with 1% of rows changed (a household address) loaded normally.
After the rounds of a size, once: the same file of 50,000 other people (another seed) loaded by
`gdx load` into the library the rounds left (it holds the size's records) and then into an
empty one, so that the merge's cost can be seen as the library grows (item 3).
Each load is its own process (wall seconds and peak RSS of that process tree); every database is
dropped and created afresh before each run and a CHECKPOINT precedes every timed load. Runs go
round-robin over the peers; after the first round a peer runs again only while its size's time
budget allows. `bench/run.py` writes the results into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import measure
import numpy as np
import psycopg2

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# the checkout whose code `gdx` runs (the environment's editable install): ROOT, unless the
# benchmark runs from another clone with this environment; profiles name files relative to it
CODE_ROOT = Path(importlib.util.find_spec("gdx").origin).resolve().parents[1]
WORK = ROOT / "var" / "bench"
PG_URL = os.environ.get("GDX_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
GDX_DB, PEERS_DB = "bench_gdx", "bench_peers"
SEED = 11
NEWCOMERS_SEED = 12  # other people: about 1 in 10^5 of their ids is already in the library
NEWCOMERS = 50_000  # people in the newcomers' file, the same at every size
DEFECT_RATE = 0.03  # the demo generator's default
CHANGE_EVERY = 100  # 1% of rows get a changed household address
ADDRESS = 5  # column of 户籍地址
COPY_TABLE = "population_raw"
COLUMNS = ["id_number", "name", "gender", "birth_date", "ethnicity", "address", "updated_at"]

# what each timed load is called in results and reports
PEERS = {
    "copy": "psql \\copy into an unlogged text table",
    "to_sql": "pandas read_csv + DataFrame.to_sql",
    "dlt": "dlt pipeline (pandas chunks, postgres defaults)",
    "gdx_first": "gdx load, first load into an empty library",
    "gdx_skip": "gdx load, the identical file again (skipped by its checksum)",
    "gdx_reload": "gdx load --force, the identical file again",
    "gdx_change": "gdx load, the file with 1% of rows changed",
    "gdx_add_full": "gdx load, other people into the library of this size",
    "gdx_add_empty": "gdx load, the same other people into an empty library",
}
ORDER = ("gdx", "copy", "dlt", "to_sql")  # one round; gdx is three timed loads


@dataclass
class Dataset:
    size: int  # people asked of the generator
    seed: int
    path: Path
    rows: int  # data rows in the file (with the generator's repeated rows)
    changed_path: Path
    changed_rows: int
    bytes: int
    generate_seconds: float


@dataclass
class Run:
    size: int
    peer: str
    round: int
    seconds: float  # wall, the whole process
    rows: int  # data rows of the file
    peak_rss: int
    tool_seconds: float | None = None  # what the tool itself reports (gdx's `seconds`)
    detail: dict = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class Skipped:
    size: int
    peer: str
    round: int
    reason: str


@dataclass
class IngestResults:
    datasets: list[Dataset] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def extend(self, other: IngestResults) -> None:
        self.datasets += other.datasets
        self.runs += other.runs
        self.skipped += other.skipped

    def of(self, size: int, peer: str) -> list[Run]:
        return [r for r in self.runs if r.size == size and r.peer == peer]

    def as_dict(self) -> dict:
        return {
            "datasets": [
                asdict(d) | {"path": relative(d.path), "changed_path": relative(d.changed_path)}
                for d in self.datasets
            ],
            "runs": [asdict(r) | {"rows_per_second": round(r.rows_per_second)} for r in self.runs],
            "skipped": [asdict(s) for s in self.skipped],
        }


def relative(path: Path) -> str:
    """A path inside the repository as relative to it (results do not name the machine's)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


class Postgres:
    """The benchmark's own databases on the server of PG_URL (dropped and created per run)."""

    def __init__(self, url: str = PG_URL):
        self.url = url.rstrip("/")

    def url_of(self, db: str) -> str:
        return f"{self.url}/{db}"

    def execute(self, db: str, *statements: str) -> list:
        conn = psycopg2.connect(self.url_of(db))
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                result: list = []
                for statement in statements:
                    cursor.execute(statement)
                    result = cursor.fetchall() if cursor.description else []
                return result
        finally:
            conn.close()

    def recreate(self, db: str) -> None:
        self.execute(
            "postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db}"
        )

    def drop(self, db: str) -> None:
        self.execute("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    def checkpoint(self) -> None:
        self.execute("postgres", "CHECKPOINT")

    def server_version(self) -> str:
        return self.execute("postgres", "SHOW server_version")[0][0]


def make_dataset(size: int, work: Path = WORK, seed: int = SEED) -> Dataset:
    """The population file of `size` people and its 1%-changed copy, kept for re-runs.

    Written by a child process, so that the generator's memory (GBs at 5M) is not this one's.
    """
    dataset = _saved(size, work, seed)
    if dataset is None:
        cmd = [sys.executable, __file__, "--generate", str(size), "--seed", str(seed)]
        measure.run([*cmd, "--work", str(work)]).check(f"generating {size} people")
        dataset = _saved(size, work, seed)
    assert dataset is not None
    return dataset


def _params(size: int, seed: int) -> dict:
    return {"size": size, "seed": seed, "defect_rate": DEFECT_RATE, "every": CHANGE_EVERY}


def _marker(size: int, work: Path, seed: int) -> Path:
    folder = str(size) if seed == SEED else f"{size}-seed{seed}"
    return work / "data" / folder / "dataset.json"


def _saved(size: int, work: Path, seed: int) -> Dataset | None:
    marker = _marker(size, work, seed)
    if not marker.exists():
        return None
    saved = json.loads(marker.read_text())
    if saved.get("params") != _params(size, seed):
        return None
    data = saved["dataset"]
    paths = {"path": Path(data["path"]), "changed_path": Path(data["changed_path"])}
    if not all(path.exists() for path in paths.values()):
        return None
    return Dataset(**{"seed": seed} | data | paths)


def _generate(size: int, work: Path, seed: int) -> None:
    from gdx.demo.data.population import write_household_register

    folder = _marker(size, work, seed).parent
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    _, extract = write_household_register(folder, rng, size, DEFECT_RATE)
    seconds = time.perf_counter() - started
    path = Path(extract.path)
    changed_path = folder / "changed" / path.name
    changed = _change_addresses(path, changed_path)
    data = asdict(
        Dataset(size, seed, path, extract.rows, changed_path, changed, path.stat().st_size, seconds)
    )
    data |= {"path": str(path), "changed_path": str(changed_path)}
    marker = _marker(size, work, seed)
    marker.write_text(json.dumps({"params": _params(size, seed), "dataset": data}))


def _change_addresses(source: Path, target: Path) -> int:
    """Every CHANGE_EVERY-th data row gets a new household address; returns how many."""
    target.parent.mkdir(parents=True, exist_ok=True)
    changed = 0
    with (
        source.open(encoding="gbk", newline="") as src,
        target.open("w", encoding="gbk", newline="") as dst,
    ):
        reader, writer = csv.reader(src), csv.writer(dst)
        writer.writerow(next(reader))
        for i, row in enumerate(reader):
            if i % CHANGE_EVERY == CHANGE_EVERY // 2:
                row[ADDRESS] = row[ADDRESS] + "附1号"
                changed += 1
            writer.writerow(row)
    return changed


class Loads:
    """The timed loads of one dataset."""

    def __init__(self, pg: Postgres, dataset: Dataset, work: Path = WORK):
        self.pg, self.dataset, self.work = pg, dataset, work
        self.python = sys.executable
        self.gdx_bin = str(Path(sys.executable).with_name("gdx"))
        self.psql = shutil.which("psql") or "psql"

    def _env(self) -> dict[str, str]:
        return os.environ | {"RUNTIME__DLTHUB_TELEMETRY": "false", "GX_ANALYTICS_ENABLED": "False"}

    def _run(self, peer: str, rnd: int, cmd: list[str], env=None) -> tuple[Run, measure.Measured]:
        self.pg.checkpoint()
        done = measure.run(cmd, env or self._env()).check(PEERS[peer])
        run = Run(self.dataset.size, peer, rnd, done.seconds, self.dataset.rows, done.peak_rss)
        return run, done

    def copy(self, rnd: int) -> list[Run]:
        self.pg.recreate(PEERS_DB)
        columns = ", ".join(f"{c} text" for c in COLUMNS)
        self.pg.execute(PEERS_DB, f"CREATE UNLOGGED TABLE {COPY_TABLE} ({columns})")
        command = (
            f"\\copy {COPY_TABLE} FROM '{self.dataset.path}' "
            "WITH (FORMAT csv, HEADER, ENCODING 'GBK')"
        )
        cmd = [self.psql, "-X", "-v", "ON_ERROR_STOP=1", "-d", self.pg.url_of(PEERS_DB)]
        run, done = self._run("copy", rnd, [*cmd, "-c", command])
        run.detail["reported"] = int(done.stdout.split()[-1])  # "COPY n"
        self._count(run, COPY_TABLE)
        return [run]

    def to_sql(self, rnd: int) -> list[Run]:
        self.pg.recreate(PEERS_DB)
        cmd = [self.python, str(BENCH / "peers.py"), "to_sql", str(self.dataset.path)]
        run, done = self._run("to_sql", rnd, [*cmd, self.pg.url_of(PEERS_DB)])
        return [self._tool(run, done, "population")]

    def dlt(self, rnd: int) -> list[Run]:
        self.pg.recreate(PEERS_DB)
        pipelines = self.work / "dlt_pipelines"
        shutil.rmtree(pipelines, ignore_errors=True)
        cmd = [self.python, str(BENCH / "peers.py"), "dlt", str(self.dataset.path)]
        run, done = self._run("dlt", rnd, [*cmd, self.pg.url_of(PEERS_DB), str(pipelines)])
        shutil.rmtree(pipelines, ignore_errors=True)
        return [self._tool(run, done, "bench.population")]

    def gdx_env(self) -> dict[str, str]:
        home = self.work / "gdx_home"
        return self._env() | {
            "GDX_DATABASE_URL": self.pg.url_of(GDX_DB).replace(
                "postgresql://", "postgresql+psycopg2://", 1
            ),
            "GDX_HOME": str(home),
        }

    def gdx_init(self) -> None:
        env = self.gdx_env()
        self.pg.recreate(GDX_DB)
        shutil.rmtree(env["GDX_HOME"], ignore_errors=True)
        measure.run([self.gdx_bin, "init", "--warehouse-only"], env).check("gdx init")

    def gdx_command(self, path: Path, *more: str) -> list[str]:
        return [
            self.gdx_bin,
            "load",
            str(path),
            "--resource",
            "population.person",
            "--department",
            "public_security",
            "--json",
            *more,
        ]

    def gdx(self, rnd: int) -> list[Run]:
        self.gdx_init()
        env = self.gdx_env()
        runs = []
        for peer, path, more in (
            ("gdx_first", self.dataset.path, ()),
            ("gdx_skip", self.dataset.path, ()),
            ("gdx_reload", self.dataset.path, ("--force",)),
            ("gdx_change", self.dataset.changed_path, ()),
        ):
            status = "skipped" if peer == "gdx_skip" else "loaded"
            runs.append(self._gdx_load(peer, rnd, path, env, more, status))
        return runs

    def newcomers(self) -> list[Run]:
        """The newcomers' file (NEWCOMERS other people) loaded into the library the rounds left,
        which holds this size's records, then into an empty library: the merge's cost as the
        library grows. Run once per size, after its rounds."""
        other = make_dataset(NEWCOMERS, seed=NEWCOMERS_SEED)
        env = self.gdx_env()
        records = self.pg.execute(GDX_DB, "SELECT count(*) FROM population_person")[0][0]
        full = self._gdx_load("gdx_add_full", 1, other.path, env, rows=other.rows)
        self.gdx_init()
        empty = self._gdx_load("gdx_add_empty", 1, other.path, env, rows=other.rows)
        full.detail["library_records"], empty.detail["library_records"] = records, 0
        return [full, empty]

    def _gdx_load(
        self,
        peer: str,
        rnd: int,
        path: Path,
        env: dict,
        more: tuple[str, ...] = (),
        status: str = "loaded",
        rows: int | None = None,
    ) -> Run:
        run, done = self._run(peer, rnd, self.gdx_command(path, *more), env)
        summary = _last_json(done.stdout)
        if summary.get("status") != status:
            said = f"{summary.get('status')} {summary.get('error') or ''}".strip()
            raise RuntimeError(f"{PEERS[peer]}: {said}, not {status}")
        run.tool_seconds = summary["seconds"]
        if status != "loaded":
            return run
        if rows is not None:
            run.rows = rows
        keep = ("rows_read", "rows_loaded", "rows_inserted", "rows_updated", "rows_unchanged")
        keep += ("rows_duplicate", "rows_quarantined", "records_changed")
        run.detail = {k: summary[k] for k in keep}
        self._check(run, summary["rows_read"])
        return run

    def _tool(self, run: Run, done: measure.Measured, table: str) -> Run:
        said = _last_json(done.stdout)
        run.tool_seconds = said["seconds"]
        run.detail["reported"] = said["rows"]
        self._count(run, table)
        return run

    def _count(self, run: Run, table: str) -> None:
        """The rows in the peer's table, counted after the timed load."""
        run.detail["loaded"] = self.pg.execute(PEERS_DB, f"SELECT count(*) FROM {table}")[0][0]
        self._check(run, run.detail["loaded"])

    def _check(self, run: Run, loaded: int) -> None:
        if loaded != run.rows:
            raise RuntimeError(f"{PEERS[run.peer]}: {loaded} rows, the file has {run.rows}")


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line in the output: {text[-500:]!r}")


def _log_runs(log: Callable[[str], None], runs: list[Run]) -> None:
    for run in runs:
        log(
            f"  {run.size:,} round {run.round} {run.peer:13s} {run.seconds:8.2f} s "
            f"{run.rows_per_second:>10,.0f} rows/s  {run.peak_rss / 2**20:7.0f} MiB"
        )


def benchmark(
    sizes: list[int],
    runs: int,
    deadline: Callable[[int, float, dict[str, float]], float],
    log: Callable[[str], None] = print,
    pg: Postgres | None = None,
    newcomers: bool = True,
) -> IngestResults:
    """Every peer at every size, round-robin, then (`newcomers`) `Loads.newcomers` once. After
    the first round a peer runs again only if its last run's cost (set-up included) ends
    before `deadline(size, started, costs)`, a `time.monotonic()` value."""
    pg = pg or Postgres()
    results = IngestResults()
    for size in sizes:
        started = time.monotonic()
        dataset = make_dataset(size)
        results.datasets.append(dataset)
        log(
            f"ingest {size:,} people: {dataset.rows:,} rows, {dataset.bytes / 1e6:.0f} MB "
            f"(generated in {dataset.generate_seconds:.1f} s), {dataset.changed_rows:,} changed"
        )
        loads = Loads(pg, dataset)
        cost: dict[str, float] = {}
        for rnd in range(1, runs + 1):
            for peer in ORDER:
                if rnd > 1 and time.monotonic() + cost[peer] > deadline(size, started, cost):
                    results.skipped.append(Skipped(size, peer, rnd, "time budget"))
                    continue
                began = time.monotonic()
                done = getattr(loads, peer)(rnd)
                cost[peer] = time.monotonic() - began
                deadline(size, started, cost)
                results.runs.extend(done)
                _log_runs(log, done)
        if newcomers:
            added = loads.newcomers()
            results.runs.extend(added)
            _log_runs(log, added)
    pg.drop(PEERS_DB)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--budget", type=float, default=600, help="seconds per size")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=SEED, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, default=WORK, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        _generate(args.generate, args.work, args.seed)
        return
    results = benchmark(args.sizes, args.runs, lambda _size, began, _cost: began + args.budget)
    if args.json:
        args.json.write_text(json.dumps(results.as_dict(), indent=1))


if __name__ == "__main__":
    main()
