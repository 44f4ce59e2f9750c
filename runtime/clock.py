"""One clock on screen: every time the hub shows — command line, JSON, the API — is local time in
the province's zone (GDX_TIMEZONE) written as ISO 8601 with its offset, e.g.
`2026-12-06T09:23:22+08:00`. Times are stored in UTC; only their display is local."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

TIMEZONE_SETTING = "GDX_TIMEZONE"
DEFAULT_TIMEZONE = "Asia/Shanghai"


class ClockError(ValueError):
    """GDX_TIMEZONE names no time zone."""


def zone() -> ZoneInfo:
    """The province's time zone (GDX_TIMEZONE, default Asia/Shanghai)."""
    name = os.environ.get(TIMEZONE_SETTING) or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ClockError(
            f"{TIMEZONE_SETTING}: {name!r} is not a time zone (e.g. Asia/Shanghai)"
        ) from None


def now() -> dt.datetime:
    """The current instant, in UTC (what is stored)."""
    return dt.datetime.now(dt.UTC)


def local(at: dt.datetime) -> dt.datetime:
    """`at` in the province's zone; a naive time is taken as UTC (what SQLite gives back).

    Before a zone's standard time began its offset was local mean time, in seconds (Shanghai
    before 1901: +08:05:43), which ISO 8601 and RFC 3339 cannot write: such a time is shown at
    the nearest whole-minute offset instead, the same instant."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    shown = at.astimezone(zone())
    offset = shown.utcoffset() or dt.timedelta()
    if offset % dt.timedelta(minutes=1):
        minutes = round(offset.total_seconds() / 60)
        shown = at.astimezone(dt.timezone(dt.timedelta(minutes=minutes)))
    return shown


def iso(at: dt.datetime | None) -> str | None:
    """For JSON and the API: local ISO 8601 with offset, to the microsecond when it has one (so a
    time read back as `as_of` names the same instant)."""
    return None if at is None else local(at).isoformat()


def shown(at: dt.datetime | None, empty: str = "") -> str:
    """For the command line: local ISO 8601 with offset, to the second."""
    return empty if at is None else local(at).isoformat(timespec="seconds")
