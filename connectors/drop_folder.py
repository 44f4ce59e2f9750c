"""A drop folder: every new file in it, each once (by checksum), in order of arrival."""

from __future__ import annotations

from pathlib import Path

from connectors.base import ConnectorError, Opener, file_checksum
from connectors.csv_file import CsvFile


class DropFolder:
    kind = "drop_folder"

    def __init__(
        self, folder: Path | str, pattern: str = "*.csv", encoding: str = "auto",
        block_bytes: int = 16 << 20,
    ):  # fmt: skip
        self.folder = Path(folder)
        self.pattern = pattern
        self.encoding = encoding
        self.block_bytes = block_bytes

    def arrivals(self) -> list[Path]:
        """Matching files, oldest first (modification time, then name)."""
        if not self.folder.is_dir():
            raise ConnectorError(f"{self.folder}: drop folder not found")
        files = [p for p in self.folder.glob(self.pattern) if p.is_file()]
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    def pending(self, state: dict) -> list[Opener]:
        """Openers of the files not yet loaded, oldest first. A file that fails stays pending
        (and is tried again next time) without holding back the files after it."""
        seen = set(state.get("seen", []))
        openers: list[Opener] = []
        for path in self.arrivals():
            if file_checksum(path) not in seen:
                openers.append(_opener(path, self.encoding, self.block_bytes))
        return openers


class DroppedFile(CsvFile):
    """A file of a drop folder: once committed, its checksum joins those loaded before."""

    def next_state(self, current: dict) -> dict:
        seen = [*current.get("seen", []), self.checksum()]
        return {"seen": list(dict.fromkeys(seen)), "last_file": self.location}


def _opener(path: Path, encoding: str, block_bytes: int) -> Opener:
    return lambda: DroppedFile(path, encoding, block_bytes)
