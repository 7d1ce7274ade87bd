"""HDMF spec dtypes <-> numpy/Zarr v3 data types.

Numeric spec dtypes map to fixed-width numpy types (HDMF schema language, "dtype" table);
every text-like dtype (``text``, ``utf8``, ``ascii``, ``bytes``, ``isodatetime``) is stored as
Zarr v3 variable-length UTF-8 (``string``), since Zarr v3 has no byte-string type. Object
references are stored as target path strings. Compound dtypes become Zarr v3 ``structured``
types whose text and reference fields are fixed-length UTF-32 sized to the longest value.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

#: Spec dtype name -> numpy dtype (``str`` marks variable-length UTF-8 text).
SPEC_DTYPES: dict[str, Any] = {
    "float": np.float32,
    "float32": np.float32,
    "double": np.float64,
    "float64": np.float64,
    "long": np.int64,
    "int64": np.int64,
    "int": np.int32,
    "int32": np.int32,
    "short": np.int16,
    "int16": np.int16,
    "int8": np.int8,
    "uint64": np.uint64,
    "uint": np.uint32,
    "uint32": np.uint32,
    "uint16": np.uint16,
    "uint8": np.uint8,
    "bool": np.bool_,
    "text": str,
    "utf": str,
    "utf8": str,
    "utf-8": str,
    "ascii": str,
    "bytes": str,
    "str": str,
    "string_": str,
    "isodatetime": str,
    "datetime": str,
}

#: Spec dtype names that denote object references.
REFERENCE_DTYPES = frozenset({"object", "ref", "reference"})

#: Minimum length of fixed-length text fields inside compound datasets.
COMPOUND_MIN_STRING_LENGTH = 1


def is_reference_dtype(dtype: Any) -> bool:
    """Return True if a spec dtype (name, dict or ``RefSpec``) denotes an object reference."""
    if isinstance(dtype, str):
        return dtype in REFERENCE_DTYPES
    if isinstance(dtype, dict):
        return "reftype" in dtype or dtype.get("dtype") in REFERENCE_DTYPES
    return hasattr(dtype, "reftype")


def is_region_reference_dtype(dtype: Any) -> bool:
    """Return True if a spec dtype denotes a region reference (not supported in Zarr)."""
    if isinstance(dtype, str):
        return dtype == "region"
    reftype = dtype.get("reftype") if isinstance(dtype, dict) else getattr(dtype, "reftype", None)
    return reftype == "region"


def is_text_value(value: Any) -> bool:
    """Return True for a Python/numpy string, bytes or date/datetime scalar."""
    return isinstance(value, (str, bytes, np.str_, np.bytes_, datetime.date))


def text_value(value: Any) -> str:
    """Return a text scalar as ``str``; bytes are decoded as UTF-8, datetimes as ISO 8601.

    Raises
    ------
    ValueError
        If bytes are not valid UTF-8 (Zarr v3 has no byte-string type).
    """
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return str(value)


def numpy_dtype_for(spec_dtype: Any, sample: Any = None) -> Any:
    """Resolve the storage dtype of a dataset.

    Parameters
    ----------
    spec_dtype : str, numpy.dtype, type or None
        The builder's dtype: a spec dtype name, a numpy dtype, or None (infer from ``sample``).
    sample : Any
        The data or one element of it, used when ``spec_dtype`` is None or not a storage type
        (``numeric``).

    Returns
    -------
    numpy.dtype or type
        A numpy dtype, or ``str`` for variable-length UTF-8 text.
    """
    if isinstance(spec_dtype, str):
        found = SPEC_DTYPES.get(spec_dtype)
        if found is str:
            return str
        if found is not None:
            return np.dtype(found)
        spec_dtype = None  # "numeric" and friends: infer
    elif isinstance(spec_dtype, type) and spec_dtype in (str, bytes):
        return str
    elif spec_dtype is not None and not isinstance(spec_dtype, (list, dict)):
        dt = np.dtype(spec_dtype)
        if dt.kind in "SUT":
            return str
        if dt.kind == "O":  # text or arbitrary objects: decide from the values
            return infer_dtype(sample)
        return dt
    return infer_dtype(sample)


def infer_dtype(sample: Any) -> Any:
    """Infer the storage dtype from data (``str`` for any text, else a numpy dtype)."""
    dt = getattr(sample, "dtype", None)
    if dt is not None and not isinstance(dt, (str, list)):
        try:
            dt = np.dtype(dt)
        except TypeError:
            dt = None
        if dt is not None:
            if dt.kind in "SUT":
                return str
            if dt.kind != "O":
                return dt
    first = first_element(sample)
    if first is None:
        return np.dtype("float64")
    if is_text_value(first):
        return str
    if isinstance(first, (bool, np.bool_)):
        return np.dtype(bool)
    return np.asarray(first).dtype


def first_element(data: Any) -> Any:
    """Return the first scalar of a (nested) collection, or the value itself if scalar."""
    cur = data
    for _ in range(32):
        if isinstance(cur, (str, bytes)) or not _is_sequence(cur):
            return cur
        if len(cur) == 0:
            return None
        if isinstance(cur, np.ndarray):
            return cur.flat[0] if cur.size else None
        cur = cur[0]
    return cur


def _is_sequence(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return isinstance(value, (list, tuple)) or (
        hasattr(value, "__len__") and hasattr(value, "__getitem__") and not isinstance(value, dict)
    )


def compound_fields(spec_dtype: Sequence[Any]) -> list[tuple[str, Any]]:
    """Normalise a compound dtype (list of ``{'name', 'dtype'}`` dicts or DtypeSpecs).

    Returns
    -------
    list of (str, Any)
        ``(field name, field spec dtype)`` in declaration order.
    """
    fields = []
    for item in spec_dtype:
        if isinstance(item, dict):
            fields.append((item["name"], item["dtype"]))
        else:
            fields.append((item.name, item.dtype))
    return fields


def compound_numpy_dtype(
    fields: Sequence[tuple[str, Any]], rows: Iterable[Sequence[Any]] | None
) -> tuple[np.dtype, list[str]]:
    """Build the structured numpy dtype of a compound dataset.

    Parameters
    ----------
    fields : sequence of (str, Any)
        Field names and spec dtypes, from :func:`compound_fields`. A field whose dtype is
        itself a compound dtype (a list) becomes a nested structured field.
    rows : iterable of sequences, optional
        The rows to be stored, already with references converted to path strings and text as
        ``str`` (nested fields as tuples); used to size fixed-length text fields.

    Returns
    -------
    (numpy.dtype, list of str)
        The structured dtype, and the names of (top-level) reference fields.

    Raises
    ------
    ValueError
        If a nested compound field declares an object reference (the convention marks
        reference fields of the top level only).
    """
    rows = list(rows) if rows is not None else []
    parts = []
    ref_fields = []
    for i, (name, fdt) in enumerate(fields):
        if isinstance(fdt, (list, tuple)):
            nested, nested_refs = compound_numpy_dtype(compound_fields(fdt), [r[i] for r in rows])
            if nested_refs:
                raise ValueError(
                    f"field {name!r} is a nested compound with reference fields "
                    f"{nested_refs}; only top-level compound fields can hold references"
                )
            parts.append((name, nested))
            continue
        if is_reference_dtype(fdt):
            ref_fields.append(name)
            kind = str
        else:
            kind = numpy_dtype_for(fdt, rows[0][i] if rows else None)
        if kind is str:
            longest = max((len(text_value(r[i])) for r in rows), default=0)
            parts.append((name, f"<U{max(longest, COMPOUND_MIN_STRING_LENGTH)}"))
        else:
            parts.append((name, np.dtype(kind)))
    return np.dtype(parts), ref_fields


def numeric_compound_dtype(fields: Sequence[tuple[str, Any]], stored: np.dtype) -> np.dtype | None:
    """The structured dtype of a compound whose fields are all numbers, or None.

    Parameters
    ----------
    fields : sequence of (str, Any)
        Field names and spec dtypes, from :func:`compound_fields` (nested lists allowed).
    stored : numpy.dtype
        The structured dtype of the values to be written, matched to ``fields`` by position.

    Returns
    -------
    numpy.dtype or None
        The dtype to cast the values to (numpy assigns structured values by position), or
        None if a field holds text, references or anything but numbers and booleans, or if
        ``stored`` has another number of fields.
    """
    if stored.names is None or len(stored.names) != len(fields):
        return None
    parts = []
    for (name, fdt), have in zip(fields, (stored[n] for n in stored.names)):
        if isinstance(fdt, (list, tuple)):
            nested = numeric_compound_dtype(compound_fields(fdt), have)
            if nested is None:
                return None
            parts.append((name, nested))
            continue
        if is_reference_dtype(fdt) or have.kind not in "biuf":
            return None
        kind = numpy_dtype_for(fdt, np.empty(0, dtype=have))
        if kind is str or np.dtype(kind).kind not in "biuf":
            return None
        parts.append((name, np.dtype(kind)))
    return np.dtype(parts)


def builder_dtype_name(dtype: np.dtype) -> Any:
    """Return the spec-style dtype reported on read for a numpy dtype (``utf`` for text).

    A structured dtype (a nested compound field) gives its fields as a list of
    ``{"name", "dtype"}``.
    """
    if dtype.names:
        return [{"name": n, "dtype": builder_dtype_name(dtype[n])} for n in dtype.names]
    if dtype.kind in "OSUT":
        return "utf"
    return dtype.name
