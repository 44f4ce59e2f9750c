"""Watermarks of incremental sources, kept in their own type (timestamp, date or number).

A watermark only moves forward; a value in the future (a mistyped 2999-…) is ignored so that
it cannot move the state past every row still to come; reads start a look-back window before it.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")


def parse(value: object) -> object:
    """A stored or delivered watermark as a comparable value: datetime, date, number or text."""
    if isinstance(value, dt.datetime | dt.date | int | float | decimal.Decimal):
        return value
    text = str(value).strip()
    if _STAMP.match(text):
        return dt.datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    if _DATE.match(text):
        return dt.date.fromisoformat(text)
    try:
        return int(text)
    except ValueError:
        return text


def store(value: object) -> object:
    """The JSON form of a watermark: ISO text for times and dates, numbers as numbers."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")  # an offset, when the value has one, is kept
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _key(value: object) -> object:
    """A form in which dates, naive and aware datetimes compare: aware, naive taken as UTC."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return value


def _plausible(value: object) -> bool:
    if isinstance(value, dt.date):
        return _key(value) <= dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    return True


def newest(values, current: object = None) -> object:
    """The greatest plausible value among `values` and the current watermark (stored form)."""
    best = parse(current) if current is not None else None
    for value in values:
        if value is None or value == "":
            continue
        candidate = parse(value)
        if not _plausible(candidate):
            continue
        try:
            if best is None or _key(candidate) > _key(best):
                best = candidate
        except TypeError:  # number against text: keep the one we have
            continue
    return store(best) if best is not None else None


def rewind(value: object, minutes: int) -> object:
    """Where the next read starts: the watermark less the look-back window (a day at least for
    plain dates); numbers and text are not rewound."""
    parsed = parse(value)
    if isinstance(parsed, dt.datetime):
        return parsed - dt.timedelta(minutes=minutes)
    if isinstance(parsed, dt.date):
        return parsed - dt.timedelta(days=max(1, -(-minutes // 1440)))
    return parsed
