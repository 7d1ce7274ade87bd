"""What a path or URL holds (HDF5 file, reference JSON, Zarr store) and the store that reads it.

``NWBZarrIO(path_or_url)`` and :func:`nwbzarr.read_nwb` accept three kinds of source:

* a Zarr store (directory or URL prefix) — opened by :mod:`nwbzarr.storage.resolve`;
* an HDF5 file (local path or URL) — indexed on open by
  :func:`nwbzarr.virtual.hdf5_index.index_hdf5` and served by a
  :class:`~nwbzarr.virtual.store.ReferenceStore` that reads chunk bytes from the file itself;
* a reference JSON (ours, LINDI ``.lindi.json`` or kerchunk) — loaded by
  :func:`nwbzarr.virtual.refs.load_references`; Zarr v2 reference sets (LINDI, kerchunk) are
  presented in the unified v3 convention by
  :class:`~nwbzarr.virtual.lindi.LindiTranslatingStore`; a LINDI ``.lindi.tar`` (a tar file)
  or ``.lindi.d`` (a directory holding ``lindi.json``) is read by
  :func:`nwbzarr.virtual.lindi_tar.load_lindi_container`.

:func:`source_kind` tells them apart from the bytes, not only the name: a local file is an HDF5
file when it carries the HDF5 signature (at byte 0 or after a user block, as ``h5py.is_hdf5``
checks) and a reference JSON when its first non-blank byte is ``{``. A URL is classified by its
suffix (``.json``; ``.nwb``/``.h5``/``.hdf5``; ``.zarr``) and otherwise by its first bytes (one
range request), so a DANDI asset URL (``.../download/``, no suffix) opens as the HDF5 file it
redirects to.

Never imports hdmf.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from zarr.abc.store import Store

from ..errors import StoreNotFoundError

__all__ = [
    "HDF5_SIGNATURE",
    "SourceKind",
    "source_kind",
    "open_virtual_store",
    "index_to_json",
]

#: The eight bytes that open an HDF5 superblock (HDF5 File Format Specification, §II.A).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"

SourceKind = Literal["hdf5", "references", "zarr"]

_HDF5_SUFFIXES = (".nwb", ".h5", ".hdf5", ".hdf")
_JSON_SUFFIXES = (".json",)
_ZARR_SUFFIXES = (".zarr", ".zarr/")


def _classify_head(head: bytes) -> SourceKind | None:
    if head.startswith(HDF5_SIGNATURE):
        return "hdf5"
    if head.lstrip()[:1] == b"{":
        return "references"
    return None


def source_kind(path: str | os.PathLike[str], storage_options: dict | None = None) -> SourceKind:
    """Return what ``path`` holds: ``"hdf5"``, ``"references"`` (a JSON) or ``"zarr"``.

    Parameters
    ----------
    path : str or os.PathLike
        Local path or URL (``http(s)://``, ``s3://``, ...).
    storage_options : dict, optional
        fsspec options, used only when a URL must be sniffed (one range request of 8 bytes).

    Returns
    -------
    {"hdf5", "references", "zarr"}
        Directories and anything unrecognised are ``"zarr"`` (the Zarr opener then gives its
        own clear error if no store is there).

    """
    from ..storage.resolve import is_remote_url
    from .lindi_tar import is_lindi_container_url, is_lindi_dir, is_tar_header

    text = os.fspath(path)
    if not is_remote_url(text):
        p = Path(text)
        if not p.is_file():
            return "references" if is_lindi_dir(p) else "zarr"  # a LINDI .lindi.d
        with open(p, "rb") as f:
            head = f.read(512)
        if is_tar_header(head):
            return "references"  # a LINDI .lindi.tar
        kind = _classify_head(head)
        if kind is None:
            import h5py

            if h5py.is_hdf5(str(p)):  # a user block before the superblock
                return "hdf5"
            return "zarr"
        return kind
    url_path = urlsplit(text).path.lower()
    if url_path.rsplit("/", 1)[-1] in ("zarr.json", ".zgroup", ".zarray", ".zattrs"):
        return "zarr"  # a Zarr metadata document itself, not a reference JSON
    if url_path.endswith(_JSON_SUFFIXES) or is_lindi_container_url(text):
        return "references"
    if url_path.endswith(_HDF5_SUFFIXES):
        return "hdf5"
    if url_path.endswith(_ZARR_SUFFIXES) or text.startswith("memory://"):
        return "zarr"
    return _sniff_url(text, storage_options)


def _sniff_url(url: str, storage_options: dict | None) -> SourceKind:
    """Classify a suffix-less URL by its first bytes (one request); unreadable means Zarr."""
    from ..compat import sync
    from ..storage.ranges import open_range_reader
    from .manifest import ByteRange

    reader = open_range_reader(storage_options, retries=1)
    try:
        head = sync(reader.read(ByteRange(url, 0, 8)))
    except Exception:  # a prefix URL (directory) answers 404: a Zarr store, or nothing
        return "zarr"
    finally:
        reader.close()
    return _classify_head(head) or "zarr"


def open_virtual_store(
    path: str | os.PathLike[str],
    kind: SourceKind | None = None,
    *,
    storage_options: dict | None = None,
    cache: Any = None,
    allow_local: Sequence[str | os.PathLike[str]] | None = None,
) -> Store:
    """Open an HDF5 file or a reference JSON as a read-only Zarr v3 store (unified convention).

    Parameters
    ----------
    path : str or os.PathLike
        Local path or URL of an HDF5 file (``.nwb``) or a reference JSON (ours, LINDI
        ``.lindi.json``, kerchunk v0/v1).
    kind : {"hdf5", "references"}, optional
        What ``path`` holds; found by :func:`source_kind` when omitted.
    storage_options : dict, optional
        fsspec options for remote files (headers, credentials), used for the JSON itself,
        the HDF5 file's metadata and every chunk read.
    cache : nwbzarr.storage.cache.LocalCache or str, optional
        On-disk cache of remote chunk bytes (a directory path makes a cache with the default
        size bound). Default: ``$NWBZARR_CACHE_DIR`` when set, else no cache.
    allow_local : sequence of path-like, optional
        Local directories a reference JSON may point into besides its own directory
        (see :class:`nwbzarr.virtual.refs.AccessPolicy`; ``$NWBZARR_ALLOWED_ROOTS`` adds more).

    Returns
    -------
    zarr.abc.store.Store
        A read-only store whose keys follow docs/storage.md.

    Raises
    ------
    StoreNotFoundError
        If the file does not exist.
    HDF5IndexError
        If the HDF5 file is truncated or corrupt (names the file and the dataset).
    UnsupportedCodecError
        If an HDF5 dataset uses a filter with no Zarr codec (names the dataset).
    ReferenceFileError
        If the JSON is malformed (names the key).
    UntrustedReferenceError
        If the JSON references a scheme or local path that is not allowed.
    """
    from ..storage.cache import LocalCache
    from ..storage.ranges import open_range_reader
    from ..storage.resolve import is_remote_url
    from .lindi_tar import is_lindi_container, is_lindi_dir, load_lindi_container
    from .refs import AccessPolicy, load_references
    from .store import ReferenceStore

    text = os.fspath(path)
    if is_remote_url(text):
        from .policy import trust_origin

        trust_origin(text)  # the user opened it: references may name the same host and port
    else:
        if not Path(text).is_file() and not is_lindi_dir(text):
            raise StoreNotFoundError(
                f"{text}: no such file; give the path of an HDF5 .nwb file or a reference JSON"
            )
        text = os.path.abspath(text)
    kind = kind or source_kind(text, storage_options)
    if isinstance(cache, (str, os.PathLike)):
        cache = LocalCache(cache)
    policy = AccessPolicy(allow_local=list(allow_local or []))
    reader = open_range_reader(storage_options, cache=cache)
    if kind == "hdf5":
        from .hdf5_index import index_hdf5

        refset = index_hdf5(text, storage_options=storage_options)
        return ReferenceStore(refset, reader=reader, close_reader=True)  # ranges: the file
    if kind != "references":
        raise ValueError(f"{text}: not an HDF5 file or a reference JSON (kind {kind!r})")
    if is_lindi_container(text):  # .lindi.tar / .lindi.d (virtual/lindi_tar.py)
        refset = load_lindi_container(text, storage_options=storage_options, policy=policy)
    else:
        refset = load_references(text, storage_options=storage_options, policy=policy)
    store: Store = ReferenceStore(refset, reader=reader, close_reader=True)  # checked at load
    if refset.zarr_format == 2:
        from .lindi import LindiTranslatingStore

        store = LindiTranslatingStore(
            store, storage_options=storage_options, policy=policy, location=refset.location
        )
    return store


def _check_index_output(src: str, out: str) -> None:
    """Refuse an ``out`` whose replacement would lose data: the source itself (or a directory
    holding it), or an existing file that is not a reference JSON.

    Raises
    ------
    UnsafeDestinationError
        As described; nothing is touched.
    """
    from ..errors import UnsafeDestinationError
    from ..storage.resolve import is_remote_url

    if not is_remote_url(src) and os.path.lexists(out):
        real_src, real_out = os.path.realpath(src), os.path.realpath(out)
        same = os.path.commonpath([real_src, real_out]) == real_out
        if same or (os.path.exists(out) and os.path.samefile(src, out)):
            raise UnsafeDestinationError(
                f"{out}: is the source {src} (or holds it); nothing was changed. Write the "
                "reference JSON under another name, e.g. session.nwb.json"
            )
    if os.path.isfile(out) and source_kind(out) != "references":
        raise UnsafeDestinationError(
            f"{out}: exists and is not a reference JSON, so it is not replaced; nothing was "
            "changed. Remove it or choose another output name"
        )


def index_to_json(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    url: str | None = None,
    max_chunk_bytes: int | None = None,
    storage_options: dict | None = None,
) -> dict[str, int]:
    """Index an HDF5 file and save the reference JSON (API of ``nwbzarr index``).

    Parameters
    ----------
    src : str or os.PathLike
        Local path or URL of the HDF5 (``.nwb``) file.
    out : str or os.PathLike
        Path of the JSON to write (replaced atomically).
    url : str, optional
        URL recorded for the chunk bytes instead of ``src`` (index a local copy of a file
        that readers will fetch from ``url``).
    max_chunk_bytes : int, optional
        Largest piece (bytes) a contiguous dataset is split into; default of
        :func:`~nwbzarr.virtual.hdf5_index.index_hdf5`.
    storage_options : dict, optional
        fsspec options for a remote ``src``.

    Returns
    -------
    dict of str to int
        ``arrays`` (number of arrays), ``chunk_refs`` (byte-range references) and
        ``inline_bytes`` (bytes of values and metadata held in the JSON).

    Warns
    -----
    UserWarning
        If ``src`` is a local file outside the JSON's directory and no ``url`` is given: the
        default access policy then refuses the JSON until that directory is allowed.

    Raises
    ------
    StoreNotFoundError
        If ``src`` does not exist.
    UnsafeDestinationError
        If ``out`` is ``src`` (or a directory holding it), or an existing file that is not a
        reference JSON; nothing is written.
    HDF5IndexError, UnsupportedCodecError
        If the file cannot be indexed (names the dataset); an existing ``out`` is left as
        it was.
    OSError
        If ``out`` cannot be written (permission denied, disk full); no partial file is left
        and an existing ``out`` is left as it was.
    """
    from ..storage.resolve import is_remote_url
    from .hdf5_index import index_hdf5
    from .manifest import ByteRange
    from .refs import save_references

    text = os.fspath(src)
    if not is_remote_url(text) and not Path(text).is_file():
        raise StoreNotFoundError(f"{text}: no such file; give the path of an HDF5 .nwb file")
    _check_index_output(text, os.fspath(out))
    kwargs: dict[str, Any] = {"url": url, "storage_options": storage_options}
    if max_chunk_bytes is not None:
        kwargs["max_chunk_bytes"] = int(max_chunk_bytes)
    refset = index_hdf5(text, **kwargs)
    save_references(refset, out)
    out_dir = os.path.dirname(os.path.abspath(out))
    if url is None and not is_remote_url(text):
        real = os.path.realpath(text)
        if os.path.commonpath([real, os.path.realpath(out_dir)]) != os.path.realpath(out_dir):
            warnings.warn(
                f"{out}: refers to {real}, outside the JSON's directory; readers must allow "
                f"that directory (NWBZARR_ALLOWED_ROOTS={os.path.dirname(real)} or "
                "AccessPolicy(allow_local=[...])), or index with url= the location readers "
                "will fetch it from",
                UserWarning,
                stacklevel=2,
            )
    arrays = sum(
        1 for key, value in refset.refs.items() if key.endswith("zarr.json") and b'"array"' in value
    )
    ranges = sum(1 for value in refset.refs.values() if isinstance(value, ByteRange))
    inline = sum(len(value) for value in refset.refs.values() if isinstance(value, bytes))
    return {"arrays": arrays, "chunk_refs": ranges, "inline_bytes": inline}
