"""``ZarrIO``: the HDMF I/O backend over Zarr v3 stores.

Implements the :class:`hdmf.backends.io.HDMFIO` contract (open/close, read_builder,
write_builder, load_namespaces, export) with the public surface hdmf-zarr documents, writing
the unified Zarr v3 convention described in ``docs/storage.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from hdmf.backends.io import HDMFIO
from hdmf.backends.utils import WriteStatusTracker
from hdmf.build import BuildManager, GroupBuilder, TypeMap
from hdmf.container import Container
from hdmf.spec import NamespaceCatalog
from zarr.abc.store import Store

from .. import errors
from ..compat import default_buffer_prototype, quiet_zarr_warnings, sync
from ..conventions.attributes import INLINE_CHUNKS_ATTR, ROOT_NAME, WRITE_IN_PROGRESS_ATTR
from ..conventions.dtypes import infer_dtype
from ..conventions.layout import DEFAULT_CHUNK_BYTES, DEFAULT_CODEC, DEFAULT_SHARD_BYTES
from ..conventions.references import builder_path
from ..conventions.zarr_json import encode, encode_consolidated
from ..errors import AppendError, NotNWBStoreError, ReadOnlyError, UnsupportedOptionError
from ..storage.cache import inline_chunk_entries
from ..storage.journal import JournaledStore
from ..storage.resolve import is_remote_url, join_location
from ..storage.write_back import WriteBackStore
from ..virtual.staging import StagingStore
from .amend import save_amendment
from .append import APPEND_MODES, AppendMixin, AppendSession
from .html import dataset_html
from .linked import LinkedSources, store_key
from .opening import (
    MODES,
    READ_ONLY_MODES,
    OpenedStore,
    OpenRequest,
    can_read,
    check_mode,
    open_source,
)
from .read import Reader, root_is_typed
from .specs import SpecCache, load_cached_namespaces
from .write import Writer

__all__ = ["ROOT_NAME", "SUPPORTED_ZARR_STORES", "ZarrIO"]

#: Store types ``ZarrIO(path=...)`` accepts besides a path or URL string (any zarr v3 store).
SUPPORTED_ZARR_STORES: tuple[type, ...] = (Store,)


class ZarrIO(AppendMixin, HDMFIO):
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
    keep_storage : bool
        Copy ``h5py.Dataset`` / ``zarr.Array`` data given without a ``DataIO`` wrapper with the
        source's chunk shape, codecs and fill value (default); False applies the chunk/codec
        policy to them too (what ``nwbzarr convert --rechunk`` passes).
    progress_callback : callable, optional
        Called with the number of uncompressed bytes written, block by block (a converter's
        progress bar; ``write(progress=True)`` shows its own bar instead).
    copy_sink : callable, optional
        ``(array, data, kept, step) -> bool`` taking over block copies of array data (e.g.
        :class:`nwbzarr.convert.dask_copy.DaskCopies`); returning True means it will copy
        ``data`` into ``array`` itself (call :meth:`flush` before it does).

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
        :class:`nwbzarr.formats.hdmf_zarr_v2.store.V2TranslatingStore` in ``r``/``r-`` only; any
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

    #: Refuse a store whose root group has no ``neurodata_type``/``data_type`` (NWB files).
    _typed_root_required = False

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
        keep_storage: bool = True,
        progress_callback: Callable[[int], Any] | None = None,
        copy_sink: Callable[..., bool] | None = None,
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
        self._force_overwrite = force_overwrite
        # how the source was opened (opening.py); kept after close(), which drops the root
        self._opened: OpenedStore | None = None
        self.append_session = AppendSession()  # what an append (a/r+) remembers
        self._chunk_bytes = int(chunk_bytes)
        self._shard_bytes = int(shard_bytes)
        self._codec = codec
        self._root: zarr.Group | None = None
        # builders read, links to resolve, linked stores (read.py); made by open()
        self._reader: Reader | None = None
        # written/read state of builders, shared by the reader and the writer: written_status
        self._written = WriteStatusTracker()
        # builders written, queued nodes, in-progress and failure flags (write.py); made by open()
        self._writer: Writer | None = None
        self._write_options = dict(
            keep_storage=bool(keep_storage), progress=progress_callback, copy_sink=copy_sink
        )
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

    @property
    def source(self) -> str | None:
        """The file path or URL read or written (hdmf's ``HDMFIO.source``).

        A store object opened for changes (``"a"``/``"r+"``, e.g. the store of a writable
        Icechunk session) has no path; it gets a name unique to the store object so that
        containers read from it count as read from this source when ``write`` rebuilds
        their parents (hdmf refuses unmodified containers without a source).
        """
        source = super().source
        if source is None and getattr(self, "_mode", None) in ("a", "r+"):
            path = getattr(self, "_path", None)
            if path is not None and not isinstance(path, str):
                return f"<{type(path).__name__} at {id(path):#x}>"
        return source

    @property
    def virtual_kind(self) -> str | None:
        """``"hdf5"`` or ``"references"`` for an HDF5 file or reference JSON opened as a
        virtual store (:mod:`nwbzarr.virtual.sources`), else None (a Zarr store)."""
        opened = getattr(self, "_opened", None)
        return None if opened is None else opened.virtual_kind

    @property
    def linked_sources(self) -> LinkedSources | None:
        """The stores and HDF5 files external links of this store lead into: where a link's
        ``source`` resolves to (access policy checked) and those opened (None before
        opening)."""
        reader = getattr(self, "_reader", None)
        return None if reader is None else reader.linked

    @property
    def _journal(self) -> JournaledStore | None:
        """The journal of an append to a local store (:mod:`nwbzarr.storage.journal`)."""
        opened = self._opened
        return None if opened is None else opened.journal

    @property
    def _created_by_append(self) -> bool:
        """True if mode ``a`` made a new store where nothing was (removed if left empty)."""
        opened = getattr(self, "_opened", None)
        return opened is not None and opened.created_by_append

    @property
    def staging_store(self) -> StagingStore | None:
        """The staging store of an amended HDF5 file or reference JSON (None otherwise).

        It stays available after ``close()`` so that :meth:`save` can still be called.
        """
        opened = getattr(self, "_opened", None)
        return None if opened is None else opened.staging

    def is_remote(self) -> bool:
        """True if the store was opened from a URL (``memory://`` included, see
        :func:`nwbzarr.storage.resolve.is_remote_url`)."""
        return is_remote_url(self._path)

    def _store_root(self) -> str:
        root = self.abspath or ""
        if self.virtual_kind is not None:  # a file: its links are relative to its directory
            return join_location(root, "..") if is_remote_url(root) else os.path.dirname(root)
        return root

    # -- open / close -------------------------------------------------------------------------
    @staticmethod
    def can_read(path: str | Path, storage_options: dict | None = None) -> bool:
        """Return True if ``path`` is a Zarr group this backend can open: a Zarr v3 group, or a
        legacy Zarr v2 group as hdmf-zarr < 0.14 wrote them (read-only).

        For a URL this checks that ``zarr.json`` or ``.zgroup`` exists at its root (one or two
        requests, sent with ``storage_options``). Never raises: missing paths, files,
        non-Zarr directories and unreachable URLs return False.
        """
        return can_read(path, storage_options)

    def open(self) -> None:
        """Open the store in the mode given at construction (called by ``__init__``): the
        first opener of :data:`nwbzarr.backend.opening.OPENERS` that can open it does."""
        if self._root is not None:
            return
        request = OpenRequest(
            self._path,
            self._mode,
            storage_options=self._storage_options,
            cache=self._cache,
            staging_dir=self._staging_dir,
            force_overwrite=self._force_overwrite,
            v2_io_name="NWBZarrV2IO" if self._typed_root_required else "ZarrV2IO",
            v2_options=self._legacy_v2_options(),
        )
        self._opened = open_source(request)
        self._root = self._opened.root
        if self._writer is not None:  # opened again after close(): the same write state
            self._writer.reopen(self._root, self._opened.journal)
        else:
            self._writer = Writer(
                self._root,
                self.manager,
                self.source,
                self._store_root(),
                self._written,
                chunk_bytes=self._chunk_bytes,
                shard_bytes=self._shard_bytes,
                codec=self._codec,
                journal=self._opened.journal,
                append_session=self.append_session if self._mode in APPEND_MODES else None,
                grow_written=self._grow_written_dataset,
                **self._write_options,
            )
        if self._reader is not None:  # opened again after close(): the same builders
            self._reader.reopen(self._root)
            return
        self._reader = Reader(
            self._root,
            owner=self,
            manager=self.manager,
            written=self._written,
            source=self.source,
            key=store_key(self),
            linked=LinkedSources(
                str(self.source),
                self._store_root(),
                is_file=self.virtual_kind is not None,
                open_store=self._open_linked,
                manager=self.manager,
            ),
            typed_root_required=self._typed_root_required,
            check_dataset=self._check_dataset,
        )

    def _open_linked(self, target: str) -> ZarrIO:
        """Open a store an external link points into, read-only, as this class."""
        return type(self)(
            target, mode="r", manager=self.manager, storage_options=self._storage_options
        )

    def _check_dataset(self, array: zarr.Array, path: str) -> None:
        """Hook called before each array of the store is read (nothing to check here)."""

    # -- reading (read.py's Reader) -----------------------------------------------------------
    def read_builder(self) -> GroupBuilder:
        """Read the whole store into a :class:`hdmf.build.GroupBuilder` tree (data lazy).

        Returns
        -------
        hdmf.build.GroupBuilder
            The root builder, named ``"root"``.

        Raises
        ------
        NotNWBStoreError
            If the root group carries no ``neurodata_type``/``data_type`` attribute and this
            IO reads NWB files only (:class:`nwbzarr.NWBZarrIO`); a plain :class:`ZarrIO`
            reads any group (an HDMF file written with ``write_builder`` may have an untyped
            root).
        """
        self._check_open("read")
        return self._reader.read_builder()

    def get_builder_at(self, path: str) -> Any:
        """Return the builder read at an absolute path (reads the store if needed).

        Raises
        ------
        KeyError
            If no object exists at ``path``.
        """
        if not self._reader.walked:
            self.read_builder()
        return self._reader.builder_at(path)

    def get_container_at(self, path: str) -> Container:
        """Return the container built from the object at an absolute path."""
        return self.manager.construct(self.get_builder_at(path))

    def get_builder(self, zarr_obj: zarr.Group | zarr.Array | str) -> Any:
        """Return the builder of a zarr node (or absolute path) of this store."""
        path = zarr_obj if isinstance(zarr_obj, str) else "/" + zarr_obj.path
        return self.get_builder_at(path)

    def get_container(self, zarr_obj: zarr.Group | zarr.Array | str) -> Container:
        """Return the container of a zarr node (or absolute path) of this store."""
        return self.manager.construct(self.get_builder(zarr_obj))

    def resolve_ref(self, zarr_ref: dict) -> tuple[str, zarr.Group | zarr.Array]:
        """Resolve an object reference to the Zarr node it names, as hdmf-zarr does.

        Parameters
        ----------
        zarr_ref : dict
            The reference's JSON object (docs/storage.md): ``source`` (``"."`` for this
            store, else a store path relative to this one, checked by the access policy) and
            ``path`` (None or ``"/"`` for the root).

        Returns
        -------
        tuple of (str, zarr.Group or zarr.Array)
            The node's name (``"root"`` for the root group) and the node.

        Raises
        ------
        ValueError
            If no node exists at ``path`` (a ``KeyError`` subclass is not used, so that
            hdmf-zarr's callers catching ``ValueError`` work).
        UntrustedReferenceError
            If ``source`` names a store the access policy refuses.
        """
        self._check_open("resolve a reference")
        return self._reader.resolve_ref(zarr_ref)

    # -- written-state lookups ----------------------------------------------------------------
    @property
    def written_status(self) -> WriteStatusTracker:
        """Which builders this object wrote or read (one tracker, shared by reader and
        writer)."""
        return self._written

    def get_written(self, builder: Any, check_on_disk: bool = False) -> bool:
        """True if ``builder`` was written (or read) by this object; with ``check_on_disk``
        also require the node to exist in the store."""
        written = self._written.get_written(builder)
        if written and check_on_disk:
            return self.get_builder_exists_on_disk(builder)
        return written

    def get_builder_disk_path(self, builder: Any, filepath: str | None = None) -> str:
        """Return the local path of a builder's node inside the store directory."""
        base = filepath if filepath is not None else self.abspath
        return os.path.join(base, builder_path(builder).lstrip("/"))

    def get_builder_exists_on_disk(self, builder: Any) -> bool:
        """True if the builder's node exists in the open store."""
        path = builder_path(builder).strip("/")
        return path == "" or path in self._root

    def _legacy_v2_options(self) -> dict:
        """Keyword arguments of the translating store a legacy v2 store is read through."""
        return {}

    def save(
        self, path: str | os.PathLike[str], *, url: str | Mapping[str, str] | None = None
    ) -> dict[str, int]:
        """Write the amended file as a new reference JSON; the original is never modified.

        Can be called while the file is open (changes written so far are saved; more may
        follow and be saved again) or after ``close()``.

        Parameters
        ----------
        path : str or os.PathLike
            JSON file to write. New and changed values larger than 4096 bytes are staged
            files; those not already under the JSON's directory are placed in
            ``<path without .json>.staging/`` next to it.
        url : str or mapping of str to str, optional
            Location to record for the original file(s) instead of where they were read from
            (see :func:`nwbzarr.formats.kerchunk.references.save_references`).

        Returns
        -------
        dict of str to int
            ``staged_files``, ``staged_bytes``, ``inline_bytes``, ``original_refs`` (see
            :func:`nwbzarr.virtual.staging.save_staged`).

        Raises
        ------
        ReadOnlyError
            The file was not opened as an amendable HDF5 file or reference JSON (mode
            ``a``/``r+``).
        AppendError
            A write failed or references point at containers never written: nothing is
            saved, since the result would not be a complete file.
        ReferenceFileError
            ``path`` is the original file.
        """
        staging = self.staging_store
        if staging is not None and self._root is not None:
            pending = self._finish_changes()
            self._writer.started = False  # the next change marks the store again
            if pending is not None:
                raise pending
            if self._writer.failed:
                raise AppendError(f"{self._path}: a write failed; the amendment is not saved")
        return save_amendment(staging, self._path, path, url=url)

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
            if self._reader is not None:
                self._reader.linked.close()
            if self.virtual_kind is not None:  # closes the HDF5 reader's network sessions
                root.store.close()
            self._root = None
            if self._created_by_append and not self._writer.started:
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
            if self._writer.failed:
                journal.rollback()  # the store is again exactly as committed
            elif journal.changed:
                attrs = root.attrs.asdict()
                if WRITE_IN_PROGRESS_ATTR in attrs:
                    del root.attrs[WRITE_IN_PROGRESS_ATTR]
                self._consolidate()  # readers trust only the consolidated copy: always refresh
                journal.commit()
            return pending
        writer = self._writer
        if writer.started and not writer.failed:
            attrs = root.attrs.asdict()
            if WRITE_IN_PROGRESS_ATTR in attrs:
                del root.attrs[WRITE_IN_PROGRESS_ATTR]
        elif writer.started:
            self.append_session.restore_if_unchanged(self._root)
        if not writer.failed and writer.consolidate_on_close:
            self._consolidate()
        self._flush_store()
        return pending

    def _publish_written(self) -> None:
        """Let other readers of a new store see what has been written so far: land buffered
        writes and refresh the consolidated metadata. The in-progress marker stays until
        :meth:`close`. A journaled append keeps its root until commit (snapshot isolation);
        an amendment of an HDF5 file or reference JSON is staged until :meth:`save`."""
        if self._journal is not None or self.virtual_kind is not None:
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
            with quiet_zarr_warnings():
                zarr.consolidate_metadata(store)
            sync(_add_inline_chunks(store))
            return
        sync(_consolidate_documents(store, self._writer.node_documents))

    def flush(self) -> None:
        """Land every buffered write (queued node documents and chunks, the documents a new
        store holds in memory) in the store, so that other processes opening arrays by path
        see them. Consolidated metadata and the in-progress marker are left as they are.

        Raises
        ------
        ValueError
            If the ZarrIO is closed.
        """
        self._check_open("flush")
        self._flush_store()

    def _flush_store(self) -> None:
        self._writer.flush()  # queued nodes, then what a new store holds in memory

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

    # -- writing (write.py's Writer) ----------------------------------------------------------
    @property
    def writer(self) -> Writer | None:
        """The :class:`nwbzarr.backend.write.Writer` of the open store: what happens on write
        (None before the store is opened)."""
        return self._writer

    def write_builder(
        self,
        builder: GroupBuilder,
        link_data: bool = True,
        exhaust_dci: bool = True,
        export_source: str | None = None,
        consolidate_metadata: bool = True,
        **kwargs: Any,
    ) -> None:
        """Write a root :class:`hdmf.build.GroupBuilder` into the open store.

        The arguments are those of :meth:`nwbzarr.backend.write.Writer.write_builder`. With
        ``consolidate_metadata`` (outside ``write``/``export``, which publish once at their
        end) what was written is published at once; in append modes, references appended
        before their targets existed are then filled in.

        Raises
        ------
        ReadOnlyError
            If the store was opened read-only.
        AppendError
            If a table grown through read arrays has columns of different lengths.
        """
        self._check_writable()
        writer = self._writer
        writer.write_builder(
            builder,
            link_data=link_data,
            exhaust_dci=exhaust_dci,
            export_source=export_source,
            consolidate_metadata=consolidate_metadata,
            **kwargs,
        )
        if consolidate_metadata and not writer.publish_deferred:
            self._publish_written()
        self._after_write_builder()  # append.py

    def write_group(self, parent: zarr.Group, builder: Any, **kwargs: Any) -> zarr.Group:
        """Create (or update) the group of a group builder; see
        :meth:`nwbzarr.backend.write.Writer.write_group`."""
        return self._writer.write_group(parent, builder, **kwargs)

    def write_dataset(self, parent: zarr.Group, builder: Any, **kwargs: Any) -> Any:
        """Create and fill the array of a dataset builder; see
        :meth:`nwbzarr.backend.write.Writer.write_dataset`."""
        return self._writer.write_dataset(parent, builder, **kwargs)

    def write_attributes(self, obj: zarr.Group | zarr.Array, attributes: dict) -> None:
        """Encode HDMF attribute values and write them onto ``obj``; see
        :meth:`nwbzarr.backend.write.Writer.write_attributes`."""
        self._writer.write_attributes(obj, attributes)

    def write_link(
        self, parent: zarr.Group, builder: Any, export_source: str | None = None
    ) -> dict:
        """Add one soft or external link to ``parent``; see
        :meth:`nwbzarr.backend.write.Writer.write_link`."""
        return self._writer.write_link(parent, builder, export_source=export_source)

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
        jobs = (number_of_jobs, max_threads_per_process, multiprocessing_context, progress)
        with self._write_call(*jobs):
            super().write(
                container=container,
                link_data=link_data,
                exhaust_dci=exhaust_dci,
                consolidate_metadata=consolidate_metadata,
                **kwargs,
            )
            self._writer.exhaust_parallel()
            if cache_spec:
                self._cache_spec()
        if consolidate_metadata:
            self._publish_written()

    @contextlib.contextmanager
    def _write_call(
        self,
        number_of_jobs: int,
        max_threads_per_process: int | None,
        multiprocessing_context: str | None,
        progress: bool,
    ) -> Iterator[None]:
        """One ``write``/``export`` call: parallel options and progress bar set, zarr's notices
        quiet, publishing deferred to the caller (once, after the spec cache: a consolidated
        root makes every later node creation re-read it), any failure marking the write
        failed (``close`` then keeps the store marked incomplete)."""
        with (
            quiet_zarr_warnings(),
            self._writer.call(
                number_of_jobs, max_threads_per_process, multiprocessing_context, progress
            ),
        ):
            yield

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
        if not self._created_by_append and not root_is_typed(self._root):  # else: not found
            raise NotNWBStoreError(
                f"{self.source}: the root group has no 'data_type'/'neurodata_type' attribute, "
                "so it holds no HDMF container; read its builders with read_builder()"
            )
        with quiet_zarr_warnings():
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
        jobs = (number_of_jobs, max_threads_per_process, multiprocessing_context, False)
        with self._write_call(*jobs):
            HDMFIO.export(self, **ckwargs)
            self._writer.exhaust_parallel()
            if cache_spec:
                self._add_namespaces_of(src_io)
                self._cache_spec()
        if write_args["consolidate_metadata"]:
            self._publish_written()

    def _add_namespaces_of(self, src_io: HDMFIO) -> None:
        """Add the namespaces of ``src_io``'s catalog missing from ours (to be cached)."""
        ours = self.manager.namespace_catalog
        theirs = src_io.manager.namespace_catalog
        for ns in theirs.namespaces:
            if ns not in ours.namespaces:
                ours.add_namespace(ns, theirs.get_namespace(ns))

    # -- spec cache (specs.py) --------------------------------------------------------------
    def _spec_cache(self) -> SpecCache:
        return SpecCache(self._root, self.source)

    def _cache_spec(self) -> None:
        self._spec_cache().write(self.manager.namespace_catalog)

    def cache_namespaces(self, catalog: NamespaceCatalog) -> None:
        """Cache the namespaces of ``catalog`` (their own versions) in this writable store.

        A converter passes the namespaces cached in its source file, so the store keeps the
        schema versions the data were written with rather than those of the pynwb doing the
        conversion (``pynwb.validate`` and nwbinspector then judge it as they judge the
        source). A version already cached is left as is.

        Parameters
        ----------
        catalog : hdmf.spec.NamespaceCatalog
            Namespaces to cache.

        Raises
        ------
        ReadOnlyError
            If the store was opened read-only.
        """
        self._check_writable()
        self._spec_cache().write(catalog)

    @classmethod
    def get_namespaces(
        cls, path: str | Path, storage_options: dict | None = None
    ) -> dict[str, str]:
        """Return ``{namespace: newest cached version}`` of a store."""
        with cls(path, mode="r", storage_options=storage_options) as io:
            return io._spec_cache().versions()

    @classmethod
    def load_namespaces(
        cls,
        namespace_catalog: NamespaceCatalog | TypeMap,
        path: str | Path | None = None,
        namespaces: list[str] | None = None,
        io: HDMFIO | None = None,
        storage_options: dict | None = None,
        **kwargs: Any,
    ) -> dict:
        """Load the namespaces cached in a store into a catalog or type map.

        Parameters
        ----------
        namespace_catalog : hdmf.spec.NamespaceCatalog or hdmf.build.TypeMap
            Where to load the namespaces.
        path : str or pathlib.Path, optional
            Store to read (ignored when ``io`` is given).
        namespaces : list of str, optional
            Names to load (default: all cached).
        io : ZarrIO, optional
            An open ZarrIO to read from instead of opening ``path``.
        storage_options : dict, optional
            fsspec options for remote URLs.
        **kwargs
            ``file``: an open root ``zarr.Group`` to read instead of ``path`` (pynwb's
            validator passes ``io._file``). Others are ignored (pynwb passes HDF5-only options
            such as ``driver`` and ``aws_region``).

        Returns
        -------
        dict
            Namespace name -> dependencies, as ``NamespaceCatalog.load_namespaces`` returns.

        Raises
        ------
        UnknownNamespaceError
            If a requested namespace is not cached in the store.
        """
        if io is not None:
            return io.load_namespaces_io(namespace_catalog, namespaces)
        file = kwargs.get("file")
        if isinstance(file, zarr.Group):  # pynwb.validate(io=...) passes the open root group
            return load_cached_namespaces(file, namespace_catalog, namespaces, str(path or file))
        with cls(path, mode="r", storage_options=storage_options) as opened:
            return opened.load_namespaces_io(namespace_catalog, namespaces)

    def load_namespaces_io(
        self, namespace_catalog: NamespaceCatalog | TypeMap, namespaces: list[str] | None = None
    ) -> dict:
        """Load the namespaces cached in this open store (see :meth:`load_namespaces`)."""
        self._check_open("load namespaces")
        return self._spec_cache().load(namespace_catalog, namespaces)

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
        stored and raw bytes); see :func:`nwbzarr.backend.html.dataset_html`."""
        return dataset_html(dataset)

    @staticmethod
    def get_type(data: Any) -> Any:
        """Storage dtype of ``data``: ``str`` for text, else a numpy dtype (as hdmf-zarr).

        Raises
        ------
        TypeError
            If ``data`` holds Python objects that have no storage dtype.
        """

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
