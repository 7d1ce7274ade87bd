"""HDMF builders -> Zarr nodes (write side of :class:`nwbzarr.ZarrIO`).

Every group and array is created with its final attributes in one metadata write: object
references are stored as target paths, which are known from the builder tree before the
target is written, so no second pass over the store is needed. Large arrays are copied block
by block along the leading dimension, one shard row at a time, so memory stays bounded by the
shard size whatever the source size.
"""

from __future__ import annotations

import datetime
import math
import os
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.container import Container
from hdmf.data_utils import AbstractDataChunkIterator, DataIO
from hdmf.query import HDMFDataset

from ..conventions.attributes import (
    DTYPE_ATTR,
    LINKS_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
    to_json_value,
)
from ..conventions.dtypes import (
    compound_fields,
    compound_numpy_dtype,
    is_reference_dtype,
    is_region_reference_dtype,
    numpy_dtype_for,
    text_value,
)
from ..conventions.layout import choose_chunks, choose_shards, compressors_for
from ..conventions.references import SAME_FILE, attribute_reference, builder_path, link_entry
from ..errors import UnsupportedDataError
from .dataio import storage_settings

#: Bytes per element assumed for variable-length text when sizing chunks.
TEXT_ITEMSIZE = 16


class WriteMixin:
    """Writes builder trees into a Zarr group; mixed into :class:`nwbzarr.ZarrIO`."""

    #: Optional callable receiving the number of uncompressed bytes written per block.
    progress = None
    #: Path of the file being exported during :meth:`write_builder` (None outside export).
    _export_source = None

    # -- entry points HDMF calls ------------------------------------------------------------
    def write_builder(
        self,
        builder: GroupBuilder,
        link_data: bool = True,
        exhaust_dci: bool = True,
        export_source: str | None = None,
        consolidate_metadata: bool = True,
        **kwargs: Any,
    ) -> None:
        """Write a root :class:`hdmf.build.GroupBuilder` into the open store.

        Parameters
        ----------
        builder : hdmf.build.GroupBuilder
            The file's root builder.
        link_data : bool
            Link (True) or copy (False) arrays that live in another Zarr store.
        exhaust_dci : bool
            Drain each ``AbstractDataChunkIterator`` as it is met (True) or all of them
            round-robin at the end (False).
        export_source : str, optional
            Path of the file being exported (set by :meth:`export`); builders from it are
            written as if they belonged to this store.
        consolidate_metadata : bool
            Refresh consolidated metadata when the store is closed.
        **kwargs
            Accepted for compatibility with ``HDF5IO.write_builder`` (``expandable``, ...).

        Raises
        ------
        ReadOnlyError
            If the store was opened read-only.
        """
        self._check_writable()
        self._export_source = export_source
        self._consolidate_on_close = consolidate_metadata
        self._begin_write()
        opts = dict(link_data=link_data, exhaust_dci=exhaust_dci, export_source=export_source)
        root = self._root
        for sub in builder.groups.values():
            self.write_group(root, sub, **opts)
        for sub in builder.datasets.values():
            self.write_dataset(root, sub, **opts)
        self._dci_queue_exhaust()
        attrs = self._encode_attributes(builder.attributes, "/")
        links = [self._link_json(lb, export_source) for lb in builder.links.values()]
        if links or LINKS_ATTR in root.attrs:
            attrs[LINKS_ATTR] = links
        self._update_attributes(root, attrs)
        self._written.set_written(builder)

    def write_group(
        self,
        parent: zarr.Group,
        builder: GroupBuilder,
        link_data: bool = True,
        exhaust_dci: bool = True,
        export_source: str | None = None,
        **kwargs: Any,
    ) -> zarr.Group:
        """Create (or, in append modes, update) the Zarr group for a group builder.

        Returns
        -------
        zarr.Group
            The group written.
        """
        path = builder_path(builder)
        attrs = self._encode_attributes(builder.attributes, path)
        links = [self._link_json(lb, export_source) for lb in builder.links.values()]
        if links:
            attrs[LINKS_ATTR] = links
        if self.get_written(builder) and builder.name in parent:
            group = parent[builder.name]
            self._update_attributes(group, attrs)
        else:
            group = parent.create_group(builder.name, attributes=attrs)
        opts = dict(link_data=link_data, exhaust_dci=exhaust_dci, export_source=export_source)
        for sub in builder.groups.values():
            self.write_group(group, sub, **opts)
        for sub in builder.datasets.values():
            self.write_dataset(group, sub, **opts)
        for lb in builder.links.values():
            self._written.set_written(lb)
        self._written.set_written(builder)
        return group

    def write_attributes(self, obj: zarr.Group | zarr.Array, attributes: dict) -> None:
        """Encode HDMF attribute values (references included) and write them onto ``obj``."""
        self._update_attributes(obj, self._encode_attributes(attributes, obj.path or "/"))

    def write_link(
        self, parent: zarr.Group, builder: LinkBuilder, export_source: str | None = None
    ) -> dict:
        """Add one soft or external link to ``parent``'s ``_LINKS`` attribute.

        Returns
        -------
        dict
            The ``{"name", "source", "path"}`` entry written.
        """
        entry = self._link_json(builder, export_source)
        links = [e for e in parent.attrs.get(LINKS_ATTR, []) if e.get("name") != entry["name"]]
        parent.attrs.update({LINKS_ATTR: links + [entry]})
        self._written.set_written(builder)
        return entry

    def write_dataset(
        self,
        parent: zarr.Group,
        builder: DatasetBuilder,
        link_data: bool = True,
        exhaust_dci: bool = True,
        export_source: str | None = None,
        **kwargs: Any,
    ) -> zarr.Array | None:
        """Create the Zarr array for a dataset builder and fill it.

        Returns
        -------
        zarr.Array or None
            The array written, or None if the dataset became a link or was already written.

        Raises
        ------
        UnsupportedDataError
            If the data cannot be stored (region references, unknown types); the message
            names the dataset path.
        """
        if self.get_written(builder):
            return None
        path = builder_path(builder)
        data = builder.data
        settings: dict[str, Any] = {}
        if isinstance(data, DataIO):
            settings = storage_settings(data, path)
            link_data = getattr(data, "link_data", link_data)
            data = data.data if data.valid else None
        attrs = self._encode_attributes(builder.attributes, path)
        labels = getattr(builder, "dimension_labels", None)
        spec_dtype = builder.dtype

        source_array = _unwrap_zarr(data)
        if (
            source_array is not None
            and link_data
            and self._should_link(source_array, export_source)
        ):
            self._add_link(parent, builder.name, source_array)
            self._written.set_written(builder)
            return None

        if is_region_reference_dtype(spec_dtype):
            raise UnsupportedDataError(
                f"{path}: region references cannot be stored in Zarr; store the indices in a "
                "DynamicTableRegion or an integer dataset instead"
            )
        if isinstance(spec_dtype, list):
            array = self._write_compound(
                parent, builder.name, data, spec_dtype, attrs, settings, path
            )
        elif is_reference_dtype(spec_dtype) or _holds_references(data):
            array = self._write_references(parent, builder.name, data, attrs, settings, path)
        elif isinstance(data, AbstractDataChunkIterator):
            array = self._write_iterator(
                parent, builder.name, data, spec_dtype, attrs, settings, labels
            )
            if exhaust_dci:
                self._dci_queue_exhaust()
        elif data is None:
            array = self._write_empty(parent, builder.name, spec_dtype, attrs, settings, path)
        else:
            array = self._write_array(
                parent, builder.name, data, spec_dtype, attrs, settings, labels, path
            )
        self._written.set_written(builder)
        return array

    # -- arrays -------------------------------------------------------------------------------
    def _create_array(
        self,
        parent: zarr.Group,
        name: str,
        shape: tuple,
        dtype: Any,
        attrs: dict,
        settings: dict,
        labels: Any = None,
        layout_shape: tuple | None = None,
    ) -> zarr.Array:
        is_text = dtype is str
        if not is_text and np.dtype(dtype).kind == "O":
            raise UnsupportedDataError(
                f"/{parent.path}/{name}: cannot store Python objects; give the data a numeric, "
                "text or compound dtype"
            )
        itemsize = TEXT_ITEMSIZE if is_text else np.dtype(dtype).itemsize
        layout_shape = tuple(layout_shape or shape)
        chunks = settings.get("chunks")
        if chunks is None or chunks is True:
            chunks = choose_chunks(layout_shape, itemsize, self._chunk_bytes)
        chunks = tuple(max(1, int(c)) for c in chunks)
        shards = settings.get("shards", "auto")
        if shards == "auto":
            shards = (
                None
                if is_text
                else choose_shards(layout_shape, chunks, itemsize, self._shard_bytes)
            )
        compressors = settings.get("compressors")
        if compressors is None:
            compressors = compressors_for(self._codec, dtype)
        kwargs: dict[str, Any] = {}
        if settings.get("filters") is not None:
            kwargs["filters"] = settings["filters"]
        if settings.get("serializer") is not None:
            kwargs["serializer"] = settings["serializer"]
        if settings.get("fillvalue") is not None:
            kwargs["fill_value"] = settings["fillvalue"]
        if labels is not None and len(labels) == len(shape) and len(shape) > 0:
            kwargs["dimension_names"] = [str(x) for x in labels]
        if shape:
            kwargs["chunks"] = chunks
            kwargs["shards"] = shards
        return parent.create_array(
            name,
            shape=shape,
            dtype=str if is_text else dtype,
            compressors=compressors,
            attributes=attrs,
            **kwargs,
        )

    def _write_array(
        self,
        parent: zarr.Group,
        name: str,
        data: Any,
        spec_dtype: Any,
        attrs: dict,
        settings: dict,
        labels: Any,
        path: str,
    ) -> zarr.Array:
        if isinstance(data, (str, bytes)) or np.ndim(data) == 0 and not _is_array_like(data):
            dtype = numpy_dtype_for(spec_dtype, data)
            if isinstance(data, np.ndarray):
                data = data[()]
            array = self._create_array(parent, name, (), dtype, attrs, settings)
            array[()] = text_value(data) if dtype is str else np.asarray(data, dtype=dtype)
            return array
        if isinstance(data, (list, tuple)):
            dtype = numpy_dtype_for(spec_dtype, data)
            values = _text_array(data) if dtype is str else np.asarray(data, dtype=dtype)
            array = self._create_array(parent, name, values.shape, dtype, attrs, settings, labels)
            if values.size:
                array[...] = values
            return array
        if not hasattr(data, "shape"):
            try:
                data = np.asarray(list(data))
            except TypeError as exc:
                raise UnsupportedDataError(
                    f"{path}: cannot store data of type {type(data).__name__}"
                ) from exc
        dtype = numpy_dtype_for(spec_dtype, data)
        shape = tuple(int(s) for s in data.shape)
        array = self._create_array(parent, name, shape, dtype, attrs, settings, labels)
        if math.prod(shape) == 0:
            return array
        self._copy_blocks(array, data, dtype)
        return array

    def _copy_blocks(self, array: zarr.Array, data: Any, dtype: Any) -> None:
        """Copy ``data`` into ``array`` one shard-aligned block of leading rows at a time."""
        outer = array.shards or array.chunks
        step = max(1, int(outer[0])) if outer else 1
        n = array.shape[0]
        for start in range(0, n, step):
            stop = min(n, start + step)
            block = _read_block(data, start, stop)
            values = _text_array(block) if dtype is str else np.asarray(block, dtype=dtype)
            array[start:stop] = values
            if self.progress is not None:
                self.progress(values.nbytes)

    def _write_empty(
        self, parent: zarr.Group, name: str, spec_dtype: Any, attrs: dict, settings: dict, path: str
    ) -> zarr.Array:
        shape = settings.get("shape")
        dtype = settings.get("dtype") or spec_dtype
        if shape is None or dtype is None:
            raise UnsupportedDataError(
                f"{path}: a dataset without data needs a shape and dtype "
                "(wrap it in ZarrDataIO(data=None, shape=..., dtype=...))"
            )
        dtype = numpy_dtype_for(dtype, None)
        return self._create_array(parent, name, tuple(shape), dtype, attrs, settings)

    def _write_iterator(
        self,
        parent: zarr.Group,
        name: str,
        data: AbstractDataChunkIterator,
        spec_dtype: Any,
        attrs: dict,
        settings: dict,
        labels: Any,
    ) -> zarr.Array:
        dtype = numpy_dtype_for(spec_dtype if spec_dtype is not None else data.dtype, None)
        if dtype is not str and data.dtype is not None and spec_dtype is None:
            dtype = np.dtype(data.dtype)
        recommended = tuple(int(s) for s in (data.recommended_data_shape() or ()))
        maxshape = data.maxshape or recommended
        layout = tuple(
            int(m) if m is not None else max(int(i), 1) * 1024
            for m, i in zip(maxshape, recommended)
        )
        # unbounded dimensions start empty and grow with the chunks actually written, so an
        # iterator of unknown length (even an empty one) yields exactly its values
        initial = tuple(0 if m is None else int(i) for m, i in zip(maxshape, recommended))
        chunks = settings.get("chunks") or data.recommended_chunk_shape()
        if chunks is not None:
            settings = {**settings, "chunks": tuple(chunks)}
        array = self._create_array(parent, name, initial, dtype, attrs, settings, labels, layout)
        self._dci_queue.append((array, data, dtype))
        return array

    def _dci_queue_exhaust(self) -> None:
        """Drain queued chunk iterators round-robin, growing arrays as chunks arrive."""
        while self._dci_queue:
            array, data, dtype = self._dci_queue.pop(0)
            try:
                chunk = next(data)
            except StopIteration:
                continue
            bounds = chunk.get_min_bounds()
            shape = tuple(max(int(s), int(b)) for s, b in zip(array.shape, bounds))
            if shape != tuple(array.shape):
                array.resize(shape)
            values = chunk.data
            array[chunk.selection] = (
                _text_array(values) if dtype is str else np.asarray(values, dtype=dtype)
            )
            self._dci_queue.append((array, data, dtype))

    # -- references and compounds ---------------------------------------------------------------
    def _reference_path(self, value: Any, where: str) -> str:
        if isinstance(value, ReferenceBuilder):
            value = value.builder
        if isinstance(value, Container):
            built = self.manager.get_builder(value)
            if built is None:
                built = self.manager.build(value, source=self.source)
            value = built
        if isinstance(value, Builder):
            tsrc = _abspath(value.source)
            local = (None, _abspath(self.source), _abspath(self._export_source))
            if tsrc not in local:
                raise UnsupportedDataError(
                    f"{where}: refers to {builder_path(value)!r} in another file ({value.source}); "
                    "object references must stay inside one file — copy the target into this "
                    "file or use a link"
                )
            return builder_path(value)
        if isinstance(value, h5py.Reference) or isinstance(value, h5py.RegionReference):
            raise UnsupportedDataError(f"{where}: unresolved HDF5 reference cannot be stored")
        raise UnsupportedDataError(
            f"{where}: expected an object reference (builder or container), "
            f"got {type(value).__name__}"
        )

    def _write_references(
        self, parent: zarr.Group, name: str, data: Any, attrs: dict, settings: dict, path: str
    ) -> zarr.Array:
        attrs = {**attrs, DTYPE_ATTR: OBJECT_REFERENCE}
        if isinstance(data, (ReferenceBuilder, Builder, Container)):
            array = self._create_array(parent, name, (), str, attrs, settings)
            array[()] = self._reference_path(data, path)
            return array
        items = list(data) if data is not None else []
        values = np.array([self._reference_path(v, path) for v in items], dtype=object)
        array = self._create_array(parent, name, values.shape, str, attrs, settings)
        if values.size:
            array[...] = values
        return array

    def _write_compound(
        self,
        parent: zarr.Group,
        name: str,
        data: Any,
        spec_dtype: list,
        attrs: dict,
        settings: dict,
        path: str,
    ) -> zarr.Array:
        fields = compound_fields(spec_dtype)
        ref_index = [i for i, (_, fdt) in enumerate(fields) if is_reference_dtype(fdt)]
        scalar = isinstance(data, (tuple, np.void)) or (
            isinstance(data, np.ndarray) and data.ndim == 0
        )
        raw_rows = [data] if scalar else _rows(data)
        rows = []
        for row in raw_rows:
            row = list(row.tolist() if isinstance(row, np.void) else row)
            for i in ref_index:
                row[i] = self._reference_path(row[i], path)
            rows.append(tuple(text_value(v) if _needs_text(v) else v for v in row))
        np_dtype, ref_fields = compound_numpy_dtype(fields, rows)
        values = np.array(rows, dtype=np_dtype)
        if ref_fields:
            attrs = {**attrs, REFERENCE_FIELDS_ATTR: ref_fields}
        shape = () if scalar else values.shape
        array = self._create_array(parent, name, shape, np_dtype, attrs, settings)
        if values.size:
            array[...] = values[0] if scalar else values
        return array

    # -- attributes and links -------------------------------------------------------------------
    def _encode_attributes(self, attributes: dict, path: str) -> dict:
        out = {}
        for key, value in attributes.items():
            where = f"{path}@{key}"
            if isinstance(value, DataIO):
                value = value.data
            if isinstance(value, (ReferenceBuilder, Builder, Container)):
                out[key] = attribute_reference(self._reference_path(value, where))
            elif (
                isinstance(value, (list, tuple))
                and value
                and isinstance(value[0], (ReferenceBuilder, Builder, Container))
            ):
                out[key] = [attribute_reference(self._reference_path(v, where)) for v in value]
            else:
                try:
                    out[key] = to_json_value(value, where)
                except (TypeError, UnicodeDecodeError) as exc:
                    raise UnsupportedDataError(f"{where}: {exc}") from exc
        return out

    def _update_attributes(self, node: zarr.Group | zarr.Array, attrs: dict) -> None:
        """Write only the attributes that differ from what is stored (one metadata write)."""
        current = node.attrs.asdict()
        changed = {k: v for k, v in attrs.items() if k not in current or current[k] != v}
        if changed:
            node.attrs.update(changed)

    def _link_json(self, link: LinkBuilder, export_source: str | None) -> dict:
        target = link.builder
        tsrc = _abspath(target.source)
        lsrc = _abspath(link.source)
        internal = (
            tsrc is None
            or lsrc is None
            or tsrc == lsrc
            or tsrc == _abspath(self.source)
            or (export_source is not None and tsrc == _abspath(export_source))
        )
        if internal:
            return link_entry(link.name, builder_path(target))
        rel = os.path.relpath(tsrc, self._store_root())
        return link_entry(link.name, builder_path(target), source=rel.replace(os.sep, "/"))

    def _should_link(self, array: zarr.Array, export_source: str | None) -> bool:
        """True if ``array`` lives in another store (or elsewhere in this one) and may be linked."""
        src = _array_store_root(array)
        if src is None:
            return False
        return export_source is None or src != _abspath(export_source)

    def _add_link(self, parent: zarr.Group, name: str, array: zarr.Array) -> None:
        src = _array_store_root(array)
        target = "/" + array.path.strip("/")
        source = SAME_FILE
        if src != self._store_root():
            source = os.path.relpath(src, self._store_root()).replace(os.sep, "/")
        links = [e for e in parent.attrs.get(LINKS_ATTR, []) if e.get("name") != name]
        parent.attrs.update({LINKS_ATTR: links + [link_entry(name, target, source)]})


# -- helpers -------------------------------------------------------------------------------------
def _abspath(path: Any) -> str | None:
    if path is None:
        return None
    s = str(path)
    if "://" in s:
        return s
    return os.path.abspath(s)


def _array_store_root(array: zarr.Array) -> str | None:
    root = getattr(array.store, "root", None)
    return os.path.abspath(str(root)) if root is not None else None


def _unwrap_zarr(data: Any) -> zarr.Array | None:
    if isinstance(data, zarr.Array):
        return data
    if isinstance(data, HDMFDataset) and isinstance(data.dataset, zarr.Array):
        return data.dataset
    return None


def _is_array_like(data: Any) -> bool:
    return isinstance(data, (h5py.Dataset, zarr.Array, HDMFDataset)) or (
        isinstance(data, np.ndarray) and data.ndim > 0
    )


def _holds_references(data: Any) -> bool:
    if isinstance(data, (ReferenceBuilder, Builder)):
        return True
    if isinstance(data, (list, tuple)) and data:
        return isinstance(data[0], (ReferenceBuilder, Builder, Container))
    return False


def _needs_text(value: Any) -> bool:
    return isinstance(value, (bytes, np.bytes_, datetime.date))


def _rows(data: Any) -> list:
    if isinstance(data, np.ndarray):
        return list(data)
    if isinstance(data, (h5py.Dataset, zarr.Array)):
        return list(data[...])
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, list):
        n = len(data)
        return list(data[0:n]) if n else []
    return list(data)


def _read_block(data: Any, start: int, stop: int) -> Any:
    return data[start:stop]


def _text_array(values: Any) -> np.ndarray:
    """Return text values (str, bytes, datetimes; nested) as an object array of ``str``."""
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "U":
        return arr.astype(object)
    out = np.empty(arr.shape, dtype=object)
    flat_in = arr.reshape(-1)
    flat_out = out.reshape(-1)
    for i, v in enumerate(flat_in):
        flat_out[i] = text_value(v)
    return out
