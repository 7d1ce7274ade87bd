"""Index an HDF5 file as a read-only Zarr v3 store (a reference set), without copying data.

:func:`index_hdf5` walks an HDF5 file with h5py and returns a
:class:`~nwbzarr.storage.manifest.ReferenceSet` in the unified Zarr v3 convention of
docs/storage.md (§11 describes the mapping): every group and dataset becomes a ``zarr.json``
(metadata built once per node by zarr-python in a ``MemoryStore``, consolidated into the root
``zarr.json`` from the documents by :mod:`nwbzarr.conventions.zarr_json`), every stored
HDF5 chunk becomes one Zarr chunk whose key points at the chunk's bytes in the file (codecs
from :func:`.filters.hdf5_codecs`), and contiguous datasets are cut into ranges of whole rows.
Values that live in the HDF5 heap or object header (text, references, compounds, compact
datasets; converted by :mod:`.values`) and small pieces are read and inlined, encoded by
zarr-python, so the bytes are exactly what zarr reads.

This module never imports hdmf.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import posixpath
import warnings
from collections.abc import Iterator
from itertools import repeat
from typing import Any

import h5py
import numpy as np
from zarr.api.asynchronous import create_array as create_array_async
from zarr.storage import MemoryStore

from ... import limits
from ...compat import GroupMetadata, default_buffer_prototype, quiet_zarr_warnings, sync
from ...conventions import bounded_json
from ...conventions.attributes import (
    ARRAY_DIMENSIONS_ATTR,
    DTYPE_ATTR,
    LINKS_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
)
from ...conventions.dimension_names import ArrayDims, colnames_of, name_arrays_by_group
from ...conventions.layout import choose_chunks, compressors_for
from ...conventions.references import link_entry, normalize_path
from ...conventions.spec_dims import SpecDims
from ...conventions.zarr_json import consolidated_root, encode
from ...errors import HDF5IndexError, LinkCycleError, NWBZarrError, UnsupportedCodecError
from ...storage.manifest import ByteRange, ReferenceSet, gc_paused
from ...storage.remote_file import open_remote_file
from .filters import hdf5_codecs
from .values import (
    attribute_values,
    compound_values,
    dimension_names,
    dtype_kind,
    reference_values,
    text_values,
)

__all__ = ["index_hdf5", "check_hard_link_loops"]

#: Arrays created per event-loop call while indexing.
CREATE_BATCH = 256

#: Block size (bytes) of the fsspec file h5py reads a remote file through.
REMOTE_BLOCK_SIZE = 256 * 1024
#: Estimated bytes per text element when choosing the chunk shape of inlined text (as written).
TEXT_ITEMSIZE = 16


def index_hdf5(
    source: Any,
    *,
    url: str | None = None,
    storage_options: dict | None = None,
    max_chunk_bytes: int = 4 * 2**20,
    inline_bytes: int = 4096,
) -> ReferenceSet:
    """Index an HDF5 file as a Zarr v3 reference set (unified convention, dialect ``"hdf5"``).

    Parameters
    ----------
    source : str, os.PathLike, h5py.File or file object
        A local path, a URL (``https://``, ``s3://``, ... opened through fsspec), an open
        ``h5py.File``, or a binary file object h5py can read.
    url : str, optional
        Location written into every chunk reference (e.g. the remote URL of a file indexed from
        a local copy). Default: the absolute local path or the URL of ``source``.
    storage_options : dict, optional
        fsspec options for a URL ``source`` (credentials, ``anon``...).
    max_chunk_bytes : int
        Largest piece (bytes) a contiguous dataset is cut into; pieces hold whole rows.
    inline_bytes : int
        Stored pieces (chunks, contiguous datasets) of at most this many bytes are copied into
        the reference set instead of referenced.

    Returns
    -------
    ReferenceSet
        ``zarr_format`` 3, ``dialect`` ``"hdf5"``, ``sources`` = ``(url,)``; ``refs`` maps Zarr
        keys to inline bytes or :class:`~nwbzarr.storage.manifest.ByteRange` pieces of the file.

    Raises
    ------
    HDF5IndexError
        If the file cannot be opened or read (not HDF5, truncated, corrupt), or a dataset has a
        datatype the convention does not map; the message names the file and the dataset.
    UnsupportedCodecError
        If a chunked dataset uses an HDF5 filter with no Zarr codec; names the dataset.
    """
    if max_chunk_bytes < 1 or inline_bytes < 0:
        raise ValueError("max_chunk_bytes must be >= 1 and inline_bytes >= 0")
    with _opened(source, storage_options) as (h5file, location):
        ref_url = url if url is not None else location
        if ref_url is None:
            raise HDF5IndexError(
                f"{source!r}: the location of the file is unknown; pass url=... so chunk "
                "references can name it"
            )
        indexer = _Indexer(h5file, ref_url, max_chunk_bytes, inline_bytes)
        try:
            with quiet_zarr_warnings():  # zarr's notices about numcodecs codecs (HDF5
                # deflate is numcodecs.zlib) and consolidated metadata are not the user's
                refs = indexer.run()
        except (HDF5IndexError, UnsupportedCodecError):
            raise
        except (OSError, RuntimeError, KeyError, ValueError) as err:
            raise HDF5IndexError(
                f"{location or ref_url}: cannot read {indexer.where!r} through h5py ({err}); the "
                "file may be truncated or corrupt"
            ) from err
    return ReferenceSet(refs=refs, zarr_format=3, dialect="hdf5", location=None, sources=(ref_url,))


def check_hard_link_loops(h5file: h5py.File) -> None:
    """Refuse an HDF5 file in which a group contains itself through hard links.

    ``f["a/loop"] = f["a"]`` makes group ``/a`` its own child; readers that walk the file
    recursively (hdmf's ``HDF5IO.read_builder``, used by ``nwbzarr convert``) then never end.
    :func:`index_hdf5` needs no such check (it indexes each object once and writes a repeated
    group as a link); call this before handing a file to such a reader.

    Parameters
    ----------
    h5file : h5py.File
        The open file.

    Raises
    ------
    LinkCycleError
        A group is reachable from itself by hard links; the message lists the cycle.
    """
    done: set = set()
    path_ids: list = [h5file["/"].id]  # the groups on the current path, root first
    names: list[str] = ["/"]
    stack = [iter(_hard_linked_groups(h5file, "/"))]  # iterative: any nesting depth
    while stack:
        step = next(stack[-1], None)
        if step is None:
            stack.pop()
            done.add(path_ids.pop())
            names.pop()
            continue
        child, child_path = step
        if child.id in path_ids:
            start = names[path_ids.index(child.id)]
            cycle = names[names.index(start) :] + [child_path]
            raise LinkCycleError(
                f"{h5file.filename}: HDF5 hard links form a cycle: {' -> '.join(cycle)} (the "
                f"same group as {start}); the group contains itself, so the file cannot be "
                "read as a tree"
            )
        if child.id in done:
            continue
        path_ids.append(child.id)
        names.append(child_path)
        stack.append(iter(_hard_linked_groups(child, child_path)))


def _hard_linked_groups(group: h5py.Group, path: str) -> Iterator[tuple[h5py.Group, str]]:
    for name in group:
        if isinstance(group.get(name, getlink=True), h5py.HardLink):
            child = group.get(name)
            if isinstance(child, h5py.Group):
                yield child, posixpath.join(path, name)


def _open_source(url: str, storage_options: dict | None) -> Any:
    """Open a URL as a seekable binary file object with a block cache, read through the same
    range reader as chunk reads (redirects resolved once, retries, ``storage_options``)."""
    return open_remote_file(url, storage_options, block_size=REMOTE_BLOCK_SIZE)


@contextlib.contextmanager
def _opened(source: Any, storage_options: dict | None) -> Iterator[tuple[h5py.File, str | None]]:
    if isinstance(source, h5py.File):
        location = None if source.driver == "fileobj" else os.path.abspath(source.filename)
        yield source, location
        return
    fileobj = None
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if "://" in text:
            location = text
            try:
                fileobj = _open_source(text, storage_options)
            except (OSError, ValueError) as err:
                raise HDF5IndexError(f"{text}: cannot open the file ({err})") from err
            target: Any = fileobj
        else:
            location = os.path.abspath(text)
            target = location
    else:
        target = source
        path = getattr(source, "path", None) or getattr(source, "name", None)
        fs = getattr(source, "fs", None)
        if isinstance(path, str) and fs is not None:
            location = fs.unstrip_protocol(path)
        elif isinstance(path, str) and os.path.isfile(path):
            location = os.path.abspath(path)
        else:
            location = None
    try:
        h5file = h5py.File(target, "r")
    except (OSError, ValueError) as err:
        if fileobj is not None:
            fileobj.close()
        raise HDF5IndexError(
            f"{location or source!r}: cannot open as HDF5 ({err}); the file may be truncated, "
            "corrupt or not HDF5"
        ) from err
    try:
        yield h5file, location
    finally:
        h5file.close()
        if fileobj is not None:
            fileobj.close()


class _Indexer:
    """One walk of one HDF5 file: nodes first (paths, links), then metadata and chunk refs."""

    def __init__(self, h5file: h5py.File, url: str, max_chunk_bytes: int, inline_bytes: int):
        self.file = h5file
        self.url = url
        self.max_chunk_bytes = int(max_chunk_bytes)
        self.inline_bytes = int(inline_bytes)
        self.where = "/"
        # object (file number, address) -> path where the walk placed it; keyed by address,
        # not by h5py ObjectID, so that no HDF5 object stays open after its visit (4000 open
        # datasets held 80 MB of HDF5 object headers)
        self._paths: dict[tuple[int, int], str] = {}
        self._groups: list[tuple[str, list]] = []  # (path, links)
        self._datasets: list[str] = []  # paths
        # what dimension naming needs of each node, read during the walk
        self._group_colnames: dict[str, Any] = {}
        self._types: dict[str, str | None] = {}
        self._store_dict: dict[str, Any] = {}
        self._store = MemoryStore(self._store_dict)
        self._ranges: dict[str, ByteRange] = {}
        # arrays to create in the memory store: (path, create_array kwargs, [(region, values)])
        self._arrays: list[tuple[str, dict, list]] = []

    # -- walk -----------------------------------------------------------------------------
    def run(self) -> dict:
        # the root too: a hard link back to it (``f["a/up"] = f["/"]``) becomes a link, so a
        # group that contains itself is indexed once (reading it raises LinkCycleError)
        self._paths[_object_key(self.file["/"])] = "/"
        with gc_paused():  # one small object per chunk, no cycles
            self._walk(self.file, "/")
            for path in self._datasets:
                self.where = path
                self._dataset(self.file[path], path)
        # zarr's array creation below makes cyclic garbage (coroutines, tasks): with the
        # collector paused it piled up to 115 MB on a file of 4000 small datasets
        self.where = "/"
        self._name_dimensions()
        sync(self._create_arrays())
        prototype = default_buffer_prototype()
        for path, links in self._groups:
            self.where = path
            group = self.file[path]
            attrs = attribute_values(group, path, self._path_of, is_root=path == "/")
            entries = [self._link_json(*link) for link in links]
            if entries:
                attrs[LINKS_ATTR] = entries
            key = _key(path, "zarr.json")
            doc = GroupMetadata(attributes=attrs).to_buffer_dict(prototype)["zarr.json"]
            self._store_dict[key] = doc
        # consolidated from the documents themselves (zarr.consolidate_metadata would open
        # every node again through zarr objects: a third of the index time of a file of
        # thousands of small series)
        suffix = "/zarr.json"
        members = {
            key[: -len(suffix)]: json.loads(value.to_bytes())
            for key, value in self._store_dict.items()
            if key.endswith(suffix)
        }
        root = json.loads(self._store_dict["zarr.json"].to_bytes())
        self._store_dict["zarr.json"] = prototype.buffer.from_bytes(
            encode(consolidated_root(root, members), indent=None)
        )
        refs: dict = {k: v.to_bytes() for k, v in self._store_dict.items()}
        refs.update(self._ranges)
        return refs

    def _walk(self, group: h5py.Group, path: str) -> None:
        self.where = path
        links: list = []
        children = []
        for name in group:
            child_path = posixpath.join(path, name)
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.SoftLink):
                target = group.get(name)
                if target is None:
                    warnings.warn(
                        f"{child_path}: soft link to {link.path!r}, which does not exist; left out",
                        UserWarning,
                        stacklevel=4,
                    )
                    continue
                links.append((name, _object_key(target), posixpath.join(path, link.path), "."))
                continue
            if isinstance(link, h5py.ExternalLink):
                links.append((name, None, link.path, link.filename))
                continue
            obj = group.get(name)
            if obj is None:
                continue
            key = _object_key(obj)
            if key in self._paths:  # a second hard link: a link, as hdmf reads it
                links.append((name, key, self._paths[key], "."))
                continue
            self._paths[key] = child_path
            children.append((name, obj, child_path))
        self._groups.append((path, links))
        norm = normalize_path(path)
        self._group_colnames[norm] = colnames_of(_raw_attr(group, "colnames"))
        self._types[norm] = _type_name(group)
        for _name, obj, child_path in children:
            if isinstance(obj, h5py.Group):
                self._walk(obj, child_path)
            elif isinstance(obj, h5py.Dataset):
                self._datasets.append(child_path)
                self._types[normalize_path(child_path)] = _type_name(obj)
            else:
                raise HDF5IndexError(
                    f"{child_path}: HDF5 named datatypes are not mapped to Zarr nodes"
                )

    def _link_json(self, name: str, obj_id: Any, path: str, source: str) -> dict:
        if obj_id is not None and obj_id in self._paths:
            path = self._paths[obj_id]
        return link_entry(name, path, source=source)

    def _path_of(self, ref: Any, where: str) -> str:
        try:
            target = self.file[ref]
        except (ValueError, KeyError, OSError) as err:
            raise HDF5IndexError(f"{where}: the reference cannot be resolved ({err})") from err
        path = self._paths.get(_object_key(target))
        return path if path is not None else normalize_path(target.name or "/")

    def _name_dimensions(self) -> None:
        """Give every array dimension names consistent within its group (xarray's rule).

        Candidates: HDF5 dimension scales first, then the ``dims`` of the file's cached spec
        (as the writer takes them from hdmf's), then the fallbacks of
        :mod:`nwbzarr.conventions.dimension_names`.
        """
        colnames = self._group_colnames
        types = self._types
        specs = _cached_spec_dims(self.file)
        dataset_types = types
        arrays = {}
        for path, kw, _ in self._arrays:
            key = normalize_path(path)
            shape = tuple(kw["shape"])
            candidates = kw.get("dimension_names")
            if specs and shape:
                from_spec = specs.candidates(
                    len(shape),
                    key.rsplit("/", 1)[-1],
                    dataset_types.get(key),
                    _ancestors(key, types),
                )
                if from_spec is not None:
                    candidates = (
                        [c if c is not None else d for c, d in zip(candidates, from_spec)]
                        if candidates
                        else from_spec
                    )
            arrays[key] = ArrayDims(shape, candidates)
        chosen = name_arrays_by_group(arrays, colnames)
        for path, kw, _ in self._arrays:
            names = chosen.get(normalize_path(path))
            if names:
                kw["dimension_names"] = names
                kw["attributes"] = {**kw.get("attributes", {}), ARRAY_DIMENSIONS_ATTR: names}
            else:
                kw.pop("dimension_names", None)

    async def _create_arrays(self) -> None:
        """Create every array (and encode every inlined value), a batch at a time.

        Batches of :data:`CREATE_BATCH` keep zarr's per-array temporaries (and the inlined
        values, dropped once encoded) from piling up for files of thousands of datasets.
        """
        for start in range(0, len(self._arrays), CREATE_BATCH):
            batch = self._arrays[start : start + CREATE_BATCH]
            await asyncio.gather(
                *(_create_one(self._store, path, kw, writes) for path, kw, writes in batch)
            )
            for _path, _kw, writes in batch:
                writes.clear()

    # -- datasets ---------------------------------------------------------------------------
    def _dataset(self, dset: h5py.Dataset, path: str) -> None:
        if dset.shape is None:
            raise HDF5IndexError(
                f"{path}: HDF5 null dataspace (h5py.Empty) datasets have no Zarr equivalent"
            )
        attrs = attribute_values(dset, path, self._path_of)
        kind = dtype_kind(dset.dtype)
        if kind == "numeric":
            self._numeric(dset, path, attrs)
            return
        if kind in ("reference", "region"):
            values = reference_values(dset, path, self._path_of)
            attrs[DTYPE_ATTR] = OBJECT_REFERENCE
            self._inline(path, values, str, attrs, dims=False)
        elif kind == "text":
            self._inline(path, text_values(dset, path), str, attrs, dims=_dims(dset))
        elif kind == "compound":
            values, ref_fields = compound_values(dset, path, self._path_of)
            if ref_fields:
                attrs[REFERENCE_FIELDS_ATTR] = ref_fields
            self._inline(path, values, values.dtype, attrs, dims=False)
        else:
            raise HDF5IndexError(
                f"{path}: HDF5 datatype {dset.dtype} (opaque, vlen sequence, array or enum of a "
                "non-integer) has no Zarr v3 equivalent in this convention"
            )

    def _inline(self, path: str, values: np.ndarray, dtype: Any, attrs: dict, dims: Any) -> None:
        """Create an array holding ``values`` in the memory store, as the writer lays it out."""
        shape = values.shape
        kwargs: dict[str, Any] = {}
        if shape:
            itemsize = TEXT_ITEMSIZE if dtype is str else np.dtype(dtype).itemsize
            kwargs["chunks"] = choose_chunks(shape, itemsize)
            if dims:
                kwargs["dimension_names"] = dims
        kwargs.update(
            shape=shape,
            dtype=dtype,
            compressors=compressors_for("blosc-zstd", dtype),
            attributes=attrs,
        )
        self._arrays.append((path, kwargs, [((), values)] if values.size else []))

    def _numeric(self, dset: h5py.Dataset, path: str, attrs: dict) -> None:
        codecs = hdf5_codecs(dset, path, exact=True)
        dsid = dset.id
        layout = dsid.get_create_plist().get_layout()
        shape = tuple(dset.shape)
        dtype = dset.dtype
        rows = shape[0] if shape else 1
        row_bytes = dtype.itemsize * math.prod(shape[1:])
        if layout == h5py.h5d.CHUNKED:
            chunks = tuple(dset.chunks)
            compressors = list(codecs.compressors)
        elif layout == h5py.h5d.CONTIGUOUS and shape and rows * row_bytes > self.max_chunk_bytes:
            k = _rows_per_piece(rows, max(1, self.max_chunk_bytes // max(1, row_bytes)))
            chunks = (k, *shape[1:])
            compressors = []
        else:  # compact, or contiguous in one piece
            chunks = shape
            compressors = []
        kwargs: dict[str, Any] = {}
        if shape:
            kwargs["chunks"] = tuple(max(1, c) for c in chunks)
            names = _dims(dset)
            if names:
                kwargs["dimension_names"] = names
        kwargs.update(
            shape=shape,
            dtype=dtype.newbyteorder("=") if dtype.byteorder in "<>" else dtype,
            serializer=codecs.serializer if codecs.serializer is not None else "auto",
            compressors=compressors,
            filters=[],
            fill_value=codecs.fill_value,
            attributes=attrs,
        )
        writes: list = []
        self._arrays.append((path, kwargs, writes))
        if dset.size == 0:
            return
        if layout == h5py.h5d.CHUNKED:
            self._chunk_refs(dset, writes, path, chunks)
        elif layout == h5py.h5d.CONTIGUOUS:
            self._contiguous_refs(dset, writes, path, chunks, row_bytes)
        else:
            writes.append(((), dset[()]))

    def _chunk_refs(self, dset: h5py.Dataset, writes: list, path: str, chunks: tuple) -> None:
        infos = _chunk_infos(dset.id)
        if not infos:
            return
        offsets, masks, byte_offsets, sizes = zip(*infos)
        keys = _chunk_keys(path.strip("/") + "/c", offsets, chunks)
        small = self.inline_bytes
        if not any(masks) and min(sizes) > small and None not in byte_offsets:
            # the common case: every chunk a byte range, built without a Python branch each
            self._ranges.update(zip(keys, map(ByteRange, repeat(self.url), byte_offsets, sizes)))
            return
        masked = []
        for key, offset, mask, byte_offset, size in zip(keys, offsets, masks, byte_offsets, sizes):
            if byte_offset is None or size == 0:
                continue
            if mask:
                masked.append(offset)
            elif size <= small:
                self._store_dict[key] = _buffer(dset.id.read_direct_chunk(offset)[1])
            else:
                self._ranges[key] = ByteRange(self.url, byte_offset, size)
        shape = dset.shape
        for offset in masked:
            # HDF5 skipped an optional filter for this chunk: its bytes do not decode with the
            # array's codecs, so its values are read through h5py and encoded by zarr.
            region = tuple(slice(o, min(o + c, n)) for o, c, n in zip(offset, chunks, shape))
            writes.append((region, dset[region]))

    def _contiguous_refs(
        self, dset: h5py.Dataset, writes: list, path: str, chunks: tuple, row_bytes: int
    ) -> None:
        byte_offset = dset.id.get_offset()
        if byte_offset is None:  # storage never allocated: every element is the fill value
            return
        shape = dset.shape
        total = dset.dtype.itemsize * math.prod(shape)
        if total <= self.inline_bytes:
            writes.append(((), dset[()]))
            return
        base = path.strip("/") + "/c"
        if not shape:
            self._ranges[base] = ByteRange(self.url, byte_offset, total)
            return
        k = chunks[0]
        trailing = "/0" * (len(shape) - 1)
        piece = k * row_bytes
        full = shape[0] // k
        for i in range(full):
            self._ranges[f"{base}/{i}{trailing}"] = ByteRange(
                self.url, byte_offset + i * piece, piece
            )
        if full * k < shape[0]:  # the last piece is shorter than a chunk: encoded by zarr
            writes.append(((slice(full * k, None),), dset[full * k :]))


async def _create_one(store: MemoryStore, path: str, kwargs: dict, writes: list) -> None:
    array = await create_array_async(store, name=path.strip("/"), **kwargs)
    for region, values in writes:
        await array.setitem(region if region else Ellipsis, values)


def _object_key(obj: h5py.HLObject) -> tuple[int, int]:
    """An HDF5 object's identity that does not keep it open: (file number, header address)."""
    info = h5py.h5o.get_info(obj.id)
    return (info.fileno, info.addr)


def _raw_attr(obj: h5py.HLObject, name: str) -> Any:
    try:
        return obj.attrs.get(name)
    except (OSError, TypeError, ValueError, KeyError):
        return None


def _type_name(obj: h5py.HLObject) -> str | None:
    """The ``neurodata_type`` (or ``data_type``) attribute of an object, as str."""
    for key in ("neurodata_type", "data_type"):
        value = _raw_attr(obj, key)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value:
            return value
    return None


def _ancestors(path: str, types: dict[str, str | None]) -> list[tuple[str, str | None]]:
    """``(name, neurodata_type)`` of each group above ``path``, nearest first."""
    out = []
    parent = posixpath.dirname(path)
    while True:
        out.append((posixpath.basename(parent), types.get(parent)))
        if parent in ("/", ""):
            return out
        parent = posixpath.dirname(parent)


def _cached_spec_dims(h5file: h5py.File) -> SpecDims:
    """The ``dims`` of the specs cached in the file (``/specifications``); empty if none.

    Every source is untrusted text: JSON parsed under the nesting limit, at most
    ``limits.max_json_bytes`` each; a source that is not readable JSON is skipped (names then
    fall back), never an error.
    """
    sources: list = []
    cache = h5file.get("specifications")
    if not isinstance(cache, h5py.Group):
        return SpecDims(sources)
    most = limits.current().max_json_bytes
    for namespace in cache.values():
        if not isinstance(namespace, h5py.Group):
            continue
        for version in namespace.values():
            if not isinstance(version, h5py.Group):
                continue
            for name, dset in version.items():
                if name == "namespace" or not isinstance(dset, h5py.Dataset) or dset.shape != ():
                    continue
                try:
                    text = dset[()]
                    if len(text) > most:
                        continue
                    doc = bounded_json.loads(text, f"/specifications/{name}", HDF5IndexError)
                    bounded_json.check_nesting(doc, f"/specifications/{name}")
                except (NWBZarrError, OSError, TypeError, ValueError):
                    continue
                sources.append(doc)
    return SpecDims(sources)


def _dims(dset: h5py.Dataset) -> list | None:
    if not dset.shape:
        return None
    return dimension_names(dset)


def _rows_per_piece(rows: int, most: int) -> int:
    """Rows per contiguous piece: a divisor of ``rows`` near ``most`` if one exists, so that
    every piece is a whole Zarr chunk; else ``most`` (the last piece is then inlined)."""
    most = max(1, min(most, rows))
    for k in range(most, max(1, most // 2) - 1, -1):
        if rows % k == 0:
            return k
    return most


def _chunk_infos(dsid: Any) -> list:
    """Every allocated chunk as a (chunk_offset, filter_mask, byte_offset, size) tuple (h5py's
    ``StoreInfo``), from ``chunk_iter`` (HDF5 >= 1.12.3) or a ``get_chunk_info`` loop."""
    infos: list = []
    if hasattr(dsid, "chunk_iter"):
        try:
            dsid.chunk_iter(infos.append)
            return infos
        except (AttributeError, NotImplementedError, TypeError):
            infos = []
    infos = [dsid.get_chunk_info(i) for i in range(dsid.get_num_chunks())]
    return [(s.chunk_offset, s.filter_mask, s.byte_offset, s.size) for s in infos]


def _chunk_keys(base: str, offsets: list, chunks: tuple) -> list[str]:
    """Zarr v3 chunk keys (``base/i/j``, separator "/") of HDF5 chunk offsets (elements)."""
    grid = np.asarray(offsets, dtype=np.int64).reshape(len(offsets), len(chunks))
    grid //= np.asarray(chunks, dtype=np.int64)
    keys = np.full(len(offsets), base, dtype=object)
    for d in range(grid.shape[1]):
        labels = np.array([f"/{i}" for i in range(int(grid[:, d].max()) + 1)], dtype=object)
        keys = keys + labels[grid[:, d]]
    return keys.tolist()


def _buffer(data: bytes) -> Any:
    return default_buffer_prototype().buffer.from_bytes(data)


def _key(path: str, name: str) -> str:
    rel = path.strip("/")
    return f"{rel}/{name}" if rel else name
