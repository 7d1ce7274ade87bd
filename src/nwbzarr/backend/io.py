"""``ZarrIO``: the HDMF I/O backend over Zarr v3 stores.

Implements the :class:`hdmf.backends.io.HDMFIO` contract (open/close, read_builder,
write_builder, load_namespaces, export) with the public surface hdmf-zarr documents, writing
the unified Zarr v3 convention described in ``docs/storage.md``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from hdmf.backends.io import HDMFIO
from hdmf.backends.utils import WriteStatusTracker
from hdmf.build import BuildManager, TypeMap
from hdmf.container import Container
from hdmf.spec import NamespaceCatalog
from zarr.abc.store import Store

from .. import errors
from ..compat import default_buffer_prototype, sync
from ..conventions.attributes import INLINE_CHUNKS_ATTR, ROOT_NAME, WRITE_IN_PROGRESS_ATTR
from ..conventions.layout import DEFAULT_CHUNK_BYTES, DEFAULT_CODEC, DEFAULT_SHARD_BYTES
from ..conventions.zarr_json import encode, encode_consolidated
from ..errors import (
    NotNWBStoreError,
    ReadOnlyError,
    UnsupportedOptionError,
)
from ..storage.cache import inline_chunk_entries
from ..storage.journal import JournaledStore
from ..storage.resolve import (
    is_remote_url,
    join_location,
)
from ..storage.write_back import WriteBackStore
from .amend import AmendMixin
from .append import AppendMixin
from .opening import MODES, READ_ONLY_MODES, OpenMixin, _QuietZarr, check_mode
from .read import ReadMixin
from .specs import SpecCacheMixin
from .write import WriteMixin

__all__ = ["ROOT_NAME", "SUPPORTED_ZARR_STORES", "ZarrIO"]

#: Store types ``ZarrIO(path=...)`` accepts besides a path or URL string (any zarr v3 store).
SUPPORTED_ZARR_STORES: tuple[type, ...] = (Store,)


class ZarrIO(OpenMixin, AmendMixin, AppendMixin, WriteMixin, ReadMixin, SpecCacheMixin, HDMFIO):
    """Read and write HDMF files as Zarr v3 stores.

    Parameters
    ----------
    path : str, pathlib.Path or zarr store
        Local directory (e.g. ``session.nwb.zarr``), a URL (``https://``, ``s3://``,
        ``gs://``, ``memory://``, ...; read-only, see :mod:`nwbzarr.storage.resolve`), or a
        zarr store object. Legacy hdmf-zarr (< 0.14) Zarr v2 stores are read (modes ``r``,
        ``r-``) in the v3 convention through a translating store, locally or from a URL. An
        HDF5 file (``.nwb``, local or URL) or a reference JSON (ours, LINDI ``.lindi.json``,
        kerchunk) opens read-only as a virtual store over the HDF5 bytes, without copying
        (:mod:`nwbzarr.virtual.sources`).
    mode : str
        ``"r"`` read (consolidated metadata), ``"r-"`` read without consolidated metadata,
        ``"w"`` create/replace, ``"w-"``/``"x"`` create and fail if it exists, ``"a"``
        read/write creating if missing, ``"r+"`` read/write an existing store. A URL opens
        in ``"r"`` or ``"r-"`` only; ``"r-"`` lists directories, which object stores and
        ``memory://`` do and plain HTTP servers do not (use ``"r"`` there).
    manager : hdmf.build.BuildManager or hdmf.build.TypeMap, optional
        Build manager (a TypeMap is wrapped in one).
    storage_options : dict, optional
        fsspec options for remote URLs, passed unchanged (``{"headers": {...}}`` or
        ``client_kwargs`` for HTTP, ``anon``/``key``/``secret`` for S3, ``token`` for GCS);
        also used for stores that a URL store links to.
    force_overwrite : bool
        In ``"w"`` mode, replace whatever exists at ``path`` even if it is not a Zarr store.
    synchronizer : None
        Accepted for hdmf-zarr compatibility; zarr v3 has no synchronizers, so any other value
        raises ``UnsupportedOptionError`` (a ``ValueError``).
    object_codec_class : None
        Accepted for hdmf-zarr compatibility; nwbzarr never pickles, so any other value raises
        ``UnsupportedOptionError`` (a ``ValueError``).
    chunk_bytes, shard_bytes : int
        Target uncompressed chunk and shard sizes in bytes for new arrays
        (defaults 256 KiB and 128 MiB; ``shard_bytes=0`` disables sharding).
    codec : str
        Default compressor for numeric arrays: ``blosc-lz4`` (default; lz4 level 5, bit
        shuffle), ``blosc-zstd``, ``zstd``, ``gzip`` or ``none``.
    herd_path : str, optional
        Path of an HERD zip file, as in HDMFIO.
    cache : nwbzarr.storage.cache.LocalCache or str, optional
        On-disk cache of remote chunk bytes for an HDF5 file or reference JSON read from a URL
        (a directory path makes a cache with the default size bound); default
        ``$NWBZARR_CACHE_DIR`` when set, else none.
    staging_dir : str or pathlib.Path, optional
        Where an HDF5 file or reference JSON opened with ``"a"``/``"r+"`` keeps new and
        changed values larger than 4096 bytes until :meth:`save` (one file per value, named
        by its SHA-256). Default: a temporary directory, removed when this object is
        discarded (``save`` copies what the JSON needs next to it).

    Raises
    ------
    InvalidModeError
        Unknown mode.
    StoreNotFoundError
        ``r``/``r-``/``r+`` on a path that does not exist, or a URL with no ``zarr.json`` or
        ``.zgroup`` under it.
    StoreExistsError
        ``w-``/``x`` on a path that exists.
    NotAZarrStoreError
        Reading a path that exists but is not a Zarr group.
    ReadOnlyError
        ``a``/``r+`` on a legacy hdmf-zarr (Zarr v2) store, which is read through
        :class:`nwbzarr.storage.legacy_v2.V2TranslatingStore` in ``r``/``r-`` only; any
        writable mode on a URL.
    RemoteAccessError
        The server of a URL refused access (HTTP 401/403): pass credentials in
        ``storage_options``.
    RemoteListingError
        ``r-`` on a URL that cannot be listed (plain HTTP).
    LegacyFormatError
        A legacy v2 store holds malformed or unsafe metadata or chunks.
    IncompleteStoreError
        Reading a store whose last write did not complete.
    """

    def __init__(
        self,
        path: str | Path | Any,
        mode: str = "r",
        manager: BuildManager | TypeMap | None = None,
        storage_options: dict | None = None,
        force_overwrite: bool = False,
        synchronizer: Any = None,
        object_codec_class: Any = None,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        shard_bytes: int = DEFAULT_SHARD_BYTES,
        codec: str = DEFAULT_CODEC,
        herd_path: str | None = None,
        cache: Any = None,
        staging_dir: str | Path | None = None,
        **kwargs: Any,
    ) -> None:
        check_mode(path, mode, f"use one of {', '.join(MODES)}")
        if synchronizer not in (None, False):
            raise UnsupportedOptionError(
                f"{path}: zarr v3 has no synchronizers; drop synchronizer= (writes from "
                "several processes go through write(number_of_jobs=...))"
            )
        if object_codec_class is not None:
            raise UnsupportedOptionError(
                f"{path}: object_codec_class is not used; nwbzarr stores references and text "
                "as JSON/UTF-8 and never pickles"
            )
        self._path = path if not isinstance(path, Path) else str(path)
        self._mode = mode
        self._storage_options = storage_options
        self._cache = cache
        self._staging_dir = None if staging_dir is None else os.fspath(staging_dir)
        self._virtual_kind: str | None = None  # "hdf5" / "references" once opened
        self._force_overwrite = force_overwrite
        self._chunk_bytes = int(chunk_bytes)
        self._shard_bytes = int(shard_bytes)
        self._codec = codec
        self._root: zarr.Group | None = None
        self._root_builder = None
        self._builders_by_path: dict[str, Any] = {}
        self._deferred: list = []
        self._written = WriteStatusTracker()
        self._dci_queue: list = []
        self._writing = False
        self._write_failed = False
        self._consolidate_on_close = True
        self._journal: JournaledStore | None = None  # append to a local store (journal.py)
        self._created_by_append = False  # mode 'a' made a new store (opening.py)
        self._external: dict[str, ZarrIO] = {}
        if manager is None:
            manager = BuildManager(TypeMap(NamespaceCatalog()))
        elif isinstance(manager, TypeMap):
            manager = BuildManager(manager)
        source = self._path if isinstance(self._path, str) else None
        super().__init__(manager=manager, source=source, herd_path=herd_path)

    # -- properties -------------------------------------------------------------------------------
    @property
    def path(self) -> Any:
        """The store this object was opened with: a local path made absolute (as hdmf-zarr
        gives it), a URL unchanged, or the zarr store object."""
        if isinstance(self._path, str) and "://" not in self._path:
            return os.path.abspath(self._path)
        return self._path

    @property
    def abspath(self) -> str | None:
        """Absolute local path of the store (the URL itself for remote stores)."""
        if isinstance(self._path, str):
            return self._path if is_remote_url(self._path) else os.path.abspath(self._path)
        return None

    @property
    def mode(self) -> str:
        """The mode the store was opened with."""
        return self._mode

    @property
    def synchronizer(self) -> None:
        """Always None: zarr v3 has no synchronizers."""
        return None

    @property
    def object_codec_class(self) -> None:
        """Always None: nwbzarr never uses an object codec (no pickling)."""
        return None

    @property
    def file(self) -> zarr.Group | None:
        """The open root :class:`zarr.Group` (None when closed)."""
        return self._root

    @property
    def _file(self) -> zarr.Group | None:
        # the name pynwb.validate(io=...) reads (HDF5IO's private attribute)
        return self._root

    def is_remote(self) -> bool:
        """True if the store was opened from a URL (``memory://`` included, see
        :func:`nwbzarr.storage.resolve.is_remote_url`)."""
        return is_remote_url(self._path)

    def _store_root(self) -> str:
        root = self.abspath or ""
        if self._virtual_kind is not None:  # a file: its links are relative to its directory
            return join_location(root, "..") if is_remote_url(root) else os.path.dirname(root)
        return root

    # -- open / close -------------------------------------------------------------------------
    def close(self) -> None:
        """Finish pending writes, refresh consolidated metadata (writable modes), and close."""
        root = getattr(self, "_root", None)
        if root is None:
            return
        pending = None
        try:
            if self._mode not in READ_ONLY_MODES:
                pending = self._finish_changes()
        finally:
            for ext in self._external.values():
                ext.close()
            self._external = {}
            if self._virtual_kind is not None:  # closes the HDF5 reader's network sessions
                root.store.close()
            self._root = None
            if self._created_by_append and not self._writing:
                # mode 'a' on a missing path made an empty store that nothing was written to
                shutil.rmtree(self._path, ignore_errors=True)
        if pending is not None and not self._exiting_with_error:
            raise pending

    def _finish_changes(self) -> Exception | None:
        """Land pending writes, then commit: clear the in-progress marker (a new store) or
        swap the root ``zarr.json`` (an append, :mod:`nwbzarr.storage.journal`), refreshing
        consolidated metadata; a failed append is rolled back instead.

        Returns the error of an append that cannot be completed (raised by the caller).
        """
        root = self._root
        pending = self._unresolved_references_error()  # append mode (append.py)
        self._flush_store()  # everything else lands before the marker is removed
        journal = self._journal
        if journal is not None:
            if self._write_failed:
                journal.rollback()  # the store is again exactly as committed
            elif journal.changed:
                attrs = root.attrs.asdict()
                if WRITE_IN_PROGRESS_ATTR in attrs:
                    del root.attrs[WRITE_IN_PROGRESS_ATTR]
                self._consolidate()  # readers trust only the consolidated copy: always refresh
                journal.commit()
            return pending
        if self._writing and not self._write_failed:
            attrs = root.attrs.asdict()
            if WRITE_IN_PROGRESS_ATTR in attrs:
                del root.attrs[WRITE_IN_PROGRESS_ATTR]
        elif self._writing:
            self._restore_if_unchanged()
        if not self._write_failed and self._consolidate_on_close:
            self._consolidate()
        self._flush_store()
        return pending

    def _publish_written(self) -> None:
        """Let other readers of a new store see what has been written so far: land buffered
        writes and refresh the consolidated metadata. The in-progress marker stays until
        :meth:`close`. A journaled append keeps its root until commit (snapshot isolation);
        an amendment of an HDF5 file or reference JSON is staged until :meth:`save`."""
        if self._journal is not None or self._virtual_kind is not None:
            return
        self._flush_store()
        self._consolidate()

    def _consolidate(self) -> None:
        """Write the consolidated metadata of every node into the root ``zarr.json``.

        A new store (a :class:`WriteBackStore`, which holds every document written through
        it) is consolidated from the documents themselves: one listing, then the dict this
        object wrote for each document still held as that very buffer (others parsed once),
        assembled as ``zarr.consolidate_metadata`` would (same document, same bytes, see
        :func:`nwbzarr.conventions.zarr_json.consolidated_root`). Other stores (appends,
        store objects) go through ``zarr.consolidate_metadata``.
        """
        store = self._root.store
        if not isinstance(store, WriteBackStore):
            with _QuietZarr():
                zarr.consolidate_metadata(store)
            sync(_add_inline_chunks(store))
            return
        sync(_consolidate_documents(store, self._node_documents))

    def _flush_store(self) -> None:
        self._flush_sets()  # nodes queued by the writer first (write.py)
        store = self._root.store
        if isinstance(store, WriteBackStore):
            sync(store.flush())

    def is_open(self) -> bool:
        """True while the store is open."""
        return getattr(self, "_root", None) is not None

    def _check_open(self, action: str) -> None:
        if self._root is None:
            raise ValueError(f"{self.source}: cannot {action}; the ZarrIO is closed")

    def _check_writable(self) -> None:
        self._check_open("write")
        if self._mode in READ_ONLY_MODES:
            raise ReadOnlyError(
                f"{self.source}: opened read-only (mode {self._mode!r}); open with mode 'a' or "
                "'r+' to add to it, or 'w' to replace it"
            )

    def _begin_write(self) -> None:
        if not self._writing:
            if self._journal is None:  # an append to a local store is journaled instead
                self._snapshot_before_write()  # amend mode: lets close() undo a no-op failure
                self._root.attrs.update({WRITE_IN_PROGRESS_ATTR: True})
            self._writing = True

    # -- write / read / export ------------------------------------------------------------------
    def write(
        self,
        container: Container,
        cache_spec: bool = True,
        link_data: bool = True,
        exhaust_dci: bool = True,
        consolidate_metadata: bool = True,
        number_of_jobs: int = 1,
        max_threads_per_process: int | None = None,
        multiprocessing_context: str | None = None,
        progress: bool = False,
        **kwargs: Any,
    ) -> None:
        """Write a container (e.g. an ``NWBFile``) and, by default, cache its namespaces.

        Parameters
        ----------
        container : hdmf.container.Container
            The root container.
        cache_spec : bool
            Cache the namespaces used under ``/specifications`` (recommended).
        link_data : bool
            Link arrays that live in another Zarr store rather than copying them.
        exhaust_dci : bool
            Drain data chunk iterators one at a time (True) or round-robin at the end.
        consolidate_metadata : bool
            Refresh consolidated metadata when closing.
        number_of_jobs : int
            Worker processes for datasets whose data is a ``GenericDataChunkIterator``
            (numeric, local store, iterator pickled through ``_to_dict``/``_from_dict``);
            1 writes everything in this process. Other data is always written here.
        max_threads_per_process : int, optional
            Threads per worker (zarr's ``threading.max_workers``; BLAS through threadpoolctl
            if installed).
        multiprocessing_context : str, optional
            ``"fork"``, ``"spawn"`` or ``"forkserver"``; None uses the platform default.
        progress : bool
            Show a tqdm bar (stderr) of the uncompressed bytes written.

        Raises
        ------
        ReadOnlyError
            If the store was opened read-only.
        ParallelWriteError
            A worker process failed; the store stays marked incomplete.
        """
        self._check_writable()
        self._publish_deferred = True  # published once below, after the spec cache
        try:
            with (
                _QuietZarr(),
                self._write_session(
                    number_of_jobs, max_threads_per_process, multiprocessing_context, progress
                ),
            ):
                super().write(
                    container=container,
                    link_data=link_data,
                    exhaust_dci=exhaust_dci,
                    consolidate_metadata=consolidate_metadata,
                    **kwargs,
                )
                self._parallel_exhaust()
                if cache_spec:
                    self._cache_spec()
        except BaseException:
            self._write_failed = True
            raise
        finally:
            self._publish_deferred = False
        if consolidate_metadata:
            self._publish_written()

    def read(self, **kwargs: Any) -> Container:
        """Read the root container (data stays lazy).

        Raises
        ------
        ValueError
            If the store was opened in a write-only mode (``w``, ``w-``, ``x``).
        NotNWBStoreError
            If the root group names no data type (read such a file with
            :meth:`read_builder`).
        """
        if self._mode in ("w", "w-", "x"):
            raise ValueError(
                f"{self.source}: cannot read in mode {self._mode!r}; use 'r', 'r+' or 'a'"
            )
        self._check_open("read")
        if not self._created_by_append and not self._root_is_typed():  # else: not found
            raise NotNWBStoreError(
                f"{self.source}: the root group has no 'data_type'/'neurodata_type' attribute, "
                "so it holds no HDMF container; read its builders with read_builder()"
            )
        with _QuietZarr():
            return super().read(**kwargs)

    def export(
        self,
        src_io: HDMFIO,
        container: Container | None = None,
        write_args: dict | None = None,
        cache_spec: bool = True,
        number_of_jobs: int = 1,
        max_threads_per_process: int | None = None,
        multiprocessing_context: str | None = None,
        consolidate_metadata: bool = True,
    ) -> None:
        """Export the contents of another HDMF I/O object (HDF5 or Zarr) into this store.

        Parameters
        ----------
        src_io : hdmf.backends.io.HDMFIO
            Source I/O object, e.g. ``pynwb.NWBHDF5IO`` or another ``ZarrIO``.
        container : hdmf.container.Container, optional
            Root container read from ``src_io`` (possibly modified); default: read it all.
        write_args : dict, optional
            Passed to :meth:`write_builder` (``link_data``, ``exhaust_dci``, ...).
        cache_spec : bool
            Cache the namespaces of both files.
        number_of_jobs, max_threads_per_process, multiprocessing_context
            Parallel write of ``GenericDataChunkIterator`` data, as in :meth:`write`.
        consolidate_metadata : bool
            Write consolidated metadata into the root ``zarr.json`` when the store is closed
            (the record readers trust, docs/storage.md); False leaves readers to list the
            store (mode ``r-``).

        Raises
        ------
        nwbzarr.errors.UnsupportedOperationError
            If this store is not open in mode ``w`` (an ``hdmf.backends.errors.
            UnsupportedOperation``, hence a ``ValueError``).
        """
        if self._mode != "w":
            raise errors.UnsupportedOperationError(
                f"{self.source}: export writes a new file; open it with mode 'w', not "
                f"{self._mode!r}"
            )
        write_args = dict(write_args or {})
        # NWBHDF5IO(file=h5py.File(fileobj)) has no source: its builders carry the file's name
        source = src_io.source or getattr(getattr(src_io, "_file", None), "filename", None)
        write_args["export_source"] = (
            os.path.abspath(source) if source is not None and not is_remote_url(source) else source
        )
        ckwargs: dict[str, Any] = dict(src_io=src_io, container=container, write_args=write_args)
        if container is not None and not write_args.get("link_data", True):
            # rebuild every builder so nothing points at the source file; without a container
            # the source's builders are written as read, which keeps the file exactly
            ckwargs["clear_cache"] = True
        write_args.setdefault("consolidate_metadata", consolidate_metadata)
        self._publish_deferred = True  # published once below, after the spec cache
        try:
            with (
                _QuietZarr(),
                self._write_session(
                    number_of_jobs, max_threads_per_process, multiprocessing_context, False
                ),
            ):
                HDMFIO.export(self, **ckwargs)
                self._parallel_exhaust()
                if cache_spec:
                    ours = self.manager.namespace_catalog
                    for ns in src_io.manager.namespace_catalog.namespaces:
                        if ns not in ours.namespaces:
                            ours.add_namespace(
                                ns, src_io.manager.namespace_catalog.get_namespace(ns)
                            )
                    self._cache_spec()
        except BaseException:
            self._write_failed = True
            raise
        finally:
            self._publish_deferred = False
        if write_args["consolidate_metadata"]:
            self._publish_written()

    @classmethod
    def export_io(
        cls,
        path: str,
        src_io: HDMFIO,
        container: Container | None = None,
        write_args: dict | None = None,
        cache_spec: bool = True,
        **io_kwargs: Any,
    ) -> None:
        """Export ``src_io`` to a new store at ``path`` (opens, exports, closes)."""
        with cls(path, mode="w", **io_kwargs) as io:
            io.export(
                src_io=src_io, container=container, write_args=write_args, cache_spec=cache_spec
            )

    @staticmethod
    def generate_dataset_html(dataset: Any) -> str:
        """HTML description of a dataset for Jupyter (shape, dtype, chunks, shards, codecs,
        stored and raw bytes); see :func:`nwbzarr.summary_text.dataset_html`."""
        from ..summary_text import dataset_html

        return dataset_html(dataset)

    @staticmethod
    def get_type(data: Any) -> Any:
        """Storage dtype of ``data``: ``str`` for text, else a numpy dtype (as hdmf-zarr).

        Raises
        ------
        TypeError
            If ``data`` holds Python objects that have no storage dtype.
        """
        from ..conventions.dtypes import infer_dtype

        dtype = infer_dtype(data)
        if dtype is not str and np.dtype(dtype).kind == "O":
            raise TypeError(f"cannot determine a storage dtype for {type(data).__name__}")
        return dtype


_DOCUMENT = "zarr.json"


async def _consolidate_documents(store: WriteBackStore, known: dict) -> None:
    """Consolidate a new store's metadata from its documents (see ``ZarrIO._consolidate``).

    Parameters
    ----------
    store : WriteBackStore
        The store of a new file.
    known : dict
        ``zarr.json`` key -> (buffer written, document, indent) of the documents the writer
        built; a document is reused only while the store still holds that same buffer.
    """
    from zarr import config

    indent = config.get("json_indent")
    proto = default_buffer_prototype()
    documents: dict[str, dict] = {}
    encoded: dict[str, bytes] = {}
    for key in await _document_keys(store):
        value = await store.get(key, proto)
        if value is None:
            continue
        held = known.get(key)
        if held is not None and held[0] is value:
            documents[key] = held[1]
            if held[2] == indent:
                encoded[key] = value.to_bytes()
        else:
            documents[key] = json.loads(value.to_bytes())
    root = documents.pop(_DOCUMENT, None)
    if root is None:
        return
    cut = len(_DOCUMENT) + 1
    nodes = {key[:-cut]: doc for key, doc in documents.items()}
    members = {}
    for path, doc in nodes.items():
        # as zarr's walk from the root: a node counts if every ancestor is a group
        parts = path.split("/")
        ancestors = ("/".join(parts[:i]) for i in range(1, len(parts)))
        if all(nodes.get(a, {}).get("node_type") == "group" for a in ancestors):
            members[path] = doc
    raw = {key[:-cut]: value for key, value in encoded.items() if key[:-cut] in members}
    local = _local_root(store)
    if local is not None:
        root.setdefault("attributes", {})[INLINE_CHUNKS_ATTR] = inline_chunk_entries(local, members)
    await store.set(
        _DOCUMENT, proto.buffer.from_bytes(encode_consolidated(root, members, raw, indent))
    )


def _local_root(store: Any) -> str | None:
    """The directory of a local store (through nwbzarr's write wrappers), else None."""
    if isinstance(store, (WriteBackStore, JournaledStore)):
        root = store.root
    elif isinstance(store, zarr.storage.LocalStore):
        root = store.root
    else:
        return None
    return str(root) if root is not None and os.path.isdir(str(root)) else None


async def _add_inline_chunks(store: Any) -> None:
    """Refresh :data:`INLINE_CHUNKS_ATTR` in the root ``zarr.json`` of a local store just
    consolidated by zarr (an append's journaled store): the small single-chunk arrays a
    remote reader needs while opening, taken from the chunk files as they now are."""
    local = _local_root(store)
    if local is None:
        return
    proto = default_buffer_prototype()
    value = await store.get(_DOCUMENT, proto)
    if value is None:
        return
    document = json.loads(value.to_bytes())
    members = (document.get("consolidated_metadata") or {}).get("metadata") or {}
    document.setdefault("attributes", {})[INLINE_CHUNKS_ATTR] = inline_chunk_entries(local, members)
    await store.set(
        _DOCUMENT, proto.buffer.from_bytes(encode(document, zarr.config.get("json_indent")))
    )


async def _document_keys(store: WriteBackStore) -> list[str]:
    """Keys of every ``zarr.json`` in the store: on disk (one ``os.walk`` of a local store,
    much cheaper than zarr's path globbing) and held by the wrapper."""
    root = store.root
    keys: set[str] = set()
    if root is not None and os.path.isdir(str(root)):
        base = str(root)

        def walk() -> list[str]:
            found = []
            for directory, _, files in os.walk(base):
                if _DOCUMENT in files:
                    rel = os.path.relpath(directory, base).replace(os.sep, "/")
                    found.append(_DOCUMENT if rel == "." else f"{rel}/{_DOCUMENT}")
            return found

        keys.update(walk())
    else:
        keys.update([k async for k in store.list()])
    keys.update(store.pending_keys)
    return sorted(k for k in keys if k == _DOCUMENT or k.endswith("/" + _DOCUMENT))
