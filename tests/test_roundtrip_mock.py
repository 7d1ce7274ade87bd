"""Round trips of NWB files built with ``pynwb.testing.mock`` through ``NWBZarrIO``.

Each test writes a file with :class:`nwbzarr.NWBZarrIO`, reads it back with a new I/O object,
compares the containers with ``hdmf.testing.TestCase.assertContainerEqual`` and checks concrete
values, and where the on-disk convention matters opens the store with plain ``zarr`` (no
nwbzarr) to check what was written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zarr
from hdmf.build import BuildManager
from hdmf.common import DynamicTableRegion
from hdmf.data_utils import DataChunkIterator
from hdmf.testing import TestCase
from pynwb import NWBHDF5IO, NWBFile, TimeSeries, get_type_map
from pynwb.behavior import Position, SpatialSeries
from pynwb.epoch import TimeIntervals
from pynwb.image import ImageSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.ecephys import (
    mock_ElectricalSeries,
    mock_ElectrodeGroup,
    mock_ElectrodesTable,
)
from pynwb.testing.mock.file import mock_NWBFile, mock_Subject

import nwbzarr
from nwbzarr import NWBZarrIO, ZarrDataIO

START = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


# -- helpers --------------------------------------------------------------------------------------
def assert_equal_containers(original, read_back) -> None:
    """Deep comparison of two containers, ignoring object ids and other HDMF attributes."""
    TestCase().assertContainerEqual(original, read_back, ignore_hdmf_attrs=True)


def write(nwbfile: NWBFile, path: Path, **kwargs) -> Path:
    with NWBZarrIO(path, mode="w", **kwargs) as io:
        io.write(nwbfile)
    return path


def zattrs(node) -> dict:
    return node.attrs.asdict()


def build_rich_file() -> NWBFile:
    """An NWB file touching most core types: ecephys, units, epochs, images, behavior."""
    nwbfile = mock_NWBFile(
        session_description="round trip of mock data",
        identifier="mock-roundtrip-0001",
        session_start_time=START,
        experimenter=["Doe, Jane", "Roe, Rick"],
        keywords=["zarr", "mock"],
        lab="the lab",
    )
    mock_Subject(nwbfile=nwbfile, subject_id="mouse-7")

    # ecephys: two groups so the electrodes table's `group` column refers to different objects
    # a named device: pynwb's mock helpers number default names per process ("Device2", ...)
    device = nwbfile.create_device(name="Device", description="a probe")
    group_a = mock_ElectrodeGroup(name="shank0", device=device, nwbfile=nwbfile)
    group_b = mock_ElectrodeGroup(name="shank1", device=device, nwbfile=nwbfile)
    mock_ElectrodesTable(n_rows=3, group=group_a, nwbfile=nwbfile)
    for _ in range(3):
        nwbfile.electrodes.add_row(location="CA3", group=group_b, group_name=group_b.name)
    region = DynamicTableRegion(
        name="electrodes", data=[1, 3, 4], description="three electrodes", table=nwbfile.electrodes
    )
    ephys = np.arange(40 * 3, dtype=np.int16).reshape(40, 3)
    mock_ElectricalSeries(
        name="ElectricalSeries",
        data=ephys,
        electrodes=region,
        rate=1000.0,
        nwbfile=nwbfile,
        conversion=0.5e-6,
    )

    # units with ragged spike times and an extra column
    nwbfile.add_unit_column(name="quality", description="sorting quality")
    spikes = [[0.1, 0.25, 0.3], [1.5], [2.0, 2.5, 3.0, 3.5, 4.0]]
    for i, st in enumerate(spikes):
        nwbfile.add_unit(spike_times=st, quality=["good", "mua", "good"][i], electrodes=[i])

    # processing: a plain TimeSeries and a Position with a SpatialSeries
    behavior = nwbfile.create_processing_module(name="behavior", description="behavioral data")
    speed = mock_TimeSeries(
        name="speed", data=np.linspace(0.0, 1.0, 25), unit="m/s", rate=50.0, starting_time=2.0
    )
    behavior.add(speed)
    spatial = SpatialSeries(
        name="position",
        data=np.column_stack([np.linspace(0, 1, 30), np.linspace(1, 0, 30)]),
        timestamps=np.arange(30) / 30.0,
        reference_frame="origin at the arena's lower left corner",
        unit="meters",
        description="x and y",
    )
    behavior.add(Position(name="Position", spatial_series=[spatial]))
    behavior.add(
        TimeSeries(
            name="heading", data=np.linspace(0, np.pi, 30), unit="radians", timestamps=spatial
        )
    )

    # images
    images = ImageSeries(
        name="camera",
        data=np.arange(4 * 8 * 6, dtype=np.uint8).reshape(4, 8, 6),
        unit="n.a.",
        rate=30.0,
        description="tiny frames",
    )
    nwbfile.add_acquisition(images)

    # epochs with a `timeseries` column (compound with an object reference field)
    nwbfile.add_epoch(start_time=0.0, stop_time=0.02, tags=["first"], timeseries=[speed])
    nwbfile.add_epoch(
        start_time=2.0, stop_time=2.1, tags=["second", "both"], timeseries=[speed, images]
    )

    # another TimeIntervals table
    intervals = TimeIntervals(name="sleep", description="sleep bouts")
    intervals.add_column(name="stage", description="sleep stage")
    intervals.add_interval(start_time=10.0, stop_time=20.0, stage="REM")
    intervals.add_interval(start_time=30.0, stop_time=45.5, stage="NREM")
    nwbfile.add_time_intervals(intervals)
    return nwbfile


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    """The rich file, written once: ``(original nwbfile, store path)``."""
    nwbfile = build_rich_file()
    path = write(nwbfile, tmp_path_factory.mktemp("rich") / "rich.nwb.zarr")
    return nwbfile, path


@pytest.fixture
def rich_read(rich):
    original, path = rich
    with NWBZarrIO(path, mode="r") as io:
        yield original, io.read(), path


# -- the rich file --------------------------------------------------------------------------------
def test_rich_file_container_equal(rich_read):
    original, read_back, _ = rich_read
    assert_equal_containers(original, read_back)
    assert read_back.object_id == original.object_id
    assert sorted(read_back.objects) == sorted(original.objects)


def test_rich_file_scalars_and_metadata(rich_read):
    _, nwb, _ = rich_read
    assert nwb.session_description == "round trip of mock data"
    assert nwb.identifier == "mock-roundtrip-0001"
    assert nwb.session_start_time == START
    assert list(nwb.experimenter) == ["Doe, Jane", "Roe, Rick"]
    assert list(nwb.keywords) == ["zarr", "mock"]
    assert nwb.lab == "the lab"
    assert nwb.subject.subject_id == "mouse-7"
    assert nwb.subject.age == "P50D"


def test_electrical_series_values(rich_read):
    original, nwb, _ = rich_read
    es = nwb.acquisition["ElectricalSeries"]
    np.testing.assert_array_equal(es.data[:], original.acquisition["ElectricalSeries"].data)
    assert es.data.dtype == np.int16
    assert es.rate == 1000.0
    assert es.conversion == pytest.approx(0.5e-6)
    assert es.data[5, 2] == 17
    # DynamicTableRegion into the electrodes table
    assert es.electrodes.table is nwb.electrodes
    np.testing.assert_array_equal(es.electrodes.data[:], [1, 3, 4])
    assert list(es.electrodes[:]["location"]) == ["CA1", "CA3", "CA3"]


def test_electrodes_group_references(rich_read):
    original, nwb, path = rich_read
    groups = nwb.electrodes["group"][:]
    assert [g.name for g in groups] == ["shank0"] * 3 + ["shank1"] * 3
    assert groups[0] is nwb.electrode_groups["shank0"]
    assert groups[5] is nwb.electrode_groups["shank1"]
    assert groups[4].device is nwb.electrode_groups["shank1"].device
    assert list(nwb.electrodes["group_name"][:]) == ["shank0"] * 3 + ["shank1"] * 3
    df = nwb.electrodes.to_dataframe()
    assert list(df["location"]) == list(original.electrodes.to_dataframe()["location"])
    assert [g.name for g in df["group"]] == ["shank0"] * 3 + ["shank1"] * 3
    # fancy indexing of the lazily read reference column, in any order
    picked = nwb.electrodes["group"].data[[5, 0, 5]]
    assert [g.name for g in picked] == ["shank1", "shank0", "shank1"]
    assert list(nwb.electrodes[[5, 0]].index) == [5, 0]

    # on disk: target path strings with _DTYPE = object_reference
    root = zarr.open_group(path, mode="r")
    col = root["general/extracellular_ephys/electrodes/group"]
    assert zattrs(col)["_DTYPE"] == "object_reference"
    assert col.dtype == np.dtypes.StringDType() or col.dtype.kind in "OT"
    assert [str(v) for v in col[...]] == (
        ["/general/extracellular_ephys/shank0"] * 3 + ["/general/extracellular_ephys/shank1"] * 3
    )


def test_units_ragged_spike_times(rich_read):
    _, nwb, path = rich_read
    units = nwb.units
    assert len(units) == 3
    assert [list(units["spike_times"][i]) for i in range(3)] == [
        [0.1, 0.25, 0.3],
        [1.5],
        [2.0, 2.5, 3.0, 3.5, 4.0],
    ]
    assert list(units["quality"][:]) == ["good", "mua", "good"]
    df = units.to_dataframe()
    assert list(df.index) == [0, 1, 2]
    # the ragged column is flat data + an index of end offsets
    root = zarr.open_group(path, mode="r")
    np.testing.assert_array_equal(root["units/spike_times_index"][...], [3, 4, 9])
    np.testing.assert_allclose(
        root["units/spike_times"][...], [0.1, 0.25, 0.3, 1.5, 2, 2.5, 3, 3.5, 4]
    )
    # units.electrodes is a DynamicTableRegion: the `table` attribute is a reference
    assert zattrs(root["units/electrodes"])["table"] == {
        "_REFERENCE": {"source": ".", "path": "/general/extracellular_ephys/electrodes"}
    }


def test_epochs_timeseries_reference_column(rich_read):
    original, nwb, path = rich_read
    epochs = nwb.epochs
    assert list(epochs["start_time"][:]) == [0.0, 2.0]
    assert list(epochs["stop_time"][:]) == [0.02, 2.1]
    assert [list(t) for t in epochs["tags"][:]] == [["first"], ["second", "both"]]
    speed = nwb.processing["behavior"]["speed"]
    camera = nwb.acquisition["camera"]
    refs = epochs["timeseries"][1]
    # values computed by pynwb at add_epoch time from each series' rate and starting time
    assert [(r.idx_start, r.count) for r in refs] == [(0, 5), (60, 3)]
    assert refs[0].timeseries is speed
    assert refs[1].timeseries is camera
    first = epochs["timeseries"][0]
    # the first epoch ends before `speed` starts: pynwb stores idx_start=-100 and reads the
    # invalid reference back as its NONE tuple, exactly as for the in-memory original
    assert [tuple(r) for r in first] == [(None, None, None)]
    assert [tuple(r) for r in first] == [tuple(r) for r in original.epochs["timeseries"][0]]

    # on disk: a structured array whose reference field holds target paths
    root = zarr.open_group(path, mode="r")
    arr = root["intervals/epochs/timeseries"]
    assert arr.dtype.names == ("idx_start", "count", "timeseries")
    assert zattrs(arr)["_REFERENCE_FIELDS"] == ["timeseries"]
    assert [str(v) for v in arr[...]["timeseries"]] == [
        "/processing/behavior/speed",
        "/processing/behavior/speed",
        "/acquisition/camera",
    ]
    np.testing.assert_array_equal(arr[...]["idx_start"], [-100, 0, 60])
    np.testing.assert_array_equal(arr[...]["count"], [1, 5, 3])
    np.testing.assert_array_equal(root["intervals/epochs/timeseries_index"][...], [1, 3])
    df = epochs.to_dataframe()
    assert list(df["start_time"]) == [0.0, 2.0]
    assert [r.timeseries for r in df["timeseries"][1]] == [speed, camera]


def test_other_time_intervals(rich_read):
    _, nwb, _ = rich_read
    sleep = nwb.intervals["sleep"]
    assert sleep.description == "sleep bouts"
    assert list(sleep["stage"][:]) == ["REM", "NREM"]
    assert list(sleep["stop_time"][:]) == [20.0, 45.5]


def test_processing_timeseries_and_position(rich_read):
    _, nwb, _ = rich_read
    behavior = nwb.processing["behavior"]
    assert behavior.description == "behavioral data"
    speed = behavior["speed"]
    np.testing.assert_allclose(speed.data[:], np.linspace(0.0, 1.0, 25))
    assert speed.unit == "m/s"
    assert speed.rate == 50.0
    assert speed.starting_time == 2.0
    assert speed.timestamps is None
    spatial = behavior["Position"]["position"]
    assert isinstance(spatial, SpatialSeries)
    assert spatial.reference_frame == "origin at the arena's lower left corner"
    assert spatial.data.shape == (30, 2)
    np.testing.assert_allclose(spatial.data[:, 1], np.linspace(1, 0, 30))
    np.testing.assert_allclose(spatial.timestamps[:], np.arange(30) / 30.0)


def test_timestamps_link_in_rich_file(rich_read):
    _, nwb, path = rich_read
    heading = nwb.processing["behavior"]["heading"]
    spatial = nwb.processing["behavior"]["Position"]["position"]
    assert heading.fields["timestamps"] is spatial
    np.testing.assert_allclose(heading.timestamps[:], np.arange(30) / 30.0)
    root = zarr.open_group(path, mode="r")
    assert zattrs(root["processing/behavior/heading"])["_LINKS"] == [
        {
            "name": "timestamps",
            "source": ".",
            "path": "/processing/behavior/Position/position/timestamps",
        }
    ]


def test_image_series(rich_read):
    _, nwb, path = rich_read
    camera = nwb.acquisition["camera"]
    assert isinstance(camera, ImageSeries)
    assert camera.data.dtype == np.uint8
    np.testing.assert_array_equal(
        camera.data[:], np.arange(4 * 8 * 6, dtype=np.uint8).reshape(4, 8, 6)
    )
    assert camera.rate == 30.0
    assert zarr.open_group(path, mode="r")["acquisition/camera/data"].shape == (4, 8, 6)


def test_scalars_are_zero_d_on_disk(rich):
    _, path = rich
    root = zarr.open_group(path, mode="r")
    for name in (
        "session_description",
        "identifier",
        "session_start_time",
        "timestamps_reference_time",
    ):
        arr = root[name]
        assert arr.shape == (), name
    assert str(root["session_description"][()]) == "round trip of mock data"
    assert str(root["identifier"][()]) == "mock-roundtrip-0001"
    rate = root["processing/behavior/speed/starting_time"]
    assert rate.shape == ()
    assert float(rate[()]) == 2.0
    assert zattrs(rate)["rate"] == 50.0


def test_strings_use_zarr_string_type(rich):
    _, path = rich
    root = zarr.open_group(path, mode="r")
    for name in (
        "session_description",
        "general/experimenter",
        "general/keywords",
        "general/extracellular_ephys/electrodes/location",
        "units/quality",
        "intervals/epochs/tags",
    ):
        arr = root[name]
        assert arr.metadata.data_type.to_json(zarr_format=3) == "string", name
    assert [str(v) for v in root["general/experimenter"][...]] == ["Doe, Jane", "Roe, Rick"]


def test_references_in_attributes(rich):
    _, path = rich
    root = zarr.open_group(path, mode="r")
    es = root["acquisition/ElectricalSeries/electrodes"]
    assert zattrs(es)["table"] == {
        "_REFERENCE": {"source": ".", "path": "/general/extracellular_ephys/electrodes"}
    }
    np.testing.assert_array_equal(es[...], [1, 3, 4])


def test_links_attribute_for_device(rich):
    _, path = rich
    root = zarr.open_group(path, mode="r")
    links = zattrs(root["general/extracellular_ephys/shank1"])["_LINKS"]
    assert len(links) == 1
    assert links[0]["name"] == "device"
    assert links[0]["source"] == "."
    assert links[0]["path"].startswith("/general/devices/")
    assert links[0]["path"].lstrip("/") in root


def test_plain_zarr_reads_every_array(rich):
    _, path = rich
    root = zarr.open_group(path, mode="r")
    assert root.metadata.zarr_format == 3
    assert zattrs(root)["neurodata_type"] == "NWBFile"
    n = 0
    for name, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array):
            values = node[...]
            assert np.asarray(values).shape == node.shape, name
            n += 1
    assert n > 40
    # the cached namespaces are there too
    assert "core" in root["specifications"]
    assert "hdmf-common" in root["specifications"]


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


# -- storage settings -----------------------------------------------------------------------------
def test_zarr_dataio_chunks_and_codec(tmp_path):
    data = np.arange(1000 * 8, dtype=np.float32).reshape(1000, 8)
    nwbfile = mock_NWBFile(session_start_time=START)
    wrapped = ZarrDataIO(data, chunks=(100, 8), compressors=[zarr.codecs.ZstdCodec(level=5)])
    unsharded = ZarrDataIO(
        data[:, :3], chunks=(250, 3), shards=None, compressors=[zarr.codecs.ZstdCodec()]
    )
    mock_TimeSeries(name="wrapped", data=wrapped, rate=10.0, nwbfile=nwbfile)
    mock_TimeSeries(name="unsharded", data=unsharded, rate=10.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dataio.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/wrapped/data"]
    assert arr.chunks == (100, 8)
    # default shards="auto": the chunks are grouped into shards (a multiple of the chunks)
    assert arr.shards == (1000, 8)
    assert len(arr.compressors) == 1
    assert isinstance(arr.compressors[0], zarr.codecs.ZstdCodec)
    assert arr.compressors[0].level == 5
    np.testing.assert_array_equal(arr[...], data)

    arr = root["acquisition/unsharded/data"]
    assert arr.chunks == (250, 3)
    assert arr.shards is None
    assert [type(c) for c in arr.compressors] == [zarr.codecs.ZstdCodec]
    assert arr.nchunks_initialized == 4
    np.testing.assert_array_equal(arr[...], data[:, :3])

    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        np.testing.assert_array_equal(nwb.acquisition["wrapped"].data[:], data)
        assert nwb.acquisition["wrapped"].data.dtype == np.float32
        np.testing.assert_array_equal(nwb.acquisition["unsharded"].data[:], data[:, :3])


def test_zarr_dataio_explicit_shards(tmp_path):
    data = np.arange(4000, dtype=np.int32)
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(
        name="sharded",
        data=ZarrDataIO(data, chunks=(100,), shards=(1000,)),
        rate=1.0,
        nwbfile=nwbfile,
    )
    path = write(nwbfile, tmp_path / "shards.nwb.zarr")
    arr = zarr.open_group(path, mode="r")["acquisition/sharded/data"]
    assert arr.chunks == (100,)
    assert arr.shards == (1000,)
    np.testing.assert_array_equal(arr[...], data)


def test_large_array_is_chunked_and_sharded(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(-3000, 3000, size=(3_000_000, 2), dtype=np.int16)  # 12 MB
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="big", data=data, rate=30_000.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "big.nwb.zarr")

    arr = zarr.open_group(path, mode="r")["acquisition/big/data"]
    assert arr.shape == (3_000_000, 2)
    assert arr.dtype == np.int16
    assert arr.chunks[0] < arr.shape[0]
    assert arr.chunks[1] == 2
    assert arr.shards is not None
    assert arr.shards[0] % arr.chunks[0] == 0
    assert arr.shards[0] > arr.chunks[0]
    np.testing.assert_array_equal(arr[...], data)

    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        big = nwb.acquisition["big"].data
        assert big.shape == (3_000_000, 2)
        np.testing.assert_array_equal(big[1_234_567:1_234_600], data[1_234_567:1_234_600])
        assert big[2_999_999, 1] == data[2_999_999, 1]


def test_data_chunk_iterator_of_unknown_length(tmp_path):
    rng = np.random.default_rng(7)
    rows = rng.standard_normal((1037, 4)).astype(np.float32)

    def generator():
        yield from rows

    dci = DataChunkIterator(
        data=generator(), maxshape=(None, 4), dtype=np.dtype("float32"), buffer_size=100
    )
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="streamed", data=dci, rate=100.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dci.nwb.zarr")

    arr = zarr.open_group(path, mode="r")["acquisition/streamed/data"]
    assert arr.shape == (1037, 4)
    assert arr.dtype == np.float32
    np.testing.assert_array_equal(arr[...], rows)

    with NWBZarrIO(path, mode="r") as io:
        ts = io.read().acquisition["streamed"]
        np.testing.assert_array_equal(ts.data[:], rows)


def test_data_chunk_iterator_one_row_at_a_time(tmp_path):
    values = [np.full(4, i, dtype=np.float32) for i in range(10)]
    dci = DataChunkIterator(data=iter(values), maxshape=(None, 4), dtype=np.dtype("float32"))
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="streamed", data=dci, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dci1.nwb.zarr")
    with NWBZarrIO(path, mode="r") as io:
        data = io.read().acquisition["streamed"].data[:]
    np.testing.assert_array_equal(
        data, np.repeat(np.arange(10, dtype=np.float32)[:, None], 4, axis=1)
    )


def test_empty_data_chunk_iterator_writes_zero_rows(tmp_path):
    dci = DataChunkIterator(data=iter([]), maxshape=(None, 4), dtype=np.dtype("float32"))
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(name="nothing", data=dci, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "empty.nwb.zarr")
    arr = zarr.open_group(path, mode="r")["acquisition/nothing/data"]
    assert arr.shape == (0, 4)
    assert arr.dtype == np.float32


def test_data_chunk_iterators_round_robin(tmp_path):
    """``exhaust_dci=False`` drains iterators in turn; each array gets exactly its values."""
    floats = np.arange(30.0).reshape(10, 3)
    ints = np.arange(16, dtype=np.int32)
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(
        name="x",
        data=DataChunkIterator(data=iter(floats), maxshape=(None, 3), buffer_size=3),
        rate=1.0,
        nwbfile=nwbfile,
    )
    mock_TimeSeries(
        name="y",
        data=DataChunkIterator(data=iter(ints), maxshape=(None,), buffer_size=5),
        rate=1.0,
        nwbfile=nwbfile,
    )
    path = tmp_path / "rr.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(nwbfile, exhaust_dci=False)
    root = zarr.open_group(path, mode="r")
    np.testing.assert_array_equal(root["acquisition/x/data"][...], floats)
    np.testing.assert_array_equal(root["acquisition/y/data"][...], ints)
    assert root["acquisition/y/data"].dtype == np.int32


def test_zarr_dataio_wrapping_an_iterator_and_empty_data(tmp_path):
    values = np.arange(40, dtype=np.int16).reshape(10, 4)
    dci = DataChunkIterator(data=iter(values), maxshape=(None, 4), buffer_size=4)
    nwbfile = mock_NWBFile(session_start_time=START)
    mock_TimeSeries(
        name="it",
        data=ZarrDataIO(dci, chunks=(4, 4), compressors=[zarr.codecs.ZstdCodec()]),
        rate=1.0,
        nwbfile=nwbfile,
    )
    empty = ZarrDataIO(
        data=None, shape=(5, 3), dtype=np.dtype("float32"), fillvalue=np.float32(1.5)
    )
    mock_TimeSeries(name="empty", data=empty, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "dataio_iter.nwb.zarr")
    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/it/data"]
    assert arr.chunks == (4, 4)
    assert arr.dtype == np.int16
    assert [type(c) for c in arr.compressors] == [zarr.codecs.ZstdCodec]
    np.testing.assert_array_equal(arr[...], values)
    arr = root["acquisition/empty/data"]
    assert (arr.shape, arr.dtype) == ((5, 3), np.float32)
    np.testing.assert_array_equal(arr[...], np.full((5, 3), 1.5, dtype=np.float32))


def test_generic_data_chunk_iterator(tmp_path):
    from hdmf.data_utils import GenericDataChunkIterator

    class ArrayIterator(GenericDataChunkIterator):
        def __init__(self, array, **kwargs):
            self.array = array
            super().__init__(**kwargs)

        def _get_data(self, selection):
            return self.array[selection]

        def _get_maxshape(self):
            return self.array.shape

        def _get_dtype(self):
            return self.array.dtype

    values = np.random.default_rng(0).integers(0, 1000, size=(5000, 7)).astype(np.int32)
    nwbfile = mock_NWBFile(session_start_time=START)
    it = ArrayIterator(values, chunk_shape=(1000, 7), buffer_shape=(2000, 7))
    mock_TimeSeries(name="g", data=it, rate=1.0, nwbfile=nwbfile)
    path = write(nwbfile, tmp_path / "generic.nwb.zarr")
    arr = zarr.open_group(path, mode="r")["acquisition/g/data"]
    assert arr.chunks == (1000, 7)
    assert arr.dtype == np.int32
    np.testing.assert_array_equal(arr[...], values)


def test_h5dataio_settings_are_translated(tmp_path):
    from hdmf.backends.hdf5 import H5DataIO

    values = np.arange(100.0)
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(
        TimeSeries(
            name="shuffled",
            unit="V",
            rate=1.0,
            data=H5DataIO(
                values, compression="gzip", compression_opts=6, chunks=(10,), shuffle=True
            ),
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="gzip", unit="V", rate=1.0, data=H5DataIO(values, compression="gzip", chunks=(25,))
        )
    )
    path = write(nwbfile, tmp_path / "h5dataio.nwb.zarr")
    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/shuffled/data"]
    assert arr.chunks == (10,)
    # HDF5 shuffle + gzip: a Shuffle codec then one Gzip compressor (never zlib inside Blosc).
    assert [c.to_dict() for c in arr.compressors] == [
        {"name": "numcodecs.shuffle", "configuration": {"elementsize": 8}},
        {"name": "gzip", "configuration": {"level": 6}},
    ]
    np.testing.assert_array_equal(arr[...], values)
    arr = root["acquisition/gzip/data"]
    assert arr.chunks == (25,)
    assert [type(c) for c in arr.compressors] == [zarr.codecs.GzipCodec]
    np.testing.assert_array_equal(arr[...], values)


# -- extensions -----------------------------------------------------------------------------------
def _make_extension(outdir: Path, ns_name: str, type_name: str) -> Path:
    from pynwb.spec import NWBAttributeSpec, NWBDatasetSpec, NWBGroupSpec, NWBNamespaceBuilder

    builder = NWBNamespaceBuilder(
        doc="round trip test extension",
        name=ns_name,
        version="0.1.0",
        author="nwbzarr tests",
        contact="tests@example.org",
    )
    builder.include_type("LabMetaData", namespace="core")
    spec = NWBGroupSpec(
        neurodata_type_def=type_name,
        neurodata_type_inc="LabMetaData",
        doc="lab metadata with a few attributes",
        attributes=[
            NWBAttributeSpec(name="rig", doc="rig name", dtype="text"),
            NWBAttributeSpec(name="gain", doc="amplifier gain", dtype="float64"),
            NWBAttributeSpec(name="channels", doc="channel ids", dtype="int32", shape=(None,)),
        ],
        datasets=[
            NWBDatasetSpec(
                name="calibration", doc="calibration table", dtype="float32", shape=(None,)
            ),
        ],
    )
    source = f"{ns_name}.extensions.yaml"
    builder.add_spec(source, spec)
    builder.export(f"{ns_name}.namespace.yaml", outdir=str(outdir))
    return outdir / f"{ns_name}.namespace.yaml"


def _unique_names() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:10]
    return f"ndx-rt-{tag}", f"RoundTripLabMeta{tag}"


def test_extension_global_namespace_roundtrip(tmp_path):
    import pynwb

    ns_name, type_name = _unique_names()
    ns_path = _make_extension(tmp_path, ns_name, type_name)
    pynwb.load_namespaces(str(ns_path))
    cls = pynwb.get_class(type_name, ns_name)

    nwbfile = mock_NWBFile(session_start_time=START)
    meta = cls(name="rig_meta", rig="rig-A", gain=12.5, channels=[3, 1, 4], calibration=[0.5, 0.25])
    nwbfile.add_lab_meta_data(meta)
    path = write(nwbfile, tmp_path / "ext.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    assert ns_name in root["specifications"]
    group = root["general/rig_meta"]
    assert zattrs(group)["neurodata_type"] == type_name
    assert zattrs(group)["namespace"] == ns_name

    with NWBZarrIO(path, mode="r", load_namespaces=True) as io:
        nwb = io.read()
        got = nwb.lab_meta_data["rig_meta"]
        assert type(got).__name__ == type_name
        assert got.rig == "rig-A"
        assert got.gain == 12.5
        assert list(got.channels) == [3, 1, 4]
        np.testing.assert_allclose(got.calibration[:], [0.5, 0.25])
        assert_equal_containers(nwbfile, nwb)


def test_extension_read_from_cached_spec_only(tmp_path):
    """The extension is never registered globally: reading relies on the store's cached spec."""
    ns_name, type_name = _unique_names()
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    ns_path = _make_extension(ext_dir, ns_name, type_name)
    type_map = get_type_map()  # a deep copy: loading into it leaves pynwb's global map alone
    type_map.load_namespaces(str(ns_path))
    cls = type_map.get_dt_container_cls(type_name, ns_name)

    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_lab_meta_data(
        cls(name="rig_meta", rig="rig-B", gain=-3.0, channels=[7], calibration=[1.0, 2.0, 3.0])
    )
    path = tmp_path / "ext.nwb.zarr"
    with NWBZarrIO(path, mode="w", manager=BuildManager(type_map)) as io:
        io.write(nwbfile)
    for f in ext_dir.iterdir():  # the YAML files are gone: only the cached spec remains
        f.unlink()

    assert ns_name not in get_type_map().namespace_catalog.namespaces
    assert NWBZarrIO.get_namespaces(path)[ns_name] == "0.1.0"
    with NWBZarrIO(path, mode="r", load_namespaces=True) as io:
        nwb = io.read()
        got = nwb.lab_meta_data["rig_meta"]
        assert type(got).__name__ == type_name
        assert got.rig == "rig-B"
        assert got.gain == -3.0
        assert list(got.channels) == [7]
        np.testing.assert_allclose(got.calibration[:], [1.0, 2.0, 3.0])
    # the premise: without the cached namespaces the extension is unknown and cannot be read
    with NWBZarrIO(path, mode="r", load_namespaces=False) as io:
        with pytest.raises(KeyError, match=ns_name):
            io.read()


# -- read_nwb -------------------------------------------------------------------------------------
def test_read_nwb_function(rich):
    original, path = rich
    nwb = nwbzarr.read_nwb(path)
    try:
        assert nwb.identifier == original.identifier
        np.testing.assert_array_equal(
            nwb.acquisition["ElectricalSeries"].data[:],
            original.acquisition["ElectricalSeries"].data,
        )
    finally:
        nwb.read_io.close()


def test_extensions_argument(tmp_path):
    """``extensions=`` loads YAML namespaces into the I/O's own type map for writing and reading."""
    ns_name, type_name = _unique_names()
    ns_path = _make_extension(tmp_path, ns_name, type_name)
    path = tmp_path / "ext.nwb.zarr"
    with NWBZarrIO(path, mode="w", extensions=str(ns_path)) as io:
        # the class must come from the type map that builds the file
        cls = io.manager.type_map.get_dt_container_cls(type_name, ns_name)
        nwbfile = mock_NWBFile(session_start_time=START)
        nwbfile.add_lab_meta_data(
            cls(name="m", rig="r", gain=1.0, channels=[1, 2], calibration=[1.0])
        )
        io.write(nwbfile)
    assert zattrs(zarr.open_group(path, mode="r")["general/m"])["neurodata_type"] == type_name
    with NWBZarrIO(path, mode="r", load_namespaces=False, extensions=str(ns_path)) as io:
        got = io.read().lab_meta_data["m"]
        assert type(got).__name__ == type_name
        assert (got.rig, got.gain, list(got.channels)) == ("r", 1.0, [1, 2])


# -- more core types ------------------------------------------------------------------------------
def test_images_with_image_references(tmp_path):
    from pynwb.base import ImageReferences, Images
    from pynwb.image import GrayscaleImage, RGBImage

    nwbfile = mock_NWBFile(session_start_time=START)
    gray = GrayscaleImage(
        name="gray", data=np.arange(12, dtype=np.uint8).reshape(3, 4), description="g"
    )
    rgb = RGBImage(name="rgb", data=np.full((3, 4, 3), 7, dtype=np.uint8))
    order = ImageReferences(name="order_of_images", data=[rgb, gray])
    nwbfile.add_acquisition(
        Images(name="imgs", images=[gray, rgb], description="x", order_of_images=order)
    )
    path = write(nwbfile, tmp_path / "images.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    arr = root["acquisition/imgs/order_of_images"]
    assert zattrs(arr)["_DTYPE"] == "object_reference"
    assert [str(v) for v in arr[...]] == ["/acquisition/imgs/rgb", "/acquisition/imgs/gray"]
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        imgs = nwb.acquisition["imgs"]
        assert list(imgs.order_of_images[:]) == [imgs["rgb"], imgs["gray"]]
        assert imgs.order_of_images[0] is imgs["rgb"]
        np.testing.assert_array_equal(imgs["gray"].data[:], np.arange(12).reshape(3, 4))


def test_dynamic_table_column_types(tmp_path):
    from hdmf.common import DynamicTable

    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_unit(
        spike_times=[1.0, 2.0],
        obs_intervals=[[0.0, 1.0], [2.0, 3.0]],
        waveform_mean=np.ones((4, 2)),
    )
    nwbfile.add_unit(spike_times=[], obs_intervals=[[0.0, 5.0]], waveform_mean=np.zeros((4, 2)))
    table = DynamicTable(name="table", description="mixed columns")
    table.add_column("flag", "booleans")
    table.add_column("vec", "a 2-d column")
    table.add_column("words", "ragged text", index=True)
    table.add_column("text", "non-ASCII text")
    table.add_row(flag=True, vec=[1.0, 2.0, 3.0], words=["a", "bb"], text="µs – ünï ✓")
    table.add_row(flag=False, vec=[4.0, 5.0, 6.0], words=[], text="")
    nwbfile.create_processing_module("misc", "misc").add(table)
    path = write(nwbfile, tmp_path / "tables.nwb.zarr")

    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        t = nwb.processing["misc"]["table"]
        assert list(t["flag"][:]) == [True, False]
        assert t["flag"].data.dtype == np.bool_
        np.testing.assert_array_equal(t["vec"][:], [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        assert [list(w) for w in t["words"][:]] == [["a", "bb"], []]
        assert list(t["text"][:]) == ["µs – ünï ✓", ""]
        assert list(nwb.units["spike_times"][1]) == []
        np.testing.assert_array_equal(nwb.units["obs_intervals"][0], [[0, 1], [2, 3]])
        np.testing.assert_array_equal(nwb.units["waveform_mean"][1], np.zeros((4, 2)))


def test_compound_without_references_pixel_mask(tmp_path):
    from pynwb.testing.mock.ophys import mock_PlaneSegmentation

    nwbfile = mock_NWBFile(session_start_time=START)
    ps = mock_PlaneSegmentation(nwbfile=nwbfile, n_rois=0, name="planes")
    ps.add_roi(pixel_mask=[(1, 2, 0.5), (3, 4, 1.0)])
    ps.add_roi(pixel_mask=[(5, 6, 0.25)])
    path = write(nwbfile, tmp_path / "pixel_mask.nwb.zarr")

    arr = zarr.open_group(path, mode="r")["processing/ophys/planes/pixel_mask"]
    assert arr.dtype.names == ("x", "y", "weight")
    assert "_REFERENCE_FIELDS" not in zattrs(arr)
    np.testing.assert_array_equal(arr[...]["x"], [1, 3, 5])
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        planes = nwb.objects[ps.object_id]
        assert planes["pixel_mask"][0].tolist() == [(1, 2, 0.5), (3, 4, 1.0)]
        assert planes["pixel_mask"][1].tolist() == [(5, 6, 0.25)]


@pytest.mark.parametrize("kind", ["ophys", "icephys", "ogen"])
def test_other_mock_modalities(tmp_path, kind):
    from pynwb.testing.mock import icephys, ogen, ophys

    nwbfile = mock_NWBFile(session_start_time=START)
    if kind == "ophys":
        ps = ophys.mock_PlaneSegmentation(nwbfile=nwbfile, n_rois=5)
        ophys.mock_RoiResponseSeries(nwbfile=nwbfile, plane_segmentation=ps)
        ophys.mock_TwoPhotonSeries(nwbfile=nwbfile, imaging_plane=ps.imaging_plane)
    elif kind == "icephys":
        icephys.mock_IntracellularRecordingsTable(nwbfile=nwbfile)
    else:
        ogen.mock_OptogeneticSeries(nwbfile=nwbfile)
        nwbfile.add_stimulus(mock_TimeSeries(name="stim"))
        nwbfile.add_stimulus_template(mock_TimeSeries(name="template"))
    path = write(nwbfile, tmp_path / f"{kind}.nwb.zarr")
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        assert sorted(nwb.objects) == sorted(nwbfile.objects)


def test_append_to_existing_store(rich, tmp_path):
    import shutil

    original, src = rich
    path = tmp_path / "append.nwb.zarr"
    shutil.copytree(src, path)
    with NWBZarrIO(path, mode="a") as io:
        nwb = io.read()
        position = nwb.processing["behavior"]["Position"]["position"]
        nwb.add_acquisition(TimeSeries(name="added", data=np.arange(5.0), unit="V", rate=3.0))
        nwb.add_acquisition(
            TimeSeries(name="linked", data=np.ones(30), unit="V", timestamps=position)
        )
        io.write(nwb)
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert sorted(nwb.acquisition) == ["ElectricalSeries", "added", "camera", "linked"]
        np.testing.assert_array_equal(nwb.acquisition["added"].data[:], np.arange(5.0))
        assert nwb.acquisition["added"].rate == 3.0
        assert (
            nwb.acquisition["linked"].fields["timestamps"]
            is (nwb.processing["behavior"]["Position"]["position"])
        )
        # what was there is unchanged
        np.testing.assert_array_equal(
            nwb.acquisition["ElectricalSeries"].data[:],
            original.acquisition["ElectricalSeries"].data,
        )
        assert nwb.electrodes["group"][0] is nwb.electrode_groups["shank0"]
    assert zattrs(zarr.open_group(path, mode="r")["acquisition/linked"])["_LINKS"] == [
        {
            "name": "timestamps",
            "source": ".",
            "path": "/processing/behavior/Position/position/timestamps",
        }
    ]


def test_misc_dtypes_and_attribute_values(tmp_path):
    nwbfile = mock_NWBFile(session_start_time=START)
    nwbfile.add_acquisition(
        ImageSeries(
            name="movie",
            external_file=["a.mp4", "b.mp4"],
            starting_frame=[0, 10],
            format="external",
            rate=30.0,
            unit="n.a.",
            num_samples=20,
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(name="u64", data=np.array([2**63 + 5, 1], dtype=np.uint64), unit="V", rate=1.0)
    )
    nwbfile.add_acquisition(
        TimeSeries(
            name="f16",
            data=np.array([1.5, -2.25], dtype=np.float16),
            unit="V",
            rate=1.0,
            resolution=np.nan,
        )
    )
    nwbfile.add_acquisition(
        TimeSeries(name="text", data=np.array(["a", "bc", "é"]), unit="n.a.", rate=1.0)
    )
    path = write(nwbfile, tmp_path / "misc.nwb.zarr")

    root = zarr.open_group(path, mode="r")
    assert root["acquisition/u64/data"].dtype == np.uint64
    assert root["acquisition/f16/data"].dtype == np.float16
    assert [str(v) for v in root["acquisition/movie/external_file"][...]] == ["a.mp4", "b.mp4"]
    assert zattrs(root["acquisition/movie/external_file"])["starting_frame"] == [0, 10]
    with NWBZarrIO(path, mode="r") as io:
        nwb = io.read()
        assert_equal_containers(nwbfile, nwb)
        assert int(nwb.acquisition["u64"].data[0]) == 2**63 + 5
        np.testing.assert_array_equal(
            nwb.acquisition["f16"].data[:], np.array([1.5, -2.25], dtype=np.float16)
        )
        assert np.isnan(nwb.acquisition["f16"].resolution)
        assert list(nwb.acquisition["text"].data[1:3]) == ["bc", "é"]
        assert nwb.acquisition["text"].data[2] == "é"
        assert list(nwb.acquisition["movie"].external_file[:]) == ["a.mp4", "b.mp4"]
        np.testing.assert_array_equal(nwb.acquisition["movie"].starting_frame, [0, 10])
