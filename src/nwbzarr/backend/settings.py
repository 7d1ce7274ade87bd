"""Typed storage settings of one dataset, carried from ``ZarrDataIO`` (or ``H5DataIO``, or a
source array whose storage is kept) to the writer's array creation.

One frozen :class:`WriteSettings` per dataset; a field left at its default follows the
writer's policy (``docs/storage.md`` §6: :mod:`nwbzarr.conventions.layout`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conventions.layout import SHARDS_POLICY

__all__ = ["WriteSettings"]

#: Names older callers used for the same fields (mapping form of the settings).
_ALIASES = {"fillvalue": "fill_value"}


@dataclass(frozen=True)
class WriteSettings:
    """Storage settings of one new array; each field left at its default follows the policy.

    Parameters
    ----------
    chunks : tuple of int, optional
        Chunk shape in elements per dimension (the inner chunk of a sharded array). None:
        the policy's chunks (:func:`nwbzarr.conventions.layout.choose_chunks`, about
        ``chunk_bytes`` uncompressed bytes each).
    shards : tuple of int, str or None
        Shard shape in elements per dimension (a multiple of ``chunks``), None for an
        unsharded array, :data:`~nwbzarr.conventions.layout.SHARDS_POLICY` (``"auto"``, the
        default: the policy decides) or :data:`~nwbzarr.conventions.layout.SHARDS_REQUIRED`
        (sharded, with the policy's shard shape).
    compressors : tuple of zarr codecs, optional
        Zarr v3 bytes-to-bytes codecs in pipeline order; ``()`` stores the bytes uncompressed.
        None: the policy's codec for the dtype (``codec=`` of the IO).
    filters : tuple of zarr codecs, optional
        Zarr v3 array-to-array codecs applied before the serializer. None: none.
    serializer : zarr codec, optional
        Zarr v3 array-to-bytes codec. None: zarr's default for the dtype (``bytes``, little
        endian; ``vlen-utf8`` for text).
    fill_value : scalar, optional
        Value of elements never written, in the array's dtype (a number, bool or str). None:
        zarr's default for the dtype (0, False, "").
    shuffle : bool
        Put HDF5's byte shuffle (``H5DataIO(shuffle=True)``) before the compressors, with the
        array's item size in bytes.
    shape : tuple of int, optional
        Declared shape of a dataset written without data (``ZarrDataIO(data=None, ...)``).
    dtype : Any, optional
        Declared dtype of a dataset written without data.
    kept_from : Any, optional
        The ``h5py.Dataset`` or ``zarr.Array`` whose chunks, codecs and fill value these are
        (``keep_storage``): its blocks are copied with its chunk shape.

    Notes
    -----
    For callers written against the former plain-dict form the object also reads as a
    read-only mapping of the fields that differ from their defaults (``settings.get("chunks")``,
    ``{**settings, "chunks": c}``); :meth:`coerce` turns such a dict (``fillvalue`` or
    ``fill_value``) back into settings.
    """

    chunks: tuple[int, ...] | None = None
    shards: tuple[int, ...] | str | None = SHARDS_POLICY
    compressors: tuple | None = None
    filters: tuple | None = None
    serializer: Any = None
    fill_value: Any = None
    shuffle: bool = False
    shape: tuple[int, ...] | None = None
    dtype: Any = None
    kept_from: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("chunks", "shape"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(int(v) for v in value))
        if isinstance(self.shards, list):
            object.__setattr__(self, "shards", tuple(int(v) for v in self.shards))
        for name in ("compressors", "filters"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def coerce(cls, settings: WriteSettings | Mapping[str, Any] | None) -> WriteSettings:
        """Settings from ``settings``: returned as is, or built from a mapping of field names
        (``fillvalue`` is read as ``fill_value``; a None value is the field's default).

        Parameters
        ----------
        settings : WriteSettings, mapping or None
            What a caller holds.

        Returns
        -------
        WriteSettings

        Raises
        ------
        TypeError
            If a key names no field.
        """
        if isinstance(settings, WriteSettings):
            return settings
        if not settings:
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in settings.items():
            name = _ALIASES.get(key, key)
            if name not in names:
                raise TypeError(
                    f"unknown storage setting {key!r}; expected one of {', '.join(sorted(names))}"
                )
            if value is not None or name == "shards":  # shards=None: not sharded
                values[name] = value
        return cls(**values)

    def replace(self, **changes: Any) -> WriteSettings:
        """A copy with ``changes`` (field names) applied."""
        return dataclasses.replace(self, **changes)

    # -- the mapping view -------------------------------------------------------------------
    def _given(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not f.default and value != f.default:
                out[f.name] = value
        return out

    def keys(self) -> list[str]:
        """Names of the fields that differ from their defaults."""
        return list(self._given())

    def __getitem__(self, key: str) -> Any:
        given = self._given()
        name = _ALIASES.get(key, key)
        if name not in given:
            raise KeyError(key)
        return given[name]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _ALIASES.get(key, key) in self._given()

    def __iter__(self) -> Iterator[str]:
        return iter(self._given())

    def get(self, key: str, default: Any = None) -> Any:
        """The value of field ``key`` if it differs from its default, else ``default``."""
        return self._given().get(_ALIASES.get(key, key), default)
