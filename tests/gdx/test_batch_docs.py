"""The Data Docs that real batches write: pages that need no other host and whose every link
resolves, and a Home that indexes every batch of every resource, newest first."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from gdx.cli.main import app
from gdx.pipeline import load_file
from quality import docs_home
from quality.data_docs import Batch
from tests.gdx.test_pipeline import HEADER, LI, ZHANG, crowd, write
from warehouse import engine as engines
from warehouse import tables

BAD = "110105194912310021,李四,女,1949-12-31,<b>火星族</b>,北京市\n"


class Page(HTMLParser):
    """The links and element ids of one page."""

    def __init__(self, text: str):
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src", "action", "srcset", "poster", "data") and value is not None:
                self.links.append(value)
            if name == "id":
                self.ids.add(value)


def check_site(root: Path) -> list[Path]:
    """Every page under `root`: self-contained, every link relative and resolving (fragments
    too), no GX call syntax, no newsletter. Returns the pages."""
    pages = sorted(root.rglob("*.html"))
    parsed = {page: Page(page.read_text(encoding="utf-8")) for page in pages}
    for page, found in parsed.items():
        text = page.read_text(encoding="utf-8")
        for bad in ("http:", "https:", "<script", "url(", "@import", "newsletter", "expect_"):
            assert bad not in text.lower(), (page, bad)
        for link in found.links:
            assert not re.match(r"^[a-z][a-z0-9+.-]*:", link, re.I), (page, link)  # no scheme
            assert not link.startswith(("/", "\\")), (page, link)  # nor absolute, nor //host
            path, _, fragment = link.partition("#")
            target = (page.parent / unquote(path)).resolve() if path else page
            assert target.is_file() and root.resolve() in target.parents, (page, link)
            if fragment:
                assert fragment in parsed[target].ids, (page, link)
    return pages


@pytest.fixture
def engine(tmp_path, catalog, monkeypatch):
    monkeypatch.setenv("GDX_DATA_DOCS_DIR", str(tmp_path / "docs"))
    db = engines.create(f"sqlite:///{tmp_path / 'gdx.db'}")
    tables.init_schema(db, catalog)
    yield db
    db.dispose()


def load_three(engine, catalog, tmp_path):
    """Two batches of people (the first in several blocks), one of organisations."""
    from gdx.demo.data.entities import usccs

    def load(name, text, resource="population.person", department="public_security", **kw):
        path = write(tmp_path, text, name)
        return load_file(path, resource, department, engine=engine, catalog=catalog, **kw)

    first = load("a.csv", HEADER + ZHANG + BAD + crowd(), block_bytes=300)
    second = load("b.csv", HEADER + LI + BAD)
    society = usccs(np.random.default_rng(2), np.full(1, "51"))[0]
    orgs = f"uscc,name,org_type,status\n{society},某协会,社会团体,存续\n"
    third = load("o.csv", orgs, "legal_entity.organization", "civil_affairs")
    return first, second, third


def test_every_batch_is_indexed_from_the_home_and_every_link_resolves(engine, catalog, tmp_path):
    first, second, third = load_three(engine, catalog, tmp_path)
    root = tmp_path / "docs"
    pages = check_site(root)
    blocks = sorted(Path(first.data_docs).parent.glob("block-*.html"))
    assert len(blocks) > 1  # several blocks, a page each
    assert set(pages) >= {root / "index.html", *blocks, Path(second.data_docs)}
    home = (root / "index.html").read_text(encoding="utf-8")
    for summary in (first, second, third):
        link = f"{summary.resource}/{summary.batch_id}/index.html"
        assert f'href="{link}"' in home
        assert (root / link) == Path(summary.data_docs)
    assert home.index(second.batch_id) < home.index(first.batch_id)  # newest first
    assert "人口基础信息" in home and "法人单位基础信息" in home
    people = (root / "population.person" / "index.html").read_text(encoding="utf-8")
    assert people.index(second.batch_id) < people.index(first.batch_id)
    assert "a.csv" in people and "有拒收行" in people and "&lt;b&gt;" not in people
    third_page = Path(third.data_docs).read_text(encoding="utf-8")
    assert "全部通过" in third_page and "统一社会信用代码" in third_page
    shown = "".join(page.read_text(encoding="utf-8") for page in blocks)
    assert "&lt;b&gt;火星族&lt;/b&gt;" in shown and "<b>火星族" not in shown


def test_the_home_shows_the_latest_batches_and_links_to_all(engine, catalog, tmp_path, monkeypatch):
    monkeypatch.setattr(docs_home, "HOME_BATCHES", 1)
    first, second, _ = load_three(engine, catalog, tmp_path)
    root = tmp_path / "docs"
    home = (root / "index.html").read_text(encoding="utf-8")
    assert second.batch_id in home and first.batch_id not in home
    assert 'href="population.person/index.html"' in home and "all 2 batches" in home
    people = (root / "population.person" / "index.html").read_text(encoding="utf-8")
    assert first.batch_id in people and second.batch_id in people
    check_site(root)


def test_gdx_quality_docs_rebuilds_the_home_and_names_a_broken_record(
    engine, catalog, tmp_path, monkeypatch
):
    first, second, third = load_three(engine, catalog, tmp_path)
    root = tmp_path / "docs"
    monkeypatch.setenv("GDX_DATABASE_URL", str(engine.url))
    report = CliRunner().invoke(app, ["quality", "report"])
    assert report.exit_code == 0, report.output
    assert f"Data Docs of the latest population.person batch: {second.data_docs}" in report.stdout
    assert f"Data Docs of every batch: {root / 'index.html'}" in report.stdout
    (root / "index.html").unlink()
    (root / "population.person" / "index.html").unlink()
    result = CliRunner().invoke(app, ["quality", "docs", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "home": str(root / "index.html"),
        "resources": 2,
        "batches": 3,
        "unreadable": [],
    }
    check_site(root)

    broken = Path(first.data_docs).parent / "batch.json"
    broken.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, ["quality", "docs"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: {broken}: not a batch record of the Data Docs, left out"
    )
    home = (root / "index.html").read_text(encoding="utf-8")
    assert second.batch_id in home and third.batch_id in home and first.batch_id not in home
    assert "Traceback" not in result.output
    check_site(root)


def test_the_checks_of_the_whole_batch_count_as_the_load_counts_them(engine, catalog, tmp_path):
    """A key sent twice with other content and a row of too many fields are quarantined by the
    batch, not by a block's suite; a licence whose holder no library knows loads with a
    warning: the batch's index lists them in words and its result and counts say so."""
    from catalog_schema.rule_words import explain
    from gdx.demo.data.entities import usccs
    from tests.gdx.test_write_authority import LICENCE_HEADER, licence

    twice = ZHANG.replace("张三", "张叁")
    broken = "110105194912310011,王五,男,1949-12-31,汉族,北京市,多余\n"
    path = write(tmp_path, HEADER + ZHANG + twice + broken + crowd(), "d.csv")
    people = load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    assert set(people.rejected_by_rule) == {"duplicate_key_conflict", "malformed_row"}
    holder = usccs(np.random.default_rng(3), np.full(1, "91"))[0]
    path = write(tmp_path, LICENCE_HEADER + licence("BL01-1", "BL01", holder), "l.csv")
    licences = load_file(
        path, "e_licence.licence", "market_regulation", engine=engine, catalog=catalog
    )
    assert licences.warned_by_rule == {"holder_id.references": 1}

    for summary, result, rules in (
        (people, "rejected", people.rejected_by_rule),
        (licences, "warned", licences.warned_by_rule),
    ):
        folder = Path(summary.data_docs).parent
        batch = Batch.from_json((folder / "batch.json").read_text(encoding="utf-8"))
        assert (batch.result, batch.whole) == (result, rules)
        assert batch.rejected == summary.rows_quarantined
        page = Path(summary.data_docs).read_text(encoding="utf-8")
        resource = catalog.resource(summary.resource)
        for rule in rules:
            zh, en = explain(resource, rule)
            assert zh in page and en in page and f"<code>{rule}</code>" in page
    assert explain(catalog.resource("e_licence.licence"), "holder_id.references") == (
        "持证主体代码：所引用的库中没有此记录（population.person、legal_entity.organization）",
        "holder_id should be the key of a record of population.person or legal_entity.organization",
    )
    home = (tmp_path / "docs" / "index.html").read_text(encoding="utf-8")
    assert "有警告" in home and "有拒收行" in home
    check_site(tmp_path / "docs")


def test_a_batch_that_merged_nothing_says_so_not_all_passed(engine, catalog, tmp_path, monkeypatch):
    """Rejected whole (too many broken rows) or failed after its rows were validated: the
    Data Docs keep the validation and say that nothing of the batch was loaded."""
    import warehouse.batch_work
    from gdx.errors import GdxError

    broken = "".join(f"11010519491231{n:05d},某{n},女,1949-12-31,汉族,北京市\n" for n in range(6))
    with pytest.raises(GdxError, match="batch rejected"):
        load_file(
            write(tmp_path, HEADER + broken + LI),
            "population.person",
            "public_security",
            engine=engine,
            catalog=catalog,
        )

    def merge_fails(*args, **kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(warehouse.batch_work, "merge", merge_fails)
    with pytest.raises(RuntimeError, match="the disk is full"):
        load_file(
            write(tmp_path, HEADER + ZHANG, "z.csv"),
            "population.person",
            "public_security",
            engine=engine,
            catalog=catalog,
        )
    root = tmp_path / "docs"
    folders = sorted(path for path in (root / "population.person").iterdir() if path.is_dir())
    found = [Batch.from_json((f / "batch.json").read_text(encoding="utf-8")) for f in folders]
    assert [(b.outcome, b.result) for b in found] == [
        ("rejected", "batch_rejected"),
        ("failed", "failed"),
    ]
    assert found[1].rows == 1 and not found[1].failed  # its one row passed every rule
    home = (root / "index.html").read_text(encoding="utf-8")
    assert "整批拒收，未入库" in home and "批次失败，未入库" in home and "全部通过" not in home
    check_site(root)


def test_data_docs_that_cannot_be_written_do_not_hide_why_a_batch_failed(
    engine, catalog, tmp_path, monkeypatch
):
    import warehouse.batch_work
    from warehouse.tables import batch_ledger

    def merge_fails(*args, **kwargs):
        raise RuntimeError("the disk is full")

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(warehouse.batch_work, "merge", merge_fails)
    monkeypatch.setattr(docs_home, "refresh", no_space)
    path = write(tmp_path, HEADER + ZHANG)
    with pytest.raises(RuntimeError, match="the disk is full"):
        load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    with engine.connect() as conn:
        status, error = conn.execute(sa.select(batch_ledger.c.status, batch_ledger.c.error)).one()
    assert status == "failed" and "the disk is full" in error
