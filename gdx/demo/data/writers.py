"""How departments hand their extracts over: CSV (GBK or UTF-8), XLSX with a title row, a
SQLite database, a JSON document for an API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, encoding=encoding)
    return path


def write_xlsx(frame: pd.DataFrame, path: Path, title: str, sheet: str) -> Path:
    """A workbook as departments export it: a title row, a blank row, then the table."""
    import openpyxl

    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.append([title])
    ws.append([])
    ws.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        ws.append([None if (v is None or v == "") else v for v in row])
    book.save(path)
    return path


def write_sqlite(frame: pd.DataFrame, path: Path, table: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        frame.to_sql(table, conn, index=False)
    return path


def write_json(frame: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    records = frame.where(frame.notna(), None).to_dict(orient="records")
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path
