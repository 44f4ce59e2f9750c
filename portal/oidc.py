"""Single sign-on through the province's identity platform (OpenID Connect).

The authorization code flow with PKCE (S256): `begin` makes a flow (state, nonce, code
verifier, where to go next) sealed for a short-lived HttpOnly cookie, and the URL of the
platform's authorization endpoint; `finish` checks the platform's answer against that flow,
exchanges the code with the verifier and validates the ID token (its signature by the
platform's published keys, iss, aud, exp, iat, nonce). What the platform says about the
endpoints (its discovery document) and its keys is fetched with httpx and kept for an hour.

Every failure is an `OidcError` with the status of the page to show and the reason to record:
the routes never let one become a 500.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.fernet import Fernet, InvalidToken
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from runtime import settings
from warehouse.secret import hub_secret

FLOW_SECONDS = 600  # from the start to the platform's answer
KEEP_SECONDS = 3600  # discovery documents and key sets
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
LEEWAY = 60  # seconds of clock difference allowed on exp / iat
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
_kept: dict[str, tuple[float, Any]] = {}
_lock = threading.Lock()


class OidcError(Exception):
    """The sign-in through the platform did not work: `status` for the page, `reason` for the
    audit log, `message` for the person."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    client_secret: str


@dataclass(frozen=True)
class Identity:
    """Who the platform says signed in."""

    subject: str
    username: str | None
    name: str | None


def provider() -> Provider | None:
    """The configured identity platform, or None when the portal has passwords only."""
    issuer = settings.get("GDX_OIDC_ISSUER").strip()
    client_id = settings.get("GDX_OIDC_CLIENT_ID").strip()
    if not issuer or not client_id:
        return None
    return Provider(issuer.rstrip("/"), client_id, settings.get("GDX_OIDC_CLIENT_SECRET"))


# --- the flow, sealed in a cookie ---------------------------------------------------------------


def _fernet() -> Fernet:
    secret = hub_secret()
    digest = hashlib.sha256(("portal-oidc-flow\n" + secret).encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def begin(platform: Provider, redirect_uri: str, next_page: str) -> tuple[str, str]:
    """The authorization URL to send the person to, and the sealed flow for the cookie."""
    endpoint = _discovery(platform.issuer).get("authorization_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
        raise OidcError(502, "discovery without authorization_endpoint", _BAD_ANSWER)
    flow = {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),  # 64 characters (RFC 7636: 43-128)
        "next": next_page,
        "redirect_uri": redirect_uri,
    }
    query = {
        "response_type": "code",
        "client_id": platform.client_id,
        "redirect_uri": redirect_uri,
        "scope": "openid profile",
        "state": flow["state"],
        "nonce": flow["nonce"],
        "code_challenge": create_s256_code_challenge(flow["verifier"]),
        "code_challenge_method": "S256",
    }
    joiner = "&" if "?" in endpoint else "?"
    sealed = _fernet().encrypt(json.dumps(flow).encode("utf-8")).decode("ascii")
    return endpoint + joiner + urlencode(query), sealed


def flow_of(sealed: str | None) -> dict[str, str]:
    """The flow of the cookie; an OidcError when there is none or it is older than 10 minutes."""
    if not sealed:
        raise OidcError(400, "no sign-in flow", _NO_FLOW)
    try:
        return json.loads(_fernet().decrypt(sealed.encode("ascii"), ttl=FLOW_SECONDS))
    except (InvalidToken, ValueError, UnicodeError):
        raise OidcError(400, "expired or unreadable sign-in flow", _NO_FLOW) from None


def finish(platform: Provider, sealed: str | None, answer: dict[str, str]) -> tuple[Identity, str]:
    """Check the platform's answer (the callback's query) against the sealed flow: who signed
    in, and the page to go to next."""
    if answer.get("error"):
        error = answer["error"][:100]
        raise OidcError(
            403 if error == "access_denied" else 400,
            "identity platform: " + error,
            "统一身份认证平台未完成登录（" + error + "）。 The identity platform did not sign "
            "you in" + (": access was denied." if error == "access_denied" else f" ({error})."),
        )
    flow = flow_of(sealed)
    state = answer.get("state") or ""
    if not secrets.compare_digest(state.encode(), flow.get("state", "").encode()):
        raise OidcError(400, "state does not match the flow", _NO_FLOW)
    code = answer.get("code")
    if not code:
        raise OidcError(400, "callback without a code", _BAD_ANSWER)
    document = _discovery(platform.issuer)
    tokens = _exchange(platform, document, code, flow)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError(502, "token response without id_token", _BAD_ANSWER)
    claims = _validated(platform, document, id_token, flow["nonce"])
    username = claims.get("preferred_username")
    name = claims.get("name")
    found = Identity(
        str(claims["sub"]),
        username.strip().lower() if isinstance(username, str) else None,
        name if isinstance(name, str) else None,
    )
    return found, flow.get("next") or "/portal/"


# --- talking to the platform --------------------------------------------------------------------

_DOWN = (
    "统一身份认证平台暂时无法访问，请稍后再试或使用密码登录。 The identity platform cannot be "
    "reached: try again later, or sign in with your password."
)
_BAD_ANSWER = (
    "统一身份认证平台的应答无效，未能登录。 The identity platform's answer could not be "
    "accepted: you are not signed in."
)
_NO_FLOW = (
    "登录流程已失效，请重新开始。 This sign-in has expired or did not start here: start it "
    "again from the sign-in page."
)


def _get_json(url: str) -> dict[str, Any]:
    try:
        response = httpx.get(url, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise OidcError(
            503, f"identity platform unreachable: {type(exc).__name__}", _DOWN
        ) from None
    if response.status_code != 200:
        raise OidcError(503, f"identity platform: {response.status_code} from {url}", _DOWN)
    try:
        found = response.json()
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise OidcError(502, f"identity platform: no JSON object at {url}", _BAD_ANSWER)
    return found


def _kept_json(url: str, fresh: bool = False) -> dict[str, Any]:
    with _lock:
        kept = _kept.get(url)
    if kept and not fresh and time.monotonic() - kept[0] < KEEP_SECONDS:
        return kept[1]
    found = _get_json(url)
    with _lock:
        _kept[url] = (time.monotonic(), found)
    return found


def _discovery(issuer: str) -> dict[str, Any]:
    document = _kept_json(issuer + "/.well-known/openid-configuration")
    if document.get("issuer") != issuer:
        raise OidcError(502, "discovery document of another issuer", _BAD_ANSWER)
    return document


def forget() -> None:
    """Drop the kept discovery documents and keys (tests; a platform that changed)."""
    with _lock:
        _kept.clear()


def _exchange(
    platform: Provider, document: dict[str, Any], code: str, flow: dict[str, str]
) -> dict[str, Any]:
    endpoint = document.get("token_endpoint")
    if not isinstance(endpoint, str):
        raise OidcError(502, "discovery without token_endpoint", _BAD_ANSWER)
    body = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flow["redirect_uri"],
        "code_verifier": flow["verifier"],
    }
    headers = {"Accept": "application/json"}
    if platform.client_secret:  # client_secret_basic (RFC 6749 2.3.1: each part form-encoded)
        pair = f"{quote(platform.client_id, safe='')}:{quote(platform.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        body["client_id"] = platform.client_id
    try:
        response = httpx.post(endpoint, data=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise OidcError(
            503, f"identity platform unreachable: {type(exc).__name__}", _DOWN
        ) from None
    try:
        found = response.json()
    except ValueError:
        found = {}
    if response.status_code != 200 or not isinstance(found, dict):
        error = found.get("error") if isinstance(found, dict) else None
        reason = f"token endpoint: {response.status_code} {str(error or '')[:100]}".strip()
        raise OidcError(502, reason, _BAD_ANSWER)
    return found


def _validated(
    platform: Provider, document: dict[str, Any], id_token: str, nonce: str
) -> dict[str, Any]:
    uri = document.get("jwks_uri")
    if not isinstance(uri, str):
        raise OidcError(502, "discovery without jwks_uri", _BAD_ANSWER)
    try:
        token = _decoded(id_token, _kept_json(uri))
    except (JoseError, ValueError):
        # the platform may have rolled its keys over: ask once more before refusing
        try:
            token = _decoded(id_token, _kept_json(uri, fresh=True))
        except (JoseError, ValueError) as exc:
            reason = f"id_token signature: {type(exc).__name__}"
            raise OidcError(502, reason, _BAD_ANSWER) from None
    wanted = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": platform.issuer},
        aud={"essential": True, "value": platform.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        wanted.validate(token.claims)
    except JoseError as exc:
        raise OidcError(502, f"id_token claims: {exc}"[:200], _BAD_ANSWER) from None
    if not isinstance(token.claims.get("sub"), str) or not token.claims["sub"]:
        raise OidcError(502, "id_token without a subject", _BAD_ANSWER)
    return token.claims


def _decoded(id_token: str, keys: dict[str, Any]) -> jwt.Token:
    return jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=ALGORITHMS)
