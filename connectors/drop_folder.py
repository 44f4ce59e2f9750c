"""A drop folder: every new file in it, each once (by checksum), in order of arrival."""

from __future__ import annotations

from pathlib import Path

from connectors.base import ConnectorError, Opener
from connectors.csv_file import CsvFile, file_checksum


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
        """Openers of the files not yet loaded; each carries the state after it."""
        seen = list(state.get("seen", []))
        openers: list[Opener] = []
        for path in self.arrivals():
            checksum = file_checksum(path)
            if checksum in seen:
                continue
            seen = [*seen, checksum]
            openers.append(_opener(path, self.encoding, self.block_bytes, list(seen)))
        return openers


class DroppedFile(CsvFile):
    """A file of a drop folder: its state is every checksum loaded so far, itself included."""

    def __init__(self, path: Path, encoding: str, block_bytes: int, seen: list[str]):
        super().__init__(path, encoding, block_bytes)
        self.seen = seen

    def next_state(self) -> dict:
        return {"seen": self.seen, "last_file": self.location}


def _opener(path: Path, encoding: str, block_bytes: int, seen: list[str]) -> Opener:
    return lambda: DroppedFile(path, encoding, block_bytes, seen)
