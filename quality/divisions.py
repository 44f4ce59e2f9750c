"""Administrative division codes (GB/T 2260) that are or were in force.

The list comes from python-stdnum's `cn/loc.dat` (every county-level code with the years it was
valid). A citizen ID keeps its division code for life, so a code that was ever valid is accepted
whatever the birth year. stdnum's list leaves out some "市辖区" codes (xxxx01, e.g. 620201
嘉峪关市市辖区) that GB/T 2260 did assign; they are accepted wherever the prefecture exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from importlib import resources

import numpy as np


def _entries() -> Iterator[tuple[str, list[str]]]:
    """(6-digit code, its names in stdnum's spelling such as `[1983-2010]某区`) per line."""
    text = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        code, _, rest = line.strip().partition(" ")
        names = rest.split('"')[1].split(",")
        if not line.startswith(" "):
            province = code
            code = "0000"
        yield province + code, names


@cache
def division_codes() -> np.ndarray:
    """Sorted int32 array of every accepted 6-digit division code."""
    codes: set[int] = set()
    for text, _ in _entries():
        code = int(text)
        codes.add(code)
        if code % 100 == 0 and code % 10000 != 0:
            codes.add(code + 1)  # the prefecture's 市辖区
    return np.array(sorted(codes), dtype=np.int32)


@cache
def current_division_names() -> dict[str, str]:
    """Codes still in force, with their current names (used by the demo data generator)."""
    names: dict[str, str] = {}
    for code, spellings in _entries():
        latest = spellings[-1]
        if latest.startswith("["):
            span, latest = latest[1:].split("]")
            if span.split("-")[1]:
                continue  # no longer in force
        names[code] = latest
    return names


def is_division_code(codes: np.ndarray) -> np.ndarray:
    """Vectorised membership test for an integer array of 6-digit codes."""
    known = division_codes()
    positions = np.searchsorted(known, codes)
    positions[positions >= len(known)] = 0
    return known[positions] == codes
