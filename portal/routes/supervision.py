"""Supervision (效能监察) for the hub's administrators: freshness, quality, decisions on access
requests and API calls per department and resource, as tables and charts, each table also as
a CSV download with the same filters (department, period)."""

from __future__ import annotations

import csv
import io
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from portal import charts, pages
from portal.pages import when
from portal.session import HubAdminDep, PortalError
from runtime import clock
from warehouse import supervision

router = APIRouter()
TABLES = ("freshness", "quality", "requests", "calls")
FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a cell a spreadsheet would run as a formula
LOW_PASS_RATE = 0.95  # drawn in the warning colour below this


@router.get("/supervision")
def page(
    request: Request,
    session: HubAdminDep,
    department: Annotated[str, Query()] = "",
    days: Annotated[str, Query()] = "30",
):
    filters, errors = _filters(request, department, days)
    if errors:
        return pages.render(
            request, "supervision.html", status=422, errors=errors, **_choices(request, filters)
        )
    tables = _tables(request, filters)
    return pages.render(
        request,
        "supervision.html",
        tables=tables,
        charts=_charts(request, tables),
        query=urlencode({"department": filters["department"], "days": filters["days"]}),
        **_choices(request, filters),
    )


@router.get("/supervision/{name}.csv")
def download(
    request: Request,
    session: HubAdminDep,
    name: str,
    department: Annotated[str, Query()] = "",
    days: Annotated[str, Query()] = "30",
):
    if name not in TABLES:
        raise PortalError(404, "There is no such table to download.", "页面不存在 Not found")
    filters, errors = _filters(request, department, days)
    if errors:
        raise PortalError(422, " ".join(errors.values()), "无法处理 Cannot be processed")
    table = _tables(request, filters)[name]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([f"{zh} {en}" for zh, en in table["columns"]])
    writer.writerows([[_cell(value) for value in row] for row in table["rows"]])
    filename = f"supervision-{name}-{filters['days']}d.csv"
    return pages.guarded(
        Response(
            ("\ufeff" + out.getvalue()).encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
        ),
        request,
    )


def _cell(value: str) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs (formula injection)."""
    return "'" + value if value.startswith(FORMULA) else value


def _filters(request: Request, department: str, days: str) -> tuple[dict, dict[str, str]]:
    errors = {}
    departments = request.app.state.catalog.departments
    if department and department not in departments:
        errors["department"] = _tr(
            request, "请选择列表中的部门。", "Choose a department of the list."
        )
        department = ""
    if days not in {str(n) for n in supervision.PERIODS}:
        errors["days"] = _tr(
            request, "统计期间为近7天、30天或90天。", "The period is the last 7, 30 or 90 days."
        )
        days = "30"
    return {"department": department, "days": int(days)}, errors


def _choices(request: Request, filters: dict) -> dict:
    return {
        "filters": filters,
        "departments": sorted(request.app.state.catalog.departments),
        "periods": supervision.PERIODS,
    }


def _tr(request: Request, zh: str, en: str) -> str:
    return en if pages.language(request) == "en" else zh


def _tables(request: Request, filters: dict) -> dict[str, dict]:
    """Each table as shown: its columns (zh, en), its rows of display text (the page and its
    CSV show the same), and `bad`: per row, the columns drawn as a problem."""
    catalog = request.app.state.catalog
    now = _now()
    period = supervision.Period.ending(now, filters["days"])
    department = filters["department"] or None
    with request.app.state.engine.connect() as conn:
        fresh = supervision.freshness(conn, catalog, now, department)
        quality = supervision.quality(conn, catalog, department)
        decided = supervision.requests(conn, catalog, period, now, department)
        called = supervision.calls(conn, catalog, period, now, department)

    def tr(zh: str, en: str) -> str:
        return _tr(request, zh, en)

    def named(code: str) -> str:
        found = catalog.departments.get(code)
        if found is None:
            return code
        return tr(found.name_zh, found.name_en)

    def number(value) -> str:
        return "—" if value is None else f"{value:g}"

    return {
        "freshness": {
            "columns": [("部门", "Department"), ("资源", "Resource"), ("数据源", "Source"),
                        ("更新周期", "Update cycle"), ("最近更新", "Last update"),
                        ("状态", "State"), ("待处理问题数据", "Quarantined rows waiting")],
            "rows": [
                [named(row["department"]), row["resource"], row["source"], row["cycle"],
                 when(row["last_success"]) or tr("从未", "never"),
                 tr("逾期", "late") if row["late"] else tr("按时", "on time"),
                 str(row["quarantined"])]
                for row in fresh
            ],
            "bad": [_flag(row["late"], 5) for row in fresh],
            "late": sum(row["late"] for row in fresh),
        },
        "quality": {
            "columns": [("部门", "Department"), ("资源", "Resource"), ("校验行数", "Rows checked"),
                        ("未通过行数", "Rows rejected"), ("通过率", "Pass rate"),
                        ("待处理问题数据", "Quarantined rows waiting")],
            "rows": [
                [named(row["department"]), row["resource"], str(row["rows_checked"]),
                 str(row["rejected"]), _percent(row["pass_rate"]), str(row["quarantined"])]
                for row in quality
            ],
            "bad": [_flag(_low(row["pass_rate"]), 4) | _flag(row["quarantined"], 5)
                    for row in quality],
            "points": [(row["resource"], round(row["pass_rate"] * 100, 1))
                       for row in quality if row["pass_rate"] is not None],
            "low": [_low(row["pass_rate"]) for row in quality if row["pass_rate"] is not None],
        },
        "requests": {
            "columns": [("部门", "Department"), ("资源", "Resource"), ("已审批", "Decided"),
                        ("审批用时中位数（工作日）", "Median decision time (working days)"),
                        ("超期审批", "Decided after the deadline"),
                        ("超期未审批", "Pending past the deadline")],
            "rows": [
                [named(row["department"]), row["resource"], str(row["decided"]),
                 number(row["median_working_days"]), str(row["decided_late"]),
                 str(row["pending_overdue"])]
                for row in decided
            ],
            "bad": [_flag(row["decided_late"], 4) | _flag(row["pending_overdue"], 5)
                    for row in decided],
        },
        "calls": {
            "columns": [("日期", "Day"), ("调用次数", "Calls"), ("被拒绝", "Denied")],
            "rows": [[row["day"].isoformat(), str(row["calls"]), str(row["denied"])]
                     for row in called],
            "bad": [_flag(row["denied"], 2) for row in called],
            "points": [(row["day"].isoformat(), row["calls"]) for row in called],
            "total": sum(row["calls"] for row in called),
            "denied": sum(row["denied"] for row in called),
        },
        "period": period,
    }  # fmt: skip


def _now():
    return clock.now()  # the figures' "now" (tests fix it)


def _flag(bad, column: int) -> set[int]:
    """The cells of a row drawn as a problem: {column} when `bad`."""
    return {column} if bad else set()


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _low(rate: float | None) -> bool:
    return rate is not None and rate < LOW_PASS_RATE


def _charts(request: Request, tables: dict) -> dict:
    calls, quality = tables["calls"], tables["quality"]
    return {
        "calls": charts.bars(
            calls["points"],
            _tr(request, "每日调用次数（有被拒绝调用的日期标为红色）",
                "API calls per day (days with denied calls in red)"),
            bad=[bool(flags) for flags in calls["bad"]],
        ),
        "quality": charts.bars(
            quality["points"],
            _tr(request, "各资源质量校验通过率（低于95%标为红色）",
                "Quality pass rate per resource (below 95% in red)"),
            unit="%",
            top=100,
            bad=quality["low"],
        ),
    }  # fmt: skip
