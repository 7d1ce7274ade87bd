"""Rules for reading legacy hdmf-zarr (< 0.14) Zarr v2 stores in the unified v3 convention.

Pure functions, no I/O. Source format: hdmf-zarr's storage specification of the 0.x releases
(``docs/source/storage.rst``, section "Legacy Zarr v2 Convention" in later releases), and the
v2 array metadata of the Zarr v2 specification. The mapping (``docs/storage.md`` §9):

* ``zarr_link`` (group attribute, list of ``{"name", "source", "path"}``) -> ``_LINKS``; a
  ``source`` other than ``"."`` stays the store-relative location of the other store;
* ``zarr_dtype`` (array attribute) is dropped and describes the array instead: ``"object"``
  -> an array of target path strings with ``_DTYPE = "object_reference"``; ``"scalar"`` on a
  shape ``(1,)`` array -> a 0-d array; a list of ``{"name", "dtype"[, "doc"]}`` fields -> a
  structured array whose ``"object"`` fields are listed in ``_REFERENCE_FIELDS``; any other
  value (a type name such as ``"int32"`` or ``"str"``) carries no information beyond the data;
* attribute references ``{"zarr_dtype": "object", "value": {"source", "path", "object_id",
  "source_object_id"}}`` -> ``{"_REFERENCE": {"source", "path"}}`` (also inside lists);
* ``_ARRAY_DIMENSIONS`` (array attribute) -> Zarr v3 ``dimension_names``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ... import limits
from ...conventions.attributes import (
    DTYPE_ATTR,
    LINKS_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
)
from ...conventions.bounded_json import check_nesting
from ...conventions.references import SAME_FILE, attribute_reference, link_entry
from ...errors import LegacyFormatError

V2_GROUP = ".zgroup"
V2_ARRAY = ".zarray"
V2_ATTRS = ".zattrs"
V2_CONSOLIDATED = ".zmetadata"
V2_KEYS = (V2_GROUP, V2_ARRAY, V2_ATTRS, V2_CONSOLIDATED)

LEGACY_LINK_ATTR = "zarr_link"
LEGACY_DTYPE_ATTR = "zarr_dtype"
DIMENSIONS_ATTR = "_ARRAY_DIMENSIONS"
REFERENCE_DTYPES = ("object", "ref", "reference")

# kinds of translated arrays / compound fields
NUMERIC, TEXT, REFERENCE, COMPOUND = "numeric", "text", "reference", "compound"


@dataclass
class ArrayPlan:
    """How one legacy v2 array is presented in the v3 convention.

    Attributes
    ----------
    path : str
        The array's path in the store (no leading ``/``), for messages.
    kind : str
        ``"numeric"`` (numbers, bool, plain structured), ``"text"`` (variable-length UTF-8),
        ``"reference"`` (target path strings) or ``"compound"`` (structured with text or
        reference fields decoded from objects).
    v2_dtype : numpy.dtype
        The dtype the ``.zarray`` declares.
    shape, chunks : tuple of int
        The v3 shape and chunk shape (``()`` for a collapsed scalar).
    v2_shape, v2_chunks : tuple of int
        As declared in ``.zarray``.
    order : str
        ``"C"`` or ``"F"``: memory order of the v2 chunks.
    separator : str
        The v2 ``dimension_separator`` (``"."`` or ``"/"``).
    fill_value : object
        The v2 fill value as parsed from JSON.
    compressor : dict or None
        The v2 compressor configuration.
    filters : list of dict
        The v2 filter configurations, in encoding order.
    fields : list of (str, str, numpy.dtype or None)
        For compounds: field name, kind (``numeric``/``text``/``reference``) and numeric dtype.
    attributes : dict
        The node's attributes in the v3 convention.
    dimension_names : list of str or None
        From ``_ARRAY_DIMENSIONS`` when it matches the v3 rank.
    """

    path: str
    kind: str
    v2_dtype: np.dtype
    shape: tuple
    chunks: tuple
    v2_shape: tuple
    v2_chunks: tuple
    order: str
    separator: str
    fill_value: Any
    compressor: dict | None
    filters: list
    fields: list = field(default_factory=list)
    attributes: dict = field(default_factory=dict)
    dimension_names: list | None = None

    @property
    def object_codec(self) -> str | None:
        """Id of the filter that turns bytes into Python objects (``vlen-utf8``, ...)."""
        for f in self.filters:
            if f.get("id") in OBJECT_CODECS:
                return f["id"]
        return None

    @property
    def uses_pickle(self) -> bool:
        """True if the compressor or any filter is numcodecs' ``pickle`` codec."""
        codecs = [self.compressor or {}, *self.filters]
        return any(c.get("id") == PICKLE_CODEC for c in codecs)


OBJECT_CODECS = ("vlen-utf8", "vlen-bytes", "json2", "json", "pickle", "msgpack2")
PICKLE_CODEC = "pickle"


def parse_json_document(raw: bytes, where: str) -> dict:
    """Parse a v2 metadata document (``.zarray``/``.zgroup``/``.zattrs``/``.zmetadata``).

    Raises
    ------
    LegacyFormatError
        If the bytes are not a JSON object (names ``where``).
    """
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LegacyFormatError(
            f"{where}: malformed JSON ({exc}); the legacy Zarr v2 store is damaged"
        ) from None
    except RecursionError:
        raise limits.exceeded(f"{where}: JSON nested too deeply", "max_json_depth") from None
    check_nesting(doc, where)  # max_json_depth, before recursive code sees the document
    if not isinstance(doc, dict):
        raise LegacyFormatError(f"{where}: expected a JSON object, found {type(doc).__name__}")
    return doc


def parse_v2_dtype(spec: Any, where: str) -> np.dtype:
    """Return the numpy dtype of a v2 ``dtype`` field (a string or a list of fields).

    Raises
    ------
    LegacyFormatError
        If the value is not a v2 data type.
    """
    try:
        if isinstance(spec, list):
            return np.dtype([_v2_field(f) for f in spec])
        if isinstance(spec, str):
            return np.dtype(spec)
    except (TypeError, ValueError):
        pass
    raise LegacyFormatError(f"{where}: unsupported Zarr v2 dtype {spec!r}")


def _v2_field(f: Any) -> tuple:
    if not isinstance(f, list) or len(f) not in (2, 3) or not isinstance(f[0], str):
        raise TypeError(f)
    sub = np.dtype([_v2_field(x) for x in f[1]]) if isinstance(f[1], list) else np.dtype(f[1])
    return (f[0], sub) if len(f) == 2 else (f[0], sub, tuple(f[2]))


def translate_value(value: Any) -> Any:
    """Translate an attribute value: legacy references become ``{"_REFERENCE": ...}``."""
    if isinstance(value, dict):
        if value.get(LEGACY_DTYPE_ATTR) == "object" and isinstance(value.get("value"), dict):
            ref = value["value"]
            return attribute_reference(str(ref.get("path") or "/"), _source(ref.get("source")))
        return {k: translate_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [translate_value(v) for v in value]
    return value


def _source(source: Any) -> str:
    if source in (None, "", SAME_FILE, "./"):
        return SAME_FILE
    return str(source).replace("\\", "/")


def translate_links(entries: Any, where: str) -> list[dict]:
    """Translate a ``zarr_link`` list into ``_LINKS`` entries.

    Raises
    ------
    LegacyFormatError
        If an entry lacks ``name`` or ``path``.
    """
    if not isinstance(entries, list):
        raise LegacyFormatError(f"{where}: zarr_link is not a list")
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("name") or entry.get("path") is None:
            raise LegacyFormatError(f"{where}: malformed zarr_link entry {entry!r}")
        out.append(link_entry(str(entry["name"]), str(entry["path"]), _source(entry.get("source"))))
    return out


def translate_group_attributes(attrs: dict, where: str) -> dict:
    """Return a v2 group's attributes in the v3 convention (``zarr_link`` -> ``_LINKS``)."""
    out = {}
    for key, value in attrs.items():
        if key == LEGACY_LINK_ATTR:
            if value:
                out[LINKS_ATTR] = translate_links(value, where)
        else:
            out[key] = translate_value(value)
    return out


def _field_kind(dtype_name: Any) -> str:
    if isinstance(dtype_name, dict) or dtype_name in REFERENCE_DTYPES:
        return REFERENCE
    if isinstance(dtype_name, str):
        try:
            if np.dtype(dtype_name).kind in "biuf":
                return NUMERIC
        except TypeError:
            pass
    return TEXT


def plan_array(zarray: dict, zattrs: dict, path: str) -> ArrayPlan:
    """Describe how a v2 array (its ``.zarray`` and ``.zattrs``) appears in the v3 convention.

    Parameters
    ----------
    zarray : dict
        The parsed ``.zarray`` document.
    zattrs : dict
        The parsed ``.zattrs`` document (``{}`` if absent).
    path : str
        The array's path in the store, for messages.

    Returns
    -------
    ArrayPlan

    Raises
    ------
    LegacyFormatError
        If the metadata is incomplete or uses something this reader does not support
        (region references, unknown dtypes, unknown ``order``).
    """
    where = f"{path}/{V2_ARRAY}"
    v2_shape, v2_chunks = _v2_grid(zarray, where)
    dtype = parse_v2_dtype(zarray.get("dtype"), where)
    order, separator, filters, compressor = _v2_encoding(zarray, where)
    zarr_dtype = zattrs.get(LEGACY_DTYPE_ATTR)
    kind, fields = _array_kind(dtype, zarr_dtype, path)
    shape, chunks = v2_shape, v2_chunks
    if kind == COMPOUND and dtype.names is None:
        # object rows: (n,) of tuples, or (n, n_fields) of scalars
        if len(v2_shape) == 2 and v2_shape[1] == len(fields):
            shape, chunks = v2_shape[:1], v2_chunks[:1]
        elif len(v2_shape) != 1:
            raise LegacyFormatError(f"{path}: compound object array of shape {v2_shape}")
    if zarr_dtype == "scalar" and shape == (1,):
        shape, chunks = (), ()
    attributes, dims = _array_attributes(zattrs, shape, kind, fields)
    return ArrayPlan(
        path=path,
        kind=kind,
        v2_dtype=dtype,
        shape=shape,
        chunks=chunks,
        v2_shape=v2_shape,
        v2_chunks=v2_chunks,
        order=order,
        separator=separator,
        fill_value=zarray.get("fill_value"),
        compressor=compressor,
        filters=filters,
        fields=fields,
        attributes=attributes,
        dimension_names=dims,
    )


def _v2_grid(zarray: dict, where: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The v2 array's ``shape`` and ``chunks`` (each chunk length at least 1), same rank."""
    try:
        v2_shape = tuple(int(n) for n in zarray["shape"])
        v2_chunks = tuple(max(1, int(n)) for n in zarray["chunks"])
    except (KeyError, TypeError, ValueError):
        raise LegacyFormatError(f"{where}: missing or malformed 'shape'/'chunks'") from None
    if len(v2_chunks) != len(v2_shape):
        raise LegacyFormatError(f"{where}: 'chunks' and 'shape' differ in rank")
    return v2_shape, v2_chunks


def _v2_encoding(zarray: dict, where: str) -> tuple[str, str, list, dict | None]:
    """The v2 array's ``order``, ``dimension_separator``, ``filters`` and ``compressor``."""
    order = zarray.get("order", "C")
    if order not in ("C", "F"):
        raise LegacyFormatError(f"{where}: unknown order {order!r}")
    separator = zarray.get("dimension_separator") or "."
    if separator not in (".", "/"):
        raise LegacyFormatError(f"{where}: unknown dimension_separator {separator!r}")
    filters = zarray.get("filters") or []
    compressor = zarray.get("compressor")
    if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
        raise LegacyFormatError(f"{where}: malformed 'filters'")
    if compressor is not None and not isinstance(compressor, dict):
        raise LegacyFormatError(f"{where}: malformed 'compressor'")
    return order, separator, filters, compressor


def _array_kind(dtype: np.dtype, zarr_dtype: Any, path: str) -> tuple[str, list]:
    """What the array holds (``NUMERIC``, ``TEXT``, ``REFERENCE``, ``COMPOUND``) and, for a
    compound, its ``(name, kind, numpy dtype or None)`` fields."""
    if zarr_dtype == "region" or (isinstance(zarr_dtype, dict) and "region" in str(zarr_dtype)):
        raise LegacyFormatError(f"{path}: region references are not supported")
    fields: list = []
    if isinstance(zarr_dtype, list):
        for f in zarr_dtype:
            if not isinstance(f, dict) or "name" not in f:
                raise LegacyFormatError(f"{path}: malformed compound zarr_dtype field {f!r}")
            fkind = _field_kind(f.get("dtype"))
            sub = None
            if dtype.names and f["name"] in dtype.names and dtype[f["name"]].kind in "biuf":
                sub, fkind = dtype[f["name"]], (NUMERIC if fkind != REFERENCE else REFERENCE)
            elif fkind == NUMERIC:
                sub = np.dtype(f["dtype"])
            fields.append((str(f["name"]), fkind, sub))
        if dtype.names is None and dtype.kind != "O":
            raise LegacyFormatError(f"{path}: compound zarr_dtype on a {dtype} array")
        return COMPOUND, fields
    if dtype.names is not None:
        if any(dtype[n].kind in "OSU" for n in dtype.names):
            for n in dtype.names:
                sub = dtype[n]
                fields.append((n, NUMERIC if sub.kind in "biuf" else TEXT, sub))
            return COMPOUND, fields
        return NUMERIC, fields
    if zarr_dtype in REFERENCE_DTYPES and dtype.kind == "O":
        return REFERENCE, fields
    if dtype.kind in "OSU":
        return TEXT, fields
    if dtype.kind in "biufcmM":
        return NUMERIC, fields
    raise LegacyFormatError(f"{path}: unsupported Zarr v2 dtype {dtype}")


def _array_attributes(
    zattrs: dict, shape: tuple[int, ...], kind: str, fields: list
) -> tuple[dict[str, Any], list[str] | None]:
    """The array's attributes in the v3 convention, and its dimension names (from
    ``_ARRAY_DIMENSIONS`` when it names every axis of the v3 ``shape``)."""
    attributes = {}
    dims = None
    for key, value in zattrs.items():
        if key in (LEGACY_DTYPE_ATTR, LEGACY_LINK_ATTR):
            continue
        if key == DIMENSIONS_ATTR:
            if isinstance(value, list) and len(value) == len(shape) and shape:
                dims = [str(v) for v in value]
            continue
        attributes[key] = translate_value(value)
    if kind == REFERENCE:
        attributes[DTYPE_ATTR] = OBJECT_REFERENCE
    refs = [n for n, k, _ in fields if k == REFERENCE]
    if refs:
        attributes[REFERENCE_FIELDS_ATTR] = refs
    return attributes, dims


def reference_path(value: Any, where: str) -> str:
    """Return the target path of one legacy dataset reference (a dict or its JSON text).

    Raises
    ------
    LegacyFormatError
        If the value is not a reference, or points into another file: the v3 convention stores
        dataset references as paths in the same store (docs/storage.md §2.3).
    """
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if isinstance(value, dict) and isinstance(value.get("_REFERENCE"), dict):
        value = value["_REFERENCE"]  # LINDI wraps the same keys (docs/storage.md §13)
    if isinstance(value, dict) and "path" in value:
        source = _source(value.get("source"))
        if source != SAME_FILE:
            raise LegacyFormatError(
                f"{where}: object reference to {value['path']!r} in another file "
                f"({source!r}); references into other files are not supported"
            )
        path = str(value["path"] or "/")
        return path if path.startswith("/") else "/" + path
    if value is None or (isinstance(value, (int, float)) and value == 0):
        return ""  # unwritten element (v2 object arrays fill with 0)
    raise LegacyFormatError(f"{where}: expected an object reference, found {value!r:.80}")


def text_value(value: Any, where: str) -> str:
    """Return one element of a legacy text array as ``str`` (bytes are decoded as UTF-8).

    Raises
    ------
    LegacyFormatError
        If the element is not text or the bytes are not UTF-8.
    """
    if isinstance(value, str):
        return str(value)  # numpy.str_ -> str
    if isinstance(value, (bytes, np.bytes_)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise LegacyFormatError(
                f"{where}: bytes that are not UTF-8 text ({bytes(value)[:40]!r})"
            ) from None
    if value is None or (isinstance(value, (int, float)) and value == 0):
        return ""  # unwritten element (v2 object arrays fill with 0)
    raise LegacyFormatError(f"{where}: expected text, found {type(value).__name__} {value!r:.80}")
