"""What the demo generator wrote for one source."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Extract:
    """One source's demo delivery: where, how many rows, and how many of each defect."""

    path: str
    rows: int = 0
    defects: Counter = field(default_factory=Counter)


def inject(
    frame: pd.DataFrame,
    rng: np.random.Generator,
    rate: float,
    extract: Extract,
    kinds: dict[str, tuple[str, object]],
) -> pd.DataFrame:
    """Break `rate` of the rows, spreading the kinds evenly: {kind: (column, bad value)}.

    A bad value that is callable gets the old value and returns the broken one.
    """
    count = int(round(len(frame) * rate))
    if not count or not kinds:
        return frame
    frame = frame.copy()
    victims = rng.choice(len(frame), size=min(count, len(frame)), replace=False)
    names = list(kinds)
    for n, row in enumerate(victims.tolist()):
        kind = names[n % len(names)]
        column, bad = kinds[kind]
        old = frame.iat[row, frame.columns.get_loc(column)]
        frame.iat[row, frame.columns.get_loc(column)] = bad(old) if callable(bad) else bad
        extract.defects[kind] += 1
    return frame


def with_defects(
    frame: pd.DataFrame,
    path,
    rng: np.random.Generator,
    rate: float,
    kinds: dict[str, tuple[str, object]],
) -> tuple[pd.DataFrame, Extract]:
    """The frame with `rate` of its rows broken (see `inject`), and the extract that counts it."""
    extract = Extract(str(path), len(frame))
    return inject(frame, rng, rate, extract, kinds), extract


def wrong_check_character(value: str) -> str:
    """The same identifier with another last character: fails the check-character rule."""
    if not isinstance(value, str) or len(value) < 2:
        return "0000000000000000IO"  # no identifier here: one that is no ID and no USCC
    return value[:-1] + ("1" if value[-1] != "1" else "2")
