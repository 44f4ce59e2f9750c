"""`gdx demo` end to end: demo data, the DAG in Airflow, the API serving a masked record."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_the_record_its_curl_line_names(tmp_path):
    port = _free_port()
    env = dict(os.environ, GDX_HOME=str(tmp_path / "var"))
    env.pop("GDX_DATABASE_URL", None)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmp_path / 'airflow.db'}"
    gdx = str(Path(sys.executable).parent / "gdx")
    process = subprocess.Popen(
        [gdx, "demo", "--people", "10000", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if line.startswith("serving the API"):
                break
        text = "".join(output)
        assert "serving the API" in text, text
        match = re.search(r"curl -H 'X-API-Key: (\S+)' -H 'X-Purpose: (\S+)' (\S+)", text)
        assert match, text
        key, purpose, url = match.groups()
        headers = {"X-API-Key": key, "X-Purpose": purpose}
        assert "15 collection DAGs and publish_directory ran" in text, text
        combined = re.search(r"population.person: \d+ records \((\d+) combining several", text)
        assert combined and int(combined.group(1)) > 1000, text
        for library in (
            "population.person",
            "legal_entity.organization",
            "e_licence.licence",
            "credit.record",
            "human_resources.insurance_payment",
        ):
            assert re.search(rf"{library}: [1-9]\d* records", text), text
        response = None
        for _ in range(50):
            try:
                response = httpx.get(url, headers=headers, timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert response is not None and response.status_code == 200
        body = response.json()
        assert body["data"]["id_number"].count("*") == 8
        # the golden record combines three departments, each field naming its supplier
        suppliers = {field: item["department"] for field, item in body["provenance"].items()}
        assert suppliers["name"] == "public_security"
        assert suppliers["marital_status"] == "civil_affairs"
        assert suppliers["phone"] == "human_resources"
        assert httpx.get(url, timeout=5).status_code == 401
        # the approved access request lets the materials call supply the contributions
        materials = re.search(r"'(http\S+/materials\?applicant=\S+)'", text).group(1)
        body = httpx.get(materials, headers=headers, timeout=5).json()
        supplied = {m["code"]: m["status"] for m in body["items"]}
        assert supplied == {
            "identity": "supplied",
            "contribution_record": "supplied",
            "transfer_form": "from_applicant",
        }, body
        verify = re.search(r"-d '(\{.*\})' (\S+/verify/citizen)", text)
        answer = httpx.post(
            verify.group(2),
            content=verify.group(1).encode(),
            headers={**headers, "Content-Type": "application/json"},
            timeout=5,
        )
        assert answer.json()["verdict"] == "match", answer.text
        audit = subprocess.run(
            [gdx, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
        )
        assert audit.returncode == 0 and "intact: 4 records" in audit.stdout, audit
    finally:
        process.terminate()
        process.wait(timeout=30)
