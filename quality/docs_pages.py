"""How the Data Docs pages are made: Jinja2 templates with autoescape (every value from the data
is text, never markup), one small inline style sheet, nothing loaded from another host, and files
replaced whole (a reader never opens half a page)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).with_name("data_docs_templates")

RESULTS = {  # result -> (zh, en), as the pages name a batch's or a block's outcome
    "passed": ("全部通过", "all passed"),
    "warned": ("有警告", "warnings"),
    "rejected": ("有拒收行", "rows rejected"),
    "batch_rejected": ("整批拒收，未入库", "batch rejected, nothing loaded"),
    "failed": ("批次失败，未入库", "batch failed, nothing loaded"),
    "interrupted": ("批次中断，未入库", "batch interrupted, nothing loaded"),
}
SEVERITIES = {"reject": ("拒收", "reject"), "warn": ("仅警告", "warn only")}

_environment: Environment | None = None


def environment() -> Environment:
    global _environment
    if _environment is None:
        _environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _environment.globals["href"] = href
        _environment.globals.update(RESULTS=RESULTS, SEVERITIES=SEVERITIES)
    return _environment


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def href(*parts: str) -> str:
    """A relative link to a file of the Data Docs: each part percent-encoded, so that no name
    reads as another host or a scheme."""
    return "/".join(quote(part, safe="") for part in parts)


def write(path: Path, text: str) -> None:
    """Replace `path` whole: written beside it, then renamed over it."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(name, 0o666 & ~_umask())  # as open() would have made it
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
