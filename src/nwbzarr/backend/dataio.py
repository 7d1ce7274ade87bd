"""``ZarrDataIO``: per-dataset storage settings (chunks, shards, codecs, fill value, linking).

Also translates the settings of other ``DataIO`` wrappers users already write with, notably
hdmf's ``H5DataIO(compression=..., chunks=..., shuffle=...)``, into Zarr v3 equivalents.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hdmf.data_utils import DataIO

from ..errors import UnsupportedCodecError

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
        out["shape"] = getattr(dataio, "_DataIO__shape", None) or _safe(lambda: dataio.shape)
        out["dtype"] = getattr(dataio, "_DataIO__dtype", None)
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
            compression,
            settings.get("compression_opts"),
            path,
            shuffle=bool(settings.get("shuffle")),
        )
    return out


def _h5_compression(name: Any, opts: Any, path: str, shuffle: bool = False) -> list:
    """Return the Zarr v3 compressors equivalent to an HDF5 compression filter.

    Parameters
    ----------
    name : str or int
        HDF5 compression (``"gzip"``/``"deflate"``/``1`` or ``"lzf"``).
    opts : Any
        HDF5 ``compression_opts`` (the gzip level).
    path : str
        Object path, for error messages.
    shuffle : bool
        HDF5's byte-shuffle filter. Zarr v3 has no standard shuffle codec, so gzip + shuffle
        becomes Blosc with the same deflate (zlib) compressor and byte shuffle (type size
        taken from the array's data type).

    Returns
    -------
    list
        Zarr v3 bytes-to-bytes codecs.

    Raises
    ------
    UnsupportedCodecError
        If the filter has no Zarr equivalent here.
    """
    from zarr.codecs import BloscCodec, GzipCodec

    if name in ("gzip", 1, "deflate"):
        level = int(opts) if isinstance(opts, (int, np.integer)) else 4
        if shuffle:
            return [BloscCodec(cname="zlib", clevel=level, shuffle="shuffle")]
        return [GzipCodec(level=level)]
    if name == "lzf":
        return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle" if shuffle else "noshuffle")]
    raise UnsupportedCodecError(
        f"{path}: HDF5 compression {name!r} has no Zarr v3 codec in nwbzarr; use "
        "ZarrDataIO(compressors=[...]) or compression='gzip'"
    )


def _safe(fn: Any) -> Any:
    try:
        return fn()
    except Exception:
        return None
