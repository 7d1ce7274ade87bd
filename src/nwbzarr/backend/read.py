"""Zarr nodes -> HDMF builders: :class:`Reader`, the read side of :class:`nwbzarr.ZarrIO`.

The tree is walked once from consolidated metadata when present (all nodes listed in one call);
scalar datasets, which HDMF needs as values, are read together after the walk in one concurrent
batch. Numeric arrays are handed to HDMF as the lazy ``zarr.Array`` itself; text, reference
and compound arrays get the lazy views of :mod:`nwbzarr.backend.lazy`. Links and attribute
references are resolved after the walk, so a target may appear anywhere in the tree.

Store contents are untrusted: a malformed ``_LINKS``, ``_DTYPE``, ``_REFERENCE_FIELDS`` or
``_REFERENCE`` raises :class:`~nwbzarr.errors.MalformedAttributeError` naming the node; links
are followed through chains (a link to a link, within and across stores) up to
``limits.max_link_depth``, and a chain or group that comes back to itself raises
:class:`~nwbzarr.errors.LinkCycleError` listing the cycle (HDMF would otherwise recurse
without end). The stores and files links lead into are :mod:`nwbzarr.backend.linked`'s.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

import numpy as np
import zarr
from hdmf.backends.utils import WriteStatusTracker
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.container import Container

from ..compat import read_scalars, sync
from ..conventions.attributes import (
    DTYPE_ATTR,
    LINKS_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
    RESERVED_ATTRS,
    ROOT_NAME,
    SPECLOC_ATTR,
    is_dtype_note,
)
from ..conventions.dtypes import SPEC_DTYPES, builder_dtype_name
from ..conventions.references import (
    SAME_FILE,
    normalize_path,
    parse_attribute_reference,
    parse_links,
)
from ..errors import MalformedAttributeError, NotNWBStoreError
from .lazy import (
    BuilderZarrReferenceDataset,
    BuilderZarrTableDataset,
    ZarrArrayView,
    ZarrCompoundDataset,
    ZarrTextDataset,
    checked_read,
)
from .linked import (
    LinkedSources,
    check_group_cycles,
    following_link,
    reading_store,
    serving_reader,
)

__all__ = ["Reader", "root_is_typed", "specloc_path"]


def specloc_path(attrs: dict) -> str | None:
    """Return the absolute path of the spec cache named by a root ``.specloc`` attribute."""
    value = attrs.get(SPECLOC_ATTR)
    if value is None:
        return None
    ref = parse_attribute_reference(value)
    if ref is not None:
        return ref[1]
    return normalize_path(str(value))


def root_is_typed(root: zarr.Group) -> bool:
    """Whether a root group names a data type (holds an HDMF container).

    Parameters
    ----------
    root : zarr.Group
        The root group of a store.

    Returns
    -------
    bool
        True if it has a ``neurodata_type`` or ``data_type`` attribute.
    """
    attrs = root.attrs
    return "neurodata_type" in attrs or "data_type" in attrs


class Reader:
    """Builds (once) and serves the builder tree of an open Zarr store.

    Holds what reading needs: the builders read, by path; the links of the store, by path;
    the link and reference resolutions pending until the walk ends; the linked stores opened
    (:class:`~nwbzarr.backend.linked.LinkedSources`).

    Parameters
    ----------
    root : zarr.Group
        The open root group.
    owner : Any
        The I/O object the lazy views of datasets read and grow through (a
        :class:`~nwbzarr.ZarrIO`), and that serves links back into this store while its read
        is under way.
    manager : hdmf.build.BuildManager
        Build manager (specs of typed nodes; containers).
    written : hdmf.backends.utils.WriteStatusTracker
        The written-state tracker of the I/O object; every builder read is marked in it.
    source : str or None
        The builders' ``source`` (the file path or URL), also named in messages.
    key : str
        The store's identity (:func:`~nwbzarr.backend.linked.store_key`).
    linked : LinkedSources
        The stores and files external links of this store point into.
    typed_root_required : bool
        Refuse a store whose root group names no data type (NWB files).
    check_dataset : callable, optional
        ``check_dataset(array, path)`` called before each array is read (it may raise).
    """

    def __init__(
        self,
        root: zarr.Group,
        *,
        owner: Any,
        manager: Any,
        written: WriteStatusTracker,
        source: str | None,
        key: str,
        linked: LinkedSources,
        typed_root_required: bool = False,
        check_dataset: Callable[[zarr.Array, str], None] | None = None,
    ) -> None:
        self.root = root
        self.owner = owner
        self.manager = manager
        self.source = source
        self.key = key
        self.linked = linked
        self.typed_root_required = typed_root_required
        self._written = written
        self._check_dataset = check_dataset
        self._root_builder: GroupBuilder | None = None
        self._walk_done = False
        self._builders_by_path: dict[str, Any] = {}
        self._links_by_path: dict[str, tuple[str, str]] = {}
        self._deferred: list[Callable[[], None]] = []
        self._scalars: list[tuple[DatasetBuilder, zarr.Array]] = []
        self._children: dict[str, list[tuple[str, Any]]] = {}

    # -- state --------------------------------------------------------------------------------
    def reopen(self, root: zarr.Group) -> None:
        """Serve the same builders from ``root``, the store opened again after a close.

        Parameters
        ----------
        root : zarr.Group
            The new open root group.
        """
        self.root = root

    @property
    def root_builder(self) -> GroupBuilder | None:
        """The root builder once :meth:`read_builder` has completed, else None."""
        return self._root_builder

    @property
    def walked(self) -> bool:
        """True once the tree is read (or while its links are being resolved)."""
        return self._root_builder is not None or self._walk_done

    def forget(self) -> None:
        """Drop the root builder read: the next :meth:`read_builder` walks the store again."""
        self._root_builder = None

    # -- read ---------------------------------------------------------------------------------
    def read_builder(self) -> GroupBuilder:
        """Read the whole store into a :class:`hdmf.build.GroupBuilder` tree (data lazy).

        Returns
        -------
        hdmf.build.GroupBuilder
            The root builder, named ``"root"`` (the same object on later calls).

        Raises
        ------
        NotNWBStoreError
            If ``typed_root_required`` and the root group carries no
            ``neurodata_type``/``data_type`` attribute.
        LinkCycleError
            If links form a cycle.
        """
        if self._root_builder is not None:
            return self._root_builder
        root = self.root
        attrs = root.attrs.asdict()
        if self.typed_root_required and not root_is_typed(root):
            raise NotNWBStoreError(
                f"{self.source}: the Zarr store opens but its root group has no "
                "'neurodata_type' attribute, so it is not an NWB/HDMF file; write one with "
                "NWBZarrIO(path, mode='w').write(nwbfile)"
            )
        self._builders_by_path = {}
        self._links_by_path = {}
        self._deferred = []
        self._scalars = []
        self._children = _children_by_parent(root)
        skip = specloc_path(attrs)
        builder = self._read_group(root, "/", ROOT_NAME, skip, attrs=attrs)
        self._read_scalars()
        self._children = {}
        self._walk_done = True  # links into this store are served from the finished walk
        try:
            with reading_store(self.key, self.owner):
                for resolve in self._deferred:
                    resolve()
        finally:
            self._walk_done = False
        self._deferred = []
        check_group_cycles(builder, str(self.source))
        self._root_builder = builder
        return builder

    # -- lookups ------------------------------------------------------------------------------
    def builder_at(self, path: str) -> Any:
        """Return the builder read at an absolute path (following links on the way).

        Call :meth:`read_builder` first (see :attr:`walked`).

        Raises
        ------
        KeyError
            If no object exists at ``path``.
        """
        path = normalize_path(path)
        found = self._lookup(path, where=path)
        if found is None:
            raise KeyError(f"{self.source}: no object at {path!r} (broken reference or link)")
        return found

    def container_at(self, path: str) -> Container:
        """Return the container built from the builder at an absolute path (see
        :meth:`builder_at`)."""
        return self.manager.construct(self.builder_at(path))

    def resolve_ref(self, zarr_ref: dict) -> tuple[str, zarr.Group | zarr.Array]:
        """Resolve an object reference to the Zarr node it names, as hdmf-zarr does.

        Parameters
        ----------
        zarr_ref : dict
            The reference's JSON object: ``source`` (``"."`` for this store, else a store
            path relative to this one, checked by the access policy) and ``path``.

        Returns
        -------
        tuple of (str, zarr.Group or zarr.Array)
            The node's name (``"root"`` for the root group) and the node.

        Raises
        ------
        ValueError
            If no node exists at ``path``.
        UntrustedReferenceError
            If ``source`` names a store the access policy refuses.
        """
        source = zarr_ref.get("source") or "."
        path = zarr_ref.get("path") or "/"
        where = f"{path}" if source == "." else f"{source}:{path}"
        if source == ".":
            root = self.root
        else:  # a linked ZarrIO's open root group
            root = getattr(self.linked.get(source, where), "file", None)
        key = normalize_path(path).strip("/")
        if not key:
            return ROOT_NAME, root
        try:
            node = root[key]
        except KeyError:
            raise ValueError(
                f"{self.source}: Found bad link to object /{key} in store {source!r}: no such "
                "group or array"
            ) from None
        return key.rsplit("/", 1)[-1], node

    def _resolve_reference(self, source: str, path: str, where: str) -> Any:
        if source in (".", "", None):
            found = self._lookup(normalize_path(path), where)
            if found is None:
                raise KeyError(
                    f"{self.source}: {where} refers to {path!r}, which does not exist in the store"
                )
            return found
        io = serving_reader(self.linked.get(source, where))  # a store being read: no 2nd read
        return io.get_builder_at(path)

    def _lookup(self, path: str, where: str) -> Any:
        """The builder at ``path``, following links of this store on the way (None if absent).

        A link whose target is itself a link, or a path through a linked group, is followed
        as HDF5 would; a chain that comes back to a link already being followed raises
        :class:`~nwbzarr.errors.LinkCycleError`, one longer than ``limits.max_link_depth``
        raises :class:`~nwbzarr.errors.LimitExceededError`.
        """
        found = self._builders_by_path.get(path)
        if found is not None:
            return found
        links = self._links_by_path
        parts = path.strip("/").split("/")
        for i in range(len(parts), 0, -1):
            prefix = "/" + "/".join(parts[:i])
            if prefix in self._builders_by_path:
                return None  # a real node: nothing under it by that name
            if prefix in links:
                source, target = links[prefix]
                rest = "/".join(parts[i:])
                with following_link((self.key, prefix), str(self.source), where):
                    return self._resolve_reference(
                        source, posixpath.join(target, rest), where=prefix
                    )
        return None

    # -- tree walk ----------------------------------------------------------------------------
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
            where = f"{self.source}: {path}: attribute {key!r}"
            if isinstance(value, tuple):  # set by write_attributes on a node still open
                value = list(value)
            if parse_attribute_reference(value, where) is not None:
                self._defer_attribute(builder, key, value, path)
                continue
            if (
                isinstance(value, list)
                and value
                and all(parse_attribute_reference(v, where) is not None for v in value)
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

        try:
            values = sync(read_scalars([a for _, a in scalars]))
        except Exception:  # noqa: BLE001 - read again one by one: names the array and chunk
            values = [checked_read(array, (), self.owner) for _, array in scalars]
        for (builder, array), value in zip(scalars, values):
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
        for link_name, source, target in parse_links(
            attrs.get(LINKS_ATTR), f"{self.source}: {path}"
        ):
            self._links_by_path[posixpath.join(path, link_name)] = (source, target)
            self._defer_link(builder, link_name, path)
        self._written.set_written(builder)
        return builder

    def _defer_link(self, parent: GroupBuilder, name: str, where: str) -> None:
        def resolve() -> None:
            link_path = posixpath.join(where, name)
            target = self._lookup(link_path, where=link_path)
            if target is None:
                source, path = self._links_by_path[link_path]
                raise KeyError(
                    f"{self.source}: {link_path} links to {path!r}"
                    f"{'' if source == SAME_FILE else f' in {source!r}'}, which does not exist"
                )
            link = LinkBuilder(builder=target, name=name, parent=parent, source=self.source)
            link.location = where
            parent.set_link(link)
            self._written.set_written(link)

        self._deferred.append(resolve)

    def _read_dataset(
        self, array: Any, path: str, name: str, parent_spec: Any = None
    ) -> DatasetBuilder:
        if self._check_dataset is not None:
            self._check_dataset(array, path)
        attrs_raw = array.attrs.asdict()
        spec = self._node_spec(attrs_raw, parent_spec, name, group=False)
        dtype = array.dtype
        kwargs: dict[str, Any] = {}
        _check_dataset_attributes(attrs_raw, dtype, f"{self.source}: {path}")
        if attrs_raw.get(DTYPE_ATTR) == OBJECT_REFERENCE:
            if array.ndim == 0:
                data = None  # filled by the deferred resolver below
            else:
                data = BuilderZarrReferenceDataset(array, self.owner)
            kwargs["dtype"] = "object"
        elif dtype.kind == "V" and dtype.names:
            ref_fields = attrs_raw.get(REFERENCE_FIELDS_ATTR) or ()
            # with references: resolved on access; without: a structured view, as h5py reads it
            table = (BuilderZarrTableDataset if ref_fields else ZarrCompoundDataset)(
                array, self.owner, ref_fields
            )
            data = table
            kwargs["dtype"] = [
                {"name": n, "dtype": t} for n, t in zip(dtype.names, table.field_dtypes)
            ]
            if array.ndim == 0 and ref_fields:
                data = None  # a numpy.void whose references resolve after the walk (below)
                self._deferred.append(lambda: builder.__setitem__("data", table[()]))
            elif array.ndim == 0:  # a 0-d structured array, as h5py reads it
                data = np.asarray(array[...])
        elif array.ndim == 0:
            data = None  # read with every other scalar after the walk (_read_scalars)
            kwargs["dtype"] = builder_dtype_name(dtype)
        elif dtype.kind in "OSUT":
            data = ZarrTextDataset.wrap(array, io=self.owner)
            kwargs["dtype"] = "utf"
        else:
            data = ZarrArrayView.wrap(array, io=self.owner)
            kwargs["dtype"] = dtype
        builder = DatasetBuilder(
            name, data=data, source=self.source, maxshape=tuple(array.shape), **kwargs
        )
        builder.location = posixpath.dirname(path)
        if data is None and array.ndim == 0 and isinstance(kwargs.get("dtype"), (str, np.dtype)):
            if kwargs["dtype"] != "object":
                self._scalars.append((builder, array))
        for key, value in self._read_attributes(attrs_raw, builder, path, spec).items():
            builder.set_attribute(key, value)
        if attrs_raw.get(DTYPE_ATTR) == OBJECT_REFERENCE and array.ndim == 0:
            target_path = str(checked_read(array, (), self.owner))

            def resolve() -> None:
                builder["data"] = ReferenceBuilder(
                    self._resolve_reference(SAME_FILE, target_path, where=path)
                )

            self._deferred.append(resolve)
        self._builders_by_path[path] = builder
        self._written.set_written(builder)
        return builder


def _check_dataset_attributes(attrs: dict, dtype: Any, where: str) -> None:
    """Refuse a malformed ``_DTYPE`` or ``_REFERENCE_FIELDS`` on an array.

    Raises
    ------
    MalformedAttributeError
        ``_DTYPE`` is present but is neither ``"object_reference"`` on a text array nor a type
        name (hdmf-zarr 0.14 notes ``"int64"``, ``"str"``, ... on plain arrays), or
        ``_REFERENCE_FIELDS`` is not a list of field names of the array's compound dtype.
    """
    if DTYPE_ATTR in attrs:
        value = attrs[DTYPE_ATTR]
        if is_dtype_note(value):
            pass  # hdmf-zarr's note of the array's own type: the zarr data type says it
        elif value != OBJECT_REFERENCE or dtype.kind not in "OSUT":
            raise MalformedAttributeError(
                f"{where}: attribute {DTYPE_ATTR} must be {OBJECT_REFERENCE!r} on an array of "
                f"text (target paths) or name a type (int64, str); it is {value!r} on an array "
                f"of {dtype}; remove the attribute or correct it"
            )
    if REFERENCE_FIELDS_ATTR in attrs:
        value = attrs[REFERENCE_FIELDS_ATTR]
        names = dtype.names or ()
        if not (isinstance(value, list) and all(isinstance(v, str) and v in names for v in value)):
            raise MalformedAttributeError(
                f"{where}: attribute {REFERENCE_FIELDS_ATTR} must be a list of field names of "
                f"the array's compound dtype {list(names)}; it is {value!r}"
            )


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
    A single value where the spec declares an array becomes a one-element array: kerchunk
    writes a one-element HDF5 array attribute as its element (``starting_frame: 0``).
    """
    if spec is None or isinstance(value, dict) or value is None:
        return value
    try:
        attr_spec = spec.get_attribute(key)
    except AttributeError:
        return value
    if getattr(attr_spec, "shape", None) is not None and isinstance(value, (str, int, float)):
        value = np.array([value], dtype=object if isinstance(value, str) else None)
    if isinstance(value, (str, bool)):
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
