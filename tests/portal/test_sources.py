"""A department administrator's sources page: its registered sources and what it loaded by
hand, with their last batches; nothing of another department's."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gdx.errors import GdxError
from gdx.pipeline import load_file
from tests.portal.conftest import shot, sign_in_as
from tests.services.conftest import write_csv
from warehouse.tables import audit_log, batch_ledger


def _batches(portal, department: str) -> list[str]:
    with portal.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(batch_ledger.c.batch_id).where(batch_ledger.c.department == department)
            ).scalars()
        )


def test_the_sources_page_shows_the_departments_batches_only(portal):
    ours = _batches(portal, "human_resources")
    theirs = [
        b
        for d in ("public_security", "market_regulation", "civil_affairs")
        for b in _batches(portal, d)
    ]
    assert ours and theirs
    page = portal.client("hr").get("/portal/sources?lang=en")
    assert page.status_code == 200, page.text
    text = page.text
    assert "<title>Sources" in text
    # hr's registered sources (no batch in the fixture) and its load by hand
    assert "human_resources.insured" in text and "human_resources.payments" in text
    assert "No delivery yet." in text
    by_hand = text.split("Loaded by hand (gdx load)")[1]
    assert "human_resources.insurance_payment" in by_hand
    for batch_id in ours:
        assert batch_id in by_hand
    assert "payments.csv" in by_hand and "loaded" in by_hand
    # another department's sources and batches never
    for batch_id in theirs:
        assert batch_id not in text
    for code in ("public_security.population", "market_regulation.enterprises"):
        assert code not in text


def test_a_failed_and_a_quarantining_batch_show_their_status(portal, tmp_path):
    catalog = portal.catalog
    good = {
        "id_number": "220102199003071235",
        "name": "李四",
        "insured_region": "220102",
        "insurance_types": "职工基本养老保险",
        "first_paid_on": "2012-07-01",
        "months_paid": "161",
        "last_paid_month": "2026-11",
        "monthly_base": "8200",
        "employer_uscc": "91220402Q01892388C",
    }
    path = write_csv(tmp_path / "november.csv", [good, {**good, "id_number": "not-an-id"}])
    summary = load_file(
        path,
        "human_resources.insurance_payment",
        "human_resources",
        engine=portal.engine,
        catalog=catalog,
    )
    assert summary.rows_quarantined == 1
    broken = tmp_path / "broken.csv"
    broken.write_text("nothing,that,fits\n1,2,3\n", encoding="utf-8")
    with pytest.raises(GdxError):
        load_file(
            broken,
            "human_resources.insurance_payment",
            "human_resources",
            engine=portal.engine,
            catalog=catalog,
        )
    with portal.engine.connect() as conn:
        failed = conn.execute(
            sa.select(batch_ledger).where(batch_ledger.c.file_path.like("%broken.csv"))
        ).one()
    assert failed.status in ("rejected", "failed")
    page = portal.client("hr").get("/portal/sources?lang=en").text
    by_hand = page.split("Loaded by hand (gdx load)")[1]
    assert "november.csv" in by_hand and "with quarantined rows 1" in by_hand
    assert "broken.csv" in by_hand and failed.status in by_hand
    assert failed.error and failed.error[:30] in by_hand.replace("&#39;", "'")
    # newest first
    assert by_hand.index("broken.csv") < by_hand.index("november.csv")


def test_only_a_department_administrator_opens_the_sources_page(portal):
    for who in ("integrator", "supervisor"):
        page = portal.client(who).get("/portal/sources")
        assert page.status_code == 403 and "没有权限" in page.text
    with portal.engine.connect() as conn:
        refused = (
            conn.execute(sa.select(audit_log.c.person).where(audit_log.c.action == "forbidden"))
            .scalars()
            .all()
        )
    assert sorted(refused) == ["integrator", "supervisor"]


def test_another_department_sees_its_own(portal):
    text = portal.client("ps").get("/portal/sources?lang=en").text
    assert "public_security.population" in text and "human_resources.insured" not in text
    for batch_id in _batches(portal, "human_resources"):
        assert batch_id not in text
    assert _batches(portal, "public_security")[0] in text


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_sources_page_in_the_browser(page):
    sign_in_as(page, "hr")
    page.get_by_role("navigation").get_by_role("link", name="数据来源").click()
    page.get_by_role("heading", name="登记的数据源").wait_for()
    page.get_by_role("heading", name="手工导入（gdx load）").wait_for()
    page.get_by_text("已入库").first.wait_for()
    shot(page, "sources")
