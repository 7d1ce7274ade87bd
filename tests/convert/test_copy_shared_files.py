"""Every real NWB file in ../shared/data/nwb converts to Zarr v3 and reads back equal."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
import zarr
from conftest import NWB_FILES, sweep
from hdmf.testing import TestCase
from pynwb import NWBHDF5IO

import nwbzarr


def _objects_by_id(nwbfile) -> dict:
    return {oid: type(obj).__name__ for oid, obj in nwbfile.objects.items()}


def _has_object_ids(path) -> bool:
    with h5py.File(path, "r") as f:
        return "object_id" in f.attrs


@pytest.mark.parametrize("src", sweep(NWB_FILES))
def test_convert_reads_back_equal(src, tmp_path):
    dst = tmp_path / (src.stem + ".nwb.zarr")
    nwbzarr.convert(src, dst, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(src), "r", load_namespaces=True) as h5io:
            original = h5io.read()
            with nwbzarr.NWBZarrIO(dst, "r") as zio:
                converted = zio.read()
                if _has_object_ids(src):
                    assert _objects_by_id(converted) == _objects_by_id(original)
                else:  # NWB < 2.0: pynwb invents new ids on every read; compare the types
                    assert sorted(_objects_by_id(converted).values()) == sorted(
                        _objects_by_id(original).values()
                    )
                TestCase().assertContainerEqual(original, converted, ignore_hdmf_attrs=True)


@pytest.mark.parametrize("src", NWB_FILES[-1:], ids=[p.name for p in NWB_FILES[-1:]])
def test_plain_zarr_reads_every_array(src, tmp_path):
    dst = tmp_path / "out.nwb.zarr"
    nwbzarr.convert(src, dst, progress=False)
    root = zarr.open_group(dst, mode="r")
    assert root.metadata.zarr_format == 3
    n = 0
    for _, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array):
            values = node[...]
            assert np.asarray(values).shape == node.shape
            n += 1
    assert n > 10


@pytest.mark.parametrize("src", sweep(NWB_FILES))
def test_zarr_back_to_hdf5_equal(src, tmp_path):
    zarr_path = tmp_path / "mid.nwb.zarr"
    back = tmp_path / "back.nwb"
    nwbzarr.convert(src, zarr_path, progress=False)
    nwbzarr.convert(zarr_path, back, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            NWBHDF5IO(str(src), "r", load_namespaces=True) as a,
            NWBHDF5IO(str(back), "r", load_namespaces=True) as b,
        ):
            original, roundtrip = a.read(), b.read()
            if _has_object_ids(src):
                assert _objects_by_id(roundtrip) == _objects_by_id(original)
            TestCase().assertContainerEqual(original, roundtrip, ignore_hdmf_attrs=True)
