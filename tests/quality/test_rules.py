"""Every rule of the vocabulary, on a small normalised table of population rows."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from catalog_schema import RULE_NAMES
from quality.normalize import normalize_table
from quality.rules import CHECKS, bound_rules
from quality.runner import validate


def test_every_declared_rule_is_implemented():
    assert set(CHECKS) == set(RULE_NAMES)


def _table(catalog, **columns):
    resource = catalog.resource("population.person")
    return normalize_table(
        resource, pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    )


def _failures(catalog, **columns):
    resource = catalog.resource("population.person")
    verdict = validate(resource, _table(catalog, **columns))
    return {rule: mask.tolist() for rule, mask in verdict.failures.items()}


def test_citizen_id_gender_and_birth_date(catalog):
    failures = _failures(
        catalog,
        id_number=["11010519491231002X", "11010519491231002X", "110105194912310021", None],
        gender=["女", "男", "女", "男"],
        birth_date=["1949-12-31", "1949/12/31", "19491231", "2000-01-01"],
    )
    assert failures["id_number.required"] == [False, False, False, True]
    assert failures["id_number.citizen_id"] == [False, False, True, False]
    assert failures["gender.gender_agrees_with_id"] == [False, True, False, False]
    assert failures["birth_date.birth_date_agrees_with_id"] == [False, False, False, False]
    assert failures["gender.in_set"] == [False] * 4


def test_enumerations_phone_and_ethnic_group(catalog):
    failures = _failures(
        catalog,
        id_number=["11010519491231002X"] * 5,
        ethnicity=["汉", "汉族", "火星族", None, "其他"],
        phone=["13812345678", "+8613812345678", "0431-88886666", "12345", "138 1234 5678"],
        marital_status=["已婚", "未婚", "结婚", None, "丧偶"],
    )
    assert failures["ethnicity.ethnic_group"] == [False, False, True, False, False]
    assert failures["phone.phone"] == [False, False, False, True, False]
    assert failures["marital_status.in_set"] == [False, False, True, False, False]


def test_dates(catalog):
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    failures = _failures(
        catalog,
        id_number=["11010519491231002X"] * 4,
        birth_date=["1949-12-31"] * 4,
        death_date=["2020-02-30", future, "1940-01-01", "2020年2月3日"],
    )
    assert failures["death_date.date_format"] == [True, False, False, False]
    assert failures["death_date.not_future"] == [False, True, False, False]
    assert failures["death_date.not_before"] == [False, False, True, False]


def test_employer_uscc(catalog):
    failures = _failures(
        catalog,
        id_number=["11010519491231002X"] * 3,
        employer_uscc=["91110000600037341L", "91110000600037341X", None],
    )
    assert failures["employer_uscc.uscc"] == [False, True, False]


def test_rules_needing_a_missing_column_are_not_bound(catalog):
    resource = catalog.resource("population.person")
    ids = {rule.rule_id for rule in bound_rules(resource, ["id_number", "gender"])}
    assert "gender.gender_agrees_with_id" in ids
    assert "birth_date.birth_date_agrees_with_id" not in ids


def test_rules_of_lists_every_failed_rule(catalog):
    resource = catalog.resource("population.person")
    table = _table(catalog, id_number=["110105194912310021"], gender=["外"], name=[None])
    verdict = validate(resource, table)
    assert verdict.rules_of(verdict.failed.nonzero()[0]) == [
        ["id_number.citizen_id", "name.required", "gender.in_set"]
    ]


def test_number_rules():
    from quality.rules import negative, not_number

    values = pa.array(["12", "-3.5", "1e5", "abc", None, "+0.25"])
    assert not_number(values).tolist() == [False, False, True, True, False, False]
    assert negative(values).tolist() == [False, True, False, False, False, False]


def test_subject_id_follows_the_subject_type():
    from quality.rules import subject_id_mismatch

    ids = pa.array(["11010519491231002X", "91110000600037341L", "91110000600037341L", "x", None])
    types = pa.array(["自然人", "法人", "自然人", "法人", "法人"])
    assert subject_id_mismatch(ids, types).tolist() == [False, False, True, True, False]
    assert subject_id_mismatch(pa.array(["x"]), pa.array([None], pa.string())).tolist() == [False]


def test_industry_codes():
    from quality.rules import not_industry_code

    values = pa.array(["C", "C13", "C1311", "C131", "Z01", "13", "C13111", None])
    assert not_industry_code(values).tolist() == [
        False,
        False,
        False,
        False,
        True,
        True,
        True,
        False,
    ]


def test_control_characters_are_removed_and_huge_numbers_rejected(catalog):
    from quality.normalize import trim
    from quality.rules import not_number

    assert trim(pa.array(["a\x00b ", "\x00", None])).to_pylist() == ["ab", None, None]
    assert not_number(pa.array(["1" * 16, "1" * 17, "1" * 16 + ".25"])).tolist() == [
        False,
        True,
        False,
    ]


def test_today_is_the_provinces_today(monkeypatch):
    import datetime as dt
    from zoneinfo import ZoneInfo

    from quality.dates import DEFAULT_TIMEZONE, today
    from quality.rules import in_future
    from runtime.settings import SETTINGS

    assert next(s.default for s in SETTINGS if s.env == "GDX_TIMEZONE") == DEFAULT_TIMEZONE
    for zone in ("Pacific/Kiritimati", "Etc/GMT+12"):  # 26 hours apart
        monkeypatch.setenv("GDX_TIMEZONE", zone)
        local = dt.datetime.now(ZoneInfo(zone)).date()
        assert today() == local
        assert in_future(pa.array([local.isoformat()])).tolist() == [False]
        assert in_future(pa.array([(local + dt.timedelta(days=1)).isoformat()])).tolist() == [True]


def test_warnings_count_only_rows_that_load(catalog):
    import numpy as np

    from quality.runner import Verdict

    verdict = Verdict(
        {
            "id_number.citizen_id": np.array([True, False]),
            "ethnicity.ethnic_group": np.array([True, True]),
        },
        2,
        frozenset({"ethnicity.ethnic_group"}),
    )
    assert verdict.counts() == {"id_number.citizen_id": 1}
    assert verdict.warnings() == {"ethnicity.ethnic_group": 1}  # the rejected row is not loaded
