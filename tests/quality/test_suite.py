"""The Great Expectations suite generated from the declaration, and its row-level verdicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from catalog_schema.headers import map_headers
from gdx.demo.data import write_demo_data
from quality.normalize import normalize_table
from quality.rules import bound_rules
from quality.runner import validate, validate_direct
from quality.suite import RuleError, SuiteRunner, expectation


def test_every_declared_rule_becomes_one_named_expectation(catalog):
    person = catalog.resource("population.person")
    rules = bound_rules(person)
    types = {rule.rule_id: expectation(rule).expectation_type for rule in rules}
    assert types["id_number.citizen_id"] == "expect_column_values_to_be_valid_citizen_id"
    assert types["id_number.required"] == "expect_column_values_to_not_be_null"
    assert types["gender.in_set"] == "expect_column_values_to_be_in_set"
    assert (
        types["gender.gender_agrees_with_id"]
        == "expect_column_pair_gender_to_agree_with_citizen_id"
    )
    assert types["employer_uscc.uscc"] == "expect_column_values_to_be_valid_uscc"
    assert types["death_date.not_before"] == "expect_column_pair_values_a_to_not_be_before_b"
    runner = SuiteRunner(person, tuple(spec.name for spec in person.fields))
    assert len(runner.suite.expectations) == len(rules) == 14
    assert all(e.expectation_type.startswith("expect_") for e in runner.suite.expectations)


def test_gx_verdicts_equal_the_direct_checks_on_demo_data(catalog, tmp_path):
    person = catalog.resource("population.person")
    manifest = write_demo_data(tmp_path, catalog, people=3000, seed=11, defect_rate=0.1)
    raw = pacsv.read_csv(
        Path(manifest.extracts["public_security.population"].path),
        read_options=pacsv.ReadOptions(encoding="gbk"),
        convert_options=pacsv.ConvertOptions(column_types={"公民身份号码": pa.string()}),
    )
    headers = map_headers(person, raw.column_names)
    mapped = pa.table(
        {field: raw.column(h).cast(pa.string()) for h, field in headers.columns.items()}
    )
    table = normalize_table(person, mapped)
    via_gx, direct = validate(person, table), validate_direct(person, table)
    assert via_gx.failures.keys() == direct.failures.keys()
    for rule, mask in direct.failures.items():
        assert np.array_equal(via_gx.failures[rule], mask), rule
    assert via_gx.failed.sum() > 100


def test_a_rule_that_cannot_be_evaluated_fails_loudly(catalog):
    person = catalog.resource("population.person")
    runner = SuiteRunner(person, ("id_number", "gender"))
    table = pa.table({"gender": pa.array(["男"])})
    with pytest.raises(RuleError, match=r"rule id_number\.\w+ could not be evaluated on id_number"):
        runner.failures(table)
