"""The contract every connector kind meets (STYLE.md §2): one suite, a subclass per kind.

A subclass says how to make its source from rows, how to add rows, and how to break it; the
suite checks that the connector reads everything as strings, keeps keys unique, resumes from its
state without loss or repetition, and fails with a ConnectorError naming the source.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from connectors import ConnectorError
from connectors.base import Opener


def people(start: int, count: int) -> list[dict]:
    """Rows with a unique key and an increasing `updated_at`."""
    base = dt.datetime(2026, 1, 1, 8, 0, 0)
    return [
        {
            "id_number": f"ID{n:06d}",
            "name": f"人{n}",
            "birth_date": "1990-01-02",
            "updated_at": (base + dt.timedelta(minutes=n)).isoformat(sep=" "),
        }
        for n in range(start, start + count)
    ]


class ConnectorContract:
    """Subclasses implement `make`, `add` and `break_source`; `pending(state)` opens deliveries."""

    rows = 1200  # more than one page or block everywhere

    def make(self, tmp_path, rows: list[dict]) -> None:
        raise NotImplementedError

    def add(self, rows: list[dict]) -> None:
        raise NotImplementedError

    def break_source(self) -> None:
        raise NotImplementedError

    def pending(self, state: dict) -> list[Opener]:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _source(self, tmp_path):
        self.tmp_path = tmp_path
        self.make(tmp_path, people(0, self.rows))
        yield

    def read(self, state: dict) -> tuple[list[dict], dict]:
        """Every row of every pending delivery, and the state after the last one."""
        rows: list[dict] = []
        for opener in self.pending(state):
            delivery = opener()
            for batch in delivery.batches():
                assert all(pa.types.is_string(t) for t in batch.table.schema.types)
                assert len(batch.lines) == batch.table.num_rows
                rows += batch.table.to_pylist()
            state = delivery.next_state(state)
        return rows, state

    def test_reads_everything_as_strings(self):
        rows, _ = self.read({})
        assert len(rows) == self.rows
        assert rows[0]["id_number"] == "ID000000" and rows[0]["name"] == "人0"
        assert {"id_number", "name", "birth_date", "updated_at"} <= set(rows[0])

    def test_keys_are_unique(self):
        rows, _ = self.read({})
        keys = [row["id_number"] for row in rows]
        assert len(set(keys)) == len(keys)

    def test_resumes_from_state(self):
        _, state = self.read({})
        again, state = self.read(state)
        assert again == []
        self.add(people(self.rows, 25))
        new, _ = self.read(state)
        assert [row["id_number"] for row in new] == [
            f"ID{n:06d}" for n in range(self.rows, self.rows + 25)
        ]

    def test_a_broken_source_raises_a_connector_error(self):
        self.break_source()
        with pytest.raises(ConnectorError) as caught:
            self.read({})
        assert "\n" not in str(caught.value)
