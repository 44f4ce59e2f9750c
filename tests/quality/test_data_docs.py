"""Data Docs pages show the department's values as text, never as HTML."""

from __future__ import annotations

import pyarrow as pa

from quality.data_docs import batch_index, block_page
from quality.runner import validate

SCRIPT = "<script>alert('x')</script>"


def test_a_value_that_is_html_is_shown_not_run(catalog, tmp_path):
    person = catalog.resource("population.person")
    table = pa.table(
        {
            "id_number": ["11010519491231002X", "110105194912310021"],
            "name": ["张三", "李四"],
            "ethnicity": ["汉族", SCRIPT],
        }
    )
    verdict = validate(person, table)
    assert verdict.counts().get("ethnicity.ethnic_group") == 1
    page = block_page(tmp_path, 1, verdict.report)
    text = page.read_text(encoding="utf-8")
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    index = batch_index(tmp_path, f"batch {SCRIPT}", [(page, 2, 1, False)])
    assert "<script>" not in index.read_text(encoding="utf-8")
    assert SCRIPT in str(verdict.report.results)  # the verdict's own result is left as it was
