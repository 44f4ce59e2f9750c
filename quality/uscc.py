"""Unified social credit codes (GB 32100-2015), normalised and validated a column at a time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quality.text import char_matrix, fill_false, normalize_identifier, to_arrow

ALPHABET = b"0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28], dtype=np.int64)
#: GB 11714 organisation code: weights of its 8 body characters
ORG_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
ORG_CHECK = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # indexed by 11 - S mod 11

_VALUE = np.full(256, -1, dtype=np.int64)
_VALUE[np.frombuffer(ALPHABET, dtype=np.uint8)] = np.arange(len(ALPHABET))
_ORG_VALUE = np.full(256, -1, dtype=np.int64)
_ORG_VALUE[48:58] = np.arange(10)
_ORG_VALUE[65:91] = np.arange(10, 36)
_CHARSET = "[0-9ABCDEFGHJKLMNPQRTUWXY]"
#: the shape `is_valid` accepts (the API's pattern): eight digits, eight characters of the
#: alphabet, the organisation code's check character (0-9 or X), the code's check character
PATTERN = r"^[0-9]{8}[0-9A-HJ-NPQRTUWXY]{8}[0-9X][0-9A-HJ-NPQRTUWXY]$"


def normalize(values: pd.Series | pa.Array) -> pa.Array:
    """Blanks and hyphens removed, full-width characters to ASCII, upper-cased."""
    return normalize_identifier(values)


def check_chars(bodies: np.ndarray) -> np.ndarray:
    """Check characters (as bytes) for an (n, 17) matrix of USCC characters."""
    total = _VALUE[bodies] @ WEIGHTS
    return np.frombuffer(ALPHABET, dtype=np.uint8)[(31 - total % 31) % 31]


def org_check_chars(bodies: np.ndarray) -> np.ndarray:
    """GB 11714 check characters (as bytes) for an (n, 8) matrix of organisation-code bodies."""
    total = _ORG_VALUE[bodies] @ ORG_WEIGHTS
    return ORG_CHECK[11 - total % 11]


def is_valid(values: pd.Series | pa.Array) -> np.ndarray:
    """True where an already normalised value is a valid USCC.

    Checks the charset, the check character and the embedded organisation code.
    Nulls are False; never raises.
    """
    codes = to_arrow(values)
    shaped = fill_false(pc.match_substring_regex(codes, rf"^\d{{8}}{_CHARSET}{{10}}$"))
    valid = np.zeros(len(codes), dtype=bool)
    if not shaped.any():
        return valid
    matrix = char_matrix(codes.filter(pa.array(shaped)).cast(pa.string()), 18)
    check_ok = check_chars(matrix[:, :17]) == matrix[:, 17]
    org_ok = org_check_chars(matrix[:, 8:16]) == matrix[:, 16]
    valid[shaped] = check_ok & org_ok
    return valid


def make_codes(prefixes: np.ndarray, org_bodies: np.ndarray) -> list[str]:
    """Valid codes from (n, 8) byte matrices of positions 1-8 and organisation-code bodies."""
    org = np.concatenate([org_bodies, org_check_chars(org_bodies)[:, None]], axis=1)
    body = np.concatenate([prefixes, org], axis=1)
    full = np.concatenate([body, check_chars(body)[:, None]], axis=1)
    return [row.tobytes().decode("ascii") for row in full]
