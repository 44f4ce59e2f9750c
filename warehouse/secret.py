"""The hub's secret (GDX_API_SECRET), for what it seals: the API's paging cursors and the
portal's sign-in flows. Empty setting: one generated once into GDX_HOME/api_secret (mode 600),
shared by every worker of one GDX_HOME.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet

from runtime import settings

SECRET_FILE = "api_secret"


def hub_secret() -> str:
    return settings.get("GDX_API_SECRET") or kept_in(str(settings.home()))


def kept_in(home: str) -> str:
    """The secret kept in the folder `home` (created once, mode 600)."""
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
