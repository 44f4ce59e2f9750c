"""`gdx backup` and `gdx restore` (灾备) on SQLite and PostgreSQL, proven by restores."""

from __future__ import annotations

import json
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from connectors.csv_file import CsvFile
from gdx import backup_files, connections
from gdx.batch import BatchRequest, run_batch
from gdx.cli.main import app
from gdx.pipeline import load_file
from quality.citizen_id import make_ids
from tests.conftest import POSTGRES_URL
from tests.gdx.cli.test_main import _url, assert_one_line_error, gdx
from warehouse import audit, contents, pg_backup, tables
from warehouse import engine as engines
from warehouse.tables import batch_ledger

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地址\n"


def people(tmp_path: Path, first: int, count: int) -> Path:
    """A population file of `count` valid people, numbered from `first`."""
    numbers = np.arange(first, first + count)
    days, sequences = 1 + numbers // 900, 100 + numbers % 900
    ids = make_ids(np.full(count, 220104), 19800100 + days, sequences)
    lines = [
        f"{id_number},居民{n},{'男' if seq % 2 else '女'},1980-01-{day:02d},汉族,吉林省长春市\n"
        for id_number, n, day, seq in zip(ids, numbers, days, sequences, strict=True)
    ]
    path = tmp_path / f"people-{first}.csv"
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def deployment(engine, catalog, tmp_path, monkeypatch):
    """A deployment with a loaded batch, three audit records and a connections file."""
    home = tmp_path / "home"
    monkeypatch.setenv("GDX_HOME", str(home))
    monkeypatch.setenv("GDX_DATA_DOCS_DIR", str(home / "data_docs"))
    monkeypatch.setenv("GDX_DATABASE_URL", _url(engine))
    load_file(people(tmp_path, 0, 200), "population.person", "public_security", engine=engine)
    calls = [audit.Record("GET", f"/api/v1/calls/{n}", 200, consumer="a") for n in range(3)]
    audit.write(engine, calls)
    connections.save(home / "connections.yaml", {"hr_db": "postgresql://hr@db.internal/hr"})
    return home


@pytest.fixture
def fresh(engine, tmp_path):
    """The URL of a second, empty warehouse on the same backend (after `gdx init`)."""
    if not engines.is_postgres(engine):
        yield f"sqlite:///{tmp_path / 'fresh' / 'gdx.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    admin.dispose()
    assert leftover_schemas() == []


def leftover_schemas() -> list[str]:
    """Staging, held or replaced schemas a PostgreSQL restore left behind (none, ever)."""
    admin = sa.create_engine(POSTGRES_URL)
    try:
        with admin.connect() as conn:
            found = sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE :gdx")
            return list(conn.execute(found, {"gdx": "gdx\\_%"}).scalars())
    finally:
        admin.dispose()


def ledger_rows(engine) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(batch_ledger).order_by(batch_ledger.c.batch_id))
        return [dict(row._mapping) for row in rows]


def head(engine) -> str:
    with engine.connect() as conn:
        return audit.head(conn)[1]


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_backup_during_a_load_restores_that_moment(
    engine, catalog, deployment, fresh, tmp_path, monkeypatch
):
    reached, release, finished = threading.Event(), threading.Event(), []
    newcomers = people(tmp_path, 200, 300)

    def pause(_conn, _batch_id):  # inside the batch's transaction, after its merge
        reached.set()
        assert release.wait(120)

    def load() -> None:
        try:
            opener = lambda: CsvFile(newcomers)  # noqa: E731
            finished.append(
                run_batch(
                    opener,
                    BatchRequest("population.person", "public_security", before_commit=pause),
                    engine=engine,
                    catalog=catalog,
                )
            )
        except BaseException as exc:  # the assertion below shows it
            finished.append(exc)

    loading = threading.Thread(target=load)
    loading.start()
    try:
        assert reached.wait(120), finished
        with engine.connect() as conn:  # what is committed at the backup's moment
            counts_then = contents.count_rows(conn)
        ledger_then = ledger_rows(engine)
        backed_up = gdx("backup", str(tmp_path / "backup"), home=deployment, url=_url(engine))
    finally:
        release.set()
        loading.join(120)
    assert backed_up.returncode == 0, backed_up.stderr
    assert finished and finished[0].status == "loaded", finished
    assert ledger_then[-1]["status"] == "running"  # the batch in flight, not yet committed
    assert counts_then["population_person"] == 200

    folder = tmp_path / "backup"
    manifest = manifest_of(folder)
    assert manifest["tables"] == counts_then
    assert manifest["audit"] == {
        "records": 3,
        "head": head(engine),
        "intact": True,
        "bad_seq": None,
    }
    assert f"audit log intact: 3 records, head {head(engine)[:16]}" in backed_up.stdout
    assert "population_person: 200 rows" in backed_up.stdout
    assert not list(tmp_path.glob(".backup.partial-*"))

    if engines.is_postgres(engine):  # a fresh deployment: `gdx init` ran, nothing loaded
        tables.init_schema(engines.create(fresh), catalog)
    home = tmp_path / "restored"
    restored = gdx("restore", str(folder), home=home, url=fresh)
    assert restored.returncode == 0, restored.stderr
    assert "every count, the audit head and the batch ledger match" in restored.stdout

    target = engines.create(fresh)
    try:
        with target.connect() as conn:
            assert contents.count_rows(conn) == counts_then
            chain = audit.verify(conn)
        assert chain.ok and chain.records == 3 and chain.head == manifest["audit"]["head"]
        assert ledger_rows(target) == ledger_then
    finally:
        target.dispose()
    with engine.connect() as conn:  # the live warehouse went on after the backup
        assert contents.count_rows(conn)["population_person"] == 500
    verified = gdx("audit", "verify", home=home, url=fresh)
    assert verified.stdout.strip() == f"audit log intact: 3 records, head {head(engine)[:16]}"
    restored_connections = home / "connections.yaml"
    assert restored_connections.read_bytes() == (deployment / "connections.yaml").read_bytes()
    assert restored_connections.stat().st_mode & 0o777 == 0o600


def test_backup_into_a_folder_that_is_not_empty_is_one_line(engine, deployment, tmp_path):
    folder = tmp_path / "backup"
    first = gdx("backup", str(folder), "--no-data-docs", home=deployment, url=_url(engine))
    assert first.returncode == 0, first.stderr
    assert not any(name.startswith("files/data_docs/") for name in manifest_of(folder)["files"])
    before = sorted(path.name for path in tmp_path.iterdir())
    again = gdx("backup", str(folder), home=deployment, url=_url(engine))
    assert_one_line_error(again, str(folder), "not empty")
    assert sorted(path.name for path in tmp_path.iterdir()) == before  # no half backup


@pytest.fixture
def backed_up(engine, deployment, tmp_path) -> Path:
    folder = tmp_path / "backup"
    result = gdx("backup", str(folder), home=deployment, url=_url(engine))
    assert result.returncode == 0, result.stderr
    return folder


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_restore_of_a_tampered_backup_names_the_file(engine, backed_up, fresh, tmp_path):
    home = tmp_path / "restored"
    database = backed_up / manifest_of(backed_up)["database"]["file"]
    _flip_a_byte(database)
    result = gdx("restore", str(backed_up), home=home, url=fresh)
    assert_one_line_error(result, str(database), "checksum mismatch")

    _flip_a_byte(database)  # back as it was; now a file of the deployment is changed
    secret = backed_up / "files" / "connections.yaml"
    secret.write_text(secret.read_text() + "x: y\n")
    result = gdx("restore", str(backed_up), home=home, url=fresh)
    assert_one_line_error(result, str(secret), "checksum mismatch")

    secret.unlink()
    result = gdx("restore", str(backed_up), home=home, url=fresh)
    assert_one_line_error(result, str(secret), "missing")

    (backed_up / "manifest.json").write_text("{not json")
    result = gdx("restore", str(backed_up), home=home, url=fresh)
    assert_one_line_error(result, str(backed_up / "manifest.json"), "not valid JSON")
    assert not home.exists()  # nothing was restored
    if not engines.is_postgres(engine):
        assert not Path(sa.make_url(fresh).database).exists()


def test_restore_that_does_not_match_its_manifest_restores_nothing(backed_up, fresh, tmp_path):
    manifest = manifest_of(backed_up)
    manifest["tables"]["population_person"] += 1  # the manifest is not covered by a checksum
    (backed_up / "manifest.json").write_text(json.dumps(manifest))
    result = gdx("restore", str(backed_up), home=tmp_path / "restored", url=fresh)
    assert_one_line_error(
        result, "population_person has 200 rows, the manifest says 201", "nothing was restored"
    )
    target = engines.create(fresh)
    try:
        with target.connect() as conn:
            assert contents.first_with_rows(conn) is None
    finally:
        target.dispose()
    assert not (tmp_path / "restored").exists()


def test_restore_does_not_replace_a_different_file_without_force(backed_up, fresh, tmp_path):
    home = tmp_path / "restored"
    home.mkdir()
    (home / "connections.yaml").write_text("other: sqlite:///other.db\n")
    refused = gdx("restore", str(backed_up), home=home, url=fresh)
    assert_one_line_error(refused, str(home / "connections.yaml"), "differs", "--force")
    assert (home / "connections.yaml").read_text() == "other: sqlite:///other.db\n"
    forced = gdx("restore", str(backed_up), "--force", home=home, url=fresh)
    assert forced.returncode == 0, forced.stderr
    assert "hr_db" in (home / "connections.yaml").read_text()


def test_the_manifest_describes_exactly_what_the_backup_holds(
    engine, deployment, fresh, tmp_path, monkeypatch
):
    """A call audited after the rows were counted, before the copy began, is in neither."""
    described = contents.describe

    def then_a_call(conn):
        found = described(conn)
        audit.write(engine, [audit.Record("GET", "/api/v1/meanwhile", 200)])
        return found

    from gdx import backup

    monkeypatch.setenv("GDX_TIMEZONE", "America/Sao_Paulo")
    with monkeypatch.context() as patch:
        patch.setattr(contents, "describe", then_a_call)
        manifest = backup.backup(tmp_path / "backup")
    assert manifest["audit"]["records"] == 3
    assert manifest["created_at"].endswith("-03:00")  # local time with its offset
    with engine.connect() as conn:
        assert audit.verify(conn).records == 4
    restored = gdx("restore", str(tmp_path / "backup"), home=tmp_path / "restored", url=fresh)
    assert restored.returncode == 0, restored.stderr
    assert "audit log intact: 3 records" in restored.stdout
    assert f"(made {manifest['created_at']} by gdx" in restored.stdout


def test_restore_over_a_warehouse_with_data_needs_force(engine, deployment, backed_up):
    recorded = manifest_of(backed_up)
    audit.write(engine, [audit.Record("GET", "/api/v1/after-the-backup", 200)])
    (deployment / "connections.yaml").write_text("hr_db: postgresql://changed/hr\n")
    refused = gdx("restore", str(backed_up), home=deployment, url=_url(engine))
    assert_one_line_error(refused, "holds data", "--force")
    with engine.connect() as conn:
        assert audit.verify(conn).records == 4  # untouched
    restored = gdx("restore", str(backed_up), "--force", home=deployment, url=_url(engine))
    assert restored.returncode == 0, restored.stderr
    engine.dispose()  # PostgreSQL: the schema was replaced under the pool's connections
    with engine.connect() as conn:
        assert contents.count_rows(conn) == recorded["tables"]
        assert audit.verify(conn).head == recorded["audit"]["head"]
    assert "postgresql://hr@db.internal/hr" in (deployment / "connections.yaml").read_text()
    if engines.is_postgres(engine):
        assert leftover_schemas() == []


def test_restore_into_the_other_kind_of_database_is_one_line(engine, backed_up, tmp_path):
    other = POSTGRES_URL if not engines.is_postgres(engine) else f"sqlite:///{tmp_path / 'x.db'}"
    result = gdx("restore", str(backed_up), home=tmp_path / "restored", url=other)
    assert_one_line_error(result, "manifest.json", "warehouse and GDX_DATABASE_URL names a")


def test_a_missing_pg_dump_is_one_line_and_leaves_nothing(
    engine, deployment, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    monkeypatch.setattr(pg_backup, "PG_BIN_GLOB", str(tmp_path / "no-tools"))
    result = CliRunner().invoke(app, ["backup", str(tmp_path / "backup")])
    if engines.is_postgres(engine):
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines() == [
            f"error: pg_dump not found on PATH or in {tmp_path / 'no-tools'}: install the "
            "PostgreSQL client tools of the server's version (e.g. the postgresql-client package)"
        ]
        assert not (tmp_path / "backup").exists()
        assert not list(tmp_path.glob(".backup.partial-*"))
    else:  # the embedded default needs no tool
        assert result.exit_code == 0, result.output


def test_a_dump_that_breaks_off_restores_nothing(engine, backed_up, fresh):
    """pg_restore fails in the middle of the rows: psql is stopped before the end of its input,
    so the tables it created meanwhile roll back with its transaction."""
    if not engines.is_postgres(engine):
        pytest.skip("pg_restore and psql serve PostgreSQL only")
    manifest = manifest_of(backed_up)
    dump = backed_up / "warehouse.pgdump"
    broken = backed_up.parent / "broken.pgdump"
    broken.write_bytes(dump.read_bytes()[:-500])  # the end of its rows is lost
    target = engines.create(fresh)
    try:
        with pytest.raises(contents.BackupError, match="^pg_restore failed: "):
            pg_backup.restore(target, broken, manifest["database"]["schema"], manifest)
        with target.connect() as conn:
            assert contents.table_names(conn) == []
    finally:
        target.dispose()
    with engine.connect() as conn:  # the live schema of the dump's name is as it was
        assert contents.count_rows(conn) == manifest["tables"]


def test_a_failed_backup_leaves_no_half_backup(engine, deployment, tmp_path, monkeypatch):
    def full_disk(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup_files, "copy_out", full_disk)
    from gdx import backup

    with pytest.raises(OSError, match="No space left"):
        backup.backup(tmp_path / "backup")
    assert not (tmp_path / "backup").exists()
    assert not list(tmp_path.glob(".backup.partial-*"))


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_help(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
