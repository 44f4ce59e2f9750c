"""Single sign-on against a real OpenID Connect provider (oidc-provider-mock) started here.

The provider runs in a thread on a free port, with the portal registered as a client (its
secret and redirect URIs checked) and nonces required. `through_platform` goes through it as a
browser does: the portal's start, the provider's authorize form (choosing the subject), back to
the portal's callback. Every token request the provider receives is kept, to check PKCE.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import oidc_provider_mock
import pytest
import sqlalchemy as sa
import werkzeug.serving
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from portal import oidc
from tests.portal.conftest import shot
from warehouse import audit, people, secret
from warehouse import engine as engines
from warehouse.tables import audit_log

HR = "3c1d0e0a-hr-subject"
STRANGER = "77aa-stranger-subject"
CALLBACK = "http://testserver/portal/oidc/callback"


@dataclass
class Platform:
    base: str
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)

    def register(self, *redirect_uris: str) -> tuple[str, str]:
        answer = httpx.post(self.base + "/oauth2/clients", json={"redirect_uris": redirect_uris})
        assert answer.status_code == 201, answer.text
        return answer.json()["client_id"], answer.json()["client_secret"]

    def set_claims(self, subject: str, **claims) -> None:
        assert httpx.put(f"{self.base}/users/{subject}", json=claims).status_code == 204


@contextmanager
def serving_platform(users):
    app = oidc_provider_mock.app(
        require_client_registration=True, require_nonce=True, user_claims=users
    )
    found = Platform("")

    def keeping_token_requests(environ, start_response):
        if environ["PATH_INFO"] == "/oauth2/token" and environ["REQUEST_METHOD"] == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            found.token_requests.append(parse_qs(body.decode("utf-8")))
            environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    server = werkzeug.serving.make_server("localhost", 0, keeping_token_requests, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    found.base = f"http://localhost:{server.server_port}"
    try:
        yield found
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture
def platform(monkeypatch):
    """The provider, knowing `hr` (by the user name hr) and a stranger; the portal set up as
    its registered client."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the provider over plain http here
    users = [
        oidc_provider_mock.User(sub=HR, claims={"preferred_username": "hr", "name": "人社"}),
        oidc_provider_mock.User(sub=STRANGER, claims={"preferred_username": "nobody"}),
    ]
    oidc.forget()
    with serving_platform(users) as found:
        client_id, secret = found.register(CALLBACK)
        monkeypatch.setenv("GDX_OIDC_ISSUER", found.base)
        monkeypatch.setenv("GDX_OIDC_CLIENT_ID", client_id)
        monkeypatch.setenv("GDX_OIDC_CLIENT_SECRET", secret)
        yield found
    oidc.forget()


def authorize(client, next_page: str = "/portal/") -> str:
    """The portal's start: the provider's authorization URL it redirects to."""
    start = client.get("/portal/oidc/start", params={"next": next_page})
    assert start.status_code == 303, start.text
    assert "gdx_oidc=" in start.headers["set-cookie"]
    return start.headers["location"]


def choose(url: str, subject: str | None) -> str:
    """The provider's authorize form: sign in as `subject` (None: deny). Where it sends the
    browser back to."""
    with httpx.Client() as browser:
        assert browser.get(url).status_code == 200
        answer = browser.post(url, data={"sub": subject} if subject else {"action": "deny"})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def through_platform(client, subject: str | None, next_page: str = "/portal/"):
    return client.get(choose(authorize(client, next_page), subject))


def failures(portal) -> list[tuple[str, str, int, str]]:
    with portal.engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                audit_log.c.action, audit_log.c.person, audit_log.c.status, audit_log.c.reason
            )
            .where(audit_log.c.action.in_(["sign_in", "sign_in_failed"]))
            .order_by(audit_log.c.seq)
        ).all()
    return [tuple(row) for row in rows]


def test_matched_by_user_name_then_by_subject(portal, platform):
    client = portal.client()
    answer = through_platform(client, HR, "/portal/?lang=en")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/portal/?lang=en"
    cookies = answer.headers.get_list("set-cookie")
    session = next(cookie for cookie in cookies if cookie.startswith("gdx_session="))
    assert "httponly" in session.lower() and "samesite=lax" in session.lower()
    assert any(cookie.startswith("gdx_oidc=") and "Max-Age=0" in cookie for cookie in cookies)
    home = client.get("/portal/")
    assert home.status_code == 200 and "人社数据管理员" in home.text
    assert ("sign_in", "hr", 200, "oidc") in failures(portal)
    with portal.engine.connect() as conn:
        assert next(row for row in people.listing(conn) if row["username"] == "hr")["oidc"]
        assert audit.verify(conn).ok

    # the platform renames the person: the subject, matched the first time, still finds hr
    platform.set_claims(HR, preferred_username="hr-renamed")
    again = portal.client()
    assert through_platform(again, HR).status_code == 303
    assert "人社数据管理员" in again.get("/portal/").text


def test_pkce_s256_the_provider_receives_the_verifier(portal, platform):
    client = portal.client()
    url = authorize(client)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["openid profile"] and query["nonce"][0]
    assert client.get(choose(url, HR)).status_code == 303
    (request,) = platform.token_requests
    verifier = request["code_verifier"][0]
    assert 43 <= len(verifier) <= 128
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"][0]
    assert request["redirect_uri"] == [CALLBACK]


def test_an_unknown_person_is_refused_and_recorded(portal, platform):
    client = portal.client()
    answer = through_platform(client, STRANGER)
    assert answer.status_code == 403
    assert "本平台没有您的账号" in answer.text
    assert "gdx_session" not in client.cookies
    assert ("sign_in_failed", "nobody", 403, f"oidc: unknown (subject {STRANGER})") in failures(
        portal
    )


def test_a_disabled_account_is_refused(portal, platform):
    with engines.writing(portal.engine) as conn:
        people.disable(conn, "hr")
    answer = through_platform(portal.client(), HR)
    assert answer.status_code == 403 and "账号已停用" in answer.text
    assert ("sign_in_failed", "hr", 403, f"oidc: disabled (subject {HR})") in failures(portal)


def test_a_tampered_state_is_refused(portal, platform):
    client = portal.client()
    back = choose(authorize(client), HR)
    tampered = back.replace("state=", "state=x")
    answer = client.get(tampered)
    assert answer.status_code == 400 and "登录流程已失效" in answer.text
    assert "gdx_session" not in client.cookies
    assert platform.token_requests == []  # the code was never exchanged
    assert failures(portal)[-1][1:] == ("?", 400, "oidc: state does not match the flow")


def test_a_callback_without_its_flow_is_refused(portal, platform):
    back = choose(authorize(portal.client()), HR)
    answer = portal.client().get(back)  # another browser: no flow cookie
    assert answer.status_code == 400 and "登录流程已失效" in answer.text


def test_an_expired_flow_is_refused(portal, platform, monkeypatch):
    client = portal.client()
    back = choose(authorize(client), HR)
    monkeypatch.setattr(oidc, "FLOW_SECONDS", -1)
    answer = client.get(back)
    assert answer.status_code == 400 and "登录流程已失效" in answer.text
    assert failures(portal)[-1][3] == "oidc: expired or unreadable sign-in flow"


def test_a_flow_sealed_with_another_secret_is_refused(portal, platform, monkeypatch):
    monkeypatch.setenv("GDX_API_SECRET", "one secret")
    client = portal.client()
    back = choose(authorize(client), HR)
    monkeypatch.setenv("GDX_API_SECRET", "another secret")
    assert client.get(back).status_code == 400


def test_the_hub_secret_is_made_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("GDX_API_SECRET", raising=False)
    monkeypatch.setenv("GDX_HOME", str(tmp_path))
    first = secret.hub_secret()
    assert first and secret.hub_secret() == first
    assert (tmp_path / secret.SECRET_FILE).stat().st_mode & 0o777 == 0o600


def test_access_denied_at_the_provider(portal, platform):
    client = portal.client()
    answer = through_platform(client, None)
    assert answer.status_code == 403
    assert "统一身份认证平台未完成登录" in answer.text and "Traceback" not in answer.text
    assert failures(portal)[-1][3] == "oidc: identity platform: access_denied"


def test_a_provider_that_is_down(portal, platform, monkeypatch):
    with serving_platform([]) as gone:
        down = gone.base
    monkeypatch.setenv("GDX_OIDC_ISSUER", down)
    answer = portal.client().get("/portal/oidc/start")
    assert answer.status_code == 503
    assert "统一身份认证平台暂时无法访问" in answer.text


def test_a_token_for_another_client_is_refused(portal, platform, monkeypatch):
    other_id, other_secret = platform.register(CALLBACK)
    client = portal.client()
    back = choose(authorize(client), HR)
    monkeypatch.setenv("GDX_OIDC_CLIENT_ID", other_id)  # the code was issued to the first one
    monkeypatch.setenv("GDX_OIDC_CLIENT_SECRET", other_secret)
    answer = client.get(back)
    assert answer.status_code == 502 and "应答无效" in answer.text
    assert "gdx_session" not in client.cookies


def test_without_an_issuer_there_is_no_single_sign_on(portal, monkeypatch):
    monkeypatch.setenv("GDX_OIDC_ISSUER", "")
    assert portal.client().get("/portal/oidc/start").status_code == 404
    assert "/portal/oidc/start" not in portal.client().get("/portal/sign-in").text


# --- the ID token's checks, one by one ---------------------------------------------------------

ISSUER = "https://idp.example"
SIGNING = RSAKey.generate_key(2048, parameters={"kid": "k1"})
ANOTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def id_token(key=SIGNING, alg: str = "RS256", **changes) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "portal", "sub": "s1", "exp": now + 300, "iat": now}
    claims = {**claims, "nonce": "n1", **changes}
    claims = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode({"alg": alg, "kid": "k1"}, claims, key, algorithms=[alg])


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: id_token(iss="https://other.example"), id="issuer"),
        pytest.param(lambda: id_token(aud="another-client"), id="audience"),
        pytest.param(lambda: id_token(aud=None), id="no audience"),
        pytest.param(lambda: id_token(nonce="replayed"), id="nonce"),
        pytest.param(lambda: id_token(nonce=None), id="no nonce"),
        pytest.param(lambda: id_token(exp=int(time.time()) - 3600), id="expired"),
        pytest.param(lambda: id_token(sub=None), id="no subject"),
        pytest.param(lambda: id_token(key=ANOTHER), id="signed by another key"),
        pytest.param(
            lambda: id_token(key=OctKey.import_key(b"k" * 32), alg="HS256"), id="symmetric"
        ),
        pytest.param(lambda: "not.a.token", id="garbage"),
    ],
)
def test_an_id_token_that_fails_a_check_is_refused(token, monkeypatch):
    keys = KeySet([SIGNING]).as_dict(private=False)
    monkeypatch.setattr(oidc, "_kept_json", lambda uri, fresh=False: keys)
    platform = oidc.Provider(ISSUER, "portal", "")
    document = {"jwks_uri": ISSUER + "/jwks"}
    assert oidc._validated(platform, document, id_token(), "n1")["sub"] == "s1"
    with pytest.raises(oidc.OidcError) as refused:
        oidc._validated(platform, document, token(), "n1")
    assert refused.value.status == 502


# --- in Chromium --------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_single_sign_on_in_the_browser(portal, platform, browser, site, monkeypatch):
    client_id, secret = platform.register(site + "/portal/oidc/callback")
    monkeypatch.setenv("GDX_OIDC_CLIENT_ID", client_id)
    monkeypatch.setenv("GDX_OIDC_CLIENT_SECRET", secret)
    context = browser.new_context(base_url=site, locale="zh-CN")
    allowed = {urlsplit(site).netloc, urlsplit(platform.base).netloc}
    outside: list[str] = []
    problems: list[str] = []

    def only_hub_and_platform(route):
        if urlsplit(route.request.url).netloc in allowed:
            route.continue_()
        else:  # the provider's page asks a CDN for its style sheet
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_hub_and_platform)
    page = context.new_page()
    page.set_default_timeout(15_000)

    def on_console(message):
        if message.type == "error" and page.url.startswith(site):
            problems.append(message.text)

    page.on("console", on_console)
    page.goto("/portal/sign-in")
    page.get_by_role("link", name="统一身份认证登录").click()
    page.get_by_role("heading", name="Authorize Client").wait_for()
    page.get_by_role("button", name=HR).click()
    page.get_by_role("heading", name="您好，人社数据管理员").wait_for()
    assert page.url == site + "/portal/"
    shot(page, "sign-in-oidc")
    context.close()
    assert not problems, problems
    assert all(urlsplit(site).netloc not in url for url in outside)
