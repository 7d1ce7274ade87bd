"""Opening a source for ``ZarrIO``: an ordered table of openers (:data:`OPENERS`), each with a
``can_open`` test, for HDF5 files or reference JSON (virtual stores), new stores, legacy v2
stores and existing Zarr v3 stores; :func:`open_source` walks it and returns an
:class:`OpenedStore`.

The mode rules (``r``, ``r-``, ``w``, ``w-``/``x``, ``a``, ``r+``) follow ``NWBHDF5IO``;
a new file's small writes go through :class:`~nwbzarr.storage.write_back.WriteBackStore`;
an HDF5 file or reference JSON opens read-only through :mod:`nwbzarr.virtual.sources`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any, Protocol

import zarr
from zarr.storage import LocalStore, WrapperStore

from .. import compat
from ..compat import (
    WrapperStoreCompat,
    is_consolidated_metadata_error,
    quiet_zarr_warnings,
    sync,
)
from ..conventions.attributes import WRITE_IN_PROGRESS_ATTR
from ..errors import (
    IncompleteStoreError,
    InvalidModeError,
    NotAZarrStoreError,
    ReadOnlyError,
    StoreExistsError,
    StoreNotFoundError,
)
from ..formats.hdmf_zarr_v2.store import V2TranslatingStore, is_legacy_v2_store
from ..formats.lindi.container import is_lindi_dir
from ..storage.cache import RemoteReadCache
from ..storage.inline_reads import InlineReadStore
from ..storage.journal import JOURNAL_DIR, JournaledStore, collect_garbage, recover
from ..storage.resolve import (
    has_zarr_root,
    is_remote_url,
    open_store,
    remote_errors,
    require_listing,
    store_exists,
)
from ..storage.write_back import WriteBackStore
from ..virtual.sources import open_virtual_store, source_kind
from ..virtual.staging import StagingStore
from .amend import stage

MODES = ("r", "r-", "w", "w-", "x", "a", "r+")
READ_ONLY_MODES = ("r", "r-")


def check_mode(path: Any, mode: str, supported: str) -> None:
    """Raise :class:`~nwbzarr.errors.InvalidModeError` unless ``mode`` is one of :data:`MODES`.

    ``supported`` ends the message, saying which modes to use instead.
    """
    if mode not in MODES:
        raise InvalidModeError(f"{path}: mode {mode!r} is not supported; {supported}")


@dataclasses.dataclass(eq=False)
class OpenRequest:
    """What :meth:`nwbzarr.ZarrIO.open` was asked to open, handed to every opener.

    Parameters
    ----------
    path : str or zarr store
        The local path or URL (a ``pathlib.Path`` already made a ``str``), or a store object.
    mode : str
        One of :data:`MODES`.
    storage_options : dict, optional
        fsspec options for URLs.
    cache : Any
        Local cache of remote chunk bytes for a virtual store (:mod:`nwbzarr.virtual.sources`).
    staging_dir : str, optional
        Directory of the staging store of an amended HDF5 file or reference JSON.
    force_overwrite : bool
        ``w`` may replace a path that is not a Zarr store.
    v2_io_name : str
        Class to name in the refusal of a writable mode on a legacy v2 store.
    v2_options : dict
        Keyword arguments of the :class:`V2TranslatingStore` a legacy v2 store is read through.
    stacklevel : int
        ``stacklevel`` of warnings that should name the caller of ``ZarrIO(...)``.
    """

    path: Any
    mode: str
    storage_options: dict | None = None
    cache: Any = None
    staging_dir: str | None = None
    force_overwrite: bool = False
    v2_io_name: str = "ZarrV2IO"
    v2_options: dict = dataclasses.field(default_factory=dict)
    stacklevel: int = 6
    #: The store :func:`base_store` made for this request (made once).
    store: Any = dataclasses.field(default=None, init=False, repr=False)

    @property
    def local(self) -> bool:
        """True for a local path (not a URL, not a store object)."""
        return isinstance(self.path, str) and not is_remote_url(self.path)

    @property
    def read_only(self) -> bool:
        """True for ``r`` and ``r-``."""
        return self.mode in READ_ONLY_MODES

    @functools.cached_property
    def exists(self) -> bool:
        """Whether a local path exists (always True for URLs and store objects)."""
        return store_exists(self.path) if self.local else True

    @functools.cached_property
    def kind(self) -> str | None:
        """``"hdf5"``/``"references"``/``"zarr"`` for a file, a URL or a LINDI directory
        (:func:`nwbzarr.virtual.sources.source_kind`), None for a local directory or store."""
        path = self.path
        if isinstance(path, str) and (not self.local or Path(path).is_file() or is_lindi_dir(path)):
            return source_kind(path, self.storage_options)
        return None

    @property
    def creates(self) -> bool:
        """True if the open makes a new store (``w``, ``w-``, ``x``, ``a`` on nothing)."""
        return self.mode in ("w", "w-", "x") or (self.mode == "a" and not self.exists)


@dataclasses.dataclass(frozen=True)
class OpenedStore:
    """What an opener returns: the open root group and how it was opened.

    Parameters
    ----------
    root : zarr.Group
        The open root group.
    journal : JournaledStore, optional
        The journal an append to a local store writes through (committed or rolled back on
        close, :mod:`nwbzarr.storage.journal`).
    virtual_kind : str, optional
        ``"hdf5"`` or ``"references"`` for an HDF5 file or reference JSON opened as a virtual
        store, else None.
    staging : StagingStore, optional
        The staging store of an HDF5 file or reference JSON opened with ``a``/``r+``.
    created_by_append : bool
        ``a`` made a new, empty store at a path where nothing was (removed on close if
        nothing is written).
    """

    root: zarr.Group
    journal: JournaledStore | None = None
    virtual_kind: str | None = None
    staging: StagingStore | None = None
    created_by_append: bool = False


class Opener(Protocol):
    """One way of opening a source: :func:`open_source` asks each in :data:`OPENERS` in turn."""

    def can_open(self, request: OpenRequest) -> bool:
        """True if this opener handles ``request`` (it may still refuse it by raising)."""
        ...

    def open(self, request: OpenRequest) -> OpenedStore:
        """Open ``request``'s source."""
        ...


class VirtualOpener:
    """An HDF5 file or reference JSON (local, URL, LINDI directory) as a virtual store:
    read-only, or in ``a``/``r+`` through a staging store that never writes to the file."""

    def can_open(self, request: OpenRequest) -> bool:
        """True if the source is a file (or URL) of a kind other than a Zarr store."""
        return request.kind is not None and request.kind != "zarr"

    def open(self, request: OpenRequest) -> OpenedStore:
        """Open the virtual store (staged in ``a``/``r+``).

        Raises
        ------
        ReadOnlyError
            ``a``/``r+`` on a LINDI or kerchunk reference JSON (Zarr v2 keys).
        """
        path, kind, mode = request.path, request.kind, request.mode
        store = open_virtual_store(
            path, kind, storage_options=request.storage_options, cache=request.cache
        )
        staging = None
        if mode not in READ_ONLY_MODES:
            store = staging = stage(store, path, request.staging_dir)
            mode = "r+"
        with quiet_zarr_warnings(), remote_errors(path, store):
            root = open_root(store, mode, request)
        return OpenedStore(root, virtual_kind=kind, staging=staging)


class RemoteWriteRefusal:
    """A writable mode on a URL (other than an HDF5 file or reference JSON): refused."""

    def can_open(self, request: OpenRequest) -> bool:
        """True for a writable mode on a URL."""
        return is_remote_url(request.path) and not request.read_only

    def open(self, request: OpenRequest) -> OpenedStore:
        """Raise :class:`~nwbzarr.errors.ReadOnlyError`."""
        raise ReadOnlyError(f"{request.path}: remote stores are read-only; open with mode='r'")


class NewStoreOpener:
    """A new store (``w``, ``w-``, ``x``, or ``a`` where nothing exists): small writes wait in
    a :class:`~nwbzarr.storage.write_back.WriteBackStore` and are flushed together."""

    def can_open(self, request: OpenRequest) -> bool:
        """True if the open creates a store."""
        return request.creates

    def open(self, request: OpenRequest) -> OpenedStore:
        """Create the root group of the new store."""
        store = base_store(request)
        # on a transactional store object (Icechunk's: writes stay in its session until
        # commit, and it refuses chunks of an array whose zarr.json is held back) small
        # writes go straight to the store
        if not isinstance(store, NoConsolidatedStore):
            store = WriteBackStore(store)
        with quiet_zarr_warnings():
            root = zarr.open_group(store, mode="w", zarr_format=3)
        created = request.mode == "a" and request.local
        return OpenedStore(root, created_by_append=created)


class LegacyV2Opener:
    """A legacy hdmf-zarr (Zarr v2) store, read in the v3 convention through a
    :class:`~nwbzarr.formats.hdmf_zarr_v2.store.V2TranslatingStore` (``r``/``r-`` only)."""

    def can_open(self, request: OpenRequest) -> bool:
        """True if the store has a root ``.zgroup`` and no ``zarr.json``."""
        return _is_legacy_v2(base_store(request))

    def open(self, request: OpenRequest) -> OpenedStore:
        """Open the translated root group.

        Raises
        ------
        ReadOnlyError
            In a writable mode.
        """
        store = base_store(request)
        with quiet_zarr_warnings(), remote_errors(request.path, store):
            root = open_root(store, request.mode, request)
            if request.mode == "r-":
                require_listing(request.path, store)
        return OpenedStore(root)


class ExistingStoreOpener:
    """An existing Zarr v3 store; an append to a local store goes through a journal."""

    def can_open(self, request: OpenRequest) -> bool:
        """True for every request (the last opener)."""
        return True

    def open(self, request: OpenRequest) -> OpenedStore:
        """Open the root group (recovering an interrupted append first in ``a``/``r+``)."""
        store = base_store(request)
        journal = None
        if request.mode in ("a", "r+") and isinstance(store, LocalStore):
            store = journal = journaled(store, request)
        with quiet_zarr_warnings(), remote_errors(request.path, store):
            root = open_root(store, request.mode, request)
            if request.mode == "r-":
                require_listing(request.path, store)
        return OpenedStore(root, journal=journal)


#: The openers :func:`open_source` asks in order; the first whose ``can_open`` is True opens.
OPENERS: tuple[Opener, ...] = (
    VirtualOpener(),
    RemoteWriteRefusal(),
    NewStoreOpener(),
    LegacyV2Opener(),
    ExistingStoreOpener(),
)


def open_source(request: OpenRequest, openers: tuple[Opener, ...] = OPENERS) -> OpenedStore:
    """Open ``request``'s source: check the mode's rules on a local path, then hand it to the
    first opener that can open it.

    Parameters
    ----------
    request : OpenRequest
        What to open.
    openers : tuple of Opener
        The table to walk (default :data:`OPENERS`).

    Returns
    -------
    OpenedStore

    Raises
    ------
    StoreNotFoundError, StoreExistsError, NotAZarrStoreError, ReadOnlyError, ...
        As documented for :class:`nwbzarr.ZarrIO`.
    """
    if request.local:
        check_local_path(request)
    for opener in openers:
        if opener.can_open(request):
            return opener.open(request)
    raise AssertionError("ExistingStoreOpener opens every request")  # pragma: no cover


def check_local_path(request: OpenRequest) -> None:
    """Apply the mode's rules to a local path; in ``w``, remove what is there.

    Parameters
    ----------
    request : OpenRequest
        A request for a local path.

    Raises
    ------
    StoreNotFoundError
        ``r``/``r-``/``r+`` on nothing, or ``a`` on nothing under a file's name.
    StoreExistsError
        ``w-``/``x`` on an existing path, or ``w`` on something that is not a Zarr store
        without ``force_overwrite``.
    """
    path, mode, exists = request.path, request.mode, request.exists
    if mode in ("r", "r-", "r+") and not exists:
        raise StoreNotFoundError(
            f"{path}: no such Zarr store; check the path, or open with mode='w' to create it"
        )
    if mode == "a" and not os.path.lexists(path) and _names_a_file(path):
        # 'a' would create a new Zarr directory under a name that says it is a file
        raise StoreNotFoundError(
            f"{path}: no such file; mode 'a' appends to an existing HDF5 file, reference "
            "JSON or Zarr store. Check the path, or create a new store with mode='w' under "
            "a name ending in .nwb.zarr"
        )
    if mode in ("w-", "x") and exists:
        raise StoreExistsError(
            f"{path}: already exists; mode {mode!r} never replaces data. Use mode='w' to "
            "replace it or choose another path"
        )
    if mode == "w" and exists:
        looks_zarr = (Path(path) / "zarr.json").is_file() or (Path(path) / ".zgroup").is_file()
        if not looks_zarr and not request.force_overwrite:
            raise StoreExistsError(
                f"{path}: exists and is not a Zarr store; refusing to delete it. Pass "
                "force_overwrite=True to replace it"
            )
        if Path(path).is_dir():
            shutil.rmtree(path)
        else:
            os.remove(path)


def base_store(request: OpenRequest) -> Any:
    """The store a Zarr source is read or written through (made once per request).

    ``open_store``'s store, with a :class:`RemoteReadCache` for a URL, an
    :class:`~nwbzarr.storage.inline_reads.InlineReadStore` for a local read (unless zarrs
    reads it), and consolidated-metadata support for a writable store object.

    Parameters
    ----------
    request : OpenRequest
        What is opened.

    Returns
    -------
    zarr.abc.store.Store
    """
    if request.store is not None:
        return request.store
    path, read_only = request.path, request.read_only
    store = open_store(path, read_only=read_only, storage_options=request.storage_options)
    if read_only and isinstance(path, str) and is_remote_url(path):
        # a URL: each key is fetched at most once while the file is open (storage/cache.py)
        store = RemoteReadCache(store)
    if not read_only and not isinstance(path, str):
        store = _consolidating(store)  # a store object (an Icechunk session's store, ...)
    if read_only and isinstance(store, LocalStore):
        store = _local_read_store(store, path, request.stacklevel + 1)
    elif not read_only and compat.zarrs_selected():
        _zarrs_not_used(
            path, "nwbzarr writes and appends go through its own stores", request.stacklevel
        )
    request.store = store
    return store


def journaled(store: LocalStore, request: OpenRequest) -> JournaledStore:
    """The store an append writes through: first finish or undo an append a killed process
    left (:func:`nwbzarr.storage.journal.recover`), then journal this one.

    Parameters
    ----------
    store : zarr.storage.LocalStore
        The local store appended to.
    request : OpenRequest
        The open request (its path is named in the warning).

    Returns
    -------
    JournaledStore
    """
    outcome = recover(store.root)
    if outcome == "rolled back":
        warnings.warn(
            f"{request.path}: an append that did not finish was rolled back; the store holds "
            "its last committed content",
            stacklevel=request.stacklevel,
        )
    collect_garbage(store.root)  # old chunks of arrays rewritten by earlier appends
    return JournaledStore(store)


def open_root(store: Any, mode: str, request: OpenRequest) -> zarr.Group:
    """Open the root group of an existing store (a legacy v2 store through the translating
    store), checking it is a complete Zarr v3 group.

    Parameters
    ----------
    store : zarr.abc.store.Store
        The store.
    mode : str
        The mode (``r`` reads consolidated metadata).
    request : OpenRequest
        The open request (path, legacy v2 options).

    Returns
    -------
    zarr.Group

    Raises
    ------
    ReadOnlyError
        A writable mode on a legacy v2 store.
    NotAZarrStoreError
        No Zarr group at the root.
    IncompleteStoreError
        The last write into the store did not complete.
    """
    path = request.path
    use_consolidated = True if mode == "r" else False
    if not isinstance(store, V2TranslatingStore) and _is_legacy_v2(store):
        if mode not in READ_ONLY_MODES:
            raise ReadOnlyError(
                f"{path}: a legacy hdmf-zarr (Zarr v2) store can only be opened "
                f"read-only (mode 'r' or 'r-'), not {mode!r}; migrate it with "
                f"{request.v2_io_name}.convert_to_v3(OLD, NEW) or 'nwbzarr convert "
                "OLD.nwb.zarr NEW.nwb.zarr' and write to the new store"
            )
        store = V2TranslatingStore(store, use_consolidated=use_consolidated, **request.v2_options)
    root = _open_group(store, mode, path)
    if root.metadata.zarr_format != 3:
        raise NotAZarrStoreError(
            f"{path}: Zarr v{root.metadata.zarr_format} store without a root "
            "'.zgroup'; this backend reads the Zarr v3 convention and legacy hdmf-zarr v2 "
            "groups"
        )
    if WRITE_IN_PROGRESS_ATTR in root.attrs:
        raise IncompleteStoreError(
            f"{path}: a write into this store did not complete, so it does not hold "
            "a complete file; write it again with mode='w'"
        )
    return root


def _open_group(store: Any, mode: str, path: Any) -> zarr.Group:
    """``zarr.open_group`` of the root, its failures as :class:`NotAZarrStoreError`; a store
    whose consolidated metadata cannot be used is opened by listing."""
    use_consolidated = True if mode == "r" else False
    try:
        return zarr.open_group(
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
            f"{path}: not a Zarr group (no zarr.json); nwbzarr reads Zarr v3 NWB "
            "stores — convert HDF5 files with 'nwbzarr convert'"
        ) from exc
    except ValueError as exc:
        if not is_consolidated_metadata_error(exc):
            raise NotAZarrStoreError(f"{path}: cannot open as a Zarr group: {exc}") from exc
        try:
            return zarr.open_group(store, mode="r", use_consolidated=False, zarr_format=3)
        except zarr.errors.ContainsArrayError as err:
            raise NotAZarrStoreError(
                f"{path}: a Zarr array, not a group; open the store that contains it"
            ) from err


def can_read(path: str | Path, storage_options: dict | None = None) -> bool:
    """Return True if ``path`` is a Zarr group this backend can open (see
    :meth:`nwbzarr.ZarrIO.can_read`). Never raises."""
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


def _is_legacy_v2(store: Any) -> bool:
    """:func:`~nwbzarr.formats.hdmf_zarr_v2.store.is_legacy_v2_store`, asking a remote store for
    its root
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


def _local_read_store(store: LocalStore, path: Any, stacklevel: int) -> Any:
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
    stacklevel : int
        ``stacklevel`` of the warning.

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
    _zarrs_not_used(path, reason, stacklevel)
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
    return NoConsolidatedStore(store)


class NoConsolidatedStore(WrapperStoreCompat, WrapperStore):
    """A writable store object that cannot keep consolidated metadata (an Icechunk session's
    store, see :func:`_consolidating`), wrapped so that zarr can still be asked to consolidate.

    Every value passes through unchanged except the root ``zarr.json``, whose
    ``consolidated_metadata`` member is dropped before it is written; reads go to the wrapped
    store, and so does any attribute of its own API (an Icechunk store's ``session``).

    Parameters
    ----------
    store : zarr.abc.store.Store
        The wrapped store.
    """

    @property
    def supports_consolidated_metadata(self) -> bool:
        return True

    async def set(self, key: str, value: Any) -> None:
        if key == "zarr.json":
            try:
                meta = json.loads(value.to_bytes())
            except (UnicodeDecodeError, ValueError):  # not a document: stored as given
                meta = None
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
