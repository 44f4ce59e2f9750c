"""A source's scope (catalog_schema Source.scope): the rows it may write, by the values of a
field. Vectorised: one pass per scoped field over a normalised table."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

RULE = "source_scope"


def rule_id(field: str) -> str:
    return f"{field}.{RULE}"


def outside(table: pa.Table, scope: Mapping[str, frozenset[str]]) -> dict[str, np.ndarray]:
    """{rule id: rows whose value of the field is none of the scope's values} (a missing value
    is outside too: the source cannot say whose record it is)."""
    found = {}
    for field, values in scope.items():
        if field not in table.column_names:
            found[rule_id(field)] = np.ones(table.num_rows, dtype=bool)
            continue
        inside = pc.is_in(table.column(field), value_set=pa.array(sorted(values), pa.string()))
        found[rule_id(field)] = ~inside.fill_null(False).to_numpy(zero_copy_only=False)
    return found


def rules_of(found: dict[str, np.ndarray], rows: np.ndarray) -> list[list[str]]:
    """The scope rules each of these rows broke."""
    return [[rule for rule, mask in found.items() if mask[row]] for row in rows]
