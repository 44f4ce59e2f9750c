"""Great Expectations Data Docs of every validation: one HTML page per validated block, and an
index page per batch, rendered with GX's own renderers."""

from __future__ import annotations

import copy
import html
from pathlib import Path


def block_page(folder: Path, number: int, result) -> Path:
    """Render one block's validation result to `folder/block-NNN.html`."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"block-{number:03d}.html"
    document = ValidationResultsPageRenderer().render(_escaped_values(result))
    page.write_text(DefaultJinjaPageView().render(document), encoding="utf-8")
    return page


def batch_index(folder: Path, title: str, pages: list[tuple[Path, int, int, bool]]) -> Path:
    """An index of a batch's block pages: (page, rows, expectations failed, success)."""
    rows = "\n".join(
        f"<tr><td><a href='{page.name}'>{page.stem}</a></td><td>{count}</td>"
        f"<td>{failed}</td><td>{'passed' if ok else 'failed'}</td></tr>"
        for page, count, failed, ok in pages
    )
    index = folder / "index.html"
    index.write_text(
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        "<p>Great Expectations validation of each block of the batch.</p>"
        "<table border='1' cellpadding='4'><tr><th>block</th><th>rows</th>"
        f"<th>expectations failed</th><th>result</th></tr>{rows}</table>",
        encoding="utf-8",
    )
    return index


def _escaped_values(result):
    """A copy of the result whose observed values (the department's data: unexpected values,
    their counts, exception messages) are HTML-escaped: GX's renderers paste them into the page
    as they are, so a value `<script>…` would run in the reader's browser."""
    safe = copy.copy(result)  # shallow: the escaped values are new, the rest is shared
    safe.results = []
    for item in result.results:
        item = copy.copy(item)
        item.result = _escape(item.result)
        item.exception_info = _escape(item.exception_info)
        safe.results.append(item)
    return safe


def _escape(value):
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, dict):
        return {_escape(key): _escape(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_escape(item) for item in value]
    return value
