"""``NWBZarrIO`` and ``read_nwb``: pynwb on top of :class:`nwbzarr.ZarrIO`.

The only module of the backend that imports pynwb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hdmf.build import BuildManager, TypeMap
from pynwb import get_manager, get_type_map

from ..compat import wrap_pynwb_entry_points
from ..storage.resolve import is_remote_url
from .io import ZarrIO
from .specs import namespace_groups


class NWBZarrIO(ZarrIO):
    """Read and write NWB files as Zarr v3 stores, like ``pynwb.NWBHDF5IO``.

    Parameters
    ----------
    path : str, pathlib.Path or zarr store
        Store location (see :class:`ZarrIO`).
    mode : str
        I/O mode (see :class:`ZarrIO`).
    manager : hdmf.build.BuildManager, optional
        Build manager; default is pynwb's, extended with the store's cached namespaces when
        ``load_namespaces`` is True.
    load_namespaces : bool
        When reading, load the namespaces cached in the store (extensions included) so the
        file reads without importing the extension's Python package.
    extensions : str or list of str, optional
        Paths of extension namespace YAML files to load before reading or writing.
    **kwargs
        Passed to :class:`ZarrIO` (``storage_options``, ``force_overwrite``, ``chunk_bytes``,
        ``shard_bytes``, ``codec``, ...).
    """

    _typed_root_required = True  # an NWB file's root is an NWBFile

    def __init__(
        self,
        path: str | Path | Any,
        mode: str = "r",
        manager: BuildManager | None = None,
        load_namespaces: bool = True,
        extensions: str | list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(manager, TypeMap):
            manager = BuildManager(manager)
        reading = mode in ("r", "r-", "a", "r+")
        type_map = None
        if manager is None and (load_namespaces and reading or extensions):
            type_map = get_type_map()
            for ext in [extensions] if isinstance(extensions, (str, Path)) else extensions or []:
                type_map.load_namespaces(str(ext))
            manager = BuildManager(type_map)
        elif manager is None:
            manager = get_manager()
        super().__init__(path, mode=mode, manager=manager, **kwargs)
        if type_map is not None and load_namespaces and reading:
            # the store is open once: its cached namespaces are loaded from the open root
            # into the (still unused) type map before anything is read
            if namespace_groups(self._root):
                self.load_namespaces_io(type_map)

    @staticmethod
    def read_nwb(path: str | Path | Any, storage_options: dict | None = None, **kwargs: Any) -> Any:
        """Open a store read-only and return its ``pynwb.NWBFile`` (data lazy).

        An ``s3://`` URL without ``storage_options`` is read anonymously (``{"anon": True}``),
        so public archives (DANDI) open without credentials; pass ``storage_options`` to
        authenticate. The I/O object stays open as ``nwbfile.read_io`` until the file is
        garbage collected or ``nwbfile.read_io.close()`` is called.
        """
        if storage_options is None and str(path).startswith("s3://"):
            storage_options = {"anon": True}
        io = NWBZarrIO(path, mode="r", storage_options=storage_options, **kwargs)
        return io.read()

    def export(
        self,
        src_io: Any,
        container: Any = None,
        write_args: dict | None = None,
        cache_spec: bool = True,
        nwbfile: Any = None,
        **kwargs: Any,
    ) -> None:
        """Export another NWB I/O object (``NWBHDF5IO`` or ``NWBZarrIO``) into this store.

        ``nwbfile`` is pynwb's spelling of ``container`` and takes precedence over it; other
        keyword arguments (``number_of_jobs``, ``consolidate_metadata``, ...) are those of
        :meth:`nwbzarr.ZarrIO.export`.
        """
        super().export(
            src_io=src_io,
            container=nwbfile if nwbfile is not None else container,
            write_args=write_args,
            cache_spec=cache_spec,
            **kwargs,
        )


def read_nwb(path: str | Path | Any, **kwargs: Any) -> Any:
    """Read an NWB file stored as Zarr and return its ``pynwb.NWBFile``.

    Parameters
    ----------
    path : str, pathlib.Path or zarr store
        Path or URL (``https://``, ``s3://``, ``gs://``, ...) of a Zarr v3 NWB store or a
        legacy hdmf-zarr v2 store, or a zarr store object such as an Icechunk session's
        ``session.store`` (docs/icechunk.md).
    **kwargs
        Passed to :class:`NWBZarrIO` (for example ``storage_options``, fsspec options such
        as ``{"headers": {"Authorization": "Bearer ..."}}`` or ``{"anon": True}``).

    Returns
    -------
    pynwb.NWBFile
        With data loaded lazily; the I/O stays open as ``nwbfile.read_io``.

    Raises
    ------
    StoreNotFoundError
        Nothing at ``path`` (for a URL: no ``zarr.json`` or ``.zgroup`` under it).
    NotAZarrStoreError, NotNWBStoreError, IncompleteStoreError
        The store is not a complete NWB file.
    RemoteAccessError
        The server refused access (HTTP 401/403).
    """
    return NWBZarrIO.read_nwb(path, **kwargs)


def register_with_pynwb() -> None:
    """Let pynwb's own entry points find nwbzarr stores and reference JSON.

    pynwb chooses a backend for ``pynwb.validate(path=...)`` with its private
    ``pynwb._get_backend`` and for ``pynwb.read_nwb(path)`` inline; both only know
    ``NWBHDF5IO`` and hdmf-zarr's ``NWBZarrIO`` (imported from ``hdmf_zarr``). This wraps the
    two module attributes so that a local path :meth:`NWBZarrIO.can_read` accepts, a local
    reference JSON (ours, LINDI ``.lindi.json``, kerchunk: a file whose first non-blank byte
    is ``{``), or a remote URL ending in ``.zarr`` or ``.json`` (or a DANDI ``/zarr/`` asset)
    goes to :class:`NWBZarrIO`; everything else (HDF5 files included) goes to pynwb's own
    function unchanged. It also lets ``NWBHDF5IO.export(src_io=NWBZarrIO(...))`` run with
    its default arguments, copying the data (hdmf refuses ``link_data=True`` from a
    non-HDF5 source; see :func:`nwbzarr.compat.copy_data_on_hdf5_export`). It is called on
    ``import nwbzarr`` and calling it again does nothing. Code that did
    ``from pynwb import read_nwb`` before importing nwbzarr keeps pynwb's original function.
    If a future pynwb renames these functions, nothing is wrapped (see
    :func:`nwbzarr.compat.wrap_pynwb_entry_points`).
    """
    import os
    from urllib.parse import urlsplit

    from ..compat import copy_data_on_hdf5_export
    from ..virtual.sources import source_kind

    def ours(path: Any) -> bool:
        if isinstance(path, Path):
            path = str(path)
        if not isinstance(path, str):
            return False
        if is_remote_url(path):
            url_path = urlsplit(path).path.rstrip("/").lower()
            dandi_zarr = "dandiarchive" in path and "/zarr/" in url_path
            return url_path.endswith((".zarr", ".json")) or dandi_zarr
        if NWBZarrIO.can_read(path):
            return True
        return os.path.isfile(path) and source_kind(path) == "references"

    wrap_pynwb_entry_points(ours, NWBZarrIO)
    copy_data_on_hdf5_export(lambda io: isinstance(io, ZarrIO))


register_with_pynwb()  # idempotent; also run by ``import nwbzarr`` once pynwb is imported
