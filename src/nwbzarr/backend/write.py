"""HDMF builders -> Zarr nodes (write side of :class:`nwbzarr.ZarrIO`).

Every group and array is created with its final attributes in one metadata write: object
references are stored as target paths, which are known from the builder tree before the
target is written, so no second pass over the store is needed. Large arrays are copied block
by block along the leading dimension, one shard row at a time, so memory stays bounded by the
shard size whatever the source size.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, ReferenceBuilder
from hdmf.container import Container
from hdmf.data_utils import AbstractDataChunkIterator, DataIO
from hdmf.query import HDMFDataset

from ..compat import (
    AsyncGroup,
    GroupMetadata,
    array_from_async,
    async_group,
    codec_tunable_attrs,
    default_buffer_prototype,
    group_from_async,
    sync,
    zdtype_from_native,
)
from ..conventions.attributes import (
    ARRAY_DIMENSIONS_ATTR,
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
    numeric_compound_dtype,
    numpy_dtype_for,
    text_value,
)
from ..conventions.layout import (
    choose_chunks,
    chunks_within,
    compressors_for,
    resolve_shards,
)
from ..conventions.references import attribute_reference, builder_path
from ..conventions.zarr_json import array_document, encode, group_document
from ..errors import (
    LinkTargetMismatchError,
    NonUTF8TextError,
    UnsupportedDataError,
    UnsupportedLayoutError,
)
from ..storage.write_back import WriteBackStore
from ..virtual.filters import shuffle_codec
from .dataio import storage_settings
from .dimensions import DIMENSION_SCALE_ATTRS, GroupDimensionNames, dimension_names
from .fill import FillMixin, text_array
from .keep import kept_settings
from .links import LinkMixin, abspath
from .settings import WriteSettings

#: Bytes per element assumed for variable-length text when sizing chunks.
TEXT_ITEMSIZE = 16
#: In-memory numpy data up to this many bytes is written by the call creating its array.
SMALL_ARRAY_BYTES = 1 << 20
#: Text scalars up to this many UTF-8 bytes are stored as their array's ``fill_value`` (in
#: ``zarr.json`` and the consolidated metadata, no chunk object); longer ones keep a chunk.
SCALAR_FILL_TEXT_BYTES = 4096


class WriteMixin(LinkMixin, FillMixin):
    """Writes builder trees into a Zarr group; mixed into :class:`nwbzarr.ZarrIO`."""

    #: Path of the file being exported during :meth:`write_builder` (None outside export).
    _export_source = None

    #: Copy ``h5py.Dataset`` / ``zarr.Array`` data given without a ``DataIO`` wrapper with the
    #: source's chunk shape, codecs and fill value (False: apply the chunk/codec policy).
    keep_storage = True

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
            Refresh consolidated metadata now (so ``zarr.open`` sees what was written, as
            with hdmf-zarr) and when the store is closed. A new store keeps its in-progress
            marker until then, so nwbzarr still refuses to read it; an append to an existing
            local store stays invisible until close commits it (docs/storage.md §7.2).
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
        self.__dict__.pop("_group_dimension_names", None)  # names chosen for this tree only
        self._begin_write()
        root = self._root
        try:
            # the root's attributes and group links first, as for any group: links to
            # datasets (a dataset builder whose data lives in another store) are added by
            # write_dataset
            attrs = self._group_attributes(builder, "/", export_source)
            if LINKS_ATTR in root.attrs:
                attrs.setdefault(LINKS_ATTR, [])
            self._update_attributes(root, attrs)
            self._walk_depth += 1
            try:
                self._write_children(root, builder, link_data, exhaust_dci, export_source)
            finally:
                self._walk_depth -= 1
                self._flush_sets()
            self._dci_queue_exhaust()
        except BaseException:
            self._write_failed = True  # close() keeps the store marked incomplete
            raise
        self._written.set_written(builder)
        if consolidate_metadata and not self._publish_deferred:
            self._publish_written()

    #: True while :meth:`nwbzarr.ZarrIO.write` / ``export`` run: they publish once, after the
    #: spec cache is written (a consolidated root makes every later zarr node creation
    #: re-read it), instead of at the end of :meth:`write_builder`.
    _publish_deferred = False

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
        attrs = self._group_attributes(builder, builder_path(builder), export_source)
        self._walk_depth += 1
        try:
            if self.get_written(builder) and builder.name in parent:
                self._flush_sets()
                group = parent[builder.name]
                self._update_attributes(group, attrs)
            else:
                group = _create_group(
                    parent, builder.name, attrs, self._node_documents, self._set_queue
                )
            self._write_children(group, builder, link_data, exhaust_dci, export_source)
        finally:
            self._walk_depth -= 1
            if not self._walk_depth:
                self._flush_sets()  # a caller outside the tree walk sees the store complete
        self._written.set_written(builder)
        return group

    #: Depth of nested :meth:`write_group` calls (0: outside the tree walk).
    _walk_depth = 0

    @property
    def _set_queue(self) -> _SetQueue:
        """Documents and chunks of new nodes waiting to be handed to the store together."""
        queue = self.__dict__.get("_set_queue_")
        if queue is None:
            queue = self.__dict__["_set_queue_"] = _SetQueue()
        return queue

    def _flush_sets(self) -> None:
        """Hand every queued document and chunk to the store (one event-loop call); done
        before anything else reads or writes the store."""
        queue = self.__dict__.get("_set_queue_")
        if queue is not None:
            queue.flush()

    def _group_attributes(
        self, builder: GroupBuilder, path: str, export_source: str | None
    ) -> dict:
        """Encoded attributes of a group builder, its links included as ``_LINKS``."""
        attrs = self._encode_attributes(builder.attributes, path)
        links = [self._link_json(lb, export_source) for lb in builder.links.values()]
        if links:
            attrs[LINKS_ATTR] = links
        return attrs

    def _write_children(
        self,
        group: zarr.Group,
        builder: GroupBuilder,
        link_data: bool,
        exhaust_dci: bool,
        export_source: str | None,
    ) -> None:
        """Write a group builder's subgroups and datasets; mark its links written."""
        opts = dict(link_data=link_data, exhaust_dci=exhaust_dci, export_source=export_source)
        for sub in builder.groups.values():
            self.write_group(group, sub, **opts)
        for sub in builder.datasets.values():
            self.write_dataset(group, sub, **opts, _node_wanted=False)
        for lb in builder.links.values():
            self._written.set_written(lb)

    def write_attributes(self, obj: zarr.Group | zarr.Array, attributes: dict) -> None:
        """Encode HDMF attribute values (references included) and write them onto ``obj``.

        A list, tuple, set or array value is stored as a JSON array; as with hdmf-zarr, the
        open ``obj.attrs`` hold it as a tuple until the node is opened again (a list then).

        Raises
        ------
        UnsupportedDataError
            If a value has no JSON form; the message names the node and the attribute.
        """
        encoded = self._encode_attributes(attributes, obj.path or "/")
        self._update_attributes(obj, {k: _as_tuple(v) for k, v in encoded.items()})

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

        Parameters
        ----------
        parent : zarr.Group
            The group the array is created in.
        builder : hdmf.build.DatasetBuilder
            The dataset.
        link_data, exhaust_dci, export_source
            As in :meth:`write_builder`.
        **kwargs
            Accepted for compatibility with ``HDF5IO.write_dataset``. ``_node_wanted=False``
            (internal, used by the tree walk) returns None instead of opening a small array
            written from our own documents.

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
        wanted = kwargs.pop("_node_wanted", True)
        self._node_wanted = wanted
        try:
            return self._write_dataset(parent, builder, link_data, exhaust_dci, export_source)
        finally:
            self._node_wanted = True

    #: Whether the dataset being written must be returned as a ``zarr.Array`` (False while
    #: :meth:`write_builder` walks the tree: a small array written from our own documents
    #: is then never parsed back into zarr objects).
    _node_wanted = True

    def _write_dataset(
        self,
        parent: zarr.Group,
        builder: DatasetBuilder,
        link_data: bool,
        exhaust_dci: bool,
        export_source: str | None,
    ) -> zarr.Array | None:
        path = builder_path(builder)
        data = builder.data
        settings = WriteSettings()
        if isinstance(data, DataIO):
            settings = storage_settings(data, path)
            link_data = getattr(data, "link_data", link_data)
            data = data.data if data.valid else None
        if not _in_memory(data):
            self._flush_sets()  # links, source arrays, iterators: the store must be complete
        attrs = self._encode_attributes(builder.attributes, path)
        labels = self._dimension_names(builder, data)
        spec_dtype = builder.dtype

        target = self._link_target(data, export_source, path) if link_data else None
        if target is not None and export_source is not None and target[0] == self._store_root():
            # data of the exported file placed at a second path: a soft link to its first
            # place only if the link reads back the same; else it is copied, as before
            try:
                self._check_link_target(builder, data, path)
            except LinkTargetMismatchError:
                target = None
        elif target is not None:
            self._check_link_target(builder, data, path)
        if target is not None:
            self._add_link(parent, builder.name, *target)
            self._written.set_written(builder)
            return None
        if self.keep_storage and not isinstance(builder.data, DataIO):
            settings = WriteSettings.coerce(kept_settings(data, spec_dtype, path))

        if is_region_reference_dtype(spec_dtype):
            raise UnsupportedDataError(
                f"{path}: region references cannot be stored in Zarr; store the indices in a "
                "DynamicTableRegion or an integer dataset instead"
            )
        if isinstance(spec_dtype, list):
            array = self._write_compound(
                parent, builder.name, data, spec_dtype, attrs, settings, path, labels
            )
        elif is_reference_dtype(spec_dtype) or _holds_references(data):
            array = self._write_references(
                parent, builder.name, data, attrs, settings, path, labels
            )
        elif isinstance(data, AbstractDataChunkIterator):
            array = self._write_iterator(
                parent, builder.name, data, spec_dtype, attrs, settings, labels
            )
            if exhaust_dci:
                self._dci_queue_exhaust()
        elif data is None:
            array = self._write_empty(parent, builder.name, spec_dtype, attrs, settings, path)
        else:
            try:
                array = self._write_array(
                    parent, builder.name, data, spec_dtype, attrs, settings, labels, path
                )
            except UnicodeDecodeError as exc:
                raise NonUTF8TextError(
                    f"{path}: dataset {builder.name!r} holds bytes that are not valid UTF-8 "
                    f"({exc.reason} at byte {exc.start}); a Zarr v3 text array holds UTF-8 "
                    "text only: decode the values (e.g. as latin-1) before writing, or store "
                    "the raw bytes as a uint8 dataset"
                ) from None
        self._written.set_written(builder)
        return array

    def _dimension_names(self, builder: DatasetBuilder, data: Any) -> list[str] | None:
        """Names of ``builder``'s dimensions, chosen with its group's other datasets.

        The names of one group are computed once (when its first dataset is written) from all
        its dataset builders, so that the group opens as one xarray Dataset (docs/storage.md
        §4). A dataset without a parent builder keeps its own candidates.
        """
        catalog = self.manager.namespace_catalog
        parent = builder.parent
        if not isinstance(parent, GroupBuilder):
            return dimension_names(builder, data, catalog)
        chooser = self.__dict__.get("_group_dimension_names")
        if chooser is None or chooser.catalog is not catalog:
            chooser = self.__dict__["_group_dimension_names"] = GroupDimensionNames(catalog)
        names = chooser.names(parent).get(builder.name)
        return names if names else dimension_names(builder, data, catalog)

    # -- arrays -------------------------------------------------------------------------------
    def _create_array(
        self,
        parent: zarr.Group,
        name: str,
        shape: tuple,
        dtype: Any,
        attrs: dict,
        settings: WriteSettings | dict,
        labels: Any = None,
        layout_shape: tuple | None = None,
        values: np.ndarray | None = None,
        need_array: bool = True,
    ) -> zarr.Array | None:
        """Create the array ``name`` in ``parent``; with ``values`` (an in-memory array of the
        full shape and the numpy ``dtype``, or for a 0-d array its value), also write them, in
        the same event-loop call.

        A 0-d array whose value can be its ``fill_value`` (:func:`_scalar_fill`) stores no
        chunk. In a new store, an unsharded array with values and codecs nwbzarr knows is
        written from our own ``zarr.json`` document and chunks encoded here
        (:func:`_direct_write`); with ``need_array=False`` nothing is then parsed back and
        None is returned.
        """
        settings = WriteSettings.coerce(settings)
        is_text = dtype is str
        if not is_text and np.dtype(dtype).kind == "O":
            raise UnsupportedDataError(
                f"/{parent.path}/{name}: cannot store Python objects; give the data a numeric, "
                "text or compound dtype"
            )
        itemsize = TEXT_ITEMSIZE if is_text else np.dtype(dtype).itemsize
        layout_shape = tuple(layout_shape or shape)
        chunks = settings.chunks
        shards = settings.shards
        if (chunks is None or chunks is True) and isinstance(shards, tuple) and shards:
            chunks = chunks_within(shards, itemsize, self._chunk_bytes)  # shards, no chunks
        elif chunks is None or chunks is True:
            chunks = choose_chunks(layout_shape, itemsize, self._chunk_bytes)
        chunks = tuple(max(1, int(c)) for c in chunks)
        shards = resolve_shards(
            shards, layout_shape, chunks, itemsize, self._shard_bytes, text=is_text
        )
        compressors = settings.compressors
        if compressors is None:
            compressors = compressors_for(self._codec, dtype)
        elif not isinstance(compressors, str):
            compressors = list(compressors)
        if settings.shuffle and not is_text and not isinstance(compressors, str):
            # H5DataIO(shuffle=True): HDF5's byte shuffle, before the compressor.
            compressors = [shuffle_codec(itemsize), *compressors]
        fill_value = settings.fill_value
        scalar_fill = False
        if not shape and values is not None:
            as_fill = _scalar_fill(values, dtype, fill_value)
            if as_fill is not None:
                fill_value, scalar_fill = as_fill, True
        kwargs: dict[str, Any] = {}
        if settings.filters is not None:
            kwargs["filters"] = list(settings.filters)
        if settings.serializer is not None:
            kwargs["serializer"] = settings.serializer
        if fill_value is not None:
            kwargs["fill_value"] = fill_value
        if labels is not None and len(labels) == len(shape) and len(shape) > 0:
            kwargs["dimension_names"] = [str(x) for x in labels]
            # the same names as an attribute, as hdmf-zarr and xarray's v2 encoding keep them
            attrs = {**attrs, ARRAY_DIMENSIONS_ATTR: kwargs["dimension_names"]}
        if shape:
            kwargs["chunks"] = chunks
            kwargs["shards"] = shards
        kwargs.update(
            shape=shape,
            dtype=str if is_text else _zarr_dtype(dtype),
            compressors=compressors,
            attributes=attrs,
        )
        if scalar_fill:
            values = None  # the value is the fill value: no chunk to write
        if values is not None or scalar_fill:
            written = _direct_write(
                parent,
                name,
                dtype,
                kwargs,
                values,
                self._node_documents,
                need_array,
                self._set_queue,
            )
            if written is not False:
                return written
        self._flush_sets()
        if values is None:
            return parent.create_array(name, **kwargs)
        return array_from_async(sync(_create_and_fill(async_group(parent), name, kwargs, values)))

    @property
    def _node_documents(self) -> dict:
        """``zarr.json`` key -> (buffer written, document, JSON indent) of the documents this
        object wrote itself; consolidation reuses a document (and its bytes) while the store
        still holds that very buffer (:meth:`nwbzarr.ZarrIO._consolidate`)."""
        documents = self.__dict__.get("_node_documents_")
        if documents is None:
            documents = self.__dict__["_node_documents_"] = {}
        return documents

    def _write_array(
        self,
        parent: zarr.Group,
        name: str,
        data: Any,
        spec_dtype: Any,
        attrs: dict,
        settings: WriteSettings,
        labels: Any,
        path: str,
    ) -> zarr.Array:
        if isinstance(data, (str, bytes)) or np.ndim(data) == 0 and not _is_array_like(data):
            dtype = numpy_dtype_for(spec_dtype, data)
            if isinstance(data, np.ndarray):
                data = data[()]
            value = text_value(data) if dtype is str else np.asarray(data, dtype=dtype)
            array = self._create_array(
                parent, name, (), dtype, attrs, settings, values=value, need_array=False
            )
            if array is None and self._node_wanted:
                self._flush_sets()
                array = parent[name]
            return array
        if isinstance(data, (list, tuple)):
            dtype = numpy_dtype_for(spec_dtype, data)
            values = text_array(data) if dtype is str else np.asarray(data, dtype=dtype)
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
        if (
            isinstance(data, np.ndarray)
            and dtype is not str
            and 0 < data.nbytes <= SMALL_ARRAY_BYTES
            and self.copy_sink is None
            and settings.kept_from is None
        ):
            # a small in-memory array: created and written in one event-loop call
            values = np.asarray(data, dtype=dtype)
            array = self._create_array(
                parent,
                name,
                shape,
                dtype,
                attrs,
                settings,
                labels,
                values=values,
                need_array=self._node_wanted,
            )
            if self.progress is not None:
                self.progress(values.nbytes)
            return array
        array = self._create_array(parent, name, shape, dtype, attrs, settings, labels)
        if math.prod(shape) == 0:
            return array
        self._copy_blocks(array, data, dtype, kept=settings.kept_from is not None)
        return array

    def _write_empty(
        self,
        parent: zarr.Group,
        name: str,
        spec_dtype: Any,
        attrs: dict,
        settings: WriteSettings,
        path: str,
    ) -> zarr.Array:
        shape = settings.shape
        dtype = settings.dtype or spec_dtype
        if shape is None or dtype is None:
            raise UnsupportedDataError(
                f"{path}: a dataset without data needs a shape and dtype "
                "(wrap it in ZarrDataIO(data=None, shape=..., dtype=...))"
            )
        dtype = numpy_dtype_for(dtype, None)
        return self._create_array(parent, name, tuple(shape), dtype, attrs, settings)

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
            tsrc = abspath(value.source)
            local = (None, abspath(self.source), abspath(self._export_source))
            if self._export_source is not None:  # hdmf passes a URL through os.path.abspath
                local += (os.path.abspath(str(self._export_source)),)
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
        self,
        parent: zarr.Group,
        name: str,
        data: Any,
        attrs: dict,
        settings: WriteSettings,
        path: str,
        labels: Any = None,
    ) -> zarr.Array:
        attrs = {**attrs, DTYPE_ATTR: OBJECT_REFERENCE}
        if isinstance(data, (ReferenceBuilder, Builder, Container)):
            target = self._reference_path(data, path)
            array = self._create_array(
                parent, name, (), str, attrs, settings, values=target, need_array=False
            )
            if array is None and self._node_wanted:
                self._flush_sets()
                array = parent[name]
            return array
        items = list(data) if data is not None else []
        values = np.array([self._reference_path(v, path) for v in items], dtype=object)
        array = self._create_array(parent, name, values.shape, str, attrs, settings, labels)
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
        settings: WriteSettings,
        path: str,
        labels: Any = None,
    ) -> zarr.Array:
        fields = compound_fields(spec_dtype)
        ref_index = [i for i, (_, fdt) in enumerate(fields) if is_reference_dtype(fdt)]
        scalar = isinstance(data, (tuple, np.void)) or (
            isinstance(data, np.ndarray) and data.ndim == 0
        )
        if scalar and ref_index:
            raise UnsupportedLayoutError(
                f"{path}: a zero-dimensional compound dataset with a reference field is not "
                "supported (hdmf-zarr cannot read it back); store the value as a one-row "
                "compound dataset (shape (1,)) instead"
            )
        records = data if scalar else _records(data)
        numeric = None
        if not ref_index and isinstance(records, np.ndarray) and records.dtype.names:
            numeric = numeric_compound_dtype(fields, records.dtype)
        if numeric is not None:
            # numbers only (pixel_mask, voxel_mask): one vectorized cast, no per-row work
            np_dtype, ref_fields = numeric, []
            values = np.asarray(records).astype(numeric).reshape(-1)
        else:
            rows = []
            for row in [records] if scalar else records:
                try:
                    row = _plain_record(row)
                except UnicodeDecodeError as exc:
                    raise NonUTF8TextError(
                        f"{path}: a text field of compound dataset {name!r} holds bytes that "
                        f"are not valid UTF-8 ({exc.reason} at byte {exc.start}); Zarr v3 "
                        "stores compound text as UTF-8: decode the values (e.g. as latin-1) "
                        "before writing"
                    ) from None
                for i in ref_index:
                    row[i] = self._reference_path(row[i], path)
                rows.append(tuple(row))
            try:
                np_dtype, ref_fields = compound_numpy_dtype(fields, rows)
            except ValueError as exc:
                raise UnsupportedDataError(f"{path}: {exc}") from exc
            values = np.array(rows, dtype=np_dtype)
        if ref_fields:
            attrs = {**attrs, REFERENCE_FIELDS_ATTR: ref_fields}
        shape = () if scalar else values.shape
        array = self._create_array(parent, name, shape, np_dtype, attrs, settings, labels)
        if values.size:
            array[...] = values[0] if scalar else values
        return array

    # -- attributes and links -------------------------------------------------------------------
    def _encode_attributes(self, attributes: dict, path: str) -> dict:
        out = {}
        scale = _text(attributes.get("CLASS")) == "DIMENSION_SCALE"
        for key, value in attributes.items():
            if key in DIMENSION_SCALE_ATTRS or (scale and key in ("CLASS", "NAME")):
                continue  # HDF5 dimension-scale bookkeeping: kept as dimension_names
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
        self._flush_sets()
        current = node.attrs.asdict()
        changed = {k: v for k, v in attrs.items() if k not in current or not _same(current[k], v)}
        if changed:
            node.attrs.update(changed)


# -- helpers -------------------------------------------------------------------------------------
def _as_tuple(value: Any) -> Any:
    """A JSON array of plain values as a tuple (what hdmf-zarr hands zarr); others unchanged.

    Arrays of objects (``_REFERENCE`` lists) stay lists, as readers in this session expect.
    """
    if isinstance(value, list) and not any(isinstance(v, dict) for v in value):
        return tuple(value)
    return value


def _same(a: Any, b: Any) -> bool:
    """Whether two attribute values are the same (a tuple equals the list it is written as,
    NaN equals NaN, numbers compare by value, ``true`` differs from ``1``)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
    return (numbers or type(a) is type(b)) and a == b


async def _create_and_fill(group: AsyncGroup, name: str, options: dict, values: np.ndarray) -> Any:
    """Create array ``name`` in ``group`` with ``options`` and write ``values`` (full shape)."""
    array = await group.create_array(name, **options)
    await array.setitem(Ellipsis, values)
    return array


def _scalar_fill(value: Any, dtype: Any, given: Any) -> Any:
    """The ``fill_value`` that stores the 0-d ``value`` without a chunk, or None to keep one.

    Numbers (finite floats, not ``-0.0``), booleans and text of up to
    :data:`SCALAR_FILL_TEXT_BYTES` UTF-8 bytes qualify; NaN and infinities (their bits are
    not kept by JSON), complex, datetime, bytes and compound values keep their chunk, as does
    a value different from a fill value the caller asked for.
    """
    if dtype is str:
        if not isinstance(value, str) or len(value.encode("utf-8")) > SCALAR_FILL_TEXT_BYTES:
            return None
        out: Any = value
    else:
        dt = np.dtype(dtype)
        if dt.kind not in "biuf" or dt.fields is not None:
            return None
        item = np.asarray(value, dtype=dt)
        if item.shape != ():
            return None
        out = item[()].item()
        if dt.kind == "f" and (not math.isfinite(out) or (out == 0 and math.copysign(1, out) < 0)):
            return None
    if given is not None:
        same = isinstance(given, bool) == isinstance(out, bool) and given == out
        return out if same else None
    return out


class _Codecs:
    """The codec chain of one kind of array, as zarr-python writes it, and its encoder.

    Built once per (dtype, ndim, compressors) through a throw-away zarr array, so the
    ``data_type``, ``codecs`` and default fill value are exactly zarr's; chunks are then
    encoded here with numcodecs, without a thread hop per chunk.
    """

    def __init__(self, dtype: Any, ndim: int, compressors: Any) -> None:
        from zarr.storage import MemoryStore

        shape = (1,) * ndim
        grid = {"chunks": shape} if ndim else {}
        array = zarr.create_array(
            MemoryStore(),
            shape=shape,
            **grid,
            dtype=str if dtype is str else _zarr_dtype(dtype),
            compressors=list(compressors) if not isinstance(compressors, str) else compressors,
            zarr_format=3,
        )
        doc = array.metadata.to_dict()
        self.zdtype = array.metadata.data_type
        self.data_type = doc["data_type"]
        self.codecs = doc["codecs"]
        self.text = dtype is str
        self.dtype = None if self.text else np.dtype(dtype)
        self.steps = [_numcodec(c) for c in self.codecs]  # raises KeyError if unknown

    def fill_json(self, fill: Any) -> tuple[Any, Any]:
        """The fill value as a numpy/str scalar and as its JSON form."""
        scalar = self.zdtype.default_scalar() if fill is None else self.zdtype.cast_scalar(fill)
        return scalar, self.zdtype.to_json_scalar(scalar, zarr_format=3)

    def encode(self, chunk: np.ndarray) -> bytes:
        """One chunk (the full chunk shape) encoded through the chain."""
        data: Any = chunk
        for kind, step in self.steps:
            if kind == "bytes":
                data = np.ascontiguousarray(chunk, dtype=step).tobytes()
            elif kind == "vlen-utf8":
                data = step.encode(np.asarray(chunk, dtype=object).reshape(-1))
            else:
                data = step.encode(np.frombuffer(data, dtype=np.uint8))
        return bytes(data)


def _numcodec(codec: dict) -> tuple[str, Any]:
    """A codec's JSON form -> (kind, numcodecs codec or byte-order dtype)."""
    import numcodecs

    name, config = codec["name"], codec.get("configuration", {})
    if name == "bytes":
        return "bytes", config.get("endian", "little")
    if name == "vlen-utf8":
        return "vlen-utf8", numcodecs.VLenUTF8()
    if name == "blosc":
        shuffle = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}[config["shuffle"]]
        blosc = {
            "cname": config["cname"],
            "clevel": config["clevel"],
            "shuffle": shuffle,
            "blocksize": config["blocksize"],
        }
        if (
            int(numcodecs.__version__.split(".")[0]) > 0
            or int(numcodecs.__version__.split(".")[1]) >= 16
        ):
            blosc["typesize"] = config["typesize"]  # as zarr configures it (numcodecs >= 0.16)
        return "blosc", numcodecs.Blosc.from_config(blosc)
    if name == "zstd":
        return "zstd", numcodecs.Zstd.from_config(
            {"level": config["level"], "checksum": config["checksum"]}
        )
    if name == "gzip":
        return "gzip", numcodecs.GZip(level=config["level"])
    raise KeyError(name)


_CODECS: dict[Any, _Codecs | None] = {}


def _codecs_for(dtype: Any, ndim: int, compressors: Any) -> _Codecs | None:
    """The cached :class:`_Codecs` of a kind of array, or None if nwbzarr does not encode it."""
    try:
        key = (dtype if dtype is str else np.dtype(dtype), ndim, _codec_key(compressors))
        hash(key)
    except TypeError:
        return None
    if key not in _CODECS:
        try:
            made = _Codecs(dtype, ndim, compressors)
        except KeyError:
            made = None
        if made is not None and not made.text:
            # the byte order of the bytes codec as a dtype the chunk is cast to
            made.steps = [
                (k, made.dtype.newbyteorder("<" if v == "little" else ">"))
                if k == "bytes"
                else (k, v)
                for k, v in made.steps
            ]
        if len(_CODECS) > 256:
            _CODECS.clear()
        _CODECS[key] = made
    return _CODECS[key]


def _codec_key(compressors: Any) -> Any:
    if isinstance(compressors, str):
        return compressors
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    key = []
    for codec in compressors:
        if type(codec) not in (BloscCodec, GzipCodec, ZstdCodec):
            raise TypeError("not encoded here")
        # settings zarr fills in from the dtype (Blosc typesize/shuffle given as None) are
        # part of the key: the same to_dict() may evolve differently
        tunable = codec_tunable_attrs(codec)
        key.append((type(codec).__name__, json.dumps(codec.to_dict(), sort_keys=True), tunable))
    return tuple(key)


def _direct_write(
    parent: zarr.Group,
    name: str,
    dtype: Any,
    options: dict,
    values: Any,
    documents: dict,
    need_array: bool,
    queue: _SetQueue | None = None,
) -> zarr.Array | None | bool:
    """Write a new array from our own ``zarr.json`` document and chunks encoded here.

    Only in a new store (a :class:`WriteBackStore` that holds every document written so it
    knows the node is absent), for unsharded arrays without filters or a custom serializer
    whose codecs :class:`_Codecs` encodes; ``values`` None writes a 0-d array whose value is
    its fill value. The document and chunks go through ``store.set`` in one event-loop call.
    Chunks equal to the fill value are not stored (zarr's ``write_empty_chunks=False``).
    With ``queue``, the writes wait there (:class:`_SetQueue`) until the writer flushes it.

    Returns
    -------
    zarr.Array, None or False
        The array (``need_array``), None (written, not wanted), or False: not handled here,
        nothing was written.
    """
    store = parent.store
    store_path = parent.store_path / name
    key = f"{store_path.path}/zarr.json"
    shape = tuple(options["shape"])
    if (
        not isinstance(store, WriteBackStore)
        or store.holds(key)
        or (queue is not None and queue.holds(key))
        or options.get("shards") is not None
        or "filters" in options
        or "serializer" in options
    ):
        return False
    codecs = _codecs_for(dtype, len(shape), options["compressors"])
    if codecs is None:
        return False
    chunks = tuple(options.get("chunks", ()))
    fill, fill_json = codecs.fill_json(options.get("fill_value"))
    if not codecs.text and codecs.dtype.kind == "f" and np.isnan(fill):
        return False  # chunks all NaN: leave the empty-chunk test to zarr
    doc = array_document(
        shape,
        codecs.data_type,
        chunks,
        fill_json,
        codecs.codecs,
        options["attributes"],
        options.get("dimension_names"),
    )
    proto = default_buffer_prototype()
    items = []
    if values is not None:
        arr = np.asarray(values) if not codecs.text else np.asarray(values, dtype=object)
        if arr.shape != shape:
            return False
        prefix = store_path.path
        for index in _chunk_indices(shape, chunks):
            region = tuple(
                slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(index, chunks, shape)
            )
            part = arr[region]
            if _all_fill(part, fill, codecs.text):
                continue
            if part.shape != chunks:  # an edge chunk: padded with the fill value, as zarr does
                full = np.full(chunks, fill, dtype=object if codecs.text else codecs.dtype)
                full[tuple(slice(0, n) for n in part.shape)] = part
                part = full
            chunk_key = "c/" + "/".join(str(i) for i in index) if index else "c"
            items.append((f"{prefix}/{chunk_key}", proto.buffer.from_bytes(codecs.encode(part))))
    indent = zarr.config.get("json_indent")
    meta = proto.buffer.from_bytes(encode(doc, indent))
    items.append((key, meta))
    documents[key] = (meta, doc, indent)
    if queue is None:
        sync(_set_all(store, items))
    else:
        queue.put(store, items)
    if not need_array:
        return None
    if queue is not None:
        queue.flush()
    return zarr.open_array(store, path=store_path.path, mode="r+", zarr_format=3)


def _chunk_indices(shape: tuple, chunks: tuple) -> Any:
    import itertools

    return itertools.product(*(range(-(-n // c)) for n, c in zip(shape, chunks)))


def _all_fill(part: np.ndarray, fill: Any, text: bool) -> bool:
    """Whether a chunk region equals the fill value everywhere (zarr then stores nothing)."""
    if text:
        return all(v == fill for v in part.reshape(-1))
    return bool(np.array_equal(part, np.broadcast_to(fill, part.shape)))


async def _set_all(store: Any, items: list) -> None:
    for key, value in items:
        await store.set(key, value)


class _SetQueue:
    """``(key, buffer)`` writes of new nodes held until :meth:`flush` hands them all to the
    store in one event-loop call (one thread hop for many nodes instead of one each).

    The writer flushes it before anything else touches the store (zarr calls, links,
    attribute updates, iterators, consolidation), so no reader ever misses a queued node.
    """

    #: Flush once this many writes are held.
    MAX_ITEMS = 2048

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.store: Any = None

    def holds(self, key: str) -> bool:
        """Whether a write of ``key`` is queued."""
        return key in self.items

    def put(self, store: Any, items: list) -> None:
        """Queue ``items`` for ``store`` (flushing first if another store's are held)."""
        if self.store is not None and store is not self.store:
            self.flush()
        self.store = store
        self.items.update(items)
        if len(self.items) >= self.MAX_ITEMS:
            self.flush()

    def flush(self) -> None:
        """Write everything queued through ``store.set``, in order."""
        if self.items:
            items, self.items = list(self.items.items()), {}
            sync(_set_all(self.store, items))


def _create_group(
    parent: zarr.Group,
    name: str,
    attrs: dict,
    documents: dict | None = None,
    queue: _SetQueue | None = None,
) -> zarr.Group:
    """Create a child group with its attributes in one metadata write.

    In a new file (a :class:`WriteBackStore`, whose parents were all written through it) the
    group document is built here and saved directly (through ``queue`` when given): zarr's
    ``create_group`` would also check and re-save every ancestor's document, which costs more
    than the group itself.
    """
    store = parent.store
    store_path = parent.store_path / name
    key = f"{store_path.path}/zarr.json"
    if not isinstance(store, WriteBackStore) or store.holds(key) or (queue and queue.holds(key)):
        if queue is not None:
            queue.flush()
        return parent.create_group(name, attributes=attrs)  # zarr checks what exists there
    doc = group_document(attrs)
    indent = zarr.config.get("json_indent")
    meta = default_buffer_prototype().buffer.from_bytes(encode(doc, indent))
    if queue is None:
        sync(store.set(key, meta))
    else:
        queue.put(store, [(key, meta)])
    if documents is not None:
        documents[key] = (meta, doc, indent)
    metadata = GroupMetadata(attributes=attrs, zarr_format=3)
    return group_from_async(AsyncGroup(metadata=metadata, store_path=store_path))


@functools.lru_cache(maxsize=256)
def _zarr_dtype_cached(dtype: np.dtype) -> Any:
    return zdtype_from_native(dtype)


def _zarr_dtype(dtype: Any) -> Any:
    """The zarr data type object of a numpy dtype, made once per dtype (zarr otherwise matches
    the dtype against its whole registry at every array creation)."""
    return _zarr_dtype_cached(np.dtype(dtype))


def _in_memory(data: Any) -> bool:
    """Whether dataset data is plain in-memory values (no store or file is read for it)."""
    return data is None or isinstance(
        data, (np.ndarray, np.generic, list, tuple, str, bytes, int, float, bool)
    )


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


def _records(data: Any) -> Any:
    """The rows of compound data: a structured ndarray when the source gives one (numpy,
    h5py, zarr, a compound view read by nwbzarr), else a list of rows."""
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, (h5py.Dataset, zarr.Array)):
        return np.asarray(data[...])
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, list):
        n = len(data)
        return data[0:n] if n else []
    return list(data)


def _plain_record(row: Any) -> list:
    """One compound row as a list of Python values: text as ``str``, nested rows as tuples
    (references are left for the caller to turn into paths)."""
    if isinstance(row, np.ndarray) and row.ndim == 0:
        row = row[()]
    if isinstance(row, np.void):
        row = [row[i] for i in range(len(row))]
    out = []
    for value in row:
        if isinstance(value, np.void) or (
            isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.names
        ):
            value = tuple(_plain_record(value))
        elif _needs_text(value):
            value = text_value(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out.append(value)
    return out


def _text(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
