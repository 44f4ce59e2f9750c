"""Arrow rows into a PostgreSQL table by binary COPY: pgpq encodes them, psycopg2 sends them.

Binary COPY skips PostgreSQL's parsing of text (and Arrow's writing of CSV): 1,008,570 staged
people rows go into the staging table in 1.2 s instead of 1.8 s (bench/copy-formats.txt), and a
first load's main thread spends 1.4-1.6 s in staging.append instead of 2.3 s. The whole load is
no faster on 2 cores (24 s either way, within its noise): the batch judges its next block in
another thread meanwhile, and pgpq holds the GIL while it encodes (0.3 s a million rows).
In binary COPY each value must be in the binary form of its column's type, so each Arrow
column is first cast to the Arrow type whose encoding is that form (`arrow_type`): text for
text columns, date32 for dates, decimal128(p, s) for numeric(p, s), int64/int32/int16 for
bigint/integer/smallint, timestamps in microseconds (UTC for `timestamp with time zone`),
booleans.

`encodable` returns None when a column cannot be cast so: a column type not listed, a source
type that is not a lossless match (a naive timestamp for a column with a time zone), or a value
that Arrow's strict cast refuses where PostgreSQL's text input may take it ("2024/01/02",
" 12", "NaN", a fifth decimal to round). The caller then COPYs the rows as text, where
PostgreSQL parses (or refuses) every value as it always did: the binary path never changes
what is stored, only how fast.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from pgpq import ArrowToPostgresBinaryEncoder

_STRINGS = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
#: the first day PostgreSQL's text input takes (Arrow's ISO parser takes year 0 too)
_FIRST_DAY = dt.date(1, 1, 1)


def arrow_type(column_type: sa.types.TypeEngine) -> pa.DataType | None:
    """The Arrow type pgpq encodes as `column_type`'s binary form; None: not covered."""
    t = column_type
    if isinstance(t, sa.Boolean):
        return pa.bool_()
    if isinstance(t, sa.BigInteger):
        return pa.int64()
    if isinstance(t, sa.SmallInteger):
        return pa.int16()
    if isinstance(t, sa.Integer):
        return pa.int32()
    if isinstance(t, sa.DateTime):
        return pa.timestamp("us", "UTC" if t.timezone else None)
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Numeric) and not isinstance(t, sa.Float):
        if t.precision is None or t.scale is None or t.precision > 38:
            return None  # an unconstrained numeric keeps whatever scale it is given
        return pa.decimal128(t.precision, t.scale)
    if isinstance(t, sa.String) and not isinstance(t, sa.Enum):
        return pa.string()
    return None


def _is_string(source: pa.DataType) -> bool:
    return any(test(source) for test in _STRINGS)


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    """Whether a strict cast from `source` to `target` gives what text COPY would store."""
    if pa.types.is_string(target):
        return False  # strings are taken as they are (below); anything else is text's business
    if pa.types.is_integer(target):
        return pa.types.is_integer(source)
    if pa.types.is_decimal(target):
        return pa.types.is_decimal(source) or pa.types.is_integer(source) or _is_string(source)
    if pa.types.is_date32(target):
        return pa.types.is_date(source) or _is_string(source)
    if pa.types.is_timestamp(target):
        return pa.types.is_timestamp(source) and (source.tz is None) == (target.tz is None)
    return False


def _column(values: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray | None:
    source = values.type
    if pa.types.is_dictionary(source):
        values, source = values.cast(source.value_type), source.value_type
    if source == target or (pa.types.is_string(target) and _is_string(source)):
        return values
    if pa.types.is_null(source):
        return pa.chunked_array([pa.nulls(len(values), target)])
    if not _castable(source, target):
        return None
    try:
        cast = pc.cast(values, target)  # safe: overflow, lost digits or a bad string raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if pa.types.is_date32(target) and _is_string(source):
        if pc.any(pc.less(cast, pa.scalar(_FIRST_DAY, pa.date32()))).as_py():
            return None
    return cast


def encodable(rows: pa.Table, table: sa.Table) -> pa.Table | None:
    """`rows` (columns named as `table`'s) cast for binary COPY into `table`; None when some
    column cannot be (see the module's docstring)."""
    columns = []
    for name in rows.column_names:
        target = arrow_type(table.c[name].type)
        column = None if target is None else _column(rows.column(name), target)
        if column is None:
            return None
        columns.append(column)
    return pa.table(columns, names=rows.column_names)


def encode(rows: pa.Table) -> bytes:
    """`rows` in PostgreSQL's binary COPY format, header and trailer included."""
    encoder = ArrowToPostgresBinaryEncoder(rows.schema)
    out = io.BytesIO()
    out.write(encoder.write_header())
    for batch in rows.to_batches():
        out.write(encoder.write_batch(batch))
    out.write(encoder.finish())
    return out.getvalue()


def copy(cursor: Any, table: sa.Table, rows: pa.Table) -> bool:
    """COPY `rows` into `table` in binary through `cursor` (psycopg2's, in its connection's
    transaction); False, having sent nothing, when they are not `encodable`."""
    cast = encodable(rows, table)
    if cast is None:
        return False
    data = encode(cast)
    quoted = ", ".join(f'"{name}"' for name in cast.column_names)
    statement = f'COPY "{table.name}" ({quoted}) FROM STDIN WITH (FORMAT binary)'
    # read whole: psycopg2 takes the GIL back for every read (see staging.append)
    cursor.copy_expert(statement, io.BytesIO(data), size=max(len(data), 8192))
    return True
