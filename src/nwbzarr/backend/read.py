"""Zarr nodes -> HDMF builders (read side of :class:`nwbzarr.ZarrIO`).

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
without end).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import posixpath
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.container import Container

from .. import limits
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
    builder_path,
    normalize_path,
    parse_attribute_reference,
    parse_links,
)
from ..errors import LinkCycleError, MalformedAttributeError, NotNWBStoreError
from ..storage.resolve import join_location
from .lazy import (
    BuilderZarrReferenceDataset,
    BuilderZarrTableDataset,
    ZarrArrayView,
    ZarrCompoundDataset,
    ZarrTextDataset,
    checked_read,
)

#: Links being followed in this thread, outermost first: ``(store key, link path)`` pairs.
_LINK_STACK: contextvars.ContextVar[tuple] = contextvars.ContextVar("nwbzarr_links", default=())
#: Stores whose ``read_builder`` is under way in this thread: ``{store key: ZarrIO}``. An
#: external link back into one of them is served by that object (its walk is complete, its
#: links are being resolved) instead of opening and reading the store again, endlessly.
_READING: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "nwbzarr_reading", default=None
)


def _store_key(io: Any) -> str:
    """The identity of the store or file an I/O object reads (real path, or URL)."""
    where = str(getattr(io, "abspath", None) or getattr(io, "path", None) or id(io))
    return where if "://" in where else os.path.realpath(where)


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

    #: Refuse a store whose root group has no ``neurodata_type``/``data_type`` (NWB files).
    _typed_root_required = False

    def _root_is_typed(self) -> bool:
        """Whether the root group names a data type (holds an HDMF container)."""
        attrs = self._root.attrs
        return "neurodata_type" in attrs or "data_type" in attrs

    def read_builder(self) -> GroupBuilder:
        """Read the whole store into a :class:`hdmf.build.GroupBuilder` tree (data lazy).

        Returns
        -------
        hdmf.build.GroupBuilder
            The root builder, named ``"root"``.

        Raises
        ------
        NotNWBStoreError
            If the root group carries no ``neurodata_type``/``data_type`` attribute and this
            IO reads NWB files only (:class:`nwbzarr.NWBZarrIO`); a plain :class:`ZarrIO`
            reads any group (an HDMF file written with ``write_builder`` may have an untyped
            root).
        """
        self._check_open("read")
        if self._root_builder is not None:
            return self._root_builder
        root = self._root
        attrs = root.attrs.asdict()
        if self._typed_root_required and not self._root_is_typed():
            raise NotNWBStoreError(
                f"{self.source}: the Zarr store opens but its root group has no "
                "'neurodata_type' attribute, so it is not an NWB/HDMF file; write one with "
                "NWBZarrIO(path, mode='w').write(nwbfile)"
            )
        self._builders_by_path = {}
        self._links_by_path: dict[str, tuple[str, str]] = {}
        self._deferred = []
        self._scalars = []
        self._children = _children_by_parent(root)
        skip = specloc_path(attrs)
        builder = self._read_group(root, "/", ROOT_NAME, skip, attrs=attrs)
        self._read_scalars()
        self._children = {}
        with self._reading():
            for resolve in self._deferred:
                resolve()
        self._deferred = []
        _check_group_cycles(builder, str(self.source))
        self._root_builder = builder
        return builder

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Mark this store as being read (links into it are served from the finished walk)."""
        self._walk_done = True
        token = _READING.set({**(_READING.get() or {}), _store_key(self): self})
        try:
            yield
        finally:
            _READING.reset(token)
            self._walk_done = False

    def get_builder_at(self, path: str) -> Any:
        """Return the builder read at an absolute path (reads the store if needed).

        Raises
        ------
        KeyError
            If no object exists at ``path``.
        """
        if self._root_builder is None and not getattr(self, "_walk_done", False):
            self.read_builder()
        path = normalize_path(path)
        found = self._lookup(path, where=path)
        if found is None:
            raise KeyError(f"{self.source}: no object at {path!r} (broken reference or link)")
        return found

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

    def resolve_ref(self, zarr_ref: dict) -> tuple[str, zarr.Group | zarr.Array]:
        """Resolve an object reference to the Zarr node it names, as hdmf-zarr does.

        Parameters
        ----------
        zarr_ref : dict
            The reference's JSON object (docs/storage.md): ``source`` (``"."`` for this
            store, else a store path relative to this one, checked by the access policy) and
            ``path`` (None or ``"/"`` for the root).

        Returns
        -------
        tuple of (str, zarr.Group or zarr.Array)
            The node's name (``"root"`` for the root group) and the node.

        Raises
        ------
        ValueError
            If no node exists at ``path`` (a ``KeyError`` subclass is not used, so that
            hdmf-zarr's callers catching ``ValueError`` work).
        UntrustedReferenceError
            If ``source`` names a store the access policy refuses.
        """
        self._check_open("resolve a reference")
        source = zarr_ref.get("source") or "."
        path = zarr_ref.get("path") or "/"
        where = f"{path}" if source == "." else f"{source}:{path}"
        root = self._root if source == "." else self._external_io(source, where)._root
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
        io = self._external_io(source, where)
        io = (_READING.get() or {}).get(_store_key(io), io)  # a store being read: no second read
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
        links = getattr(self, "_links_by_path", {})
        parts = path.strip("/").split("/")
        for i in range(len(parts), 0, -1):
            prefix = "/" + "/".join(parts[:i])
            if prefix in self._builders_by_path:
                return None  # a real node: nothing under it by that name
            if prefix in links:
                source, target = links[prefix]
                rest = "/".join(parts[i:])
                return self._follow(prefix, source, posixpath.join(target, rest), where)
        return None

    def _follow(self, link_path: str, source: str, target: str, where: str) -> Any:
        key = (_store_key(self), link_path)
        stack = _LINK_STACK.get()
        if key in stack:
            raise LinkCycleError(
                f"{self.source}: {where}: links form a cycle: {_cycle_text(stack, key)}; "
                "remove or retarget one of these links"
            )
        if len(stack) >= limits.current().max_link_depth:
            raise limits.exceeded(
                f"{self.source}: {where}: a chain of {len(stack) + 1} links "
                f"({_cycle_text(stack[:2], key, close=False, gap=len(stack) > 2)})",
                "max_link_depth",
                len(stack) + 1,
            )
        token = _LINK_STACK.set((*stack, key))
        try:
            return self._resolve_reference(source, target, where=link_path)
        finally:
            _LINK_STACK.reset(token)

    def _external_io(self, source: str, where: str) -> Any:
        # a link's source is untrusted input: one access policy (nwbzarr.virtual.policy)
        from ..storage.resolve import is_remote_url
        from ..virtual.policy import AccessPolicy

        base = self._store_root()
        own_dir = base  # a file (HDF5, reference JSON): its own directory
        if getattr(self, "_virtual_kind", None) is None:  # a directory store: its siblings
            own_dir = join_location(base, "..") if is_remote_url(base) else os.path.dirname(base)
        policy = getattr(self, "_access_policy", None) or AccessPolicy()
        target = policy.check_link(str(self.source), base, own_dir, where, source)
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
            values = [checked_read(array, (), self) for _, array in scalars]
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
        attrs_raw = array.attrs.asdict()
        spec = self._node_spec(attrs_raw, parent_spec, name, group=False)
        dtype = array.dtype
        kwargs: dict[str, Any] = {}
        _check_dataset_attributes(attrs_raw, dtype, f"{self.source}: {path}")
        if attrs_raw.get(DTYPE_ATTR) == OBJECT_REFERENCE:
            if array.ndim == 0:
                data = None  # filled by the deferred resolver below
            else:
                data = BuilderZarrReferenceDataset(array, self)
            kwargs["dtype"] = "object"
        elif dtype.kind == "V" and dtype.names:
            ref_fields = attrs_raw.get(REFERENCE_FIELDS_ATTR) or ()
            # with references: resolved on access; without: a structured view, as h5py reads it
            table = (BuilderZarrTableDataset if ref_fields else ZarrCompoundDataset)(
                array, self, ref_fields
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
            data = ZarrTextDataset.wrap(array, io=self)
            kwargs["dtype"] = "utf"
        else:
            data = ZarrArrayView.wrap(array, io=self)
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
            target_path = str(checked_read(array, (), self))

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


def _cycle_text(stack: tuple, key: tuple, close: bool = True, gap: bool = False) -> str:
    """``/a -> /b -> /a`` for the links of ``stack`` (from ``key``'s first occurrence on if
    ``close``), then ``key``; ``gap`` puts ``...`` before ``key`` (links left out)."""
    chain = list(stack[stack.index(key) :]) if close and key in stack else list(stack)
    chain.append(key)
    one_store = len({store for store, _ in chain}) == 1
    names = [path if one_store else f"{store}:{path}" for store, path in chain]
    if gap:
        names.insert(-1, "...")
    return " -> ".join(names)


def _check_group_cycles(root: GroupBuilder, source: str) -> None:
    """Raise LinkCycleError if a link makes a group contain itself (directly or via others).

    HDMF and pynwb walk builders recursively through links (``pynwb`` migrations, export,
    validation), so a link to a group's own ancestor would recurse without end.
    """
    state: dict[int, int] = {id(root): 1}  # id(builder) -> 1 on the current path, 2 done
    trail: list[str] = [_label(root, source)]  # the current path, links included
    stack: list[tuple[GroupBuilder, Iterator, int]] = [(root, _group_edges(root), 1)]
    while stack:
        group, edges, pushed = stack[-1]
        for label, child in edges:
            mark = state.get(id(child))
            if mark == 2:
                continue
            start = _label(child, source)
            if mark == 1:
                cycle = trail[trail.index(start) :] if start in trail else trail
                raise LinkCycleError(
                    f"{source}: links form a cycle: {' -> '.join([*cycle, label, start])}: "
                    "a group would contain itself; remove or retarget the link"
                )
            state[id(child)] = 1
            names = [label, start] if label else [start]
            trail.extend(names)
            stack.append((child, _group_edges(child), len(names)))
            break
        else:
            stack.pop()
            state[id(group)] = 2
            del trail[len(trail) - pushed :]


def _label(builder: Any, source: str) -> str:
    path = builder_path(builder)
    own = getattr(builder, "source", None)
    return path if own in (None, source) else f"{own}:{path}"


def _group_edges(group: GroupBuilder) -> Iterator[tuple[str, GroupBuilder]]:
    """Sub-groups (label ``""``) and the groups links point at (label ``"<path> (link)"``)."""
    for child in group.groups.values():
        yield "", child
    for link in group.links.values():
        if isinstance(link.builder, GroupBuilder):
            yield f"{builder_path(group).rstrip('/')}/{link.name} (link)", link.builder


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

        from ..virtual.policy import verify_opened

        self.path = path
        self._io = HDF5IO(path, mode="r", manager=manager)
        try:  # the file h5py opened must be the one the access policy checked
            verify_opened(path, self._io._file.id.get_vfd_handle())
        except BaseException:
            self._io.close()
            raise
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
