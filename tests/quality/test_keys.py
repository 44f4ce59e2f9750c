"""One key at a time (the API) and a column of keys (batch look-ups) give the same verdicts."""

from __future__ import annotations

import datetime as dt

import numpy as np

from quality import keys
from quality.citizen_id import make_ids
from quality.dates import today


def spellings() -> list[str]:
    """Valid IDs and every kind of spelling and mistake the normalisers and rules know."""
    rng = np.random.default_rng(7)
    divisions = np.array([110105, 220102, 620201, 440305, 999999, 100000])
    births = np.array([19491231, 19900307, 20000229, 18491231, 19990230, 20260101])
    valid = make_ids(rng.choice(divisions, 60), rng.choice(births, 60), rng.integers(0, 1000, 60))
    future = (today() + dt.timedelta(days=1)).strftime("%Y%m%d")
    valid += make_ids(np.array([110105]), np.array([int(future)]), np.array([1]))
    raws = list(valid)
    for value in valid[:12]:
        raws += [
            value.lower(),
            value.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")),
            f"\u3000 {value[:6]}-{value[6:14]} {value[14:]}\t",
            f"{value[:9]}\u00a0{value[9:]}",
            f"{value[:9]}\v{value[9:]}",
            f"{value[:9]}\u2003{value[9:]}",
            value[:17] + ("0" if value[17] != "0" else "1"),
            value[:17],
            value + "1",
            value[:6] + value[8:17],  # 15 digits: the old form
            value[:6] + "x" + value[7:],
            "\ufeff" + value,
        ]
    raws += ["", "   ", "\u3000", "-", "ABC", "１２３", "110105491231002", "11010549123100"]
    return raws


def test_one_key_agrees_with_the_column(catalog):
    for code in ("population.person", "credit.record", "e_licence.licence"):
        resource = catalog.resource(code)
        assert keys._one_value(resource.key_field) is not None, code
        raws = spellings() + ["LIC-2024-001", " r1 ", "a\x00b"]
        column = keys.normalize_keys(resource, raws)
        for raw, expected in zip(raws, column, strict=True):
            one = keys._one_key(resource, raw, keys._one_value(resource.key_field))
            assert type(one) is type(expected) and str(one) == str(expected), (code, raw)


def test_a_key_beyond_ascii_takes_the_column_path(catalog, monkeypatch):
    """Python's Unicode tables (NFKC, case) may be older than Arrow's."""
    resource = catalog.resource("population.person")
    wide = "１１０１０５１９４９１２３１００２Ｘ"
    expected = keys.normalize_keys(resource, [wide])[0]

    def refuse(*args):
        raise AssertionError("one-value path taken")

    monkeypatch.setattr(keys, "_one_key", refuse)
    assert keys.normalize_key(resource, wide) == expected == "11010519491231002X"


def test_a_key_field_without_a_one_value_version_takes_the_column_path(catalog):
    resource = catalog.resource("legal_entity.organization")
    assert keys._one_value(resource.key_field) is None
    raws = [" 91110000600037341l ", "91110000600037341", "９１１１０００００６０００３７３４１Ｌ"]
    for raw, expected in zip(raws, keys.normalize_keys(resource, raws), strict=True):
        try:
            assert keys.normalize_key(resource, raw) == expected
        except keys.BadKey as exc:
            assert str(exc) == str(expected)
