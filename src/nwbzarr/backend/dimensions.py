"""Dataset specs and dimension names for builders being written.

Zarr v3 arrays carry ``dimension_names`` (read by xarray). They come, in order of preference,
from the builder's ``dimension_labels`` (set by hdmf's ObjectMapper from the spec's ``dims``
when a container is built), from the ``dimension_names`` of a Zarr v3 source array, from the
HDF5 dimension scales of an h5py source dataset (its dimension labels, or the names of
attached scales), and from the spec's ``dims`` looked up in the namespace catalog (builders
read from a file, as in conversion, carry no labels).
Sources: NWB/HDMF schema language ``dims``/``shape`` keys; HDF5 Dimension Scale specification.
"""

from __future__ import annotations

from typing import Any

import h5py
import zarr
from hdmf.build import DatasetBuilder
from hdmf.data_utils import AbstractDataChunkIterator
from hdmf.spec import DatasetSpec, NamespaceCatalog
from hdmf.utils import get_data_shape

from ..virtual.hdf5_values import dimension_names as hdf5_dimension_names

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
    if spec is None or ndim == 0:
        return None
    matches = {tuple(d) for d in spec_alternatives(getattr(spec, "dims", None)) if len(d) == ndim}
    if len(matches) != 1:
        return None
    names = [str(d) for d in next(iter(matches))]
    return names if len(set(names)) == len(names) else None


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
