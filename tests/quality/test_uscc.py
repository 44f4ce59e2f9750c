"""The USCC validator against python-stdnum, plus the GB 11714 organisation-code check."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from stdnum.cn import uscc as ref

from quality import uscc

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _org_check_ok(code: str) -> bool:
    """GB 11714, written out plainly as the test's own oracle."""
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in code[8:16]]
    total = sum(v * w for v, w in zip(values, [3, 7, 9, 10, 5, 8, 4, 2], strict=True))
    check = 11 - total % 11
    return code[16] == {10: "X", 11: "0"}.get(check, str(check))


def _random_codes(rng: random.Random, n: int) -> list[str]:
    codes = []
    while len(codes) < n:
        body = "9" + rng.choice("123") + f"{rng.randint(110000, 659999)}"
        org = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
        values = [int(c) if c.isdigit() else ord(c) - 55 for c in org]
        check = 11 - sum(v * w for v, w in zip(values, [3, 7, 9, 10, 5, 8, 4, 2], strict=True)) % 11
        org += {10: "X", 11: "0"}.get(check, str(check))
        code = body + org
        codes.append(code + ref.calc_check_digit(code))
    return codes


def test_valid_codes_agree_with_stdnum():
    codes = _random_codes(random.Random(1), 5000)
    assert all(ref.is_valid(c) for c in codes)
    assert uscc.is_valid(uscc.normalize(pa.array(codes))).all()


def test_corrupted_codes_agree_with_stdnum_and_the_org_check():
    rng = random.Random(2)
    codes = []
    for code in _random_codes(rng, 20000):
        p = rng.randrange(18)
        codes.append(code[:p] + rng.choice(ALPHABET + "IOZ") + code[p + 1 :])
    ours = uscc.is_valid(uscc.normalize(pa.array(codes)))
    expected = np.array([ref.is_valid(c) and _org_check_ok(c) for c in codes])
    assert [c for c, a, b in zip(codes, ours, expected, strict=True) if a != b] == []
    assert (~expected).sum() > 15000


def test_published_example():
    assert uscc.is_valid(uscc.normalize(pa.array(["91110000600037341L"]))).tolist() == [True]


def test_normalisation_removes_blanks_and_hyphens_and_full_width():
    raw = ["9111 0000-6000 37341l", "９１１１００００６０００３７３４１Ｌ"]
    assert uscc.normalize(pa.array(raw)).to_pylist() == ["91110000600037341L"] * 2


@pytest.mark.parametrize("odd", ["", None, "I" * 18, "😀", "'; DROP TABLE x; --", "9" * 50])
def test_odd_strings_are_invalid(odd):
    assert uscc.is_valid(uscc.normalize(pa.array([odd], pa.string()))).tolist() == [False]
