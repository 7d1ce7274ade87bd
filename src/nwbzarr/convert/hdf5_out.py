"""Zarr -> HDF5: each array's chunk shape, codecs and fill value kept as HDF5 storage, its
values copied block by block.

A numeric Zarr array read from the source becomes an ``H5DataIO`` around a
:class:`ZarrBlockIterator`: hdmf's ``HDF5IO`` creates the dataset with the chunk shape (the
inner chunk shape of a sharded array), filters and fill value of :func:`hdf5_storage`, then
writes the iterator's blocks one at a time. A block is a run of whole chunks of about
:data:`BLOCK_BYTES`, read from the source's shards by byte range, so memory stays bounded by
one block (plus its encoded bytes) whatever the array's size. Arrays of a local store whose
chunks are stored as bytes [+ shuffle] [+ gzip] skip the values altogether: hdmf creates their
datasets empty and :func:`copy_deferred` writes the stored chunks re-framed
(:mod:`nwbzarr.convert.hdf5_raw`), without compressing them again.

Codec -> filter mapping (docs: "Zarr -> HDF5"):

* ``gzip``, ``numcodecs.gzip``, ``numcodecs.zlib`` -> HDF5 deflate at the same level;
* ``numcodecs.shuffle`` -> HDF5 shuffle;
* ``zstd`` / ``numcodecs.zstd``, ``blosc`` / ``numcodecs.blosc``, ``numcodecs.lz4`` -> the
  hdf5plugin filters (Zstd 32015, Blosc 32001, LZ4 32004) when hdf5plugin is importable and
  the filter registered; otherwise deflate (+ shuffle when the codec shuffled) and a warning
  naming the dataset;
* ``crc32c`` / ``numcodecs.crc32`` / ``numcodecs.fletcher32`` -> HDF5 fletcher32 (a checksum
  for a checksum);
* ``bytes`` (byte order), ``transpose`` (values are decoded in logical order) -> nothing to
  keep;
* any other codec (``numcodecs.bz2``, ``numcodecs.lzma``, ``numcodecs.delta``, several
  compressors in a row, ...) -> deflate level 4 with shuffle and a warning naming the dataset.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

from ..formats.hdf5 import filters
from . import hdf5_raw

__all__ = [
    "BLOCK_BYTES",
    "Wrapped",
    "copy_deferred",
    "HDF5Storage",
    "ZarrBlockIterator",
    "hdf5_storage",
    "wrap_zarr_datasets",
]

#: Target uncompressed size of one block read from Zarr and written to HDF5 (whole chunks).
BLOCK_BYTES = 16 * 2**20

#: Deflate level used when a codec has no HDF5 filter and the values are re-encoded.
FALLBACK_GZIP_LEVEL = 4

#: HDF5 keeps a chunk below 4 GiB.
_MAX_HDF5_CHUNK_BYTES = 2**32 - 1

_GZIP = {"gzip", "numcodecs.gzip", "numcodecs.zlib"}
_ZSTD = {"zstd", "numcodecs.zstd"}
_BLOSC = {"blosc", "numcodecs.blosc"}
_LZ4 = {"numcodecs.lz4"}
_SHUFFLE = {"numcodecs.shuffle"}
_CHECKSUM = {"crc32c", "numcodecs.crc32", "numcodecs.crc32c", "numcodecs.fletcher32"}
_NOTHING = {"bytes", "transpose", "endian"}

# numcodecs Blosc stores shuffle as an int (-1 auto, 0 none, 1 byte, 2 bit), Zarr v3 as a name.
_BLOSC_SHUFFLE_NAMES = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle", -1: "shuffle"}
_HDF5PLUGIN_CNAMES = ("blosclz", "lz4", "lz4hc", "snappy", "zlib", "zstd")


@dataclass(frozen=True)
class HDF5Storage:
    """HDF5 storage settings kept from one Zarr array.

    Attributes
    ----------
    chunks : tuple of int or None
        HDF5 chunk shape (the Zarr inner chunk shape, clipped to the array's shape); None lets
        hdmf choose one (an empty array, a chunk of 4 GiB or more).
    options : dict
        Keyword arguments for ``H5DataIO``: ``compression``, ``compression_opts``,
        ``shuffle``, ``fletcher32``, ``fillvalue``, ``allow_plugin_filters``.
    block : tuple of int
        Shape of one block copied at a time (whole chunks).
    notes : tuple of str
        One sentence per codec not kept as it was (warned about once).
    """

    chunks: tuple[int, ...] | None
    options: dict = field(default_factory=dict)
    block: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()


def _codec_dicts(array: Any) -> tuple[list[dict], tuple[int, ...]] | None:
    """The codecs of a Zarr v3 array as JSON dicts, sharding unwrapped, and the chunk shape
    they apply to (the inner chunk shape of a sharded array); None for Zarr v2 metadata."""
    codecs = getattr(array.metadata, "codecs", None)
    if codecs is None:
        return None
    dicts = [c.to_dict() for c in codecs]
    chunks = tuple(int(c) for c in array.chunks)
    while len(dicts) == 1 and dicts[0].get("name") == "sharding_indexed":
        config = dicts[0].get("configuration", {})
        chunks = tuple(int(c) for c in config.get("chunk_shape", chunks))
        dicts = [c if isinstance(c, dict) else c.to_dict() for c in config.get("codecs", ())]
    return dicts, chunks


def _plugin_filter(kind: str, config: dict) -> dict | None:
    """``{"compression": id, "compression_opts": (...)}`` of the hdf5plugin filter for a Zarr
    codec, or None when hdf5plugin is missing or its filter is not registered with HDF5."""
    import h5py

    if not filters.load_hdf5_plugins():  # looked up per call (tests patch it)
        return None
    import hdf5plugin

    if kind == "zstd":
        level = int(config.get("level", 3) or 3)
        made = hdf5plugin.Zstd(clevel=min(max(level, 1), 22))
    elif kind == "lz4":
        made = hdf5plugin.LZ4()
    else:
        cname = str(config.get("cname", "lz4"))
        shuffle = config.get("shuffle", "shuffle")
        if not isinstance(shuffle, str):
            shuffle = _BLOSC_SHUFFLE_NAMES.get(int(shuffle), "shuffle")
        shuffle_code = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}.get(shuffle, 1)
        if cname not in _HDF5PLUGIN_CNAMES:
            return None
        level = int(config.get("clevel", 5))
        made = hdf5plugin.Blosc(cname=cname, clevel=min(max(level, 0), 9), shuffle=shuffle_code)
    settings = dict(made)
    if not h5py.h5z.filter_avail(int(settings["compression"])):
        return None
    return settings


def _blosc_shuffles(config: dict) -> bool:
    shuffle = config.get("shuffle", "shuffle")
    if not isinstance(shuffle, str):
        shuffle = _BLOSC_SHUFFLE_NAMES.get(int(shuffle), "shuffle")
    return shuffle != "noshuffle"


def _filters(codecs: list[dict], itemsize: int, path: str) -> tuple[dict, list[str]]:
    """HDF5 filter options for the bytes -> bytes (and array -> array) codecs of one array."""
    options: dict[str, Any] = {}
    notes: list[str] = []
    shuffle = False
    compressor: tuple[str, dict] | None = None
    unknown: list[str] = []
    for codec in codecs:
        name = str(codec.get("name", ""))
        config = codec.get("configuration", {}) or {}
        if name in _NOTHING:
            continue
        if name in _SHUFFLE:
            shuffle = True
        elif name in _CHECKSUM:
            options["fletcher32"] = True
        elif name in _GZIP | _ZSTD | _BLOSC | _LZ4:
            if compressor is not None:
                unknown.append(name)  # HDF5IO takes one compression filter
            else:
                compressor = (name, config)
        else:
            unknown.append(name)
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        notes.append(
            f"{path}: Zarr codec {listed} has no HDF5 filter; the values are re-encoded with "
            f"gzip level {FALLBACK_GZIP_LEVEL} and shuffle"
        )
        options.update(compression="gzip", compression_opts=FALLBACK_GZIP_LEVEL)
        options["shuffle"] = itemsize > 1
        return options, notes
    if compressor is None:
        if shuffle:
            options["shuffle"] = True
        return options, notes
    name, config = compressor
    if name in _GZIP:
        level = int(config.get("level", 6))
        options.update(compression="gzip", compression_opts=level if 0 <= level <= 9 else 6)
        if shuffle:
            options["shuffle"] = True
        return options, notes
    kind = "zstd" if name in _ZSTD else "lz4" if name in _LZ4 else "blosc"
    plugin = _plugin_filter(kind, config)
    if plugin is not None:
        options.update(plugin, allow_plugin_filters=True)
        if shuffle:
            options["shuffle"] = True
        return options, notes
    shuffle = shuffle or (kind == "blosc" and _blosc_shuffles(config))
    notes.append(
        f"{path}: Zarr codec {name!r} needs the hdf5plugin package for its HDF5 filter, which "
        f"is not installed (or lacks it); the values are re-encoded with gzip level "
        f"{FALLBACK_GZIP_LEVEL}{' and shuffle' if shuffle and itemsize > 1 else ''} "
        "(pip install hdf5plugin to keep it)"
    )
    options.update(compression="gzip", compression_opts=FALLBACK_GZIP_LEVEL)
    if shuffle and itemsize > 1:
        options["shuffle"] = True
    return options, notes


def _fill_value(array: Any) -> Any:
    """The array's fill value as a Python number of its dtype, or None (not representable)."""
    value = getattr(array, "fill_value", None)
    if value is None:
        return None
    try:
        out = np.asarray(value, dtype=array.dtype)
    except (TypeError, ValueError, OverflowError):
        return None
    if out.shape != ():
        return None
    return out[()]


def block_shape(
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    outer: tuple[int, ...] | None,
    itemsize: int,
    target: int | None = None,
) -> tuple[int, ...]:
    """Shape of the blocks copied one at a time: whole ``chunks``, about ``target`` bytes.

    The block grows from the last axis to the first, each axis up to the shard (``outer``) or
    the array's extent, so a block is a contiguous run of chunks inside one shard where it
    fits.

    Parameters
    ----------
    shape : tuple of int
        The array's shape.
    chunks : tuple of int
        Chunk (inner chunk) shape.
    outer : tuple of int, optional
        Shard shape (None: unsharded).
    itemsize : int
        Bytes per element.
    target : int, optional
        Target bytes per block (default :data:`BLOCK_BYTES`; at least one chunk is always
        taken).

    Returns
    -------
    tuple of int
    """
    target = BLOCK_BYTES if target is None else target
    ndim = len(shape)
    block = [max(1, int(c)) for c in chunks]
    for d in reversed(range(ndim)):
        extent = math.ceil(shape[d] / block[d]) * block[d] if shape[d] else block[d]
        limit = min(extent, outer[d]) if outer is not None else extent
        per_unit = math.prod(block) // block[d] * itemsize
        wanted = max(1, target // max(per_unit, 1)) // block[d] * block[d]
        grown = min(max(block[d], wanted), max(limit, block[d]))
        block[d] = grown
        if grown < limit:
            break
    return tuple(block)


def hdf5_storage(array: Any, path: str, keep_storage: bool = True) -> HDF5Storage:
    """HDF5 chunk shape, filters and fill value keeping those of a numeric Zarr array.

    Parameters
    ----------
    array : zarr.Array
        The source array (Zarr v3 metadata; v2 metadata is re-encoded with gzip).
    path : str
        Dataset path, for the notes.
    keep_storage : bool
        False: hdmf's default chunk shape and gzip level 4 with shuffle, whatever the source.

    Returns
    -------
    HDF5Storage
    """
    dtype = np.dtype(array.dtype)
    shape = tuple(int(s) for s in array.shape)
    shards = getattr(array, "shards", None)
    itemsize = dtype.itemsize
    found = _codec_dicts(array)
    notes: list[str] = []
    if not keep_storage:
        options = {"compression": "gzip", "compression_opts": FALLBACK_GZIP_LEVEL}
        options["shuffle"] = itemsize > 1
        chunks = tuple(int(c) for c in (found[1] if found else array.chunks))
        return HDF5Storage(None, options, block_shape(shape, chunks, shards, itemsize), ())
    if found is None:
        chunks = tuple(int(c) for c in array.chunks)
        options = {"compression": "gzip", "compression_opts": FALLBACK_GZIP_LEVEL}
        options["shuffle"] = itemsize > 1
        notes.append(
            f"{path}: Zarr v2 array; the values are re-encoded with gzip level "
            f"{FALLBACK_GZIP_LEVEL} and shuffle"
        )
    else:
        codecs, chunks = found
        options, notes = _filters(codecs, itemsize, path)
    if options.get("shuffle") and itemsize == 1:
        options.pop("shuffle")  # a no-op for one-byte elements; HDF5 would keep it anyway
    fill = _fill_value(array)
    if fill is not None:
        options["fillvalue"] = fill
    block = block_shape(shape, chunks, shards, itemsize)
    hdf5_chunks: tuple[int, ...] | None = tuple(
        min(int(c), int(s)) for c, s in zip(chunks, shape, strict=True)
    )
    if not shape or 0 in shape or math.prod(hdf5_chunks) * itemsize > _MAX_HDF5_CHUNK_BYTES:
        hdf5_chunks = None
    return HDF5Storage(hdf5_chunks, options, block, tuple(notes))


class ZarrBlockIterator(AbstractDataChunkIterator):
    """An hdmf data chunk iterator over a Zarr array, one block of whole chunks at a time.

    Parameters
    ----------
    array : zarr.Array
        The source (read with ``array[selection]``).
    block : tuple of int
        Block shape (see :func:`block_shape`).
    chunks : tuple of int, optional
        Chunk shape recommended to the HDF5 writer.
    progress : callable, optional
        Called with the number of bytes of each block once it is read.
    empty : bool
        Yield no block: hdmf only creates the dataset, whose chunks are written afterwards
        from the stored bytes (:mod:`nwbzarr.convert.hdf5_raw`).
    """

    def __init__(
        self,
        array: Any,
        block: tuple[int, ...],
        chunks: tuple[int, ...] | None = None,
        progress: Callable[[int], Any] | None = None,
        empty: bool = False,
    ) -> None:
        self.array = array
        self.shape = tuple(int(s) for s in array.shape)
        self.block = tuple(int(b) for b in block)
        self.chunks = chunks
        self.progress = progress
        self._dtype = np.dtype(array.dtype)
        counts = [math.ceil(s / b) if s else 0 for s, b in zip(self.shape, self.block, strict=True)]
        self._count = 0 if empty or not counts else math.prod(counts)
        self._counts = counts
        self._next = 0

    def __iter__(self) -> ZarrBlockIterator:
        return self

    def __next__(self) -> DataChunk:
        if self._next >= self._count:
            raise StopIteration
        index = np.unravel_index(self._next, self._counts)
        self._next += 1
        selection = tuple(
            slice(int(i) * b, min((int(i) + 1) * b, s))
            for i, b, s in zip(index, self.block, self.shape, strict=True)
        )
        values = np.asarray(self.array[selection])
        if self.progress is not None:
            self.progress(values.nbytes)
        return DataChunk(data=values, selection=selection)

    next = __next__

    @property
    def ndim(self) -> int:
        """Number of dimensions (hdmf asks ``numpy.ndim`` of the data)."""
        return len(self.shape)

    def recommended_chunk_shape(self) -> tuple[int, ...] | None:
        """The HDF5 chunk shape kept from the source."""
        return self.chunks

    def recommended_data_shape(self) -> tuple[int, ...]:
        """The array's full shape (the dataset is created at its final size)."""
        return self.shape

    @property
    def dtype(self) -> np.dtype:
        """The source's dtype."""
        return self._dtype

    @property
    def maxshape(self) -> tuple[int, ...]:
        """The array's shape (hdmf makes expandable types resizable on its own)."""
        return self.shape


#: glibc ``mallopt`` parameter: allocations of at least this many bytes are mapped and
#: unmapped on their own (``M_MMAP_THRESHOLD``).
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 2**20
_MALLOC_TUNED = False


def release_large_buffers() -> bool:
    """Make glibc return freed buffers of 1 MiB or more to the system at once.

    zarr decodes chunks on worker threads, each with its own malloc arena; glibc's dynamic
    mmap threshold then keeps freed chunk-sized buffers in those arenas, so the resident
    memory of a block-by-block copy creeps up by tens of MB (measured: +60 MB for a 256 MB
    array). A fixed threshold (``mallopt(M_MMAP_THRESHOLD, 1 MiB)``, as the environment
    variable ``MALLOC_MMAP_THRESHOLD_`` sets it) keeps the copy's memory at about one block.
    The setting is process-wide and stays; it changes nothing but where large buffers live.
    A no-op (False) where the C library is not glibc.

    Returns
    -------
    bool
        Whether the threshold was set (now or by an earlier call).
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _MALLOC_TUNED = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES))
    return _MALLOC_TUNED


def _is_numeric_zarr(data: Any) -> bool:
    import zarr

    if not isinstance(data, zarr.Array):
        return False
    try:
        dtype = np.dtype(data.dtype)
    except TypeError:
        return False
    shape = tuple(data.shape)
    return dtype.kind in "biufc" and dtype.fields is None and bool(shape) and 0 not in shape


@dataclass
class Wrapped:
    """What :func:`wrap_zarr_datasets` did.

    Attributes
    ----------
    total : int
        Uncompressed bytes of the wrapped arrays (the progress bar's total).
    deferred : list of tuple
        ``(hdf5 path, zarr array, RawChunks, block shape)`` of the arrays whose stored chunks
        are copied after hdmf has created their (empty) datasets: see :func:`copy_deferred`.
    """

    total: int = 0
    deferred: list = field(default_factory=list)


def wrap_zarr_datasets(
    root: Any,
    progress: Callable[[int], Any] | None = None,
    keep_storage: bool = True,
    raw: bool = True,
) -> Wrapped:
    """Replace the data of every numeric Zarr-backed dataset builder under ``root`` by an
    ``H5DataIO`` around a :class:`ZarrBlockIterator` keeping its storage.

    Warns (``UserWarning``, once per dataset, naming it) for each codec re-encoded.

    Parameters
    ----------
    root : hdmf.build.GroupBuilder
        The builder tree read from the source.
    progress : callable, optional
        Receives the bytes of each block copied.
    keep_storage : bool
        See :func:`hdf5_storage`.
    raw : bool
        Copy stored gzip (or uncompressed) chunks of local arrays without re-compressing
        them (:mod:`nwbzarr.convert.hdf5_raw`): their datasets are created empty and listed
        in :attr:`Wrapped.deferred`.

    Returns
    -------
    Wrapped
    """
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.build import DatasetBuilder, GroupBuilder

    out = Wrapped()
    tuned = False
    seen: set[int] = set()
    stack = [root]
    while stack:
        group = stack.pop()
        if id(group) in seen:
            continue
        seen.add(id(group))
        for sub in group.groups.values():
            if isinstance(sub, GroupBuilder):
                stack.append(sub)
        for dset in group.datasets.values():
            if not isinstance(dset, DatasetBuilder) or not _is_numeric_zarr(dset.data):
                continue
            array = dset.data
            if not tuned:
                tuned = True
                release_large_buffers()
            path = "/" + dset.path.split("/", 1)[1] if "/" in dset.path else f"/{dset.name}"
            storage = hdf5_storage(array, path, keep_storage)
            for note in storage.notes:
                warnings.warn(note, UserWarning, stacklevel=2)
            plan = hdf5_raw.raw_chunks(array) if raw and keep_storage else None
            if plan is not None and plan.chunks != storage.chunks:
                plan = None  # chunks clipped to the shape: the stored bytes do not fit
            iterator = ZarrBlockIterator(
                array, storage.block, storage.chunks, progress, empty=plan is not None
            )
            if plan is not None:
                out.deferred.append((path, array, plan, storage.block))
            kwargs = dict(storage.options)
            kwargs["chunks"] = storage.chunks if storage.chunks is not None else True
            with warnings.catch_warnings():
                # hdmf's notice that plugin filters need a plugin to read: chosen on purpose
                # (the source needed its codec too), documented in docs "Zarr -> HDF5"
                warnings.filterwarnings("ignore", message=".*compression may not be available")
                wrapped = H5DataIO(data=iterator, **kwargs)
            # hdmf makes VectorData & co. resizable when maxshape is unset: leave that to it
            wrapped.io_settings.pop("maxshape", None)
            dset["data"] = wrapped  # the builder's ``data`` setter refuses to replace a value
            out.total += int(np.dtype(array.dtype).itemsize) * math.prod(array.shape)
    return out


def copy_deferred(
    h5file: Any, wrapped: Wrapped, progress: Callable[[int], Any] | None = None
) -> None:
    """Fill the datasets :func:`wrap_zarr_datasets` left empty, from the stored chunks.

    A dataset that hdmf did not create exactly as planned (another dtype, chunk shape or
    filters) is filled from the values instead, block by block.

    Parameters
    ----------
    h5file : h5py.File
        The HDF5 file written, open for writing.
    wrapped : Wrapped
        From :func:`wrap_zarr_datasets`.
    progress : callable, optional
        Receives the bytes copied.
    """

    for path, array, plan, block in wrapped.deferred:
        dset = h5file[path]
        dtype = np.dtype(array.dtype)
        shape = tuple(int(s) for s in array.shape)
        if hdf5_raw.matches(dset, plan, dtype):
            hdf5_raw.copy_raw(dset, plan, shape, dtype.itemsize, progress)
            continue
        for chunk in ZarrBlockIterator(array, block, None, progress):
            dset[chunk.selection] = chunk.data
