"""Opaque paging cursors: the last key of a page, encrypted and authenticated, so a cursor
neither shows a masked key nor lets a caller probe the key order with keys of its own."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from runtime import settings
from warehouse.secret import kept_in


@lru_cache(maxsize=4)
def _fernet(secret: str, home: str) -> Fernet:
    if not secret:
        secret = kept_in(home)
    key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode("utf-8")).digest())
    return Fernet(key)


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
