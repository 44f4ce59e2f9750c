import datetime as dt

import pytest

from runtime import clock


def test_local_iso_with_offset(monkeypatch):
    monkeypatch.setenv("GDX_TIMEZONE", "Asia/Shanghai")
    at = dt.datetime(2026, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert clock.shown(at) == "2027-01-01T00:00:00+08:00"
    assert clock.iso(at) == "2027-01-01T00:00:00+08:00"
    assert clock.iso(at.replace(microsecond=5)) == "2027-01-01T00:00:00.000005+08:00"


def test_naive_is_utc_and_none_is_empty(monkeypatch):
    monkeypatch.setenv("GDX_TIMEZONE", "Europe/Berlin")
    assert clock.shown(dt.datetime(2026, 7, 1, 10, 0)) == "2026-07-01T12:00:00+02:00"
    assert clock.shown(None, "-") == "-"
    assert clock.iso(None) is None


def test_unknown_zone_is_one_line(monkeypatch):
    monkeypatch.setenv("GDX_TIMEZONE", "Mars/Olympus")
    with pytest.raises(clock.ClockError, match="GDX_TIMEZONE: 'Mars/Olympus' is not a time zone"):
        clock.zone()


def test_a_local_mean_time_offset_is_shown_at_whole_minutes(monkeypatch):
    """Shanghai before 1901 was +08:05:43, which ISO 8601 cannot write: the same instant at the
    nearest whole-minute offset (as_of 1900-01-01 is a valid read)."""
    monkeypatch.setenv("GDX_TIMEZONE", "Asia/Shanghai")
    at = dt.datetime(1899, 12, 31, 16, 0, tzinfo=dt.UTC)
    assert clock.iso(at) == "1900-01-01T00:06:00+08:06"
    assert dt.datetime.fromisoformat(clock.iso(at)) == at
