"""Decode chunks of legacy Zarr v2 arrays (hdmf-zarr < 0.14) into numpy arrays, safely.

Source format: the Zarr v2 storage specification (chunks: the compressor is applied last when
encoding, so it is undone first; then the filters in reverse order) and the numcodecs codec
formats. Object arrays end with an object codec: ``vlen-utf8`` and ``vlen-bytes`` (decoded by
numcodecs, which only parses lengths and bytes), ``json2`` (numcodecs' JSON codec: a JSON list
of the elements followed by the dtype string and the shape, parsed here), ``msgpack2``
(numcodecs, safe), and ``pickle`` (parsed by :mod:`.safe_pickle` of this folder, never by
numcodecs or :func:`pickle.loads`).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numcodecs
import numpy as np
from numcodecs.compat import ensure_contiguous_ndarray

from ... import limits
from ...errors import CorruptChunkError, LegacyFormatError, LimitExceededError
from ...storage.checked_codecs import blosc_decode, inflate, zstd_decode
from .conventions import (
    NUMERIC,
    OBJECT_CODECS,
    REFERENCE,
    TEXT,
    ArrayPlan,
    reference_path,
    text_value,
)
from .safe_pickle import safe_unpickle

_UNSAFE_CODECS = ("pickle",)
_codec_cache: dict[str, Any] = {}


def _codec(config: dict, where: str) -> Any:
    """Return the numcodecs codec for a bytes-to-bytes filter or compressor configuration."""
    codec_id = config.get("id")
    if codec_id in _UNSAFE_CODECS:
        raise LegacyFormatError(f"{where}: codec {codec_id!r} is only accepted as an object codec")
    key = json.dumps(config, sort_keys=True)
    if key not in _codec_cache:
        try:
            _codec_cache[key] = numcodecs.get_codec(dict(config))
        except (ValueError, TypeError, KeyError) as exc:
            raise LegacyFormatError(
                f"{where}: unknown or unavailable Zarr v2 codec {config!r} ({exc})"
            ) from None
    return _codec_cache[key]


def _decode_json2(data: Any, where: str) -> np.ndarray:
    """Parse a numcodecs ``json2`` chunk: ``[elem, ..., dtype_str, shape]``."""
    try:
        items = json.loads(bytes(ensure_contiguous_ndarray(data)).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise LegacyFormatError(f"{where}: malformed json2 chunk ({exc})") from None
    if (
        not isinstance(items, list)
        or len(items) < 2
        or not isinstance(items[-1], list)
        or not all(isinstance(n, int) and n >= 0 for n in items[-1])
    ):
        raise LegacyFormatError(f"{where}: malformed json2 chunk (no trailing dtype and shape)")
    shape = tuple(items[-1])
    values = items[:-2]
    out = np.empty(shape, dtype=object)
    if not shape:
        if len(values) != 1:
            raise LegacyFormatError(f"{where}: malformed json2 scalar chunk")
        out[()] = values[0]
        return out
    if len(values) != shape[0]:
        raise LegacyFormatError(f"{where}: json2 chunk holds {len(values)} rows, not {shape[0]}")
    for index in np.ndindex(shape):
        value: Any = values
        for i in index:
            if not isinstance(value, list) or i >= len(value):
                raise LegacyFormatError(f"{where}: json2 chunk does not match its shape {shape}")
            value = value[i]
        out[index] = value
    return out


def _decode_objects(
    codec: dict, data: Any, where: str, shape: tuple[int, ...] | None = None
) -> np.ndarray:
    codec_id = codec.get("id")
    if codec_id == "pickle":
        value = safe_unpickle(bytes(ensure_contiguous_ndarray(data)), where, shape)
        if isinstance(value, np.ndarray):
            return value
        out = np.empty(len(value) if isinstance(value, (list, tuple)) else 1, dtype=object)
        if isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                out[i] = v
        else:
            out[0] = value
        return out
    if codec_id in ("json2", "json"):
        return _decode_json2(data, where)
    if codec_id in ("vlen-utf8", "vlen-bytes", "msgpack2"):
        try:
            return np.asarray(numcodecs.get_codec(dict(codec)).decode(data), dtype=object)
        except Exception as exc:
            raise LegacyFormatError(f"{where}: malformed {codec_id} chunk ({exc})") from None
    raise LegacyFormatError(f"{where}: unsupported object codec {codec_id!r}")


def _decompress(plan: ArrayPlan, where: str, data: Any, n: int) -> Any:
    """Undo the compressor, never producing more than the chunk can hold.

    A numeric chunk decodes to exactly its shape's bytes; an object chunk to at most
    ``limits.max_chunk_bytes``. zstd and Blosc headers are checked before decompressing,
    zlib/gzip inflation stops at the bound (:mod:`nwbzarr.storage.checked_codecs`).

    Raises
    ------
    CorruptChunkError
        The compressed data declares or holds more than the bound.
    """
    exact = None if plan.v2_dtype.hasobject else n * plan.v2_dtype.itemsize
    cap = limits.current().max_chunk_bytes
    bound = cap if exact is None else min(cap, exact)
    codec = _codec(plan.compressor, where)
    name = str(plan.compressor.get("id", ""))
    try:
        if name == "zstd":
            return zstd_decode(codec, data, bound, exact)
        if name == "blosc":
            return blosc_decode(codec, data, bound, exact)
        if name in ("zlib", "gzip"):
            return inflate(data, bound, 15 if name == "zlib" else 31, exact)
    except CorruptChunkError as exc:
        raise CorruptChunkError(f"{where}: {exc}") from None
    out = codec.decode(data)
    size = ensure_contiguous_ndarray(out).nbytes
    if size > bound:
        raise CorruptChunkError(
            f"{where}: decompressed to {size} bytes, more than the {bound} its chunk shape holds"
        )
    return out


def decode_v2_chunk(raw: bytes, plan: ArrayPlan, key: str) -> np.ndarray:
    """Decode one stored v2 chunk into a numpy array of the v2 chunk shape.

    Parameters
    ----------
    raw : bytes
        The chunk object as stored.
    plan : ArrayPlan
        The array's translation plan (codecs, dtype, chunk shape, order).
    key : str
        The chunk key inside the array (e.g. ``"0.1"``), for messages.

    Returns
    -------
    numpy.ndarray
        Shape ``plan.v2_chunks``; ``plan.v2_dtype`` for numeric chunks, object (or structured
        with object fields) for object chunks.

    Raises
    ------
    LegacyFormatError
        If a codec is unknown, a chunk is malformed, or its size does not match.
    UnsafePickleError
        If a pickled chunk names anything but plain data.
    """
    where = f"{plan.path}/{key}"
    n = math.prod(plan.v2_chunks)
    data: Any = raw
    if plan.compressor:
        try:
            data = _decompress(plan, where, data, n)
        except (LegacyFormatError, CorruptChunkError):
            raise
        except Exception as exc:
            raise LegacyFormatError(f"{where}: cannot decompress ({exc})") from None
    filters = list(plan.filters)
    obj_index = next((i for i, f in enumerate(filters) if f.get("id") in OBJECT_CODECS), None)
    try:
        if obj_index is not None:
            for f in reversed(filters[obj_index + 1 :]):
                data = _codec(f, where).decode(data)
            if filters[:obj_index]:
                raise LegacyFormatError(f"{where}: filters before an object codec are unsupported")
            arr = _decode_objects(filters[obj_index], data, where, plan.v2_chunks)
        else:
            if plan.v2_dtype.hasobject:
                raise LegacyFormatError(f"{where}: object array without an object codec")
            for f in reversed(filters):
                data = _codec(f, where).decode(data)
            buf = ensure_contiguous_ndarray(data)
            if buf.nbytes != n * plan.v2_dtype.itemsize:
                raise LegacyFormatError(
                    f"{where}: chunk holds {buf.nbytes} bytes, expected "
                    f"{n * plan.v2_dtype.itemsize}"
                )
            arr = np.frombuffer(buf.tobytes(), dtype=plan.v2_dtype, count=n)
    except (LegacyFormatError, LimitExceededError):  # a pickle over a limit says which
        raise
    except Exception as exc:
        raise LegacyFormatError(f"{where}: cannot decode chunk ({exc})") from None
    if arr.size != n:
        raise LegacyFormatError(f"{where}: chunk holds {arr.size} elements, expected {n}")
    if arr.ndim == len(plan.v2_chunks) and arr.shape == plan.v2_chunks:
        # pickled/json arrays carry their own shape and memory order
        return arr
    return arr.reshape(-1).reshape(plan.v2_chunks, order=plan.order)


def check_codecs(plan: ArrayPlan) -> None:
    """Check, without reading a chunk, that every codec of ``plan`` can be decoded here.

    The same codec rules as :func:`decode_v2_chunk`, applied to the metadata alone: a reader
    that leaves unreadable arrays out (``V2TranslatingStore(omit_unreadable=True)``) learns at
    open time which ones would fail.

    Parameters
    ----------
    plan : ArrayPlan
        The array's translation plan.

    Raises
    ------
    LegacyFormatError
        If the compressor or a filter is unknown or unavailable (numcodecs), ``pickle`` is used
        other than as the object codec, filters precede the object codec, or an object array
        has no object codec.
    """
    where = plan.path
    if plan.compressor:
        _codec(plan.compressor, where)
    filters = list(plan.filters)
    obj_index = next((i for i, f in enumerate(filters) if f.get("id") in OBJECT_CODECS), None)
    if obj_index is None:
        if plan.v2_dtype.hasobject:
            raise LegacyFormatError(f"{where}: object array without an object codec")
        for f in filters:
            _codec(f, where)
        return
    if filters[:obj_index]:
        raise LegacyFormatError(f"{where}: filters before an object codec are unsupported")
    for f in filters[obj_index + 1 :]:
        _codec(f, where)


def as_text(arr: np.ndarray, where: str) -> list[str]:
    """Return the elements of a decoded text chunk (C order) as ``str``."""
    return [text_value(v, where) for v in np.asarray(arr).reshape(-1)]


def as_paths(arr: np.ndarray, where: str) -> list[str]:
    """Return the elements of a decoded reference chunk (C order) as target path strings."""
    return [reference_path(v, where) for v in np.asarray(arr).reshape(-1)]


def compound_rows(full: np.ndarray, plan: ArrayPlan) -> np.ndarray:
    """Turn a fully decoded legacy compound array into a structured numpy array.

    Text fields become ``<U`` sized to their longest value (at least 1 character); reference
    fields become target path strings. ``full`` is either structured (object fields), a 1-d
    object array of rows, or a 2-d object array with one column per field.

    Raises
    ------
    LegacyFormatError
        If a row does not have one value per field, or a value does not fit its field.
    """
    where = plan.path
    names = [name for name, _, _ in plan.fields]
    if full.dtype.names is not None:
        rows = [tuple(rec[n] for n in names) for rec in full.reshape(-1)]
    elif full.ndim == 2:
        rows = [tuple(r) for r in full]
    else:
        rows = []
        for rec in full.reshape(-1):
            if isinstance(rec, np.void) and rec.dtype.names:
                rec = tuple(rec)
            if rec is None or (isinstance(rec, (int, float)) and rec == 0):
                rec = (None,) * len(names)
            if not isinstance(rec, (tuple, list)) or len(rec) != len(names):
                raise LegacyFormatError(f"{where}: compound row {rec!r:.80} has no value per field")
            rows.append(tuple(rec))
    columns: list[list] = [[] for _ in names]
    for row in rows:
        for i, (_, kind, _) in enumerate(plan.fields):
            value = row[i]
            if kind == TEXT:
                value = text_value(value, where)
            elif kind == REFERENCE:
                value = reference_path(value, where)
            elif value is None:
                value = 0
            columns[i].append(value)
    formats = []
    for (_, kind, sub), col in zip(plan.fields, columns):
        if kind == NUMERIC:
            formats.append(np.dtype(sub).newbyteorder("<") if sub is not None else np.float64)
        else:
            formats.append(np.dtype(f"<U{max([1, *map(len, col)])}"))
    out = np.empty(len(rows), dtype=np.dtype({"names": names, "formats": formats}))
    try:
        for name, col in zip(names, columns):
            out[name] = col
    except (TypeError, ValueError) as exc:
        raise LegacyFormatError(
            f"{where}: compound values do not fit their fields ({exc})"
        ) from None
    return out
