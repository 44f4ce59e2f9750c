"""Write a file the user named, only as asked: a new path, or (with `force`) a regular file
they may write. Never a device, a directory, a fifo or a link; never a read-only file. The text
goes to a temporary file beside the target and is renamed into place, so a failed write
leaves no half file and whatever was there before."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from gdx.errors import GdxError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a fifo"),
    (stat.S_ISSOCK, "a socket"),
)


class OutputRefused(GdxError):
    """The named path is not one to write (or replace without being asked to)."""


def check(path: Path, force: bool) -> os.stat_result | None:
    """The existing file `force` allows to replace, None for a new path; else OutputRefused."""
    try:
        info = path.lstat()  # the link itself, never what it points to
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise OutputRefused(
            f"{path}: is a symbolic link; nothing is written through a link (name a new file)"
        )
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise OutputRefused(f"{path}: is {kind}; only a new file or a regular file is written")
    if not force:
        raise OutputRefused(f"{path}: already exists; --force replaces it")
    if not info.st_mode & 0o222 or not os.access(path, os.W_OK):
        # read-only to everyone (root too: someone protected it) or to this user
        raise OutputRefused(f"{path}: is read-only; not replaced, even with --force")
    return info


@contextmanager
def replacing(path: Path, force: bool, encoding: str, newline: str = "") -> Iterator[IO[str]]:
    """A text handle whose content becomes `path` once the block ends without an error."""
    path = Path(path)
    before = check(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    partial = Path(name)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as handle:
            yield handle
        os.chmod(partial, stat.S_IMODE(before.st_mode) if before else _new_file_mode())
        _put(partial, path, before)
    finally:
        partial.unlink(missing_ok=True)


def _put(partial: Path, path: Path, before: os.stat_result | None) -> None:
    """Rename into place, unless the path changed since it was checked."""
    if before is None:
        try:
            os.link(partial, path)  # atomic: fails if anything appeared at the path meanwhile
        except FileExistsError:
            raise OutputRefused(f"{path}: appeared while it was written; left alone") from None
        except OSError:  # a file system without hard links
            if os.path.lexists(path):
                raise OutputRefused(f"{path}: appeared while it was written; left alone") from None
            os.replace(partial, path)
        return
    try:
        now = path.lstat()
    except FileNotFoundError:
        now = None
    if now is None or (now.st_dev, now.st_ino, now.st_mode) != (
        before.st_dev,
        before.st_ino,
        before.st_mode,
    ):
        raise OutputRefused(f"{path}: changed while it was written; left alone")
    os.replace(partial, path)


def _new_file_mode() -> int:
    """What open() would give a new file: 0o666 less the process's umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
