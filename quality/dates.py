"""Calendar dates, checked a column at a time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quality.text import fill_false
from runtime.clock import DEFAULT_TIMEZONE, zone  # noqa: F401 (the rules' zone is the clock's)


def today() -> dt.date:
    """Today where the data is: the province's time zone (GDX_TIMEZONE), not the server's."""
    return dt.datetime.now(zone()).date()


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"


def real_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """True where (year, month, day) is a day of the Gregorian calendar."""
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_ok = (month >= 1) & (month <= 12)
    days = _DAYS_IN_MONTH[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    return month_ok & (day >= 1) & (day <= days) & (year >= 1)


def parse_iso(values: pa.Array) -> pa.Array:
    """Date32 values of `YYYY-MM-DD` strings; null where the text is not a real date."""
    values = values.cast(pa.string())
    shaped = fill_false(pc.match_substring_regex(values, _ISO_DATE))
    result = pa.nulls(len(values), pa.date32())
    if not shaped.any():
        return result
    text = values.filter(pa.array(shaped))
    parts = [
        pc.cast(pc.utf8_slice_codeunits(text, a, b), pa.int64()).to_numpy()
        for a, b in ((0, 4), (5, 7), (8, 10))
    ]
    ok = real_dates(*parts)
    good = np.flatnonzero(shaped)[ok]
    dates = pc.cast(pc.strptime(text.filter(pa.array(ok)), "%Y-%m-%d", "s"), pa.date32())
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[D]")
    out[good] = dates.to_numpy(zero_copy_only=False)
    return pa.array(out, pa.date32(), mask=np.isnat(out))
