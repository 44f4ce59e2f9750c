"""No outside network: every page of the portal, as every role sees it, loads nothing from
another host, carries the Content-Security-Policy that forbids it, and never answers 500.

The browser tests (the `page` fixture) also fail any request Chromium makes to another host;
this walks every page a person can reach by links, which the browser tests do not all visit."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from portal import pages

LINKS = re.compile(r"""(?:src|href|action)\s*=\s*["']([^"']*)["']""", re.I)
PORTAL = Path(pages.__file__).parent
MAX_PAGES = 80


def local(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc


def test_no_template_or_style_sheet_names_another_host():
    for path in [*PORTAL.joinpath("templates").iterdir(), *PORTAL.joinpath("static").iterdir()]:
        text = path.read_text(encoding="utf-8")
        outside = [u for u in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text)
                   if "www.w3.org/2000/svg" not in u]  # fmt: skip
        assert not outside, f"{path.name} names {outside}"


@pytest.mark.parametrize("username", ["hr", "integrator", "supervisor"])
def test_every_reachable_page_stays_on_the_hub(portal, username):
    client = portal.client(username)
    todo, seen = ["/portal/"], set()
    while todo and len(seen) < MAX_PAGES:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        answer = client.get(path)
        assert answer.status_code < 500, (path, answer.text[:500])
        kind = answer.headers.get("content-type", "")
        if not kind.startswith("text/html"):
            continue
        assert "default-src 'self'" in answer.headers["content-security-policy"], path
        for link in LINKS.findall(answer.text):
            assert local(link), f"{path} links to {link}"
            target = urljoin(path, link).split("#")[0]
            if target.startswith("/portal/") and "sign-out" not in target:
                todo.append(target)
    assert len(seen) > 3, seen
