"""Write authority (一数一源) on every write path: a department writes a resource only where the
directory makes it a source, only its declared fields, and a refusal stores nothing but a
`refused` ledger row."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from gdx.errors import GdxError
from gdx.pipeline import load_file
from gdx.retry import retry
from quality.citizen_id import make_ids
from tests.conftest import edited_catalog
from tests.gdx.cli.test_main import HEADER, ZHANG, _url, assert_one_line_error, gdx
from tests.gdx.test_pipeline import crowd
from warehouse.tables import batch_ledger, for_resource

PERSON = "population.person"
ZHANG_ID = ZHANG.split(",")[0]
WRITERS = (
    "public_security (public_security.population), civil_affairs (civil_affairs.marriage), "
    "human_resources (human_resources.insured)"
)


def stored(engine, catalog) -> tuple[int, int, list[tuple[str, str]]]:
    """Golden records, contributions, and the ledger's (department, status) rows."""
    tables = for_resource(catalog.resource(PERSON))
    with engine.connect() as conn:
        golden = conn.execute(sa.select(sa.func.count()).select_from(tables.golden)).scalar()
        given = conn.execute(sa.select(sa.func.count()).select_from(tables.contribution)).scalar()
        ledger = conn.execute(
            sa.select(batch_ledger.c.department, batch_ledger.c.status).order_by(
                batch_ledger.c.started_at
            )
        ).all()
    return golden, given, [tuple(row) for row in ledger]


def state(engine, catalog, key=ZHANG_ID) -> str:
    golden = for_resource(catalog.resource(PERSON)).golden
    with engine.connect() as conn:
        return conn.execute(sa.select(golden.c._state).where(golden.c.id_number == key)).scalar()


def test_a_department_that_is_no_source_is_refused_before_a_row_is_read(engine, catalog, tmp_path):
    path = tmp_path / "population.csv"
    path.write_text(HEADER + ZHANG + crowd(20), encoding="utf-8")
    args = ["load", str(path), "--resource", PERSON, "--department", "transport"]
    result = gdx(*args, home=tmp_path, url=_url(engine))
    assert_one_line_error(result, f"transport may not write {PERSON}", WRITERS)
    assert stored(engine, catalog) == (0, 0, [("transport", "refused")])


def test_a_death_date_from_a_department_not_declared_for_it_ends_nothing(engine, catalog, tmp_path):
    (tmp_path / "ps.csv").write_text(HEADER + ZHANG, encoding="utf-8")
    load_file(tmp_path / "ps.csv", PERSON, "public_security", engine=engine, catalog=catalog)
    deaths = tmp_path / "deaths.csv"
    deaths.write_text(f"id_number,death_date\n{ZHANG_ID},2026-01-02\n", encoding="utf-8")
    ecology = gdx(
        "load", str(deaths), "--resource", PERSON, "--department", "ecology",
        home=tmp_path, url=_url(engine),
    )  # fmt: skip
    assert_one_line_error(ecology, f"ecology may not write {PERSON}", WRITERS)
    # a writer of the resource, but not of the field: nothing of the file is its to write
    with pytest.raises(GdxError) as refused:
        load_file(deaths, PERSON, "public_security", engine=engine, catalog=catalog)
    assert str(refused.value) == (
        f"{deaths}: public_security may write none of its columns into {PERSON} but the key: "
        "death_date (death_date) is written by civil_affairs (civil_affairs.marriage)"
    )
    assert state(engine, catalog) == "active"
    assert stored(engine, catalog)[2] == [
        ("public_security", "loaded"),
        ("ecology", "refused"),
        ("public_security", "refused"),
    ]
    # the department declared for it ends the record
    ended = load_file(deaths, PERSON, "civil_affairs", engine=engine, catalog=catalog)
    assert ended.status == "loaded" and state(engine, catalog) == "ended"


def test_columns_of_fields_the_department_does_not_declare_are_not_read(engine, catalog, tmp_path):
    path = tmp_path / "ps.csv"
    path.write_text(
        HEADER.strip() + ",联系电话,备注\n" + ZHANG.strip() + ",13812345678,x\n", encoding="utf-8"
    )
    summary = load_file(path, PERSON, "public_security", engine=engine, catalog=catalog)
    assert summary.status == "loaded" and summary.rows_loaded == 1
    assert summary.withheld_columns == {"联系电话": "phone"}
    assert summary.unknown_columns == ["备注"]
    golden = for_resource(catalog.resource(PERSON)).golden
    with engine.connect() as conn:
        assert conn.execute(sa.select(golden.c.phone)).scalar() is None
    printed = gdx(
        "load", str(path), "--resource", PERSON, "--department", "public_security", "--force",
        home=tmp_path, url=_url(engine),
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert (
        "columns of fields public_security is no source of (not loaded): 联系电话 (phone)"
        in printed.stdout
    )


def test_load_under_a_registered_source(engine, catalog, tmp_path):
    path = tmp_path / "marriage.csv"
    path.write_text(f"公民身份号码,婚姻状况,姓名\n{ZHANG_ID},已婚,张三\n", encoding="utf-8")
    url = _url(engine)
    result = gdx("load", str(path), "--source", "civil_affairs.marriage", "--json", home=tmp_path,
                 url=url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '"department": "civil_affairs"' in result.stdout
    assert '"source": "civil_affairs.marriage"' in result.stdout
    assert '"withheld_columns": {"姓名": "name"}' in result.stdout
    other = gdx("load", str(path), "--source", "civil_affairs.marriage", "--department",
                "public_security", home=tmp_path, url=url)  # fmt: skip
    assert_one_line_error(other, "--source civil_affairs.marriage delivers population.person")
    assert_one_line_error(gdx("load", str(path), home=tmp_path, url=url), "give --source CODE")
    unknown = gdx("load", str(path), "--source", "ecology.people", home=tmp_path, url=url)
    assert_one_line_error(unknown, "unknown source 'ecology.people'")


def test_a_retry_obeys_the_directory_of_today(engine, catalog, tmp_path):
    path = tmp_path / "marriage.csv"
    ids = make_ids(np.full(9, 220104), np.full(9, 19800101), np.arange(9))
    good = "".join(f"{key},已婚\n" for key in ids)
    path.write_text(f"公民身份号码,婚姻状况\n{good}{ZHANG_ID},离异\n", encoding="utf-8")
    first = load_file(path, PERSON, "civil_affairs", engine=engine, catalog=catalog)
    assert first.rows_quarantined == 1  # 离异 is no marital status of the directory

    def without_civil_affairs(data):
        data["sources"] = [s for s in data["sources"] if s["department"] != "civil_affairs"]

    revoked = edited_catalog(tmp_path, "sources.yaml", without_civil_affairs)
    with pytest.raises(GdxError, match=f"civil_affairs may not write {PERSON}"):
        retry(first.batch_id, engine=engine, catalog=revoked)
    assert stored(engine, catalog)[2][-1] == ("civil_affairs", "refused")


LICENCE = "e_licence.licence"
LICENCE_HEADER = (
    "licence_id,licence_type_code,licence_type_name,licence_no,holder_type,holder_id,"
    "holder_name,issued_on,valid_from,valid_until,status\n"
)


def licence(licence_id: str, type_code: str, holder: str, status: str = "有效") -> str:
    return (
        f"{licence_id},{type_code},证照,吉{type_code}0001,法人,{holder},某公司,"
        f"2024-01-02,2024-01-02,2029-01-01,{status}\n"
    )


def licence_state(engine, catalog, licence_id: str) -> tuple:
    golden = for_resource(catalog.resource(LICENCE)).golden
    with engine.connect() as conn:
        return conn.execute(
            sa.select(golden.c.licence_type_code, golden.c.status).where(
                golden.c.licence_id == licence_id
            )
        ).one()


def test_a_bureau_writes_only_the_licences_of_its_scope(engine, catalog, tmp_path):
    from gdx.demo.data.entities import usccs
    from gdx.quarantine_report import explain

    holders = usccs(np.random.default_rng(1), np.full(8, "91"))
    market = tmp_path / "market.csv"
    market.write_text(
        LICENCE_HEADER + "".join(licence(f"BL01-{n}", "BL01", holders[n]) for n in range(6)),
        encoding="utf-8",
    )
    loaded = load_file(market, LICENCE, "market_regulation", engine=engine, catalog=catalog)
    assert (loaded.status, loaded.rows_loaded) == ("loaded", 6)
    # transport: its own road licence, a business licence it does not issue, a revocation of
    # market regulation's licence BL01-0 sent as one of its own types, and a road licence under
    # an id of another type (which would make it the first writer of a health licence's id)
    transport = tmp_path / "transport.csv"
    transport.write_text(
        LICENCE_HEADER
        + licence("RT01-1", "RT01", holders[6])
        + licence("BL01-9", "BL01", holders[7])
        + licence("BL01-0", "RT01", holders[0], status="吊销")
        + licence("MP01-7", "RT01", holders[1], status="吊销"),
        encoding="utf-8",
    )
    summary = load_file(transport, LICENCE, "transport", engine=engine, catalog=catalog)
    assert (summary.status, summary.rows_loaded, summary.rows_quarantined) == ("loaded", 1, 3)
    assert summary.rejected_by_rule == {
        "licence_id.source_scope": 3,
        "licence_type_code.source_scope": 1,
    }
    assert "licence_type_code.source_scope" in summary.rules_checked
    assert licence_state(engine, catalog, "BL01-0") == ("BL01", "有效")
    assert licence_state(engine, catalog, "RT01-1") == ("RT01", "有效")
    # a record of another type under an id of the bureau's own: the record decides
    renumbered = tmp_path / "renumbered.csv"
    renumbered.write_text(LICENCE_HEADER + licence("RT01-1", "BL01", holders[6]), encoding="utf-8")
    market = load_file(renumbered, LICENCE, "market_regulation", engine=engine, catalog=catalog)
    assert market.rejected_by_rule == {"licence_id.source_scope": 1}
    zh, en = explain(catalog.resource(LICENCE), "licence_type_code.source_scope")
    assert "其他部门" in zh and "another department" in en


def test_a_scope_must_name_values_of_a_delivered_field(tmp_path):
    from catalog_schema import CatalogError

    def scoped(field, values):
        def change(data):
            for source in data["sources"]:
                if source["code"] == "transport.licences":
                    source["scope"] = {field: values}

        return change

    with pytest.raises(CatalogError, match=r"scope.licence_type_code: 'XX01': give values"):
        edited_catalog(tmp_path / "a", "sources.yaml", scoped("licence_type_code", ["XX01"]))
    with pytest.raises(CatalogError, match=r"scope: 'colour' is not a field the source"):
        edited_catalog(tmp_path / "b", "sources.yaml", scoped("colour", ["x"]))
    with pytest.raises(CatalogError, match=r"scope.licence_id: '\*': give values"):
        edited_catalog(tmp_path / "c", "sources.yaml", scoped("licence_id", ["*"]))
    # a prefix of the key (an id that carries its type) is a scope
    catalog = edited_catalog(tmp_path / "d", "sources.yaml", scoped("licence_id", ["RT01-*"]))
    assert catalog.source("transport.licences").scope == {"licence_id": ["RT01-*"]}


def test_a_registrar_cannot_end_another_registrars_entity(engine, catalog, tmp_path):
    """The USCC's first character is its registration authority (GB 32100): civil affairs
    registers social organisations (5), public-sector registration institutions (1)."""
    from gdx.demo.data.entities import usccs

    society, institution = (usccs(np.random.default_rng(2), np.full(1, p))[0] for p in ("51", "12"))
    header = "uscc,name,org_type,status\n"
    ours = tmp_path / "societies.csv"
    ours.write_text(header + f"{society},某协会,社会团体,存续\n", encoding="utf-8")
    first = load_file(ours, "legal_entity.organization", "civil_affairs", engine=engine,
                      catalog=catalog)  # fmt: skip
    assert first.rows_loaded == 1
    theirs = tmp_path / "institutions.csv"
    theirs.write_text(
        header + f"{society},某协会,社会团体,注销\n{institution},某中心,事业单位,存续\n",
        encoding="utf-8",
    )
    other = load_file(theirs, "legal_entity.organization", "public_sector_registration",
                      engine=engine, catalog=catalog)  # fmt: skip
    assert (other.rows_loaded, other.rejected_by_rule) == (1, {"uscc.source_scope": 1})
    golden = for_resource(catalog.resource("legal_entity.organization")).golden
    with engine.connect() as conn:
        kept = conn.execute(
            sa.select(golden.c.status, golden.c._state).where(golden.c.uscc == society)
        ).one()
    assert tuple(kept) == ("存续", "active")
