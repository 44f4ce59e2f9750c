"""The citizen ID validator against python-stdnum, the reference implementation."""

from __future__ import annotations

import datetime
import random

import numpy as np
import pyarrow as pa
import pytest
from stdnum.cn import ric

from quality import citizen_id
from quality.divisions import division_codes


def _oracle(number: str) -> bool:
    """stdnum's verdict, minus its two known quirks, plus no birth dates in the future.

    stdnum 2.2 raises KeyError on some division codes and rejects codes that did not exist in
    the birth year; the hub accepts any code that is or was assigned (a person keeps theirs).
    """
    try:
        number = ric.compact(number)
        if len(number) != 18 or not number[:17].isdigit():
            return False
        if number[-1] != ric.calc_check_digit(number):
            return False
        birth = ric.get_birth_date(number)
    except Exception:
        return False
    if birth > datetime.date.today():
        return False  # the hub also rejects birth dates in the future
    return birth.year >= 1850 and int(number[:6]) in set(division_codes().tolist())


def _random_ids(rng: random.Random, n: int) -> list[str]:
    codes = division_codes().tolist()
    out = []
    for _ in range(n):
        body = f"{rng.choice(codes):06d}{rng.randint(1900, 2024)}{rng.randint(1, 12):02d}"
        body += f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        out.append(body + ric.calc_check_digit(body + "0"))
    return out


def _corrupt(rng: random.Random, number: str) -> str:
    kind = rng.randrange(5)
    position = rng.randrange(18)
    if kind == 0:  # change one character
        return number[:position] + rng.choice("0123456789X") + number[position + 1 :]
    if kind == 1:  # swap neighbours
        p = min(position, 16)
        return number[:p] + number[p + 1] + number[p] + number[p + 2 :]
    if kind == 2:  # drop one
        return number[:position] + number[position + 1 :]
    if kind == 3:  # impossible month or day
        return (
            number[:10]
            + rng.choice(["13", "00", "02"])
            + rng.choice(["30", "32", "00"])
            + number[14:]
        )
    return number[:6] + "2999" + number[10:]  # in the future


def test_valid_numbers_agree_with_stdnum():
    rng = random.Random(1)
    ids = _random_ids(rng, 5000)
    ours = citizen_id.is_valid(citizen_id.normalize(pa.array(ids)))
    assert ours.all()
    accepted_by_stdnum = [n for n in ids if _stdnum_does_not_crash(n) and ric.is_valid(n)]
    assert len(accepted_by_stdnum) > 1000
    assert citizen_id.is_valid(pa.array(accepted_by_stdnum)).all()


def _stdnum_does_not_crash(number: str) -> bool:
    try:
        ric.is_valid(number)
        return True
    except KeyError:
        return False


def test_corrupted_numbers_agree_with_the_oracle():
    rng = random.Random(2)
    ids = [_corrupt(rng, n) for n in _random_ids(rng, 20000)]
    ours = citizen_id.is_valid(citizen_id.normalize(pa.array(ids)))
    expected = np.array([_oracle(n) for n in ids])
    mismatches = [n for n, a, b in zip(ids, ours, expected, strict=True) if a != b]
    assert mismatches == []
    assert (~expected).sum() > 15000  # the corruptions really corrupt


def test_known_stdnum_keyerror_code_does_not_crash():
    body = "62020119900101123"
    number = body + ric.calc_check_digit(body + "0")
    with pytest.raises(KeyError):
        ric.is_valid(number)  # the trap this guards against
    assert citizen_id.is_valid(citizen_id.normalize(pa.array([number]))).tolist() == [True]


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (" 11010519491231002x ", "11010519491231002X"),
        ("１１０１０５１９４９１２３１００２Ｘ", "11010519491231002X"),
        ("110105491231002", "11010519491231002X"),
        ("1101 0519 4912 3100 2X", "11010519491231002X"),
    ],
)
def test_normalisation(raw, normal):
    assert citizen_id.normalize(pa.array([raw])).to_pylist() == [normal]


def test_fifteen_digit_numbers_convert_like_stdnum():
    rng = random.Random(3)
    ids = _random_ids(rng, 200)
    old = [n[:6] + n[8:17] for n in ids if n[6:8] == "19"]
    converted = citizen_id.normalize(pa.array(old)).to_pylist()
    for short, full in zip(old, converted, strict=True):
        body = short[:6] + "19" + short[6:]
        assert full == body + ric.calc_check_digit(body + "0")


@pytest.mark.parametrize(
    "odd",
    ["", None, "x" * 50, "😀" * 18, "1' OR '1'='1", "DROP TABLE population_person;--", "0" * 18],
)
def test_odd_strings_are_invalid_not_errors(odd):
    assert citizen_id.is_valid(citizen_id.normalize(pa.array([odd], pa.string()))).tolist() == [
        False
    ]


def test_gender_and_birth_date_come_from_the_number():
    ids = pa.array(["11010519491231002X", "110105199001011237", None])
    assert citizen_id.genders(ids).to_pylist() == ["女", "男", None]
    assert citizen_id.birth_dates(ids).to_pylist() == ["1949-12-31", "1990-01-01", None]
