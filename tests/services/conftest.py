"""A small hub with data in every library, a conditional and a not-shared resource, and the
consumers an approval-system integration involves."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
import yaml
from fastapi.testclient import TestClient

from catalog_schema import Catalog, Resource, load_catalog
from gdx.pipeline import load_file
from runtime import clock
from services.app import create_app
from services.routes.records import record_model
from warehouse import consumers, tables
from warehouse.tables import access_request

ZHANG = "11010519491231002X"  # 张三, a person with no insurance record
LI = "220102199003071235"  # 李四, insured
WANG = "220102198511110021"  # 王五, died
FOODS = "91220402Q01892388C"  # 长春市禾丰食品有限公司, 存续
REVOKED = "912205023282465066"  # 通化市旧货贸易有限公司, 吊销
SECRETS = "public_security.case_file"
PURPOSE = "000212017000"  # 基本医疗保险关系转移接续
FOOD_PERMIT = "000117012000"  # 食品经营许可

CASE_FILE = {
    "code": SECRETS,
    "name_zh": "案件档案",
    "name_en": "Case files",
    "summary": "Case files of the police; never shared.",
    "classification": "主题信息资源/公共安全",
    "grain": "one row per case",
    "key": "case_no",
    "provider": "public_security",
    "share_type": "not_shared",
    "share_conditions": "涉及国家秘密，依法不予共享",
    "update_cycle": "daily",
    "published_on": "2026-11-22",
    "fields": [
        {
            "name": "case_no",
            "label_zh": "案件编号",
            "description": "Case number.",
            "rules": ["required"],
        },
        {"name": "summary", "label_zh": "案情", "description": "What happened."},
    ],
}


def documented(resource: Resource, response) -> dict:
    """A record answer's body, checked against the schema the API documents for it: the route
    renders its own JSON, so this is what holds it to the model (and to what the model would
    have rendered: the fields a conditional grant does not serve left out, not null)."""
    assert response.status_code == 200, response.text
    body = response.json()
    model = record_model(resource)
    assert model.model_validate(body).model_dump(mode="json", exclude_unset=True) == body
    return body


def is_local(text: str) -> bool:
    """A time as the API shows it: ISO 8601 with an offset, that of the province's time zone
    (GDX_TIMEZONE) at that instant."""
    at = dt.datetime.fromisoformat(text)
    return at.utcoffset() is not None and at.utcoffset() == clock.local(at).utcoffset()


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Hub:
    engine: sa.Engine
    catalog: Catalog
    app: object
    keys: dict[str, str]  # consumer name -> API key
    ids: dict[str, int]

    def client(self, who: str = "approval", purpose: str | None = PURPOSE) -> TestClient:
        client = TestClient(self.app)
        client.headers["X-API-Key"] = self.keys[who]
        if purpose:
            client.headers["X-Purpose"] = purpose
        return client

    def grant(
        self,
        who: str,
        resource: str,
        fields: list[str],
        status: str = "approved",
        purpose: str = PURPOSE,
        expires_in: dt.timedelta = dt.timedelta(days=30),
        revoked: bool = False,
    ) -> int:
        """An access request in a given state, written directly (the life cycle has its own
        tests)."""
        now = dt.datetime.now(dt.UTC)
        with self.engine.begin() as conn:
            return conn.execute(
                access_request.insert()
                .values(
                    consumer_id=self.ids[who],
                    department="government_services",
                    resource=resource,
                    provider=self.catalog.resource(resource).provider,
                    fields=fields,
                    purpose="test",
                    service_item=purpose,
                    requested_until=(now + expires_in).date(),
                    status="revoked" if revoked else status,
                    filed_at=now,
                    decide_by=(now + dt.timedelta(days=14)).date(),
                    decided_at=now if status != "pending" else None,
                    expires_at=now + expires_in if status == "approved" else None,
                    revoked_at=now if revoked else None,
                )
                .returning(access_request.c.id)
            ).scalar_one()


@pytest.fixture
def hub(engine, tmp_path) -> Hub:
    imports = tmp_path / "imports"
    imports.mkdir()
    (imports / f"{SECRETS}.yaml").write_text(
        yaml.safe_dump(CASE_FILE, allow_unicode=True), encoding="utf-8"
    )
    catalog = load_catalog(None, imports)
    tables.init_schema(engine, catalog)

    def load(name: str, resource: str, department: str, rows: list[dict]) -> None:
        path = write_csv(tmp_path / f"{name}.csv", rows)
        summary = load_file(path, resource, department, engine=engine, catalog=catalog)
        assert summary.rows_quarantined == 0, summary.as_dict()

    person = {"household_address": ""}
    load(
        "people",
        "population.person",
        "public_security",
        [
            {
                **person,
                "id_number": ZHANG,
                "name": "张三",
                "gender": "女",
                "birth_date": "1949-12-31",
                "ethnicity": "汉族",
                "household_address": "北京市朝阳区建国路1号",
            },
            {
                **person,
                "id_number": LI,
                "name": "李四",
                "gender": "男",
                "birth_date": "1990-03-07",
                "ethnicity": "满族",
                "household_address": "长春市南关区人民大街2号",
            },
            {
                **person,
                "id_number": WANG,
                "name": "王五",
                "gender": "女",
                "birth_date": "1985-11-11",
                "ethnicity": "汉族",
            },
        ],
    )
    load(
        "deaths",
        "population.person",
        "civil_affairs",
        [{"id_number": WANG, "marital_status": "已婚", "death_date": "2025-05-01"}],
    )
    load(
        "entities",
        "legal_entity.organization",
        "market_regulation",
        [
            {
                "uscc": FOODS,
                "name": "长春市禾丰食品有限公司",
                "org_type": "有限责任公司",
                "legal_rep_name": "李四",
                "address": "长春市朝阳区湖西路8号",
                "status": "存续",
            },
            {
                "uscc": REVOKED,
                "name": "通化市旧货贸易有限公司",
                "org_type": "有限责任公司",
                "legal_rep_name": "赵六",
                "address": "通化市东昌区",
                "status": "吊销",
            },
        ],
    )
    licence = {
        "holder_type": "法人",
        "issuer_name": "长春市市场监督管理局",
        "issued_on": "2020-01-02",
        "valid_from": "2020-01-02",
    }
    load(
        "licences",
        "e_licence.licence",
        "market_regulation",
        [
            {
                **licence,
                "licence_id": "BL01-1",
                "licence_type_code": "BL01",
                "licence_type_name": "营业执照",
                "licence_no": "220104000012345",
                "holder_id": FOODS,
                "holder_name": "长春市禾丰食品有限公司",
                "valid_until": "2040-01-01",
                "status": "有效",
            },
            {
                **licence,
                "licence_id": "FB01-1",
                "licence_type_code": "FB01",
                "licence_type_name": "食品经营许可证",
                "licence_no": "JY12201040001234",
                "holder_id": FOODS,
                "holder_name": "长春市禾丰食品有限公司",
                "valid_until": "2025-01-01",
                "status": "有效",
            },
            {
                **licence,
                "licence_id": "BL01-2",
                "licence_type_code": "BL01",
                "licence_type_name": "营业执照",
                "licence_no": "220502000054321",
                "holder_id": REVOKED,
                "holder_name": "通化市旧货贸易有限公司",
                "valid_until": "2040-01-01",
                "status": "吊销",
            },
        ],
    )
    recent = (dt.date.today() - dt.timedelta(days=30)).isoformat()
    load(
        "credit",
        "credit.record",
        "development_reform",
        [
            {
                "record_id": "CF-1",
                "subject_type": "法人",
                "subject_id": FOODS,
                "subject_name": "长春市禾丰食品有限公司",
                "category": "行政处罚",
                "content": "未按规定公示年度报告，罚款2000元",
                "authority": "长春市市场监督管理局",
                "decided_on": recent,
                "valid_until": "2099-01-01",
                "status": "有效",
            },
        ],
    )
    load(
        "abnormal",
        "credit.record",
        "market_regulation",
        [
            {
                "record_id": "CF-2",
                "subject_type": "法人",
                "subject_id": FOODS,
                "subject_name": "长春市禾丰食品有限公司",
                "category": "经营异常名录",
                "content": "通过登记的住所无法联系",
                "authority": "长春市市场监督管理局",
                "decided_on": "2023-01-01",
                "valid_until": "2099-01-01",
                "status": "已移出",
            },
        ],
    )
    load(
        "payments",
        "human_resources.insurance_payment",
        "human_resources",
        [
            {
                "id_number": LI,
                "name": "李四",
                "insured_region": "220102",
                "insurance_types": "职工基本养老保险、职工基本医疗保险",
                "first_paid_on": "2012-07-01",
                "months_paid": "160",
                "last_paid_month": "2026-10",
                "monthly_base": "8200",
                "employer_uscc": FOODS,
            },
        ],
    )
    load("cases", SECRETS, "public_security", [{"case_no": "A-1", "summary": "机密"}])
    keys, ids = {}, {}
    with engine.begin() as conn:
        for name, department, role in [
            ("approval", "government_services", "consumer"),
            ("other", "civil_affairs", "consumer"),
            ("hr_admin", "human_resources", "admin"),
        ]:
            consumer, keys[name] = consumers.add(conn, name, department, role)
            ids[name] = consumer.id
    return Hub(engine, catalog, create_app(engine, catalog), keys, ids)


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free port of 127.0.0.1; yields its base URL and
    stops the server on the way out (real HTTP, for clients that are not the TestClient)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
