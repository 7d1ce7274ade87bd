"""Reserved attribute names and JSON encoding of attribute values.

The names follow the unified Zarr v3 convention for HDMF files (hdmf-zarr >= 0.14,
``docs/source/storage.rst``); ``docs/storage.md`` in this repository lists each one with its
JSON shape.
"""

from __future__ import annotations

import datetime
import warnings
from typing import Any

import numpy as np

#: Group attribute: list of ``{"name", "source", "path"}`` soft/external links.
LINKS_ATTR = "_LINKS"
#: Dataset attribute: ``"object_reference"`` on arrays of reference target paths.
DTYPE_ATTR = "_DTYPE"
#: Value of :data:`DTYPE_ATTR` for object reference datasets.
OBJECT_REFERENCE = "object_reference"
#: Compound dataset attribute: names of the fields that hold object references.
REFERENCE_FIELDS_ATTR = "_REFERENCE_FIELDS"
#: Key wrapping an object reference stored in an attribute.
REFERENCE_KEY = "_REFERENCE"
#: Root attribute: path of the group holding cached specifications.
SPECLOC_ATTR = ".specloc"
#: Root attribute set while a write is under way and removed when it completes (nwbzarr).
WRITE_IN_PROGRESS_ATTR = "_WRITE_IN_PROGRESS"
#: Dataset attribute: the array's dimension names, as xarray's Zarr v2 encoding and hdmf-zarr
#: write them (the same names as the Zarr v3 ``dimension_names``; docs/storage.md §4).
ARRAY_DIMENSIONS_ATTR = "_ARRAY_DIMENSIONS"
#: Default location of the spec cache.
DEFAULT_SPEC_LOC = "specifications"
#: Name of the root group's builder (HDMF's and hdmf-zarr's ``ROOT_NAME``).
ROOT_NAME = "root"

#: Attributes the backend owns; they never surface as builder attributes on read.
#: Root attribute of a local store written by nwbzarr: ``{chunk key: base64 of the stored
#: chunk, or None (never written: the array reads as its fill value)}`` for the small
#: single-chunk arrays a reader needs while opening, so a remote open costs no request for
#: them (:class:`nwbzarr.storage.cache.RemoteReadCache`; docs/storage.md §12). Rebuilt at
#: every consolidation; readers that ignore it read the chunk files.
INLINE_CHUNKS_ATTR = "_INLINE_CHUNKS"

RESERVED_ATTRS = frozenset(
    {
        LINKS_ATTR,
        INLINE_CHUNKS_ATTR,
        DTYPE_ATTR,
        REFERENCE_FIELDS_ATTR,
        SPECLOC_ATTR,
        WRITE_IN_PROGRESS_ATTR,
        ARRAY_DIMENSIONS_ATTR,
    }
)


def is_dtype_note(value: Any) -> bool:
    """Whether a ``_DTYPE`` value is a type name, which readers ignore.

    hdmf-zarr 0.14 sets ``_DTYPE`` on every array that does not hold references to the name of
    its numpy or Python type (``"int64"``, ``"<f8"``, ``"str"``, ``"bool"``); the array's Zarr
    data type already says the same. Only ``"object_reference"`` changes how an array reads.

    Parameters
    ----------
    value : Any
        The attribute's JSON value.

    Returns
    -------
    bool
        True for text that numpy reads as a dtype (not ``"object_reference"``).
    """
    if not isinstance(value, str) or value == OBJECT_REFERENCE or not 0 < len(value) <= 32:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.dtype(value)
    except (TypeError, ValueError, SyntaxError):
        return False
    return True


def to_json_value(value: Any, where: str) -> Any:
    """Convert an attribute value into something zarr-python can write as JSON.

    Parameters
    ----------
    value : Any
        A scalar, string, bytes, datetime, list/tuple, or numpy array/scalar.
    where : str
        Object path and attribute name, used in error messages.

    Returns
    -------
    Any
        ``bool``, ``int``, ``float`` (NaN/Infinity kept, zarr-python writes the bare tokens),
        ``str``, ``None``, or nested lists of those.

    Raises
    ------
    TypeError
        If the value has no JSON form (for example a structured numpy array).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        if isinstance(value, np.bytes_):
            return bytes(value).decode("utf-8")
        if isinstance(value, np.str_):
            return str(value)
        if isinstance(value, np.datetime64):
            return str(value)
        if isinstance(value, (np.float32, np.float16)):
            return _short_float(value)
        return value.item()
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "V":
            raise TypeError(f"attribute {where}: compound arrays cannot be stored as attributes")
        if value.ndim == 0:
            # a 0-d array is its one element (np.array(b"ab") is the text "ab", not [97, 98])
            return to_json_value(value[()], where)
        if value.dtype.kind in "SOUTM":
            return [to_json_value(v, where) for v in value]
        if value.dtype in (np.float32, np.float16):
            return value.astype(str).astype(np.float64).tolist()
        return value.tolist()
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json_value(v, where) for v in value]
    raise TypeError(f"attribute {where}: cannot store a value of type {type(value).__name__}")


def _short_float(value: np.floating) -> float:
    """A float32/float16 as the shortest decimal that reads back as the same value.

    ``5e-07`` stored as float32 would otherwise widen to ``4.999999987376214e-07``, so an
    attribute read and written again (append mode) would change on disk.
    """
    return float(str(value))
