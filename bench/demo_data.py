"""Benchmark: how long `gdx demo-data` takes for N people and everything linked to them.

Run: `python bench/demo_data.py [PEOPLE ...]` (default 100000 1000000). Prints one line per size
with the seconds per source and the total; the target (issue 3) is about a minute for 1,000,000
people on a 2-core machine.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from catalog_schema import load_catalog
from gdx.demo.data import write_demo_data


def main(sizes: list[int]) -> None:
    catalog = load_catalog()
    for people in sizes:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            manifest = write_demo_data(Path(folder), catalog, people=people, seed=1)
            seconds = time.perf_counter() - started
        print(
            f"demo-data people={people}: {manifest.rows} rows in {len(manifest.extracts)} "
            f"extracts, {seconds:.1f} s ({manifest.rows / seconds:,.0f} rows/s)",
            flush=True,
        )


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [100_000, 1_000_000])
