"""Portal passwords: scrypt hashes (memory-hard, 16 MiB a try), checked in constant time."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # 16 MiB and ~50 ms a try on this kind of machine


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    derived = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(derived)}"


def password_matches(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from (in constant time)."""
    try:
        kind, n, r, p, salt, expected = (stored or "").split("$")
        if kind != "scrypt":
            return False
        derived = hashlib.scrypt(
            password.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(expected)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, _unb64(expected))


@functools.cache
def decoy() -> str:
    """A hash to check unknown names against: the same work, the same time."""
    return hash_password(secrets.token_urlsafe(16))


def check_password(password: str) -> str:
    """`password` if it is long enough (and not absurdly long); else ValueError."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password: at least {MIN_PASSWORD} characters, got {len(password)}")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"password: at most {MAX_PASSWORD} characters")
    return password


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
