"""hdmf-zarr 0.14's API for legacy Zarr v2 stores: ``ZarrV2IO``, ``NWBZarrV2IO``,
``is_zarr_v2_file`` and ``IncompleteConversionError``.

:class:`~nwbzarr.ZarrIO` and :class:`~nwbzarr.NWBZarrIO` already read a legacy hdmf-zarr
(< 0.14) Zarr v2 store in modes ``r``/``r-``, through
:class:`~nwbzarr.formats.hdmf_zarr_v2.store.V2TranslatingStore`, decoding pickled chunks with
nwbzarr's restricted unpickler (:mod:`nwbzarr.formats.hdmf_zarr_v2.safe_pickle`). The
classes here add what hdmf-zarr 0.14 users expect of its dedicated v2 readers:

* ``allow_pickle=False`` by default: a dataset stored with the ``pickle`` codec is refused
  (:class:`~nwbzarr.errors.UnsafePickleError`, naming the dataset) when the read reaches it,
  and no chunk of it is decoded. With ``allow_pickle=True`` it is decoded by the restricted
  unpickler only (plain data; a pickle naming any other global is still refused). A cached
  spec stored with ``pickle`` is refused whatever ``allow_pickle`` says: hdmf-zarr writes
  specs as JSON text, so such a spec does not come from it.
* :attr:`ZarrV2IO.skipped_entries`: a member whose metadata cannot be translated, or whose
  codec is not available here, is left out of what is read (with a warning) instead of failing
  the whole file.
* :meth:`ZarrV2IO.export_to_v3` and :meth:`ZarrV2IO.convert_to_v3` write the file as a Zarr v3
  store (written under a temporary sibling, moved into place when complete), refusing with
  :class:`~nwbzarr.errors.IncompleteConversionError`, before anything is written, when entries
  were skipped.

Every other mode than ``r``/``r-`` is refused: these readers never write.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hdmf.build import BuildManager, GroupBuilder, TypeMap
from hdmf.container import Container
from zarr.abc.store import Store

from ..compat import sync
from ..errors import (
    IncompleteConversionError,
    ReadOnlyError,
    StoreExistsError,
    UnsafeDestinationError,
    UnsafePickleError,
)
from ..formats.hdmf_zarr_v2.conventions import V2_ARRAY, V2_GROUP
from ..formats.hdmf_zarr_v2.store import (
    ZARR_JSON,
    V2TranslatingStore,
    pickle_refused,
)
from ..storage import atomic
from ..storage.resolve import is_remote_url, open_store
from .io import ZarrIO
from .nwb import NWBZarrIO
from .opening import READ_ONLY_MODES, check_mode
from .specs import namespace_groups

__all__ = ["ZarrV2IO", "NWBZarrV2IO", "is_zarr_v2_file", "IncompleteConversionError"]


def is_zarr_v2_file(path: str | Path | Store, storage_options: dict | None = None) -> bool:
    """Return True if ``path`` holds a Zarr v2 hierarchy (as hdmf-zarr < 0.14 wrote them).

    That is: a root ``.zgroup`` or ``.zarray`` and no root ``zarr.json``.

    Parameters
    ----------
    path : str, pathlib.Path or zarr.abc.store.Store
        A local directory, a URL (``https://``, ``s3://``, ``gs://``, ... ; one or two requests
        for the root documents) or an open store.
    storage_options : dict, optional
        fsspec options for a URL (``{"anon": True}``, headers, credentials).

    Returns
    -------
    bool
        False for a Zarr v3 store, anything else, and whatever cannot be reached; never raises.
    """
    try:
        if isinstance(path, (str, os.PathLike)) and not is_remote_url(str(path)):
            root = Path(path)
            if (root / ZARR_JSON).is_file():
                return False
            return (root / V2_GROUP).is_file() or (root / V2_ARRAY).is_file()
        if isinstance(path, V2TranslatingStore):
            return True
        store = open_store(path, read_only=True, storage_options=storage_options)
        if sync(store.exists(ZARR_JSON)):
            return False
        return bool(sync(store.exists(V2_GROUP)) or sync(store.exists(V2_ARRAY)))
    except Exception:  # noqa: BLE001 - documented: any failure means "not a v2 store"
        return False


def _anonymous_s3(path: Any) -> dict | None:
    """hdmf-zarr's default for ``s3://`` sources: anonymous access (public buckets)."""
    if isinstance(path, str) and path.lower().startswith("s3://"):
        return {"anon": True}
    return None


def _is_zarr_directory(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in (ZARR_JSON, V2_GROUP))


class ZarrV2IO(ZarrIO):
    """Read a legacy hdmf-zarr (< 0.14) Zarr v2 store, as hdmf-zarr 0.14's ``ZarrV2IO``.

    A read-only :class:`~nwbzarr.ZarrIO` with a pickle policy and a list of skipped entries
    (see the module docstring); it also reads Zarr v3 stores, where neither applies.

    Parameters
    ----------
    path : str, pathlib.Path or zarr store
        The v2 store: a local directory or a URL (read through fsspec with
        ``storage_options``).
    mode : str
        ``"r"`` (consolidated metadata, ``.zmetadata``, when the store has it) or ``"r-"``
        (every node's own documents).
    manager : hdmf.build.BuildManager or hdmf.build.TypeMap, optional
        Build manager.
    storage_options : dict, optional
        fsspec options for a URL (``{"anon": True}`` for a public S3 bucket, headers,
        credentials).
    allow_pickle : bool
        Decode datasets stored with the ``pickle`` codec (hdmf-zarr < 0.14 stored object
        references, e.g. an electrodes table's ``group`` column, that way), through nwbzarr's
        restricted unpickler. Pass True only for files you trust. Stores opened through
        external links of this one are opened with the default (False).
    **kwargs
        Passed to :class:`~nwbzarr.ZarrIO` (``cache``, ``herd_path``, ...).

    Raises
    ------
    InvalidModeError
        ``mode`` is not a mode of :class:`~nwbzarr.ZarrIO`.
    ReadOnlyError
        ``mode`` writes (``w``, ``w-``, ``x``, ``a``, ``r+``).
    StoreNotFoundError, NotAZarrStoreError, RemoteAccessError, LegacyFormatError
        As :class:`~nwbzarr.ZarrIO`. A pickled compound dataset (its text fields are sized from
        its decoded rows) is refused on the first read when ``allow_pickle`` is False.
    UnsafePickleError
        (NWB flavour) a cached spec is stored with the pickle codec.
    """

    #: The Zarr v3 class :meth:`export_to_v3` writes with.
    _v3_io: type[ZarrIO] = ZarrIO

    def __init__(
        self,
        path: str | Path | Any,
        mode: str = "r",
        manager: BuildManager | TypeMap | None = None,
        storage_options: dict | None = None,
        allow_pickle: bool = False,
        **kwargs: Any,
    ) -> None:
        name = type(self).__name__
        check_mode(path, mode, f"{name} reads in mode 'r' or 'r-'")
        if mode not in READ_ONLY_MODES:
            raise ReadOnlyError(
                f"{path}: {name} reads legacy hdmf-zarr (Zarr v2) stores read-only (mode 'r' "
                f"or 'r-'), not {mode!r}; convert it with {name}.convert_to_v3(source_path, "
                f"dest_path) and write to the new store with {self._v3_io.__name__}"
            )
        self._allow_pickle = bool(allow_pickle)
        self._skipped: list[tuple[str, str]] = []
        self._skipped_seen: set[str] = set()
        try:
            super().__init__(
                path, mode=mode, manager=manager, storage_options=storage_options, **kwargs
            )
        except BaseException:
            if getattr(self, "_root", None) is not None:
                self.close()
            raise
        self._collect_skipped()

    # -- options and reports --------------------------------------------------------------------
    @property
    def allow_pickle(self) -> bool:
        """Whether datasets stored with the pickle codec are decoded (restricted unpickler)."""
        return self._allow_pickle

    @property
    def skipped_entries(self) -> list[tuple[str, str]]:
        """Entries left out of what was read, as ``(path, reason)`` pairs, in the order met.

        An entry lands here when its metadata cannot be translated (malformed, an unsupported
        data type or region references) or a codec it declares is not available here. It is
        absent from the builders read, so a faithful copy needs an empty list;
        :meth:`export_to_v3` refuses otherwise. Entries are found as the read reaches them:
        all of them once :meth:`read` (or :meth:`read_builder`) has run.
        """
        self._collect_skipped()
        return list(self._skipped)

    def _legacy_store(self) -> V2TranslatingStore | None:
        store = getattr(self._root, "store", None) if self._root is not None else None
        return store if isinstance(store, V2TranslatingStore) else None

    def _collect_skipped(self) -> None:
        """Move new unreadable members of the store into :attr:`skipped_entries`, warning."""
        store = self._legacy_store()
        if store is None:
            return
        for path, exc in list(store.omitted.items()):
            if path in self._skipped_seen or isinstance(exc, UnsafePickleError):
                continue
            self._skipped_seen.add(path)
            entry = ("/" + path, str(exc))
            self._skipped.append(entry)
            warnings.warn(
                f"Skipping {entry[0]} of {self.source}: {entry[1]}; it is left out of what is "
                "read (see skipped_entries)",
                stacklevel=3,
            )

    def _refused(self) -> UnsafePickleError | None:
        """A refusal the store met while translating metadata (a pickled compound)."""
        store = self._legacy_store()
        if store is None:
            return None
        for exc in store.omitted.values():
            if isinstance(exc, UnsafePickleError):
                return UnsafePickleError(str(exc))
        return None

    # -- opening and reading --------------------------------------------------------------------
    def _legacy_v2_options(self) -> dict:
        """Decode pickled datasets as asked; leave unreadable members out (reported)."""
        return {"allow_pickle": self._allow_pickle, "omit_unreadable": True}

    def read_builder(self) -> GroupBuilder:
        """Read the store into builders (data lazy), leaving out unreadable entries.

        Returns
        -------
        hdmf.build.GroupBuilder
            The root builder.

        Raises
        ------
        UnsafePickleError
            A dataset is stored with the pickle codec and ``allow_pickle`` is False (the
            message names it), or a pickled chunk names a global (refused whatever
            ``allow_pickle`` says).
        """
        reader = self._reader
        if reader is not None and reader.root_builder is not None:
            return reader.root_builder
        refused = self._refused()
        if refused is not None:
            raise refused
        try:
            builder = super().read_builder()
        finally:
            self._collect_skipped()
        refused = self._refused()
        if refused is not None:
            reader.forget()
            raise refused
        return builder

    def _check_dataset(self, array: Any, path: str) -> None:
        """Refuse a dataset stored with the pickle codec unless ``allow_pickle``."""
        store = getattr(array, "store", None)
        if (
            isinstance(store, V2TranslatingStore)
            and not store.allow_pickle
            and sync(store.declares_pickle(array.path))
        ):
            raise pickle_refused(f"{self.source}: {path}")

    def load_namespaces_io(
        self, namespace_catalog: Any, namespaces: list[str] | None = None
    ) -> dict:
        """Load the namespaces cached in this store (see :meth:`ZarrIO.load_namespaces`).

        Raises
        ------
        UnsafePickleError
            A cached spec source is stored with the pickle codec (refused even with
            ``allow_pickle=True``).
        """
        self._check_open("load namespaces")
        self._refuse_pickled_specs()
        return super().load_namespaces_io(namespace_catalog, namespaces)

    def _refuse_pickled_specs(self) -> None:
        store = self._legacy_store()
        if store is None:
            return
        for ns, (version, group) in namespace_groups(self._root).items():
            # the members zarr lists, and those left out as unreadable (pickle as a filter)
            paths = [node.path for _, node in group.arrays()]
            paths += [p for p in store.omitted if p.startswith(group.path + "/")]
            for path in paths:
                if sync(store.declares_pickle(path)):
                    raise UnsafePickleError(
                        f"{self.source}: /{path}: the cached spec of namespace {ns!r} "
                        f"{version} is stored with the pickle codec; refused even with "
                        "allow_pickle=True (hdmf-zarr writes cached specs as JSON text, so this "
                        "file was not written by it). Open it with load_namespaces=False and "
                        "load the namespace from its YAML"
                    )

    # -- writing: only to a new Zarr v3 store -----------------------------------------------------
    def export(self, src_io: Any, container: Any = None, write_args: Any = None, **kwargs: Any):
        """Refused: this reader never writes (use :meth:`export_to_v3`).

        Raises
        ------
        ReadOnlyError
            Always.
        """
        name = type(self).__name__
        raise ReadOnlyError(
            f"{self.source}: {name} is read-only, nothing can be exported into it; write this "
            f"file as a Zarr v3 store with export_to_v3(path) or {name}.convert_to_v3("
            "source_path, dest_path)"
        )

    def export_to_v3(
        self,
        path: str | Path | Store,
        nwbfile: Container | None = None,
        write_args: dict | None = None,
        storage_options: dict | None = None,
        container: Container | None = None,
        **io_kwargs: Any,
    ) -> None:
        """Write this file as a new Zarr v3 store (the unified convention, sharded).

        Every chunk is copied (``link_data`` is always False). A local destination is written
        under a temporary sibling and moved into place only when complete: a failure leaves
        ``path`` as it was, and an existing Zarr store there is replaced only then.

        Parameters
        ----------
        path : str, pathlib.Path or zarr store
            The new store (local path, or a writable zarr store object, written directly).
        nwbfile, container : hdmf.container.Container, optional
            The root container read from this I/O (possibly changed) to write; by default the
            builders read are written as they are (an exact copy). ``nwbfile`` is hdmf-zarr's
            name and wins over ``container``.
        write_args : dict, optional
            Passed to ``write_builder`` (``link_data`` is forced to False).
        storage_options : dict, optional
            Options for the destination (as :class:`~nwbzarr.ZarrIO`).
        **io_kwargs
            Passed to the writer (``chunk_bytes``, ``shard_bytes``, ``codec``).

        Raises
        ------
        IncompleteConversionError
            Entries of this file could not be read (:attr:`skipped_entries`, listed in the
            message); nothing is written.
        UnsafePickleError
            A dataset is stored with the pickle codec and ``allow_pickle`` is False; nothing
            is written.
        UnsafeDestinationError
            ``path`` is this store, lies inside it or holds it.
        StoreExistsError
            ``path`` exists and is not a Zarr store.
        """
        self._check_open("export")
        container = nwbfile if nwbfile is not None else container
        local = isinstance(path, (str, os.PathLike)) and not is_remote_url(str(path))
        target = Path(os.path.abspath(path)) if local else None
        if target is not None:
            self._check_destination(path, target)
        self.read_builder()  # refused pickles raise here; unreadable entries are recorded
        skipped = self.skipped_entries
        if skipped:
            raise IncompleteConversionError(_incomplete_message(self.source, path, skipped))
        args = {**(write_args or {}), "link_data": False}

        def write(dest: Any) -> None:
            with self._v3_io(
                dest, mode="w", manager=self.manager, storage_options=storage_options, **io_kwargs
            ) as out:
                out.export(src_io=self, container=container, write_args=args)

        if target is None:
            write(str(path) if isinstance(path, Path) else path)
            return
        _write_atomically(target, write)

    def _check_destination(self, path: Any, target: Path) -> None:
        source = self.abspath
        if source is not None and not is_remote_url(source) and atomic.overlaps(source, target):
            raise UnsafeDestinationError(
                f"{path}: is the source {source}, lies inside it or holds it; nothing was "
                "written. Choose a destination outside the source"
            )
        if os.path.lexists(target) and not _is_zarr_directory(target):
            raise StoreExistsError(
                f"{path}: exists and is not a Zarr store; refusing to replace it. Remove it "
                "or choose another destination"
            )

    @classmethod
    def convert_to_v3(
        cls,
        source_path: str | Path,
        dest_path: str | Path | Store,
        write_args: dict | None = None,
        storage_options: dict | None = None,
        allow_pickle: bool = False,
        source_storage_options: dict | None = None,
        **io_kwargs: Any,
    ) -> None:
        """Convert a legacy Zarr v2 store to a new Zarr v3 store in one call.

        Opens ``source_path`` with this class (mode ``"r"``) and calls :meth:`export_to_v3`.

        Parameters
        ----------
        source_path : str or pathlib.Path
            The v2 store, local or a URL. An ``s3://`` URL is read anonymously unless
            ``source_storage_options`` says otherwise (hdmf-zarr's default).
        dest_path : str, pathlib.Path or zarr store
            The new Zarr v3 store.
        write_args : dict, optional
            Passed to ``write_builder``.
        storage_options : dict, optional
            Options for the destination (hdmf-zarr's meaning), not the source.
        allow_pickle : bool
            Decode datasets stored with the pickle codec (restricted unpickler); only for
            trusted files. Most hdmf-zarr < 0.14 NWB files have one (the electrodes table's
            ``group`` column).
        source_storage_options : dict, optional
            fsspec options for reading a remote ``source_path`` (credentials, headers).
        **io_kwargs
            Passed to the writer (``chunk_bytes``, ``shard_bytes``, ``codec``).

        Raises
        ------
        IncompleteConversionError
            Entries of the source could not be read; nothing is written.
        UnsafePickleError
            The source holds a pickled dataset and ``allow_pickle`` is False; nothing is
            written.
        UnsafeDestinationError, StoreExistsError
            See :meth:`export_to_v3`.
        """
        if source_storage_options is None:
            source_storage_options = _anonymous_s3(str(source_path))
        with cls(
            source_path, mode="r", storage_options=source_storage_options, allow_pickle=allow_pickle
        ) as v2_io:
            v2_io.export_to_v3(
                dest_path, write_args=write_args, storage_options=storage_options, **io_kwargs
            )


class NWBZarrV2IO(ZarrV2IO, NWBZarrIO):
    """Read a legacy hdmf-zarr (< 0.14) NWB file stored as Zarr v2, as hdmf-zarr 0.14's
    ``NWBZarrV2IO``: :class:`ZarrV2IO` with pynwb's build manager, as :class:`~nwbzarr.NWBZarrIO`
    builds it (the cached namespaces of the file loaded when ``load_namespaces`` is True).

    Parameters
    ----------
    path : str, pathlib.Path or zarr store
        The v2 store (see :class:`ZarrV2IO`).
    mode : str
        ``"r"`` or ``"r-"``.
    manager : hdmf.build.BuildManager, optional
        Build manager (default: pynwb's, with the cached namespaces).
    load_namespaces : bool
        Load the namespaces cached in the file (extensions included).
    storage_options : dict, optional
        fsspec options for a URL.
    allow_pickle : bool
        See :class:`ZarrV2IO`.
    **kwargs
        Passed to :class:`~nwbzarr.NWBZarrIO` (``extensions``, ...).

    Raises
    ------
    InvalidModeError, ReadOnlyError, UnsafePickleError
        See :class:`ZarrV2IO`.
    """

    _v3_io = NWBZarrIO

    def __init__(
        self,
        path: str | Path | Any,
        mode: str = "r",
        manager: BuildManager | None = None,
        load_namespaces: bool = True,
        storage_options: dict | None = None,
        allow_pickle: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            path,
            mode=mode,
            manager=manager,
            storage_options=storage_options,
            allow_pickle=allow_pickle,
            load_namespaces=load_namespaces,
            **kwargs,
        )

    @staticmethod
    def read_nwb(
        path: str | Path,
        allow_pickle: bool = False,
        storage_options: dict | None = None,
        **kwargs: Any,
    ) -> Any:
        """Open a legacy v2 NWB store and return its ``pynwb.NWBFile`` (data lazy).

        Parameters
        ----------
        path : str or pathlib.Path
            Local path or URL; an ``s3://`` URL is read anonymously unless
            ``storage_options`` is given (hdmf-zarr's default).
        allow_pickle : bool
            See :class:`ZarrV2IO`.
        storage_options : dict, optional
            fsspec options for a URL.
        **kwargs
            Passed to :class:`NWBZarrV2IO`.

        Returns
        -------
        pynwb.NWBFile
            The I/O object stays open as ``nwbfile.read_io``.

        Raises
        ------
        UnsafePickleError
            A dataset is stored with the pickle codec and ``allow_pickle`` is False.
        """
        if storage_options is None:
            storage_options = _anonymous_s3(str(path))
        io = NWBZarrV2IO(
            path, mode="r", allow_pickle=allow_pickle, storage_options=storage_options, **kwargs
        )
        try:
            return io.read()
        except BaseException:
            io.close()
            raise


def _incomplete_message(source: Any, dest: Any, skipped: list[tuple[str, str]]) -> str:
    noun = "entry" if len(skipped) == 1 else "entries"
    listed = "; ".join(f"{path} ({reason})" for path, reason in skipped)
    return (
        f"{source}: {len(skipped)} {noun} could not be read and would be missing from {dest}, "
        f"so nothing was written: {listed}. Repair or remove them in a copy of the source, "
        "or read the file for inspection only"
    )


def _write_atomically(target: Path, write: Callable[[str], None]) -> None:
    """Run ``write(tmp)`` on a temporary sibling of ``target``; move it into place when done."""
    atomic.clean_stale_siblings(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic.sibling(target, atomic.TMP_MARK)
    try:
        write(str(tmp))
        atomic.install(tmp, target)
    except BaseException:
        atomic.discard(tmp)
        raise
