"""Opaque paging cursors: the last key of a page, encrypted and authenticated, so a cursor
neither shows a masked key nor lets a caller probe the key order with keys of its own."""

from __future__ import annotations

import base64
import hashlib
import os
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from warehouse import settings

SECRET_FILE = "api_secret"


@lru_cache(maxsize=4)
def _fernet(secret: str, home: str) -> Fernet:
    if not secret:
        secret = _secret_file(home)
    key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode("utf-8")).digest())
    return Fernet(key)


def _secret_file(home: str) -> str:
    """The secret kept in GDX_HOME (created once, mode 600), shared by every worker."""
    path = os.path.join(home, SECRET_FILE)
    os.makedirs(home, exist_ok=True)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, encoding="ascii") as existing:
            return existing.read().strip()
    with os.fdopen(handle, "w", encoding="ascii") as new:
        secret = Fernet.generate_key().decode("ascii")
        new.write(secret)
    return secret


def _current() -> Fernet:
    return _fernet(settings.get("GDX_API_SECRET"), str(settings.home()))


def seal(scope: str, key: str) -> str:
    """A cursor for `key` that only opens for the same `scope` (the resource and filters)."""
    return _current().encrypt(f"{scope}\n{key}".encode()).decode("ascii")


def unseal(scope: str, token: str) -> str | None:
    """The key inside a cursor of this scope, or None when it is not one."""
    try:
        text = _current().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError):
        return None
    found_scope, _, key = text.partition("\n")
    return key if found_scope == scope else None
