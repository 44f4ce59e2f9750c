"""Where `gdx load` spends its time: py-spy samples of the main thread, summed by stage and place.

    python bench/loadprofile.py [PEOPLE]   (default 1,000,000; writes bench/profile-load.txt)

py-spy records with `--idle`, so that time waiting for PostgreSQL (COPY, the merge's SQL)
counts: it is wall time of the main thread, not CPU time. A sample is put in the stage of the
deepest frame of the project's own code that is not a shared helper, and at the place (file,
line, function) of the deepest frame of the project's code; library time under it counts
there. A sample inside an import (`importlib`) is counted as imports, wherever it was.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import ingest
import measure

ROOT = ingest.CODE_ROOT  # the profiled code's files (ROOT when run from the same checkout)
PROJECT = ("gdx/", "connectors/", "quality/", "warehouse/", "catalog_schema/")
# modules that several stages call: they do not decide the stage of a sample
HELPERS = (
    "quality/dates.py",
    "quality/text.py",
    "quality/citizen_id.py",
    "quality/divisions.py",
    "quality/vocab.py",
    "warehouse/engine.py",
    "warehouse/tables.py",
)
# the main thread waits in gdx/ahead.py while the judging thread reads, normalises and judges
WAITING_FOR_JUDGE = "waiting for the judging thread (read, normalise, judge: gdx/ahead.py)"
STAGES = (  # (file prefix, function or None, stage), first match wins
    ("connectors/", None, "read the CSV (connectors)"),
    ("catalog_schema/headers.py", None, "map headers"),
    ("quality/normalize.py", None, "normalise"),
    ("quality/data_docs.py", None, "Data Docs pages"),
    ("quality/docs_", None, "Data Docs pages"),
    ("quality/", None, "validate (GX suite, rule checks, verdicts)"),
    ("gdx/batch_docs.py", None, "Data Docs pages"),
    ("warehouse/unchanged.py", "row_hashes", "row hashes"),
    ("warehouse/unchanged.py", None, "unchanged rows (known hashes, kept keys, repeats)"),
    ("gdx/batch.py", "_validate_batch", "split passed/quarantined rows (_validate_batch)"),
    ("warehouse/quarantine.py", None, "quarantine inserts"),
    ("warehouse/staging.py", "append", "staging COPY"),
    ("warehouse/staging.py", None, "staging SQL (create, analyze, repeated keys)"),
    ("warehouse/merge.py", None, "merge SQL"),
    ("warehouse/references.py", None, "reference checks"),
    ("warehouse/ledger.py", None, "ledger"),
    ("warehouse/", None, "other warehouse code"),
    ("gdx/ahead.py", None, WAITING_FOR_JUDGE),
    ("gdx/", None, "CLI and batch set-up"),
    ("catalog_schema/", None, "catalog"),
)
IMPORTS = "imports (modules loaded on first use)"
OUTSIDE = "interpreter and CLI outside the project's code"
NO_FRAME = "no Python frame (interpreter start and exit)"
START_UP, DATABASE, PYTHON = (
    "start-up (interpreter, imports, CLI, catalog)",
    "PostgreSQL statements (COPY, merge, staging and quarantine SQL)",
    "per-row Python work (read, normalise, validate, hashes, Data Docs)",
)
GROUPS = {
    IMPORTS: START_UP,
    OUTSIDE: START_UP,
    NO_FRAME: START_UP,
    "CLI and batch set-up": START_UP,
    "catalog": START_UP,
    "map headers": START_UP,
    WAITING_FOR_JUDGE: PYTHON,
    "staging COPY": DATABASE,
    "staging SQL (create, analyze, repeated keys)": DATABASE,
    "merge SQL": DATABASE,
    "unchanged rows (known hashes, kept keys, repeats)": DATABASE,
    "quarantine inserts": DATABASE,
    "reference checks": DATABASE,
    "ledger": DATABASE,
}


@dataclass
class Profile:
    name: str
    seconds: float  # sampled wall seconds of the main thread
    samples: int
    stages: Counter = field(default_factory=Counter)  # stage -> seconds
    places: Counter = field(default_factory=Counter)  # place -> seconds
    leaves: dict[str, Counter] = field(default_factory=dict)  # place -> leaf -> seconds

    def top_places(self, n: int) -> list[tuple[str, float, str]]:
        """(place, seconds, the library function most of it was in)."""
        out = []
        for place, seconds in self.places.most_common(n):
            leaf, _ = self.leaves[place].most_common(1)[0]
            out.append((place, seconds, leaf))
        return out

    def groups(self) -> Counter:
        """Seconds of start-up, of PostgreSQL statements and of per-row Python work."""
        out: Counter = Counter()
        for stage, seconds in self.stages.items():
            out[GROUPS.get(stage, PYTHON)] += seconds
        return out

    def as_dict(self, top: int = 25) -> dict:
        return {
            "name": self.name,
            "seconds": round(self.seconds, 2),
            "samples": self.samples,
            "groups": {k: round(v, 2) for k, v in self.groups().most_common()},
            "stages": {k: round(v, 2) for k, v in self.stages.most_common()},
            "top_places": [
                {"place": p, "seconds": round(s, 2), "mostly_in": leaf, "source": source_line(p)}
                for p, s, leaf in self.top_places(top)
            ],
        }


def analyse(path: Path, name: str) -> Profile:
    """Sum a py-spy speedscope file's main thread by stage and by place."""
    data = json.loads(path.read_text())
    frames = data["shared"]["frames"]
    threads = data["profiles"]
    main = next((p for p in threads if "MainThread" in p["name"]), None)
    main = main or max(threads, key=lambda p: sum(p["weights"]))
    profile = Profile(name, sum(main["weights"]), len(main["samples"]))
    described = [_describe(frame) for frame in frames]
    for stack, weight in zip(main["samples"], main["weights"], strict=True):
        if not stack:
            profile.stages[NO_FRAME] += weight
            profile.places[NO_FRAME] += weight
            profile.leaves.setdefault(NO_FRAME, Counter())["-"] += weight
            continue
        stage, place, leaf = _classify([described[i] for i in stack])
        profile.stages[stage] += weight
        profile.places[place] += weight
        profile.leaves.setdefault(place, Counter())[leaf] += weight
    return profile


def _describe(frame: dict) -> tuple[str, str, int]:
    """(file relative to the repo or site-packages, function, line)."""
    file = frame.get("file", "")
    if file.startswith(str(ROOT) + "/"):
        file = file[len(str(ROOT)) + 1 :]
    file = file.split("site-packages/")[-1]
    return file, frame.get("name", "?"), int(frame.get("line") or 0)


def _classify(stack: list[tuple[str, str, int]]) -> tuple[str, str, str]:
    """Stage, place and leaf of one sample (stack from the root to the leaf)."""
    leaf_file, leaf_function, _ = stack[-1]
    leaf = f"{leaf_function} ({leaf_file})"
    imported = any(function == "_find_and_load" for _, function, _ in stack)
    own = [frame for frame in stack if frame[0].startswith(PROJECT)]
    if not own:
        return (IMPORTS if imported else OUTSIDE), OUTSIDE, leaf
    file, function, line = own[-1]
    place = f"{file}:{line} {function}"
    if imported:
        below = stack[stack.index(own[-1]) + 1 :]
        module = next((f for f, _, _ in below if not f.startswith("<")), leaf_file)
        return IMPORTS, f"{place} (import)", f"importing {module}"
    deciding = [frame for frame in own if not frame[0].startswith(HELPERS)] or own
    file, function, _ = deciding[-1]
    for prefix, name, stage in STAGES:
        if file.startswith(prefix) and (name is None or function.startswith(name)):
            return stage, place, leaf
    return "other", place, leaf


#: the loads profiled after the first one, in this order (name, changed file?, options)
LATER = {
    "reload": ("re-load (--force)", False, ("--force",)),
    "change": ("1% change", True, ()),
}


def record(
    loads: ingest.Loads, work: Path, rate: int = 50, later: tuple[str, ...] = tuple(LATER)
) -> list[tuple[Profile, dict]]:
    """py-spy over a first load into an empty warehouse, then the loads of `later` (the
    identical file again with `--force`, the file with 1% of rows changed), as the timed
    runs do them: each profile with the load's own summary (wall and gdx's seconds)."""
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    loads.gdx_init()
    env = loads.gdx_env()
    out = []
    for name, changed, more in [("first load", False, ())] + [LATER[k] for k in later]:
        path = loads.dataset.changed_path if changed else loads.dataset.path
        speedscope = work / f"profile-{name.split()[0].replace('%', '')}.speedscope.json"
        cmd = [py_spy, "record", "--idle", "--rate", str(rate), "--format", "speedscope"]
        cmd += ["-o", str(speedscope), "--", *loads.gdx_command(path, *more)]
        loads.pg.checkpoint()
        done = measure.run(cmd, env).check(f"py-spy record gdx load ({name})")
        summary = ingest._last_json(done.stdout)
        facts = {
            "wall_seconds": round(done.seconds, 2),
            "gdx_seconds": summary["seconds"],
            "rows_read": summary["rows_read"],
            "status": summary["status"],
            "speedscope": ingest.relative(speedscope),
            "rate": rate,
        }
        out.append((analyse(speedscope, name), facts))
    return out


def write_text(path: Path, dataset: ingest.Dataset, profiles: list[tuple[Profile, dict]]) -> None:
    """The whole summary, for the lead to optimise from."""
    lines = [
        f"gdx load, public-security population file: {dataset.rows:,} rows "
        f"({dataset.size:,} people, {dataset.bytes / 1e6:.0f} MB, GBK), PostgreSQL",
        "py-spy record --idle (wall time of the main thread, waiting on PostgreSQL included)",
        "written by bench/run.py (bench/loadprofile.py); the raw speedscope files stay in "
        "var/bench/ (open them at speedscope.app)",
        "",
    ]
    for profile, facts in profiles:
        total = profile.seconds
        lines += [
            f"== {profile.name}: wall {facts['wall_seconds']:.1f} s (gdx's own seconds "
            f"{facts['gdx_seconds']:.1f}), {profile.samples} samples at {facts['rate']} Hz = "
            f"{total:.1f} s sampled",
            "",
            "time by kind:",
        ]
        for group, seconds in profile.groups().most_common():
            lines.append(f"  {seconds / total:6.1%} {seconds:7.1f} s  {group}")
        lines += ["", "time by stage:"]
        for stage, seconds in profile.stages.most_common():
            lines.append(f"  {seconds / total:6.1%} {seconds:7.1f} s  {stage}")
        lines += ["", "top places (deepest frame in the project's code; what it calls included):"]
        for place, seconds, leaf in profile.top_places(30):
            lines.append(f"  {seconds / total:6.1%} {seconds:7.1f} s  {place}")
            source = source_line(place)
            if source:
                lines.append(f"  {'':16s}  | {source}")
            lines.append(f"  {'':16s}  mostly in {leaf}")
        lines.append("")
    path.write_text("\n".join(lines))


def source_line(place: str) -> str:
    """The line of the project's code a place names ("file:line function"), shortened."""
    where = place.split(" ", 1)[0]
    file, _, line = where.partition(":")
    if not line.isdigit() or not (ROOT / file).is_file():
        return ""
    lines = (ROOT / file).read_text(encoding="utf-8").splitlines()
    number = int(line)
    text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
    while len(text) < 40 and number < len(lines) and number < int(line) + 3:
        text += " " + lines[number].strip()  # `conn.execute(` says little: what it executes
        number += 1
    return text if len(text) <= 90 else text[:87] + "..."


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    dataset = ingest.make_dataset(size)
    loads = ingest.Loads(ingest.Postgres(), dataset)
    profiles = record(loads, ingest.WORK)
    out = ingest.BENCH / "profile-load.txt"
    write_text(out, dataset, profiles)
    print(out.read_text())


if __name__ == "__main__":
    main()
