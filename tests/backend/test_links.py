"""Links to datasets of other files (Zarr and HDF5) and dimension names on write."""

from __future__ import annotations

from datetime import UTC, datetime

import h5py
import numpy as np
import pytest
import zarr
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.testing.mock.ecephys import mock_ElectricalSeries
from pynwb.testing.mock.file import mock_NWBFile

import nwbzarr
from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.errors import IncompleteStoreError, LinkTargetMismatchError

START = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def _source_store(path, unit="volts", conversion=1.0):
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(
        TimeSeries(name="src", data=np.arange(12.0), unit=unit, conversion=conversion, rate=2.0)
    )
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwbfile)
    return path


def _write_linking(path, data, **ts_kwargs):
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(TimeSeries(name="linked", data=data, rate=2.0, **ts_kwargs))
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwbfile)


def test_link_with_mismatched_attributes_is_refused(tmp_path):
    src = _source_store(tmp_path / "a.nwb.zarr", unit="volts", conversion=0.5)
    with NWBZarrIO(src, mode="r") as src_io:
        data = src_io.read().acquisition["src"].data
        # the container says conversion=1.0 and unit='mV': a link would read back 0.5/'volts'
        with pytest.raises(LinkTargetMismatchError) as err:
            _write_linking(tmp_path / "b.nwb.zarr", data, unit="mV")
    message = str(err.value)
    assert "/acquisition/linked/data" in message
    assert "unit='mV'" in message and "'volts'" in message
    assert "conversion=1.0" in message and "0.5" in message
    # the half-written store is not mistaken for a complete file
    with pytest.raises(IncompleteStoreError):
        NWBZarrIO(tmp_path / "b.nwb.zarr", mode="r")


def test_link_when_attributes_agree_and_copy_on_request(tmp_path):
    src = _source_store(tmp_path / "a.nwb.zarr", unit="volts", conversion=0.5)
    with NWBZarrIO(src, mode="r") as src_io:
        data = src_io.read().acquisition["src"].data
        _write_linking(tmp_path / "linked.nwb.zarr", data, unit="volts", conversion=0.5)
        # explicit copy: attributes may then differ freely
        _write_linking(tmp_path / "copied.nwb.zarr", ZarrDataIO(data, link_data=False), unit="mV")
    linked = zarr.open_group(tmp_path / "linked.nwb.zarr", mode="r")
    assert linked["acquisition/linked"].attrs["_LINKS"] == [
        {"name": "data", "source": "../a.nwb.zarr", "path": "/acquisition/src/data"}
    ]
    copied = zarr.open_group(tmp_path / "copied.nwb.zarr", mode="r")
    assert copied["acquisition/linked/data"].attrs["unit"] == "mV"
    for name in ("linked", "copied"):
        with NWBZarrIO(tmp_path / f"{name}.nwb.zarr", mode="r") as io:
            ts = io.read().acquisition["linked"]
            np.testing.assert_array_equal(ts.data[:], np.arange(12.0))


def test_write_link_data_false_copies_arrays_of_other_stores(tmp_path):
    src = _source_store(tmp_path / "a.nwb.zarr")
    with NWBZarrIO(src, mode="r") as src_io:
        data = src_io.read().acquisition["src"].data
        nwbfile = mock_NWBFile(session_start_time=START)
        nwbfile.add_acquisition(TimeSeries(name="c", data=data, unit="mV", rate=2.0))
        with NWBZarrIO(tmp_path / "b.nwb.zarr", mode="w") as io:
            io.write(nwbfile, link_data=False)
    root = zarr.open_group(tmp_path / "b.nwb.zarr", mode="r")
    assert "_LINKS" not in root["acquisition/c"].attrs
    np.testing.assert_array_equal(root["acquisition/c/data"][:], np.arange(12.0))


def test_external_link_into_an_hdf5_file(tmp_path):
    """A dataset of an HDF5 NWB file becomes a relative link that reads back through h5py."""
    h5 = tmp_path / "raw.nwb"
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(
        TimeSeries(name="raw", data=np.arange(20, dtype="int16"), unit="volts", rate=5.0)
    )
    with NWBHDF5IO(h5, "w") as io:
        io.write(nwbfile)
    with NWBHDF5IO(h5, "r") as h5io:
        data = h5io.read().acquisition["raw"].data
        assert isinstance(data, h5py.Dataset)
        _write_linking(tmp_path / "z.nwb.zarr", data, unit="volts")
        with pytest.raises(LinkTargetMismatchError, match="unit='mV'"):
            _write_linking(tmp_path / "bad.nwb.zarr", data, unit="mV")
    root = zarr.open_group(tmp_path / "z.nwb.zarr", mode="r")
    assert root["acquisition/linked"].attrs["_LINKS"] == [
        {"name": "data", "source": "../raw.nwb", "path": "/acquisition/raw/data"}
    ]
    with NWBZarrIO(tmp_path / "z.nwb.zarr", mode="r") as io:
        ts = io.read().acquisition["linked"]
        assert isinstance(ts.data, h5py.Dataset)
        np.testing.assert_array_equal(ts.data[:], np.arange(20, dtype="int16"))
        assert ts.unit == "volts"


def test_dimension_names_from_spec_dims_on_conversion(tmp_path):
    """Builders read from HDF5 carry no labels; the spec's dims name the Zarr dimensions."""
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_ElectricalSeries(name="es", nwbfile=nwbfile, data=np.ones((50, 5)))
    h5 = tmp_path / "es.nwb"
    with NWBHDF5IO(h5, "w") as io:
        io.write(nwbfile)
    out = tmp_path / "es.nwb.zarr"
    nwbzarr.convert(h5, out, progress=False)
    root = zarr.open_group(out, mode="r")
    assert root["acquisition/es/data"].metadata.dimension_names == ("num_times", "num_channels")
    assert root["acquisition/es/starting_time"].metadata.dimension_names is None  # scalar


def test_hdf5_dimension_scales_carried_over(tmp_path):
    """Dimension labels and attached scales of the HDF5 source become dimension_names."""
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(
        TimeSeries(name="ts", data=np.ones((8, 3)), timestamps=np.arange(8.0) / 10, unit="volts")
    )
    h5 = tmp_path / "scales.nwb"
    with NWBHDF5IO(h5, "w") as io:
        io.write(nwbfile)
    with h5py.File(h5, "r+") as f:
        data, stamps = f["acquisition/ts/data"], f["acquisition/ts/timestamps"]
        stamps.make_scale("seconds")
        data.dims[0].attach_scale(stamps)
        data.dims[1].label = "electrode"
    out = tmp_path / "scales.nwb.zarr"
    nwbzarr.convert(h5, out, progress=False)
    root = zarr.open_group(out, mode="r")
    assert root["acquisition/ts/data"].metadata.dimension_names == ("seconds", "electrode")
    # the HDF5 bookkeeping attributes are not copied as NWB attributes
    for name in ("data", "timestamps"):
        attrs = root[f"acquisition/ts/{name}"].attrs.asdict()
        assert not {"DIMENSION_LIST", "REFERENCE_LIST", "DIMENSION_LABELS", "CLASS"} & set(attrs)
    with NWBHDF5IO(h5, "r") as h5io, NWBZarrIO(out, mode="r") as zio:
        a, b = h5io.read().acquisition["ts"], zio.read().acquisition["ts"]
        np.testing.assert_array_equal(a.data[:], b.data[:])
        np.testing.assert_array_equal(a.timestamps[:], b.timestamps[:])
