"""The Home of the Data Docs (`index.html` at their root) and a page per resource, made from the
facts each batch keeps beside its pages (`batch.json`): every resource with its latest batches
on the Home, every batch of a resource on the resource's page, newest first.

A batch refreshes its resource's page and the Home when it writes its own pages; `rebuild`
makes them all again from the folders (`gdx quality docs`)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from quality import docs_pages
from quality.data_docs import RECORD, Batch

HOME_BATCHES = 20  # the latest batches of each resource on the Home; its page has all of them
INDEX = "index.html"


@dataclass
class Site:
    """What a rebuild found."""

    home: Path
    resources: int = 0
    batches: int = 0
    unreadable: list[Path] = field(default_factory=list)  # batch records that do not parse


def refresh(root: Path, resource: str) -> Path:
    """Write `resource`'s page and the Home again (after a batch of it wrote its pages)."""
    with _locked(root):
        _resource_page(root, resource, [])
        return _home(root, [])


def rebuild(root: Path) -> Site:
    """Write every resource's page and the Home again from the batch folders under `root`."""
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        unreadable: list[Path] = []
        codes = _resources(root)
        batches = sum(_resource_page(root, code, unreadable) for code in codes)
        home = _home(root, unreadable)
        return Site(home, len(codes), batches, sorted(set(unreadable)))


def _resources(root: Path) -> list[str]:
    return sorted(
        entry.name
        for entry in os.scandir(root)
        if entry.is_dir() and not entry.name.startswith(".") and any(_folders(root / entry.name))
    )


def _folders(folder: Path) -> Iterator[Path]:
    """The batch folders of a resource that hold a batch record, newest first (batch ids sort
    by their start)."""
    names = sorted((e.name for e in os.scandir(folder) if e.is_dir()), reverse=True)
    return (folder / name for name in names if (folder / name / RECORD).is_file())


def _read(folders: Iterator[Path], unreadable: list[Path], limit: int | None = None) -> list:
    """(folder name, batch) of each readable record, up to `limit`."""
    found = []
    for folder in folders:
        if limit is not None and len(found) >= limit:
            break
        try:
            batch = Batch.from_json((folder / RECORD).read_text(encoding="utf-8"))
            batch.result  # noqa: B018 - a record that parses but lacks a fact is unreadable too
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            unreadable.append(folder / RECORD)
            continue
        found.append((folder.name, batch))
    return found


def _resource_page(root: Path, code: str, unreadable: list[Path]) -> int:
    rows = [
        (docs_pages.href(name, INDEX), batch)
        for name, batch in _read(_folders(root / code), unreadable)
    ]
    if not rows:
        return 0
    latest = rows[0][1]
    text = docs_pages.render(
        "resource.html", code=code, name_zh=latest.name_zh, name_en=latest.name_en, rows=rows
    )
    docs_pages.write(root / code / INDEX, text)
    return len(rows)


def _home(root: Path, unreadable: list[Path]) -> Path:
    """The Home; the page of a resource it links to is written when missing."""
    resources = []
    for code in _resources(root):
        latest = _read(_folders(root / code), unreadable, HOME_BATCHES)
        if not latest:
            continue
        if not (root / code / INDEX).is_file():
            _resource_page(root, code, unreadable)
        first = latest[0][1]
        resources.append(
            {
                "code": code,
                "name_zh": first.name_zh,
                "name_en": first.name_en,
                "count": sum(1 for _ in _folders(root / code)),
                "page": docs_pages.href(code, INDEX),
                "latest": [(docs_pages.href(code, name, INDEX), batch) for name, batch in latest],
            }
        )
    home = root / INDEX
    docs_pages.write(home, docs_pages.render("home.html", resources=resources))
    return home


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One writer of the Home at a time: batches of different resources end at once."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
