"""Comparisons of NWB files and Zarr trees shared by the virtual-store and amendment tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import zarr
from hdmf.testing import TestCase


def _objects_by_id(nwbfile) -> dict:
    return {oid: type(obj).__name__ for oid, obj in nwbfile.objects.items()}


def _has_object_ids(path: Path) -> bool:
    with h5py.File(path, "r") as f:
        return "object_id" in f.attrs


def assert_same_nwbfile(original, other, src: Path) -> None:
    if _has_object_ids(src):
        assert _objects_by_id(other) == _objects_by_id(original)
    else:  # NWB < 2.0: pynwb invents ids on every read; compare the types
        assert sorted(_objects_by_id(other).values()) == sorted(_objects_by_id(original).values())
    TestCase().assertContainerEqual(original, other, ignore_hdmf_attrs=True)


def zarr_nodes(store) -> dict[str, tuple]:
    """path -> (kind, attributes, dtype, shape, values) of every node, through plain zarr."""
    root = zarr.open_group(store, mode="r", zarr_format=3)
    nodes = {"/": ("group", dict(root.attrs), None, None, None)}
    for path, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array):
            nodes[path] = ("array", dict(node.attrs), str(node.dtype), node.shape, node[...])
        else:
            nodes[path] = ("group", dict(node.attrs), None, None, None)
    return nodes


def assert_same_nodes(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for path in a:
        kind, attrs, dtype, shape, values = a[path]
        assert b[path][:4] == (kind, attrs, dtype, shape), path
        if kind == "array":
            other = b[path][4]
            if np.asarray(values).dtype.kind == "f":
                np.testing.assert_array_equal(values, other, err_msg=path)
            else:
                assert np.asarray(values).tolist() == np.asarray(other).tolist(), path
