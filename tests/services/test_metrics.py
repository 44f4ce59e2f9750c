"""Prometheus metrics: requests by route template, latency, denials, rows served."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gdx.pipeline import load_file
from services import metrics
from services.app import create_app
from warehouse import consumers

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地址\n"
ZHANG = "11010519491231002X,张三,女,1949-12-31,汉族,北京市朝阳区建国路1号\n"
URL = "/api/v1/resources/population.person/records/"
TEMPLATE = "/api/v1/resources/population.person/records/{id_number}"
PURPOSE = "000105001000"  # 内地居民结婚登记, a declared service item


@pytest.fixture
def api(engine, catalog, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(HEADER + ZHANG, encoding="utf-8")
    load_file(path, "population.person", "public_security", engine=engine, catalog=catalog)
    with engine.begin() as conn:
        _, key = consumers.add(conn, "approval", "government_services")
    client = TestClient(create_app(engine, catalog))
    client.headers["X-API-Key"] = key
    client.headers["X-Purpose"] = PURPOSE
    return client


def value(text: str, sample: str) -> float:
    """The value of one sample line (`name{labels}`) of the exposition, 0 when absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split(" ")[1])
    return 0.0


def test_requests_by_route_template_and_denials(api):
    assert api.get(URL + "11010519491231002X").status_code == 200
    assert api.get(URL + "11010519491231002X").status_code == 200
    del api.headers["X-API-Key"]
    assert api.get(URL + "11010519491231002X").status_code == 401
    api.headers["X-API-Key"] = "gdx_not-a-real-key"
    assert api.get(URL + "11010519491231002X").status_code == 401
    assert api.get("/no/such/page").status_code == 404

    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    ok = f'gdx_http_requests_total{{method="GET",route="{TEMPLATE}",status="200"}}'
    assert value(text, ok) == 2
    refused = f'gdx_http_requests_total{{method="GET",route="{TEMPLATE}",status="401"}}'
    assert value(text, refused) == 2
    assert value(text, 'gdx_http_requests_total{method="GET",route="unmatched",status="404"}') == 1
    assert "11010519491231002X" not in text  # never the raw path
    assert value(text, 'gdx_denials_total{reason="unauthenticated"}') == 2
    assert value(text, 'gdx_denials_total{reason="no_grant"}') == 0  # every reason, from 0
    count = f'gdx_http_request_duration_seconds_count{{route="{TEMPLATE}"}}'
    assert value(text, count) == 4
    assert f'gdx_http_request_duration_seconds_bucket{{le="0.001",route="{TEMPLATE}"}}' in text
    assert "# TYPE gdx_rows_served_total counter" in text
    assert "# TYPE gdx_audit_records_total counter" in text
    assert "process_cpu_seconds_total" in text or "python_info" in text


def test_metrics_need_no_key_and_count_themselves(api):
    del api.headers["X-API-Key"]
    api.get("/metrics")
    text = api.get("/metrics").text
    assert value(text, 'gdx_http_requests_total{method="GET",route="/metrics",status="200"}') == 1


def test_served_denied_audited_by_request_or_app(catalog, engine):
    app = create_app(engine, catalog)

    @app.get("/test/serve")
    def serve_some(request: metrics.Request) -> dict:
        metrics.served(request, "population.person", 3)
        metrics.denied(request, "no_purpose")
        metrics.audited(request.app, 2)
        return {}

    client = TestClient(app)
    client.get("/test/serve")
    metrics.served(app, "credit.record")
    text = client.get("/metrics").text
    assert value(text, 'gdx_rows_served_total{resource="population.person"}') == 3
    assert value(text, 'gdx_rows_served_total{resource="credit.record"}') == 1
    assert value(text, 'gdx_denials_total{reason="no_purpose"}') == 1
    assert value(text, "gdx_audit_records_total") == 2
    assert (
        value(text, 'gdx_http_requests_total{method="GET",route="/test/serve",status="200"}') == 1
    )


def test_unknown_reason_is_refused(catalog, engine):
    with pytest.raises(ValueError, match="reason"):
        metrics.denied(create_app(engine, catalog), "felt_like_it")


def test_apps_have_registries_of_their_own(catalog, engine):
    first, second = create_app(engine, catalog), create_app(engine, catalog)
    metrics.served(first, "population.person", 5)
    assert "population.person" not in TestClient(second).get("/metrics").text
    metrics.served(FastAPI(), "population.person", 5)  # no metrics installed: nothing happens


def test_a_failing_route_counts_as_500(catalog, engine):
    app = create_app(engine, catalog)

    @app.get("/test/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/test/boom").status_code == 500
    text = client.get("/metrics").text
    assert value(text, 'gdx_http_requests_total{method="GET",route="/test/boom",status="500"}') == 1
    assert re.search(r'gdx_http_request_duration_seconds_sum\{route="/test/boom"\} \S+', text)


def test_refusals_no_route_named_are_counted_once_by_status(api):
    assert api.get("/api/v1/catalog/no.such").status_code == 404
    assert api.get("/api/v1/catalog", params={"library": "nope"}).status_code == 422
    assert api.post("/api/v1/access-requests/1/approve", json={}).status_code == 403
    del api.headers["X-API-Key"]
    assert api.get(URL + "11010519491231002X").status_code == 401  # counted by its dependency
    text = api.get("/metrics").text
    assert value(text, 'gdx_denials_total{reason="not_found"}') == 1
    assert value(text, 'gdx_denials_total{reason="bad_request"}') == 1
    assert value(text, 'gdx_denials_total{reason="forbidden"}') == 1
    assert value(text, 'gdx_denials_total{reason="unauthenticated"}') == 1
