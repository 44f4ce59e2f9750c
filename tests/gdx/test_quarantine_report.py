"""The quarantine workflow: list the rejected rows, export them for the department to fix."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from catalog_schema import RULE_NAMES, RULE_NAMES_ZH
from gdx.quarantine_report import explain
from tests.gdx.test_pipeline import HEADER, ZHANG, crowd

GDX = str(Path(sys.executable).parent / "gdx")


def test_every_rule_has_a_chinese_reason():
    assert set(RULE_NAMES_ZH) == set(RULE_NAMES)


def test_reasons_name_the_field_in_both_languages(catalog):
    person = catalog.resource("population.person")
    zh, en = explain(person, "id_number.citizen_id")
    assert zh.startswith("公民身份号码：") and "校验码" in zh
    assert en.startswith("id_number should be a valid citizen ID")
    assert explain(person, "malformed_row")[1].startswith("wrong number of fields")


def gdx(*args, home):
    env = dict(os.environ, GDX_HOME=str(home))
    env.pop("GDX_DATABASE_URL", None)
    return subprocess.run([GDX, *args], env=env, capture_output=True, text=True, timeout=120)


def test_list_and_export_the_rows_a_department_must_fix(tmp_path):
    gdx("init", "--warehouse-only", home=tmp_path)
    bad = "110105194912310021,李四,女,1949-12-31,火星族,北京市\n"
    path = tmp_path / "p.csv"
    path.write_text(
        HEADER.replace("户籍地址", "户籍所在地") + ZHANG + bad + crowd(), encoding="utf-8"
    )
    load = ["load", str(path), "--resource", "population.person", "--department", "public_security"]
    assert gdx(*load, home=tmp_path).returncode == 0

    listed = gdx("quarantine", "list", "--json", home=tmp_path)
    (row,) = json.loads(listed.stdout)
    assert row["rules"] == ["id_number.citizen_id", "ethnicity.ethnic_group"] and row["line"] == 3
    shown = gdx("quarantine", "list", home=tmp_path).stdout
    assert "公民身份号码：" in shown and "waiting" in shown

    target = tmp_path / "fix" / "rejected.csv"
    export = [
        "quarantine",
        "export",
        str(target),
        "--resource",
        "population.person",
        "--department",
        "public_security",
    ]
    result = gdx(*export, home=tmp_path)
    assert result.returncode == 0 and "wrote 1 rows" in result.stdout
    with target.open(encoding="utf-8-sig") as handle:
        (exported,) = list(csv.DictReader(handle))
    assert exported["户籍所在地"] == "北京市"  # the department's own column name
    assert exported["民族"] == "火星族"
    assert "公民身份号码：不是有效的公民身份号码" in exported["问题说明"]
    assert "ethnicity should be one of the 56 ethnic groups" in exported["problems"]

    nothing = gdx(
        "quarantine",
        "export",
        str(target),
        "--resource",
        "population.person",
        "--department",
        "civil_affairs",
        "--force",
        home=tmp_path,
    )
    assert nothing.returncode == 1 and "no loaded batch" in nothing.stderr


def test_quality_report_pass_rates(engine, catalog, tmp_path):
    from gdx.pipeline import load_file
    from warehouse.quality_report import pass_rates

    bad = "110105194912310021,李四,女,1949-12-31,火星族,北京市\n"
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG + bad + crowd(8), encoding="utf-8")
    load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    with engine.connect() as conn:
        report = {row["rule"]: row for row in pass_rates(conn, "population.person")}
    assert report["(all rules)"]["rows_checked"] == 10
    assert report["(all rules)"]["rejected"] == 1 and report["(all rules)"]["pass_rate"] == 0.9
    assert report["ethnicity.ethnic_group"]["rejected"] == 1
    assert report["id_number.citizen_id"]["pass_rate"] == 0.9


def test_a_failed_export_keeps_the_earlier_file(catalog, tmp_path):
    import pytest

    from gdx.quarantine_report import export

    person = catalog.resource("population.person")
    rows = [{"line": 2, "raw": {"姓名": "张三"}, "rules": ["name.required"]}]
    target = tmp_path / "out.csv"
    assert export(person, rows, target, "utf-8") == 1
    before = target.read_bytes()
    with pytest.raises(LookupError):
        export(person, rows, target, "bogus", force=True)
    with pytest.raises(UnicodeEncodeError):
        export(person, rows, target, "ascii", force=True)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no half file left behind


def test_export_fix_and_reload_end_to_end(tmp_path):
    from stdnum.cn import ric

    gdx("init", "--warehouse-only", home=tmp_path)
    body = "22010219850101124"
    wrong = "0" if ric.calc_check_digit(body + "0") != "0" else "1"
    bad = f"{body}{wrong},李四,女,1985-01-01,火星族,吉林省\n"
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG + bad + crowd(), encoding="utf-8")
    load = ["load", str(path), "--resource", "population.person", "--department", "public_security"]
    assert gdx(*load, home=tmp_path).returncode == 0

    exported = tmp_path / "rejected.csv"
    export = [
        "quarantine",
        "export",
        str(exported),
        "--resource",
        "population.person",
        "--department",
        "public_security",
    ]
    assert gdx(*export, home=tmp_path).returncode == 0
    with exported.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:  # the department fixes what the reasons name
        body = row["公民身份号码"][:17]
        row["公民身份号码"] = body + ric.calc_check_digit(body + "0")
        row["民族"] = "汉族"
    fixed = tmp_path / "fixed.csv"
    with fixed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    reload = [
        "load",
        str(fixed),
        "--resource",
        "population.person",
        "--department",
        "public_security",
        "--json",
    ]
    result = gdx(*reload, home=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows_inserted"], summary["rows_quarantined"]) == (1, 0)
    assert {"行号 line", "问题说明", "problems"} <= set(summary["unknown_columns"])


EXPORT = ["--resource", "population.person", "--department", "public_security"]


def loaded_home(tmp_path):
    """A warehouse with one quarantined row of public security's."""
    gdx("init", "--warehouse-only", home=tmp_path)
    path = tmp_path / "p.csv"
    bad = "110105194912310021,李四,女,1949-12-31,火星族,北京市\n"
    path.write_text(HEADER + ZHANG + bad + crowd(), encoding="utf-8")
    load = ["load", str(path), *EXPORT]
    assert gdx(*load, home=tmp_path).returncode == 0
    return tmp_path


def assert_refused(result, message):
    assert result.returncode == 1, result.stdout
    assert result.stderr == f"error: {message}\n"


def test_export_never_replaces_a_device(tmp_path):
    import stat

    home = loaded_home(tmp_path)
    for flags in ([], ["--force"]):
        result = gdx("quarantine", "export", "/dev/null", *EXPORT, *flags, home=home)
        assert_refused(
            result, "/dev/null: is a character device; only a new file or a regular file is written"
        )
        assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_export_refuses_a_directory_and_a_link(tmp_path):
    home = loaded_home(tmp_path)
    folder = tmp_path / "reports"
    folder.mkdir()
    result = gdx("quarantine", "export", str(folder), *EXPORT, "--force", home=home)
    assert_refused(
        result, f"{folder}: is a directory; only a new file or a regular file is written"
    )
    kept = tmp_path / "kept.csv"
    kept.write_text("mine", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(kept)
    result = gdx("quarantine", "export", str(link), *EXPORT, "--force", home=home)
    assert_refused(
        result, f"{link}: is a symbolic link; nothing is written through a link (name a new file)"
    )
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "elsewhere.csv")
    assert gdx("quarantine", "export", str(dangling), *EXPORT, home=home).returncode == 1
    assert kept.read_text(encoding="utf-8") == "mine" and link.is_symlink()
    assert not (tmp_path / "elsewhere.csv").exists()


def test_export_replaces_a_file_only_with_force(tmp_path):
    home = loaded_home(tmp_path)
    target = tmp_path / "rejected.csv"
    target.write_text("an earlier export", encoding="utf-8")
    target.chmod(0o640)
    result = gdx("quarantine", "export", str(target), *EXPORT, home=home)
    assert_refused(result, f"{target}: already exists; --force replaces it")
    assert target.read_text(encoding="utf-8") == "an earlier export"
    result = gdx("quarantine", "export", str(target), *EXPORT, "--force", home=home)
    assert result.returncode == 0 and "wrote 1 rows" in result.stdout
    assert "问题说明" in target.read_text(encoding="utf-8-sig")
    assert target.stat().st_mode & 0o777 == 0o640  # the file keeps its mode
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_export_never_replaces_a_read_only_file(tmp_path):
    home = loaded_home(tmp_path)
    target = tmp_path / "rejected.csv"
    target.write_text("protected", encoding="utf-8")
    target.chmod(0o444)
    for flags in ([], ["--force"]):
        result = gdx("quarantine", "export", str(target), *EXPORT, *flags, home=home)
        assert result.returncode == 1
    assert_refused(result, f"{target}: is read-only; not replaced, even with --force")
    assert target.read_text(encoding="utf-8") == "protected"


def test_export_refuses_a_file_this_user_may_not_write(tmp_path, monkeypatch):
    """Tests run as root, who may write anything: the refusal is checked with os.access."""
    import pytest

    from gdx import output_file

    target = tmp_path / "theirs.csv"
    target.write_text("theirs", encoding="utf-8")
    monkeypatch.setattr(output_file.os, "access", lambda path, mode: False)
    with pytest.raises(output_file.OutputRefused, match="is read-only; not replaced"):
        output_file.check(target, force=True)


def test_export_to_a_new_path_creates_it_whole(tmp_path):
    import pytest

    from gdx import output_file

    target = tmp_path / "new" / "out.csv"
    with output_file.replacing(target, False, "utf-8") as handle:
        handle.write("a,b\n")
        assert not target.exists()  # only once the block ends
    assert target.read_text(encoding="utf-8") == "a,b\n"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    raced = tmp_path / "raced.csv"
    with pytest.raises(output_file.OutputRefused, match="appeared while it was written"):
        with output_file.replacing(raced, False, "utf-8") as handle:
            handle.write("mine")
            raced.write_text("someone else's", encoding="utf-8")
    assert raced.read_text(encoding="utf-8") == "someone else's"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "raced.csv"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
