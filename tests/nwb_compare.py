"""Comparisons of NWB files and Zarr trees, and the amendment used by the amend/publish tests."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import h5py
import numpy as np
import zarr
from conftest import ECEPHYS_FILE
from hdmf.testing import TestCase
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.misc import Units


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


# -- one amendment, applied by nwbzarr and by pynwb's own append --------------------------------
SAMPLES = np.random.default_rng(7).standard_normal((50_000, 4)).astype("float32")  # 800 kB


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_original():
    io = NWBHDF5IO(str(ECEPHYS_FILE), "r")
    return io, io.read()


def add_processing(nwbfile) -> None:
    module = nwbfile.create_processing_module("amended", "added through a staging store")
    module.add(TimeSeries(name="filtered", data=SAMPLES, rate=1000.0, unit="V"))
    module.add(TimeSeries(name="tiny", data=np.arange(5.0), rate=1.0, unit="s"))
    units = Units(name="sorted_units", description="spike sorting of the amended file")
    units.add_unit(spike_times=[0.5, 1.5, 2.5])
    units.add_unit(spike_times=[0.25])
    module.add(units)


def check_additions(nwbfile) -> None:
    module = nwbfile.processing["amended"]
    np.testing.assert_array_equal(module["filtered"].data[:], SAMPLES)
    np.testing.assert_array_equal(module["tiny"].data[:], np.arange(5.0))
    table = module["sorted_units"]
    assert [list(table["spike_times"][i]) for i in range(2)] == [[0.5, 1.5, 2.5], [0.25]]


def pynwb_append(tmp_path: Path, change) -> Path:
    """The reference result: pynwb's own append to a copy of the HDF5 file."""
    copy = tmp_path / "pynwb_appended.nwb"
    copy.write_bytes(ECEPHYS_FILE.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with NWBHDF5IO(str(copy), "a") as io:
            nwbfile = io.read()
            change(nwbfile)
            io.write(nwbfile)
    return copy


def assert_same_as_pynwb_append(got, tmp_path: Path, change) -> None:
    """``got`` equals pynwb's append of the same change, and keeps every original object."""
    with NWBHDF5IO(str(pynwb_append(tmp_path, change)), "r") as io:
        TestCase().assertContainerEqual(io.read(), got, ignore_hdmf_attrs=True)
    h5io, original = read_original()
    with h5io:
        assert set(original.objects) <= set(got.objects)  # object ids kept
