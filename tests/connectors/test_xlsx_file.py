"""Excel workbooks: title rows, merged and two-row headers, named sheets, Excel dates."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from connectors import ConnectorError
from connectors.registry import header_test
from connectors.xlsx_file import XlsxFile


@pytest.fixture
def known(catalog):
    return header_test(catalog.resource("population.person"))


def workbook(path, rows, merges=(), title="婚姻登记"):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for ref in merges:
        sheet.merge_cells(ref)
    book.save(path)
    return path


def read(reader):
    return [row for batch in reader.batches() for row in batch.table.to_pylist()]


def test_title_row_above_the_header_is_skipped(tmp_path, known):
    path = workbook(tmp_path / "a.xlsx", [
        ["吉林省民政厅婚姻登记信息（2026年11月）"], [],
        ["公民身份号码", "姓名", "婚姻状况", "登记日期"],
        ["11010519491231002X", "张三", "已婚", dt.date(2020, 1, 2)],
    ], merges=["A1:D1"])  # fmt: skip
    reader = XlsxFile(path, known)
    assert reader.header == ["公民身份号码", "姓名", "婚姻状况", "登记日期"]
    assert read(reader) == [
        {
            "公民身份号码": "11010519491231002X",
            "姓名": "张三",
            "婚姻状况": "已婚",
            "登记日期": "2020-01-02",
        }
    ]


def test_two_row_header_with_merged_cells(tmp_path, known):
    path = workbook(tmp_path / "b.xlsx", [
        ["公民身份号码", "姓名", "婚姻", None],
        [None, None, "状况", "死亡日期"],
        ["11010519491231002X", "张三", "已婚", 43831],
    ], merges=["A1:A2", "B1:B2", "C1:D1"])  # fmt: skip
    reader = XlsxFile(path, known)
    assert reader.header == ["公民身份号码", "姓名", "婚姻状况", "死亡日期"]
    (row,) = read(reader)
    assert row["死亡日期"] == "43831"  # an Excel serial: date normalisation reads it


def test_named_sheet_and_line_numbers(tmp_path, known):
    book = openpyxl.Workbook()
    book.active.append(["something else"])
    other = book.create_sheet("人口")
    other.append(["身份证号", "姓名"])
    other.append(["11010519491231002X", "张三"])
    other.append([None, None])
    other.append(["110105194912310021", "李四"])
    book.save(tmp_path / "c.xlsx")
    reader = XlsxFile(tmp_path / "c.xlsx", known, sheet="人口")
    batches = list(reader.batches())
    assert [line for b in batches for line in b.lines.to_pylist()] == [2, 4]
    with pytest.raises(ConnectorError, match="no sheet 'x'"):
        XlsxFile(tmp_path / "c.xlsx", known, sheet="x")


def test_a_sheet_without_the_expected_header(tmp_path, known):
    path = workbook(tmp_path / "d.xlsx", [["甲", "乙"], ["1", "2"]])
    with pytest.raises(ConnectorError, match="sheet 婚姻登记: no header row"):
        XlsxFile(path, known)


def test_not_a_workbook(tmp_path, known):
    path = tmp_path / "e.xlsx"
    path.write_text("id,name\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match="not a readable .xlsx workbook"):
        XlsxFile(path, known)


def test_excel_serial_dates_are_normalised(catalog):
    import pyarrow as pa

    from quality.normalize import iso_dates

    values = pa.array(["43831", "43831.0", "2020-01-02", "12", None])
    assert iso_dates(values).to_pylist() == ["2020-01-01", "2020-01-01", "2020-01-02", "12", None]
