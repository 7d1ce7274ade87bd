"""Links and exports through ``NWBZarrIO``: soft links inside a store, external links to
another store, and exports Zarr -> Zarr and HDF5 -> Zarr that keep references and links.
"""

from __future__ import annotations

import numpy as np
import zarr
from helpers import START, assert_equal_containers, build_rich_file, write, zattrs
from pynwb import NWBHDF5IO, TimeSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO, ZarrDataIO


# -- links ----------------------------------------------------------------------------------------
def test_timestamps_and_data_links(tmp_path):
    nwbfile = mock_NWBFile(session_start_time=START)
    ts_a = TimeSeries(
        name="a", data=np.arange(6.0), unit="V", timestamps=np.array([0, 1, 2, 4, 8, 16.0])
    )
    ts_b = TimeSeries(name="b", data=np.arange(6.0) * 2, unit="V", timestamps=ts_a)
    ts_c = TimeSeries(name="c", data=ts_b, unit="V", rate=2.0)  # `data` links to b's data
    for ts in (ts_a, ts_b, ts_c):
        nwbfile.add_acquisition(ts)
    path = write(nwbfile, tmp_path / "link.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    assert "timestamps" in root["acquisition/a"]
    assert "timestamps" not in root["acquisition/b"]
    assert "data" not in root["acquisition/c"]
    assert zattrs(root["acquisition/b"])["_LINKS"] == [
        {"name": "timestamps", "source": ".", "path": "/acquisition/a/timestamps"}
    ]
    assert zattrs(root["acquisition/c"])["_LINKS"] == [
        {"name": "data", "source": ".", "path": "/acquisition/b/data"}
    ]

    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        a, b = nwb.acquisition["a"], nwb.acquisition["b"]
        np.testing.assert_array_equal(b.timestamps[:], [0, 1, 2, 4, 8, 16.0])
        np.testing.assert_array_equal(b.data[:], np.arange(6.0) * 2)
        # the link is resolved to the TimeSeries that owns the timestamps
        assert b.fields["timestamps"] is a
        assert b.timestamps is a.timestamps
        assert a.timestamp_link == {b}
        c = nwb.acquisition["c"]
        assert c.fields["data"] is b
        assert b.data_link == {c}
        np.testing.assert_array_equal(c.data[:], np.arange(6.0) * 2)


def test_external_link_to_another_store(tmp_path):
    """Data read from one store and written into another becomes a relative external link."""
    source = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="src", data=np.arange(10.0), rate=1.0, nwbfile=source)
    first = write(source, tmp_path / "a.nwb.zarr")
    with NWBZarrIO(first, mode="r") as src_io:
        src_data = src_io.read().acquisition["src"].data
        nwbfile = mock_NWBFile(session_start_time=START)
        nwbfile.add_acquisition(TimeSeries(name="linked", data=src_data, unit="volts", rate=1.0))
        copied = ZarrDataIO(src_data, link_data=False)
        nwbfile.add_acquisition(TimeSeries(name="copied", data=copied, unit="V", rate=1.0))
        second = write(nwbfile, tmp_path / "b.nwb.zarr")

    root = zarr.open_group(second, mode="r")
    assert zattrs(root["acquisition/linked"])["_LINKS"] == [
        {"name": "data", "source": "../a.nwb.zarr", "path": "/acquisition/src/data"}
    ]
    assert "data" not in root["acquisition/linked"]
    np.testing.assert_array_equal(root["acquisition/copied/data"][...], np.arange(10.0))
    with NWBZarrIO(second, mode="r") as io:
        nwb = io.read()
        np.testing.assert_array_equal(nwb.acquisition["linked"].data[:], np.arange(10.0))
        np.testing.assert_array_equal(nwb.acquisition["copied"].data[:], np.arange(10.0))


def test_export_zarr_to_zarr_keeps_references_and_links(tmp_path):
    """A file read back and exported to a new store keeps references and links intact."""
    nwbfile = build_rich_file()
    first = write(nwbfile, tmp_path / "first.nwb.zarr")
    second = tmp_path / "second.nwb.zarr"
    with NWBZarrIO(first, mode="r") as src:
        with NWBZarrIO(second, mode="w") as dst:
            dst.export(src_io=src)
    with NWBZarrIO(second, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        assert nwb.acquisition["ElectricalSeries"].electrodes.table is nwb.electrodes
        assert nwb.electrodes["group"][4] is nwb.electrode_groups["shank1"]
        assert (
            nwb.processing["behavior"]["heading"].fields["timestamps"]
            is (nwb.processing["behavior"]["Position"]["position"])
        )
    root = zarr.open_group(second, mode="r")
    assert zattrs(root["intervals/epochs/timeseries"])["_REFERENCE_FIELDS"] == ["timeseries"]
    assert zattrs(root["processing/behavior/heading"])["_LINKS"] == [
        {
            "name": "timestamps",
            "source": ".",
            "path": "/processing/behavior/Position/position/timestamps",
        }
    ]
    assert (
        zattrs(root["general/extracellular_ephys/electrodes/group"])["_DTYPE"] == "object_reference"
    )


def test_export_modified_file(rich, tmp_path):
    original, src_path = rich
    dst = tmp_path / "modified.nwb.zarr"
    with NWBZarrIO(src_path, mode="r") as src:
        nwb = src.read()
        nwb.add_acquisition(TimeSeries(name="extra", data=np.arange(3.0), unit="V", rate=1.0))
        with NWBZarrIO(dst, mode="w") as io:
            io.export(src_io=src, nwbfile=nwb)
    with NWBZarrIO(dst, mode="r") as io:
        nwb = io.read()
        assert sorted(nwb.acquisition) == ["ElectricalSeries", "camera", "extra"]
        np.testing.assert_array_equal(nwb.acquisition["extra"].data[:], [0.0, 1.0, 2.0])
        assert nwb.electrodes["group"][3] is nwb.electrode_groups["shank1"]
        assert_equal_containers(original.processing["behavior"], nwb.processing["behavior"])
        assert_equal_containers(original.epochs, nwb.epochs)


def test_hdf5_file_exports_to_zarr(tmp_path):
    nwbfile = build_rich_file()
    h5 = tmp_path / "rich.nwb"
    with NWBHDF5IO(str(h5), "w") as io:
        io.write(nwbfile)
    dst = tmp_path / "rich.nwb.zarr"
    with NWBHDF5IO(str(h5), "r") as src:
        with NWBZarrIO(dst, mode="w") as io:
            io.export(src_io=src)
    with NWBZarrIO(dst, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        assert [g.name for g in nwb.electrodes["group"][:]] == ["shank0"] * 3 + ["shank1"] * 3
        refs = nwb.epochs["timeseries"][1]
        assert refs[1].timeseries is nwb.acquisition["camera"]
