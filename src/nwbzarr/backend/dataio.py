"""``ZarrDataIO``: per-dataset storage settings (chunks, shards, codecs, fill value, linking).

Also translates the settings of other ``DataIO`` wrappers users already write with, notably
hdmf's ``H5DataIO(compression=..., chunks=..., shuffle=...)``, into Zarr v3 equivalents.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
from hdmf.data_utils import DataIO

from ..compat import dataio_declared
from ..errors import UnsupportedCodecError
from ..virtual.filters import codec_for_filter, hdf5_codecs

__all__ = ["ZarrDataIO", "storage_settings"]


class ZarrDataIO(DataIO):
    """Wrap data with Zarr storage settings for :class:`nwbzarr.ZarrIO`.

    Parameters
    ----------
    data : array-like, zarr.Array, h5py.Dataset, AbstractDataChunkIterator or None
        The data to write. ``None`` with ``shape`` and ``dtype`` creates an empty array.
    chunks : tuple of int, optional
        Chunk shape; default follows the policy in ``docs/storage.md`` (~4 MiB chunks).
    shards : tuple of int or None, optional
        Shard shape (a multiple of ``chunks``); ``None`` disables sharding; default "auto".
    fillvalue : scalar, optional
        Value of unwritten elements.
    compressors : list of zarr codecs, optional
        Zarr v3 bytes-to-bytes codecs, e.g. ``[zarr.codecs.ZstdCodec(level=3)]``.
    filters : list of zarr codecs, optional
        Zarr v3 array-to-array codecs.
    serializer : zarr codec, optional
        Array-to-bytes codec (default ``bytes``/``vlen-utf8`` chosen by zarr).
    link_data : bool
        If ``data`` is a ``zarr.Array`` in another store, link to it instead of copying.
    compressor : zarr codec, optional
        Older single-codec spelling of ``compressors``.
    shape, dtype : optional
        Shape and dtype for an empty dataset (``data=None``).
    """

    def __init__(
        self,
        data: Any = None,
        chunks: tuple[int, ...] | None = None,
        shards: tuple[int, ...] | None | str = "auto",
        fillvalue: Any = None,
        compressors: list | None = None,
        filters: list | None = None,
        serializer: Any = None,
        link_data: bool = False,
        compressor: Any = None,
        shape: tuple[int, ...] | None = None,
        dtype: Any = None,
    ) -> None:
        if compressor is not None and compressors is None:
            compressors = [compressor]
        super().__init__(data=data, dtype=dtype, shape=shape)
        self.__link_data = bool(link_data)
        self.__settings: dict[str, Any] = {
            "chunks": tuple(chunks) if chunks is not None else None,
            "shards": tuple(shards) if isinstance(shards, (list, tuple)) else shards,
            "fillvalue": fillvalue,
            "compressors": compressors,
            "filters": filters,
            "serializer": serializer,
        }

    @property
    def link_data(self) -> bool:
        """Whether to link to (True) or copy (False) a ``zarr.Array`` from another store."""
        return self.__link_data

    @property
    def io_settings(self) -> dict[str, Any]:
        """The storage settings given by the user (``None`` = policy default)."""
        return dict(self.__settings)

    @staticmethod
    def is_h5py_dataset(obj: Any) -> bool:
        """Whether ``obj`` is an ``h5py.Dataset`` (False without importing h5py if unloaded)."""
        h5py = sys.modules.get("h5py")
        return h5py is not None and isinstance(obj, h5py.Dataset)

    @staticmethod
    def hdf5_to_zarr_filters(dset: Any) -> tuple:
        """Zarr v3 codecs that re-encode ``dset`` with its HDF5 filter settings.

        Parameters
        ----------
        dset : h5py.Dataset
            The source dataset.

        Returns
        -------
        tuple
            Array -> array filters followed by bytes -> bytes compressors, in pipeline order,
            e.g. ``(Shuffle(elementsize=8), GzipCodec(level=4))`` for ``gzip`` + ``shuffle``.
            Fletcher32 is dropped. The serializer is not included (see
            :meth:`from_h5py_dataset`).

        Raises
        ------
        UnsupportedCodecError
            If a filter has no Zarr v3 equivalent (szip, scaleoffset, nbit, lzf, ...).
        """
        codecs = hdf5_codecs(dset, exact=False)
        return tuple(codecs.filters) + tuple(codecs.compressors)

    @classmethod
    def from_h5py_dataset(cls, dset: Any, **kwargs: Any) -> ZarrDataIO:
        """Wrap an ``h5py.Dataset`` so it is copied with the same chunks, codecs and fill value.

        Parameters
        ----------
        dset : h5py.Dataset
            The source dataset (kept open until written).
        **kwargs
            :class:`ZarrDataIO` arguments overriding the settings taken from ``dset``
            (``chunks``, ``shards``, ``compressors``, ``filters``, ``serializer``,
            ``fillvalue``, ...).

        Returns
        -------
        ZarrDataIO

        Raises
        ------
        TypeError
            If ``dset`` is not an ``h5py.Dataset``.
        UnsupportedCodecError
            If a filter has no Zarr v3 equivalent and no ``compressors`` override is given.
        """
        if not cls.is_h5py_dataset(dset):
            raise TypeError(f"expected an h5py.Dataset, got {type(dset).__name__}")
        settings: dict[str, Any] = {"fillvalue": None}
        if "compressors" not in kwargs and "compressor" not in kwargs:
            codecs = hdf5_codecs(dset, exact=False)
            settings.update(
                compressors=list(codecs.compressors),
                filters=list(codecs.filters) or None,
                serializer=codecs.serializer,
            )
        if dset.chunks is not None:
            settings["chunks"] = tuple(dset.chunks)
        fill = dset.fillvalue
        if dset.dtype.kind in "biuf" and fill is not None:
            settings["fillvalue"] = fill.item() if isinstance(fill, np.generic) else fill
        settings.update(kwargs)
        return cls(data=dset, **settings)

    def get_io_params(self) -> dict[str, Any]:
        """Return the settings as keyword arguments of ``zarr.Group.create_array``."""
        out = {
            "chunks": self.__settings["chunks"],
            "shards": None if self.__settings["shards"] == "auto" else self.__settings["shards"],
            "compressors": self.__settings["compressors"],
            "filters": self.__settings["filters"],
            "fill_value": self.__settings["fillvalue"],
        }
        if self.__settings["serializer"] is not None:
            out["serializer"] = self.__settings["serializer"]
        return {k: v for k, v in out.items() if v is not None}


def storage_settings(dataio: DataIO, path: str) -> dict[str, Any]:
    """Translate a ``DataIO`` wrapper into nwbzarr storage settings.

    Parameters
    ----------
    dataio : hdmf.data_utils.DataIO
        A :class:`ZarrDataIO`, an hdmf ``H5DataIO``, or a plain ``DataIO``.
    path : str
        Object path, for error messages.

    Returns
    -------
    dict
        Keys ``chunks``, ``shards``, ``compressors``, ``filters``, ``fillvalue``, ``shape``,
        ``dtype`` (absent = policy default).

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
        for key, value in dataio.io_settings.items():
            if value is not None or key == "shards":
                out[key] = value
        return out
    settings = getattr(dataio, "io_settings", None) or {}
    if not settings:
        return out
    chunks = settings.get("chunks")
    if isinstance(chunks, tuple):
        out["chunks"] = chunks
    if settings.get("fillvalue") is not None:
        out["fillvalue"] = settings["fillvalue"]
    compression = settings.get("compression")
    if compression is not None:
        out["compressors"] = _h5_compression(
            compression, settings.get("compression_opts"), path, _data_dtype(dataio)
        )
    if settings.get("shuffle"):
        out["shuffle"] = True
    return out


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
