"""h5py's indexing rules, applied to a zarr array.

h5py accepts, per axis, an integer (negative counts from the end), a slice with a positive step,
or — on at most one axis — a list or array of increasing integers, or a boolean array; plus
``...``, ``()`` (the whole dataset, a scalar for a scalar dataset), a boolean mask of the
dataset's shape (a 1-D result of the selected points), and compound field names. This module
checks a selection against those rules, raising the errors h5py raises (``IndexError`` out of
range, ``TypeError`` for a second or unsorted index list, ``ValueError`` for a step < 1), and
reads it with zarr's basic, orthogonal or mask indexing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["Selection", "parse_selection"]


class Selection:
    """A checked selection of an array.

    Attributes
    ----------
    fields : tuple of str
        Compound field names selected (empty: all fields).
    kind : {"basic", "orthogonal", "mask", "scalar"}
        How zarr reads it: ``array[key]``, ``array.oindex[key]``,
        ``array.get_mask_selection(key)``, or ``array[()]`` of a scalar array.
    key : Any
        What is handed to zarr.
    """

    __slots__ = ("fields", "kind", "key")

    def __init__(self, fields: tuple[str, ...], kind: str, key: Any) -> None:
        self.fields = fields
        self.kind = kind
        self.key = key


def _as_tuple(args: Any) -> tuple:
    return args if isinstance(args, tuple) else (args,)


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def parse_selection(args: Any, shape: tuple[int, ...], names: tuple[str, ...] | None) -> Selection:
    """Check ``args`` (what ``dataset[args]`` received) against h5py's rules.

    Parameters
    ----------
    args : Any
        The index: int, slice, list/array of int or bool, ``...``, ``()``, field names, or a
        tuple of those.
    shape : tuple of int
        The dataset's shape.
    names : tuple of str or None
        Field names of a compound dataset (None otherwise).

    Returns
    -------
    Selection

    Raises
    ------
    ValueError
        A field name the dtype does not have, a slice step < 1, or anything but ``()``/``...``
        on a scalar dataset.
    IndexError
        An integer out of range.
    TypeError
        More than one index list, unsorted or repeated indices, or an unsupported index type.
    """
    fields, items = _split_fields(_as_tuple(args), names)
    if len(shape) == 0:
        if len(items) == 0 or (len(items) == 1 and items[0] is Ellipsis):
            return Selection(fields, "scalar", items)
        raise ValueError("Illegal slicing argument for scalar dataspace")
    if len(items) == 1 and isinstance(items[0], np.ndarray) and items[0].dtype == bool:
        mask = items[0]
        if mask.shape == tuple(shape):
            return Selection(fields, "mask", mask)
    key = []
    lists = 0
    for axis, (item, length) in enumerate(zip(_full_items(items, shape), shape)):
        if _is_int(item):
            index = int(item)
            if not -length <= index < length:
                raise IndexError(f"Index ({index}) out of range for (0-{length - 1})")
            key.append(index + length if index < 0 else index)
        elif isinstance(item, slice):
            if item.step is not None and item.step < 1:
                raise ValueError(f"Step must be >= 1 (got {item.step})")
            key.append(item)
        elif item is None or item is np.newaxis:
            raise TypeError("h5py views do not support np.newaxis in a selection")
        else:
            lists += 1
            if lists > 1:
                raise TypeError(
                    "Only one indexing vector or array is currently allowed for fancy indexing"
                )
            key.append(_index_list(item, length, axis))
    kind = "orthogonal" if lists else "basic"
    return Selection(fields, kind, tuple(key))


def _split_fields(items: tuple, names: tuple[str, ...] | None) -> tuple[tuple[str, ...], tuple]:
    """The compound field names of a selection (checked against ``names``) and the rest."""
    fields = tuple(a for a in items if isinstance(a, (str, bytes)))
    items = tuple(a for a in items if not isinstance(a, (str, bytes)))
    fields = tuple(f.decode() if isinstance(f, bytes) else f for f in fields)
    for field in fields:
        if not names or field not in names:
            raise ValueError(f"Field name {field!r} not found in the dataset's dtype")
    return fields, items


def _full_items(items: tuple, shape: tuple[int, ...]) -> tuple:
    """One index per axis: ``...`` expanded, missing trailing axes as ``slice(None)``."""
    ellipses = [i for i, a in enumerate(items) if a is Ellipsis]
    if len(ellipses) > 1:
        raise ValueError("Only one ellipsis may be used.")
    if ellipses:
        i = ellipses[0]
        fill = len(shape) - (len(items) - 1)
        items = items[:i] + (slice(None),) * max(fill, 0) + items[i + 1 :]
    if len(items) > len(shape):
        raise ValueError(f"{len(items)} indices given for a dataset of {len(shape)} dimension(s)")
    return items + (slice(None),) * (len(shape) - len(items))


def _index_list(item: Any, length: int, axis: int) -> np.ndarray:
    arr = np.asarray(item)
    if arr.ndim != 1:
        raise TypeError(f"Selection index for axis {axis} must be a 1-D list or array")
    if arr.dtype == bool:
        if arr.shape[0] != length:
            raise TypeError(
                f"Boolean index for axis {axis} has length {arr.shape[0]}, the axis {length}"
            )
        return np.flatnonzero(arr)
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"Selection index for axis {axis} must be integers, not {arr.dtype}")
    arr = arr.astype(np.int64)
    # h5py's order of checks: far out of range, then the order (negatives counted from the
    # end), then an index equal to the length
    if arr.min() < -length or arr.max() > length:
        raise IndexError(f"Fancy indexing out of range for (0-{length - 1})")
    arr = np.where(arr < 0, arr + length, arr)
    if np.any(np.diff(arr) <= 0):
        raise TypeError("Indexing elements must be in increasing order")
    if arr.max() >= length:
        raise IndexError(f"Fancy indexing out of range for (0-{length - 1})")
    return arr
