"""HDF5 filter pipeline -> Zarr v3 codec pipeline.

An HDF5 chunk is stored as the chunk's bytes (in the dataset's byte order) passed through the
dataset's filters in pipeline order. The same chunk decodes through Zarr v3 codecs as
``serializer`` (``bytes`` with that byte order) followed by ``compressors`` (bytes -> bytes, in the
same order). :func:`hdf5_codecs` builds those codecs from an ``h5py.Dataset``.

Two modes:

* ``exact=True`` (default): the codecs decode HDF5's own stored chunk bytes (as returned by
  ``dset.id.read_direct_chunk``). Deflate becomes numcodecs ``Zlib`` (HDF5 writes a zlib stream,
  which Zarr's ``gzip`` codec cannot read) and Fletcher32 becomes numcodecs ``Fletcher32`` (the
  same checksum, four bytes appended to the chunk).
* ``exact=False``: codecs for *re-encoding* the values into a new Zarr array with the same
  settings. Deflate becomes the Zarr v3 standard ``GzipCodec`` at the same level and Fletcher32
  is dropped (recorded in :attr:`HDF5Codecs.notes`). With ``unsupported="warn"`` (or
  ``"drop"``) a filter that has no Zarr v3 codec (lzf, lz4, bitshuffle, szip, scale-offset,
  JPEG-LS, ...) is left out instead of raising: the values are decoded by h5py when they are
  copied, and the writer's default codec compresses them (:attr:`HDF5Codecs.dropped`).

A virtual view (``exact=True``) serves HDF5's stored bytes unchanged, so it cannot re-encode and
always raises :class:`~nwbzarr.errors.UnsupportedCodecError` for such a filter.

This module never imports hdmf. Besides the HDF5 chunk index (:mod:`.index`), the backend uses
it for copies (codecs that keep an HDF5 dataset's settings) and raw chunk copies.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...compat import quiet_zarr_warnings
from ...errors import UnsupportedCodecError

__all__ = [
    "HDF5Codecs",
    "hdf5_codecs",
    "codec_for_filter",
    "shuffle_codec",
    "FILTER_NAMES",
    "load_hdf5_plugins",
    "require_decodable",
]

# HDF5 filter ids (H5Zpublic.h) and registered plugin ids (hdf5plugin / HDF Group registry).
DEFLATE, SHUFFLE, FLETCHER32, SZIP, NBIT, SCALEOFFSET = 1, 2, 3, 4, 5, 6
LZF, BLOSC, LZ4, BITSHUFFLE, ZSTD, BLOSC2 = 32000, 32001, 32004, 32008, 32015, 32026

FILTER_NAMES = {
    DEFLATE: "deflate",
    SHUFFLE: "shuffle",
    FLETCHER32: "fletcher32",
    SZIP: "szip",
    NBIT: "nbit",
    SCALEOFFSET: "scaleoffset",
    LZF: "lzf",
    BLOSC: "blosc",
    LZ4: "lz4",
    BITSHUFFLE: "bitshuffle",
    ZSTD: "zstd",
    BLOSC2: "blosc2",
}

# Why a filter has no Zarr equivalent (raised as UnsupportedCodecError).
_UNSUPPORTED = {
    SZIP: "szip (libaec) has no Zarr/numcodecs codec",
    NBIT: "n-bit packing has no Zarr/numcodecs codec",
    SCALEOFFSET: "HDF5 scale-offset (lossy integer/float packing) has no Zarr/numcodecs codec",
    LZF: "numcodecs has no LZF codec",
    LZ4: (
        "the HDF5 LZ4 filter frames blocks with big-endian size headers, which numcodecs "
        "LZ4 (little-endian size prefix) cannot read"
    ),
    BITSHUFFLE: "the HDF5 bitshuffle filter's block framing has no numcodecs equivalent",
    BLOSC2: "numcodecs has no Blosc2 codec",
}

# hdf5-blosc compressor codes (blosc.h BLOSC_*_FORMAT) -> Zarr BloscCodec cname.
_BLOSC_CNAMES = {0: "blosclz", 1: "lz4", 2: "lz4hc", 4: "zlib", 5: "zstd"}
_BLOSC_SHUFFLES = {0: "noshuffle", 1: "shuffle", 2: "bitshuffle"}


@dataclass(frozen=True)
class HDF5Codecs:
    """The Zarr v3 codecs and layout equivalent to one HDF5 dataset.

    Attributes
    ----------
    filters : tuple
        Array -> array codecs (always empty for the filters mapped here).
    serializer : zarr codec or None
        ``BytesCodec`` with the dataset's byte order for fixed-size numeric/boolean dtypes;
        ``None`` (zarr's default) for other dtypes.
    compressors : tuple
        Bytes -> bytes codecs, in HDF5 pipeline order (e.g. ``Shuffle`` then ``Zlib``).
    chunks : tuple of int or None
        HDF5 chunk shape (``dset.chunks``); ``None`` for contiguous or compact datasets.
    fill_value : Any
        The dataset's fill value (``dset.fillvalue``).
    dtype : numpy.dtype
        The dataset's dtype, byte order included.
    exact : bool
        Whether the codecs decode HDF5's stored chunk bytes (see module docstring).
    notes : tuple of str
        Filters dropped or approximations made, one sentence each.
    hdf5_filters : tuple of (int, str, tuple)
        The source pipeline as (filter id, name, client values).
    dropped : tuple of (int, str)
        Filters with no Zarr v3 codec that were left out (``unsupported="warn"``/``"drop"``),
        as (filter id, name). When it is not empty and :attr:`compressors` is empty, the
        values are to be compressed with the writer's default codec.
    """

    filters: tuple = ()
    serializer: Any = None
    compressors: tuple = ()
    chunks: tuple[int, ...] | None = None
    fill_value: Any = None
    dtype: np.dtype | None = None
    exact: bool = True
    notes: tuple[str, ...] = ()
    hdf5_filters: tuple = field(default_factory=tuple)
    dropped: tuple = ()

    def create_array_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``zarr.create_array`` (chunks, filters, serializer, ...)."""
        out: dict[str, Any] = {
            "filters": list(self.filters),
            "compressors": list(self.compressors),
            "fill_value": self.fill_value,
        }
        if self.chunks is not None:
            out["chunks"] = self.chunks
        if self.serializer is not None:
            out["serializer"] = self.serializer
        return out


def hdf5_pipeline(dset: Any) -> tuple[tuple[int, int, tuple, str], ...]:
    """Return the filter pipeline of an ``h5py.Dataset`` as (id, flags, values, name) tuples."""
    plist = dset.id.get_create_plist()
    out = []
    for i in range(plist.get_nfilters()):
        fid, flags, values, name = plist.get_filter(i)
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        out.append((int(fid), int(flags), tuple(int(v) for v in values), str(name)))
    return tuple(out)


def hdf5_codecs(
    dset: Any,
    path: str | None = None,
    exact: bool = True,
    unsupported: str = "raise",
    stacklevel: int = 2,
) -> HDF5Codecs:
    """Map an HDF5 dataset's filter pipeline to Zarr v3 codecs.

    Parameters
    ----------
    dset : h5py.Dataset
        The source dataset.
    path : str, optional
        Name used in error messages; default ``dset.name``.
    exact : bool
        ``True``: codecs that decode the stored HDF5 chunk bytes. ``False``: codecs to
        re-encode the values with the same settings (Zarr-standard ``gzip``; Fletcher32
        dropped). See the module docstring.
    unsupported : {"raise", "warn", "drop"}
        What to do with a filter that has no Zarr v3 codec. ``"raise"``: raise
        :class:`~nwbzarr.errors.UnsupportedCodecError`. ``"warn"`` / ``"drop"`` (only with
        ``exact=False``): leave it out, recorded in :attr:`HDF5Codecs.dropped`, with one
        ``UserWarning`` naming the dataset and the filters (``"warn"``) or silently
        (``"drop"``). If what remains is only a byte shuffle (or nothing), no compressor is
        returned, so the writer's default codec applies.
    stacklevel : int
        ``stacklevel`` of that warning (2: the caller of this function).

    Returns
    -------
    HDF5Codecs

    Raises
    ------
    UnsupportedCodecError
        With ``unsupported="raise"``, if a filter (szip, nbit, scaleoffset, lzf, lz4,
        bitshuffle, blosc2, an unknown id, or a Blosc compressor Zarr does not know) has no
        equivalent. Optional filters (flag bit 0) are mapped like mandatory ones, since HDF5
        may have applied them.
    ValueError
        If ``unsupported`` is not one of the three values, or is not ``"raise"`` with
        ``exact=True`` (stored bytes cannot be served without their filters).
    """
    _check_modes(exact, unsupported)
    path = path if path is not None else getattr(dset, "name", "?")
    dtype = np.dtype(dset.dtype)
    pipeline = hdf5_pipeline(dset)
    if not exact:
        _load_plugins_for(pipeline)  # the values will be decoded by h5py
    notes: list[str] = []
    compressors, dropped = _map_pipeline(pipeline, dtype, path, exact, unsupported, notes)
    if dropped:
        if all(_is_shuffle(c) for c in compressors):
            compressors = []  # a shuffle alone does not compress: the default codec does
        _note_dropped(dropped, path, notes, warn=unsupported == "warn", stacklevel=stacklevel)
    return HDF5Codecs(
        filters=(),
        serializer=_serializer(dtype),
        compressors=tuple(compressors),
        chunks=tuple(dset.chunks) if dset.chunks is not None else None,
        fill_value=_fill_value(dset),
        dtype=dtype,
        exact=exact,
        notes=tuple(notes),
        hdf5_filters=tuple((fid, name, values) for fid, _f, values, name in pipeline),
        dropped=tuple(dropped),
    )


def _check_modes(exact: bool, unsupported: str) -> None:
    """Refuse an ``unsupported`` mode that is unknown, or that would skip a filter of stored
    bytes (``exact=True``)."""
    if unsupported not in ("raise", "warn", "drop"):
        raise ValueError(f"unsupported must be 'raise', 'warn' or 'drop', not {unsupported!r}")
    if exact and unsupported != "raise":
        raise ValueError(
            "exact codecs decode HDF5's stored bytes, which cannot skip a filter: use "
            "unsupported='raise' with exact=True"
        )


def _map_pipeline(
    pipeline: tuple, dtype: np.dtype, path: str, exact: bool, unsupported: str, notes: list[str]
) -> tuple[list, list[tuple[int, str]]]:
    """The codecs of ``pipeline`` in order, and the ``(id, name)`` of the filters left out
    (only when ``unsupported`` is not ``"raise"``)."""
    compressors: list = []
    dropped: list[tuple[int, str]] = []
    for fid, _flags, values, name in pipeline:
        try:
            codec = codec_for_filter(fid, values, dtype, path, exact=exact, notes=notes, name=name)
        except UnsupportedCodecError:
            if unsupported == "raise":
                raise
            dropped.append((fid, FILTER_NAMES.get(fid, name) or f"id {fid}"))
            continue
        if codec is not None:
            compressors.append(codec)
    return compressors, dropped


def _note_dropped(
    dropped: list[tuple[int, str]], path: str, notes: list[str], warn: bool, stacklevel: int
) -> None:
    """Record the filters left out in ``notes`` and, when ``warn``, in one ``UserWarning``
    (``stacklevel`` as :func:`hdf5_codecs` was given it)."""
    listed = ", ".join(f"{name!r} (id {fid})" for fid, name in dropped)
    notes.append(f"{path}: HDF5 filter {listed} not kept (no Zarr v3 codec)")
    if warn:
        warnings.warn(
            f"{path}: HDF5 filter {listed} has no Zarr v3 codec, so it is not kept; the "
            "values are decoded through h5py when copied and compressed with the "
            "writer's default codec instead",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def load_hdf5_plugins() -> bool:
    """Register hdf5plugin's filters with HDF5 if the package is installed.

    h5py decodes the filters built into HDF5 (deflate, shuffle, fletcher32, scale-offset,
    n-bit, szip where built) and LZF; Blosc, Blosc2, LZ4, Zstd, bitshuffle, JPEG-LS and other
    plugin filters need ``hdf5plugin`` (extra ``nwbzarr[test]``, or ``pip install hdf5plugin``)
    imported before the data are read.

    Returns
    -------
    bool
        Whether hdf5plugin is installed (and so imported).
    """
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED is None:
        try:
            import hdf5plugin  # noqa: F401  (importing registers the filters)
        except ImportError:
            _PLUGINS_LOADED = False
        else:
            _PLUGINS_LOADED = True
    return _PLUGINS_LOADED


_PLUGINS_LOADED: bool | None = None


def _load_plugins_for(pipeline: tuple) -> None:
    """Load hdf5plugin if a filter of ``pipeline`` is not available to h5py yet."""
    import h5py

    if any(not h5py.h5z.filter_avail(fid) for fid, _flags, _values, _name in pipeline):
        load_hdf5_plugins()


def require_decodable(dset: Any, path: str | None = None) -> None:
    """Check that h5py can decode every filter of ``dset``, loading hdf5plugin if needed.

    Parameters
    ----------
    dset : h5py.Dataset
        The dataset whose values are going to be read.
    path : str, optional
        Name used in the error message; default ``dset.name``.

    Raises
    ------
    UnsupportedCodecError
        If a filter is not available to this HDF5 library even with hdf5plugin loaded (or
        hdf5plugin is not installed); names the dataset, the filter and the fix.
    """
    import h5py

    missing = [
        (fid, FILTER_NAMES.get(fid, name) or f"id {fid}")
        for fid, _flags, _values, name in hdf5_pipeline(dset)
        if not h5py.h5z.filter_avail(fid)
    ]
    if missing and load_hdf5_plugins():
        missing = [(fid, name) for fid, name in missing if not h5py.h5z.filter_avail(fid)]
    if not missing:
        return
    path = path if path is not None else getattr(dset, "name", "?")
    listed = ", ".join(f"{name!r} (id {fid})" for fid, name in missing)
    hint = (
        "hdf5plugin is installed but does not provide it; rewrite the dataset with another "
        "filter (h5repack)"
        if _PLUGINS_LOADED
        else "install hdf5plugin (pip install hdf5plugin) and try again"
    )
    raise UnsupportedCodecError(
        f"{path}: HDF5 filter {listed} is not available to h5py, so the values cannot be "
        f"decoded for copying; {hint}"
    )


def _is_shuffle(codec: Any) -> bool:
    to_dict = getattr(codec, "to_dict", None)
    return callable(to_dict) and to_dict().get("name") == "numcodecs.shuffle"


def shuffle_codec(elementsize: int) -> Any:
    """The Zarr v3 codec equal to HDF5's byte shuffle for ``elementsize``-byte elements."""
    return _numcodecs("Shuffle", elementsize=int(elementsize))


def codec_for_filter(
    fid: int,
    values: tuple,
    dtype: Any,
    path: str,
    exact: bool = True,
    notes: list | None = None,
    name: str = "",
) -> Any:
    """Map one HDF5 filter to one Zarr v3 bytes -> bytes codec.

    Parameters
    ----------
    fid : int
        HDF5 filter id (1 deflate, 2 shuffle, 3 fletcher32, 32001 blosc, 32015 zstd, ...).
    values : tuple of int
        The filter's client data (``cd_values``), e.g. ``(level,)`` for deflate.
    dtype : numpy.dtype
        The dataset's dtype (element size for shuffle and Blosc).
    path : str
        Dataset path for error messages.
    exact : bool
        See :func:`hdf5_codecs`.
    notes : list of str, optional
        Receives a sentence for each filter dropped.
    name : str
        The filter name HDF5 reports, for error messages on unknown ids.

    Returns
    -------
    zarr codec or None
        ``None`` when the filter is dropped (fletcher32 with ``exact=False``).

    Raises
    ------
    UnsupportedCodecError
        If the filter has no Zarr v3 equivalent.
    """
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if fid == DEFLATE:
        level = values[0] if values else 4
        if exact:
            return _numcodecs("Zlib", level=level)
        return GzipCodec(level=level)
    if fid == SHUFFLE:
        # HDF5 stores the element size in values[0] once set_local ran; trust the dtype.
        size = values[0] if values else np.dtype(dtype).itemsize
        return shuffle_codec(size or np.dtype(dtype).itemsize)
    if fid == FLETCHER32:
        if exact:
            return _numcodecs("Fletcher32")
        if notes is not None:
            notes.append(f"{path}: HDF5 fletcher32 checksum dropped (values are re-encoded)")
        return None
    if fid == ZSTD:
        return ZstdCodec(level=values[0] if values else 3)
    if fid == BLOSC:
        return _blosc(values, dtype, path, BloscCodec)
    raise _unmapped(fid, name, path, exact)


def _unmapped(fid: int, name: str, path: str, exact: bool) -> UnsupportedCodecError:
    """The error for a filter with no Zarr v3 codec: why, and (for a view) what to do."""
    reason = _UNSUPPORTED.get(fid, "unknown HDF5 filter id")
    hint = (
        " A virtual view serves the stored bytes and cannot re-encode them: convert the file "
        "instead (nwbzarr convert decodes the values through h5py and compresses them with "
        "the default codec), or rewrite the dataset without this filter (h5repack -f GZIP=4)."
        if exact
        else ""
    )
    return UnsupportedCodecError(
        f"{path}: HDF5 filter {FILTER_NAMES.get(fid, name)!r} (id {fid}) cannot be mapped to a "
        f"Zarr v3 codec: {reason}.{hint}"
    )


def _blosc(values: tuple, dtype: Any, path: str, BloscCodec: Any) -> Any:
    # hdf5-blosc cd_values: revision, blosc version, typesize, bufsize, clevel, shuffle, cname.
    clevel = values[4] if len(values) > 4 else 5
    shuffle = values[5] if len(values) > 5 else 1
    code = values[6] if len(values) > 6 else 0
    typesize = values[2] if len(values) > 2 and values[2] else np.dtype(dtype).itemsize
    if code not in _BLOSC_CNAMES or shuffle not in _BLOSC_SHUFFLES:
        raise UnsupportedCodecError(
            f"{path}: HDF5 blosc filter with compressor code {code} / shuffle {shuffle} has no "
            f"Zarr v3 BloscCodec equivalent (known compressors: {sorted(_BLOSC_CNAMES.values())})"
        )
    return BloscCodec(
        cname=_BLOSC_CNAMES[code],
        clevel=clevel,
        shuffle=_BLOSC_SHUFFLES[shuffle],
        typesize=typesize,
    )


def _numcodecs(name: str, **config: Any) -> Any:
    """A numcodecs codec wrapped for Zarr v3 (``zarr.codecs.numcodecs``), zarr's notice about
    numcodecs codecs in Zarr v3 silenced."""
    import zarr.codecs.numcodecs as zn

    with quiet_zarr_warnings():
        return getattr(zn, name)(**config)


def _serializer(dtype: np.dtype) -> Any:
    from zarr.codecs import BytesCodec

    if dtype.kind not in "biufc" or dtype.fields is not None:
        return None
    if dtype.itemsize == 1:
        return BytesCodec(endian=None)
    return BytesCodec(endian="big" if dtype.byteorder == ">" else "little")


def _fill_value(dset: Any) -> Any:
    value = dset.fillvalue
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        return value.item()
    return value
