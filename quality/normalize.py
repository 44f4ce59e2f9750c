"""Normalisation before validation: one pass per column, chosen by the field's declaration."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from catalog_schema import FieldSpec, Resource
from quality import citizen_id, uscc
from quality.text import fill_false
from quality.vocab import ETHNIC_GROUPS

_DATE = r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?$"
_COMPACT_DATE = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"
_EXCEL_SERIAL = r"^[1-9]\d{4}(\.0+)?$"


def trim(values: pa.Array) -> pa.Array:
    """Control characters (NUL …) removed, surrounding blanks (the ideographic space too)
    trimmed; empty strings become null."""
    values = pc.replace_substring_regex(
        values.cast(pa.string()), r"[\x00-\x08\x0b\x0c\x0e-\x1f]", ""
    )
    values = pc.utf8_trim(values, " \t\r\n\u3000\ufeff\xa0")
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def iso_dates(values: pa.Array) -> pa.Array:
    """Common date spellings (and Excel serial numbers) as `YYYY-MM-DD`; anything else is left
    as it was."""
    values = pc.utf8_normalize(values, "NFKC")
    out = _excel_serials(values)
    for pattern in (_COMPACT_DATE, _DATE):
        parts = pc.extract_regex(values, pattern)
        matched = pc.is_valid(parts)
        if not pc.any(matched).as_py():
            continue
        iso = pc.binary_join_element_wise(
            pc.struct_field(parts, "y"),
            pc.utf8_lpad(pc.struct_field(parts, "m"), 2, "0"),
            pc.utf8_lpad(pc.struct_field(parts, "d"), 2, "0"),
            "-",
        )
        out = pc.if_else(matched, iso, out)
    return out


def _excel_serials(values: pa.Array) -> pa.Array:
    """Whole numbers 10000-99999 (1927-05-18 to 2173-10-14) as the Excel dates they encode."""
    serial = fill_false(pc.match_substring_regex(values, _EXCEL_SERIAL))
    if not serial.any():
        return values
    days = pc.cast(pc.cast(values.filter(pa.array(serial)), pa.float64()), pa.int64()).to_numpy()
    dates = (np.datetime64("1899-12-30") + days.astype("timedelta64[D]")).astype(str)
    out = np.asarray(values.to_pylist(), dtype=object)
    out[serial] = dates
    return pa.array(out, pa.string())


def ethnic_names(values: pa.Array) -> pa.Array:
    """`汉` to `汉族` where adding 族 makes a declared ethnic group."""
    with_suffix = pc.binary_join_element_wise(values, "族", "")
    known = pc.is_in(with_suffix, pa.array(ETHNIC_GROUPS))
    return pc.if_else(known, with_suffix, values)


def normalize_column(spec: FieldSpec, values: pa.Array) -> pa.Array:
    """The normalised form of one column of raw strings."""
    values = trim(values)
    rules = {rule.name for rule in spec.rules}
    if "citizen_id" in rules or "subject_id" in rules:
        return citizen_id.normalize(values).cast(pa.string())
    if "uscc" in rules:
        return uscc.normalize(values).cast(pa.string())
    if spec.type == "date":
        return iso_dates(values)
    if "ethnic_group" in rules:
        return ethnic_names(values)
    if "phone" in rules:
        return pc.replace_substring_regex(pc.utf8_normalize(values, "NFKC"), r"[\s()]+", "")
    if spec.type == "decimal":
        return pc.replace_substring(pc.utf8_normalize(values, "NFKC"), ",", "")
    return values


def normalize_table(resource: Resource, table: pa.Table) -> pa.Table:
    """Every column of `table` (named by field) normalised per its declaration."""
    columns = {
        name: normalize_column(resource.field(name), table.column(name).combine_chunks())
        for name in table.column_names
    }
    return pa.table(columns)
