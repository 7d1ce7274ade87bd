"""``ZarrDataIO``: per-dataset storage settings (chunks, shards, codecs, fill value, linking).

Also translates the settings of other ``DataIO`` wrappers users already write with, notably
hdmf's ``H5DataIO(compression=..., chunks=..., shuffle=...)``, into Zarr v3 equivalents.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
from hdmf.data_utils import DataIO

from ..compat import dataio_declared
from ..conventions.layout import SHARDS_POLICY, SHARDS_REQUIRED
from ..errors import InvalidStorageSettingsError, UnsupportedCodecError
from ..formats.hdf5.filters import codec_for_filter, hdf5_codecs, require_decodable
from .settings import WriteSettings

__all__ = ["ZarrDataIO", "storage_settings"]


class _Unset:
    """Marker of an argument not given (``shards``: follow the writer's policy)."""

    def __repr__(self) -> str:
        return "<policy>"


_UNSET: Any = _Unset()


class ZarrDataIO(DataIO):
    """Wrap data with Zarr storage settings for :class:`nwbzarr.ZarrIO`.

    Settings left out follow nwbzarr's policy (``docs/storage.md`` §6): ~256 KiB chunks (64
    channels wide for 2-D arrays), shards of up to 128 MiB for arrays of more than one chunk,
    Blosc-lz4 with bit shuffle for numbers.

    Parameters
    ----------
    data : array-like, zarr.Array, h5py.Dataset, AbstractDataChunkIterator or None
        The data to write. ``None`` with ``shape`` and ``dtype`` creates an empty array.
    chunks : tuple of int, optional
        Chunk shape (the inner chunk of a shard when the array is sharded).
    fillvalue : scalar, optional
        Value of unwritten elements.
    compressors : zarr codec, list of zarr codecs or bool, optional
        Zarr v3 bytes-to-bytes codecs, e.g. ``zarr.codecs.ZstdCodec(level=3)`` or a list of
        codecs (numcodecs codecs wrapped by ``zarr.codecs.numcodecs``). ``True`` or ``None``:
        the policy's codec; ``False`` or ``[]``: no compression.
    compressor : zarr codec, optional
        Deprecated single-codec spelling of ``compressors``: a Zarr v3 bytes-to-bytes codec
        is accepted with a ``DeprecationWarning``; anything else (a numcodecs codec, a bool)
        raises.
    filters : list of zarr codecs, optional
        Zarr v3 array-to-array codecs (e.g. ``zarr.codecs.TransposeCodec``).
    serializer : zarr codec, optional
        Array-to-bytes codec (default ``bytes``/``vlen-utf8`` chosen by zarr).
    shards : tuple of int, "auto" or None, optional
        Shard shape, a multiple of ``chunks`` in every dimension. Not given: the policy
        (small arrays and text stay unsharded). ``"auto"``: always sharded, with the policy's
        shard shape (one chunk per shard when the whole array is one chunk). ``None``: not
        sharded.
    link_data : bool
        If ``data`` is a ``zarr.Array`` of another store or an ``h5py.Dataset``, link to it
        instead of copying.
    shape, dtype : optional
        Shape and dtype for an empty dataset (``data=None``).

    Raises
    ------
    InvalidStorageSettingsError
        (a ``TypeError`` and a ``ValueError``) If a codec is not a Zarr v3 codec of the right
        kind, ``compressor`` is not a Zarr v3 codec, ``chunks``/``shards`` are not shapes of
        positive integers or ``"auto"``, or ``shards`` is not a multiple of ``chunks``.

    Warns
    -----
    UserWarning
        If ``shards`` is a shape and ``chunks`` is not given (the writer then picks inner
        chunks that divide the shard).

    Notes
    -----
    :attr:`io_settings` holds only the settings given, under the names hdmf-zarr uses
    (``chunks``, ``fill_value``, ``compressors`` — ``None`` for no compression —,
    ``filters``, ``serializer``, ``shards``).
    """

    def __init__(
        self,
        data: Any = None,
        chunks: tuple[int, ...] | list | None = None,
        fillvalue: Any = None,
        compressors: Any = None,
        compressor: Any = None,
        filters: Any = None,
        serializer: Any = None,
        shards: tuple[int, ...] | list | str | None = _UNSET,
        link_data: bool = False,
        shape: tuple[int, ...] | None = None,
        dtype: Any = None,
    ) -> None:
        if compressor is not None:
            compressors = _deprecated_compressor(compressor, compressors)
        settings: dict[str, Any] = {}
        if chunks is not None:
            settings["chunks"] = _shape_arg("chunks", chunks)
        if fillvalue is not None:
            settings["fill_value"] = fillvalue
        if compressors is not None and compressors is not True:
            settings["compressors"] = _compressors_arg(compressors)
        if filters is not None:
            settings["filters"] = _codecs_arg("filters", filters, "ArrayArrayCodec")
        if serializer is not None:
            settings["serializer"] = _codecs_arg("serializer", [serializer], "ArrayBytesCodec")[0]
        if shards is not _UNSET:
            settings["shards"] = _shards_arg(shards, settings.get("chunks"))
        super().__init__(data=data, dtype=dtype, shape=shape)
        self.__link_data = bool(link_data)
        self.__settings = settings
        shards_given = settings.get("shards", _UNSET)
        self.__write_settings = WriteSettings(
            chunks=settings.get("chunks"),
            shards=(
                SHARDS_POLICY
                if shards_given is _UNSET
                else SHARDS_REQUIRED
                if shards_given == "auto"
                else shards_given
            ),
            compressors=(
                tuple(settings["compressors"] or ()) if "compressors" in settings else None
            ),
            filters=settings.get("filters"),
            serializer=settings.get("serializer"),
            fill_value=settings.get("fill_value"),
        )

    @property
    def link_data(self) -> bool:
        """Whether to link to (True) or copy (False) a ``zarr.Array`` or ``h5py.Dataset``."""
        return self.__link_data

    @property
    def io_settings(self) -> dict[str, Any]:
        """The storage settings given (a copy); a setting left out follows the policy.

        Keys: ``chunks``, ``fill_value``, ``compressors`` (``None`` = no compression),
        ``filters``, ``serializer``, ``shards`` (``None`` = not sharded, ``"auto"``).
        """
        return dict(self.__settings)

    @property
    def write_settings(self) -> WriteSettings:
        """The settings given, typed as the writer takes them (``shards="auto"`` is
        :data:`~nwbzarr.conventions.layout.SHARDS_REQUIRED`, ``compressors=False`` is ``()``;
        fields not given keep their defaults, the policy)."""
        return self.__write_settings

    def get_io_params(self) -> dict[str, Any]:
        """Return :attr:`io_settings` with ``link_data`` added, as hdmf-zarr does.

        Returns
        -------
        dict
        """
        return {**self.__settings, "link_data": self.__link_data}

    @staticmethod
    def is_h5py_dataset(obj: Any) -> bool:
        """Whether ``obj`` is an ``h5py.Dataset`` (False without importing h5py if unloaded)."""
        h5py = sys.modules.get("h5py")
        return h5py is not None and isinstance(obj, h5py.Dataset)

    @staticmethod
    def hdf5_to_zarr_filters(dset: Any) -> list:
        """Zarr v3 codecs that re-encode ``dset`` with its HDF5 filter settings.

        Parameters
        ----------
        dset : h5py.Dataset
            The source dataset.

        Returns
        -------
        list
            Array -> array filters followed by bytes -> bytes compressors, in pipeline order,
            e.g. ``[Shuffle(elementsize=8), GzipCodec(level=4)]`` for ``gzip`` + ``shuffle``
            (HDF5 deflate becomes the Zarr v3 ``gzip`` codec, zstd ``ZstdCodec``, Blosc
            ``BloscCodec``). Fletcher32 is dropped. A filter with no Zarr v3 codec (lzf, lz4,
            bitshuffle, szip, scale-offset, JPEG-LS, ...) is left out with a ``UserWarning``;
            if only a shuffle remains, the list is empty (the writer's default codec then
            compresses the values). The serializer is not included (see
            :meth:`from_h5py_dataset`).
        """
        codecs = hdf5_codecs(dset, exact=False, unsupported="warn", stacklevel=3)
        return list(codecs.filters) + list(codecs.compressors)

    @classmethod
    def from_h5py_dataset(cls, dset: Any, **kwargs: Any) -> ZarrDataIO:
        """Wrap an ``h5py.Dataset`` so it is copied with the same chunks, codecs and fill value.

        The values are read (decoded) through h5py when written. HDF5 filters map to Zarr v3
        codecs as :meth:`hdf5_to_zarr_filters` says; a filter with no Zarr v3 codec is not kept
        (one ``UserWarning`` naming it) and the writer's default codec compresses the values.
        The byte order is kept (``bytes`` serializer).

        Parameters
        ----------
        dset : h5py.Dataset
            The source dataset (kept open until written).
        **kwargs
            :class:`ZarrDataIO` arguments overriding the settings taken from ``dset``
            (``chunks``, ``shards``, ``compressors``, ``filters``, ``serializer``,
            ``fillvalue``, ``link_data``).

        Returns
        -------
        ZarrDataIO

        Raises
        ------
        InvalidStorageSettingsError
            (a ``TypeError``) If ``dset`` is not an ``h5py.Dataset``, or an override is invalid.
        UnsupportedCodecError
            If one of the dataset's filters is not available to h5py (a plugin filter without
            hdf5plugin installed), so its values could not be read.
        """
        if not cls.is_h5py_dataset(dset):
            raise InvalidStorageSettingsError(
                f"ZarrDataIO.from_h5py_dataset: expected an h5py.Dataset, got "
                f"{type(dset).__name__}; wrap other data with ZarrDataIO(data, ...)"
            )
        require_decodable(dset)
        given = "compressors" in kwargs or "compressor" in kwargs
        mode = "drop" if given else "warn"
        codecs = hdf5_codecs(dset, exact=False, unsupported=mode, stacklevel=3)
        settings: dict[str, Any] = {}
        if dset.chunks is not None:
            settings["chunks"] = tuple(int(c) for c in dset.chunks)
        fill = _fill_value_of(dset)
        if fill is not None:
            settings["fillvalue"] = fill
        if codecs.compressors or (dset.chunks is not None and not codecs.dropped):
            # a chunked dataset stored without compression is copied without compression, as
            # conversion does; a contiguous one, or one whose filter has no Zarr codec, gets
            # the writer's default codec
            settings["compressors"] = list(codecs.compressors) or False
        if codecs.filters:
            settings["filters"] = list(codecs.filters)
        if codecs.serializer is not None:
            settings["serializer"] = codecs.serializer
        settings.update(kwargs)
        return cls(data=dset, **settings)


def _fill_value_of(dset: Any) -> Any:
    """An HDF5 dataset's fill value as a JSON-friendly Python value (None: not kept)."""
    fill = dset.fillvalue
    if fill is None:
        return None
    kind = np.dtype(dset.dtype).kind
    if isinstance(fill, (bytes, np.bytes_)):
        try:
            return bytes(fill).decode("utf-8")
        except UnicodeDecodeError:
            return None  # not text: zarr's default fill for the dtype
    if kind in "biuf" and isinstance(fill, (np.generic, int, float, bool)):
        return fill.item() if isinstance(fill, np.generic) else fill
    return None


def _deprecated_compressor(compressor: Any, compressors: Any) -> list:
    """``compressor=`` (removed in hdmf-zarr 0.14): a Zarr v3 codec is taken, with a warning."""
    from zarr.abc.codec import BytesBytesCodec

    if not isinstance(compressor, BytesBytesCodec):
        raise InvalidStorageSettingsError(
            f"ZarrDataIO: 'compressor' (got {compressor!r}) is no longer supported; pass Zarr v3 "
            "bytes-to-bytes codecs as 'compressors', e.g. "
            "compressors=[zarr.codecs.BloscCodec(cname='zstd', clevel=3)] (a numcodecs codec "
            "goes through zarr.codecs.numcodecs, e.g. zarr.codecs.numcodecs.LZ4()), or "
            "compressors=False for none"
        )
    if compressors is not None:
        raise InvalidStorageSettingsError(
            "ZarrDataIO: give 'compressors' only; 'compressor' is its deprecated spelling"
        )
    warnings.warn(
        "ZarrDataIO(compressor=...) is deprecated; pass compressors=[codec] instead",
        DeprecationWarning,
        stacklevel=3,
    )
    return [compressor]


def _shape_arg(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise InvalidStorageSettingsError(
            f"ZarrDataIO: {name!r} must be a tuple of positive integers, got {value!r}"
        )
    out = []
    for v in value:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InvalidStorageSettingsError(
                f"ZarrDataIO: {name!r} must be a tuple of positive integers, got {value!r}"
            )
        out.append(int(v))
    return tuple(out)


def _shards_arg(shards: Any, chunks: tuple[int, ...] | None) -> Any:
    if shards is None:
        return None
    if isinstance(shards, str):
        if shards != "auto":
            raise InvalidStorageSettingsError(
                f"ZarrDataIO: 'shards' must be a shape or 'auto' (None: not sharded), got "
                f"{shards!r}"
            )
        return "auto"
    shards = _shape_arg("shards", shards)
    if chunks is None:
        warnings.warn(
            f"ZarrDataIO: shards={shards} given without chunks; the writer picks inner chunks "
            "that divide the shard. Pass chunks=... to choose the unit a reader fetches",
            UserWarning,
            stacklevel=3,
        )
        return shards
    if len(shards) != len(chunks):
        raise InvalidStorageSettingsError(
            f"ZarrDataIO: shards={shards} and chunks={chunks} have different numbers of "
            "dimensions; give both for every dimension"
        )
    bad = [i for i, (s, c) in enumerate(zip(shards, chunks)) if s % c]
    if bad:
        raise InvalidStorageSettingsError(
            f"ZarrDataIO: shards={shards} is not a multiple of chunks={chunks} in dimension "
            f"{bad[0]} ({shards[bad[0]]} % {chunks[bad[0]]} != 0); each shard holds whole "
            "chunks, so make every shard length a multiple of the chunk length"
        )
    return shards


def _compressors_arg(compressors: Any) -> list | None:
    if compressors is False:
        return None
    from zarr.abc.codec import BytesBytesCodec

    if isinstance(compressors, (BytesBytesCodec, dict)):
        compressors = [compressors]
    codecs = _codecs_arg("compressors", compressors, "BytesBytesCodec")
    return codecs


def _codecs_arg(name: str, codecs: Any, kind: str) -> list:
    """Check that ``codecs`` is a list/tuple of Zarr v3 codecs of ``kind`` (or codec dicts)."""
    import zarr.abc.codec as zc

    expected = getattr(zc, kind)
    if isinstance(codecs, (zc.ArrayArrayCodec, zc.ArrayBytesCodec, zc.BytesBytesCodec)):
        codecs = [codecs]  # a single filter (hdmf-zarr asks for a list)
    if not isinstance(codecs, (list, tuple)):
        raise InvalidStorageSettingsError(_codec_message(name, codecs, kind))
    for codec in codecs:
        if not (isinstance(codec, expected) or isinstance(codec, dict) and "name" in codec):
            raise InvalidStorageSettingsError(_codec_message(name, codec, kind))
    return list(codecs)


def _codec_message(name: str, codec: Any, kind: str) -> str:
    import zarr.abc.codec as zc

    msg = f"ZarrDataIO: {name!r} takes Zarr v3 {kind} codecs, got {codec!r}"
    module = type(codec).__module__ or ""
    if module.startswith("numcodecs"):
        return (
            f"{msg}; numcodecs codecs are Zarr v2 codecs: use the zarr.codecs equivalent "
            f"(e.g. zarr.codecs.BloscCodec) or its zarr.codecs.numcodecs wrapper "
            f"(zarr.codecs.numcodecs.{type(codec).__name__})"
        )
    if isinstance(codec, bool):
        return f"{msg}; only 'compressors' takes True (policy codec) or False (none)"
    for other, where in (
        (zc.BytesBytesCodec, "compressors"),
        (zc.ArrayArrayCodec, "filters"),
        (zc.ArrayBytesCodec, "serializer"),
    ):
        if isinstance(codec, other) and where != name:
            return f"{msg}; {type(codec).__name__} belongs in {where!r}"
    return msg


def storage_settings(dataio: DataIO, path: str) -> WriteSettings:
    """Translate a ``DataIO`` wrapper into the writer's typed storage settings.

    Parameters
    ----------
    dataio : hdmf.data_utils.DataIO
        A :class:`ZarrDataIO`, an hdmf ``H5DataIO``, or a plain ``DataIO``.
    path : str
        Object path, for error messages.

    Returns
    -------
    WriteSettings
        ``chunks``, ``shards`` (a shape, None, or
        :data:`~nwbzarr.conventions.layout.SHARDS_REQUIRED` for ``ZarrDataIO(shards="auto")``),
        ``compressors`` (``()`` = none), ``filters``, ``serializer``, ``fill_value``,
        ``shuffle`` (``H5DataIO(shuffle=True)``), and ``shape``/``dtype`` of a wrapper without
        data; a field not given keeps its default (the policy).

    Raises
    ------
    UnsupportedCodecError
        If an ``H5DataIO`` asks for a compression filter with no Zarr equivalent here.
    """
    out: dict[str, Any] = {}
    if not dataio.valid:
        shape, dtype = dataio_declared(dataio)
        out["shape"] = shape or _safe(lambda: dataio.shape)
        out["dtype"] = dtype
    if isinstance(dataio, ZarrDataIO):
        return dataio.write_settings.replace(**out)
    settings = getattr(dataio, "io_settings", None) or {}
    if not settings:
        return WriteSettings.coerce(out)
    chunks = settings.get("chunks")
    if isinstance(chunks, tuple):
        out["chunks"] = chunks
    if settings.get("fillvalue") is not None:
        out["fill_value"] = settings["fillvalue"]
    compression = settings.get("compression")
    if compression is not None:
        out["compressors"] = _h5_compression(
            compression, settings.get("compression_opts"), path, _data_dtype(dataio)
        )
    if settings.get("shuffle"):
        out["shuffle"] = True
    return WriteSettings.coerce(out)


def _data_dtype(dataio: DataIO) -> Any:
    """The dtype of the wrapped data, if it can be known without reading it all."""
    data = getattr(dataio, "data", None)
    dtype = getattr(data, "dtype", None)
    if dtype is None and isinstance(data, (list, tuple)):
        dtype = _safe(lambda: np.asarray(data).dtype)
    return _safe(lambda: np.dtype(dtype)) if dtype is not None else None


def _h5_compression(name: Any, opts: Any, path: str, dtype: Any = None) -> list:
    """Return the Zarr v3 compressors equivalent to an HDF5 compression filter.

    Parameters
    ----------
    name : str or int
        HDF5 compression: ``"gzip"``/``"deflate"``/``1``, or an hdf5plugin filter id such as
        ``32015`` (zstd) or ``32001`` (blosc) with its ``compression_opts`` tuple.
    opts : Any
        HDF5 ``compression_opts`` (the gzip level, or the plugin's ``cd_values``).
    path : str
        Object path, for error messages.
    dtype : numpy.dtype, optional
        The data's dtype (Blosc type size).

    Returns
    -------
    list
        One Zarr v3 bytes-to-bytes codec. HDF5's ``shuffle`` is handled by the writer, which
        puts a ``Shuffle`` codec of the array's item size before it.

    Raises
    ------
    UnsupportedCodecError
        If the filter has no Zarr equivalent here (``lzf``, ``szip``, ...).
    """
    from zarr.codecs import GzipCodec

    if name in ("gzip", 1, "deflate"):
        level = int(opts) if isinstance(opts, (int, np.integer)) else 4
        return [GzipCodec(level=level)]
    fid = {"lzf": 32000, "szip": 4}.get(name, name)
    if isinstance(fid, (int, np.integer)) and not isinstance(fid, bool):
        if isinstance(opts, (int, np.integer)):
            opts = (int(opts),)
        values = tuple(int(v) for v in opts) if opts is not None else ()
        try:
            codec = codec_for_filter(int(fid), values, dtype or np.uint8, path, exact=False)
        except UnsupportedCodecError as exc:
            raise UnsupportedCodecError(
                f"{exc} In H5DataIO use compression='gzip', or wrap the data in "
                "ZarrDataIO(compressors=[...]) instead."
            ) from None
        return [codec] if codec is not None else []
    raise UnsupportedCodecError(
        f"{path}: HDF5 compression {name!r} has no Zarr v3 codec in nwbzarr; use "
        "ZarrDataIO(compressors=[...]) or compression='gzip'"
    )


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None
