"""Derived data: licences expire (过期) and subjects get a credit status, as records arrive and
as the calendar moves (`gdx refresh`), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from gdx.pipeline import load_file
from gdx.refresh import refresh
from quality.dates import today
from tests.gdx.test_pipeline import LI_ID
from warehouse import derived
from warehouse.tables import batch_ledger, for_resource

LICENCE = "e_licence.licence"
CREDIT = "credit.record"
LICENCE_HEADER = (
    "licence_id,licence_type_code,licence_no,holder_type,holder_id,holder_name,"
    "valid_from,valid_until,status\n"
)
CREDIT_HEADER = (
    "record_id,subject_type,subject_id,subject_name,category,decided_on,valid_until,status\n"
)


def days(n: int) -> str:
    return (today() + dt.timedelta(days=n)).isoformat()


def load(engine, catalog, tmp_path, resource, text, name, department="market_regulation"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    summary = load_file(path, resource, department, engine=engine, catalog=catalog)
    assert summary.status == "loaded" and summary.rows_quarantined == 0, summary
    return summary


def golden(engine, catalog, resource, key) -> dict:
    spec = catalog.resource(resource)
    table = for_resource(spec).golden
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(table).where(table.c[spec.key] == key)).one()._mapping)


def test_a_licence_past_its_end_date_is_expired(engine, catalog, tmp_path):
    rows = [
        f"BL01-1,BL01,N1,自然人,{LI_ID},李四,{days(-400)},{days(-1)},有效\n",
        f"BL01-2,BL01,N2,自然人,{LI_ID},李四,{days(-400)},{days(1)},有效\n",
        f"BL01-3,BL01,N3,自然人,{LI_ID},李四,{days(-400)},{days(-1)},吊销\n",
    ]
    batch = load(engine, catalog, tmp_path, LICENCE, LICENCE_HEADER + "".join(rows), "l.csv")
    assert golden(engine, catalog, LICENCE, "BL01-1")["status"] == "过期"  # on arrival
    assert golden(engine, catalog, LICENCE, "BL01-1")["_src_status"] == batch.batch_id
    assert golden(engine, catalog, LICENCE, "BL01-2")["status"] == "有效"
    assert golden(engine, catalog, LICENCE, "BL01-3")["status"] == "吊销"  # not replaced

    # re-delivered unchanged, or changed elsewhere, an expired licence stays expired
    changed = "".join(rows).replace("N1,", "N1-A,")
    again = load(engine, catalog, tmp_path, LICENCE, LICENCE_HEADER + changed, "l2.csv")
    assert again.records_changed == 1
    assert golden(engine, catalog, LICENCE, "BL01-1")["status"] == "过期"
    hist = for_resource(catalog.resource(LICENCE)).history
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(hist.c.status).where(hist.c.licence_id == "BL01-1")).all()
    assert [s for (s,) in statuses] == ["过期", "过期"]

    (report,) = [r for r in refresh(engine=engine, catalog=catalog) if r["resource"] == LICENCE]
    assert report["expired"] == 0  # nothing passed its date since the load
    (later,) = [
        r
        for r in refresh(engine=engine, catalog=catalog, today=today() + dt.timedelta(days=2))
        if r["resource"] == LICENCE
    ]
    assert later["expired"] == 1
    l2 = golden(engine, catalog, LICENCE, "BL01-2")
    assert l2["status"] == "过期" and l2["_batch_id"] == later["batch_id"]
    with engine.connect() as conn:
        ops = conn.execute(
            sa.select(hist.c._op, hist.c.status, hist.c._department)
            .where(hist.c.licence_id == "BL01-2")
            .order_by(hist.c._version_id)
        ).all()
        entry = conn.execute(
            sa.select(batch_ledger).where(batch_ledger.c.batch_id == later["batch_id"])
        ).one()
    assert [tuple(op) for op in ops] == [
        ("insert", "有效", "market_regulation"),
        ("expire", "过期", derived.DERIVED),
    ]
    assert (entry.status, entry.records_changed) == ("derived", 1)


def credit_status(engine, catalog, subject):
    with engine.connect() as conn:
        return derived.subject_status(conn, catalog.resource(CREDIT), subject)


def test_credit_status_follows_the_live_records(engine, catalog, tmp_path):
    uscc = catalog.department("market_regulation").uscc
    firm = f"法人,{uscc},某公司"
    person = f"自然人,{LI_ID},李四"
    rows = [
        f"C2,{person},行政处罚,{days(-800)},,有效\n",  # older than a year
        f"C3,{person},行政许可,{days(-5)},,有效\n",
    ]
    listed = CREDIT_HEADER + f"C1,{firm},经营异常名录,{days(-10)},,有效\n"
    load(engine, catalog, tmp_path, CREDIT, listed, "c1.csv")
    penalties = CREDIT_HEADER + "".join(rows)
    load(engine, catalog, tmp_path, CREDIT, penalties, "c1b.csv", "development_reform")
    company = credit_status(engine, catalog, uscc)
    assert (company["status"], company["live_records"], company["subject_name"]) == (
        "warning",
        1,
        "某公司",
    )
    assert credit_status(engine, catalog, LI_ID)["status"] == "good"

    courts = f"C4,{firm},失信被执行人,{days(-1)},{days(30)},有效\n"
    load(engine, catalog, tmp_path, CREDIT, CREDIT_HEADER + courts, "c2.csv", "courts")
    assert credit_status(engine, catalog, uscc)["status"] == "blacklisted"

    lifted = f"C4,{firm},失信被执行人,{days(-1)},{days(30)},已移出\n"
    load(engine, catalog, tmp_path, CREDIT, CREDIT_HEADER + lifted, "c3.csv", "courts")
    assert credit_status(engine, catalog, uscc)["status"] == "warning"

    fresh = f"C5,{person},行政处罚,{days(-30)},,有效\n"
    load(engine, catalog, tmp_path, CREDIT, CREDIT_HEADER + fresh, "c4.csv", "development_reform")
    assert credit_status(engine, catalog, LI_ID)["status"] == "warning"

    # a year later the penalty has aged out; the abnormal-operations listing stays
    later = today() + dt.timedelta(days=400)
    (report,) = [
        r for r in refresh(engine=engine, catalog=catalog, today=later) if r["resource"] == CREDIT
    ]
    assert report["subjects_changed"] == 1
    assert credit_status(engine, catalog, LI_ID)["status"] == "good"
    assert credit_status(engine, catalog, uscc)["status"] == "warning"


def test_a_moved_record_updates_both_subjects(engine, catalog, tmp_path):
    uscc = catalog.department("market_regulation").uscc
    other = catalog.department("courts").uscc
    row = "C1,法人,{},某公司,严重失信主体名单,{},,有效\n"
    first, moved = (CREDIT_HEADER + row.format(code, days(-3)) for code in (uscc, other))
    load(engine, catalog, tmp_path, CREDIT, first, "a.csv", "development_reform")
    assert credit_status(engine, catalog, uscc)["status"] == "blacklisted"
    load(engine, catalog, tmp_path, CREDIT, moved, "b.csv", "development_reform")
    assert credit_status(engine, catalog, other)["status"] == "blacklisted"
    assert credit_status(engine, catalog, uscc) is None  # no record left


def test_a_refresh_waits_for_a_batch_in_flight(engine, catalog, tmp_path):
    """The refresh takes the resource's writer lock: it derives from the state after the batch,
    never from the one before (the batch holds its transaction open for two seconds)."""
    import threading
    import time

    from connectors.csv_file import CsvFile
    from gdx.batch import BatchRequest, run_batch

    uscc = catalog.department("market_regulation").uscc
    firm = f"法人,{uscc},某公司"
    penalty = CREDIT_HEADER + f"C1,{firm},行政处罚,{days(-300)},,有效\n"
    load(engine, catalog, tmp_path, CREDIT, penalty, "c1.csv", "development_reform")
    later = today() + dt.timedelta(days=100)  # the penalty has aged out by then
    path = tmp_path / "c2.csv"
    path.write_text(CREDIT_HEADER + f"C2,{firm},失信被执行人,{days(-1)},,有效\n", encoding="utf-8")
    refreshed: list = []

    def refresh_meanwhile(conn, batch_id):
        thread = threading.Thread(
            target=lambda: refreshed.append(refresh(engine=engine, catalog=catalog, today=later))
        )
        thread.start()
        refreshed.append(thread)
        time.sleep(2)

    run_batch(
        lambda: CsvFile(path, "auto", 1 << 20),
        BatchRequest(CREDIT, "courts", before_commit=refresh_meanwhile),
        engine=engine,
        catalog=catalog,
    )
    refreshed[0].join()
    assert credit_status(engine, catalog, uscc)["status"] == "blacklisted"
