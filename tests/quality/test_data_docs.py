"""The Data Docs pages of a block and a batch: the rules in words, the department's values as
text (never markup), sensitive values masked and secret ones withheld."""

from __future__ import annotations

import json

import pyarrow as pa

from catalog_schema.rule_words import describe
from quality.data_docs import RECORD, Batch, batch_index, batch_of, block_page
from quality.runner import validate

SCRIPT = "<script>alert('x')</script>"
BAD_ID = "110105194912310021"  # a wrong check character


def person_block(catalog, tmp_path, batch_id="20261206T010000.000000-aaaaaa"):
    person = catalog.resource("population.person")
    table = pa.table(
        {
            "id_number": ["11010519491231002X", BAD_ID],
            "name": ["张三", None],
            "gender": ["男", "女"],  # 张三's ID says female
            "ethnicity": ["汉族", SCRIPT],
        }
    )
    verdict = validate(person, table)
    batch = batch_of(person, batch_id, "public_security", file=f"in/{SCRIPT}.csv")
    block = block_page(tmp_path, batch, verdict, person)
    return person, batch, block, (tmp_path / block.page).read_text(encoding="utf-8")


def test_a_value_that_is_html_is_shown_not_run(catalog, tmp_path):
    person, batch, block, text = person_block(catalog, tmp_path)
    assert block.unexpected["ethnicity.ethnic_group"] == 1
    assert "<script" not in text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
    index = batch_index(tmp_path, batch, person).read_text(encoding="utf-8")
    assert "<script" not in index and "&lt;script&gt;" in index  # the file name, as text


def test_each_rule_is_in_words_in_chinese_and_english(catalog, tmp_path):
    person, batch, block, text = person_block(catalog, tmp_path)
    for rule in ("citizen_id", "required"):
        zh, en = describe(person, "id_number", rule)
        assert zh in text and en in text
    zh, en = describe(person, "gender", "gender_agrees_with_id")
    assert "对照：公民身份号码 id_number" in zh and en.endswith("(id_number)")
    assert zh in text and en in text
    assert "性别：不在规定的取值范围内（男、女）" in text  # in_set names its values
    assert "expect_" not in text and "**{" not in text
    failed = ["id_number.citizen_id", "name.required", "gender.gender_agrees_with_id"]
    assert block.failed == [*failed, "ethnicity.ethnic_group"]  # in the declaration's order
    assert (block.rows, block.rejected, block.warned) == (2, 2, 0)


def test_sensitive_values_are_masked_as_declared(catalog, tmp_path):
    _, _, _, text = person_block(catalog, tmp_path)
    assert BAD_ID not in text and "11010519491231002X" not in text
    assert "110105********0021" in text  # keep_head 6, keep_tail 4, as the API masks it
    assert "（空）" in text  # the missing name


def test_secret_values_are_not_shown(catalog, tmp_path):
    organization = catalog.resource("legal_entity.organization")
    secret = "110105194912310021"
    verdict = validate(organization, pa.table({"legal_rep_id": [secret]}))
    batch = batch_of(organization, "20261206T010000.000000-bbbbbb", "market_regulation")
    block = block_page(tmp_path, batch, verdict, organization)
    text = (tmp_path / block.page).read_text(encoding="utf-8")
    assert block.failed == ["legal_rep_id.citizen_id"]
    assert secret not in text and secret[:6] not in text and "secret, not shown" in text


def test_the_batch_keeps_its_facts_beside_its_pages(catalog, tmp_path):
    person, batch, _, _ = person_block(catalog, tmp_path)
    batch.started = "2026-12-06T09:00:00+08:00"
    batch_index(tmp_path, batch, person)
    again = Batch.from_json((tmp_path / RECORD).read_text(encoding="utf-8"))
    assert again == batch
    assert (again.rows, again.rejected, again.result) == (2, 2, "rejected")
    assert json.loads((tmp_path / RECORD).read_text(encoding="utf-8"))["name_zh"] == "人口基础信息"


def test_a_batch_that_only_failed_warn_only_rules_is_warned(tmp_path):
    from tests.conftest import edited_catalog

    def warn_on_phones(data):
        data["fields"][6]["rules"] = [{"phone": None, "severity": "warn"}]

    catalog = edited_catalog(tmp_path / "c", "resources/population.person.yaml", warn_on_phones)
    person = catalog.resource("population.person")
    verdict = validate(person, pa.table({"id_number": ["11010519491231002X"], "phone": ["12345"]}))
    batch = batch_of(person, "20261206T010000.000000-cccccc", "human_resources")
    assert batch.severity["phone.phone"] == "warn"
    block = block_page(tmp_path, batch, verdict, person)
    assert (block.rejected, block.warned, block.failed) == (0, 1, ["phone.phone"])
    assert batch.result == "warned"
    assert "仅警告" in (tmp_path / block.page).read_text(encoding="utf-8")
