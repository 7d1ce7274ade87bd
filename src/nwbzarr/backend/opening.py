"""Opening a store for ``ZarrIO`` (``OpenMixin``): modes, existing/new stores, legacy v2 stores,
and HDF5 files or reference JSON opened as virtual stores.

The mode rules (``r``, ``r-``, ``w``, ``w-``/``x``, ``a``, ``r+``) follow ``NWBHDF5IO``;
a new file's small writes go through :class:`~nwbzarr.storage.write_back.WriteBackStore`;
an HDF5 file or reference JSON opens read-only through :mod:`nwbzarr.virtual.sources`.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import zarr
from zarr.storage import LocalStore, WrapperStore

from .. import compat
from ..compat import UnstableSpecificationWarning, is_consolidated_metadata_error, sync
from ..conventions.attributes import WRITE_IN_PROGRESS_ATTR
from ..errors import (
    IncompleteStoreError,
    InvalidModeError,
    NotAZarrStoreError,
    ReadOnlyError,
    StoreExistsError,
    StoreNotFoundError,
)
from ..storage.cache import RemoteReadCache
from ..storage.inline_reads import InlineReadStore
from ..storage.journal import JOURNAL_DIR, JournaledStore, collect_garbage, recover
from ..storage.legacy_v2 import V2TranslatingStore, is_legacy_v2_store
from ..storage.resolve import (
    has_zarr_root,
    is_remote_url,
    open_store,
    remote_errors,
    require_listing,
    store_exists,
)
from ..storage.write_back import WriteBackStore
from ..virtual.lindi_tar import is_lindi_dir
from ..virtual.sources import open_virtual_store, source_kind

MODES = ("r", "r-", "w", "w-", "x", "a", "r+")
READ_ONLY_MODES = ("r", "r-")


def check_mode(path: Any, mode: str, supported: str) -> None:
    """Raise :class:`~nwbzarr.errors.InvalidModeError` unless ``mode`` is one of :data:`MODES`.

    ``supported`` ends the message, saying which modes to use instead.
    """
    if mode not in MODES:
        raise InvalidModeError(f"{path}: mode {mode!r} is not supported; {supported}")


class OpenMixin:
    """``can_read`` and ``open`` of :class:`nwbzarr.ZarrIO` (state lives on the I/O object)."""

    @property
    def source(self) -> str | None:
        """The file path or URL read or written (hdmf's ``HDMFIO.source``).

        A store object opened for changes (``"a"``/``"r+"``, e.g. the store of a writable
        Icechunk session) has no path; it gets a name unique to the store object so that
        containers read from it count as read from this source when ``write`` rebuilds
        their parents (hdmf refuses unmodified containers without a source).
        """
        source = super().source  # type: ignore[misc]
        if source is None and getattr(self, "_mode", None) in ("a", "r+"):
            path = getattr(self, "_path", None)
            if path is not None and not isinstance(path, str):
                return f"<{type(path).__name__} at {id(path):#x}>"
        return source

    @staticmethod
    def can_read(path: str | Path, storage_options: dict | None = None) -> bool:
        """Return True if ``path`` is a Zarr group this backend can open: a Zarr v3 group, or a
        legacy Zarr v2 group as hdmf-zarr < 0.14 wrote them (read-only).

        For a URL this checks that ``zarr.json`` or ``.zgroup`` exists at its root (one or two
        requests, sent with ``storage_options``). Never raises: missing paths, files,
        non-Zarr directories and unreachable URLs return False.
        """
        if isinstance(path, (str, Path)) and not is_remote_url(str(path)):
            p = Path(path)
            return (p / "zarr.json").is_file() or (p / ".zgroup").is_file()
        try:
            store = open_store(path, read_only=True, storage_options=storage_options)
            if is_remote_url(path):
                return has_zarr_root(store)
            if is_legacy_v2_store(store):
                return True
            zarr.open_group(store, mode="r")
            return True
        except Exception:
            return False

    def open(self) -> None:
        """Open the store in the mode given at construction (called by ``__init__``)."""
        if self._root is not None:
            return
        path, mode = self._path, self._mode
        local = isinstance(path, str) and not is_remote_url(path)
        exists = store_exists(path) if local else True
        if mode in ("r", "r-", "r+") and local and not exists:
            raise StoreNotFoundError(
                f"{path}: no such Zarr store; check the path, or open with mode='w' to create it"
            )
        if mode == "a" and local and not os.path.lexists(path) and _names_a_file(path):
            # 'a' would create a new Zarr directory under a name that says it is a file
            raise StoreNotFoundError(
                f"{path}: no such file; mode 'a' appends to an existing HDF5 file, reference "
                "JSON or Zarr store. Check the path, or create a new store with mode='w' under "
                "a name ending in .nwb.zarr"
            )
        if mode in ("w-", "x") and local and exists:
            raise StoreExistsError(
                f"{path}: already exists; mode {mode!r} never replaces data. Use mode='w' to "
                "replace it or choose another path"
            )
        if mode == "w" and local and exists:
            looks_zarr = (Path(path) / "zarr.json").is_file() or (Path(path) / ".zgroup").is_file()
            if not looks_zarr and not self._force_overwrite:
                raise StoreExistsError(
                    f"{path}: exists and is not a Zarr store; refusing to delete it. Pass "
                    "force_overwrite=True to replace it"
                )
            if Path(path).is_dir():
                shutil.rmtree(path)
            else:
                os.remove(path)
        read_only = mode in READ_ONLY_MODES
        if isinstance(path, str) and (not local or Path(path).is_file() or is_lindi_dir(path)):
            kind = source_kind(path, self._storage_options)
            if kind != "zarr":
                self._open_virtual(path, kind, mode)
                return
        if self.is_remote() and not read_only:
            raise ReadOnlyError(f"{path}: remote stores are read-only; open with mode='r'")
        store = open_store(path, read_only=read_only, storage_options=self._storage_options)
        if read_only and isinstance(path, str) and is_remote_url(path):
            # a URL: each key is fetched at most once while the file is open (storage/cache.py)
            store = RemoteReadCache(store)
        if not read_only and not isinstance(path, str):
            store = _consolidating(store)  # a store object (an Icechunk session's store, ...)
        if read_only and isinstance(store, LocalStore):
            store = _local_read_store(store, path)
        elif not read_only and compat.zarrs_selected():
            _zarrs_not_used(path, "nwbzarr writes and appends go through its own stores", 4)
        with _QuietZarr():
            if mode == "a" and not exists and local:
                self._created_by_append = True  # removed again if nothing is written
            if mode in ("w", "w-", "x") or (mode == "a" and not exists):
                # a new file: small writes wait in memory and are flushed together, except
                # on a transactional store object (Icechunk's: writes stay in its session until
                # commit, and it refuses chunks of an array whose zarr.json is held back)
                if not isinstance(store, _NoConsolidatedStore):
                    store = WriteBackStore(store)
                self._root = zarr.open_group(store, mode="w", zarr_format=3)
            else:
                if mode in ("a", "r+") and isinstance(store, LocalStore):
                    store = self._journaled(store)
                with remote_errors(path, store):
                    self._root = self._open_existing(store, mode)
                    if mode == "r-":
                        require_listing(path, store)

    def _journaled(self, store: LocalStore) -> Any:
        """The store an append writes through: first finish or undo an append a killed
        process left (:func:`nwbzarr.storage.journal.recover`), then journal this one."""
        root = Path(store.root)
        if (root / ".zgroup").is_file() and not (root / "zarr.json").is_file():
            return store  # legacy v2: refused by _open_existing
        outcome = recover(store.root)
        if outcome == "rolled back":
            warnings.warn(
                f"{self._path}: an append that did not finish was rolled back; the store holds "
                "its last committed content",
                stacklevel=4,
            )
        collect_garbage(store.root)  # old chunks of arrays rewritten by earlier appends
        self._journal = JournaledStore(store)
        return self._journal

    def _open_virtual(self, path: str, kind: str, mode: str) -> None:
        """Open an HDF5 file or a reference JSON through a virtual store: read-only, or in
        ``a``/``r+`` through a staging store that never writes to the file (amend.py)."""
        store = open_virtual_store(
            path, kind, storage_options=self._storage_options, cache=self._cache
        )
        self._virtual_kind = kind
        if mode not in READ_ONLY_MODES:
            store = self._stage(store)
            mode = "r+"
        with _QuietZarr(), remote_errors(path, store):
            self._root = self._open_existing(store, mode)

    def _open_existing(self, store: Any, mode: str) -> zarr.Group:
        use_consolidated = True if mode == "r" else False
        if not isinstance(store, V2TranslatingStore) and _is_legacy_v2(store):
            if mode not in READ_ONLY_MODES:
                v2_io = "NWBZarrV2IO" if self._typed_root_required else "ZarrV2IO"
                raise ReadOnlyError(
                    f"{self._path}: a legacy hdmf-zarr (Zarr v2) store can only be opened "
                    f"read-only (mode 'r' or 'r-'), not {mode!r}; migrate it with "
                    f"{v2_io}.convert_to_v3(OLD, NEW) or 'nwbzarr convert OLD.nwb.zarr "
                    "NEW.nwb.zarr' and write to the new store"
                )
            store = V2TranslatingStore(store, use_consolidated=use_consolidated)
        try:
            root = zarr.open_group(
                store,
                mode="r" if mode in READ_ONLY_MODES else "r+",
                use_consolidated=use_consolidated if mode == "r" else False,
                zarr_format=3,
            )
        except (
            FileNotFoundError,
            zarr.errors.GroupNotFoundError,
            zarr.errors.NodeTypeValidationError,
            zarr.errors.ContainsArrayError,
        ) as exc:
            raise NotAZarrStoreError(
                f"{self._path}: not a Zarr group (no zarr.json); nwbzarr reads Zarr v3 NWB "
                "stores — convert HDF5 files with 'nwbzarr convert'"
            ) from exc
        except ValueError as exc:
            if not is_consolidated_metadata_error(exc):
                raise NotAZarrStoreError(
                    f"{self._path}: cannot open as a Zarr group: {exc}"
                ) from exc
            try:
                root = zarr.open_group(store, mode="r", use_consolidated=False, zarr_format=3)
            except zarr.errors.ContainsArrayError as err:
                raise NotAZarrStoreError(
                    f"{self._path}: a Zarr array, not a group; open the store that contains it"
                ) from err
        if root.metadata.zarr_format != 3:
            raise NotAZarrStoreError(
                f"{self._path}: Zarr v{root.metadata.zarr_format} store without a root "
                "'.zgroup'; this backend reads the Zarr v3 convention and legacy hdmf-zarr v2 "
                "groups"
            )
        if WRITE_IN_PROGRESS_ATTR in root.attrs:
            raise IncompleteStoreError(
                f"{self._path}: a write into this store did not complete, so it does not hold "
                "a complete file; write it again with mode='w'"
            )
        return root


def _is_legacy_v2(store: Any) -> bool:
    """:func:`~nwbzarr.storage.legacy_v2.is_legacy_v2_store`, asking a remote store for its root
    ``zarr.json`` first: that document is kept by :class:`RemoteReadCache` for the open that
    follows, and ``.zgroup`` is asked for only when it is absent (one request for a v3 store).
    Never raises."""
    if isinstance(store, RemoteReadCache):
        try:
            if sync(store.exists("zarr.json")):
                return False
        except Exception:  # unreadable: opening reports it (remote_errors)
            return False
    return is_legacy_v2_store(store)


def _local_read_store(store: LocalStore, path: Any) -> Any:
    """The store a read-only open of the local store ``store`` reads through.

    Normally :class:`~nwbzarr.storage.inline_reads.InlineReadStore` (small files read without
    a thread round trip; a reader sees the committed bytes while an append runs). When zarrs
    is the selected codec pipeline (``zarr.config``'s ``codec_pipeline.path``, or
    ``NWBZARR_CODEC_PIPELINE=zarrs``), the plain ``LocalStore``: zarrs reads chunks straight
    from the directory and refuses any wrapper, which zarr-python would answer by falling back
    to its own pipeline without a word. Where zarrs cannot be used (it is missing or refuses
    the store, a legacy v2 store, an append running) the wrapper stays and
    :class:`~nwbzarr.compat.ZarrsNotUsedWarning` says why.

    Parameters
    ----------
    store : zarr.storage.LocalStore
        The read-only store of ``path``.
    path : str
        The store's path, named in the warning.

    Returns
    -------
    zarr.abc.store.Store
        ``store`` itself (zarrs reads it) or ``InlineReadStore(store)``.
    """
    if not compat.zarrs_selected():
        return InlineReadStore(store)
    root = Path(store.root)
    if (root / ".zgroup").is_file() and not (root / "zarr.json").is_file():
        reason = "a legacy Zarr v2 store is read through nwbzarr's translating store"
    elif (root / JOURNAL_DIR).exists():
        reason = (
            "an append into the store is running (or was interrupted), and only nwbzarr's "
            "store reads the bytes it committed"
        )
    else:
        reason = compat.zarrs_refusal(store)
    if reason is None:
        return store
    _zarrs_not_used(path, reason, 5)
    return InlineReadStore(store)


def _zarrs_not_used(path: Any, reason: str, stacklevel: int) -> None:
    """Warn that zarrs, although selected, does not run for ``path`` (see above); the
    warning names the frame ``stacklevel`` levels up (the caller of ``ZarrIO(...)``)."""
    warnings.warn(
        f"{path}: zarrs is the selected codec pipeline, but {reason}; its chunks are read "
        "and written by zarr-python's pipeline instead (same data, zarr-python's speed)",
        compat.ZarrsNotUsedWarning,
        stacklevel=stacklevel,
    )


def _consolidating(store: Any) -> Any:
    """``store`` unchanged, or wrapped so that refreshing consolidated metadata works on it.

    A store that does not support consolidated metadata (Icechunk's, whose node metadata is
    already fast to list) makes ``zarr.consolidate_metadata`` raise ``TypeError``. Wrapped, the
    refresh runs and the root ``zarr.json`` is stored without its ``consolidated_metadata``
    member, as such a store expects; zarr never reads consolidated metadata from it.
    """
    if getattr(store, "supports_consolidated_metadata", True):
        return store
    return _NoConsolidatedStore(store)


class _NoConsolidatedStore(WrapperStore):
    """A writable store object without consolidated metadata support, see :func:`_consolidating`."""

    @property
    def supports_consolidated_metadata(self) -> bool:
        return True

    async def set(self, key: str, value: Any) -> None:
        if key == "zarr.json":
            meta = json.loads(value.to_bytes())
            if isinstance(meta, dict) and meta.pop("consolidated_metadata", None) is not None:
                value = type(value).from_bytes(json.dumps(meta, separators=(",", ":")).encode())
        await self._store.set(key, value)

    def __getattr__(self, name: str) -> Any:  # the wrapped store's own API (``session``, ...)
        if name == "_store":
            raise AttributeError(name)
        return getattr(self._store, name)

    def __repr__(self) -> str:
        return repr(self._store)


#: Name endings of files (HDF5, reference JSON) that mode 'a' never creates as a Zarr directory.
_FILE_SUFFIXES = (".json", ".nwb", ".h5", ".hdf5", ".hdf")


def _names_a_file(path: str) -> bool:
    """True if ``path``'s name ends like an HDF5 file or a reference JSON (case-insensitive)."""
    return path.rstrip("/").lower().endswith(_FILE_SUFFIXES)


class _QuietZarr:
    """Silence zarr's notices about structured dtypes, consolidated metadata and numcodecs
    codecs in v3 (all part of the convention of docs/storage.md)."""

    def __enter__(self) -> None:
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.filterwarnings("ignore", category=UnstableSpecificationWarning)
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        # HDF5 filters of a virtual view (shuffle, fletcher32, ...) are numcodecs codecs
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")
        # an append's journal directory (storage/journal.py) is not a node
        warnings.filterwarnings("ignore", message=r"Object at \.nwbzarr-\w+ is not recognized")

    def __exit__(self, *exc: Any) -> None:
        self._ctx.__exit__(*exc)
