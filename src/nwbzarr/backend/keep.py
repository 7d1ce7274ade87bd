"""Storage settings kept from a source array when a dataset is copied without explicit settings.

When HDMF hands the writer an ``h5py.Dataset`` (HDF5 -> Zarr conversion, export) or a
``zarr.Array`` (Zarr -> Zarr) and the user gave no ``DataIO`` wrapper, the new array keeps the
source's chunk shape, codecs and fill value (docs/storage.md §6, "Conversion"). Sharding is
added on top by the writer's policy. Only numeric and boolean arrays are kept this way; text,
compound and reference arrays, scalars and contiguous HDF5 datasets follow the policy.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import zarr

from ..conventions.dtypes import numpy_dtype_for
from ..conventions.layout import SHARDS_POLICY
from ..errors import UnsupportedCodecError
from ..formats.hdf5.filters import hdf5_codecs
from .dataio import ZarrDataIO
from .settings import WriteSettings

__all__ = ["kept_settings"]


def kept_settings(data: Any, spec_dtype: Any, path: str) -> WriteSettings:
    """Storage settings of ``data`` to reuse for its copy, or the policy's (``WriteSettings()``).

    Parameters
    ----------
    data : Any
        The dataset's data as HDMF hands it to the writer.
    spec_dtype : Any
        The builder's spec dtype (``None`` if the data's own dtype is used).
    path : str
        Object path, for error messages.

    Returns
    -------
    WriteSettings
        ``chunks``, ``shards`` (the policy's or the source's), ``compressors``, ``filters``,
        ``serializer``, ``fill_value`` and ``kept_from`` (the source array) of the source;
        ``WriteSettings()`` (every field the policy's) when the data is not an HDF5 or Zarr
        array, is scalar, contiguous, not numeric, or is converted to a dtype of another item
        size.

    Raises
    ------
    UnsupportedCodecError
        If an HDF5 source uses a filter with no Zarr v3 equivalent; the message names the
        dataset and suggests ``keep_storage=False`` (``--rechunk``).
    """
    is_h5 = ZarrDataIO.is_h5py_dataset(data)
    policy = WriteSettings()
    if not (is_h5 or isinstance(data, zarr.Array)):
        return policy
    dtype = np.dtype(data.dtype)
    if not data.shape or dtype.kind not in "biufc" or dtype.fields is not None:
        return policy
    try:
        target = numpy_dtype_for(spec_dtype, data)
    except Exception:
        return policy
    if target is str or np.dtype(target).itemsize != dtype.itemsize:
        return policy
    if is_h5:
        return _hdf5_settings(data, path)
    return WriteSettings(
        chunks=tuple(data.chunks),
        shards=tuple(data.shards) if data.shards is not None else SHARDS_POLICY,
        compressors=tuple(data.compressors),
        filters=tuple(data.filters) or None,
        serializer=data.serializer,
        fill_value=_plain(data.fill_value),
        kept_from=data,
    )


def _hdf5_settings(dset: Any, path: str) -> WriteSettings:
    if dset.chunks is None:
        return WriteSettings()  # contiguous or compact: nothing to keep, the policy chunks it
    try:
        codecs = hdf5_codecs(dset, path=path, exact=False)
    except UnsupportedCodecError as exc:
        # the values are still readable through h5py: keep the chunking, re-encode them
        warnings.warn(
            f"{exc} Keeping its chunk shape and compressing it with the default codec instead.",
            stacklevel=2,
        )
        return WriteSettings(
            chunks=tuple(int(c) for c in dset.chunks),
            fill_value=_plain(dset.fillvalue) if dset.fillvalue is not None else None,
        )
    return WriteSettings(
        chunks=tuple(int(c) for c in dset.chunks),
        compressors=tuple(codecs.compressors),
        filters=tuple(codecs.filters) or None,
        serializer=codecs.serializer,
        fill_value=_plain(codecs.fill_value),
        kept_from=dset,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value
