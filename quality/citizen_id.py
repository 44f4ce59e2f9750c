"""Citizen ID numbers (GB 11643-1999), normalised and validated a whole column at a time."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quality.dates import real_dates, today
from quality.divisions import is_division_code
from quality.text import (
    char_matrix,
    fill_false,
    from_char_matrix,
    normalize_identifier,
    to_arrow,
)

WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
#: check character indexed by S mod 11, i.e. (12 - S mod 11) mod 11 with 10 written X
CHECK_CHARS = np.frombuffer(b"10X98765432", dtype=np.uint8)
_EARLIEST_YEAR = 1850
#: what a consumer may type for one (the API's pattern): 18 characters with the check character
#: X (or x), or an old 15-digit number; the check character, birth date and division code are
#: checked by `is_valid_one` after `normalize_one`
TYPED_PATTERN = r"^(?:[0-9]{17}[0-9Xx]|[0-9]{15})$"


def check_chars(bodies: np.ndarray) -> np.ndarray:
    """Check characters (as bytes) for an (n, 17) matrix of ASCII digits."""
    total = (bodies.astype(np.int64) - 48) @ WEIGHTS
    return CHECK_CHARS[total % 11]


def normalize(values: pd.Series | pa.Array) -> pa.Array:
    """Blanks trimmed, full-width to ASCII, `x` to `X`, 15-digit numbers converted to 18."""
    ids = normalize_identifier(values)
    old = fill_false(pc.match_substring_regex(ids, r"^\d{15}$"))
    if not old.any():
        return ids
    short = ids.filter(pa.array(old))
    body = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(short, 0, 6), "19", pc.utf8_slice_codeunits(short, 6, 15), ""
    )
    matrix = char_matrix(body.cast(pa.string()), 17)
    full = np.concatenate([matrix, check_chars(matrix)[:, None]], axis=1)
    converted = np.empty(len(ids), dtype=object)
    converted[old] = np.asarray(from_char_matrix(full).to_pylist(), dtype=object)
    return pc.if_else(pa.array(old), pa.array(converted, pa.string()), ids.cast(pa.string()))


_BLANKS_OR_HYPHENS = re.compile(r"[\t\n\f\r \-]+")  # RE2's \s is these four and the space
_OLD_ID = re.compile(r"[0-9]{15}")
_SHAPED = re.compile(r"[0-9]{17}[0-9X]")


def normalize_one(value: str | None) -> str | None:
    """`normalize` for one trimmed value, without Arrow's per-call cost (an API key look-up);
    tests/quality/test_keys.py holds it to the column version."""
    if value is None:
        return None
    value = _BLANKS_OR_HYPHENS.sub("", unicodedata.normalize("NFKC", value)).upper()
    if _OLD_ID.fullmatch(value):
        body = value[:6] + "19" + value[6:]
        return body + _check_char(body)
    return value


def is_valid_one(value: str | None) -> bool:
    """`is_valid` for one normalised value."""
    if value is None or not _SHAPED.fullmatch(value):
        return False
    year, month, day = int(value[6:10]), int(value[10:12]), int(value[12:14])
    try:
        born = dt.date(year, month, day)
    except ValueError:
        return False
    return (
        _check_char(value[:17]) == value[17]
        and year >= _EARLIEST_YEAR
        and born <= today()
        and bool(is_division_code(np.array([int(value[:6])]))[0])
    )


def _check_char(body: str) -> str:
    total = sum((ord(char) - 48) * int(weight) for char, weight in zip(body, WEIGHTS, strict=True))
    return chr(CHECK_CHARS[total % 11])


def _dates_ok(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    now = today()
    stamp = year * 10000 + month * 100 + day
    not_future = stamp <= now.year * 10000 + now.month * 100 + now.day
    return real_dates(year, month, day) & (year >= _EARLIEST_YEAR) & not_future


def is_valid(values: pd.Series | pa.Array) -> np.ndarray:
    """True where an already normalised value is a valid 18-character citizen ID.

    Checks the format, the check character, the birth date (a real date, not in the future) and
    the division code (one that is or was assigned). Nulls are False; never raises.
    """
    ids = to_arrow(values)
    shaped = fill_false(pc.match_substring_regex(ids, r"^\d{17}[\dX]$"))
    valid = np.zeros(len(ids), dtype=bool)
    if not shaped.any():
        return valid
    matrix = char_matrix(ids.filter(pa.array(shaped)).cast(pa.string()), 18)
    digits = matrix[:, :14].astype(np.int64) - 48
    check_ok = check_chars(matrix[:, :17]) == matrix[:, 17]
    year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
    month = digits[:, 10:12] @ np.array([10, 1])
    day = digits[:, 12:14] @ np.array([10, 1])
    division = digits[:, :6] @ np.array([100000, 10000, 1000, 100, 10, 1])
    valid[shaped] = check_ok & _dates_ok(year, month, day) & is_division_code(division)
    return valid


def birth_dates(ids: pa.Array) -> pa.Array:
    """`YYYY-MM-DD` of each 18-character ID (null where the value is not shaped like one)."""
    shaped = pc.match_substring_regex(ids, r"^\d{17}[\dX]$")
    text = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(ids, 6, 10),
        pc.utf8_slice_codeunits(ids, 10, 12),
        pc.utf8_slice_codeunits(ids, 12, 14),
        "-",
    )
    return pc.if_else(shaped, text, pa.scalar(None, text.type))


def genders(ids: pa.Array) -> pa.Array:
    """男 for an odd sequence digit (position 17), 女 for an even one; null if not shaped."""
    shaped = pc.match_substring_regex(ids, r"^\d{17}[\dX]$")
    digit = pc.utf8_slice_codeunits(ids, 16, 17)
    odd = pc.is_in(digit, pa.array(["1", "3", "5", "7", "9"]))
    gender = pc.if_else(odd, "男", "女")
    return pc.if_else(shaped, gender, pa.scalar(None, pa.string()))


def make_ids(divisions: np.ndarray, births: np.ndarray, sequences: np.ndarray) -> list[str]:
    """Build valid IDs from int arrays of division codes, YYYYMMDD birth dates and sequences."""
    bodies = np.char.add(
        np.char.add(divisions.astype("U6"), births.astype("U8")),
        np.char.zfill(sequences.astype("U3"), 3),
    )
    matrix = np.frombuffer("".join(bodies.tolist()).encode("ascii"), dtype=np.uint8)
    matrix = matrix.reshape(-1, 17)
    full = np.concatenate([matrix, check_chars(matrix)[:, None]], axis=1)
    return from_char_matrix(full).to_pylist()
