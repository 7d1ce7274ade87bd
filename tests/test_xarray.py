"""xarray over nwbzarr: dimension names on every array, consistent within each group.

Every converted store, HDF5 view and reference JSON opens with ``xr.open_datatree`` and each
group holding arrays with ``xr.open_zarr`` (docs/storage.md §4).
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr
from conftest import NWB_FILES, shared

import nwbzarr
from nwbzarr.conventions.dimension_names import (
    ArrayDims,
    group_dimension_names,
    name_arrays_by_group,
    table_columns,
)
from nwbzarr.conventions.spec_dims import SpecDims, dims_for_ndim
from nwbzarr.virtual import index_to_json, open_virtual_store

xr = pytest.importorskip("xarray")


# -- the naming rules ------------------------------------------------------------------------
def test_table_rows_and_ragged_elements() -> None:
    arrays = {
        "id": ArrayDims((4,), ["num_elements"]),
        "spike_times": ArrayDims((34057,), ["dim0"]),
        "spike_times_index": ArrayDims((4,), ["num_rows"]),
        "cell_type": ArrayDims((4,), ["dim0"]),
        "waveform_mean": ArrayDims((4, 29), ["dim0", "dim1"]),
        "waveform_sd": ArrayDims((4, 29), ["dim0", "dim1"]),
    }
    colnames = ["spike_times", "cell_type", "waveform_mean", "waveform_sd"]
    names = group_dimension_names(arrays, colnames)
    assert names == {
        "id": ["num_rows"],
        "spike_times": ["spike_times_elements"],
        "spike_times_index": ["num_rows"],
        "cell_type": ["num_rows"],
        "waveform_mean": ["num_rows", "dim1"],
        "waveform_sd": ["num_rows", "dim1"],
    }


def test_double_ragged_column() -> None:
    rows, elements = table_columns(["c"], ["id", "c", "c_index", "c_index_index"])
    assert rows == {"id", "c_index_index"} and elements == {"c", "c_index"}


def test_conflicting_lengths_keep_the_name_for_data() -> None:
    arrays = {
        "data": ArrayDims((10, 3), ["num_times", "num_channels"]),
        "timestamps": ArrayDims((10,), ["num_times"]),
        "electrodes": ArrayDims((3,), ["num_times"]),  # a wrong label
        "control": ArrayDims((None,), ["num_times"]),  # unlimited: never shared
    }
    names = group_dimension_names(arrays)
    assert names["data"] == ["num_times", "num_channels"]
    assert names["timestamps"] == ["num_times"]
    assert names["electrodes"] == ["electrodes_num_times"]
    assert names["control"] == ["control_num_times"]


def test_majority_length_wins_without_data_and_fallbacks_are_unique() -> None:
    arrays = {
        "a": ArrayDims((5,), ["n"]),
        "b": ArrayDims((5,), ["n"]),
        "c": ArrayDims((7,), ["n"]),
        "d": ArrayDims((2, 2), None),
        "e": ArrayDims((), None),
    }
    names = group_dimension_names(arrays)
    assert names == {"a": ["n"], "b": ["n"], "c": ["c_n"], "d": ["d_dim0", "d_dim1"], "e": []}


def test_names_never_repeat_within_an_array_nor_name_an_array() -> None:
    arrays = {
        "x": ArrayDims((3, 3), ["t", "t"]),
        "t": ArrayDims((3,), ["t"]),  # would become an index coordinate
        "x_t": ArrayDims((4,), None),  # takes the first rename's candidate
    }
    names = group_dimension_names(arrays)
    used = [(a, n) for a, ns in names.items() for n in ns]
    assert all(n not in arrays for _, n in used)
    assert len(set(names["x"])) == 2
    sizes: dict[str, set] = {}
    for array, ns in names.items():
        for axis, n in enumerate(ns):
            sizes.setdefault(n, set()).add(arrays[array].shape[axis])
    assert all(len(s) == 1 for s in sizes.values())


# -- real files -------------------------------------------------------------------------------
def _open_everything(store: zarr.abc.store.Store) -> int:
    """open_datatree + load, then open_zarr on every group holding arrays; groups opened."""
    tree = xr.open_datatree(store, engine="zarr", consolidated=False)
    tree.load()
    opened = 0

    def walk(group: zarr.Group, path: str) -> None:
        nonlocal opened
        if next(iter(group.array_keys()), None) is not None:
            xr.open_zarr(store, group=path or None, consolidated=False).load()
            opened += 1
        for name, sub in group.groups():
            walk(sub, f"{path}/{name}" if path else name)

    walk(zarr.open_group(store, mode="r"), "")
    return opened


def _views(src: Path, tmp_path: Path) -> dict[str, zarr.abc.store.Store]:
    converted = tmp_path / "c.nwb.zarr"
    nwbzarr.convert(src, converted, progress=False)
    refs = tmp_path / "refs.json"
    index_to_json(src, refs)
    return {
        "converted": zarr.storage.LocalStore(converted, read_only=True),
        "hdf5 view": open_virtual_store(src),
        "reference JSON": open_virtual_store(refs, allow_local=[src.parent]),
    }


def test_sample_file_opens_in_xarray_through_all_views(ecephys_file, tmp_path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        views = _views(ecephys_file, tmp_path)
        for view, store in views.items():
            assert _open_everything(store) >= 9, view
        units = xr.open_zarr(views["converted"], group="units", consolidated=False)
    assert units.sizes["num_rows"] == 4
    assert units["spike_times"].dims == ("spike_times_elements",)
    assert units["spike_times_index"].dims == ("num_rows",)
    converted = zarr.open_group(views["converted"], mode="r")
    for _, array in converted.members(max_depth=None):
        if isinstance(array, zarr.Array) and array.ndim:
            assert array.attrs["_ARRAY_DIMENSIONS"] == list(array.metadata.dimension_names)


def test_dimension_attribute_is_not_a_builder_attribute(ecephys_file, tmp_path) -> None:
    store = tmp_path / "c.nwb.zarr"
    nwbzarr.convert(ecephys_file, store, progress=False)
    with nwbzarr.NWBZarrIO(str(store), mode="r") as io:
        builder = io.read_builder()
    units = builder["units"]
    assert "_ARRAY_DIMENSIONS" not in units["spike_times"].attributes
    assert "_ARRAY_DIMENSIONS" not in units["id"].attributes


def test_hostile_dimension_labels_are_made_consistent(tmp_path) -> None:
    """Labels that clash (one name, two lengths; an array's name; twice in one array)."""
    path = tmp_path / "labels.h5"
    with h5py.File(path, "w") as f:
        a = f.create_dataset("a", data=np.arange(5))
        b = f.create_dataset("b", data=np.arange(7))
        c = f.create_dataset("c", data=np.zeros((3, 3)))
        a.dims[0].label = "t"
        b.dims[0].label = "t"
        c.dims[0].label = "a"
        c.dims[1].label = "a"
    store = open_virtual_store(path)
    ds = xr.open_zarr(store, consolidated=False).load()
    assert ds["a"].dims == ("t",) and ds["b"].dims == ("b_t",)
    assert len(set(ds["c"].dims)) == 2 and "a" not in ds["c"].dims


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in NWB_FILES] or ["-"])
def test_shared_files_open_in_xarray_through_all_views(name, tmp_path) -> None:
    src = shared("nwb", name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for view, store in _views(src, tmp_path).items():
            assert _open_everything(store) >= 1, view


# -- spec dims from a file's cached spec (no hdmf) ---------------------------------------------
def test_cached_spec_dims_follow_inheritance_and_subgroups() -> None:
    sources = [
        {
            "groups": [
                {
                    "neurodata_type_def": "Base",
                    "datasets": [{"name": "data", "dims": [["t"], ["t", "c"]]}],
                    "groups": [{"name": "sub", "datasets": [{"name": "v", "shape": [None]}]}],
                },
                {"neurodata_type_def": "Child", "neurodata_type_inc": "Base"},
            ],
            "datasets": [{"data_type_def": "Vec", "dims": ["dim0"]}],
        }
    ]
    specs = SpecDims(sources)
    assert specs.candidates(2, "data", None, [("s", "Child")]) == ["t", "c"]
    assert specs.candidates(3, "data", None, [("s", "Child")]) is None  # no alternative of rank 3
    assert specs.candidates(1, "v", None, [("sub", None), ("s", "Child")]) == ["dim_0"]
    assert specs.candidates(1, "x", "Vec", [("s", "Child")]) == ["dim0"]
    assert specs.candidates(1, "x", None, [("", None)]) is None  # no typed ancestor


def test_hostile_cached_specs_give_no_names_but_never_fail(tmp_path) -> None:
    cyclic = [
        {"neurodata_type_def": "A", "neurodata_type_inc": "B"},
        {"neurodata_type_def": "B", "neurodata_type_inc": "A"},
    ]
    assert SpecDims([{"groups": cyclic}]).candidates(1, "data", None, [("g", "A")]) is None
    assert dims_for_ndim([["a", "a"]], 2) is None  # repeated names
    assert dims_for_ndim([[1, 2]], 2) is None and dims_for_ndim("ab", 2) is None
    path = tmp_path / "specs.h5"
    with h5py.File(path, "w") as f:
        f.attrs["neurodata_type"] = "A"
        f.attrs["namespace"] = "x"
        f.create_dataset("data", data=np.arange(3))
        ver = f.create_group("specifications/x/1.0")
        ver.create_dataset("namespace", data="{}")
        ver.create_dataset("broken", data="{" * 5000)  # deeper than the JSON limit
        ver.create_dataset("cycle", data=json.dumps({"groups": cyclic}))
        ver.create_dataset("notjson", data="\xff not json")
    ds = xr.open_zarr(open_virtual_store(path), consolidated=False).load()
    assert ds["data"].dims == ("data_dim0",)


def test_hdf5_view_names_come_from_the_cached_spec(ecephys_file) -> None:
    tree = xr.open_datatree(open_virtual_store(ecephys_file), engine="zarr", consolidated=False)
    trials = tree["intervals/trials"].dataset
    assert trials["start_time"].dims == ("num_rows",) and trials.sizes["num_rows"] == 412
    root = tree.dataset
    assert root["file_create_date"].dims == ("num_modifications",)


def test_written_tables_iterators_and_appends_open_in_xarray(tmp_path) -> None:
    from datetime import datetime

    from hdmf.data_utils import DataChunkIterator
    from pynwb import NWBFile, TimeSeries

    nwb = NWBFile("d", "id", datetime(2024, 1, 1, tzinfo=UTC))
    nwb.add_unit_column("quality", "q")
    for i in range(3):
        nwb.add_unit(spike_times=np.arange(i + 2) / 10, quality=float(i))
    rows = (np.full(4, k, dtype="int16") for k in range(25))  # length unknown until exhausted
    nwb.add_acquisition(
        TimeSeries(
            name="stream",
            data=DataChunkIterator(rows, maxshape=(None, 4)),
            rate=10.0,
            unit="V",
        )
    )
    path = tmp_path / "w.nwb.zarr"
    with nwbzarr.NWBZarrIO(str(path), "w") as io:
        io.write(nwb)
    with nwbzarr.NWBZarrIO(str(path), "a") as io:
        got = io.read()
        got.add_acquisition(TimeSeries(name="extra", data=np.ones((6, 2)), rate=1.0, unit="V"))
        io.write(got)
    store = zarr.storage.LocalStore(path, read_only=True)
    tree = xr.open_datatree(store, engine="zarr", consolidated=False).load()
    units = tree["units"].dataset
    assert units["quality"].dims == ("num_rows",) and units.sizes["num_rows"] == 3
    assert units["spike_times"].dims == ("spike_times_elements",)
    stream = tree["acquisition/stream"].dataset
    assert stream["data"].shape == (25, 4) and len(set(stream["data"].dims)) == 2
    extra = tree["acquisition/extra"].dataset
    assert extra["data"].dims == ("num_times", "num_DIM2")  # TimeSeries.data in the spec


def test_names_agree_with_ancestor_groups() -> None:
    """xarray's DataTree aligns each group with its ancestors (rule 5)."""
    arrays = {
        "/data": ArrayDims((3,), ["x"]),
        "/g/data": ArrayDims((5,), ["x"]),  # x has another length above: renamed
        "/g/y": ArrayDims((3,), ["x"]),  # same length as above: kept... but g renames x
        "/g/h/v": ArrayDims((3,), ["x"]),
        "/k/w": ArrayDims((2,), ["data"]),  # an ancestor's array name
    }
    names = name_arrays_by_group(arrays, {})
    assert names["/data"] == ["x"]
    assert names["/g/data"] != ["x"] and names["/g/y"] != names["/g/data"]
    assert names["/k/w"] != ["data"]
    # DataTree.from_dict aligns every group with its ancestors: it raises if a name disagrees
    tree = xr.DataTree.from_dict(
        {
            path.rpartition("/")[0] or "/": xr.Dataset(
                {
                    p.rpartition("/")[2]: (tuple(names[p]), np.zeros(arrays[p].shape))
                    for p in arrays
                    if (p.rpartition("/")[0] or "/") == (path.rpartition("/")[0] or "/")
                }
            )
            for path in arrays
        }
    )
    assert tree["g/h"].dataset["v"].shape == (3,)


@pytest.mark.parametrize("kind", ["hdmf_zarr_v2", "lindi"])
def test_legacy_v2_stores_and_lindi_json_open_in_xarray(kind, tmp_path) -> None:
    folder = shared(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(folder.iterdir()):
            if kind == "lindi":  # a copy beside a link to its .nwb, as LINDI writes them
                nwb = shared("nwb", path.name.removesuffix(".lindi.json"))
                copy = tmp_path / path.name
                copy.write_bytes(path.read_bytes())
                (tmp_path / nwb.name).symlink_to(nwb)
                store = open_virtual_store(copy, allow_local=[nwb.parent])
            else:
                from nwbzarr.formats.hdmf_zarr_v2.store import V2TranslatingStore

                store = V2TranslatingStore(zarr.storage.LocalStore(path, read_only=True))
            assert _open_everything(store) >= 1, path.name


def test_a_group_of_many_clashing_arrays_is_named_in_one_pass() -> None:
    """Hostile width: 20 000 arrays giving one name to 20 000 lengths (linear, not quadratic)."""
    arrays = {f"a{i}": ArrayDims((i + 1,), ["t"]) for i in range(20_000)}
    names = group_dimension_names(arrays)
    firsts = [dims[0] for dims in names.values()]
    assert len(set(firsts)) == len(arrays) and names["a0"] == ["t"]
