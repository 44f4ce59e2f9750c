"""`gdx demo` end to end: demo data, the DAG in Airflow, the API serving a masked record."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gdx.demo.job import _example_person, _shell_json
from warehouse.tables import batch_ledger, for_resource


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
    arrived: dict[str, float] = {}  # progress line -> when it was read
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            arrived[line.strip()] = time.monotonic()
            if line.startswith("serving the API"):
                break
        text = "".join(output)
        assert re.search(
            rf"^serving the API on http://127.0.0.1:{port} \(docs http://127.0.0.1:{port}/docs\), "
            r"1 worker; Ctrl-C to stop$",
            text,
            re.M,
        ), text
        # a line per DAG as each finishes, not all at the end
        assert "3/4 running 15 collection DAGs, then publish_directory" in text, text
        progress = [line for line in arrived if re.match(r"\d+/16 ", line)]
        assert len(progress) == 16, text
        assert progress[0].startswith("1/16 collect_public_security_population: success in ")
        assert re.search(r"— 1 batch, read \d+, loaded \d+, quarantined \d+$", progress[0])
        assert progress[-1].startswith("16/16 publish_directory: success in ")
        assert arrived[progress[-1]] - arrived[progress[0]] > 5, text
        match = re.search(r"curl -H 'X-API-Key: (\S+)' -H 'X-Purpose: (\S+)' (\S+)", text)
        assert match, text
        url = match.group(3)
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
        for _ in range(50):  # until it answers (health checks are not audited)
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        # every curl line works as printed, run by a shell the way a user pastes it
        answers = {}
        for line in re.findall(r"^  (curl .*)$", text, re.M):
            done = subprocess.run(
                ["bash", "-c", line], capture_output=True, text=True, timeout=30, env=env
            )
            assert done.returncode == 0, (line, done.stderr)
            answers[line] = json.loads(done.stdout)  # "Invalid HTTP request" is no JSON
        assert len(answers) == 5, text
        (record,) = [body for line, body in answers.items() if "/records/" in line]
        assert record["data"]["id_number"].count("*") == 8
        # the golden record combines three departments, each field naming its supplier
        suppliers = {field: item["department"] for field, item in record["provenance"].items()}
        assert suppliers["name"] == "public_security"
        assert suppliers["marital_status"] == "civil_affairs"
        assert suppliers["phone"] == "human_resources"
        assert httpx.get(url, timeout=5).status_code == 401
        # the approved access request lets the materials call supply the contributions
        (body,) = [body for line, body in answers.items() if "/materials?" in line]
        supplied = {m["code"]: m["status"] for m in body["items"]}
        assert supplied == {
            "identity": "supplied",
            "contribution_record": "supplied",
            "transfer_form": "from_applicant",
        }, body
        (answer,) = [body for line, body in answers.items() if "/verify/citizen" in line]
        assert answer["verdict"] == "match", answer
        (found,) = [body for line, body in answers.items() if "社会保险" in line]
        codes = [entry["code"] for entry in found["items"]]
        assert "human_resources.insurance_payment" in codes, found
        (health,) = [body for line, body in answers.items() if "/healthz" in line]
        assert health["status"] == "ok"
        # the suggested record shows a conflict between departments
        show = re.search(r"^  (\S*gdx records show population.person \S+)", text, re.M)
        assert (
            show
            and "(fields from three departments, with provenance and the open conflict on phone)"
            in text
        ), text
        shown = subprocess.run(
            ["bash", "-c", show.group(1)], capture_output=True, text=True, timeout=60, env=env
        )
        assert shown.returncode == 0, shown.stderr
        assert re.search(r"^conflict on phone: human_resources '\d+' \(kept\) vs civil_affairs",
                         shown.stdout, re.M), shown.stdout  # fmt: skip
        audit = subprocess.run(
            [gdx, "audit", "verify"], env=env, capture_output=True, text=True, timeout=60
        )
        # the four data calls of the curl lines and the refused one without a key
        assert audit.returncode == 0 and "intact: 5 records" in audit.stdout, audit
        # the portal line's accounts sign in with the password it prints
        portal = re.search(r"^  open (\S+/portal/)   \(the portal: sign in as demo-hub, demo-hr, "
                           r"demo-integrator, password (\S+)\)$", text, re.M)  # fmt: skip
        assert portal, text
        with httpx.Client(base_url=portal.group(1), timeout=10) as browser:
            form = browser.get("sign-in").text
            token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
            signed = browser.post(
                "sign-in",
                data={"username": "demo-hr", "password": portal.group(2), "csrf": token},
                follow_redirects=True,
            )
            assert signed.status_code == 200 and "人社局数据管理员（演示）" in signed.text
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_demo_on_a_busy_port_stops_before_any_work(tmp_path):
    env = dict(os.environ, GDX_HOME=str(tmp_path / "var"))
    gdx = str(Path(sys.executable).parent / "gdx")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [gdx, "demo", "--port", str(port)], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1 and result.stdout == "", result
    assert result.stderr == f"error: port {port} on 127.0.0.1 is in use\n"
    assert not (tmp_path / "var" / "incoming").exists()


def test_the_example_person_is_one_with_an_open_conflict_when_there_is_one(engine, catalog):
    people = for_resource(catalog.resource("population.person"))
    payment = for_resource(catalog.resource("human_resources.insurance_payment")).golden
    now = dt.datetime.now(dt.UTC)
    stamp = {"_batch_id": "b-hr", "_created_at": now, "_updated_at": now}
    with engine.begin() as conn:
        conn.execute(
            batch_ledger.insert(),
            {"batch_id": "b-hr", "resource": "population.person", "status": "loaded",
             "department": "human_resources", "started_at": now, "rejected_by_rule": {},
             "unknown_columns": []},
        )  # fmt: skip
        for id_number, name in (("110105194912310021", "张三"), ("110105195001010012", "李四")):
            conn.execute(
                people.golden.insert(),
                {"id_number": id_number, "name": name, "marital_status": "已婚",
                 "_src_phone": "b-hr", **stamp},
            )  # fmt: skip
            conn.execute(payment.insert(), {"id_number": id_number, **stamp})
        conn.execute(
            people.conflict.insert(),
            {"record_key": "110105195001010012", "field": "phone", "found_at": now,
             "winner_department": "human_resources", "other_department": "civil_affairs",
             "found_batch": "b-hr"},
        )  # fmt: skip
    with engine.connect() as conn:
        chosen = _example_person(conn, people.golden, payment, people.conflict)
    assert chosen == ("110105195001010012", "李四", "phone")
    with engine.begin() as conn:
        conn.execute(people.conflict.update().values(resolved_at=now, resolved_batch="b-2"))
    with engine.connect() as conn:  # none open: the first that qualifies, said without one
        chosen = _example_person(conn, people.golden, payment, people.conflict)
    assert chosen == ("110105194912310021", "张三", None)


def test_the_verification_body_is_one_shell_word_whatever_the_name():
    name = 'O\'Brien "杜" $HOME `x` \\'
    word = _shell_json("130208200103230333", name)
    echoed = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, text=True)
    assert json.loads(echoed.stdout) == {"id_number": "130208200103230333", "name": name}
    assert _shell_json("1", "杜海海") == '\'{"id_number": "1", "name": "杜海海"}\''
