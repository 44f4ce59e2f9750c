"""The `gdx` command: help texts, JSON summaries, and one-line errors with a non-zero exit."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from catalog_schema.catalog import DEFAULT_DIR
from gdx.cli.main import app
from warehouse.tables import api_consumer

GDX = str(Path(sys.executable).parent / "gdx")
HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地址\n"
ZHANG = "11010519491231002X,张三,女,1949-12-31,汉族,北京市朝阳区建国路1号\n"
COMMANDS = [
    ["init"],
    ["load"],
    ["collect"],
    ["serve"],
    ["consumers", "add"],
    ["demo-data"],
    ["demo"],
    ["records", "show"],
    ["records", "history"],
    ["status"],
    ["refresh"],
    ["publish"],
    ["airflow"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def gdx(*args: str, home: Path, url: str | None = None, **env: str):
    environment = dict(os.environ, GDX_HOME=str(home), **env)
    environment.pop("GDX_DATABASE_URL", None)
    if url:
        environment["GDX_DATABASE_URL"] = url
    return subprocess.run(
        [GDX, *args], env=environment, capture_output=True, text=True, timeout=120
    )


def assert_one_line_error(result, *parts: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:") and "Traceback" not in result.stderr
    for part in parts:
        assert part in lines[0]


def _url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_init_is_idempotent_on_both_backends(engine, tmp_path):
    result = gdx("init", "--warehouse-only", home=tmp_path, url=_url(engine))
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_init_creates_the_embedded_default(tmp_path):
    first = gdx("init", "--warehouse-only", home=tmp_path)
    assert first.returncode == 0 and "created table population_person" in first.stdout
    assert (tmp_path / "gdx.db").is_file()
    assert "up to date" in gdx("init", "--warehouse-only", home=tmp_path).stdout


def test_init_with_a_malformed_declaration_is_one_line(tmp_path):
    catalog = tmp_path / "catalog"
    shutil.copytree(DEFAULT_DIR, catalog, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = catalog / "resources" / "population.person.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("update_cycle: daily", "update_cycle: sometimes"),
        encoding="utf-8",
    )
    result = gdx("init", home=tmp_path, GDX_CATALOG_DIR=str(catalog))
    assert_one_line_error(result, str(path), "update_cycle", "Input should be")


def test_load_prints_the_json_summary(engine, tmp_path):
    path = tmp_path / "p.csv"
    from tests.gdx.test_pipeline import crowd

    path.write_text(
        HEADER + ZHANG + "110105194912310021,李四,女,1949-12-31,汉族,北京市\n" + crowd(8),
        encoding="utf-8",
    )
    args = [
        "load",
        str(path),
        "--resource",
        "population.person",
        "--department",
        "public_security",
        "--json",
    ]
    result = gdx(*args, home=tmp_path, url=_url(engine))
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    summary = json.loads(line)
    assert summary["rows_read"] == 10 and summary["rows_loaded"] == 9
    assert summary["rows_quarantined"] == 1
    assert summary["rejected_by_rule"] == {"id_number.citizen_id": 1}
    assert summary["status"] == "loaded"
    again = json.loads(gdx(*args, home=tmp_path, url=_url(engine)).stdout)
    assert again["status"] == "skipped" and again["same_as"] == summary["batch_id"]
    forced = json.loads(gdx(*args, "--force", home=tmp_path, url=_url(engine)).stdout)
    assert forced["rows_unchanged"] == 9 and forced["rows_loaded"] == 0


def test_load_without_json_prints_a_readable_line(tmp_path):
    gdx("init", "--warehouse-only", home=tmp_path)
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG, encoding="utf-8")
    args = ["load", str(path), "--resource", "population.person", "--department", "public_security"]
    result = gdx(*args, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "loaded 1 (new 1, changed 0)" in result.stdout


@pytest.mark.parametrize(
    ("content", "args", "parts"),
    [
        (b"", [], ["the file is empty"]),
        (HEADER.encode(), [], ["header only"]),
        ("姓名\n张三\n".encode(), [], ["id_number", "公民身份号码"]),
        (HEADER.encode(), ["--resource", "nothing.here"], ["unknown resource 'nothing.here'"]),
        (HEADER.encode(), ["--department", "nobody"], ["unknown department 'nobody'"]),
        (HEADER.encode(), ["--encoding", "latin-9"], ["unsupported encoding"]),
    ],
    ids=["empty", "header-only", "no-key-column", "resource", "department", "encoding"],
)
def test_load_bad_input_is_one_line(tmp_path, content, args, parts):
    gdx("init", "--warehouse-only", home=tmp_path)
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    base = {"--resource": "population.person", "--department": "public_security"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flags = [item for pair in base.items() for item in pair]
    result = gdx("load", str(path), *flags, home=tmp_path)
    assert_one_line_error(result, *parts)


def test_load_before_init_says_so(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG, encoding="utf-8")
    args = ["load", str(path), "--resource", "population.person", "--department", "public_security"]
    assert_one_line_error(gdx(*args, home=tmp_path), "gdx init")


def test_collect_a_missing_file_is_one_line(tmp_path):
    gdx("init", "--warehouse-only", home=tmp_path)
    result = gdx("collect", "public_security.population", home=tmp_path)
    assert result.returncode == 1
    assert "file not found" in result.stderr and "Traceback" not in result.stderr
    assert f"read from GDX_INCOMING_DIR, now {tmp_path / 'incoming'}" in result.stderr
    assert_one_line_error(gdx("collect", "no.such", home=tmp_path), "unknown source 'no.such'")


def test_demo_data_then_collect(tmp_path):
    result = gdx("demo-data", "--people", "300", home=tmp_path)  # into GDX_INCOMING_DIR
    assert result.returncode == 0, result.stderr
    assert "public_security.population: 3" in result.stdout
    assert f"in {tmp_path / 'incoming' / 'public_security'}" in result.stdout
    assert "connections hr_db, transport_api saved" in result.stdout
    assert "note:" not in result.stdout
    gdx("init", "--warehouse-only", home=tmp_path)
    collected = gdx("collect", "public_security.population", "--json", home=tmp_path)
    assert collected.returncode == 0, collected.stderr
    summary = json.loads(collected.stdout)
    assert summary["source"] == "public_security.population"
    assert summary["rows_loaded"] > 250
    assert_one_line_error(
        gdx("demo-data", "--out", str(tmp_path), "--people", "0", home=tmp_path), "--people"
    )
    listing = gdx("sources", "list", home=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "public_security.population" in listing.stdout and "never run" in listing.stdout
    report = json.loads(gdx("sources", "list", "--json", home=tmp_path).stdout)
    (household,) = [row for row in report if row["source"] == "public_security.population"]
    assert household["last_status"] == "loaded" and household["state"]["checksum"]
    status = json.loads(gdx("status", "--json", home=tmp_path).stdout)
    late = {row["source"]: row["late"] for row in status["sources"]}
    assert late["public_security.population"] is False and late["courts.dishonest_debtors"] is True
    assert "late" in gdx("status", home=tmp_path).stdout
    elsewhere = gdx("demo-data", "--people", "30", "--out", str(tmp_path / "x"), home=tmp_path)
    assert (
        f"note: the registered sources are read from GDX_INCOMING_DIR ({tmp_path / 'incoming'}); "
        f"for `gdx collect` to read these files, set GDX_INCOMING_DIR={tmp_path / 'x'}"
    ) in elsewhere.stdout


def test_demo_data_serving_then_collect_collects_every_source(tmp_path):
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GDX_HOME=str(tmp_path))
    env.pop("GDX_DATABASE_URL", None)
    gdx("init", "--warehouse-only", home=tmp_path)
    args = ["demo-data", "--people", "300", "--serve", "--api-port", str(port)]
    process = subprocess.Popen([GDX, *args], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:  # until the licence API answers (a wrong token: 401)
            try:
                httpx.get(f"http://127.0.0.1:{port}/licences", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        collected = gdx("collect", home=tmp_path)
        assert collected.returncode == 0 and collected.stderr == "", collected.stderr
        assert "e_licence.licence from transport: loaded" in collected.stdout
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_consumers_add_prints_the_key_once_and_stores_its_hash(tmp_path):
    gdx("init", "--warehouse-only", home=tmp_path)
    result = gdx("consumers", "add", "approval", "--department", "market_regulation", home=tmp_path)
    assert result.returncode == 0, result.stderr
    key = result.stdout.split("API key (shown once, keep it safe): ")[1].strip()
    assert key.startswith("gdx_")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'gdx.db'}")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(api_consumer)).one()._mapping
    engine.dispose()
    assert key not in str(dict(stored)) and stored["department"] == "market_regulation"
    assert_one_line_error(
        gdx("consumers", "add", "x", "--department", "nobody", home=tmp_path), "unknown department"
    )


def test_serve_answers_healthz(tmp_path):
    import socket
    import time

    import httpx

    gdx("init", "--warehouse-only", home=tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, GDX_HOME=str(tmp_path))
    env.pop("GDX_DATABASE_URL", None)
    process = subprocess.Popen([GDX, "serve", "--port", str(port)], env=env)
    try:
        for _ in range(150):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("gdx serve did not answer")
        assert response.json() == {"status": "ok", "database": "ok"}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_records_show_and_history(tmp_path):
    assert gdx("init", "--warehouse-only", home=tmp_path).returncode == 0
    (tmp_path / "p.csv").write_text(HEADER + ZHANG, encoding="utf-8")
    (tmp_path / "hr.csv").write_text(
        "公民身份号码,联系电话\n11010519491231002X,13812345678\n", encoding="utf-8"
    )
    (tmp_path / "ca.csv").write_text(
        "公民身份号码,联系电话\n11010519491231002X,13912345678\n", encoding="utf-8"
    )
    for file, department in [("p.csv", "public_security"), ("hr.csv", "human_resources")]:
        load = ["load", str(tmp_path / file), "--resource", "population.person"]
        assert gdx(*load, "--department", department, home=tmp_path).returncode == 0
    before = dt.datetime.now(dt.UTC).isoformat()
    load = ["load", str(tmp_path / "ca.csv"), "--resource", "population.person"]
    assert gdx(*load, "--department", "civil_affairs", home=tmp_path).returncode == 0

    shown = gdx(
        "records", "show", "population.person", "11010519491231002x", "--json", home=tmp_path
    )
    report = json.loads(shown.stdout)
    assert report["fields"]["phone"] == "13812345678"  # unmasked, for administrators
    assert report["provenance"]["phone"]["department"] == "human_resources"
    assert report["provenance"]["name"]["department"] == "public_security"
    assert [c["other_department"] for c in report["conflicts"]] == ["civil_affairs"]
    table = gdx("records", "show", "population.person", "11010519491231002X", home=tmp_path)
    assert "human_resources" in table.stdout and "conflict on phone" in table.stdout
    then = gdx(
        "records",
        "show",
        "population.person",
        "11010519491231002X",
        "--as-of",
        before,
        "--json",
        home=tmp_path,
    )
    assert json.loads(then.stdout)["fields"]["phone"] == "13812345678"

    versions = gdx(
        "records", "history", "population.person", "11010519491231002X", "--json", home=tmp_path
    )
    assert [v["_op"] for v in json.loads(versions.stdout)] == ["insert", "update"]

    bad = gdx("records", "show", "population.person", "123", home=tmp_path)
    assert_one_line_error(bad, "id_number: not a valid 公民身份号码")
    early = gdx(
        "records",
        "show",
        "population.person",
        "11010519491231002X",
        "--as-of",
        "2001-01-01",
        home=tmp_path,
    )
    assert_one_line_error(early, "no population.person record", "at 2001-01-01")
    assert_one_line_error(
        gdx(
            "records",
            "show",
            "population.person",
            "11010519491231002X",
            "--as-of",
            "x",
            home=tmp_path,
        ),
        "--as-of: 'x' is not an ISO 8601 time",
    )


def test_refresh_reports_per_resource_and_rejects_a_bad_date(tmp_path):
    assert gdx("init", "--warehouse-only", home=tmp_path).returncode == 0
    result = gdx("refresh", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    report = {row["resource"]: row for row in json.loads(result.stdout)}
    assert set(report) == {"e_licence.licence", "credit.record"}
    assert report["e_licence.licence"]["expired"] == 0
    assert_one_line_error(gdx("refresh", "--today", "soon", home=tmp_path), "--today: 'soon'")


def test_serve_with_a_broken_imported_resource_is_one_line(tmp_path):
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / "health.broken.yaml").write_text("code: health.broken\nfields: [\n", "utf-8")
    result = gdx("serve", "--port", "1", home=tmp_path, GDX_IMPORTS_DIR=str(imports))
    assert_one_line_error(result, "health.broken.yaml", "invalid YAML")


def test_serve_with_a_bad_pool_size_is_one_line(tmp_path):
    result = gdx("serve", "--port", "1", home=tmp_path, GDX_API_POOL="many")
    assert_one_line_error(result, "GDX_API_POOL", "positive whole number")


def test_serve_with_a_bad_body_timeout_is_one_line(tmp_path):
    result = gdx("serve", "--port", "1", home=tmp_path, GDX_BODY_TIMEOUT_SECONDS="soon")
    assert_one_line_error(result, "GDX_BODY_TIMEOUT_SECONDS", "positive whole number")
