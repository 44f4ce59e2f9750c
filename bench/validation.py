"""Benchmark: validating population rows with every declared rule (issue 4, item 7).

Run: `python bench/validation.py [ROWS]` (default 1,000,000). Prints rows/s for each rule's
vectorised check, for the whole Great Expectations suite (what a load runs, in blocks), and
the ratio of the citizen-ID check to python-stdnum called once per row (on a sample).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from stdnum.cn import ric

from catalog_schema import load_catalog
from catalog_schema.headers import map_headers
from gdx.demo.data import write_demo_data
from quality.normalize import normalize_table
from quality.rules import bound_rules
from quality.suite import SuiteRunner

BLOCK = 100_000


def population(rows: int) -> pa.Table:
    catalog = load_catalog()
    person = catalog.resource("population.person")
    with tempfile.TemporaryDirectory() as folder:
        manifest = write_demo_data(Path(folder), catalog, people=rows, seed=3)
        raw = pacsv.read_csv(
            manifest.extracts["public_security.population"].path,
            read_options=pacsv.ReadOptions(encoding="gbk"),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
        )
    headers = map_headers(person, raw.column_names)
    mapped = pa.table({f: raw.column(h).cast(pa.string()) for h, f in headers.columns.items()})
    return normalize_table(person, mapped)


def main(rows: int) -> None:
    person = load_catalog().resource("population.person")
    started = time.perf_counter()
    table = population(rows)
    print(f"{table.num_rows} rows prepared in {time.perf_counter() - started:.1f} s", flush=True)
    for rule in bound_rules(person, table.column_names):
        started = time.perf_counter()
        failed = int(rule.check(table).sum())
        seconds = time.perf_counter() - started
        print(f"  {rule.rule_id:40s} {table.num_rows / seconds:>14,.0f} rows/s  ({failed} failed)")
    runner = SuiteRunner(person, tuple(table.column_names))
    started = time.perf_counter()
    for offset in range(0, table.num_rows, BLOCK):
        runner.failures(table.slice(offset, BLOCK))
    seconds = time.perf_counter() - started
    print(
        f"  whole suite via Great Expectations ({len(runner.rules)} expectations, blocks of "
        f"{BLOCK:,}): {table.num_rows / seconds:,.0f} rows/s, {seconds:.1f} s"
    )
    sample = table.column("id_number").slice(0, 100_000).to_pylist()
    started = time.perf_counter()
    for number in sample:
        try:
            ric.is_valid(number)
        except KeyError:
            pass
    stdnum_rate = len(sample) / (time.perf_counter() - started)
    ours = next(r for r in bound_rules(person) if r.rule_id == "id_number.citizen_id")
    started = time.perf_counter()
    ours.check(table)
    our_rate = table.num_rows / (time.perf_counter() - started)
    print(
        f"  citizen ID: vectorised {our_rate:,.0f} rows/s, python-stdnum per row "
        f"{stdnum_rate:,.0f} rows/s: {our_rate / stdnum_rate:.0f}x"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
