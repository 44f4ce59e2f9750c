"""A source's scope (catalog_schema Source.scope): the rows it may write, by the values of a
field, exact (`RT01`) or a prefix (`RT01-*`, `9*`: a key that carries its issuer). Vectorised:
one pass per scoped field over a normalised table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog_schema.scope import rule_id, split


def outside(table: pa.Table, scope: Mapping[str, Iterable[str]]) -> dict[str, np.ndarray]:
    """{rule id: rows whose value of the field matches none of the scope's values} (a missing
    value or column is outside too: the source cannot say whose record it is)."""
    found = {}
    for field, values in scope.items():
        if field not in table.column_names:
            found[rule_id(field)] = np.ones(table.num_rows, dtype=bool)
            continue
        column = table.column(field)
        exact, prefixes = split(values)
        inside = pc.is_in(column, value_set=pa.array(exact, pa.string()))
        for prefix in prefixes:
            inside = pc.or_(inside, pc.starts_with(column, prefix))
        found[rule_id(field)] = ~inside.fill_null(False).to_numpy(zero_copy_only=False)
    return found


def rules_of(found: dict[str, np.ndarray], rows: np.ndarray) -> list[list[str]]:
    """The scope rules each of these rows broke."""
    return [[rule for rule, mask in found.items() if mask[row]] for row in rows]
