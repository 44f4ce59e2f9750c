"""The OpenAPI document says what the server enforces: schemathesis (`st run`, settings in
schemathesis.toml, formats and the keyless check in schemathesis_hooks.py) over every operation
of /openapi.json, against the API served over real HTTP on a small loaded hub, on both backends.

With a key and a purpose: no server error, every status, content type, header and body as the
document says, schema-valid requests accepted and schema-violating ones refused, unknown
methods 405 with the path's methods in `Allow`. Without a key: 401, or the request's form
refused (schemathesis_hooks.refused_without_a_key). A fixed number of examples per operation,
deterministic, one worker: about 20 s a pass here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from services.app import create_app
from tests.conftest import ROOT
from tests.services.conftest import PURPOSE, serving
from tests.services.schemathesis_hooks import NO_KEY

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
CONDITIONAL = "human_resources.insurance_payment"


@pytest.fixture
def served(hub, monkeypatch):
    """The hub's API on a free port of 127.0.0.1, served by uvicorn in a thread; its URL."""
    # a limiter at the default rate answers most of the run 429 (documented, but testing
    # nothing behind it); tests/services/test_ratelimit.py holds the limiter
    monkeypatch.setenv("GDX_RATE_LIMIT", "100000")
    spec = hub.catalog.resource(CONDITIONAL)
    hub.grant("approval", CONDITIONAL, [f.name for f in spec.fields if f.sensitivity != "secret"])
    with serving(create_app(hub.engine, hub.catalog)) as url:
        yield url


def schemathesis(url: str, *headers: str, **env: str) -> tuple[int, str]:
    """`st run` over the document at `url`: its exit code and output."""
    args = [str(ST), "--config-file", str(CONFIG), "run", f"{url}/openapi.json", "--no-color"]
    for header in headers:
        args += ["-H", header]
    done = subprocess.run(
        args,
        cwd=ROOT,  # the hooks module is imported by its dotted name
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, done.stdout + done.stderr


def operations(url: str) -> int:
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=10) as answer:
        document = json.load(answer)
    methods = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
    return sum(len(set(item) & methods) for item in document["paths"].values())


def assert_every_operation_passed(code: int, output: str, expected: int) -> None:
    failures = output[output.find("FAILURES") :] if "FAILURES" in output else output[-6000:]
    assert code == 0, failures[:20000]
    assert re.search(rf"Tested: {expected}\b", output), output[-3000:]
    assert re.search(r"\d+ generated, \d+ passed", output), output[-3000:]


def test_the_server_does_what_its_document_says(hub, served):
    code, output = schemathesis(
        served, f"X-API-Key: {hub.keys['approval']}", f"X-Purpose: {PURPOSE}"
    )
    assert_every_operation_passed(code, output, operations(served))


def test_without_a_key_only_401_or_the_form_is_refused(served):
    code, output = schemathesis(served, f"X-Purpose: {PURPOSE}", **{NO_KEY: "1"})
    assert_every_operation_passed(code, output, operations(served))
