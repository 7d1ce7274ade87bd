"""Zarr nodes -> HDMF builders (read side of :class:`nwbzarr.ZarrIO`).

The tree is walked once from consolidated metadata when present (all nodes listed in one call);
scalar datasets, which HDMF needs as values, are read together after the walk in one concurrent
batch. Numeric arrays are handed to HDMF as the lazy ``zarr.Array`` itself; text, reference
and compound arrays get the lazy views of :mod:`nwbzarr.backend.lazy`. Links and attribute
references are resolved after the walk, so a target may appear anywhere in the tree.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.container import Container
from zarr.core.sync import sync

from ..conventions.attributes import (
    DTYPE_ATTR,
    LINKS_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
    RESERVED_ATTRS,
    SPECLOC_ATTR,
)
from ..conventions.dtypes import SPEC_DTYPES, builder_dtype_name
from ..conventions.references import SAME_FILE, normalize_path, parse_attribute_reference
from ..errors import NotNWBStoreError
from ..storage.resolve import join_location
from .lazy import (
    BuilderZarrReferenceDataset,
    BuilderZarrTableDataset,
    ZarrArrayView,
    ZarrTextDataset,
)


def specloc_path(attrs: dict) -> str | None:
    """Return the absolute path of the spec cache named by a root ``.specloc`` attribute."""
    value = attrs.get(SPECLOC_ATTR)
    if value is None:
        return None
    ref = parse_attribute_reference(value)
    if ref is not None:
        return ref[1]
    return normalize_path(str(value))


class ReadMixin:
    """Builds the builder tree of a Zarr store; mixed into :class:`nwbzarr.ZarrIO`."""

    def read_builder(self) -> GroupBuilder:
        """Read the whole store into a :class:`hdmf.build.GroupBuilder` tree (data lazy).

        Returns
        -------
        hdmf.build.GroupBuilder
            The root builder, named ``"root"``.

        Raises
        ------
        NotNWBStoreError
            If the root group carries no ``neurodata_type``/``data_type`` attribute.
        """
        self._check_open("read")
        if self._root_builder is not None:
            return self._root_builder
        root = self._root
        attrs = root.attrs.asdict()
        if "neurodata_type" not in attrs and "data_type" not in attrs:
            raise NotNWBStoreError(
                f"{self.source}: the Zarr store opens but its root group has no "
                "'neurodata_type' attribute, so it is not an NWB/HDMF file; write one with "
                "NWBZarrIO(path, mode='w').write(nwbfile)"
            )
        self._builders_by_path = {}
        self._deferred = []
        self._scalars = []
        self._children = _children_by_parent(root)
        skip = specloc_path(attrs)
        builder = self._read_group(root, "/", "root", skip, attrs=attrs)
        self._read_scalars()
        self._children = {}
        for resolve in self._deferred:
            resolve()
        self._deferred = []
        self._root_builder = builder
        return builder

    def get_builder_at(self, path: str) -> Any:
        """Return the builder read at an absolute path (reads the store if needed).

        Raises
        ------
        KeyError
            If no object exists at ``path``.
        """
        if self._root_builder is None:
            self.read_builder()
        path = normalize_path(path)
        try:
            return self._builders_by_path[path]
        except KeyError:
            raise KeyError(
                f"{self.source}: no object at {path!r} (broken reference or link)"
            ) from None

    def get_container_at(self, path: str) -> Container:
        """Return the container built from the object at an absolute path."""
        return self.manager.construct(self.get_builder_at(path))

    def get_builder(self, zarr_obj: zarr.Group | zarr.Array | str) -> Any:
        """Return the builder of a zarr node (or absolute path) of this store."""
        path = zarr_obj if isinstance(zarr_obj, str) else "/" + zarr_obj.path
        return self.get_builder_at(path)

    def get_container(self, zarr_obj: zarr.Group | zarr.Array | str) -> Container:
        """Return the container of a zarr node (or absolute path) of this store."""
        return self.manager.construct(self.get_builder(zarr_obj))

    def resolve_ref(self, source: str, path: str) -> tuple[str, Any]:
        """Resolve a ``(source, path)`` reference (source "." = this store) to (name, builder)."""
        builder = self._resolve_reference(source, path, where=path)
        return builder.name, builder

    def _resolve_reference(self, source: str, path: str, where: str) -> Any:
        if source in (".", "", None):
            try:
                return self._builders_by_path[normalize_path(path)]
            except KeyError:
                raise KeyError(
                    f"{self.source}: {where} refers to {path!r}, which does not exist in the store"
                ) from None
        return self._external_io(source, where).get_builder_at(path)

    def _external_io(self, source: str, where: str) -> Any:
        if "://" in source or os.path.isabs(source):
            raise ValueError(
                f"{self.source}: {where} links to {source!r}; only paths relative to this "
                "store are followed (untrusted input)"
            )
        target = join_location(self._store_root(), source)  # a URL stays a URL
        if target not in self._external:
            if os.path.isfile(target) and h5py.is_hdf5(target):
                self._external[target] = HDF5LinkSource(target, self.manager)
            else:
                self._external[target] = type(self)(
                    target,
                    mode="r",
                    manager=self.manager,
                    storage_options=getattr(self, "_storage_options", None),
                )
        return self._external[target]

    # -- written-state lookups --------------------------------------------------------------
    def get_written(self, builder: Any, check_on_disk: bool = False) -> bool:
        """True if ``builder`` was written (or read) by this object; with ``check_on_disk``
        also require the node to exist in the store."""
        written = self._written.get_written(builder)
        if written and check_on_disk:
            return self.get_builder_exists_on_disk(builder)
        return written

    def get_builder_disk_path(self, builder: Any, filepath: str | None = None) -> str:
        """Return the local path of a builder's node inside the store directory."""
        from ..conventions.references import builder_path

        base = filepath if filepath is not None else self.abspath
        return os.path.join(base, builder_path(builder).lstrip("/"))

    def get_builder_exists_on_disk(self, builder: Any) -> bool:
        """True if the builder's node exists in the open store."""
        from ..conventions.references import builder_path

        path = builder_path(builder).strip("/")
        return path == "" or path in self._root

    # -- tree walk -------------------------------------------------------------------------
    def _node_spec(self, attrs: dict, parent_spec: Any, name: str, group: bool) -> Any:
        """The spec describing a node: its type's spec, or its entry in the parent's spec."""
        ndt, ns = attrs.get("neurodata_type") or attrs.get("data_type"), attrs.get("namespace")
        try:
            if ndt is not None and ns is not None:
                return self.manager.namespace_catalog.get_spec(ns, ndt)
            if parent_spec is not None:
                return parent_spec.get_group(name) if group else parent_spec.get_dataset(name)
        except (KeyError, ValueError, AttributeError):
            return None
        return None

    def _read_attributes(self, attrs: dict, builder: Any, path: str, spec: Any = None) -> dict:
        out = {}
        for key, value in attrs.items():
            if key in RESERVED_ATTRS:
                continue
            if parse_attribute_reference(value) is not None:
                self._defer_attribute(builder, key, value, path)
                continue
            if (
                isinstance(value, list)
                and value
                and all(parse_attribute_reference(v) is not None for v in value)
            ):
                self._defer_attribute(builder, key, value, path)
                continue
            if isinstance(value, list) and _is_numeric_list(value):
                value = np.array(value)
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                value = np.array(value, dtype=object)
            out[key] = _typed_attribute(spec, key, value)
        return out

    def _defer_attribute(self, builder: Any, key: str, value: Any, path: str) -> None:
        def resolve() -> None:
            if isinstance(value, list):
                targets = [
                    self._resolve_reference(*parse_attribute_reference(v), where=path)
                    for v in value
                ]
            else:
                targets = self._resolve_reference(*parse_attribute_reference(value), where=path)
            builder.set_attribute(key, targets)

        self._deferred.append(resolve)

    def _read_scalars(self) -> None:
        """Read every scalar dataset met in the walk at once (concurrent requests)."""
        scalars, self._scalars = self._scalars, []
        if not scalars:
            return

        async def fetch() -> list:
            return await asyncio.gather(*(a._async_array.getitem(()) for _, a in scalars))

        for (builder, array), value in zip(scalars, sync(fetch())):
            if isinstance(value, np.ndarray):
                value = value[()]
            if array.dtype.kind in "OSUT":
                value = str(value)
            builder["data"] = value

    def _read_group(
        self,
        group: Any,
        path: str,
        name: str,
        skip: str | None,
        parent_spec: Any = None,
        attrs: dict | None = None,
    ) -> GroupBuilder:
        builder = GroupBuilder(name, source=self.source)
        builder.location = posixpath.dirname(path) if path != "/" else ""
        attrs = group.attrs.asdict() if attrs is None else attrs
        spec = self._node_spec(attrs, parent_spec, name, group=True)
        for key, value in self._read_attributes(attrs, builder, path, spec).items():
            builder.set_attribute(key, value)
        self._builders_by_path[path] = builder
        for child_name, child in sorted(self._children.get(path.strip("/"), ())):
            child_path = posixpath.join(path, child_name)
            if child_path == skip:
                continue
            if isinstance(child, zarr.Group):
                builder.set_group(self._read_group(child, child_path, child_name, skip, spec))
            else:
                builder.set_dataset(self._read_dataset(child, child_path, child_name, spec))
        links = attrs.get(LINKS_ATTR) or []
        for entry in links:
            self._defer_link(builder, entry, path)
        self._written.set_written(builder)
        return builder

    def _defer_link(self, parent: GroupBuilder, entry: dict, where: str) -> None:
        def resolve() -> None:
            target = self._resolve_reference(
                str(entry.get("source", SAME_FILE)), normalize_path(str(entry["path"])), where=where
            )
            link = LinkBuilder(
                builder=target, name=entry["name"], parent=parent, source=self.source
            )
            link.location = where
            parent.set_link(link)
            self._written.set_written(link)

        self._deferred.append(resolve)

    def _read_dataset(
        self, array: Any, path: str, name: str, parent_spec: Any = None
    ) -> DatasetBuilder:
        attrs_raw = array.attrs.asdict()
        spec = self._node_spec(attrs_raw, parent_spec, name, group=False)
        dtype = array.dtype
        kwargs: dict[str, Any] = {}
        if attrs_raw.get(DTYPE_ATTR) == OBJECT_REFERENCE:
            if array.ndim == 0:
                data = None  # filled by the deferred resolver below
            else:
                data = BuilderZarrReferenceDataset(array, self)
            kwargs["dtype"] = "object"
        elif dtype.kind == "V" and dtype.names:
            table = BuilderZarrTableDataset(array, self, attrs_raw.get(REFERENCE_FIELDS_ATTR) or ())
            data = table
            kwargs["dtype"] = [{"name": n, "dtype": t} for n, t in zip(dtype.names, table.dtype)]
            if array.ndim == 0:  # a 0-d structured array, as h5py reads it; tuple if refs
                data = table[()] if table.reference_fields else np.asarray(array[...])
        elif array.ndim == 0:
            data = None  # read with every other scalar after the walk (_read_scalars)
            kwargs["dtype"] = builder_dtype_name(dtype)
        elif dtype.kind in "OSUT":
            data = ZarrTextDataset.wrap(array, io=self)
            kwargs["dtype"] = "utf"
        else:
            data = ZarrArrayView.wrap(array, io=self)
            kwargs["dtype"] = dtype
        builder = DatasetBuilder(
            name, data=data, source=self.source, maxshape=tuple(array.shape), **kwargs
        )
        builder.location = posixpath.dirname(path)
        if data is None and array.ndim == 0 and "dtype" in kwargs and kwargs["dtype"] != "object":
            self._scalars.append((builder, array))
        for key, value in self._read_attributes(attrs_raw, builder, path, spec).items():
            builder.set_attribute(key, value)
        if attrs_raw.get(DTYPE_ATTR) == OBJECT_REFERENCE and array.ndim == 0:
            target_path = str(array[()])

            def resolve() -> None:
                builder["data"] = ReferenceBuilder(
                    self._resolve_reference(SAME_FILE, target_path, where=path)
                )

            self._deferred.append(resolve)
        self._builders_by_path[path] = builder
        self._written.set_written(builder)
        return builder


def _children_by_parent(root: zarr.Group) -> dict[str, list[tuple[str, Any]]]:
    """Every node under ``root`` in one call, as ``{parent path: [(name, node), ...]}``.

    With consolidated metadata this reads nothing; without, zarr lists the groups concurrently.
    Paths are relative to the root (``""`` for the root itself).
    """
    out: dict[str, list[tuple[str, Any]]] = {}
    for rel, node in root.members(max_depth=None):
        parent, _, name = rel.rpartition("/")
        out.setdefault(parent, []).append((name, node))
    return out


def _typed_attribute(spec: Any, key: str, value: Any) -> Any:
    """Give a numeric JSON attribute value the dtype its spec declares (JSON keeps no width).

    ``uint32``/``uint8``/``float32`` attributes come back from JSON as Python ints and floats;
    HDF5 keeps their width, and pynwb's validator checks it, so the spec's dtype is restored.
    """
    if spec is None or isinstance(value, (str, bool, dict)) or value is None:
        return value
    try:
        attr_spec = spec.get_attribute(key)
    except AttributeError:
        return value
    dtype = getattr(attr_spec, "dtype", None)
    np_dtype = SPEC_DTYPES.get(dtype) if isinstance(dtype, str) else None
    if np_dtype is None or np_dtype is str:
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or (arr.dtype.kind == "f" and np.dtype(np_dtype).kind in "iu"):
        return value
    arr = arr.astype(np_dtype)
    return arr[()] if arr.ndim == 0 else arr


def _is_numeric_list(value: list) -> bool:
    flat = value
    while flat and isinstance(flat[0], list):
        flat = flat[0]
    return bool(flat) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat)


class HDF5LinkSource:
    """An HDF5 file that external links of a Zarr store point into.

    Opens the file read-only with hdmf's HDF5IO on first use and serves builders by path,
    so a linked dataset reads lazily as an ``h5py.Dataset``.

    Parameters
    ----------
    path : str
        Absolute path of the HDF5 file.
    manager : hdmf.build.BuildManager
        The build manager of the Zarr store's ZarrIO (shared so containers resolve once).
    """

    def __init__(self, path: str, manager: Any) -> None:
        from hdmf.backends.hdf5 import HDF5IO

        self.path = path
        self._io = HDF5IO(path, mode="r", manager=manager)
        self._root = None

    def get_builder_at(self, path: str) -> Any:
        """Return the builder at ``path`` (``/a/b/c``) inside the HDF5 file.

        Raises
        ------
        KeyError
            If nothing exists at ``path``.
        """
        if self._root is None:
            self._root = self._io.read_builder()
        key = normalize_path(path).strip("/")
        if not key:
            return self._root
        try:
            return self._root[key]
        except KeyError:
            raise KeyError(
                f"{self.path}: a link points at {path!r}, which does not exist"
            ) from None

    def close(self) -> None:
        """Close the HDF5 file."""
        self._io.close()
