"""Append and amend mode (``"a"``, ``"r+"``) of ``NWBZarrIO``, as with ``NWBHDF5IO``.

Each test copies a store written once from ``build_rich_file``, opens it for appending, changes
it through pynwb, closes it, and reads it back with a new I/O object. Every value is compared
numerically, what was there before is checked unchanged node by node with plain ``zarr``, and
the failure cases check the ``_WRITE_IN_PROGRESS`` policy of ``docs/storage.md`` §7.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from hdmf.common import DynamicTable
from helpers import START, build_rich_file, write
from pynwb import TimeSeries, validate
from pynwb.ecephys import ElectricalSeries
from pynwb.testing.mock.base import mock_TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

from nwbzarr import NWBZarrIO, ZarrDataIO
from nwbzarr.conventions.attributes import INLINE_CHUNKS_ATTR
from nwbzarr.errors import (
    AppendError,
    NWBZarrError,
    ReadOnlyError,
    UnsupportedDataError,
)

RICH_SPIKES = [[0.1, 0.25, 0.3], [1.5], [2.0, 2.5, 3.0, 3.5, 4.0]]


# -- helpers --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rich_store(tmp_path_factory) -> Path:
    return write(build_rich_file(), tmp_path_factory.mktemp("append") / "rich.nwb.zarr")


@pytest.fixture
def store(rich_store, tmp_path) -> Path:
    """A private copy of the rich store."""
    path = tmp_path / "copy.nwb.zarr"
    shutil.copytree(rich_store, path)
    return path


def snapshot(path: Path) -> dict[str, str]:
    """Every node's metadata and every array's values, as canonical JSON (plain zarr)."""
    root = zarr.open_group(path, mode="r", use_consolidated=False)
    attrs = root.attrs.asdict()
    # the writer's note of small chunks (docs/storage.md §2.8) follows the chunks it lists: an
    # append rebuilds it (tests/storage/test_cache_remote.py checks its entries)
    attrs.pop(INLINE_CHUNKS_ATTR, None)
    out = {"/": json.dumps(attrs, sort_keys=True)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, node in root.members(max_depth=None):
            out[name] = json.dumps(node.metadata.to_dict(), sort_keys=True, default=str)
            if isinstance(node, zarr.Array):
                out[name + "#values"] = repr(np.asarray(node[...]).tolist())
    return out


def changed_nodes(before: dict, after: dict) -> set[str]:
    return {k.split("#")[0] for k in set(before) | set(after) if before.get(k) != after.get(k)}


def raw(path: Path, name: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(zarr.open_group(path, mode="r")[name][...])


def assert_unchanged_except(before: dict, path: Path, allowed_prefixes: tuple[str, ...]) -> None:
    """Nothing outside ``allowed_prefixes`` changed (root attributes included)."""
    changed = changed_nodes(before, snapshot(path))
    unexpected = {c for c in changed if not c.startswith(allowed_prefixes)}
    assert not unexpected, f"unexpected changes: {sorted(unexpected)}"


# -- new containers -------------------------------------------------------------------------------
def test_new_module_table_acquisition_device_and_group(store):
    before = snapshot(store)
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        module = nwb.create_processing_module(name="analysis", description="added later")
        module.add(
            TimeSeries(name="rate", data=np.arange(12, dtype=np.float32), unit="Hz", rate=2.0)
        )
        table = DynamicTable(name="scores", description="per-trial scores")
        table.add_column(name="score", description="a number")
        table.add_column(name="label", description="text")
        table.add_column(name="hits", description="ragged", index=True)
        table.add_row(score=1.5, label="a", hits=[1, 2])
        table.add_row(score=-2.0, label="bb", hits=[3])
        module.add(table)
        nwb.add_acquisition(TimeSeries(name="late", data=np.arange(7) * 3, unit="V", rate=9.0))
        device = nwb.create_device(name="probe2", description="second probe", serial_number="X")
        nwb.create_electrode_group(
            name="shank2", description="third shank", location="CA1", device=device
        )
        io.write(nwb)
    with NWBZarrIO(store, mode="r") as io:
        nwb = io.read()
        rate = nwb.processing["analysis"]["rate"]
        np.testing.assert_array_equal(rate.data[:], np.arange(12, dtype=np.float32))
        assert rate.data.dtype == np.float32 and rate.rate == 2.0
        scores = nwb.processing["analysis"]["scores"]
        np.testing.assert_array_equal(scores["score"].data[:], [1.5, -2.0])
        assert list(scores["label"].data[:]) == ["a", "bb"]
        assert [list(map(int, v)) for v in scores["hits"][:]] == [[1, 2], [3]]
        np.testing.assert_array_equal(nwb.acquisition["late"].data[:], np.arange(7) * 3)
        group = nwb.electrode_groups["shank2"]
        assert group.device is nwb.devices["probe2"]
        assert nwb.devices["probe2"].serial_number == "X"
        # the rest is what it was
        assert sorted(nwb.acquisition) == ["ElectricalSeries", "camera", "late"]
        assert sorted(nwb.processing) == ["analysis", "behavior"]
    assert_unchanged_except(
        before,
        store,
        (
            "processing/analysis",
            "acquisition/late",
            "general/devices/probe2",
            "general/extracellular_ephys/shank2",
        ),
    )


# -- rows appended to tables read from the store ---------------------------------------------------
def test_add_unit_grows_ragged_data_and_index(store):
    before = snapshot(store)
    many = np.linspace(10.0, 20.0, 300)  # pushes the offsets past uint8
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        nwb.units.add_unit(spike_times=[5.0, 6.5], quality="noise", electrodes=[2, 4])
        nwb.units.add_unit(spike_times=many, quality="good", electrodes=[5])
        io.write(nwb)
    total = sum(map(len, RICH_SPIKES)) + 2 + 300
    np.testing.assert_array_equal(
        raw(store, "units/spike_times"),
        np.concatenate([*map(np.array, RICH_SPIKES), [5, 6.5], many]),
    )
    index = raw(store, "units/spike_times_index")
    np.testing.assert_array_equal(index, [3, 4, 9, 11, total])
    assert index.dtype.itemsize >= 2  # widened from uint8 to hold 311
    np.testing.assert_array_equal(raw(store, "units/id"), [0, 1, 2, 3, 4])
    assert list(raw(store, "units/quality")) == ["good", "mua", "good", "noise", "good"]
    np.testing.assert_array_equal(raw(store, "units/electrodes"), [0, 1, 2, 2, 4, 5])
    np.testing.assert_array_equal(raw(store, "units/electrodes_index"), [1, 2, 3, 5, 6])
    with NWBZarrIO(store, mode="r") as io:
        units = io.read().units
        assert len(units) == 5
        for i, expected in enumerate([*RICH_SPIKES, [5.0, 6.5], many]):
            np.testing.assert_array_equal(units["spike_times"][i], expected)
        assert units["quality"][3] == "noise"
        df = units["electrodes"][3]
        np.testing.assert_array_equal(df.index.to_numpy(), [2, 4])
    assert_unchanged_except(before, store, ("units",))


def test_add_electrode_with_existing_and_new_group(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        shank0 = nwb.electrode_groups["shank0"]
        nwb.add_electrode(location="CA1", group=shank0, group_name="shank0")
        new_group = nwb.create_electrode_group(
            name="a_rather_long_new_shank_name",
            description="new",
            location="DG",
            device=shank0.device,
        )
        nwb.add_electrode(location="DG", group=new_group, group_name=new_group.name)
        nwb.add_electrode(location="DG", group=new_group, group_name=new_group.name)
        # a region over the new rows, in a new series
        region = nwb.create_electrode_table_region([6, 7, 8], "new rows")
        nwb.add_acquisition(
            ElectricalSeries(
                name="late_es", data=np.ones((4, 3), dtype=np.int16), electrodes=region, rate=10.0
            )
        )
        io.write(nwb)
    groups = list(raw(store, "general/extracellular_ephys/electrodes/group"))
    assert groups[-3:] == [
        "/general/extracellular_ephys/shank0",
        "/general/extracellular_ephys/a_rather_long_new_shank_name",
        "/general/extracellular_ephys/a_rather_long_new_shank_name",
    ]
    with NWBZarrIO(store, mode="r") as io:
        nwb = io.read()
        table = nwb.electrodes
        assert len(table) == 9
        np.testing.assert_array_equal(table.id[:], np.arange(9))
        assert table["group"][6] is nwb.electrode_groups["shank0"]
        assert table["group"][7] is nwb.electrode_groups["a_rather_long_new_shank_name"]
        assert list(table["location"][6:]) == ["CA1", "DG", "DG"]
        es = nwb.acquisition["late_es"]
        np.testing.assert_array_equal(es.electrodes.data[:], [6, 7, 8])
        assert es.electrodes.table is table
        np.testing.assert_array_equal(es.data[:], np.ones((4, 3)))


def test_add_epoch_and_interval_rows_with_compound_references(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        camera = nwb.acquisition["camera"]
        late = mock_TimeSeries(
            name="a_timeseries_with_a_much_longer_name_than_before",
            data=np.arange(100.0),
            rate=10.0,
        )
        nwb.add_acquisition(late)
        nwb.add_epoch(start_time=0.05, stop_time=0.1, tags=["third"], timeseries=[camera])
        nwb.add_epoch(start_time=1.0, stop_time=2.0, tags=["x", "y", "z"], timeseries=[late])
        nwb.add_trial(start_time=1.0, stop_time=2.0)
        nwb.intervals["sleep"].add_interval(start_time=50.0, stop_time=60.0, stage="wake")
        io.write(nwb)
    compound = raw(store, "intervals/epochs/timeseries")
    paths = [str(p) for p in compound["timeseries"]]
    assert paths[-2:] == [
        "/acquisition/camera",
        "/acquisition/a_timeseries_with_a_much_longer_name_than_before",
    ]  # the fixed-length field was widened, nothing truncated
    np.testing.assert_array_equal(raw(store, "intervals/epochs/timeseries_index"), [1, 3, 4, 5])
    with NWBZarrIO(store, mode="r") as io:
        nwb = io.read()
        epochs = nwb.epochs
        np.testing.assert_array_equal(epochs["start_time"][:], [0.0, 2.0, 0.05, 1.0])
        np.testing.assert_array_equal(epochs["stop_time"][:], [0.02, 2.1, 0.1, 2.0])
        assert [list(t) for t in epochs["tags"][:]] == [
            ["first"],
            ["second", "both"],
            ["third"],
            ["x", "y", "z"],
        ]
        refs = epochs["timeseries"][3]
        assert refs[0].timeseries is nwb.acquisition[late.name]
        assert (refs[0].idx_start, refs[0].count) == (10, 10)
        assert epochs["timeseries"][2][0].timeseries is nwb.acquisition["camera"]
        np.testing.assert_array_equal(nwb.trials["start_time"][:], [1.0])
        sleep = nwb.intervals["sleep"]
        np.testing.assert_array_equal(sleep["start_time"][:], [10.0, 30.0, 50.0])
        assert list(sleep["stage"][:]) == ["REM", "NREM", "wake"]


def test_append_past_first_chunk_and_across_shards(tmp_path):
    nwbfile = mock_NWBFile(session_start_time=START)
    table = DynamicTable(name="grid", description="chunked columns", id=list(range(10)))
    table.add_column(
        name="sharded",
        description="chunks of 4 in shards of 8",
        data=ZarrDataIO(data=np.arange(10, dtype=np.int32), chunks=(4,), shards=(8,)),
    )
    table.add_column(name="small", description="one chunk", data=np.arange(10.0))
    table.add_column(name="text", description="text", data=[f"r{i}" for i in range(10)])
    nwbfile.add_acquisition(table)
    path = write(nwbfile, tmp_path / "grid.nwb.zarr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = zarr.open_group(path, mode="r")
        assert root["acquisition/grid/small"].chunks == (10,)  # chunk = the whole current shape
        assert root["acquisition/grid/sharded"].shards == (8,)
    with NWBZarrIO(path, mode="a") as io:
        nwb = io.read()
        grid = nwb.acquisition["grid"]
        for i in range(10, 27):
            grid.add_row(sharded=i, small=i * 0.5, text=f"r{i}")
        io.write(nwb)
    np.testing.assert_array_equal(raw(path, "acquisition/grid/sharded"), np.arange(27))
    np.testing.assert_array_equal(
        raw(path, "acquisition/grid/small"), np.r_[np.arange(10.0), np.arange(10, 27) * 0.5]
    )
    assert list(raw(path, "acquisition/grid/text")) == [f"r{i}" for i in range(27)]
    assert (path / "acquisition/grid/small/c/2").is_file()  # rows 20..26 in the third chunk
    assert (path / "acquisition/grid/sharded/c/3").is_file()  # rows 24..26 in the fourth shard
    with NWBZarrIO(path, mode="r") as io:
        grid = io.read().acquisition["grid"]
        np.testing.assert_array_equal(grid["sharded"][:], np.arange(27))
        np.testing.assert_array_equal(grid.id[:], np.arange(27))
        assert grid["text"][26] == "r26"


def test_two_sessions_and_two_writes_in_one_session(store):
    with NWBZarrIO(store, mode="r+") as io:
        nwb = io.read()
        nwb.add_trial(start_time=1.0, stop_time=2.0)
        io.write(nwb)
        nwb.add_trial(start_time=3.0, stop_time=4.0)
        nwb.add_acquisition(TimeSeries(name="second", data=[1.0, 2.0], unit="V", rate=1.0))
        io.write(nwb)
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        nwb.add_trial(start_time=5.0, stop_time=6.0)
        io.write(nwb)
    with NWBZarrIO(store, mode="r") as io:
        nwb = io.read()
        np.testing.assert_array_equal(nwb.trials["start_time"][:], [1.0, 3.0, 5.0])
        np.testing.assert_array_equal(nwb.trials["stop_time"][:], [2.0, 4.0, 6.0])
        np.testing.assert_array_equal(nwb.trials.id[:], [0, 1, 2])
        np.testing.assert_array_equal(nwb.acquisition["second"].data[:], [1.0, 2.0])


def test_rows_appended_without_write_are_kept(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        nwb.intervals["sleep"].add_interval(start_time=70.0, stop_time=80.0, stage="N1")
    with NWBZarrIO(store, mode="r") as io:
        sleep = io.read().intervals["sleep"]
        np.testing.assert_array_equal(sleep["stop_time"][:], [20.0, 45.5, 80.0])


def test_values_that_do_not_fit_are_refused(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        with pytest.raises(AppendError, match="/units/spike_times_index.*float64"):
            nwb.units.spike_times_index.data.append([1.5])
        with pytest.raises(AppendError, match="/units/id.*shape"):
            nwb.units.id.data.append([[1, 2]])
    # nothing was written, so the store is exactly as before and complete
    with NWBZarrIO(store, mode="r") as io:
        assert len(io.read().units) == 3


# -- attributes ---------------------------------------------------------------------------------
def test_attribute_edits_and_consolidated_metadata(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        device = nwb.devices["Device"]
        assert device.serial_number is None
        device.serial_number = "SN-1"  # optional attribute of an existing group
        speed = nwb.processing["behavior"]["speed"]
        assert speed.continuity is None
        speed.continuity = "step"  # optional attribute of an existing dataset
        nwb.experiment_description = "added after the fact"  # new dataset in /general
        nwb.add_acquisition(TimeSeries(name="fresh", data=[3.0], unit="V", rate=1.0))
        io.write(nwb)
        # io.write makes the store match the containers; edit through zarr after it
        io.file["acquisition/ElectricalSeries"].attrs["comments"] = "edited through zarr"
    meta = json.loads((store / "zarr.json").read_text())["consolidated_metadata"]["metadata"]
    assert meta["general/devices/Device"]["attributes"]["serial_number"] == "SN-1"
    assert meta["processing/behavior/speed/data"]["attributes"]["continuity"] == "step"
    assert meta["acquisition/ElectricalSeries"]["attributes"]["comments"] == "edited through zarr"
    assert "acquisition/fresh/data" in meta and "general/experiment_description" in meta
    with NWBZarrIO(store, mode="r") as io:  # consolidated
        nwb = io.read()
        assert nwb.devices["Device"].serial_number == "SN-1"
        assert nwb.processing["behavior"]["speed"].continuity == "step"
        assert nwb.experiment_description == "added after the fact"
        assert nwb.acquisition["ElectricalSeries"].comments == "edited through zarr"
        assert nwb.acquisition["ElectricalSeries"].conversion == pytest.approx(0.5e-6)


def test_float32_attributes_are_not_rewritten(store):
    before = json.loads((store / "acquisition/ElectricalSeries/data/zarr.json").read_text())
    with NWBZarrIO(store, mode="a") as io:
        io.write(io.read())
    after = json.loads((store / "acquisition/ElectricalSeries/data/zarr.json").read_text())
    assert after == before
    assert after["attributes"]["conversion"] == 5e-07


# -- read-only and failures ---------------------------------------------------------------------
def test_read_only_store_refuses_writes_and_appends(store):
    before = snapshot(store)
    with NWBZarrIO(store, mode="r") as io:
        nwb = io.read()
        with pytest.raises(ReadOnlyError, match="read-only"):
            io.write(nwb)
        with pytest.raises(ReadOnlyError, match="/intervals/sleep/id.*mode='a'"):
            nwb.intervals["sleep"].add_interval(start_time=1.0, stop_time=2.0, stage="x")
        with pytest.raises(ReadOnlyError, match="/units/spike_times"):
            nwb.units.spike_times.data[0] = 9.0
    assert changed_nodes(before, snapshot(store)) == set()


def test_append_after_close_is_refused(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
    with pytest.raises(AppendError, match="/intervals/sleep/id.*closed"):
        nwb.intervals["sleep"].add_interval(start_time=1.0, stop_time=2.0, stage="x")
    with NWBZarrIO(store, mode="r") as io:
        assert len(io.read().intervals["sleep"]) == 2


def test_failure_that_wrote_nothing_leaves_store_as_it_was(store, monkeypatch):
    root_json = (store / "zarr.json").read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            nwb.add_acquisition(TimeSeries(name="never", data=[1.0], unit="V", rate=1.0))

            def fail(*args, **kwargs):
                raise RuntimeError("boom")

            monkeypatch.setattr(io.writer, "write_group", fail)  # fails after the marker is set
            io.write(nwb)
    assert (store / "zarr.json").read_bytes() == root_json  # marker gone, consolidated kept
    with NWBZarrIO(store, mode="r") as io:
        assert "never" not in io.read().acquisition
    # an exception in the with block before any change
    with pytest.raises(KeyError):
        with NWBZarrIO(store, mode="a") as io:
            io.read().acquisition["missing"]
    assert (store / "zarr.json").read_bytes() == root_json


def store_files(store) -> dict:
    """Every file of a store directory and its bytes (the exact on-disk state)."""
    return {
        str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()
    }


def test_failed_write_after_new_nodes_is_rolled_back(store):
    before = store_files(store)
    with pytest.raises(UnsupportedDataError, match="acquisition/bad/data"):
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            bad = TimeSeries(name="bad", data=[object(), object()], unit="m", rate=1.0)
            nwb.add_acquisition(bad)
            io.write(nwb)
    assert store_files(store) == before  # every byte as committed, no journal left
    with NWBZarrIO(store, mode="r") as io:
        assert "bad" not in io.read().acquisition


def test_exception_after_appended_rows_is_rolled_back(store):
    before = store_files(store)
    with pytest.raises(RuntimeError, match="interrupted"):
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            nwb.intervals["sleep"].add_interval(start_time=70.0, stop_time=80.0, stage="N1")
            raise RuntimeError("interrupted")
    assert store_files(store) == before
    with NWBZarrIO(store, mode="r") as io:
        assert len(io.read().intervals["sleep"]) == 2


def test_exception_after_completed_write_keeps_store(store):
    with pytest.raises(RuntimeError, match="later"):
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            nwb.intervals["sleep"].add_interval(start_time=70.0, stop_time=80.0, stage="N1")
            io.write(nwb)
            raise RuntimeError("later")
    with NWBZarrIO(store, mode="r") as io:
        assert len(io.read().intervals["sleep"]) == 3


def test_reference_to_container_never_written(store):
    from pynwb.ecephys import ElectrodeGroup

    before = store_files(store)
    with pytest.raises(AppendError, match="electrodes/group.*orphan"):
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            orphan = ElectrodeGroup(
                name="orphan", description="d", location="x", device=nwb.devices["Device"]
            )
            nwb.add_electrode(location="x", group=orphan, group_name="orphan")
    assert store_files(store) == before  # rolled back
    with NWBZarrIO(store, mode="r") as io:
        assert len(io.read().electrodes) == 6


def test_reference_into_another_file_is_refused_before_writing(store, tmp_path):
    other = write(build_rich_file(), tmp_path / "other.nwb.zarr")
    with NWBZarrIO(other, mode="r") as other_io:
        foreign = other_io.read().electrode_groups["shank0"]
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            with pytest.raises(UnsupportedDataError, match="another file"):
                nwb.electrodes["group"].append(foreign)
    with NWBZarrIO(store, mode="r") as io:  # nothing changed: still complete
        assert len(io.read().electrodes) == 6


def test_errors_are_nwbzarr_errors():
    assert issubclass(AppendError, NWBZarrError) and issubclass(AppendError, ValueError)


# -- validation ----------------------------------------------------------------------------------
def test_pynwb_validate_after_append(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        nwb.units.add_unit(spike_times=[7.0], quality="good", electrodes=[1])
        nwb.add_electrode(location="CA1", group=nwb.electrode_groups["shank1"], group_name="shank1")
        nwb.add_epoch(
            start_time=3.0, stop_time=4.0, tags=["t"], timeseries=[nwb.acquisition["camera"]]
        )
        nwb.add_trial(start_time=1.0, stop_time=2.0)
        module = nwb.create_processing_module(name="extra", description="extra")
        module.add(mock_TimeSeries(name="ts", data=np.arange(5.0)))
        io.write(nwb)
    errors = validate(path=str(store))
    assert errors == [], errors


def test_row_appended_in_part_is_not_stored_as_complete(store):
    before = store_files(store)
    with pytest.raises(AppendError, match="/intervals/sleep/start_time has 3 rows, id has 2"):
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            try:  # a row interrupted half way, the exception caught by the caller
                nwb.intervals["sleep"]["start_time"].append(99.0)
                raise RuntimeError("interrupted")
            except RuntimeError:
                pass
            io.write(nwb)
    assert store_files(store) == before  # rolled back


def test_ragged_row_appended_in_part_is_refused_on_close(store):
    before = store_files(store)
    with pytest.raises(AppendError, match="spike_times_index ends at 9.*spike_times has 11"):
        with NWBZarrIO(store, mode="a") as io:
            nwb = io.read()
            nwb.units["spike_times"].target.extend([8.0, 9.0])  # data grown, index not
    assert store_files(store) == before  # rolled back


def test_in_place_edit_of_read_array(store):
    with NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        nwb.units.spike_times.data[0] = 0.125
    with NWBZarrIO(store, mode="r") as io:
        np.testing.assert_array_equal(io.read().units["spike_times"][0], [0.125, 0.25, 0.3])
