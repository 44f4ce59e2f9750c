"""The portal on the services' small hub, with a person of every role, and Chromium.

`portal` is the hub of tests/services/conftest.py with the portal mounted and these people
(password PASSWORD):
- `hr`: human_resources' data administrator (the provider of the conditional resource
  human_resources.insurance_payment)
- `ps`: public_security's data administrator
- `integrator`: government_services' integrator, acting for the consumer `approval`
- `supervisor`: a hub administrator (government_services)

`portal.client(username)` is a TestClient signed in as that person; `csrf_of(page)` reads a
page's form token. The browser tests take `page` (Chromium, headless, on a uvicorn server in a
thread): every request to another host fails the test, as does any error in the page's console
(a refused script or style sheet included); `shot(page, name)` keeps a screenshot under
var/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from gdx.web import create_app
from tests.conftest import ROOT
from tests.services.conftest import Hub, hub, serving  # noqa: F401  (fixtures)
from warehouse import engine as engines
from warehouse import people

PASSWORD = "correct-horse-battery"
SCREENSHOTS = ROOT / "var" / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PEOPLE = [
    # username, name, department, role, consumer
    ("hr", "人社数据管理员", "human_resources", "department_admin", None),
    ("ps", "公安数据管理员", "public_security", "department_admin", None),
    ("integrator", "审批系统对接员", "government_services", "integrator", "approval"),
    ("supervisor", "平台管理员", "government_services", "hub_admin", None),
]
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no form token"
    return found.group(1)


@dataclass
class Portal:
    hub: Hub
    app: object
    people: dict[str, people.Person] = field(default_factory=dict)

    @property
    def engine(self):
        return self.hub.engine

    @property
    def catalog(self):
        return self.hub.catalog

    def client(self, username: str | None = None) -> TestClient:
        """A TestClient, signed in as `username` when given."""
        client = TestClient(self.app, follow_redirects=False)
        if username:
            sign_in(client, username)
        return client


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    form = client.get("/portal/sign-in")
    answer = client.post(
        "/portal/sign-in",
        data={"username": username, "password": password, "csrf": csrf_of(form.text)},
    )
    assert answer.status_code == 303, answer.text
    return answer


@pytest.fixture
def portal(hub) -> Portal:  # noqa: F811
    found = Portal(hub, create_app(hub.engine, hub.catalog))
    with engines.writing(hub.engine) as conn:
        for username, name, department, role, consumer in PEOPLE:
            found.people[username] = people.add(
                conn,
                username,
                name,
                department,
                role,
                PASSWORD,
                hub.catalog.departments,
                consumer,
            )
    return found


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture
def browser():
    """Chromium for one test. Not shared across tests: Playwright's sync API keeps an event
    loop running in the thread while it is started, and other tests call asyncio.run()."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "Chromium is not installed: `make test` installs it (apt-get install -y chromium)"
            )
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture
def site(portal) -> str:
    """The portal served over real HTTP: its base URL."""
    with serving(portal.app) as base:
        yield base


@pytest.fixture
def page(browser, site):
    """A fresh browser context (no cookies) on the served portal. Requests to any other host
    are refused and fail the test; so do errors in the page's console."""
    context = browser.new_context(
        base_url=site, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    local = urlsplit(site).netloc
    outside: list[str] = []
    problems: list[str] = []

    def only_the_hub(route):
        if urlsplit(route.request.url).netloc == local:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_hub)
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda exc: problems.append(str(exc)))
    yield opened
    context.close()
    assert not outside, f"the portal asked another host for {outside}"
    unexpected = [text for text in problems if not _expected(text)]
    assert not unexpected, f"errors in the page's console: {unexpected}"


def _expected(text: str) -> bool:
    # the browser logs each refused page (4xx) the test asked for on purpose
    return "Failed to load resource: the server responded with a status of 4" in text


def sign_in_as(page, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person does."""
    page.goto("/portal/sign-in")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()


def shot(page, name: str) -> Path:
    """A full-page screenshot under var/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# Pages that only read run on SQLite: what they read is tested on both backends in tests/warehouse
# and tests/services. Pages that write (requests, decisions, uploads, imports, keys, sessions)
# run on PostgreSQL too. This keeps `make test` well under 30 minutes.
WRITING_PAGES = {
    "test_consumer.py",
    "test_entries.py",
    "test_inbox.py",
    "test_quarantine.py",
    "test_requests.py",
    "test_signin.py",
}


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        reading = "/tests/portal/" in str(item.path) and item.path.name not in WRITING_PAGES
        if reading and "[postgresql" in item.nodeid:
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
