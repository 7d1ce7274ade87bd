"""What a path or URL holds (HDF5 file, reference JSON, Zarr store) and the store that reads it.

``NWBZarrIO(path_or_url)`` and :func:`nwbzarr.read_nwb` accept three kinds of source:

* a Zarr store (directory or URL prefix) — opened by :mod:`nwbzarr.storage.resolve`;
* an HDF5 file (local path or URL) — indexed on open by
  :func:`nwbzarr.formats.hdf5.index.index_hdf5` and served by a
  :class:`~nwbzarr.virtual.store.ReferenceStore` that reads chunk bytes from the file itself;
* a reference JSON (ours, LINDI ``.lindi.json`` or kerchunk) — loaded by
  :func:`nwbzarr.formats.kerchunk.references.load_references`; Zarr v2 reference sets (LINDI,
  kerchunk) are presented in the unified v3 convention by
  :class:`~nwbzarr.formats.lindi.store.LindiTranslatingStore`; a LINDI ``.lindi.tar`` (a tar
  file) or ``.lindi.d`` (a directory holding ``lindi.json``) is read by
  :func:`nwbzarr.formats.lindi.container.load_lindi_container`.

:func:`source_kind` tells them apart from the bytes, not only the name, with an ordered table
of probes (the first that answers decides), each asking one format's own test
(:mod:`nwbzarr.formats.hdf5.signature`, :mod:`nwbzarr.formats.lindi.container`,
:mod:`nwbzarr.formats.kerchunk.references`): a local file is an HDF5 file when it carries the
HDF5 signature (at byte 0 or after a user block, as ``h5py.is_hdf5`` checks), a LINDI tar when
it starts with a ustar header and a reference JSON when its first non-blank byte is ``{``. A
URL is classified by its suffix (``.json``, ``.lindi.tar``/``.lindi.d``;
``.nwb``/``.h5``/``.hdf5``; ``.zarr``) and otherwise by its first bytes (one range request), so
a DANDI asset URL (``.../download/``, no suffix) opens as the HDF5 file it redirects to.

Never imports hdmf.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from zarr.abc.store import Store

from ..compat import sync
from ..errors import StoreNotFoundError, UnsafeDestinationError
from ..formats.hdf5.index import index_hdf5
from ..formats.hdf5.signature import HDF5_SIGNATURE, HDF5_SUFFIXES, has_hdf5_signature, is_hdf5_file
from ..formats.kerchunk.references import (
    REFERENCE_JSON_SUFFIXES,
    AccessPolicy,
    is_reference_json_head,
    load_references,
    save_references,
)
from ..formats.lindi.container import (
    is_lindi_container,
    is_lindi_container_url,
    is_lindi_dir,
    is_tar_header,
    load_lindi_container,
)
from ..formats.lindi.store import LindiTranslatingStore
from ..storage.cache import LocalCache
from ..storage.manifest import ByteRange, ReferenceSet
from ..storage.policy import trust_origin
from ..storage.ranges import open_range_reader
from ..storage.resolve import is_remote_url
from .store import ReferenceStore

__all__ = [
    "HDF5_SIGNATURE",
    "SourceKind",
    "source_kind",
    "open_virtual_store",
    "index_to_json",
]

SourceKind = Literal["hdf5", "references", "zarr"]

#: Last path components that name a Zarr metadata document (a Zarr store, not a reference JSON).
_ZARR_DOCUMENTS = ("zarr.json", ".zgroup", ".zarray", ".zattrs")
_ZARR_SUFFIXES = (".zarr", ".zarr/")
#: Bytes read from the start of a local file (a ustar header is 512) and of a URL (a
#: superblock signature or a JSON's ``{``: one small range request).
_LOCAL_HEAD = 512
_URL_HEAD = 8


class _Source:
    """A path or URL being classified: what the probes ask of it, each read at most once."""

    def __init__(self, text: str, storage_options: dict | None) -> None:
        self.text = text
        self.storage_options = storage_options

    @cached_property
    def path(self) -> Path:
        return Path(self.text)

    @cached_property
    def is_file(self) -> bool:
        return self.path.is_file()

    @cached_property
    def local_head(self) -> bytes:
        with open(self.path, "rb") as f:
            return f.read(_LOCAL_HEAD)

    @cached_property
    def url_path(self) -> str:
        return urlsplit(self.text).path.lower()

    @cached_property
    def url_head(self) -> bytes:
        """The first bytes of the URL (one request); empty when it cannot be read (a prefix
        URL, i.e. a directory, answers 404: a Zarr store, or nothing)."""
        reader = open_range_reader(self.storage_options, retries=1)
        try:
            return sync(reader.read(ByteRange(self.text, 0, _URL_HEAD)))
        except Exception:
            return b""
        finally:
            reader.close()


@dataclass(frozen=True)
class _Probe:
    """One test of what a source holds: ``kind`` when ``can_open(source)`` is true."""

    name: str
    kind: SourceKind
    can_open: Callable[[_Source], bool]


#: Local paths, in order: the first probe that answers decides; none means ``"zarr"``.
_LOCAL_PROBES = (
    _Probe("LINDI .lindi.d", "references", lambda s: not s.is_file and is_lindi_dir(s.path)),
    _Probe("directory", "zarr", lambda s: not s.is_file),
    _Probe("LINDI .lindi.tar", "references", lambda s: is_tar_header(s.local_head)),
    _Probe("HDF5 signature", "hdf5", lambda s: has_hdf5_signature(s.local_head)),
    _Probe("reference JSON", "references", lambda s: is_reference_json_head(s.local_head)),
    _Probe("HDF5 after a user block", "hdf5", lambda s: is_hdf5_file(s.path)),
)

#: URLs, in order: the name first, then the first bytes (one range request).
_URL_PROBES = (
    _Probe(
        "Zarr metadata document",
        "zarr",
        lambda s: s.url_path.rsplit("/", 1)[-1] in _ZARR_DOCUMENTS,
    ),
    _Probe(
        "reference JSON name",
        "references",
        lambda s: (
            s.url_path.endswith(REFERENCE_JSON_SUFFIXES) or bool(is_lindi_container_url(s.text))
        ),
    ),
    _Probe("HDF5 name", "hdf5", lambda s: s.url_path.endswith(HDF5_SUFFIXES)),
    _Probe(
        "Zarr name",
        "zarr",
        lambda s: s.url_path.endswith(_ZARR_SUFFIXES) or s.text.startswith("memory://"),
    ),
    _Probe("HDF5 signature", "hdf5", lambda s: has_hdf5_signature(s.url_head)),
    _Probe("reference JSON", "references", lambda s: is_reference_json_head(s.url_head)),
)


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

    Raises
    ------
    OSError
        If a local file exists but cannot be read.
    """
    text = os.fspath(path)
    source = _Source(text, storage_options)
    probes = _URL_PROBES if is_remote_url(text) else _LOCAL_PROBES
    for probe in probes:
        if probe.can_open(source):
            return probe.kind
    return "zarr"


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
        Local directories a reference JSON may point into besides its own directory (see
        :class:`nwbzarr.storage.policy.AccessPolicy`; ``$NWBZARR_ALLOWED_ROOTS`` adds more).

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
    text = _opened_location(os.fspath(path))
    kind = kind or source_kind(text, storage_options)
    if isinstance(cache, (str, os.PathLike)):
        cache = LocalCache(cache)
    policy = AccessPolicy(allow_local=list(allow_local or []))
    reader = open_range_reader(storage_options, cache=cache)
    if kind == "hdf5":
        refset = index_hdf5(text, storage_options=storage_options)
        return ReferenceStore(refset, reader=reader, close_reader=True)  # ranges: the file
    if kind != "references":
        raise ValueError(f"{text}: not an HDF5 file or a reference JSON (kind {kind!r})")
    refset = _load_reference_set(text, storage_options, policy)
    store: Store = ReferenceStore(refset, reader=reader, close_reader=True)  # checked at load
    if refset.zarr_format == 2:
        store = LindiTranslatingStore(
            store, storage_options=storage_options, policy=policy, location=refset.location
        )
    return store


def _opened_location(text: str) -> str:
    """The location :func:`open_virtual_store` reads: a URL as given (its origin trusted), a
    local file or ``.lindi.d`` made absolute.

    Raises
    ------
    StoreNotFoundError
        If the local path is neither a file nor a ``.lindi.d``.
    """
    if is_remote_url(text):
        trust_origin(text)  # the user opened it: references may name the same host and port
        return text
    if not Path(text).is_file() and not is_lindi_dir(text):
        raise StoreNotFoundError(
            f"{text}: no such file; give the path of an HDF5 .nwb file or a reference JSON"
        )
    return os.path.abspath(text)


def _load_reference_set(
    text: str, storage_options: dict | None, policy: AccessPolicy
) -> ReferenceSet:
    """A reference JSON, or a LINDI ``.lindi.tar`` / ``.lindi.d`` (formats/lindi/container.py),
    loaded and checked against ``policy``."""
    if is_lindi_container(text):
        return load_lindi_container(text, storage_options=storage_options, policy=policy)
    return load_references(text, storage_options=storage_options, policy=policy)


def _check_index_output(src: str, out: str) -> None:
    """Refuse an ``out`` whose replacement would lose data: the source itself (or a directory
    holding it), or an existing file that is not a reference JSON.

    Raises
    ------
    UnsafeDestinationError
        As described; nothing is touched.
    """
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
        :func:`~nwbzarr.formats.hdf5.index.index_hdf5`.
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
    text = os.fspath(src)
    if not is_remote_url(text) and not Path(text).is_file():
        raise StoreNotFoundError(f"{text}: no such file; give the path of an HDF5 .nwb file")
    _check_index_output(text, os.fspath(out))
    kwargs: dict[str, Any] = {"url": url, "storage_options": storage_options}
    if max_chunk_bytes is not None:
        kwargs["max_chunk_bytes"] = int(max_chunk_bytes)
    refset = index_hdf5(text, **kwargs)
    save_references(refset, out)
    if url is None and not is_remote_url(text):
        _warn_if_outside(text, out)
    return _counts(refset)


def _warn_if_outside(src: str, out: str | os.PathLike[str]) -> None:
    """Warn when the local ``src`` lies outside the directory of the JSON ``out`` names it in
    (the default access policy refuses such a JSON until that directory is allowed)."""
    out_dir = os.path.dirname(os.path.abspath(out))
    real = os.path.realpath(src)
    if os.path.commonpath([real, os.path.realpath(out_dir)]) != os.path.realpath(out_dir):
        warnings.warn(
            f"{out}: refers to {real}, outside the JSON's directory; readers must allow "
            f"that directory (NWBZARR_ALLOWED_ROOTS={os.path.dirname(real)} or "
            "AccessPolicy(allow_local=[...])), or index with url= the location readers "
            "will fetch it from",
            UserWarning,
            stacklevel=3,  # index_to_json's caller
        )


def _counts(refset: ReferenceSet) -> dict[str, int]:
    """What :func:`index_to_json` reports: arrays, byte-range references, inline bytes."""
    arrays = sum(
        1 for key, value in refset.refs.items() if key.endswith("zarr.json") and b'"array"' in value
    )
    ranges = sum(1 for value in refset.refs.values() if isinstance(value, ByteRange))
    inline = sum(len(value) for value in refset.refs.values() if isinstance(value, bytes))
    return {"arrays": arrays, "chunk_refs": ranges, "inline_bytes": inline}
