"""One GX context per process, one validation definition per resource reused for every block,
warmed in a thread; verdicts equal to the rule checks' whichever rule a row fails."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from catalog_schema.headers import map_headers
from gdx.demo.data import write_demo_data
from quality import gx_context
from quality.normalize import normalize_table
from quality.rules import bound_rules
from quality.runner import validate, validate_direct, warm

ROOT = Path(__file__).resolve().parents[2]
CSV_EXTRACTS = (
    "public_security.population",
    "market_regulation.enterprises",
    "market_regulation.licences",
    "courts.dishonest_debtors",
    "human_resources.payments",
)
# a value (or, for a pair, the value of column A) that breaks each rule of the vocabulary
BAD = {
    "required": None,
    "in_set": "不在集合内",
    "citizen_id": "11010119900307123",
    "uscc": "91110000ABC",
    "ethnic_group": "火星族",
    "phone": "12345",
    "date_format": "2024-02-30",
    "not_future": "2999-01-01",
    "industry_code": "ZZ99",
    "number_format": "十二",
    "non_negative": "-5",
    "not_before": "1800-01-01",
    "subject_id": "12345",
    "gender_agrees_with_id": None,  # the other gender, set below
    "birth_date_agrees_with_id": "1801-01-01",
}


@pytest.fixture(scope="module")
def blocks(catalog, tmp_path_factory):
    """A normalised block of each CSV extract of the demo data, by resource."""
    folder = tmp_path_factory.mktemp("demo")
    manifest = write_demo_data(folder, catalog, people=1500, seed=7, defect_rate=0.1)
    found = {}
    for code in CSV_EXTRACTS:
        source = catalog.source(code)
        resource = catalog.resource(source.resource)
        path = Path(manifest.extracts[code].path)
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        raw = pacsv.read_csv(
            io.BytesIO(text.encode()),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
        )
        headers = map_headers(resource, raw.column_names)
        mapped = pa.table({f: raw.column(h).cast(pa.string()) for h, f in headers.columns.items()})
        found[resource.code] = (resource, normalize_table(resource, mapped))
    return found


def _assert_same(resource, table) -> None:
    via_gx, direct = validate(resource, table), validate_direct(resource, table)
    assert via_gx.failures.keys() == direct.failures.keys()
    for rule, mask in direct.failures.items():
        assert np.array_equal(via_gx.failures[rule], mask), rule
    assert via_gx.warn_only == direct.warn_only
    assert via_gx.report is not None


def _broken(resource, table: pa.Table) -> tuple[pa.Table, dict[str, int]]:
    """The block with one row per rule broken by that rule's bad value; rule id -> row."""
    rules = bound_rules(resource, table.column_names)
    table = pa.concat_tables([table] * (len(rules) // max(table.num_rows, 1) + 1))
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    rows = {}
    for row, rule in enumerate(rules):
        column = columns[rule.field.name]
        if rule.name == "gender_agrees_with_id":
            column[row] = "女" if column[row] == "男" else "男"
        else:
            column[row] = BAD[rule.name]
        rows[rule.rule_id] = row
    types = {name: table.schema.field(name).type for name in table.column_names}
    broken = pa.table({name: pa.array(values, types[name]) for name, values in columns.items()})
    return broken, rows


def test_rows_breaking_each_rule_get_the_same_verdicts_from_gx(blocks):
    broke, declared = set(), set()
    for resource, table in blocks.values():
        declared |= {rule.name for rule in bound_rules(resource, table.column_names)}
        broken, rows = _broken(resource, table.slice(0, 400))
        _assert_same(resource, broken)
        direct = validate_direct(resource, broken)
        broke |= {rule.split(".")[1] for rule, row in rows.items() if direct.failures[rule][row]}
    assert broke == declared, declared - broke  # every rule the blocks declare, broken once
    assert len(declared) >= len(BAD) - 1, set(BAD) - declared


def test_one_validation_definition_per_resource_reused_for_every_block(blocks, catalog):
    person, table = blocks["population.person"]
    columns = ("id_number", "gender", "birth_date")  # a set of columns no other test uses
    block = table.select(list(columns))
    before = gx_context.built
    verdicts = [validate(person, block.slice(offset, 300)) for offset in range(0, 1200, 300)]
    assert gx_context.built == before + 1
    found = gx_context.definition(person, columns)
    assert gx_context.definition(person, columns) is found
    names = [v.name for v in gx_context.context().validation_definitions.all()]
    assert names.count(found.validation.name) == 1
    assert [v.rows for v in verdicts] == [300] * 4
    organization, other = blocks["legal_entity.organization"]
    validate(organization, other.slice(0, 100))
    validate(organization, other.slice(100, 100))
    assert gx_context.built <= before + 2


def test_warm_then_two_threads_validating_give_the_same_verdicts(blocks):
    warm()
    jobs = [(resource, table.slice(start, 500)) for resource, table in blocks.values()
            for start in (0, 500)]  # fmt: skip
    expected = [validate_direct(resource, block) for resource, block in jobs]
    results: dict[int, object] = {}
    errors: list[BaseException] = []

    def work(which: list[int]) -> None:
        try:
            for n in which:
                results[n] = validate(*jobs[n])
        except BaseException as exc:  # noqa: BLE001 - raised in the test below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(list(range(k, len(jobs), 2)),)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(results) == len(jobs)
    for n, want in enumerate(expected):
        for rule, mask in want.failures.items():
            assert np.array_equal(results[n].failures[rule], mask), (n, rule)


def test_a_warm_that_cannot_import_gx_raises_the_import_error_in_validate():
    code = (
        "import sys\n"
        "sys.modules['great_expectations'] = None\n"  # import great_expectations fails
        "from catalog_schema import load_catalog\n"
        "import pyarrow as pa\n"
        "from quality.runner import validate, warm\n"
        "warm()\n"
        "person = load_catalog().resource('population.person')\n"
        "try:\n"
        "    validate(person, pa.table({'gender': ['男']}))\n"
        "except ImportError as exc:\n"
        "    print('ImportError', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "ImportError import of great_expectations halted" in done.stdout
