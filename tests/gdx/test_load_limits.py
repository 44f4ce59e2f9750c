"""`gdx load` of a file past the input limits: one line, exit 1, a failed batch in the ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from tests.connectors.test_limits import wide_header
from tests.gdx.cli.test_main import HEADER, ZHANG

GDX = str(Path(sys.executable).parent / "gdx")
LOAD = ["--resource", "population.person", "--department", "public_security"]


def gdx(*args: str, home: Path, timeout: float = 60, **env: str):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GDX_MAX_")}
    environment.pop("GDX_DATABASE_URL", None)
    environment |= {"GDX_HOME": str(home), **env}
    return subprocess.run(
        [GDX, *args], env=environment, capture_output=True, text=True, timeout=timeout
    )


def ledger(home: Path) -> list[dict]:
    db = sa.create_engine(f"sqlite:///{home / 'gdx.db'}")
    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, file_path, error FROM batch_ledger"))
        found = [dict(row._mapping) for row in rows]
    db.dispose()
    return found


def test_a_header_of_773780_columns_fails_the_batch_in_one_line(tmp_path):
    assert gdx("init", "--warehouse-only", home=tmp_path).returncode == 0
    path = tmp_path / "wide [a-z].csv"
    wide_header(path)
    result = gdx("load", str(path), *LOAD, home=tmp_path, timeout=60)  # an hour, before
    expected = f"{path}: the header runs over 64 KiB (GDX_MAX_HEADER_KB raises the limit)"
    assert result.returncode == 1
    assert result.stderr == f"error: {expected}\n"
    assert result.stdout == ""
    (batch,) = ledger(tmp_path)
    assert batch == {"status": "failed", "file_path": str(path), "error": expected}


def test_a_value_over_the_field_limit_fails_the_batch_naming_line_and_column(tmp_path):
    assert gdx("init", "--warehouse-only", home=tmp_path).returncode == 0
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG.replace("建国路1号", "x" * 3000), encoding="utf-8")
    result = gdx("load", str(path), *LOAD, home=tmp_path, GDX_MAX_FIELD_KB="2")
    expected = (
        f"{path}: line 2, column '户籍地址': a value of 3,018 bytes, over the field limit of "
        "2 KiB (GDX_MAX_FIELD_KB raises it)"
    )
    assert (result.returncode, result.stderr) == (1, f"error: {expected}\n")
    (batch,) = ledger(tmp_path)
    assert batch["status"] == "failed" and batch["error"] == expected
    loaded = gdx("load", str(path), *LOAD, "--json", home=tmp_path)  # the default: 128 KiB
    assert loaded.returncode == 0, loaded.stderr
    assert '"status": "loaded"' in loaded.stdout
