"""The Airflow home of a deployment: any folder, its airflow.cfg holding the hub's settings.

AIRFLOW_HOME defaults to GDX_HOME/airflow, so that a deployment is one folder. `prepare` makes
any Airflow home ready for the hub: a home without airflow.cfg first gets the one Airflow itself
writes on its first run (every default, a fresh Fernet key), then the hub's settings
(gdx/airflow/settings.cfg) are set in it line by line. Every other line (the user's settings,
comments) stays as it was; an existing file that changes is kept as airflow.cfg.bak first.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gdx.errors import GdxError

PACKAGE = Path(__file__).resolve().parent
DAGS_FOLDER = PACKAGE / "dags"
SETTINGS_TEMPLATE = PACKAGE / "settings.cfg"

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def home(gdx_home: Path, env: Mapping[str, str]) -> Path:
    """AIRFLOW_HOME as set (made absolute), else GDX_HOME/airflow."""
    value = env.get("AIRFLOW_HOME") or str(gdx_home / "airflow")
    return Path(value).expanduser().resolve()


def config_file(env: Mapping[str, str]) -> Path:
    """Where Airflow reads its settings: AIRFLOW_CONFIG, else AIRFLOW_HOME/airflow.cfg."""
    if value := env.get("AIRFLOW_CONFIG"):
        return Path(value).expanduser().resolve()
    return Path(env["AIRFLOW_HOME"], "airflow.cfg")


def hub_settings(gdx_home: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of every setting of the template, its paths filled in."""
    template = configparser.ConfigParser(interpolation=None)
    template.read(SETTINGS_TEMPLATE, encoding="utf-8")
    paths = {
        "{GDX_HOME}": _path_value(gdx_home),
        # in a database URL the path is percent-encoded: SQLAlchemy decodes %xx in it, and a
        # ? or # would start the URL's query or fragment
        "{GDX_HOME_URL}": _path_value(gdx_home, urllib.parse.quote(str(gdx_home), safe="/")),
        "{DAGS_FOLDER}": _path_value(DAGS_FOLDER),
    }
    settings = []
    for section in template.sections():
        for key, value in template.items(section):
            for placeholder, path in paths.items():
                value = value.replace(placeholder, path)
            settings.append((section, key, value))
    return settings


def _path_value(path: Path, text: str | None = None) -> str:
    """A path (or `text` made of it) as an airflow.cfg value: Airflow interpolates % and expands
    $ and newlines end the value, so a % is doubled and a $ or a line break is refused."""
    if any(char in str(path) for char in "$\n\r"):
        raise GdxError(f"{str(path)!r}: a path for Airflow may hold no $ and no line break")
    return (str(path) if text is None else text).replace("%", "%%")


@dataclass
class Prepared:
    """What `prepare` did to an Airflow home's settings file."""

    path: Path
    created: bool = False
    changed: list[str] = field(default_factory=list)
    backup: Path | None = None

    def describe(self) -> str:
        if self.created:
            return f"{self.path} written (Airflow's defaults and the hub's settings)"
        if not self.changed:
            return f"{self.path} has the hub's settings"
        return (
            f"{self.path}: set {', '.join(self.changed)} "
            f"(the file as it was is kept in {self.backup.name})"
        )


def prepare(env: Mapping[str, str], gdx_home: Path) -> Prepared:
    """Make the Airflow home of `env` ready for the hub (idempotent)."""
    path = config_file(env)
    created = not path.exists()
    settings = hub_settings(gdx_home)
    if created:
        _write_airflow_defaults(env, path, settings)
    try:
        text = path.read_text(encoding="utf-8")
        _check_parses(path, text)
    except (OSError, UnicodeDecodeError) as exc:
        raise GdxError(f"{path}: cannot read it ({exc})") from None
    new_text, changed = set_options(text, settings)
    result = Prepared(path, created, [] if created else changed)
    if changed:
        if not created:
            result.backup = path.with_name(path.name + ".bak")
            _write_private(result.backup, text)
        _write_private(path, new_text)
    return result


def _write_airflow_defaults(
    env: Mapping[str, str], path: Path, settings: list[tuple[str, str, str]]
) -> None:
    """Let Airflow write its first-run airflow.cfg, as any `airflow` command would.

    The hub's settings go along as AIRFLOW__ variables (read without % interpolation): with a
    % in AIRFLOW_HOME, Airflow cannot fill its own default metadata DB URL and would refuse."""
    hub = {
        f"AIRFLOW__{section.upper()}__{key.upper()}": value.replace("%%", "%")
        for section, key, value in settings
    }
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "config", "get-value", "core", "executor"],
        env=hub | dict(env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0 or not path.is_file():
        lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
        last = (lines or ["no output"])[-1].strip()[:300]
        raise GdxError(f"Airflow did not write {path}: {last}")


def _check_parses(path: Path, text: str) -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise GdxError(f"{path}: not an Airflow settings file ({first})") from None


def set_options(text: str, settings: list[tuple[str, str, str]]) -> tuple[str, list[str]]:
    """`text` with each (section, key, value) set: the key's line replaced (continuation lines
    with it), else added at the end of its section, else in a new section at the end. Returns
    the new text and the "[section] key" of each setting that changed."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    changed = []
    for section, key, value in settings:
        if _set(lines, section, key, value):
            changed.append(f"[{section}] {key}")
    return "".join(lines), changed


def _set(lines: list[str], section: str, key: str, value: str) -> bool:
    """Set one option in `lines` (in place); False when it already had that value."""
    wanted = f"{key} = {value}\n"
    start, end = None, len(lines)
    for number, line in enumerate(lines):
        match = _SECTION.match(line)
        if match and start is not None:
            end = number
            break
        if match and match.group(1).strip() == section:
            start = number + 1
    if start is None:
        lines.extend([*(["\n"] if lines else []), f"[{section}]\n", wanted])
        return True
    option = re.compile(rf"{re.escape(key)}\s*[=:](.*)$", re.IGNORECASE | re.DOTALL)
    for number in range(start, end):
        match = option.match(lines[number])
        if not match:
            continue
        stop = number + 1
        while stop < end and lines[stop].strip() and lines[stop][0] in " \t":
            stop += 1
        if stop == number + 1 and match.group(1).strip() == value:
            return False
        lines[number:stop] = [wanted]
        return True
    last = end
    while last > start and not lines[last - 1].strip():
        last -= 1
    lines.insert(last, wanted)
    return True


def _write_private(path: Path, text: str) -> None:
    """Write `text` whole (a temporary file renamed into place), readable by the owner only:
    an airflow.cfg holds the Fernet key and the JWT secret."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
