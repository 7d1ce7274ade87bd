"""Soft and external links on the write side of :class:`nwbzarr.ZarrIO`.

A link is one entry ``{"name", "source", "path"}`` of the parent group's ``_LINKS`` attribute
(``docs/storage.md``). Links come from two places:

- :class:`hdmf.build.LinkBuilder` objects in the builder tree (a container that holds another
  container it does not own), written by :meth:`nwbzarr.backend.write.Writer.write_link`;
- datasets whose data is an array of another file — a Zarr array of another store, or an
  ``h5py.Dataset`` of an HDF5 file — written as a link instead of a copy when ``link_data`` is
  true (``write(link_data=True)``, the default, or ``ZarrDataIO(array, link_data=True)``).

Before a dataset becomes a link, the target is checked against what the container declares:
the spec's dtype kind and shape, and every attribute the builder sets (``unit``,
``conversion``, ...), which a link cannot carry. A mismatch raises
:class:`~nwbzarr.errors.LinkTargetMismatchError` instead of writing a link that would read back
different from the container.
"""

from __future__ import annotations

import math
import os
from typing import Any

import h5py
import numpy as np
import zarr
from hdmf.build import DatasetBuilder, LinkBuilder
from hdmf.query import HDMFDataset

from ..conventions.attributes import LINKS_ATTR, RESERVED_ATTRS, to_json_value
from ..conventions.references import SAME_FILE, builder_path, link_entry
from ..errors import LinkTargetMismatchError
from .dimensions import dataset_spec, spec_alternatives

#: Attributes a link target legitimately has with its own value.
_OWN_ATTRS = frozenset({"object_id"})

#: Spec dtype names grouped into the kinds a link target must match.
_TEXT = {"text", "utf", "utf8", "utf-8", "ascii", "bytes", "str"}
_BOOL = {"bool"}
_TIME = {"isodatetime", "datetime"}


def link_json(
    link: LinkBuilder, export_source: str | None, source: str | None, store_root: str
) -> dict:
    """The ``_LINKS`` entry of a link builder: a soft link when its target belongs to this
    file (``source``, or the file being exported), else an external link relative to
    ``store_root``.

    Parameters
    ----------
    link : hdmf.build.LinkBuilder
        The link; its target builder's ``source`` decides soft vs external.
    export_source : str, optional
        Path of the file being exported (its builders count as this file's).
    source : str, optional
        Path or URL of the file being written.
    store_root : str
        Directory (or URL) external link sources are relative to.

    Returns
    -------
    dict
        The ``{"name", "source", "path"}`` entry.
    """
    target = link.builder
    tsrc = abspath(target.source)
    lsrc = abspath(link.source)
    internal = (
        tsrc is None
        or lsrc is None
        or tsrc == lsrc
        or tsrc == abspath(source)
        or (export_source is not None and tsrc == abspath(export_source))
    )
    if internal:
        return link_entry(link.name, builder_path(target))
    rel = os.path.relpath(tsrc, store_root)
    return link_entry(link.name, builder_path(target), source=rel.replace(os.sep, "/"))


def link_target(
    data: Any, export_source: str | None, store_root: str, where: str | None = None
) -> tuple[str, str] | None:
    """``(file root, path inside it)`` if ``data`` is an array of a file that may be linked.

    An array of the file being exported is copied where it stands (that is the export);
    placed at another path ``where`` (a container reusing another's data) it becomes a
    soft link to its own path in the new file, as ``HDF5IO.export`` makes it.

    Parameters
    ----------
    data : object
        A dataset builder's data.
    export_source : str, optional
        Path of the file being exported.
    store_root : str
        Root of the store being written.
    where : str, optional
        Path the data is written at.

    Returns
    -------
    tuple of (str, str) or None
        The file root and path of the link target, or None to copy the data.
    """
    target = linkable_array(data)
    if target is None:
        return None
    if isinstance(target, h5py.Dataset):
        root = target.file.filename
        if not root or not os.path.isfile(root):
            return None  # in-memory HDF5 file: nothing on disk to link to
        root, path = os.path.abspath(root), target.name
    else:
        root = _array_store_root(target)
        if root is None:
            return None
        path = "/" + target.path.strip("/")
    if export_source is not None and root == abspath(export_source):
        if where is None or path == "/" + where.strip("/"):
            return None
        return store_root, path
    return root, path


def add_link(parent: zarr.Group, name: str, root: str, path: str, store_root: str) -> None:
    """Add a link ``name`` to ``path`` in the file at ``root`` (soft if ``root`` is
    ``store_root``, the store being written) to ``parent``'s ``_LINKS``.

    Parameters
    ----------
    parent : zarr.Group
        Group that holds the link.
    name : str
        Link name.
    root, path : str
        File root and path of the target (as :func:`link_target` returns them).
    store_root : str
        Root of the store being written.
    """
    source = SAME_FILE
    if root != store_root:
        source = os.path.relpath(root, store_root).replace(os.sep, "/")
    append_link(parent, link_entry(name, path, source))


def check_link_target(
    builder: DatasetBuilder, data: Any, where: str, catalog: Any, attributes: dict
) -> None:
    """Raise if linking ``data`` would not give back ``builder``.

    Parameters
    ----------
    builder : hdmf.build.DatasetBuilder
        The dataset to be written as a link.
    data : object
        Its data (a linkable array, see :func:`linkable_array`).
    where : str
        The dataset's path (for messages).
    catalog : hdmf.spec.NamespaceCatalog
        Catalog holding the builder's spec.
    attributes : dict
        The builder's attributes, JSON-encoded as they would be stored.

    Raises
    ------
    LinkTargetMismatchError
        The target's dtype kind, shape or attributes differ from what the builder declares.
    """
    target = linkable_array(data)
    problems = []
    kind, target_kind = _spec_kind(builder.dtype), _array_kind(target.dtype)
    if kind is not None and target_kind is not None and kind != target_kind:
        problems.append(
            f"the spec declares {builder.dtype!r} data but the target holds {target.dtype}"
        )
    spec = dataset_spec(builder, catalog)
    shapes = spec_alternatives(getattr(spec, "shape", None))
    if shapes and not any(_shape_fits(target.shape, s) for s in shapes):
        problems.append(
            f"the spec allows shapes {shapes} but the target has shape {tuple(target.shape)}"
        )
    theirs = _target_attributes(target)
    for key, value in attributes.items():
        value = _plain(value)
        if key in RESERVED_ATTRS or key in _OWN_ATTRS or _is_reference(value):
            continue
        if key not in theirs:
            problems.append(f"the container sets {key}={value!r}, which the target lacks")
        elif not _is_reference(theirs[key]) and not _same_value(value, theirs[key]):
            problems.append(
                f"the container sets {key}={value!r} but the target has {theirs[key]!r}"
            )
    if problems:
        raise LinkTargetMismatchError(
            f"{where}: cannot link to {_describe(target)}: "
            + "; ".join(problems)
            + ". A link stores no data or attributes of its own, so the file would read "
            "back different from the container. Make them agree, or copy the data with "
            "ZarrDataIO(data, link_data=False) / write(link_data=False)"
        )


# -- helpers -------------------------------------------------------------------------------------
def append_link(parent: zarr.Group, entry: dict) -> None:
    """Add (or replace, by name) one entry of a group's ``_LINKS`` attribute."""
    links = [e for e in parent.attrs.get(LINKS_ATTR, []) if e.get("name") != entry["name"]]
    parent.attrs.update({LINKS_ATTR: links + [entry]})


def abspath(path: Any) -> str | None:
    """Absolute form of a local path (URLs and None unchanged)."""
    if path is None:
        return None
    s = str(path)
    if "://" in s:
        return s
    return os.path.abspath(s)


def linkable_array(data: Any) -> zarr.Array | h5py.Dataset | None:
    """The Zarr array or h5py dataset behind ``data`` (read wrappers unwrapped), or None."""
    if isinstance(data, (zarr.Array, h5py.Dataset)):
        return data
    if isinstance(data, HDMFDataset) and isinstance(data.dataset, (zarr.Array, h5py.Dataset)):
        return data.dataset
    return None


def _array_store_root(array: zarr.Array) -> str | None:
    root = getattr(array.store, "root", None)
    return os.path.abspath(str(root)) if root is not None else None


def _describe(target: Any) -> str:
    if isinstance(target, h5py.Dataset):
        return f"{target.name} in {target.file.filename}"
    return f"/{target.path} in {_array_store_root(target)}"


def _spec_kind(dtype: Any) -> str | None:
    if not isinstance(dtype, str):
        return None
    name = dtype.lower()
    if name in _TEXT or name in _TIME:
        return "text"
    if name in _BOOL:
        return "bool"
    if name == "numeric" or name.startswith(("int", "uint", "float", "double", "long", "short")):
        return "number"
    return None


def _array_kind(dtype: Any) -> str | None:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        return "text"  # zarr's variable-length string dtype
    if dt.kind in "OSUT":
        return "text"
    if dt.kind == "b":
        return "bool"
    if dt.kind in "iufc":
        return "number"
    return None


def _shape_fits(shape: tuple, spec_shape: list) -> bool:
    return len(shape) == len(spec_shape) and all(
        want is None or int(want) == int(have) for have, want in zip(shape, spec_shape)
    )


def _target_attributes(target: Any) -> dict:
    if isinstance(target, h5py.Dataset):
        out = {}
        for key, value in target.attrs.items():
            try:
                out[key] = _plain(to_json_value(value, key))
            except (TypeError, UnicodeDecodeError):
                out[key] = {"_REFERENCE": None}  # references and the like are not compared
        return out
    return {k: _plain(v) for k, v in target.attrs.asdict().items()}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_reference(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and isinstance(value[0], dict)
    )


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, list) or isinstance(b, list):
        a = a if isinstance(a, list) else [a]
        b = b if isinstance(b, list) else [b]
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return a == b or (math.isnan(a) and math.isnan(float(b)))
    return a == b
