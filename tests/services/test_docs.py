"""/docs and /redoc work on a network without internet: their HTML names no other host, every
asset it names is served by the hub with its content type, and a browser that can reach no
other host renders both (when Chromium is installed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from services.app import create_app
from tests.services.conftest import serving

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class _References(HTMLParser):
    """Every src and href of a page, and the text of its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        self.found += [value for name, value in attrs if name in ("src", "href", "spec-url")]

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


@pytest.fixture(scope="module")
def api(catalog, tmp_path_factory):
    from warehouse import engine as engines
    from warehouse import tables

    folder = tmp_path_factory.mktemp("docs")
    engine = engines.create(f"sqlite:///{folder / 'gdx.db'}")
    tables.init_schema(engine, catalog)
    yield create_app(engine, catalog)
    engine.dispose()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_page_names_no_other_host_and_its_assets_are_served(api, page):
    client = TestClient(api)
    answer = client.get(page)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    # the browser is held to the hub's own host (ReDoc's logo, Swagger UI's validator badge)
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    html = _References()
    html.feed(answer.text)
    urls = html.found + re.findall(r"""["'](/[^"'\s]+\.(?:js|css|png|json))["']""", answer.text)
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{page} loads {url} from another host"
    # nor does its inline script name one (Swagger UI's default validator is turned off)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", "".join(html.scripts))
    if page == "/docs":
        assert '"validatorUrl": null' in answer.text
    for url in set(urls):
        asset = client.get(url)
        assert asset.status_code == 200, url
        suffix = url[url.rfind(".") :]
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type in CONTENT_TYPES[suffix], (url, content_type)
        assert len(asset.content) > 100, url


def test_the_licences_of_the_assets_are_served_beside_them(api):
    client = TestClient(api)
    assert "Apache License" in client.get("/docs/assets/swagger-ui/LICENSE").text
    assert "MIT" in client.get("/docs/assets/redoc/LICENSE").text
    assert client.get("/docs/assets/nothing.js").status_code == 404


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed")
@pytest.mark.parametrize(
    ("page", "rendered"),
    [("/docs", 'class="opblock-summary-path"'), ("/redoc", "One record by record_id")],
)
def test_a_browser_without_internet_renders_the_page(api, page, rendered):
    with serving(api) as url:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                # every host name but the hub's address resolves to nothing: no internet
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"{url}{page}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert rendered in done.stdout, done.stderr[-2000:]
