"""Great Expectations Data Docs of every validation: one HTML page per validated block, and an
index page per batch, rendered with GX's own renderers."""

from __future__ import annotations

import html
from pathlib import Path


def block_page(folder: Path, number: int, result) -> Path:
    """Render one block's validation result to `folder/block-NNN.html`."""
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"block-{number:03d}.html"
    document = ValidationResultsPageRenderer().render(result)
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
