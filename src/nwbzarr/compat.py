"""Every use of zarr-python, hdmf and pynwb internals, in one place.

The rest of nwbzarr imports from here anything that is not a documented public API of its
dependencies: private modules (``zarr.core.*``), private attributes (``Array._async_array``,
``Group._async_group``, name-mangled hdmf fields), monkeypatches of hdmf and pynwb functions,
zarr's codec-pipeline hooks, and matches on upstream error text. Each shim prefers a public
name where one exists and falls back by *feature* (``hasattr`` / ``try: import``), never by
comparing version strings. ``tests/test_compat.py`` holds one test per shim, so an upstream
change fails there first and by name.

Supported: zarr-python 3.1.x to 3.4.x, hdmf >= 4, pynwb >= 3.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import threading
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr
import zarr.abc.store
import zarr.errors

from .errors import ReadOnlyError

__all__ = [
    "Buffer",
    "BufferPrototype",
    "default_buffer_prototype",
    "StoreCompat",
    "StoreReadOnlyError",
    "WrapperStoreCompat",
    "ZARR_READ_ONLY_MESSAGE",
    "read_only_store_error",
    "UnstableSpecificationWarning",
    "sync",
    "concurrent_map",
    "AsyncGroup",
    "GroupMetadata",
    "save_metadata",
    "zdtype_from_native",
    "enum_value",
    "async_array",
    "async_group",
    "array_from_async",
    "group_from_async",
    "rebind_array",
    "read_scalars",
    "chunk_decoders",
    "DEFAULT_CODEC_PIPELINE",
    "compressor_classes",
    "checked_codec_class",
    "with_codec_class",
    "install_codec_pipeline",
    "is_consolidated_metadata_error",
    "is_hdf5_filter_error",
    "wrap_hdmf_extend_data",
    "widen_vector_index",
    "dataio_declared",
    "hdf5io_file",
    "wrap_pynwb_entry_points",
    # issue 15 (toolchain): see the section at the end
    "copy_data_on_hdf5_export",
    "nwbinspector_locates_zarr_arrays",
]

# -- zarr: buffers ------------------------------------------------------------------------------
try:  # public since zarr 3.0
    from zarr.abc.buffer import Buffer, BufferPrototype
except ImportError:  # pragma: no cover - older zarr-python
    from zarr.core.buffer import Buffer, BufferPrototype

try:  # public module
    from zarr.buffer import default_buffer_prototype
except ImportError:  # pragma: no cover - older zarr-python
    from zarr.core.buffer import default_buffer_prototype


# -- zarr: stores and warnings -----------------------------------------------------------------
def _store_compat_members() -> dict[str, Any]:
    from zarr.abc.store import Store

    members: dict[str, Any] = {}
    abstract = getattr(Store, "__abstractmethods__", frozenset())
    if "supports_partial_writes" in abstract:  # zarr < 3.1.3

        def supports_partial_writes(self: Any) -> bool:
            return False

        members["supports_partial_writes"] = property(supports_partial_writes)
    if "set_partial_values" in abstract:  # zarr < 3.1.3

        async def set_partial_values(self: Any, key_start_values: Any) -> None:
            raise NotImplementedError(f"{type(self).__name__} does not support partial writes")

        members["set_partial_values"] = set_partial_values
    return members


#: Base class to list before ``zarr.abc.store.Store`` in nwbzarr's own stores: it supplies
#: the members older zarr-python declares abstract on ``Store`` and later removed
#: (``supports_partial_writes``, ``set_partial_values``: zarr < 3.1.3); empty otherwise.
StoreCompat: type = type("StoreCompat", (), {"__module__": __name__, **_store_compat_members()})

#: zarr's words for a write to a read-only store (``Store._check_writable``); zarr's store
#: conformance suite (``zarr.testing.store.StoreTests``) looks for them.
ZARR_READ_ONLY_MESSAGE = "store was opened in read-only mode and does not support writing"


class StoreReadOnlyError(ReadOnlyError, ValueError):
    """A write to one of nwbzarr's read-only stores: nwbzarr's :class:`~nwbzarr.errors.
    ReadOnlyError` and the ``ValueError`` zarr's own read-only stores raise, so callers of
    either convention catch it."""


def read_only_store_error(detail: str) -> StoreReadOnlyError:
    """The error a read-only store raises for a write: zarr's wording, then ``detail``.

    Parameters
    ----------
    detail : str
        Which store refused what, and what to do instead.

    Returns
    -------
    StoreReadOnlyError
    """
    return StoreReadOnlyError(f"{ZARR_READ_ONLY_MESSAGE}: {detail}")


class WrapperStoreCompat:
    """Base class (listed before ``zarr.storage.WrapperStore``) for nwbzarr's wrapper stores.

    zarr-python >= 3.4 gives every ``WrapperStore`` ``get_sync``/``set_sync``/``delete_sync``
    and ``get_ranges`` that call the *wrapped* store directly, and its codec pipeline takes
    the synchronous path whenever the wrapped store can. nwbzarr's wrappers change what a key
    reads or how it is written (held writes, the append journal, committed snapshots, a read
    cache), so here the synchronous methods run the wrapper's own coroutines (on zarr's event
    loop, from a thread that is not running it), ``_supports_sync_io`` is False (zarr's
    pipeline keeps to the asynchronous methods), and ``get_ranges`` is zarr's ``Store``
    default, built on the wrapper's ``get``. On older zarr-python nothing calls these.
    """

    @property
    def _supports_sync_io(self) -> bool:
        return False

    def get_sync(
        self,
        key: str,
        *,
        prototype: BufferPrototype | None = None,
        byte_range: Any = None,
    ) -> Buffer | None:
        """The value of ``key`` (or a byte range of it) as the async ``get`` returns it.

        Parameters
        ----------
        key : str
            Store key.
        prototype : BufferPrototype, optional
            Buffer type of the answer (zarr's default if omitted).
        byte_range : ByteRequest, optional
            Part of the value.

        Returns
        -------
        Buffer or None
        """
        proto = prototype or default_buffer_prototype()
        return sync(self.get(key, proto, byte_range))  # type: ignore[attr-defined]

    def set_sync(self, key: str, value: Buffer) -> None:
        """Write ``value`` under ``key`` through the async ``set``.

        Parameters
        ----------
        key : str
            Store key.
        value : Buffer
            The bytes.
        """
        sync(self.set(key, value))  # type: ignore[attr-defined]

    def delete_sync(self, key: str) -> None:
        """Delete ``key`` through the async ``delete``.

        Parameters
        ----------
        key : str
            Store key.
        """
        sync(self.delete(key))  # type: ignore[attr-defined]

    if hasattr(zarr.abc.store.Store, "get_ranges"):  # zarr >= 3.2
        get_ranges = zarr.abc.store.Store.get_ranges


class _NeverRaised(Warning):
    """Stands in for a zarr warning class this zarr-python does not have."""


#: ``zarr.errors.UnstableSpecificationWarning`` (zarr >= 3.1.2); a warning class nothing
#: raises on older zarr-python, so that ``filterwarnings(category=...)`` stays valid.
UnstableSpecificationWarning: type[Warning] = getattr(
    zarr.errors, "UnstableSpecificationWarning", _NeverRaised
)


#: Messages of zarr's notices about parts of our convention (docs/storage.md) that zarr-python
#: calls unstable or non-standard: consolidated metadata in v3, numcodecs codecs in v3 (HDF5
#: filters of a virtual view: shuffle, fletcher32, ...), and an append's journal directory
#: (``.nwbzarr-*``, storage/journal.py) found while listing a group.
ZARR_NOTICES: tuple[str, ...] = (
    "Consolidated metadata is currently not part",
    "Numcodecs codecs are not in the Zarr version 3",
    r"Object at \.nwbzarr-\w+ is not recognized",
)


@contextlib.contextmanager
def quiet_zarr_warnings() -> Iterator[None]:
    """Silence zarr's notices about what our convention uses on purpose (structured dtypes,
    consolidated metadata and numcodecs codecs in Zarr v3, journal directories), inside the
    ``with`` block only; every other warning still reaches the caller.

    The one place these filters live: modules reading or writing stores use this instead of
    their own ``warnings.filterwarnings`` lists.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UnstableSpecificationWarning)
        for message in ZARR_NOTICES:
            warnings.filterwarnings("ignore", message=message)
        yield


# -- zarr: event loop ---------------------------------------------------------------------------
#: zarr's ``sync(coro)``: run a coroutine on zarr's I/O event loop and return its result.
#: There is no public equivalent; every blocking call of nwbzarr into zarr's async API uses it,
#: so that stores (aiohttp sessions, fsspec file systems) stay bound to one loop.
from zarr.core.sync import sync  # noqa: E402

try:
    from zarr.core.common import concurrent_map as _zarr_concurrent_map
except ImportError:  # pragma: no cover - another zarr-python
    _zarr_concurrent_map = None


async def concurrent_map(
    items: Iterable[tuple[Any, ...]],
    func: Callable[..., Awaitable[Any]],
    limit: int | None = None,
) -> list[Any]:
    """Await ``func(*item)`` for every item, at most ``limit`` at a time, results in order.

    Parameters
    ----------
    items : iterable of tuple
        Argument tuples.
    func : coroutine function
        Called as ``func(*item)``.
    limit : int, optional
        Most calls in flight (None: no bound).

    Returns
    -------
    list
        The results, in the order of ``items``.
    """
    if _zarr_concurrent_map is not None:
        return await _zarr_concurrent_map(list(items), func, limit=limit)
    items = list(items)  # pragma: no cover - fallback
    if limit is None:  # pragma: no cover
        return list(await asyncio.gather(*(func(*item) for item in items)))
    sem = asyncio.Semaphore(limit)  # pragma: no cover

    async def run(item: tuple) -> Any:  # pragma: no cover
        async with sem:
            return await func(*item)

    return list(await asyncio.gather(*(run(item) for item in items)))  # pragma: no cover


# -- zarr: groups and metadata documents --------------------------------------------------------
AsyncGroup = getattr(zarr, "AsyncGroup", None)
if AsyncGroup is None:  # pragma: no cover - older zarr-python
    from zarr.core.group import AsyncGroup

#: The metadata of a Zarr group (no public name in zarr-python).
from zarr.core.group import GroupMetadata  # noqa: E402

try:
    from zarr.core.metadata.io import save_metadata as _zarr_save_metadata
except ImportError:  # zarr < 3.1.3 keeps it private in zarr.core.array
    _zarr_save_metadata = None


async def save_metadata(store_path: Any, metadata: Any) -> None:
    """Write a node's metadata document(s) (``zarr.json``) at ``store_path``, nothing else.

    Parents are not checked or written (zarr's ``ensure_parents=False``).

    Parameters
    ----------
    store_path : zarr.storage.StorePath
        Where the node lives.
    metadata : GroupMetadata or ArrayMetadata
        Its metadata.
    """
    if _zarr_save_metadata is not None:
        await _zarr_save_metadata(store_path, metadata)
        return
    docs = metadata.to_buffer_dict(default_buffer_prototype())  # pragma: no cover - fallback
    await asyncio.gather(*((store_path / key).set(value) for key, value in docs.items()))


def zdtype_from_native(dtype: Any) -> Any:
    """The Zarr v3 data type object (``ZDType``) of a numpy dtype.

    Parameters
    ----------
    dtype : numpy.dtype
        A native dtype.

    Returns
    -------
    zarr.dtype.ZDType
        Its ``to_json(zarr_format=3)`` is the ``data_type`` of array metadata.
    """
    import zarr.dtype

    # public: parse_dtype (zarr >= 3.1.1), parse_data_type (3.1.0; deprecated later)
    parse = getattr(zarr.dtype, "parse_dtype", None) or zarr.dtype.parse_data_type
    return parse(dtype, zarr_format=3)


def enum_value(value: Any) -> Any:
    """The plain value of a codec setting that zarr may hold as an enum or as a string.

    zarr 3.1 holds e.g. ``ShardingCodec.index_location``, ``BytesCodec.endian`` and
    ``BloscCodec.shuffle`` as enum members; zarr 3.4 as plain strings (literal types).

    Parameters
    ----------
    value : Any
        An enum member, a string, or None.

    Returns
    -------
    Any
        ``value.value`` for an enum member, else ``value`` unchanged.
    """
    return getattr(value, "value", value)


# -- zarr: arrays and groups wrapping their async twins -----------------------------------------
def async_array(array: zarr.Array) -> Any:
    """The ``AsyncArray`` behind a ``zarr.Array`` (private field ``_async_array``).

    Parameters
    ----------
    array : zarr.Array
        An open array.

    Returns
    -------
    zarr.AsyncArray
        The same array's async API (``getitem``, ``setitem``, ``codec_pipeline``...).
    """
    return array._async_array


def array_config(array: zarr.Array) -> Any:
    """The runtime configuration of an open array (``order``, ``write_empty_chunks``, and from
    zarr 3.2 ``read_missing_chunks``): ``AsyncArray.config``, ``_config`` before zarr 3.1.6.

    Parameters
    ----------
    array : zarr.Array
        An open array.

    Returns
    -------
    zarr.core.array_spec.ArrayConfig or None
        None when this zarr keeps it under neither name.
    """
    aa = async_array(array)
    config = getattr(aa, "config", None)
    return config if config is not None else getattr(aa, "_config", None)


def codec_tunable_attrs(codec: Any) -> tuple[str, ...]:
    """Names of the settings a zarr codec fills in from the array's dtype when they were given
    as None (Blosc's ``typesize``/``shuffle``: private ``_tunable_attrs``); ``()`` if none.

    Parameters
    ----------
    codec : zarr codec
        A codec object.

    Returns
    -------
    tuple of str
    """
    return tuple(sorted(getattr(codec, "_tunable_attrs", ()) or ()))


def regular_chunk_shape(metadata: Any) -> tuple[int, ...] | None:
    """The chunk shape of Zarr v3 array metadata with a regular chunk grid, else None (the
    grid's class is ``RegularChunkGrid`` up to zarr 3.3, ``RegularChunkGridMetadata`` after).

    Parameters
    ----------
    metadata : zarr ArrayV3Metadata
        An array's metadata.

    Returns
    -------
    tuple of int or None
    """
    grid = getattr(metadata, "chunk_grid", None)
    if type(grid).__name__ not in ("RegularChunkGrid", "RegularChunkGridMetadata"):
        return None
    shape = getattr(grid, "chunk_shape", None)
    return None if shape is None else tuple(int(n) for n in shape)


def async_group(group: zarr.Group) -> Any:
    """The ``AsyncGroup`` behind a ``zarr.Group`` (private field ``_async_group``).

    Parameters
    ----------
    group : zarr.Group
        An open group.

    Returns
    -------
    zarr.AsyncGroup
        The same group's async API.
    """
    return group._async_group


def array_from_async(aa: Any, cls: type | None = None) -> Any:
    """A ``zarr.Array`` (or subclass ``cls``) over an ``AsyncArray``; no I/O.

    Parameters
    ----------
    aa : zarr.AsyncArray
        The async array.
    cls : type, optional
        A subclass of ``zarr.Array`` to build (default ``zarr.Array``).

    Returns
    -------
    zarr.Array
        The synchronous array.
    """
    return (cls or zarr.Array)(aa)


def group_from_async(ag: Any) -> zarr.Group:
    """A ``zarr.Group`` over an ``AsyncGroup``; no I/O.

    Parameters
    ----------
    ag : zarr.AsyncGroup
        The async group.

    Returns
    -------
    zarr.Group
        The synchronous group.
    """
    return zarr.Group(ag)


def rebind_array(array: zarr.Array, new: zarr.Array) -> None:
    """Point ``array`` (in place) at the array ``new`` (e.g. after a dtype change).

    Everyone holding ``array`` (hdmf containers) then sees the new metadata and data.

    Parameters
    ----------
    array : zarr.Array
        The object to update.
    new : zarr.Array
        The array it now stands for.
    """
    # zarr.Array is a frozen-less dataclass whose only field is the async array
    object.__setattr__(array, "_async_array", new._async_array)


async def read_scalars(arrays: Iterable[zarr.Array]) -> list[Any]:
    """Read every ``array[()]`` concurrently on zarr's event loop.

    Parameters
    ----------
    arrays : iterable of zarr.Array
        0-d (or any) arrays.

    Returns
    -------
    list
        Their values, in order.
    """
    return list(await asyncio.gather(*(async_array(a).getitem(()) for a in arrays)))


def chunk_decoders(
    array: zarr.Array, selection: Any, limit: int = 4096
) -> list[tuple[str, Callable[[], Awaitable[bool]]]]:
    """For each stored chunk (or shard) ``array[selection]`` touches: its key and a decoder.

    Parameters
    ----------
    array : zarr.Array
        An open array.
    selection : Any
        A basic selection (ints, slices, Ellipsis).
    limit : int
        Most chunks listed.

    Returns
    -------
    list of (str, coroutine function)
        ``(key, decode)``; ``await decode()`` reads the chunk's region (all public API: the
        region of one stored object, decoded by the array's codec pipeline), returning False
        when the chunk is not stored and raising what the codecs raise.
    """
    import itertools

    aa = async_array(array)
    shape = tuple(array.shape)
    grid = tuple(array.shards or array.chunks)  # a shard is one stored object
    encoding = array.metadata.chunk_key_encoding
    spans = _selection_spans(selection, shape)
    cells = [
        range(lo // c, (hi - 1) // c + 1) if hi > lo else range(0)
        for (lo, hi), c in zip(spans, grid)
    ]

    def decoder(chunk: tuple[int, ...]) -> tuple[str, Callable[[], Awaitable[bool]]]:
        key = encoding.encode_chunk_key(chunk)
        stored = f"{array.path}/{key}" if array.path else key
        region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(chunk, grid, shape))

        async def decode() -> bool:
            if not await array.store.exists(stored):
                return False
            await aa.getitem(region)  # the array's own codec pipeline decodes the object
            return True

        return key, decode

    return [decoder(chunk) for chunk in itertools.islice(itertools.product(*cells), limit)]


def _selection_spans(selection: Any, shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """Per dimension, the ``[start, stop)`` a basic selection covers (whole for anything else)."""
    items = selection if isinstance(selection, tuple) else (selection,)
    if sum(1 for s in items if s is Ellipsis) > 1:
        return [(0, n) for n in shape]
    where = [i for i, s in enumerate(items) if s is Ellipsis]  # identity: items may be arrays
    if where:
        i = where[0]
        items = items[:i] + (slice(None),) * (len(shape) - len(items) + 1) + items[i + 1 :]
    items = items + (slice(None),) * (len(shape) - len(items))
    spans = []
    for item, n in zip(items, shape):
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool) and -n <= item < n:
            i = int(item) % n
            spans.append((i, i + 1))
        elif isinstance(item, slice) and (item.step or 1) > 0:
            start, stop, _ = item.indices(n)
            spans.append((start, max(start, stop)))
        else:
            spans.append((0, n))
    return spans


# -- zarr: codec pipeline hooks (storage/checked_codecs.py) -------------------------------------
#: zarr's default ``codec_pipeline.path``.
DEFAULT_CODEC_PIPELINE = "zarr.core.codec_pipeline.BatchedCodecPipeline"

#: (module, class name, private attribute holding the numcodecs codec or None, kind, arguments
#: of the probe instance); zarr.codecs.numcodecs exists from zarr 3.1.3 on
_COMPRESSORS = (
    ("zarr.codecs", "ZstdCodec", "_zstd_codec", "zstd", {}),
    ("zarr.codecs", "BloscCodec", "_blosc_codec", "blosc", {"typesize": 4, "shuffle": "shuffle"}),
    ("zarr.codecs", "GzipCodec", None, "gzip", {}),
    ("zarr.codecs.numcodecs", "Zstd", "_codec", "zstd", {}),
    ("zarr.codecs.numcodecs", "Blosc", "_codec", "blosc", {}),
    ("zarr.codecs.numcodecs", "GZip", None, "gzip", {}),
    ("zarr.codecs.numcodecs", "Zlib", None, "zlib", {}),
)


def compressor_classes() -> list[tuple[type, str, Callable[[Any], Any] | None]]:
    """zarr's bytes-to-bytes compressor classes, with the numcodecs decoder of an instance.

    A class is left out when its module is missing, or when it lacks the private attribute
    that holds its numcodecs decoder (checked on a probe instance).

    Returns
    -------
    list of (type, str, callable or None)
        ``(codec class, kind, inner)``: ``kind`` is ``"zstd"``, ``"blosc"``, ``"gzip"`` or
        ``"zlib"``; ``inner(codec)`` returns the numcodecs codec decoding for ``codec`` (None
        for gzip/zlib, which are inflated without it).
    """
    import importlib
    import warnings

    found = []
    for module_name, cls_name, attr, kind, probe in _COMPRESSORS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # pragma: no cover - older zarr-python
            continue
        base = getattr(module, cls_name, None)
        if base is None:
            continue
        inner = None
        if attr is not None:
            try:
                with warnings.catch_warnings():  # numcodecs wrappers warn on construction
                    warnings.simplefilter("ignore")
                    getattr(base(**probe), attr)
            except Exception:  # noqa: BLE001 - another zarr-python: leave this codec alone
                continue
            inner = _getter(attr)
        found.append((base, kind, inner))
    return found


def _getter(attr: str) -> Callable[[Any], Any]:
    def inner(codec: Any) -> Any:
        return getattr(codec, attr)

    return inner


def checked_codec_class(
    base: type, decode_sync: Callable[[Any, Any, Any], Any], module: str, name: str
) -> type:
    """A subclass of zarr codec class ``base`` whose chunk decoding calls ``decode_sync``.

    Overrides zarr's codec hooks ``_decode_single`` (async; run in a worker thread) and, where
    the class has it, ``_decode_sync``.

    Parameters
    ----------
    base : type
        A zarr ``BytesBytesCodec`` class.
    decode_sync : callable
        ``decode_sync(codec, chunk_bytes, chunk_spec) -> Buffer``.
    module, name : str
        ``__module__`` and ``__qualname__`` of the new class (it must be importable by that
        name for arrays to pickle).

    Returns
    -------
    type
        The subclass.
    """

    async def _decode_single(self: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        return await asyncio.to_thread(decode_sync, self, chunk_bytes, chunk_spec)

    def _nwbzarr_decode_sync(self: Any, chunk_bytes: Any, chunk_spec: Any) -> Any:
        return decode_sync(self, chunk_bytes, chunk_spec)

    namespace = {
        "__module__": module,
        "__qualname__": name,
        "__doc__": f"{base.__name__} that checks the decoded size first (nwbzarr).",
        "_decode_single": _decode_single,
        "_nwbzarr_decode_sync": _nwbzarr_decode_sync,
    }
    if hasattr(base, "_decode_sync"):
        namespace["_decode_sync"] = _nwbzarr_decode_sync
    return type(name, (base,), namespace)


def with_codec_class(codec: Any, cls: type) -> Any:
    """A shallow copy of codec ``codec`` whose class is ``cls`` (same fields and state).

    Parameters
    ----------
    codec : zarr codec
        A (frozen dataclass) codec instance.
    cls : type
        A subclass of ``type(codec)`` adding no fields.

    Returns
    -------
    zarr codec
        The copy.
    """
    twin = copy.copy(codec)
    object.__setattr__(twin, "__class__", cls)  # frozen dataclass: no __setattr__
    return twin


def install_codec_pipeline(
    transform: Callable[[list[Any]], list[Any]], module: str, name: str
) -> type | None:
    """Make zarr decode through its default pipeline with the codecs passed via ``transform``.

    A subclass of zarr's ``BatchedCodecPipeline`` whose ``from_codecs`` maps the codec list
    through ``transform`` is registered and selected in ``zarr.config``
    (``codec_pipeline.path``; process-wide, for arrays opened afterwards).

    Parameters
    ----------
    transform : callable
        ``transform(codecs) -> codecs`` (only the pipeline's copies change, not the metadata).
    module, name : str
        ``__module__`` and ``__qualname__`` of the class; the caller makes it importable by
        that name, as zarr's config names a pipeline by its fully qualified name.

    Returns
    -------
    type or None
        The pipeline class, or None when nothing was installed: another pipeline than
        zarr's default is configured, or this zarr-python lacks the hooks.
    """
    try:
        from zarr.core.codec_pipeline import BatchedCodecPipeline
        from zarr.registry import fully_qualified_name, register_pipeline

        if zarr.config.get("codec_pipeline.path") != DEFAULT_CODEC_PIPELINE:
            return None  # the user chose a pipeline: leave it
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - other zarr versions
        return None

    class Pipeline(BatchedCodecPipeline):
        @classmethod
        def from_codecs(cls, codecs: Any, *, batch_size: int | None = None) -> Any:
            return super().from_codecs(transform(list(codecs)), batch_size=batch_size)

    Pipeline.__module__ = module
    Pipeline.__name__ = Pipeline.__qualname__ = name
    Pipeline.__doc__ = "BatchedCodecPipeline whose decompressors check decoded sizes (nwbzarr)."
    register_pipeline(Pipeline)
    zarr.config.set({"codec_pipeline.path": fully_qualified_name(Pipeline)})
    return Pipeline


# -- upstream error text ------------------------------------------------------------------------
def is_consolidated_metadata_error(exc: BaseException) -> bool:
    """Whether zarr's ``ValueError`` from ``open_group`` is about consolidated metadata.

    zarr raises a plain ``ValueError`` (no subclass) when a group's consolidated metadata
    is malformed; nwbzarr then retries without it.

    Parameters
    ----------
    exc : BaseException
        The error ``zarr.open_group`` raised.

    Returns
    -------
    bool
        True if the message names consolidated metadata.
    """
    return isinstance(exc, ValueError) and "consolidated" in str(exc).lower()


def is_hdf5_filter_error(err: BaseException) -> bool:
    """Whether an h5py ``OSError`` from a read says a chunk's filter (deflate...) failed.

    Parameters
    ----------
    err : BaseException
        The error a dataset read raised.

    Returns
    -------
    bool
        True if h5py's message names a filter.
    """
    text = str(err)
    # HDF5 >= 1.14: "filter returned failure during read"; older: "inflate() failed"
    return isinstance(err, OSError) and ("filter" in text or "inflate() failed" in text)


# -- hdmf ---------------------------------------------------------------------------------------
def _install_wrapper(owner: Any, name: str, original: Any, wrapper: Callable) -> bool:
    """Set ``owner.<name>`` to ``wrapper`` (wrapping ``original``) unless it is installed already.

    The wrapper gets ``original``'s name and docstring (``functools.wraps``) and the markers
    ``_nwbzarr_wrapped`` (what makes the shims idempotent) and ``_nwbzarr_original``.

    Parameters
    ----------
    owner : module or type
        Where the attribute lives.
    name : str
        The attribute.
    original : callable or None
        What ``owner.<name>`` is now (None when this version of the library has none).
    wrapper : callable
        The replacement; it calls ``original`` itself.

    Returns
    -------
    bool
        True if the wrapper is (now) installed, False if ``original`` is None.
    """
    if original is None:  # pragma: no cover - another hdmf
        return False
    if getattr(original, "_nwbzarr_wrapped", False):
        return True
    functools.update_wrapper(wrapper, original)
    wrapper._nwbzarr_wrapped = True  # type: ignore[attr-defined]
    wrapper._nwbzarr_original = original  # type: ignore[attr-defined]
    setattr(owner, name, wrapper)
    return True


def wrap_hdmf_extend_data(extend_attr: str = "_nwbzarr_extend") -> bool:
    """Wrap ``hdmf.container.extend_data`` so objects with ``extend_attr`` extend themselves.

    hdmf's ``Data.extend`` calls the module attribute ``hdmf.container.extend_data`` (imported
    there from ``hdmf.data_utils``), which handles lists, numpy and h5py only. The wrapper
    calls ``data.<extend_attr>(arg)`` when ``data`` has it, else hdmf's function. Idempotent.

    Parameters
    ----------
    extend_attr : str
        The method name looked up on the data.

    Returns
    -------
    bool
        True if the wrapper is (now) installed, False if hdmf has no such function.
    """
    import hdmf.container

    original = getattr(hdmf.container, "extend_data", None)

    def extend_data(data: Any, arg: Any) -> Any:
        extend = getattr(data, extend_attr, None)
        if extend is not None:
            return extend(arg)
        return original(data, arg)

    return _install_wrapper(hdmf.container, "extend_data", original, extend_data)


def widen_vector_index(index: Any) -> bool:
    """Make an hdmf ``VectorIndex`` hand out ``uint64`` offsets (no 255-element cap).

    hdmf tracks the width of a ``VectorIndex``'s offsets in name-mangled fields
    (``_VectorIndex__uint``, ``_VectorIndex__maxval``) and for data read from a file
    starts from ``uint8``.

    Parameters
    ----------
    index : hdmf.common.table.VectorIndex
        The index.

    Returns
    -------
    bool
        True if the fields were set, False if this hdmf has no such fields.
    """
    if not hasattr(index, "_VectorIndex__uint"):
        return False
    index._VectorIndex__uint = np.uint64
    index._VectorIndex__maxval = np.iinfo(np.uint64).max
    return True


def dataio_declared(dataio: Any) -> tuple[Any, Any]:
    """The shape and dtype an hdmf ``DataIO`` without data was declared with.

    hdmf keeps them in name-mangled fields (``_DataIO__shape``, ``_DataIO__dtype``).

    Parameters
    ----------
    dataio : hdmf.data_utils.DataIO
        A DataIO whose ``data`` is None (``dataio.valid`` is False).

    Returns
    -------
    tuple
        ``(shape, dtype)``, each None when not declared (or not found).
    """
    return getattr(dataio, "_DataIO__shape", None), getattr(dataio, "_DataIO__dtype", None)


def hdf5io_file(io: Any) -> Any:
    """The open ``h5py.File`` of an hdmf ``HDF5IO`` (``NWBHDF5IO``).

    hdmf exposes it only as the private property ``HDF5IO._file``.

    Parameters
    ----------
    io : hdmf.backends.hdf5.HDF5IO
        An open HDF5IO.

    Returns
    -------
    h5py.File
        Its file.
    """
    return io._file


# -- h5py ---------------------------------------------------------------------------------------
_HDF5_FALLBACK_LOCK = threading.RLock()


def hdf5_library_lock() -> Any:
    """The lock that serializes calls into the HDF5 library (h5py's ``phil``).

    HDF5 builds are not thread-safe, and h5py takes its private reentrant lock
    ``h5py._objects.phil`` around its API calls; not every low-level call takes it in every
    release (seen with h5py 3.11: ``DatasetID.read_direct_chunk`` from worker threads while the
    main thread reads the file fails with "Unspecified error in H5Dread_chunk"). Code reading
    raw chunks from threads holds this lock around each HDF5 call. Without ``phil`` (a future
    h5py), a module lock stands in, which still serializes nwbzarr's own threads.

    Returns
    -------
    context manager
        A reentrant lock.
    """
    try:
        from h5py._objects import phil
    except ImportError:
        return _HDF5_FALLBACK_LOCK
    return phil if hasattr(phil, "__enter__") else _HDF5_FALLBACK_LOCK


# -- pynwb --------------------------------------------------------------------------------------
def wrap_pynwb_entry_points(ours: Callable[[Any], bool], backend: type) -> list[str]:
    """Route pynwb's backend discovery to nwbzarr for the paths ``ours`` accepts.

    Wraps the module attributes ``pynwb._get_backend(path, method=None)`` (used by
    ``pynwb.validate``) and ``pynwb.read_nwb(path, ...)``: a path with ``ours(path)`` true
    goes to nwbzarr, everything else to pynwb's own function. Idempotent; a function pynwb
    does not have is skipped.

    Parameters
    ----------
    ours : callable
        ``ours(path) -> bool``.
    backend : type
        The HDMFIO class ``_get_backend`` returns for our paths; ``pynwb.read_nwb`` returns
        ``backend.read_nwb(path)`` for them.

    Returns
    -------
    list of str
        The names of the pynwb attributes that are wrapped after the call.
    """
    import pynwb

    wrapped = []
    get_backend = getattr(pynwb, "_get_backend", None)
    if get_backend is not None and not getattr(get_backend, "_nwbzarr_wrapped", False):

        @functools.wraps(get_backend)
        def _get_backend(path: str, method: str | None = None) -> Any:
            if method != "ros3" and ours(path):
                return backend
            return get_backend(path, method=method)

        _get_backend._nwbzarr_wrapped = True  # type: ignore[attr-defined]
        pynwb._get_backend = _get_backend
    if getattr(getattr(pynwb, "_get_backend", None), "_nwbzarr_wrapped", False):
        wrapped.append("_get_backend")

    pynwb_read_nwb = getattr(pynwb, "read_nwb", None)
    if pynwb_read_nwb is not None and not getattr(pynwb_read_nwb, "_nwbzarr_wrapped", False):

        @functools.wraps(pynwb_read_nwb)
        def _read_nwb(path: str | Path, *args: Any, **kwargs: Any) -> Any:
            if ours(path):
                return backend.read_nwb(str(path))
            return pynwb_read_nwb(path, *args, **kwargs)

        _read_nwb._nwbzarr_wrapped = True  # type: ignore[attr-defined]
        pynwb.read_nwb = _read_nwb
    if getattr(getattr(pynwb, "read_nwb", None), "_nwbzarr_wrapped", False):
        wrapped.append("read_nwb")
    return wrapped


# == issue 15: HDF5 export from nwbzarr, nwbinspector's view of zarr arrays ====================
# Both shims are installed on first use (copy_data_on_hdf5_export by register_with_pynwb,
# nwbinspector_locates_zarr_arrays by nwbzarr.inspection); tests: tests/backend/test_nwb.py
# and tests/test_inspection.py.
_EXPORT_PARAMETERS = ("src_io", "container", "write_args", "cache_spec")


def copy_data_on_hdf5_export(is_source: Callable[[Any], bool]) -> bool:
    """Make ``HDF5IO.export(src_io=...)`` copy datasets when ``is_source(src_io)`` is true.

    hdmf's ``HDF5IO.export`` refuses every source that is not an ``HDF5IO`` unless the caller
    passes ``write_args={"link_data": False}``: its default ``link_data=True`` would link the
    source's datasets into the new file, which HDF5 cannot do for a Zarr array. The wrapper
    sets ``link_data=False`` for such sources when the caller did not choose (an explicit
    ``link_data=True`` still gets hdmf's error). ``NWBHDF5IO.export`` goes through it too.
    Idempotent.

    Parameters
    ----------
    is_source : callable
        ``is_source(src_io) -> bool``: True for the I/O objects whose data are copied.

    Returns
    -------
    bool
        True if the wrapper is (now) installed, False if this hdmf has no ``HDF5IO.export``.
    """
    try:
        from hdmf.backends.hdf5.h5tools import HDF5IO
    except ImportError:  # pragma: no cover - another hdmf
        return False
    original = HDF5IO.__dict__.get("export")

    def export(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.update(zip(_EXPORT_PARAMETERS, args))  # docval allows them positionally
        if is_source(kwargs.get("src_io")):
            write_args = dict(kwargs.get("write_args") or {})
            write_args.setdefault("link_data", False)
            kwargs["write_args"] = write_args
        return original(self, **kwargs)

    return _install_wrapper(HDF5IO, "export", original, export)


def nwbinspector_locates_zarr_arrays() -> bool:
    """Let nwbinspector name the location of objects whose datasets are zarr arrays.

    nwbinspector fills an ``InspectorMessage.location`` from the first ``h5py.Dataset`` field
    of the object, or from a ``zarr.Array`` field only when ``hdmf_zarr`` is installed (module
    flags ``nwbinspector._registration._HAS_HDMF_ZARR`` and ``_DATASET_TYPES``). This sets
    them as nwbinspector does with hdmf-zarr installed, so a message on an object read by
    nwbzarr has the location it has on the HDF5 original. The flags of the compression
    checks (``nwbinspector.checks._nwb_containers``) are left alone: with them set those
    checks fail on every Zarr v3 array (``zarr.Array.compressor`` raises, docs/toolchain.md).
    Idempotent.

    Returns
    -------
    bool
        True if nwbinspector locates zarr arrays after the call, False if this nwbinspector
        has no such flags (nothing is changed).
    """
    try:
        from nwbinspector import _registration
    except ImportError:
        return False
    types = getattr(_registration, "_DATASET_TYPES", None)
    if not hasattr(_registration, "_HAS_HDMF_ZARR") or not isinstance(types, tuple):
        return False
    if zarr.Array not in types:
        _registration._DATASET_TYPES = (*types, zarr.Array)
    if not _registration._HAS_HDMF_ZARR:
        _registration.zarr = zarr  # what its zarr branch refers to (imported with hdmf_zarr)
        _registration._HAS_HDMF_ZARR = True
    return True


# -- h5py / hdmf: the h5py-like view (nwbzarr.h5view) ------------------------------------------
# hdmf's HDF5IO and pynwb's NWBHDF5IO take only h5py objects: docval types ``h5py.File`` /
# ``h5py.Group`` / ``h5py.Dataset``, ``isinstance`` checks against them and ``h5py.Reference``.
# The view's classes (nwbzarr/h5view/groups.py, datasets.py) subclass those four without calling
# their ``__init__`` (no HDF5 identifier is behind them) and override every public member.
#
# One hdmf internal is wrapped: ``HDF5IO._check_str_dtype`` wraps every variable-length text
# dataset it reads in ``hdmf.utils.StrDataset``, an ``h5py.Dataset`` subclass that forwards only
# the attributes it lacks to the wrapped dataset, so h5py's own property and ``__array__`` code
# would run against a view dataset and fail for want of an HDF5 identifier. For the view's
# datasets the wrapper returns the view's own ``StrDataset`` subclass instead (same ``isinstance``
# answers, every member served by the view).
def h5py_view_bases() -> dict[str, type]:
    """The h5py classes the h5py-like view subclasses.

    Returns
    -------
    dict of str to type
        ``{"File": h5py.File, "Group": h5py.Group, "Dataset": h5py.Dataset,
        "Reference": h5py.Reference}``.

    Raises
    ------
    TypeError
        If this h5py's ``Reference`` cannot be subclassed (a final extension type).
    """
    import h5py

    try:
        type("_ProbeReference", (h5py.Reference,), {})
    except TypeError as exc:  # pragma: no cover - another h5py
        raise TypeError(
            f"h5py {h5py.__version__}: h5py.Reference cannot be subclassed, so "
            "nwbzarr.h5py_view cannot hand out references HDF5IO accepts"
        ) from exc
    return {
        "File": h5py.File,
        "Group": h5py.Group,
        "Dataset": h5py.Dataset,
        "Reference": h5py.Reference,
    }


def wrap_hdf5io_text_datasets(is_ours: Callable[[Any], bool], wrap: Callable[[Any], Any]) -> bool:
    """Make hdmf's ``HDF5IO`` wrap the view's text datasets with ``wrap`` instead of
    ``hdmf.utils.StrDataset``.

    Wraps the method ``HDF5IO._check_str_dtype(self, h5obj)``: ``wrap(h5obj)`` when
    ``is_ours(h5obj)``, hdmf's method otherwise. Idempotent.

    Parameters
    ----------
    is_ours : callable
        ``is_ours(h5obj) -> bool``: the dataset is one of the view's.
    wrap : callable
        ``wrap(h5obj)`` -> what ``HDF5IO`` keeps as the dataset's data.

    Returns
    -------
    bool
        True if the wrapper is (now) installed, False if this hdmf has no such method (the
        view's text datasets then go into hdmf's ``StrDataset``, whose ``np.asarray`` fails).
    """
    from hdmf.backends.hdf5.h5tools import HDF5IO

    original = vars(HDF5IO).get("_check_str_dtype")

    def _check_str_dtype(self: Any, h5obj: Any) -> Any:
        if is_ours(h5obj):
            return wrap(h5obj)
        return original(self, h5obj)

    return _install_wrapper(HDF5IO, "_check_str_dtype", original, _check_str_dtype)


__all__ += ["h5py_view_bases", "wrap_hdf5io_text_datasets", "hdf5_library_lock"]


# == issue 15 (attribute values, compounds): zarr >= 3.4's "struct" data type on zarr 3.1 ======
# zarr >= 3.4 writes compound arrays with the canonical data type name "struct" (object-style
# fields, fill value as an object of field values); zarr 3.1 knows only "structured" (pairs,
# base64 fill value) and fails to open any group whose consolidated metadata lists a "struct"
# array: a store written by nwbzarr or hdmf-zarr 0.14 on zarr 3.4 would not open on zarr 3.1.5.
# Installed at import of this module; test: tests/backend/test_attribute_values.py.
_STRUCT_PROBE = {
    "name": "struct",
    "configuration": {"fields": [{"name": "a", "data_type": "int8"}]},
}


def install_struct_reader() -> bool:
    """Let a zarr that lacks the ``"struct"`` data type read it (idempotent).

    The reader is registered in zarr's data type registry under ``"struct"``. It accepts both
    field layouts and both fill-value forms, never claims a numpy dtype (so creating an array
    still picks zarr's own ``Structured``), and writes metadata back as ``"structured"``, which
    every zarr from 3.1 on reads.

    Returns
    -------
    bool
        True if the reader is (now) registered, False if this zarr reads ``"struct"`` itself.
    """
    import zarr.dtype as zdtype

    registry = zdtype.data_type_registry
    try:
        found = registry.match_json(_STRUCT_PROBE, zarr_format=3)
    except ValueError:
        found = None
    if found is not None:
        return getattr(type(found), "_nwbzarr_struct_reader", False)
    from zarr.core.dtype import get_data_type_from_json

    try:
        from zarr.errors import DataTypeValidationError
    except ImportError:  # zarr 3.1
        from zarr.core.dtype.common import DataTypeValidationError

    class StructReader(zdtype.Structured):
        """zarr's ``Structured``, also reading the ``"struct"`` JSON of zarr >= 3.4."""

        _nwbzarr_struct_reader = True

        @classmethod
        def from_native_dtype(cls, dtype: Any) -> Any:
            raise DataTypeValidationError("nwbzarr's struct reader does not claim numpy dtypes")

        @classmethod
        def _check_json_v3(cls, data: Any) -> bool:
            return (
                isinstance(data, dict)
                and set(data) == {"name", "configuration"}
                and data["name"] == "struct"
                and isinstance(data["configuration"], dict)
                and set(data["configuration"]) == {"fields"}
                and isinstance(data["configuration"]["fields"], list)
            )

        @classmethod
        def _from_json_v3(cls, data: Any) -> Any:
            if not cls._check_json_v3(data):
                raise DataTypeValidationError(f"not a 'struct' data type: {data!r}")
            fields = []
            for field in data["configuration"]["fields"]:
                if isinstance(field, dict) and set(field) == {"name", "data_type"}:
                    name, spec = field["name"], field["data_type"]
                elif isinstance(field, list) and len(field) == 2:
                    name, spec = field
                else:
                    raise DataTypeValidationError(f"not a 'struct' field: {field!r}")
                fields.append((name, get_data_type_from_json(spec, zarr_format=3)))
            return cls(fields=tuple(fields))

        def from_json_scalar(self, data: Any, *, zarr_format: Any) -> Any:
            if not isinstance(data, dict):  # base64, as "structured" stores it
                return super().from_json_scalar(data, zarr_format=zarr_format)
            values = tuple(
                dt.from_json_scalar(data[name], zarr_format=zarr_format)
                if name in data
                else dt.default_scalar()
                for name, dt in self.fields
            )
            return np.array(values, dtype=self.to_native_dtype())[()]

    registry.register("struct", StructReader)
    return True


install_struct_reader()
__all__ += ["install_struct_reader"]


# -- zarrs: the optional Rust codec pipeline (issue 17) -----------------------------------------
#: ``codec_pipeline.path`` that selects zarrs (``pip install "nwbzarr[zarrs]"``).
ZARRS_PIPELINE = "zarrs.ZarrsCodecPipeline"
#: Environment variable read once at import: ``zarrs`` selects :data:`ZARRS_PIPELINE`.
CODEC_PIPELINE_ENV = "NWBZARR_CODEC_PIPELINE"


class ZarrsNotUsedWarning(UserWarning):
    """zarrs is the selected codec pipeline, but this open or write cannot run through it.

    zarr-python falls back to its own pipeline without a word when zarrs refuses a store;
    nwbzarr says so with this warning (the data read or written are the same either way).
    """


def active_codec_pipeline() -> str:
    """The fully qualified name of the codec pipeline zarr builds for arrays opened now.

    Returns
    -------
    str
        ``zarr.config``'s ``codec_pipeline.path`` (e.g. :data:`ZARRS_PIPELINE`,
        ``nwbzarr.storage.checked_codecs.CheckedCodecPipeline`` or zarr's default).
    """
    return str(zarr.config.get("codec_pipeline.path", DEFAULT_CODEC_PIPELINE))


def zarrs_selected() -> bool:
    """Whether ``zarr.config`` selects a codec pipeline of the ``zarrs`` package.

    Returns
    -------
    bool
        True for :data:`ZARRS_PIPELINE` (or any class of the ``zarrs`` package).
    """
    return active_codec_pipeline().split(".", 1)[0] == "zarrs"


def zarrs_refusal(store: Any) -> str | None:
    """Why zarrs cannot read and write the chunks of ``store``, or None if it can.

    Asks zarrs itself (its pipeline's public constructor
    ``ZarrsCodecPipeline.from_array_metadata_and_store``, with the metadata of a one-byte
    array) instead of listing store classes: zarrs raises ``NotImplementedError`` for a store
    it does not support, which zarr-python catches quietly when it builds an array's pipeline.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The store arrays will be opened on.

    Returns
    -------
    str or None
        None if zarrs accepts the store; else the reason (zarrs missing, or its message).
    """
    import importlib
    import warnings

    import zarr.storage

    try:
        pipeline = importlib.import_module("zarrs").ZarrsCodecPipeline
    except (ImportError, AttributeError) as exc:
        return f"zarrs is not importable ({exc}); pip install 'nwbzarr[zarrs]'"
    probe = zarr.create_array(zarr.storage.MemoryStore(), shape=(1,), dtype="uint8")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # zarrs warns (and falls back) on what it refuses
            impl = pipeline.from_array_metadata_and_store(
                array_metadata=probe.metadata, store=store
            )
    except NotImplementedError as exc:
        return str(exc) or f"zarrs does not support {type(store).__name__} stores"
    except Exception as exc:  # noqa: BLE001 - any refusal: report it, zarr's pipeline reads
        return f"{type(exc).__name__}: {exc}"
    if getattr(impl, "impl", None) is None:
        return f"zarrs built no Rust pipeline for {type(store).__name__} stores"
    return None


def codec_pipeline_of(array: zarr.Array) -> tuple[str, bool]:
    """Which codec pipeline reads and writes ``array``'s chunks.

    Parameters
    ----------
    array : zarr.Array
        An open array.

    Returns
    -------
    tuple
        ``(name, rust)``: the pipeline's fully qualified class name, and whether zarrs' Rust
        implementation is attached (False for every other pipeline, and for an array zarrs
        took but refused, which it reads through zarr-python's pipeline).
    """
    pipeline = async_array(array).codec_pipeline
    cls = type(pipeline)
    name = f"{cls.__module__}.{cls.__qualname__}"
    return name, name.split(".", 1)[0] == "zarrs" and getattr(pipeline, "impl", None) is not None


def select_codec_pipeline_from_env(environ: dict[str, str] | None = None) -> str | None:
    """Apply :data:`CODEC_PIPELINE_ENV` (``NWBZARR_CODEC_PIPELINE``) to ``zarr.config``.

    ``zarrs`` selects :data:`ZARRS_PIPELINE` process-wide (as
    ``zarr.config.set({"codec_pipeline.path": ...})`` does); ``zarr``, ``default`` or an
    empty value leave zarr's configuration alone, so nwbzarr installs its checked pipeline.
    Called once when nwbzarr is imported, before that installation.

    Parameters
    ----------
    environ : dict, optional
        The environment to read (default ``os.environ``).

    Returns
    -------
    str or None
        The pipeline path now selected because of the variable, or None if it changed nothing.

    Warns
    -----
    ZarrsNotUsedWarning
        ``zarrs`` was asked for but is not installed, or the value is not one of the above
        (zarr's configuration is then left unchanged).
    """
    import importlib.util
    import os
    import warnings

    value = (os.environ if environ is None else environ).get(CODEC_PIPELINE_ENV, "")
    value = value.strip().lower()
    if value in ("", "zarr", "default"):
        return None
    if value != "zarrs":
        warnings.warn(
            f"{CODEC_PIPELINE_ENV}={value!r} is not understood; use 'zarrs' (the Rust codec "
            "pipeline) or 'zarr' (zarr-python's, with nwbzarr's decoded-size checks). "
            "zarr's configuration is left as it is",
            ZarrsNotUsedWarning,
            stacklevel=2,
        )
        return None
    if importlib.util.find_spec("zarrs") is None:
        warnings.warn(
            f"{CODEC_PIPELINE_ENV}=zarrs, but zarrs is not installed; reading and writing "
            "through zarr-python's pipeline. Install it with pip install 'nwbzarr[zarrs]'",
            ZarrsNotUsedWarning,
            stacklevel=2,
        )
        return None
    zarr.config.set({"codec_pipeline.path": ZARRS_PIPELINE})
    return ZARRS_PIPELINE


__all__ += [
    "ZARRS_PIPELINE",
    "CODEC_PIPELINE_ENV",
    "ZarrsNotUsedWarning",
    "active_codec_pipeline",
    "zarrs_selected",
    "zarrs_refusal",
    "codec_pipeline_of",
    "select_codec_pipeline_from_env",
]
select_codec_pipeline_from_env()
