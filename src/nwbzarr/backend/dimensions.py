"""Dataset specs and dimension names for builders being written.

Zarr v3 arrays carry ``dimension_names`` (read by xarray). They come, in order of preference,
from the builder's ``dimension_labels`` (set by hdmf's ObjectMapper from the spec's ``dims``
when a container is built), from the ``dimension_names`` of a Zarr v3 source array, from the
HDF5 dimension scales of an h5py source dataset (its dimension labels, or the names of
attached scales), and from the spec's ``dims`` looked up in the namespace catalog (builders
read from a file, as in conversion, carry no labels).
Those are candidates: :class:`GroupDimensionNames` chooses the names of all the datasets
of a group together (:mod:`nwbzarr.conventions.dimension_names`), so that every array gets a
name per dimension and arrays sharing a name agree on its length, as xarray requires.
Sources: NWB/HDMF schema language ``dims``/``shape`` keys; HDF5 Dimension Scale specification.
"""

from __future__ import annotations

from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import Builder, DatasetBuilder, ReferenceBuilder
from hdmf.container import Container
from hdmf.data_utils import AbstractDataChunkIterator, DataIO
from hdmf.spec import DatasetSpec, NamespaceCatalog
from hdmf.utils import get_data_shape

from ..conventions.dimension_names import (
    ROOT_SCOPE,
    ArrayDims,
    Scope,
    child_scope,
    colnames_of,
    group_dimension_names,
)
from ..conventions.spec_dims import dims_for_ndim
from ..formats.hdf5.values import dimension_names as hdf5_dimension_names

#: HDF5 attributes that only bookkeep dimension scales; they are expressed as
#: ``dimension_names`` in Zarr and never copied as attributes.
DIMENSION_SCALE_ATTRS = frozenset({"DIMENSION_LIST", "REFERENCE_LIST", "DIMENSION_LABELS"})


def _type_of(builder: Any) -> tuple[str | None, str | None]:
    attrs = builder.attributes
    return attrs.get("neurodata_type") or attrs.get("data_type"), attrs.get("namespace")


def dataset_spec(builder: DatasetBuilder, catalog: NamespaceCatalog) -> DatasetSpec | None:
    """Return the spec that describes ``builder``, or None if it cannot be found.

    A typed dataset is described by its type's spec; an untyped one by the entry with its
    name inside the spec of its nearest typed ancestor group (through untyped subgroups).

    Parameters
    ----------
    builder : hdmf.build.DatasetBuilder
        A dataset builder placed in its tree (``parent`` set).
    catalog : hdmf.spec.NamespaceCatalog
        Catalog holding the namespaces of the file.
    """
    try:
        ndt, ns = _type_of(builder)
        if ndt is not None and ns is not None:
            return catalog.get_spec(ns, ndt)
        names = [builder.name]
        parent = builder.parent
        while parent is not None and _type_of(parent)[0] is None:
            names.insert(0, parent.name)
            parent = parent.parent
        if parent is None:
            return None
        spec = catalog.get_spec(_type_of(parent)[1], _type_of(parent)[0])
        for name in names[:-1]:
            spec = spec.get_group(name)
            if spec is None:
                return None
        return spec.get_dataset(names[-1])
    except (KeyError, ValueError, AttributeError, TypeError):
        return None


def data_ndim(data: Any) -> int | None:
    """Number of dimensions of data about to be written (None if unknown)."""
    if isinstance(data, AbstractDataChunkIterator):
        shape = data.maxshape
    elif isinstance(data, (str, bytes)) or data is None:
        return None
    else:
        try:
            shape = get_data_shape(data)
        except Exception:
            return None
    return None if shape is None else len(shape)


def spec_alternatives(value: Any) -> list[list]:
    """The alternatives of a spec's ``dims``/``shape`` key as a list of lists."""
    if not value:
        return []
    if isinstance(value[0], (list, tuple)):
        return [list(v) for v in value]
    return [list(value)]


def spec_dimension_names(spec: DatasetSpec | None, ndim: int) -> list[str] | None:
    """Dimension names from a spec's ``dims`` for an ``ndim``-dimensional array.

    Returns None when the spec has no ``dims``, none matches ``ndim``, or several different
    alternatives match (ambiguous).
    """
    if spec is None:
        return None
    return dims_for_ndim(getattr(spec, "dims", None), ndim)


def dimension_names(
    builder: DatasetBuilder, data: Any, catalog: NamespaceCatalog
) -> list[str | None] | None:
    """Zarr ``dimension_names`` for ``builder`` (see the module docstring for the order).

    Parameters
    ----------
    builder : hdmf.build.DatasetBuilder
        The dataset being written.
    data : Any
        Its data after unwrapping DataIO (array-like, h5py.Dataset, iterator, ...).
    catalog : hdmf.spec.NamespaceCatalog
        Catalog used to find the dataset's spec.

    Returns
    -------
    list of str or None, or None
        One entry per dimension (None entries for unnamed dimensions), or None.
    """
    labels = getattr(builder, "dimension_labels", None)
    ndim = data_ndim(data)
    if labels is not None and (ndim is None or len(labels) == ndim):
        return [str(x) for x in labels]
    if not ndim:
        return None
    from_spec = spec_dimension_names(dataset_spec(builder, catalog), ndim)
    source = getattr(data, "dataset", data)  # read wrappers hold the stored array
    if isinstance(source, zarr.Array) and source.metadata.zarr_format == 3:
        names = source.metadata.dimension_names
        if names is not None and len(names) == ndim and any(n is not None for n in names):
            return list(names)
    if isinstance(data, h5py.Dataset):
        scales = hdf5_dimension_names(data)
        if scales is not None:
            if from_spec is not None:
                scales = [s if s is not None else d for s, d in zip(scales, from_spec)]
            return scales
    return from_spec


def data_shape(data: Any) -> tuple[int | None, ...] | None:
    """Shape of data about to be written (``None`` entries: lengths not known yet).

    An iterator gives its ``maxshape``; text and bytes scalars are zero-dimensional; data whose
    shape cannot be determined gives None.
    """
    if isinstance(data, DataIO):
        data = data.data if data.valid else None
    if data is None:
        return None
    if isinstance(data, AbstractDataChunkIterator):
        shape = data.maxshape
    elif isinstance(data, (str, bytes)):
        return ()
    else:
        try:
            shape = get_data_shape(data)
        except Exception:
            return None
    if shape is None:
        return ()
    return tuple(None if n is None else int(n) for n in shape)


def group_arrays(group: Any, catalog: NamespaceCatalog) -> dict[str, ArrayDims]:
    """Shapes and dimension-name candidates of the dataset builders of ``group``.

    Parameters
    ----------
    group : hdmf.build.GroupBuilder
        The group (datasets read from a store in mode ``'a'`` count too, with their stored
        shapes).
    catalog : hdmf.spec.NamespaceCatalog
        Catalog used to find the datasets' specs.

    Returns
    -------
    dict of str to ArrayDims
        By dataset name, for the datasets whose shape is known.
    """
    arrays: dict[str, ArrayDims] = {}
    for name, builder in group.datasets.items():
        data = builder.data
        if isinstance(data, DataIO):
            data = data.data if data.valid else None
        shape = _builder_shape(builder, data)
        if shape is None:
            continue
        candidates = dimension_names(builder, data, catalog) if shape else None
        arrays[name] = ArrayDims(shape, candidates)
    return arrays


class GroupDimensionNames:
    """Dimension names of the datasets of builder groups, each group chosen once, top-down.

    The names of a group depend on its own datasets and on its ancestors' (xarray's DataTree
    aligns a group with them; :mod:`nwbzarr.conventions.dimension_names`), so a group's
    ancestors are named first (iteratively: no recursion over deep trees). One instance lives
    for one write.

    Parameters
    ----------
    catalog : hdmf.spec.NamespaceCatalog
        Catalog used to find the datasets' specs.
    """

    def __init__(self, catalog: NamespaceCatalog) -> None:
        self.catalog = catalog
        # id(group) -> (group, names by dataset, scope of the group's children)
        self._done: dict[int, tuple[Any, dict[str, list[str]], Scope]] = {}

    def _entry(self, group: Any) -> tuple[Any, dict[str, list[str]], Scope] | None:
        entry = self._done.get(id(group))
        return entry if entry is not None and entry[0] is group else None

    def names(self, group: Any) -> dict[str, list[str]]:
        """Names by dataset name for the datasets of ``group`` (a GroupBuilder)."""
        chain = []
        node = group
        while node is not None and self._entry(node) is None and len(chain) < 100_000:
            chain.append(node)
            node = node.parent
        scope = ROOT_SCOPE if node is None else self._entry(node)[2]
        for node in reversed(chain):
            arrays = group_arrays(node, self.catalog)
            chosen = group_dimension_names(
                arrays, colnames_of(node.attributes.get("colnames")), scope, node.name
            )
            scope = child_scope(scope, arrays, chosen)
            self._done[id(node)] = (node, chosen, scope)
        return self._entry(group)[1]


def _builder_shape(builder: DatasetBuilder, data: Any) -> tuple[int | None, ...] | None:
    """Shape of a dataset as it will be stored (compound and reference data: one per record)."""
    if isinstance(data, (Builder, ReferenceBuilder, Container)):
        return ()  # a scalar object reference
    compound = isinstance(builder.dtype, list)
    if compound and isinstance(data, (tuple, np.void)):
        return ()
    if compound and not isinstance(data, (np.ndarray, AbstractDataChunkIterator)):
        try:
            return (len(data),)
        except TypeError:
            return None
    if (
        isinstance(data, (list, tuple))
        and data
        and isinstance(data[0], (Builder, ReferenceBuilder, Container))
    ):
        return (len(data),)
    shape = data_shape(data)
    if compound and shape and isinstance(data, np.ndarray) and not data.dtype.names:
        return shape[:1]  # rows of a plain 2-D array written as records
    return shape
