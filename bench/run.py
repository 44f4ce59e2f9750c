"""`make bench`: the benchmarks of issue 7, written to bench/RESULTS.md (and bench/results.json).

    python bench/run.py [--sizes 100000 1000000] [--runs 3] [--scale] [--budget SECONDS]
                        [--no-profile] [--no-others] [--no-api] [--api-size N] [--api-seconds S]
                        [--api-larger [N ...]]
    python bench/run.py --only-api [--api-size N] [--api-seconds S] [--api-larger [N ...]]

1. the ingest benchmark (bench/ingest.py) at every size: `\\copy`, to_sql, dlt and gdx load
   (first load, re-load, 1% change), up to `--runs` rounds while the time budget allows, then
   once the same 50,000 other people loaded into the library of that size and into an empty
   one (the merge as the library grows); `--scale` adds 5,000,000 people (one round);
2. a py-spy profile of `gdx load` at the largest default size (bench/loadprofile.py,
   bench/profile-load.txt);
3. the API benchmark (bench/api.py): `gdx serve --workers 2` against Datasette, record by key at
   16 and 64 connections, verification and 1,000-key batches, `--api-seconds` (30) per point,
   over a library of `--api-size` (100,000) people, then gdx's record by key at 64 connections
   again over each library of `--api-larger` people (1,000,000; with `--scale` also
   10,000,000; an empty list: none), to see whether latency stays flat as the library grows
   tenfold; its time is kept out of the ingest rounds' budget; `--only-api` runs this stage
   alone and merges it into the existing bench/results.json (the ingest figures stay as they
   were);
4. the older benchmarks (bench/demo_data.py, bench/validation.py) at the largest default size
   when the budget still allows, else at the smallest.
The default budget (`--budget`, 960 s) keeps `make bench` from a fresh clone, installation
(about a minute) included, within 20 minutes on the 2-core machine of the project: the first
round of every size always runs; later rounds (gdx first), the re-load's and the 1% change's
profiles and the older benchmarks at the large size run only while the budget allows. A larger
API library than the default one adds its estimated time to the budget, and `--scale`'s
5,000,000-person round comes on top of it, so that neither takes rounds or profiles from the
default sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import api
import ingest
import loadprofile
import measure
import psutil
import report

SMALL_BUDGET = 150  # seconds for the rounds of each size but the largest
OTHERS_LARGE = 150  # seconds: demo_data.py and validation.py at 1M people
OTHERS_SMALL = 30  # at 100,000
SCALE = 5_000_000
BUDGET = 960  # seconds: `make bench` from a fresh clone in under 20 minutes, installation included
API_LARGER = 1_000_000  # the larger library behind the API by default
API_SCALE = 10_000_000  # the largest library behind the API with --scale


def api_estimate(seconds: float, larger: list[int] = ()) -> float:
    """Seconds of the API stage at 100,000 people: setup, every point and its warm-up, the
    server's profile; every larger library's generation and load (at about 30,000 rows/s) and
    its point."""
    main = 60 + len(api.POINTS) * (seconds + 3 + 3) + api.PROFILE_SECONDS + 5
    return main + sum(20 + people / 30_000 + seconds + 6 for people in larger)


def machine(pg: ingest.Postgres) -> dict:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    packages = {}
    for name in report.PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = "not installed"
    psql = subprocess.run(
        [shutil.which("psql") or "psql", "--version"], capture_output=True, text=True
    )
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgres": pg.server_version(),
        "postgres_url": pg.url,
        "psql": _version(psql.stdout) if psql.returncode == 0 else "missing",
        "packages": packages,
        "commit": commit or "unknown",
        "dirty": dirty,
        "loadavg": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def _version(text: str) -> str:
    found = re.search(r"\d+(\.\d+)+", text)
    return found.group(0) if found else text.strip()


def _git(*args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=ingest.ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


class Clock:
    def __init__(self, budget: float):
        self.started = time.monotonic()
        self.deadline = self.started + budget

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f} s] {text}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3, help="rounds per size, budget allowing")
    parser.add_argument("--scale", action="store_true", help="add 5,000,000 people (one round)")
    parser.add_argument(
        "--budget",
        type=float,
        help=f"seconds for the whole run (default {BUDGET}, plus the estimated time of any API "
        "library beyond the default one; --scale's 5,000,000-person stage comes on top)",
    )
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-others", action="store_true")
    parser.add_argument("--no-api", action="store_true")
    parser.add_argument("--api-size", type=int, default=100_000, help="people behind the API")
    parser.add_argument("--api-seconds", type=float, default=30, help="seconds of load per point")
    parser.add_argument(
        "--api-larger",
        type=int,
        nargs="*",
        help="people of the larger libraries (default 1,000,000; with --scale also 10,000,000; "
        "none: no larger library)",
    )
    parser.add_argument("--only-api", action="store_true", help="the API stage alone, merged")
    parser.add_argument("--out", type=Path, default=ingest.BENCH / "RESULTS.md")
    args = parser.parse_args()
    if args.api_larger is None:
        args.api_larger = [API_LARGER] + [API_SCALE] * args.scale
    args.api_larger = [people for people in args.api_larger if people > 0]
    if args.budget is None:
        args.budget = BUDGET
        if not args.no_api:  # a larger library than the default's brings its own time
            args.budget += api_estimate(args.api_seconds, args.api_larger)
            args.budget -= api_estimate(args.api_seconds, [API_LARGER])
    if args.only_api:
        only_api(args)
        return
    command = "python bench/run.py " + " ".join(sys.argv[1:])
    clock = Clock(args.budget)
    started = dt.datetime.now().astimezone()
    pg = ingest.Postgres()
    facts = machine(pg)
    clock.log(f"machine: {facts['cpu']}, {facts['cores']} cores, PostgreSQL {facts['postgres']}")
    sizes = sorted(args.sizes)
    largest = sizes[-1]
    costs: dict[int, dict[str, float]] = {}

    def reserve() -> float:
        """Seconds to keep for the profile and the other benchmarks after the rounds."""
        seconds = 0.0
        gdx = costs.get(largest, {}).get("gdx", 0)  # a round's gdx loads at the largest size
        seconds += 0.4 * gdx  # the newcomers' two loads (50,000 people each)
        if not args.no_profile:  # the first load, the re-load and the 1% change again
            seconds += 1.2 * gdx
        if not args.no_others:
            seconds += OTHERS_SMALL
        if not args.no_api:
            seconds += api_estimate(args.api_seconds, args.api_larger)
        return seconds

    def deadline(size: int, started_size: float, cost: dict[str, float]) -> float:
        costs[size] = cost
        if size == largest:
            return clock.deadline - reserve()
        if size >= SCALE:
            return started_size  # one round
        return started_size + SMALL_BUDGET

    results = ingest.benchmark(sizes, args.runs, deadline, clock.log, pg)
    if args.scale and SCALE not in sizes:
        began = time.monotonic()
        results.extend(ingest.benchmark([SCALE], 1, deadline, clock.log, pg))
        clock.deadline += time.monotonic() - began  # one round at 5M, on top of the budget
    profiles = []
    if not args.no_profile:
        dataset = next(d for d in results.datasets if d.size == largest)
        clock.log(f"profile: py-spy over gdx load at {largest:,} people")
        loads = ingest.Loads(pg, dataset)
        timed = {
            peer: statistics.median(r.seconds for r in results.of(largest, peer))
            for peer in ("gdx_first", "gdx_reload", "gdx_change")
        }
        # the first load is always profiled; the re-load and the 1% change while the budget
        # allows (py-spy slows a load by about a fifth)
        later: list[str] = []
        left = clock.left() - OTHERS_SMALL - 1.2 * timed["gdx_first"]
        for name, peer in (("reload", "gdx_reload"), ("change", "gdx_change")):
            if left > 1.2 * timed[peer]:
                later.append(name)
                left -= 1.2 * timed[peer]
        profiles = loadprofile.record(loads, ingest.WORK, later=tuple(later))
        loadprofile.write_text(ingest.BENCH / "profile-load.txt", dataset, profiles)
        for profile, profile_facts in profiles:
            top = ", ".join(
                f"{s} {v / profile.seconds:.0%}" for s, v in profile.stages.most_common(4)
            )
            clock.log(f"  {profile.name}: {profile_facts['wall_seconds']:.1f} s — {top}")
        pg.drop(ingest.GDX_DB)
    api_result = None
    if not args.no_api:
        clock.log(f"api: gdx serve and Datasette, {args.api_size:,} people")
        api_result = api.benchmark(
            args.api_size, args.api_seconds, clock.log, pg, bigger=args.api_larger
        )
    others = []
    if not args.no_others:
        people = largest if clock.left() > OTHERS_LARGE else sizes[0]
        for script in ("demo_data.py", "validation.py"):
            cmd = [sys.executable, str(ingest.BENCH / script), str(people)]
            clock.log(f"other benchmark: bench/{script} {people}")
            done = measure.run(cmd).check(f"bench/{script}")
            others.append(
                {
                    "command": f"python bench/{script} {people}",
                    "seconds": round(done.seconds, 1),
                    "output": done.stdout,
                }
            )
    finished = dt.datetime.now().astimezone()
    data = {
        "command": command.strip(),
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - clock.started, 1),
        "machine": facts,
        "options": {
            "sizes": sizes,
            "scale": args.scale,
            "runs": args.runs,
            "budget": args.budget,
            "defect_rate": ingest.DEFECT_RATE,
            "seed": ingest.SEED,
            "profile_size": largest,
        },
        "ingest": results.as_dict(),
        "profile": [{"profile": p.as_dict(), "facts": f} for p, f in profiles],
        "others": others,
    }
    if api_result is not None:
        data["api"] = api_result
    (ingest.BENCH / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    args.out.write_text(report.render(data))
    clock.log(f"wrote {args.out} and bench/results.json")


def only_api(args: argparse.Namespace) -> None:
    """The API stage alone, written into the existing bench/results.json and RESULTS.md."""
    results = ingest.BENCH / "results.json"
    data = json.loads(results.read_text())
    clock = Clock(api_estimate(args.api_seconds, args.api_larger))
    pg = ingest.Postgres()
    clock.log(f"api only: gdx serve and Datasette, {args.api_size:,} people")
    data["api"] = api.benchmark(
        args.api_size, args.api_seconds, clock.log, pg, bigger=args.api_larger
    )
    data["api"]["command"] = "python bench/run.py " + " ".join(sys.argv[1:])
    data["api"]["machine"] = machine(pg)
    results.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    args.out.write_text(report.render(data))
    clock.log(f"wrote {args.out} and bench/results.json")


if __name__ == "__main__":
    main()
