"""HDF5 <-> Zarr conversion through HDMF export, with a byte-counting progress bar.

Conversion reads the source with its own backend (``pynwb.NWBHDF5IO`` or
:class:`nwbzarr.NWBZarrIO`), including the namespaces cached in it, and exports the builder
tree to the destination, so object ids, links and references are kept.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py

from ..conventions.layout import DEFAULT_CODEC, MiB
from ..errors import (
    NotNWBStoreError,
    StoreExistsError,
    StoreNotFoundError,
    UnsafeDestinationError,
    UnsupportedDataError,
    UnsupportedOptionError,
)
from ..storage import atomic

#: Shard size (MiB) for conversion when ``shard_mb`` is not given: a block copy holds one
#: shard's values plus zarr's encoded copy of it, so 96 MiB shards keep a conversion's peak
#: memory under ~0.5 GB whatever the file size (measured by benchmarks/convert_memory.py).
CONVERT_SHARD_MB = 96.0


def detect_format(path: str | Path) -> str:
    """Return ``"hdf5"``, ``"zarr"`` (Zarr v3), ``"zarr-v2"`` or ``"references"`` (a reference
    JSON) for an existing local path.

    ``"zarr-v2"`` is a directory with a root ``.zgroup`` and no ``zarr.json``: a legacy
    hdmf-zarr (< 0.14) store, which :func:`convert` migrates to the Zarr v3 convention (or to
    HDF5) by reading it through :class:`nwbzarr.formats.hdmf_zarr_v2.store.V2TranslatingStore`.

    Raises
    ------
    StoreNotFoundError
        If the path does not exist.
    UnsupportedDataError
        If it is neither an HDF5 file nor a Zarr directory.
    """
    p = Path(path)
    if not p.exists():
        raise StoreNotFoundError(f"{path}: no such file or directory")
    if p.is_dir():
        if (p / "zarr.json").is_file():
            return "zarr"
        if (p / ".zgroup").is_file():
            return "zarr-v2"
        raise UnsupportedDataError(f"{path}: directory is not a Zarr store (no zarr.json)")
    if h5py.is_hdf5(str(p)):
        return "hdf5"
    from ..virtual.sources import source_kind

    if source_kind(p) == "references":
        return "references"
    raise UnsupportedDataError(
        f"{path}: not an HDF5 file (bad signature); it may be truncated or not NWB"
    )


@contextlib.contextmanager
def _open_source(src: Any, kind: str, storage_options: dict | None) -> Iterator[Any]:
    """The reading I/O for ``src``: ``NWBHDF5IO`` for HDF5 (a URL through range requests),
    :class:`nwbzarr.NWBZarrIO` for Zarr stores and reference JSON."""
    from pynwb import NWBHDF5IO

    from ..backend.nwb import NWBZarrIO
    from ..formats.hdf5.filters import load_hdf5_plugins
    from ..formats.hdf5.index import check_hard_link_loops
    from ..storage.resolve import is_remote_url

    if kind == "hdf5":
        # values are decoded by h5py: plugin filters (zstd, blosc, lz4, bitshuffle, ...) need
        # hdf5plugin registered first, whatever the dataset's kind (docs/storage.md §6)
        load_hdf5_plugins()
    if kind == "hdf5" and is_remote_url(str(src)):
        from ..storage.remote_file import open_remote_file

        with open_remote_file(str(src), storage_options) as fileobj:
            with h5py.File(fileobj, "r") as h5file:
                check_hard_link_loops(h5file)  # hdmf's recursive walk would never end
                with NWBHDF5IO(file=h5file, mode="r", load_namespaces=True) as read_io:
                    yield read_io
    elif kind == "hdf5":
        with h5py.File(str(src), "r") as h5file:
            check_hard_link_loops(h5file)
        with NWBHDF5IO(str(src), "r", load_namespaces=True) as read_io:
            yield read_io
    else:
        with NWBZarrIO(str(src), "r", storage_options=storage_options) as read_io:
            yield read_io


def _hdf5_nbytes(read_io: Any) -> int:
    """Bytes of the numeric datasets of the HDF5 file open in ``read_io`` (progress total)."""
    total = 0

    def visit(_name: str, obj: Any) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind != "O":
            total += obj.size * obj.dtype.itemsize

    from ..compat import hdf5io_file  # imports zarr: not at module level (CLI start-up)

    hdf5io_file(read_io).visititems(visit)
    return total


def _builders_to_hdf5(read_io: Any, dst: Path, bar: Any = None, keep_storage: bool = True) -> None:
    """Write the builders read from the source (Zarr store or HDF5 file) into a new HDF5 file,
    then cache the specs.

    ``HDF5IO.export`` rebuilds every container when data is copied (``link_data=False``), which
    adds spec defaults the source never held; writing the source's builders as read keeps the
    file exact, as the HDF5 -> Zarr direction does. Datasets of an HDF5 source are copied by
    HDF5 itself (``h5py`` copy), so they keep their chunks and filters. Numeric arrays of a
    Zarr source keep their chunk shape, codecs (as HDF5 filters) and fill value and are copied
    block by block, advancing ``bar`` (:mod:`nwbzarr.convert.hdf5_out`).
    """
    from hdmf.backends.hdf5.h5_utils import H5SpecWriter
    from hdmf.backends.utils import NamespaceToBuilderHelper
    from pynwb import NWBHDF5IO

    from .hdf5_out import copy_deferred, wrap_zarr_datasets

    source = getattr(read_io, "abspath", None) or read_io.source
    builder = read_io.read_builder()  # what HDMFIO.export does, with the arrays wrapped
    update = bar.update if bar is not None else None
    wrapped = wrap_zarr_datasets(builder, progress=update, keep_storage=keep_storage)
    if bar is not None and bar.total is None and wrapped.total:
        bar.total = wrapped.total
        bar.refresh()
    with NWBHDF5IO(str(dst), "w", manager=read_io.manager) as out:
        out.write_builder(builder=builder, link_data=False, export_source=source)
    catalog = read_io.manager.namespace_catalog
    with h5py.File(dst, "a") as f:
        copy_deferred(f, wrapped, update)  # stored gzip chunks, written as they are
        specs = f.require_group("specifications")
        f.attrs[".specloc"] = specs.ref
        for name in catalog.namespaces:
            version = str(catalog.get_namespace(name).version)
            group = specs.require_group(name).require_group(version)
            builder = NamespaceToBuilderHelper.convert_namespace(catalog, name)
            builder.export("namespace", writer=H5SpecWriter(group))


def convert(
    src: str | Path,
    dst: str | Path,
    overwrite: bool = False,
    chunk_mb: float | None = None,
    shard_mb: float | None = None,
    codec: str = DEFAULT_CODEC,
    progress: bool = True,
    keep_storage: bool = True,
    dask_scheduler: Any = None,
    storage_options: dict | None = None,
    force: bool = False,
) -> Path:
    """Convert an NWB file between HDF5 and Zarr v3.

    The direction follows the paths: a destination ending in ``.nwb`` (or ``.h5``,
    ``.hdf5``) is written as an HDF5 file, any other as a Zarr v3 store. A legacy hdmf-zarr
    (< 0.14) Zarr v2 source is migrated the same way: read through the translating store
    (pickled references decoded safely) and written in the v3 convention. An HDF5 source
    with an HDF5 destination is re-packed (datasets copied by HDF5 with their chunks and
    filters, the spec cache kept).

    The destination is written under a temporary sibling (``.<name>.nwbzarr-tmp-...``, same
    directory) and moved into place only when complete; an existing destination is removed
    only then. On any failure, ``KeyboardInterrupt`` included, the temporary is removed and
    ``dst`` is left as it was; a process killed outright leaves ``dst`` as it was too, and the
    next conversion of the same ``dst`` removes the temporaries it left
    (:mod:`nwbzarr.storage.atomic`).

    Parameters
    ----------
    src : str or pathlib.Path
        Source HDF5 file, Zarr v3 store, legacy hdmf-zarr Zarr v2 store, or reference JSON
        (ours, LINDI, kerchunk) — a local path or a URL. A remote HDF5 file is read in one
        pass through HTTP range requests (nothing is downloaded first); a reference JSON is
        materialized into a self-contained store or HDF5 file. Its root must be an NWB (or
        HDMF) file: ``neurodata_type`` or ``nwb_version`` among the root attributes.
    dst : str or pathlib.Path
        Destination path (local).
    overwrite : bool
        Replace ``dst`` if it exists and is an NWB file or store (an HDF5 file or a Zarr
        store whose root attributes have ``neurodata_type``/``nwb_version``).
    chunk_mb : float, optional
        Target uncompressed chunk size in MiB for arrays the policy chunks (default 0.25).
    shard_mb : float, optional
        Target uncompressed shard size in MiB for every chunked array (default
        :data:`CONVERT_SHARD_MB`, 96, which bounds memory; ``0`` disables sharding).
    codec : str
        Compressor for numeric arrays (see :func:`nwbzarr.conventions.layout.compressors_for`).
    progress : bool
        Show a tqdm progress bar of bytes copied (to stderr).
    keep_storage : bool
        Keep each chunked numeric source array's chunk shape, compression (HDF5 filters mapped
        to Zarr v3 codecs, see docs/storage.md §6) and fill value, grouped into shards of about
        ``shard_mb``; ``chunk_mb`` and ``codec`` then apply only to arrays the policy chunks
        (contiguous HDF5 datasets, text, compounds). False re-chunks and re-compresses every
        array with the policy (CLI ``--rechunk``). For an HDF5 destination from a Zarr
        source, each numeric array keeps its (inner) chunk shape, fill value and codecs as
        HDF5 filters (gzip, shuffle; Zstd, Blosc, LZ4 through hdf5plugin), copied block by
        block with memory bounded by about one block (:mod:`nwbzarr.convert.hdf5_out`); a
        codec without HDF5 filter is re-encoded with gzip and a warning. False writes gzip
        level 4 + shuffle in hdmf's default chunks instead (a file any HDF5 reader opens).
    dask_scheduler : str or distributed.Client, optional
        Copy array data as Dask tasks on this cluster (address or client), one task per shard
        row; the tree and metadata are written in this process. Workers must see ``src`` and
        ``dst`` at the same paths. Zarr destinations and local sources only. Needs
        ``nwbzarr[dask]``.
    storage_options : dict, optional
        fsspec options for a remote ``src`` (headers, credentials).
    force : bool
        With ``overwrite``, replace ``dst`` even when it is not an NWB file or store (a plain
        directory or file: its content is lost). Never allows ``dst`` to be, hold or lie
        inside ``src``.

    Returns
    -------
    pathlib.Path
        The destination path.

    Raises
    ------
    StoreNotFoundError
        If ``src`` does not exist.
    StoreExistsError
        If ``dst`` exists and ``overwrite`` is False.
    UnsafeDestinationError
        If ``dst`` is ``src``, lies inside it or holds it (real paths compared), or if
        ``overwrite`` would replace something that is not an NWB file or store and ``force``
        is False. Nothing is touched.
    NotNWBStoreError
        If ``src`` is an HDF5 file or Zarr store whose root is not NWB/HDMF; nothing is
        written.
    UnsupportedDataError
        If ``src`` is neither HDF5, Zarr nor a reference JSON, or the HDF5 file cannot be
        opened (truncated, corrupt).
    UnsupportedCodecError
        If ``keep_storage`` and an HDF5 filter has no Zarr v3 codec (the message names the
        dataset); ``dst`` is left as it was.
    UnsupportedOptionError
        If ``dask_scheduler`` is given for an HDF5 or non-local destination, or ``dst`` is a
        URL.
    ConversionError
        If a Dask copy task fails (names the dataset); ``dst`` is left as it was.
    OSError
        If reading ``src`` or writing the destination's directory fails (h5py read errors,
        permission denied, disk full); ``dst`` is left as it was.
    ImportError
        If ``dask_scheduler`` is given without ``dask.distributed`` installed.

    Warns
    -----
    UserWarning
        For an HDF5 destination, once per Zarr array whose codec has no HDF5 filter here
        (no hdf5plugin for Zstd / Blosc / LZ4, or a codec such as ``numcodecs.bz2``): it is
        re-encoded with gzip; the message names the dataset.
    """
    src, kind, target = _checked_paths(
        src, Path(dst), overwrite, force, dask_scheduler, storage_options
    )
    dst = Path(dst)
    to_hdf5 = dst.suffix.lower() in HDF5_SUFFIXES
    if dask_scheduler is not None and to_hdf5:
        raise UnsupportedOptionError(
            f"{dst}: Dask conversion writes Zarr stores only; drop dask_scheduler to write HDF5"
        )
    if isinstance(src, Path):
        _require_nwb_source(src, kind)
    io_kwargs: dict[str, Any] = {"codec": codec, "keep_storage": keep_storage}
    if chunk_mb is not None:
        io_kwargs["chunk_bytes"] = int(chunk_mb * MiB)
    io_kwargs["shard_bytes"] = int((CONVERT_SHARD_MB if shard_mb is None else shard_mb) * MiB)
    client = owned = None
    if dask_scheduler is not None:
        from .dask_copy import get_client

        client, owned = get_client(dask_scheduler)
    try:
        _convert_atomically(
            src, kind, target, to_hdf5, io_kwargs, progress, client, storage_options
        )
    finally:
        if owned:
            client.close()
    return dst


def _checked_paths(
    src: Any,
    dst: Path,
    overwrite: bool,
    force: bool,
    dask_scheduler: Any,
    storage_options: dict | None,
) -> tuple[Any, str, Path]:
    """Check the source and destination of :func:`convert` before anything is written.

    Returns
    -------
    tuple
        The source (a ``Path`` when local, else the URL), its kind (:func:`detect_format` or
        :func:`nwbzarr.virtual.sources.source_kind`) and the absolute destination.

    Raises
    ------
    UnsupportedOptionError, UnsafeDestinationError, StoreExistsError, StoreNotFoundError
        As :func:`convert` documents.
    """
    from ..storage.resolve import is_remote_url

    if is_remote_url(str(dst)):
        raise UnsupportedOptionError(
            f"{dst}: conversion writes local files and directories only; convert to a local "
            "path, then upload it"
        )
    remote = is_remote_url(str(src))
    if remote:
        from ..virtual.sources import source_kind

        kind = source_kind(str(src), storage_options)
        if dask_scheduler is not None:
            raise UnsupportedOptionError(
                f"{src}: Dask conversion reads the source by path on every worker; download "
                "the file first, or convert without dask_scheduler"
            )
    else:
        src = Path(src)
        kind = detect_format(src)
    if not remote and atomic.overlaps(src, dst):
        raise UnsafeDestinationError(
            f"{dst}: is the source {src}, lies inside it or contains it; nothing was changed. "
            "Choose a destination outside the source"
        )
    target = Path(os.path.abspath(dst))  # where temporaries go and what is replaced
    if not target.name:
        raise UnsafeDestinationError(f"{dst}: is a filesystem root; choose a file or directory")
    exists = os.path.lexists(target)
    if exists and not overwrite:
        raise StoreExistsError(
            f"{dst}: already exists; pass overwrite=True (--overwrite) to replace it"
        )
    if exists and not force and not atomic.is_nwb_destination(target):
        raise UnsafeDestinationError(
            f"{dst}: exists and is not an NWB file or store, so --overwrite will not replace "
            "it; nothing was changed. Choose another destination, or pass force=True "
            "(--force) to delete its content"
        )
    return src, kind, target


def _convert_atomically(
    src: Any,
    kind: str,
    target: Path,
    to_hdf5: bool,
    io_kwargs: dict[str, Any],
    progress: bool,
    client: Any,
    storage_options: dict | None,
) -> None:
    """Write the converted file under a temporary sibling of ``target``, then install it;
    on any failure remove the temporary and the directories made for it."""
    bar = None
    made_dirs: list[Path] = []
    tmp: Path | None = None
    try:
        with _quiet_numcodecs_notice(), _open_source(src, kind, storage_options) as read_io:
            _require_nwb_root(read_io, src)
            atomic.clean_stale_siblings(target)
            made_dirs = _make_parents(target.parent)
            tmp = atomic.sibling(target, atomic.TMP_MARK)
            if progress:
                bar = _progress_bar(read_io, src, kind)
            if to_hdf5:
                _builders_to_hdf5(read_io, tmp, bar, io_kwargs["keep_storage"])
            else:
                _write_zarr(read_io, tmp, kind, io_kwargs, bar, client)
        atomic.install(tmp, target)
        tmp = None
    except BaseException:
        if tmp is not None:  # never leave a half-written temporary behind
            atomic.discard(tmp)
        for made in reversed(made_dirs):
            with contextlib.suppress(OSError):
                made.rmdir()
        raise
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(read_io: Any, src: Any, kind: str) -> Any:
    """A tqdm bar of the bytes copied (total known for an HDF5 source)."""
    from tqdm.auto import tqdm

    total = _hdf5_nbytes(read_io) if kind == "hdf5" else None
    name = Path(str(src).rstrip("/")).name
    return tqdm(total=total, unit="B", unit_scale=True, desc=f"convert {name}", leave=False)


def _write_zarr(
    read_io: Any, tmp: Path, kind: str, io_kwargs: dict[str, Any], bar: Any, client: Any
) -> None:
    """Export ``read_io`` into a new Zarr store at ``tmp`` (arrays as Dask tasks with a
    client)."""
    from ..backend.io import ZarrIO
    from ..backend.nwb import NWBZarrIO

    cls = NWBZarrIO if kind == "hdf5" else ZarrIO
    copies = None
    if client is not None:
        from .dask_copy import DaskCopies

        copies = DaskCopies(tmp)
    progress_callback = bar.update if bar is not None else None
    with cls(
        str(tmp),
        "w",
        manager=read_io.manager,
        progress_callback=progress_callback,
        copy_sink=copies,
        **io_kwargs,
    ) as out:
        _export(out, read_io, bar, client, copies)


#: Destination suffixes written as HDF5 files (any other destination is a Zarr store).
HDF5_SUFFIXES = (".nwb", ".h5", ".hdf5")


def _make_parents(parent: Path) -> list[Path]:
    """Create ``parent`` and missing ancestors; return the ones created (deepest last)."""
    missing = []
    p = parent
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    made = []
    for p in reversed(missing):
        p.mkdir()
        made.append(p)
    return made


def _not_nwb(src: Any, what: str) -> NotNWBStoreError:
    return NotNWBStoreError(
        f"{src}: {what} has no 'neurodata_type' or 'nwb_version' root attribute, so it is not "
        "an NWB file; nwbzarr converts NWB files only (write it with pynwb first)"
    )


def _require_nwb_source(src: Path, kind: str) -> None:
    """Refuse a local source whose root is not NWB/HDMF, before anything is opened for writing.

    Raises
    ------
    NotNWBStoreError
        If the root attributes lack ``neurodata_type`` and ``nwb_version``.
    UnsupportedDataError
        If the HDF5 file cannot be opened (truncated or corrupt).
    """
    if kind == "hdf5":
        try:
            attrs: Any = atomic.hdf5_root_attrs(src)
        except OSError as exc:
            raise UnsupportedDataError(
                f"{src}: cannot be opened as an HDF5 file ({exc}); it is truncated or corrupt. "
                "Copy or download it again"
            ) from exc
        what = "the HDF5 file"
    elif kind in ("zarr", "zarr-v2"):
        attrs = atomic.zarr_root_attrs(src) or {}
        what = "the Zarr store"
    else:
        return  # a reference JSON: its root is checked once opened
    if not any(key in attrs for key in ("neurodata_type", "nwb_version")):
        raise _not_nwb(src, what)


def _require_nwb_root(read_io: Any, src: Any) -> None:
    """The same check on the opened source (remote files, reference JSON)."""
    root = getattr(read_io, "_file", None)
    if root is None:
        root = getattr(read_io, "_root", None)
    if root is None:
        return
    keys = set(root.attrs.keys())
    if not keys & {"neurodata_type", "nwb_version"}:
        raise _not_nwb(src, "the source")


@contextlib.contextmanager
def _quiet_numcodecs_notice() -> Iterator[None]:
    """Silence zarr's notice that numcodecs codecs are outside the Zarr v3 specification.

    Conversion writes ``numcodecs.shuffle`` on purpose (HDF5's shuffle, docs/storage.md §6);
    the notice would otherwise print when the store is closed, even with ``--quiet``.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numcodecs codecs are not in the Zarr version 3")
        yield


def _source_namespaces(read_io: Any) -> Any:
    """The namespaces cached in the source file (HDF5 or Zarr), or None if it caches none.

    Read into a fresh catalog, so each keeps the version the file cached, not the version of
    the pynwb doing the conversion; read under the spec cache's limits (MalformedSpecError,
    LimitExceededError for a hostile cache).
    """
    from hdmf.spec import NamespaceCatalog
    from pynwb.spec import NWBDatasetSpec, NWBGroupSpec, NWBNamespace

    from ..backend.io import ZarrIO

    catalog = NamespaceCatalog(NWBGroupSpec, NWBDatasetSpec, NWBNamespace)
    if isinstance(read_io, ZarrIO):
        read_io.load_namespaces_io(catalog)  # nothing when the store caches no spec
    else:
        from ..compat import hdf5io_file

        h5file = hdf5io_file(read_io)
        if ".specloc" not in h5file.attrs:
            return None
        type(read_io).load_namespaces(catalog, file=h5file)
    return catalog if catalog.namespaces else None


def _export(out: Any, read_io: Any, bar: Any, client: Any, copies: Any) -> None:
    """Export ``read_io`` into the open ``out``; with a Dask client, copy arrays as tasks.

    ``out`` was opened with the conversion's options (``keep_storage``, progress callback,
    ``copy_sink=copies``). The tasks run before ``out`` is closed, so the store is marked
    complete (and its metadata consolidated) only once every array is filled.
    """
    source_specs = _source_namespaces(read_io)
    out.export(src_io=read_io, write_args={"link_data": False}, cache_spec=source_specs is None)
    if source_specs is not None:  # the schema versions the data were written with
        ours = out.manager.namespace_catalog
        for name in ours.namespaces:  # a namespace the source did not cache: pynwb's
            if name not in source_specs.namespaces:
                source_specs.add_namespace(name, ours.get_namespace(name))
        out.cache_namespaces(source_specs)
    if copies is not None:
        out.flush()  # tasks open the arrays by path: their metadata must be on disk
        copies.run(client, progress=bar.update if bar is not None else None)
