"""`collect(source)` for every kind: batches per delivery, state moved only with a commit."""

from __future__ import annotations

import shutil

import pytest
import sqlalchemy as sa
import yaml
from stdnum.cn import ric

from catalog_schema import load_catalog
from catalog_schema.catalog import DEFAULT_DIR
from gdx.errors import GdxError
from gdx.pipeline import collect
from warehouse import source_state
from warehouse.tables import batch_ledger, for_resource


def person(n: int, phone: str = "13800000000") -> dict:
    body = f"220102{1950 + n % 50}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return {
        "id_number": body + ric.calc_check_digit(body + "0"),
        "phone": phone[:-4] + f"{n % 10000:04d}",
        "insured_status": "参保缴费",
        "updated_at": f"2026-11-{1 + n % 20:02d} 09:00:00",
    }


@pytest.fixture
def catalog_with_sources(tmp_path):
    folder = tmp_path / "catalog"
    shutil.copytree(DEFAULT_DIR, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    extra = [
        {
            "code": "human_resources.insured_db",
            "department": "human_resources",
            "resource": "population.person",
            "options": {"kind": "sql", "connection": "hr_db", "table": "insured",
                        "watermark": "updated_at", "lookback_minutes": 0},
            "fields": ["id_number", "phone", "insured_status"],
        },
        {
            "code": "human_resources.insured_drop",
            "department": "human_resources",
            "resource": "population.person",
            "options": {"kind": "drop_folder", "folder": str(tmp_path / "drop")},
            "fields": ["id_number", "phone", "insured_status"],
        },
    ]  # fmt: skip
    path = folder / "sources.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["sources"] += extra
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_catalog(folder)


@pytest.fixture
def hr_db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'hr.db'}"
    monkeypatch.setenv("GDX_CONN_HR_DB", url)
    db = sa.create_engine(url)
    with db.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE insured (id_number TEXT PRIMARY KEY, phone TEXT, insured_status TEXT, "
            "updated_at TIMESTAMP)"
        )
    yield db
    db.dispose()


def insert(db, rows):
    with db.begin() as conn:
        conn.execute(sa.text("INSERT INTO insured VALUES (:id_number, :phone, :insured_status, "
                             ":updated_at)"), rows)  # fmt: skip


def golden_count(engine, catalog) -> int:
    golden = for_resource(catalog.resource("population.person")).golden
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(golden)).scalar_one()


def state_of(engine, code):
    with engine.connect() as conn:
        return source_state.get(conn, code)


def test_sql_source_collects_incrementally(engine, catalog_with_sources, hr_db):
    catalog = catalog_with_sources
    insert(hr_db, [person(n) for n in range(300)])
    (first,) = collect("human_resources.insured_db", engine=engine, catalog=catalog)
    assert first.rows_inserted == 300 and first.source == "human_resources.insured_db"
    assert state_of(engine, "human_resources.insured_db")["watermark"].startswith("2026-11-20")

    (again,) = collect("human_resources.insured_db", engine=engine, catalog=catalog)
    assert (again.rows_read, again.rows_loaded, again.status) == (0, 0, "loaded")

    insert(hr_db, [person(n) | {"updated_at": "2026-11-21 10:00:00"} for n in range(300, 310)])
    (new,) = collect("human_resources.insured_db", engine=engine, catalog=catalog)
    assert (new.rows_read, new.rows_inserted) == (10, 10)
    assert golden_count(engine, catalog) == 310


def test_a_database_gone_commits_nothing_and_keeps_the_state(
    engine, catalog_with_sources, hr_db, monkeypatch
):
    catalog = catalog_with_sources
    insert(hr_db, [person(n) for n in range(50)])
    collect("human_resources.insured_db", engine=engine, catalog=catalog)
    before = state_of(engine, "human_resources.insured_db")
    monkeypatch.setenv("GDX_CONN_HR_DB", "postgresql+psycopg2://postgres@127.0.0.1:1/gone")
    with pytest.raises(GdxError, match="127.0.0.1"):
        collect("human_resources.insured_db", engine=engine, catalog=catalog)
    assert state_of(engine, "human_resources.insured_db") == before
    with engine.connect() as conn:
        statuses = (
            conn.execute(sa.select(batch_ledger.c.status).order_by(batch_ledger.c.started_at))
            .scalars()
            .all()
        )
    assert statuses == ["loaded", "failed"]
    assert golden_count(engine, catalog) == 50


def test_an_undefined_connection_is_one_line(engine, catalog_with_sources, monkeypatch, tmp_path):
    monkeypatch.delenv("GDX_CONN_HR_DB", raising=False)
    monkeypatch.setenv("GDX_CONNECTIONS_FILE", str(tmp_path / "none.yaml"))  # not a local one
    with pytest.raises(GdxError, match="connection 'hr_db' is not defined: set GDX_CONN_HR_DB"):
        collect("human_resources.insured_db", engine=engine, catalog=catalog_with_sources)


def test_drop_folder_loads_each_new_file_once(engine, catalog_with_sources, tmp_path):
    catalog = catalog_with_sources
    drop = tmp_path / "drop"
    drop.mkdir()
    header = "公民身份号码,联系电话,参保状态\n"
    rows = [person(n) for n in range(20)]
    (drop / "a.csv").write_text(
        header + "".join(f"{r['id_number']},{r['phone']},参保缴费\n" for r in rows[:10]),
        encoding="utf-8",
    )
    summaries = collect("human_resources.insured_drop", engine=engine, catalog=catalog)
    assert [s.rows_inserted for s in summaries] == [10]
    assert collect("human_resources.insured_drop", engine=engine, catalog=catalog) == []
    (drop / "b.csv").write_text(
        header + "".join(f"{r['id_number']},{r['phone']},暂停缴费\n" for r in rows[5:]),
        encoding="utf-8",
    )
    (later,) = collect("human_resources.insured_drop", engine=engine, catalog=catalog)
    assert (later.rows_inserted, later.rows_updated) == (10, 5)
    assert later.file.endswith("b.csv")
    assert state_of(engine, "human_resources.insured_drop")["last_file"].endswith("b.csv")


def test_a_bad_file_in_the_drop_folder_does_not_hold_back_the_others(
    engine, catalog_with_sources, tmp_path
):
    from gdx.pipeline import CollectError

    catalog = catalog_with_sources
    drop = tmp_path / "drop"
    drop.mkdir()
    header = "公民身份号码,联系电话,参保状态\n"
    (drop / "a.csv").write_text(header, encoding="utf-8")  # header only: a broken extract
    good = "".join(f"{p['id_number']},{p['phone']},参保缴费\n" for p in map(person, range(5)))
    (drop / "b.csv").write_text(header + good, encoding="utf-8")
    import os

    os.utime(drop / "b.csv", (os.path.getmtime(drop / "a.csv") + 1,) * 2)
    with pytest.raises(CollectError, match="header only") as caught:
        collect("human_resources.insured_drop", engine=engine, catalog=catalog)
    assert [s.rows_inserted for s in caught.value.summaries] == [5]
    assert state_of(engine, "human_resources.insured_drop")["last_file"].endswith("b.csv")
    (drop / "a.csv").write_text(header + good.replace("参保缴费", "暂停缴费"), encoding="utf-8")
    (fixed,) = collect("human_resources.insured_drop", engine=engine, catalog=catalog)
    assert fixed.file.endswith("a.csv") and fixed.rows_updated == 5
    assert len(state_of(engine, "human_resources.insured_drop")["seen"]) == 2


def test_concurrent_batches_wait_for_each_other_on_sqlite(tmp_path, catalog):
    import threading

    from gdx.demo.data import write_demo_data
    from gdx.pipeline import load_file
    from warehouse import engine as engines
    from warehouse import tables

    db = engines.create(f"sqlite:///{tmp_path / 'gdx.db'}")
    tables.init_schema(db, catalog)
    manifest = write_demo_data(tmp_path / "in", catalog, people=3000, seed=2)
    jobs = [
        ("public_security.population", "population.person", "public_security"),
        ("market_regulation.enterprises", "legal_entity.organization", "market_regulation"),
        ("market_regulation.licences", "e_licence.licence", "market_regulation"),
        ("courts.dishonest_debtors", "credit.record", "courts"),
    ]
    results: dict[str, str] = {}

    def run(code, resource, department):
        try:
            path = manifest.extracts[code].path
            results[code] = load_file(path, resource, department, engine=db, catalog=catalog).status
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results[code] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.dispose()
    assert results == {code: "loaded" for code, _, _ in jobs}


def test_two_departments_delivering_the_same_new_keys_at_once_both_land(engine, catalog, tmp_path):
    import threading

    from gdx.pipeline import load_file
    from tests.gdx.test_pipeline import HEADER, crowd

    people = crowd(300)
    ids = [line.split(",")[0] for line in people.splitlines()]
    (tmp_path / "ps.csv").write_text(HEADER + people, encoding="utf-8")
    phones = "".join(f"{i},138{n:08d}\n" for n, i in enumerate(ids))
    (tmp_path / "hr.csv").write_text("公民身份号码,联系电话\n" + phones, encoding="utf-8")
    results: dict[str, str] = {}

    def run(file, department):
        try:
            summary = load_file(
                tmp_path / file, "population.person", department, engine=engine, catalog=catalog
            )
            results[department] = summary.status
        except Exception as exc:  # noqa: BLE001 - the test reports it
            results[department] = f"{type(exc).__name__}: {exc}"

    threads = [
        threading.Thread(target=run, args=job)
        for job in [("ps.csv", "public_security"), ("hr.csv", "human_resources")]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {"public_security": "loaded", "human_resources": "loaded"}
    golden = for_resource(catalog.resource("population.person")).golden
    with engine.connect() as conn:
        complete = conn.execute(
            sa.select(sa.func.count()).where(
                golden.c.name.is_not(None), golden.c.phone.is_not(None)
            )
        ).scalar_one()
    assert complete == 300


def test_a_missing_file_names_the_folder_relative_paths_are_read_from(
    engine, catalog, monkeypatch, tmp_path
):
    incoming = tmp_path / "incoming"
    monkeypatch.setenv("GDX_INCOMING_DIR", str(incoming))
    with pytest.raises(GdxError) as caught:
        collect("public_security.population", engine=engine, catalog=catalog)
    assert str(caught.value) == (
        f"{incoming / 'public_security/population.csv'}: file not found (relative source paths "
        f"are read from GDX_INCOMING_DIR, now {incoming}; `gdx demo-data` writes there by default)"
    )


def test_a_missing_absolute_folder_names_the_declaration(engine, catalog_with_sources, tmp_path):
    declared = catalog_with_sources.directory / "sources.yaml"
    with pytest.raises(GdxError) as caught:
        collect("human_resources.insured_drop", engine=engine, catalog=catalog_with_sources)
    assert str(caught.value) == (
        f"{tmp_path / 'drop'}: drop folder not found (the path human_resources.insured_drop "
        f"declares in {declared})"
    )


def test_a_failure_of_a_file_that_is_there_adds_no_hint(engine, catalog, monkeypatch, tmp_path):
    monkeypatch.setenv("GDX_INCOMING_DIR", str(tmp_path))
    (tmp_path / "public_security").mkdir()
    (tmp_path / "public_security/population.csv").write_bytes(b"")
    with pytest.raises(GdxError) as caught:
        collect("public_security.population", engine=engine, catalog=catalog)
    assert str(caught.value).endswith("the file is empty")
