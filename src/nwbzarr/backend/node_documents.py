"""Zarr nodes written directly from our own ``zarr.json`` documents: the fast path of the writer.

A new group, and a small unsharded array whose codecs nwbzarr knows, are written here without
zarr-python's metadata objects and codec pipeline: the ``zarr.json`` document is built as a
plain dict (:mod:`nwbzarr.conventions.zarr_json`), the chunks are encoded with numcodecs
(:class:`Codecs`), and every ``(key, buffer)`` goes to the store through ``store.set``,
optionally held in a :class:`SetQueue` so many nodes cost one event-loop call. Only stores
that know which nodes exist (a new store behind a
:class:`~nwbzarr.storage.write_back.WriteBackStore`) take this path; anything else is left to
zarr-python.

The documents and chunk objects written here are byte-identical to what zarr-python writes for
the same array (``tests/backend/test_write.py`` compares them). The storage rules (0-d arrays
stored as their ``fill_value``, chunks equal to the fill value not stored) are those of
``docs/storage.md`` §3 and §6.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from typing import Any

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec
from zarr.storage import MemoryStore

from ..compat import (
    AsyncGroup,
    GroupMetadata,
    codec_tunable_attrs,
    default_buffer_prototype,
    group_from_async,
    sync,
    zdtype_from_native,
)
from ..conventions.zarr_json import array_document, encode, group_document
from ..storage.write_back import WriteBackStore

__all__ = [
    "SCALAR_FILL_TEXT_BYTES",
    "Codecs",
    "SetQueue",
    "all_fill",
    "chunk_indices",
    "codec_key",
    "codecs_for",
    "create_group",
    "direct_write",
    "direct_write_possible",
    "encoded_chunks",
    "numcodec",
    "scalar_fill_value",
    "zarr_dtype",
]

#: Text scalars up to this many UTF-8 bytes are stored as their array's ``fill_value`` (in
#: ``zarr.json`` and the consolidated metadata, no chunk object); longer ones keep a chunk.
SCALAR_FILL_TEXT_BYTES = 4096


def scalar_fill_value(value: Any, dtype: Any, given: Any) -> Any:
    """The ``fill_value`` that stores the 0-d ``value`` without a chunk, or None to keep one.

    Numbers (finite floats, not ``-0.0``), booleans and text of up to
    :data:`SCALAR_FILL_TEXT_BYTES` UTF-8 bytes qualify; NaN and infinities (their bits are
    not kept by JSON), complex, datetime, bytes and compound values keep their chunk, as does
    a value different from a fill value the caller asked for.

    Parameters
    ----------
    value : Any
        The 0-d array's value (a numpy scalar or 0-d array, or ``str`` for text).
    dtype : numpy.dtype or type
        Its numpy dtype (``str`` for text).
    given : Any
        The fill value the caller asked for (None: none).

    Returns
    -------
    Any
        The JSON-representable fill value (``str``, ``int``, ``float`` or ``bool``), or None
        when the value must keep its chunk.
    """
    if dtype is str:
        if not isinstance(value, str) or len(value.encode("utf-8")) > SCALAR_FILL_TEXT_BYTES:
            return None
        out: Any = value
    else:
        dt = np.dtype(dtype)
        if dt.kind not in "biuf" or dt.fields is not None:
            return None
        item = np.asarray(value, dtype=dt)
        if item.shape != ():
            return None
        out = item[()].item()
        if dt.kind == "f" and (not math.isfinite(out) or (out == 0 and math.copysign(1, out) < 0)):
            return None
    if given is not None:
        same = isinstance(given, bool) == isinstance(out, bool) and given == out
        return out if same else None
    return out


class Codecs:
    """The codec chain of one kind of array, as zarr-python writes it, and its encoder.

    Built once per (dtype, ndim, compressors) through a throw-away zarr array, so the
    ``data_type``, ``codecs`` and default fill value are exactly zarr's; chunks are then
    encoded here with numcodecs, without a thread hop per chunk.

    Parameters
    ----------
    dtype : numpy.dtype or type
        The arrays' numpy dtype (``str`` for text).
    ndim : int
        Their number of dimensions.
    compressors : str or sequence of zarr codecs
        The compressors given to ``zarr.create_array``.

    Raises
    ------
    KeyError
        If the codec chain holds a codec :func:`numcodec` does not know.
    """

    def __init__(self, dtype: Any, ndim: int, compressors: Any) -> None:
        shape = (1,) * ndim
        grid = {"chunks": shape} if ndim else {}
        array = zarr.create_array(
            MemoryStore(),
            shape=shape,
            **grid,
            dtype=str if dtype is str else zarr_dtype(dtype),
            compressors=list(compressors) if not isinstance(compressors, str) else compressors,
            zarr_format=3,
        )
        doc = array.metadata.to_dict()
        self.zdtype = array.metadata.data_type
        self.data_type = doc["data_type"]
        self.codecs = doc["codecs"]
        self.text = dtype is str
        self.dtype = None if self.text else np.dtype(dtype)
        self.steps = [numcodec(c) for c in self.codecs]  # raises KeyError if unknown

    def fill_json(self, fill: Any) -> tuple[Any, Any]:
        """The fill value as a numpy/str scalar and as its JSON form.

        Parameters
        ----------
        fill : Any
            The fill value asked for (None: the data type's default).

        Returns
        -------
        tuple
            ``(scalar, json_value)``.
        """
        scalar = self.zdtype.default_scalar() if fill is None else self.zdtype.cast_scalar(fill)
        return scalar, self.zdtype.to_json_scalar(scalar, zarr_format=3)

    def encode(self, chunk: np.ndarray) -> bytes:
        """One chunk (the full chunk shape) encoded through the chain.

        Parameters
        ----------
        chunk : numpy.ndarray
            The chunk's values, of the full chunk shape.

        Returns
        -------
        bytes
            The encoded chunk object.
        """
        data: Any = chunk
        for kind, step in self.steps:
            if kind == "bytes":
                data = np.ascontiguousarray(chunk, dtype=step).tobytes()
            elif kind == "vlen-utf8":
                data = step.encode(np.asarray(chunk, dtype=object).reshape(-1))
            else:
                data = step.encode(np.frombuffer(data, dtype=np.uint8))
        return bytes(data)


def numcodec(codec: dict) -> tuple[str, Any]:
    """A codec's JSON form -> (kind, numcodecs codec or byte-order dtype).

    Parameters
    ----------
    codec : dict
        One entry of a ``zarr.json`` ``codecs`` list (``name`` and ``configuration``).

    Returns
    -------
    tuple of (str, Any)
        The codec's kind and its numcodecs codec (for ``bytes``: the endianness name).

    Raises
    ------
    KeyError
        If the codec is not one encoded here (bytes, vlen-utf8, blosc, zstd, gzip).
    """
    name, config = codec["name"], codec.get("configuration", {})
    if name == "bytes":
        return "bytes", config.get("endian", "little")
    if name == "vlen-utf8":
        return "vlen-utf8", numcodecs.VLenUTF8()
    if name == "blosc":
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[config["shuffle"]]
        blosc = {
            "cname": config["cname"],
            "clevel": config["clevel"],
            "shuffle": shuffle,
            "blocksize": config["blocksize"],
        }
        if (
            int(numcodecs.__version__.split(".")[0]) > 0
            or int(numcodecs.__version__.split(".")[1]) >= 16
        ):
            blosc["typesize"] = config["typesize"]  # as zarr configures it (numcodecs >= 0.16)
        return "blosc", numcodecs.Blosc.from_config(blosc)
    if name == "zstd":
        return "zstd", numcodecs.Zstd.from_config(
            {"level": config["level"], "checksum": config["checksum"]}
        )
    if name == "gzip":
        return "gzip", numcodecs.GZip(level=config["level"])
    raise KeyError(name)


_CODECS: dict[Any, Codecs | None] = {}


def codecs_for(dtype: Any, ndim: int, compressors: Any) -> Codecs | None:
    """The cached :class:`Codecs` of a kind of array, or None if nwbzarr does not encode it.

    Parameters
    ----------
    dtype : numpy.dtype or type
        The array's numpy dtype (``str`` for text).
    ndim : int
        Its number of dimensions.
    compressors : str or sequence of zarr codecs
        Its compressors, as given to ``zarr.create_array``.

    Returns
    -------
    Codecs or None
    """
    try:
        key = (dtype if dtype is str else np.dtype(dtype), ndim, codec_key(compressors))
        hash(key)
    except TypeError:
        return None
    if key not in _CODECS:
        try:
            made = Codecs(dtype, ndim, compressors)
        except KeyError:
            made = None
        if made is not None and not made.text:
            # the byte order of the bytes codec as a dtype the chunk is cast to
            made.steps = [
                (k, made.dtype.newbyteorder("<" if v == "little" else ">"))
                if k == "bytes"
                else (k, v)
                for k, v in made.steps
            ]
        if len(_CODECS) > 256:
            _CODECS.clear()
        _CODECS[key] = made
    return _CODECS[key]


def codec_key(compressors: Any) -> Any:
    """The hashable cache key of a compressor list (:func:`codecs_for`).

    Parameters
    ----------
    compressors : str or sequence of zarr codecs
        The compressors given to ``zarr.create_array``.

    Returns
    -------
    str or tuple
        ``compressors`` itself when it is a string, else one entry per codec.

    Raises
    ------
    TypeError
        If a codec is not a Blosc, Zstd or Gzip codec (not encoded here).
    """
    if isinstance(compressors, str):
        return compressors
    key = []
    for codec in compressors:
        if type(codec) not in (BloscCodec, GzipCodec, ZstdCodec):
            raise TypeError("not encoded here")
        # settings zarr fills in from the dtype (Blosc typesize/shuffle given as None) are
        # part of the key: the same to_dict() may evolve differently
        tunable = codec_tunable_attrs(codec)
        key.append((type(codec).__name__, json.dumps(codec.to_dict(), sort_keys=True), tunable))
    return tuple(key)


def direct_write(
    parent: zarr.Group,
    name: str,
    dtype: Any,
    options: dict,
    values: Any,
    documents: dict,
    need_array: bool,
    queue: SetQueue | None = None,
) -> zarr.Array | None | bool:
    """Write a new array from our own ``zarr.json`` document and chunks encoded here.

    Only in a new store (a :class:`WriteBackStore` that holds every document written so it
    knows the node is absent), for unsharded arrays without filters or a custom serializer
    whose codecs :class:`Codecs` encodes; ``values`` None writes a 0-d array whose value is
    its fill value. The document and chunks go through ``store.set`` in one event-loop call.
    Chunks equal to the fill value are not stored (zarr's ``write_empty_chunks=False``).
    With ``queue``, the writes wait there (:class:`SetQueue`) until the writer flushes it.

    Parameters
    ----------
    parent : zarr.Group
        The group to create the array in.
    name : str
        The array's name.
    dtype : numpy.dtype or type
        Its numpy dtype (``str`` for text).
    options : dict
        The keyword arguments ``zarr.create_array`` would get (shape, chunks, compressors,
        attributes, fill value, dimension names).
    values : Any
        The values of the full shape, or None for an array holding only its fill value.
    documents : dict
        ``zarr.json`` key -> (buffer, document, indent) of the documents written here; the
        new array's is added.
    need_array : bool
        Whether to return the array opened through zarr.
    queue : SetQueue, optional
        Where the writes wait (None: written now).

    Returns
    -------
    zarr.Array, None or False
        The array (``need_array``), None (written, not wanted), or False: not handled here,
        nothing was written.
    """
    store = parent.store
    store_path = parent.store_path / name
    key = f"{store_path.path}/zarr.json"
    if not direct_write_possible(store, key, options, queue):
        return False
    planned = _array_writes(store_path.path, dtype, options, values)
    if planned is None:
        return False
    doc, items = planned
    indent = zarr.config.get("json_indent")
    meta = default_buffer_prototype().buffer.from_bytes(encode(doc, indent))
    items.append((key, meta))
    documents[key] = (meta, doc, indent)
    if queue is None:
        sync(_set_all(store, items))
    else:
        queue.put(store, items)
    if not need_array:
        return None
    if queue is not None:
        queue.flush()
    return zarr.open_array(store, path=store_path.path, mode="r+", zarr_format=3)


def _array_writes(prefix: str, dtype: Any, options: dict, values: Any) -> tuple[dict, list] | None:
    """The ``zarr.json`` document of a new array at ``prefix`` and the ``(key, buffer)`` of
    its chunks (:func:`direct_write`), or None if nwbzarr does not encode it."""
    shape = tuple(options["shape"])
    codecs = codecs_for(dtype, len(shape), options["compressors"])
    if codecs is None:
        return None
    chunks = tuple(options.get("chunks", ()))
    fill, fill_json = codecs.fill_json(options.get("fill_value"))
    if not codecs.text and codecs.dtype.kind == "f" and np.isnan(fill):
        return None  # chunks all NaN: leave the empty-chunk test to zarr
    items = []
    if values is not None:
        items = encoded_chunks(prefix, values, shape, chunks, fill, codecs)
        if items is None:
            return None
    doc = array_document(
        shape,
        codecs.data_type,
        chunks,
        fill_json,
        codecs.codecs,
        options["attributes"],
        options.get("dimension_names"),
    )
    return doc, items


def direct_write_possible(store: Any, key: str, options: dict, queue: SetQueue | None) -> bool:
    """Whether :func:`direct_write` may write the array whose document is ``key``: a new node
    of a :class:`WriteBackStore`, unsharded, without filters or a custom serializer.

    Parameters
    ----------
    store : zarr store
        The store of the parent group.
    key : str
        The new array's ``zarr.json`` key.
    options : dict
        The keyword arguments ``zarr.create_array`` would get.
    queue : SetQueue or None
        The queue of writes not yet in the store.

    Returns
    -------
    bool
    """
    return not (
        not isinstance(store, WriteBackStore)
        or store.holds(key)
        or (queue is not None and queue.holds(key))
        or options.get("shards") is not None
        or "filters" in options
        or "serializer" in options
    )


def encoded_chunks(
    prefix: str, values: Any, shape: tuple, chunks: tuple, fill: Any, codecs: Codecs
) -> list | None:
    """``(key, buffer)`` of every chunk of ``values`` not all ``fill`` (edge chunks padded
    with the fill value, as zarr does), or None if ``values`` do not have ``shape``.

    Parameters
    ----------
    prefix : str
        The array's path in the store (chunk keys are ``{prefix}/c/...``).
    values : Any
        The array's values.
    shape : tuple of int
        The array's shape.
    chunks : tuple of int
        Its chunk shape.
    fill : Any
        Its fill value (a numpy or ``str`` scalar).
    codecs : Codecs
        Its codec chain.

    Returns
    -------
    list of (str, Buffer) or None
    """
    arr = np.asarray(values) if not codecs.text else np.asarray(values, dtype=object)
    if arr.shape != shape:
        return None
    proto = default_buffer_prototype()
    items = []
    for index in chunk_indices(shape, chunks):
        region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape))
        part = arr[region]
        if all_fill(part, fill, codecs.text):
            continue
        if part.shape != chunks:  # an edge chunk: padded with the fill value
            full = np.full(chunks, fill, dtype=object if codecs.text else codecs.dtype)
            full[tuple(slice(0, n) for n in part.shape)] = part
            part = full
        chunk_key = "c/" + "/".join(str(i) for i in index) if index else "c"
        items.append((f"{prefix}/{chunk_key}", proto.buffer.from_bytes(codecs.encode(part))))
    return items


def chunk_indices(shape: tuple, chunks: tuple) -> Any:
    """The index of every chunk of an array, in C order.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    chunks : tuple of int
        Its chunk shape.

    Returns
    -------
    Iterator of tuple of int
    """
    return itertools.product(*(range(-(-n // c)) for n, c in zip(shape, chunks)))


def all_fill(part: np.ndarray, fill: Any, text: bool) -> bool:
    """Whether a chunk region equals the fill value everywhere (zarr then stores nothing).

    Parameters
    ----------
    part : numpy.ndarray
        The chunk region's values.
    fill : Any
        The fill value.
    text : bool
        Whether the values are text (compared one by one).

    Returns
    -------
    bool
    """
    if text:
        return all(v == fill for v in part.reshape(-1))
    return bool(np.array_equal(part, np.broadcast_to(fill, part.shape)))


async def _set_all(store: Any, items: list) -> None:
    for key, value in items:
        await store.set(key, value)


class SetQueue:
    """``(key, buffer)`` writes of new nodes held until :meth:`flush` hands them all to the
    store in one event-loop call (one thread hop for many nodes instead of one each).

    The writer flushes it before anything else touches the store (zarr calls, links,
    attribute updates, iterators, consolidation), so no reader ever misses a queued node.

    Attributes
    ----------
    items : dict
        Key -> buffer of the writes held, in order.
    store : zarr store or None
        The store they go to.
    """

    #: Flush once this many writes are held.
    MAX_ITEMS = 2048

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.store: Any = None

    def holds(self, key: str) -> bool:
        """Whether a write of ``key`` is queued.

        Parameters
        ----------
        key : str
            A store key.

        Returns
        -------
        bool
        """
        return key in self.items

    def put(self, store: Any, items: list) -> None:
        """Queue ``items`` for ``store`` (flushing first if another store's are held).

        Parameters
        ----------
        store : zarr store
            The store the writes go to.
        items : list of (str, Buffer)
            The writes.
        """
        if self.store is not None and store is not self.store:
            self.flush()
        self.store = store
        self.items.update(items)
        if len(self.items) >= self.MAX_ITEMS:
            self.flush()

    def flush(self) -> None:
        """Write everything queued through ``store.set``, in order."""
        if self.items:
            items, self.items = list(self.items.items()), {}
            sync(_set_all(self.store, items))


def create_group(
    parent: zarr.Group,
    name: str,
    attrs: dict,
    documents: dict | None = None,
    queue: SetQueue | None = None,
) -> zarr.Group:
    """Create a child group with its attributes in one metadata write.

    In a new file (a :class:`WriteBackStore`, whose parents were all written through it) the
    group document is built here and saved directly (through ``queue`` when given): zarr's
    ``create_group`` would also check and re-save every ancestor's document, which costs more
    than the group itself.

    Parameters
    ----------
    parent : zarr.Group
        The group to create the child in.
    name : str
        The child's name.
    attrs : dict
        Its attributes.
    documents : dict, optional
        ``zarr.json`` key -> (buffer, document, indent) of the documents written here; the
        new group's is added when it is written directly.
    queue : SetQueue, optional
        Where the write waits (None: written now).

    Returns
    -------
    zarr.Group
    """
    store = parent.store
    store_path = parent.store_path / name
    key = f"{store_path.path}/zarr.json"
    if not isinstance(store, WriteBackStore) or store.holds(key) or (queue and queue.holds(key)):
        if queue is not None:
            queue.flush()
        return parent.create_group(name, attributes=attrs)  # zarr checks what exists there
    doc = group_document(attrs)
    indent = zarr.config.get("json_indent")
    meta = default_buffer_prototype().buffer.from_bytes(encode(doc, indent))
    if queue is None:
        sync(store.set(key, meta))
    else:
        queue.put(store, [(key, meta)])
    if documents is not None:
        documents[key] = (meta, doc, indent)
    metadata = GroupMetadata(attributes=attrs, zarr_format=3)
    return group_from_async(AsyncGroup(metadata=metadata, store_path=store_path))


@functools.lru_cache(maxsize=256)
def _zarr_dtype_cached(dtype: np.dtype) -> Any:
    return zdtype_from_native(dtype)


def zarr_dtype(dtype: Any) -> Any:
    """The zarr data type object of a numpy dtype, made once per dtype (zarr otherwise matches
    the dtype against its whole registry at every array creation).

    Parameters
    ----------
    dtype : numpy.dtype or type
        A numpy dtype or anything ``numpy.dtype`` accepts.

    Returns
    -------
    zarr data type
    """
    return _zarr_dtype_cached(np.dtype(dtype))
