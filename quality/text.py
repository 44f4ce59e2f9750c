"""Vectorised text helpers shared by the validators: normalisation and fixed-width byte views."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def to_arrow(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """A single `string` Arrow array for a pandas Series or an Arrow (chunked) array."""
    if isinstance(values, pd.Series):
        values = pa.array(values, from_pandas=True)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    return values


def normalize_identifier(values: pd.Series | pa.Array) -> pa.Array:
    """NFKC (full-width digits and letters to ASCII), blanks and hyphens removed, upper-cased."""
    arr = pc.utf8_normalize(to_arrow(values), "NFKC")
    arr = pc.replace_substring_regex(arr, r"[\s\-]+", "")
    return pc.utf8_upper(arr)


def char_matrix(values: pa.Array, width: int) -> np.ndarray:
    """An (n, width) uint8 view of n ASCII strings that are each exactly `width` bytes long."""
    if len(values) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offset_type = np.int64 if pa.types.is_large_string(values.type) else np.int32
    offsets = np.frombuffer(values.buffers()[1], dtype=offset_type)
    offsets = offsets[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[-1]].reshape(-1, width)


def from_char_matrix(matrix: np.ndarray) -> pa.Array:
    """The inverse of char_matrix: n strings from an (n, width) uint8 matrix."""
    n, width = matrix.shape
    offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
    data = pa.py_buffer(np.ascontiguousarray(matrix).tobytes())
    return pa.StringArray.from_buffers(n, offsets, data)


def fill_false(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean numpy array with nulls as False."""
    return np.asarray(pc.fill_null(mask, False), dtype=bool)
