"""Round trip of the rich mock file (``helpers.build_rich_file``) through ``NWBZarrIO``.

The ``rich`` fixture (``conftest.py``) writes it once per module. Each test reads it back with a
new I/O object and compares the containers and concrete values; where the on-disk convention
matters it opens the store with plain ``zarr`` (no nwbzarr) to check what was written. Also
``read_nwb`` and appending to a copy of the store.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from helpers import START, assert_equal_containers, zattrs
from pynwb import TimeSeries
from pynwb.behavior import SpatialSeries
from pynwb.image import ImageSeries

import nwbzarr
from nwbzarr import NWBZarrIO


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
