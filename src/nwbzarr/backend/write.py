"""HDMF builders -> Zarr nodes (write side of :class:`nwbzarr.ZarrIO`).

Every group and array is created with its final attributes in one metadata write: object
references are stored as target paths, which are known from the builder tree before the
target is written, so no second pass over the store is needed. Large arrays are copied block
by block along the leading dimension, one shard row at a time, so memory stays bounded by the
shard size whatever the source size. New groups and small arrays of a new store are written
from our own ``zarr.json`` documents by :mod:`nwbzarr.backend.node_documents`.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import Builder, DatasetBuilder, GroupBuilder, LinkBuilder, ReferenceBuilder
from hdmf.container import Container
from hdmf.data_utils import AbstractDataChunkIterator, DataIO
from hdmf.query import HDMFDataset

from ..compat import (
    AsyncGroup,
    array_from_async,
    async_group,
    sync,
)
from ..conventions.attributes import (
    ARRAY_DIMENSIONS_ATTR,
    DTYPE_ATTR,
    LINKS_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
    WRITE_IN_PROGRESS_ATTR,
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
from ..conventions.layout import choose_chunks, chunks_within, compressors_for, resolve_shards
from ..conventions.references import attribute_reference, builder_path
from ..errors import (
    AppendError,
    LinkTargetMismatchError,
    NonUTF8TextError,
    UnsupportedDataError,
    UnsupportedLayoutError,
)
from ..formats.hdf5.filters import shuffle_codec
from ..storage.write_back import WriteBackStore
from .dataio import storage_settings
from .dimensions import DIMENSION_SCALE_ATTRS, GroupDimensionNames, dimension_names
from .fill import Filler, chunk_hint
from .keep import kept_settings
from .links import abspath, add_link, append_link, check_link_target, link_json, link_target
from .node_documents import SetQueue, create_group, direct_write, scalar_fill_value, zarr_dtype
from .settings import WriteSettings
from .text import text_array

#: Bytes per element assumed for variable-length text when sizing chunks.
TEXT_ITEMSIZE = 16
#: In-memory numpy data up to this many bytes is written by the call creating its array.
SMALL_ARRAY_BYTES = 1 << 20


class Writer:
    """Writes builder trees into the root group of an open store: what happens on write.

    :class:`nwbzarr.ZarrIO` makes one per open store and delegates ``write_builder``,
    ``write_group``, ``write_dataset``, ``write_attributes`` and ``write_link`` to it. It holds
    the state of writing: the documents and chunks queued for the store, the documents it
    wrote (reused by consolidation), whether a write started (the in-progress marker is set)
    and whether one failed. Data movement is its :class:`~nwbzarr.backend.fill.Filler`.

    Parameters
    ----------
    root : zarr.Group
        Root group of the open store.
    manager : hdmf.build.BuildManager
        Build manager (containers referred to are built through it; its namespace catalog
        gives specs).
    source : str, optional
        Path or URL of the file being written (builders from it belong to this file).
    store_root : str
        Directory (or URL) of the store; external link sources are relative to it.
    written : hdmf.backends.utils.WriteStatusTracker
        Builders written or read; shared with the reading side of the I/O object.
    chunk_bytes, shard_bytes : int
        Target uncompressed chunk and shard sizes of new arrays.
    codec : str
        Default compressor of numeric arrays.
    keep_storage : bool
        Copy ``h5py.Dataset`` / ``zarr.Array`` data given without a ``DataIO`` wrapper with
        the source's chunk shape, codecs and fill value (False: apply the chunk/codec policy).
    progress : callable, optional
        Receives the number of uncompressed bytes written, block by block.
    copy_sink : callable, optional
        ``(array, data, kept, step) -> bool`` taking over block copies of array data.
    journal : nwbzarr.storage.journal.JournaledStore, optional
        The journal of an append to a local store (no in-progress marker is set then).
    append_session : nwbzarr.backend.append.AppendSession, optional
        Given in append modes (``a``, ``r+``): a write snapshots the root first, and datasets
        already stored are refreshed instead of written.
    grow_written : callable, optional
        ``(array, builder)``: in append modes, stores rows added in memory to a dataset
        written earlier in the session.
    """

    def __init__(
        self,
        root: zarr.Group,
        manager: Any,
        source: str | None,
        store_root: str,
        written: Any,
        *,
        chunk_bytes: int,
        shard_bytes: int,
        codec: str,
        keep_storage: bool = True,
        progress: Callable[[int], Any] | None = None,
        copy_sink: Callable[..., bool] | None = None,
        journal: Any = None,
        append_session: Any = None,
        grow_written: Callable[[zarr.Array, DatasetBuilder], None] | None = None,
    ) -> None:
        self.root = root
        self.manager = manager
        self.source = source
        self.store_root = store_root
        self.written = written
        self.chunk_bytes = int(chunk_bytes)
        self.shard_bytes = int(shard_bytes)
        self.codec = codec
        self.keep_storage = bool(keep_storage)
        self.journal = journal
        self.append_session = append_session
        self.grow_written = grow_written
        self.fill = Filler(root.store, self.flush, progress, copy_sink)
        #: True once a write changed the store (the in-progress marker is set).
        self.started = False
        #: True once a write failed (``close`` then keeps the store marked incomplete).
        self.failed = False
        #: Refresh consolidated metadata on close (``write_builder(consolidate_metadata=)``).
        self.consolidate_on_close = True
        #: True while :meth:`nwbzarr.ZarrIO.write` / ``export`` run: they publish once, after
        #: the spec cache is written (a consolidated root makes every later zarr node
        #: creation re-read it), instead of at the end of :meth:`write_builder`.
        self.publish_deferred = False
        #: Path of the file being exported during :meth:`write_builder` (None outside export).
        self.export_source: str | None = None
        #: ``zarr.json`` key -> (buffer written, document, JSON indent) of the documents this
        #: object wrote itself; consolidation reuses a document (and its bytes) while the
        #: store still holds that very buffer (:meth:`nwbzarr.ZarrIO._consolidate`).
        self.node_documents: dict = {}
        #: Documents and chunks of new nodes waiting to be handed to the store together.
        self.set_queue = SetQueue()
        self._walk_depth = 0  # depth of nested write_group calls (0: outside the tree walk)
        # whether the dataset being written must be returned as a zarr.Array (False while
        # write_builder walks the tree: a small array written from our own documents is then
        # never parsed back into zarr objects)
        self._node_wanted = True
        self._group_dimension_names: GroupDimensionNames | None = None

    # -- write state ----------------------------------------------------------------------------
    def reopen(self, root: zarr.Group, journal: Any = None) -> None:
        """Write into ``root`` from now on (the store opened again after ``close``); the
        builders written and the flags are kept.

        Parameters
        ----------
        root : zarr.Group
            The root group opened again.
        journal : nwbzarr.storage.journal.JournaledStore, optional
            The journal of this opening (an append to a local store).
        """
        self.root = root
        self.journal = journal
        self.fill.store = root.store

    def begin(self) -> None:
        """Mark the store as being changed, once: set the in-progress marker on the root (a
        new store, or an amendment after a snapshot lets ``close`` undo a no-op failure); a
        journaled append sets none."""
        if not self.started:
            if self.journal is None:  # an append to a local store is journaled instead
                if self.append_session is not None:
                    self.append_session.take_snapshot(self.root)
                self.root.attrs.update({WRITE_IN_PROGRESS_ATTR: True})
            self.started = True

    def mark_failed(self) -> None:
        """Record that a write failed (``close`` keeps the store marked incomplete)."""
        self.failed = True

    def get_written(self, builder: Any) -> bool:
        """True if ``builder`` was written (or read) through this store."""
        return self.written.get_written(builder)

    def flush_sets(self) -> None:
        """Hand every queued document and chunk to the store (one event-loop call); done
        before anything else reads or writes the store."""
        self.set_queue.flush()

    def flush(self) -> None:
        """Land every buffered write in the store: queued node documents and chunks, then the
        documents a new store (a :class:`WriteBackStore`) holds in memory."""
        self.flush_sets()
        store = self.root.store
        if isinstance(store, WriteBackStore):
            sync(store.flush())

    @contextlib.contextmanager
    def call(
        self,
        number_of_jobs: int,
        max_threads_per_process: int | None,
        multiprocessing_context: str | None,
        progress: bool,
    ) -> Iterator[None]:
        """One ``write``/``export`` call: parallel options and progress bar set, publishing
        deferred to the caller, any failure marking the write failed.

        Raises
        ------
        ValueError
            If ``number_of_jobs`` is less than 1.
        """
        self.publish_deferred = True
        try:
            with self.fill.session(
                number_of_jobs, max_threads_per_process, multiprocessing_context, progress
            ):
                yield
        except BaseException:
            self.failed = True
            raise
        finally:
            self.publish_deferred = False

    def exhaust_parallel(self) -> None:
        """Fill the arrays queued for worker processes (``write(number_of_jobs=n)``)."""
        self.fill.exhaust_parallel()

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
            Path of the file being exported (set by :meth:`nwbzarr.ZarrIO.export`); builders
            from it are written as if they belonged to this store.
        consolidate_metadata : bool
            Refresh consolidated metadata now (so ``zarr.open`` sees what was written, as
            with hdmf-zarr) and when the store is closed. A new store keeps its in-progress
            marker until then, so nwbzarr still refuses to read it; an append to an existing
            local store stays invisible until close commits it (docs/storage.md §7.2).
        **kwargs
            Accepted for compatibility with ``HDF5IO.write_builder`` (``expandable``, ...).

        Raises
        ------
        UnsupportedDataError
            If a value cannot be stored (the message names its path).
        """
        self.export_source = export_source
        self.consolidate_on_close = consolidate_metadata
        self._group_dimension_names = None  # names chosen for this tree only
        self.begin()
        root = self.root
        try:
            # the root's attributes and group links first, as for any group: links to
            # datasets (a dataset builder whose data lives in another store) are added by
            # write_dataset
            attrs = self._group_attributes(builder, "/", export_source)
            if LINKS_ATTR in root.attrs:
                attrs.setdefault(LINKS_ATTR, [])
            self.update_attributes(root, attrs)
            self._walk_depth += 1
            try:
                self._write_children(root, builder, link_data, exhaust_dci, export_source)
            finally:
                self._walk_depth -= 1
                self.flush_sets()
            self.fill.exhaust_iterators()
        except BaseException:
            self.failed = True  # close() keeps the store marked incomplete
            raise
        self.written.set_written(builder)

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
                self.flush_sets()
                group = parent[builder.name]
                self.update_attributes(group, attrs)
            else:
                group = create_group(
                    parent, builder.name, attrs, self.node_documents, self.set_queue
                )
            self._write_children(group, builder, link_data, exhaust_dci, export_source)
        finally:
            self._walk_depth -= 1
            if not self._walk_depth:
                self.flush_sets()  # a caller outside the tree walk sees the store complete
        self.written.set_written(builder)
        return group

    def _group_attributes(
        self, builder: GroupBuilder, path: str, export_source: str | None
    ) -> dict:
        """Encoded attributes of a group builder, its links included as ``_LINKS``."""
        attrs = self.encode_attributes(builder.attributes, path)
        links = [
            link_json(lb, export_source, self.source, self.store_root)
            for lb in builder.links.values()
        ]
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
            self.written.set_written(lb)

    def write_attributes(self, obj: zarr.Group | zarr.Array, attributes: dict) -> None:
        """Encode HDMF attribute values (references included) and write them onto ``obj``.

        A list, tuple, set or array value is stored as a JSON array; as with hdmf-zarr, the
        open ``obj.attrs`` hold it as a tuple until the node is opened again (a list then).

        Raises
        ------
        UnsupportedDataError
            If a value has no JSON form; the message names the node and the attribute.
        """
        encoded = self.encode_attributes(attributes, obj.path or "/")
        self.update_attributes(obj, {k: _as_tuple(v) for k, v in encoded.items()})

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
        if self.append_session is not None:  # append modes
            if self.get_written(builder):
                self._refresh_dataset(parent, builder)
            elif builder.name in parent:
                where = f"{parent.path}/{builder.name}".lstrip("/")
                raise AppendError(
                    f"{self.source}: /{where} already exists and this dataset builder was not "
                    "read from the store, so writing it would overwrite stored data; read the "
                    "file and change its container, or write the new tree to a new file"
                )
        if self.get_written(builder):
            return None
        wanted = kwargs.pop("_node_wanted", True)
        self._node_wanted = wanted
        try:
            return self._write_dataset(parent, builder, link_data, exhaust_dci, export_source)
        finally:
            self._node_wanted = True

    def _refresh_dataset(self, parent: zarr.Group, builder: DatasetBuilder) -> None:
        """Store attributes changed on a dataset read from the store (e.g. one set in pynwb),
        and rows added in memory (``grow_written``)."""
        try:
            node = parent[builder.name]
        except KeyError:
            return
        if not isinstance(node, zarr.Array) or node.path.strip("/") != builder_path(builder).strip(
            "/"
        ):
            return  # a link, or a dataset of another store
        self.update_attributes(node, self.encode_attributes(builder.attributes, "/" + node.path))
        if self.grow_written is not None:
            self.grow_written(node, builder)

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
            self.flush_sets()  # links, source arrays, iterators: the store must be complete
        attrs = self.encode_attributes(builder.attributes, path)
        labels = self._dimension_names(builder, data)
        spec_dtype = builder.dtype

        if link_data and self._linked(parent, builder, data, export_source, path):
            return None
        if self.keep_storage and not isinstance(builder.data, DataIO):
            settings = kept_settings(data, spec_dtype, path)

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
                self.fill.exhaust_iterators()
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
        self.written.set_written(builder)
        return array

    def _linked(
        self,
        parent: zarr.Group,
        builder: DatasetBuilder,
        data: Any,
        export_source: str | None,
        path: str,
    ) -> bool:
        """Store the dataset as a link if its data lives in another store (or, in an export,
        at another path of the exported file); return whether it was."""
        target = link_target(data, export_source, self.store_root, path)
        if target is not None and export_source is not None and target[0] == self.store_root:
            # data of the exported file placed at a second path: a soft link to its first
            # place only if the link reads back the same; else it is copied, as before
            try:
                self._check_link_target(builder, data, path)
            except LinkTargetMismatchError:
                target = None
        elif target is not None:
            self._check_link_target(builder, data, path)
        if target is None:
            return False
        add_link(parent, builder.name, *target, self.store_root)
        self.written.set_written(builder)
        return True

    def _check_link_target(self, builder: DatasetBuilder, data: Any, path: str) -> None:
        """Raise LinkTargetMismatchError if linking ``data`` would not give back ``builder``."""
        check_link_target(
            builder,
            data,
            path,
            self.manager.namespace_catalog,
            self.encode_attributes(builder.attributes, path),
        )

    def write_link(
        self, parent: zarr.Group, builder: LinkBuilder, export_source: str | None = None
    ) -> dict:
        """Add one soft or external link to ``parent``'s ``_LINKS`` attribute.

        Parameters
        ----------
        parent : zarr.Group
            Group that holds the link.
        builder : hdmf.build.LinkBuilder
            The link; its target builder's ``source`` decides soft vs external.
        export_source : str, optional
            Path of the file being exported (its builders count as this file's).

        Returns
        -------
        dict
            The ``{"name", "source", "path"}`` entry written.
        """
        entry = link_json(builder, export_source, self.source, self.store_root)
        append_link(parent, entry)
        self.written.set_written(builder)
        return entry

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
        chooser = self._group_dimension_names
        if chooser is None or chooser.catalog is not catalog:
            chooser = self._group_dimension_names = GroupDimensionNames(catalog)
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

        A 0-d array whose value can be its ``fill_value`` (:func:`scalar_fill_value`) stores no
        chunk. In a new store, an unsharded array with values and codecs nwbzarr knows is
        written from our own ``zarr.json`` document and chunks encoded here
        (:func:`direct_write`); with ``need_array=False`` nothing is then parsed back and
        None is returned.
        """
        settings = WriteSettings.coerce(settings)
        is_text = dtype is str
        if not is_text and np.dtype(dtype).kind == "O":
            raise UnsupportedDataError(
                f"/{parent.path}/{name}: cannot store Python objects; give the data a numeric, "
                "text or compound dtype"
            )
        layout_shape = tuple(layout_shape or shape)
        chunks, shards, compressors = self._array_layout(settings, layout_shape, dtype)
        fill_value = settings.fill_value
        scalar_fill = False
        if not shape and values is not None:
            as_fill = scalar_fill_value(values, dtype, fill_value)
            if as_fill is not None:
                fill_value, scalar_fill = as_fill, True
        kwargs = _array_options(
            settings, shape, dtype, attrs, labels, fill_value, (chunks, shards, compressors)
        )
        if scalar_fill:
            values = None  # the value is the fill value: no chunk to write
        if values is not None or scalar_fill:
            written = direct_write(
                parent,
                name,
                dtype,
                kwargs,
                values,
                self.node_documents,
                need_array,
                self.set_queue,
            )
            if written is not False:
                return written
        self.flush_sets()
        if values is None:
            return parent.create_array(name, **kwargs)
        return array_from_async(sync(_create_and_fill(async_group(parent), name, kwargs, values)))

    def _array_layout(
        self, settings: WriteSettings, layout_shape: tuple, dtype: Any
    ) -> tuple[tuple, Any, Any]:
        """Chunk shape, shard shape and compressors of a new array: the settings' where given,
        else the policy's for the layout shape and this IO's ``chunk_bytes``/``shard_bytes``/
        ``codec``."""
        is_text = dtype is str
        itemsize = TEXT_ITEMSIZE if is_text else np.dtype(dtype).itemsize
        chunks = settings.chunks
        shards = settings.shards
        if (chunks is None or chunks is True) and isinstance(shards, tuple) and shards:
            chunks = chunks_within(shards, itemsize, self.chunk_bytes)  # shards, no chunks
        elif chunks is None or chunks is True:
            chunks = choose_chunks(layout_shape, itemsize, self.chunk_bytes)
        chunks = tuple(max(1, int(c)) for c in chunks)
        shards = resolve_shards(
            shards, layout_shape, chunks, itemsize, self.shard_bytes, text=is_text
        )
        compressors = settings.compressors
        if compressors is None:
            compressors = compressors_for(self.codec, dtype)
        elif not isinstance(compressors, str):
            compressors = list(compressors)
        if settings.shuffle and not is_text and not isinstance(compressors, str):
            # H5DataIO(shuffle=True): HDF5's byte shuffle, before the compressor.
            compressors = [shuffle_codec(itemsize), *compressors]
        return chunks, shards, compressors

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
                self.flush_sets()
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
            and self.fill.copy_sink is None
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
            if self.fill.progress is not None:
                self.fill.progress(values.nbytes)
            return array
        array = self._create_array(parent, name, shape, dtype, attrs, settings, labels)
        if math.prod(shape) == 0:
            return array
        self.fill.copy_blocks(array, data, dtype, kept=settings.kept_from is not None)
        return array

    def _write_iterator(
        self,
        parent: zarr.Group,
        name: str,
        data: AbstractDataChunkIterator,
        spec_dtype: Any,
        attrs: dict,
        settings: WriteSettings,
        labels: Any,
    ) -> zarr.Array:
        """Create the array of a chunk iterator and queue its values (:mod:`.fill`)."""
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
        chunks = settings.chunks or chunk_hint(data, dtype, self.chunk_bytes)
        if chunks is not None:
            settings = settings.replace(chunks=tuple(chunks))
        array = self._create_array(parent, name, initial, dtype, attrs, settings, labels, layout)
        self.fill.queue_iterator(array, data, dtype, maxshape)
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
    def reference_path(self, value: Any, where: str) -> str:
        """The path an object reference to ``value`` is stored as.

        Parameters
        ----------
        value : hdmf.build.Builder, hdmf.build.ReferenceBuilder or hdmf.container.Container
            The target (a container is built if it has no builder yet).
        where : str
            Where the reference is stored (for messages).

        Returns
        -------
        str
            The target's path in this file.

        Raises
        ------
        UnsupportedDataError
            The target is in another file, or is not a builder or container.
        """
        if isinstance(value, ReferenceBuilder):
            value = value.builder
        if isinstance(value, Container):
            built = self.manager.get_builder(value)
            if built is None:
                built = self.manager.build(value, source=self.source)
            value = built
        if isinstance(value, Builder):
            tsrc = abspath(value.source)
            local = (None, abspath(self.source), abspath(self.export_source))
            if self.export_source is not None:  # hdmf passes a URL through os.path.abspath
                local += (os.path.abspath(str(self.export_source)),)
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
            target = self.reference_path(data, path)
            array = self._create_array(
                parent, name, (), str, attrs, settings, values=target, need_array=False
            )
            if array is None and self._node_wanted:
                self.flush_sets()
                array = parent[name]
            return array
        items = list(data) if data is not None else []
        values = np.array([self.reference_path(v, path) for v in items], dtype=object)
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
                    row[i] = self.reference_path(row[i], path)
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
    def encode_attributes(self, attributes: dict, path: str) -> dict:
        """HDMF attribute values as stored: JSON values, references as target paths.

        Parameters
        ----------
        attributes : dict
            Attribute name -> value.
        path : str
            Path of the node (for messages).

        Returns
        -------
        dict
            Attribute name -> JSON value (HDF5 dimension-scale bookkeeping left out).

        Raises
        ------
        UnsupportedDataError
            If a value has no JSON form.
        """
        out = {}
        scale = _text(attributes.get("CLASS")) == "DIMENSION_SCALE"
        for key, value in attributes.items():
            if key in DIMENSION_SCALE_ATTRS or (scale and key in ("CLASS", "NAME")):
                continue  # HDF5 dimension-scale bookkeeping: kept as dimension_names
            where = f"{path}@{key}"
            if isinstance(value, DataIO):
                value = value.data
            if isinstance(value, (ReferenceBuilder, Builder, Container)):
                out[key] = attribute_reference(self.reference_path(value, where))
            elif (
                isinstance(value, (list, tuple))
                and value
                and isinstance(value[0], (ReferenceBuilder, Builder, Container))
            ):
                out[key] = [attribute_reference(self.reference_path(v, where)) for v in value]
            else:
                try:
                    out[key] = to_json_value(value, where)
                except (TypeError, UnicodeDecodeError) as exc:
                    raise UnsupportedDataError(f"{where}: {exc}") from exc
        return out

    def update_attributes(self, node: zarr.Group | zarr.Array, attrs: dict) -> None:
        """Write only the attributes that differ from what is stored (one metadata write).

        Parameters
        ----------
        node : zarr.Group or zarr.Array
            The node to update.
        attrs : dict
            Encoded attributes (see :meth:`encode_attributes`).
        """
        self.flush_sets()
        current = node.attrs.asdict()
        changed = {k: v for k, v in attrs.items() if k not in current or not _same(current[k], v)}
        if changed:
            node.attrs.update(changed)


# -- helpers -------------------------------------------------------------------------------------
def _array_options(
    settings: WriteSettings,
    shape: tuple,
    dtype: Any,
    attrs: dict,
    labels: Any,
    fill_value: Any,
    layout: tuple,
) -> dict[str, Any]:
    """Keyword arguments of ``create_array`` for a new array.

    Parameters
    ----------
    settings : WriteSettings
        The dataset's settings (filters, serializer).
    shape : tuple of int
        The array's shape.
    dtype : numpy.dtype or type
        Its numpy dtype (``str`` for text).
    attrs : dict
        Its attributes (dimension names are added as ``_ARRAY_DIMENSIONS``).
    labels : list of str, optional
        Dimension names (used when there is one per dimension).
    fill_value : Any
        Its fill value (None: zarr's default).
    layout : tuple
        ``(chunks, shards, compressors)`` from :meth:`Writer._array_layout`.

    Returns
    -------
    dict
    """
    chunks, shards, compressors = layout
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
        dtype=str if dtype is str else zarr_dtype(dtype),
        compressors=compressors,
        attributes=attrs,
    )
    return kwargs


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
