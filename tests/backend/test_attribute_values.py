"""Attribute values and compound datasets as nwbzarr writes them and hands them back.

What HDMF code sees after a read must match what hdmf-zarr 0.14 and HDF5 (h5py) give:

* attributes: scalars as scalars (a 0-d text array is its text, not a list of character codes),
  NaN/±inf as floats and the strings ``"NaN"``/``"Infinity"`` as strings, lists as arrays;
  an attribute set on an open node reads back there as a tuple (hdmf-zarr's ``write_attributes``);
  a reference to a dataset without a parent points at ``/<name>``;
* compound datasets: structured numpy arrays (``numpy.void`` rows) with the stored field types
  (``float32`` weights stay ``float32``), reference fields resolved to builders or containers in
  an ``object`` field;
* ``_DTYPE`` type notes that hdmf-zarr 0.14 writes on plain arrays (``"int64"``) are accepted.

Files are real: the shipped ``data/sample_ecephys.nwb`` exported to Zarr, and NWB files built
with pynwb (PlaneSegmentation pixel/voxel masks, epochs with a ``timeseries`` column), written
and read back, compared with the same file written to HDF5.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import assert_validates_in_fresh_interpreter
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import DatasetBuilder, GroupBuilder, ReferenceBuilder
from hdmf.common import get_manager
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from pynwb.ophys import ImageSegmentation, OpticalChannel

from nwbzarr import NWBZarrIO, ZarrIO
from nwbzarr.backend.lazy import BuilderZarrTableDataset, ZarrCompoundDataset
from nwbzarr.errors import MalformedAttributeError, UnsupportedDataError, UnsupportedLayoutError

START = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
PIXEL_DTYPE = np.dtype([("x", "<u4"), ("y", "<u4"), ("weight", "<f4")])
VOXEL_DTYPE = np.dtype([("x", "<u4"), ("y", "<u4"), ("z", "<u4"), ("weight", "<f4")])


# -- helpers --------------------------------------------------------------------------------------
def write_attributes_and_reopen(path: Path, attributes: dict) -> tuple[dict, dict]:
    """Write ``attributes`` on the root of a new store; return the open node's view of them
    and the builder attributes read from the store opened again."""
    with ZarrIO(path, mode="w") as io:
        io.write_attributes(io.file, attributes)
        open_view = io.file.attrs.asdict()
    with ZarrIO(path, mode="r") as io:
        read = dict(io.read_builder().attributes)
    return open_view, read


def ophys_file() -> NWBFile:
    """An NWB file with a PlaneSegmentation holding pixel masks and voxel masks, and epochs
    whose ``timeseries`` column is a compound with an object reference."""
    nwbfile = NWBFile("compound values", "attr-values-0001", START)
    device = nwbfile.create_device("microscope")
    channel = OpticalChannel(name="green", description="green light", emission_lambda=500.0)
    plane = nwbfile.create_imaging_plane(
        "plane",
        channel,
        description="a plane",
        device=device,
        excitation_lambda=600.0,
        imaging_rate=30.0,
        indicator="GCaMP",
        location="V1",
    )
    segmentation = ImageSegmentation()
    ophys = nwbfile.create_processing_module("ophys", "optical physiology")
    ophys.add(segmentation)
    pixels = segmentation.create_plane_segmentation("pixels", plane, name="pixels")
    pixels.add_roi(pixel_mask=[(1, 2, 0.5), (3, 4, 0.1)])
    pixels.add_roi(pixel_mask=[(5, 6, 0.25)])
    voxels = segmentation.create_plane_segmentation("voxels", plane, name="voxels")
    voxels.add_roi(voxel_mask=[(1, 2, 3, 0.75), (4, 5, 6, 1.0)])
    series = TimeSeries(name="trace", data=np.arange(10.0), unit="a.u.", rate=10.0)
    nwbfile.add_acquisition(series)
    nwbfile.add_epoch(0.0, 0.5, timeseries=[series])
    nwbfile.add_epoch(0.5, 1.0, timeseries=[series])
    return nwbfile


@pytest.fixture
def ophys_paths(tmp_path) -> tuple[Path, Path]:
    """The ophys file written once to Zarr with nwbzarr and once to HDF5 with pynwb."""
    zarr_path, h5_path = tmp_path / "ophys.nwb.zarr", tmp_path / "ophys.nwb"
    with NWBZarrIO(zarr_path, mode="w") as io:
        io.write(ophys_file())
    with NWBHDF5IO(h5_path, mode="w") as io:
        io.write(ophys_file())
    return zarr_path, h5_path


def _walk(builder, path="/"):
    yield path, builder
    if isinstance(builder, GroupBuilder):
        for name, child in {**builder.groups, **builder.datasets}.items():
            yield from _walk(child, path.rstrip("/") + "/" + name)


def _comparable(value):
    """An attribute value as plain Python, builders by path, for comparing two backends."""
    if isinstance(value, (GroupBuilder, DatasetBuilder)):
        return ("builder", value.path.removeprefix("root"))
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_comparable(v) for v in value.tolist()] if value.ndim else _comparable(value[()])
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- 1. attribute values --------------------------------------------------------------------------
def test_sequences_read_as_tuples_on_the_open_node_and_arrays_after_reopening(tmp_path):
    values = {
        "ints": list(range(5)),
        "strings": ("a", "b", "c"),
        "a_set": {"only"},
        "bytes": [b"x", b"y"],
        "floats": np.arange(3, dtype=np.float64) + 0.5,
        "cube": np.arange(8.0).reshape(2, 2, 2),
    }
    open_view, read = write_attributes_and_reopen(tmp_path / "seq.zarr", values)
    assert open_view["ints"] == (0, 1, 2, 3, 4)
    assert open_view["strings"] == ("a", "b", "c")
    assert open_view["a_set"] == ("only",)
    assert open_view["bytes"] == ("x", "y")
    assert open_view["floats"] == (0.5, 1.5, 2.5)
    assert open_view["cube"] == ([[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]])
    on_disk = json.loads((tmp_path / "seq.zarr" / "zarr.json").read_text())["attributes"]
    assert on_disk["ints"] == [0, 1, 2, 3, 4] and on_disk["bytes"] == ["x", "y"]
    # read back as HDF5 gives them: numbers as numeric arrays, text as object arrays of str
    np.testing.assert_array_equal(read["ints"], np.arange(5))
    assert read["strings"].dtype == object and read["strings"].tolist() == ["a", "b", "c"]
    assert read["bytes"].tolist() == ["x", "y"]
    np.testing.assert_array_equal(read["cube"], values["cube"])


def test_zero_dimensional_arrays_are_their_element(tmp_path):
    values = {
        "bytes0": np.array(b"Hello World"),
        "text0": np.array("µs"),
        "int0": np.array(5),
        "float32_0": np.array(np.float32(5e-07)),
        "when": np.array(np.datetime64("2024-03-01")),
    }
    open_view, read = write_attributes_and_reopen(tmp_path / "zero.zarr", values)
    assert open_view == {
        "bytes0": "Hello World",
        "text0": "µs",
        "int0": 5,
        "float32_0": 5e-07,
        "when": "2024-03-01",
    }
    assert read["bytes0"] == "Hello World" and read["int0"] == 5


def test_nan_and_infinity_stay_floats_and_their_names_stay_text(tmp_path):
    values = {
        "nan": float("nan"),
        "inf": float("inf"),
        "ninf": -np.inf,
        "np_nan": np.float32("nan"),
        "text_nan": "NaN",
        "text_inf": "Infinity",
        "mixed": [1.0, float("nan"), float("-inf")],
    }
    path = tmp_path / "nan.zarr"
    _, read = write_attributes_and_reopen(path, values)
    assert math.isnan(read["nan"]) and math.isnan(read["np_nan"])
    assert read["inf"] == math.inf and read["ninf"] == -math.inf
    assert read["text_nan"] == "NaN" and read["text_inf"] == "Infinity"
    assert read["mixed"][0] == 1.0 and math.isnan(read["mixed"][1])
    assert read["mixed"][2] == -math.inf
    text = (path / "zarr.json").read_text()  # bare tokens for floats, quoted text for strings
    assert '"nan": NaN' in text and '"text_nan": "NaN"' in text
    assert '"ninf": -Infinity' in text


def test_rewriting_the_same_values_leaves_the_node_untouched(tmp_path):
    path = tmp_path / "same.zarr"
    values = {"ints": [1, 2], "nan": float("nan"), "when": "2024"}
    write_attributes_and_reopen(path, values)
    doc = path / "zarr.json"
    before = doc.stat().st_mtime_ns
    with ZarrIO(path, mode="a") as io:
        io.write_attributes(io.file, values)  # the stored list, a tuple and NaN all compare equal
    assert doc.stat().st_mtime_ns == before


def test_attribute_references_to_datasets_without_a_parent_point_under_the_root(tmp_path):
    path = tmp_path / "refs.zarr"
    target = DatasetBuilder("dataset_1", np.arange(4))
    with ZarrIO(path, mode="w") as io:
        io.write_dataset(io.file, target)
        io.write_attributes(io.file, {"direct": target, "wrapped": ReferenceBuilder(target)})
        stored = io.file.attrs.asdict()
    expected = {"_REFERENCE": {"source": ".", "path": "/dataset_1"}}
    assert stored["direct"] == expected and stored["wrapped"] == expected
    with ZarrIO(path, mode="r") as io:
        root = io.read_builder()
        assert root.attributes["direct"] is root["dataset_1"]
        np.testing.assert_array_equal(root.attributes["wrapped"]["data"][:], np.arange(4))


def test_values_with_no_json_form_are_refused_naming_the_attribute(tmp_path):
    with ZarrIO(tmp_path / "bad.zarr", mode="w") as io:
        with pytest.raises(UnsupportedDataError, match="@kind"):
            io.write_attributes(io.file, {"kind": np.int32})
        with pytest.raises(UnsupportedDataError, match="@table.*compound"):
            io.write_attributes(io.file, {"table": np.zeros(2, dtype=PIXEL_DTYPE)})


def test_attributes_of_the_shipped_sample_match_hdf5(ecephys_file, tmp_path):
    """Every attribute of data/sample_ecephys.nwb reads back from Zarr as HDF5 gives it."""
    path = tmp_path / "sample.nwb.zarr"
    with NWBHDF5IO(ecephys_file, mode="r") as src, NWBZarrIO(path, mode="w") as dst:
        dst.export(src_io=src)
    with HDF5IO(ecephys_file, mode="r", manager=get_manager()) as h5:
        expected = {p: dict(b.attributes) for p, b in _walk(h5.read_builder())}
    with ZarrIO(path, mode="r") as zio:
        got = {p: dict(b.attributes) for p, b in _walk(zio.read_builder())}
    compared = 0
    for node, attrs in expected.items():
        if node.startswith("/specifications"):
            continue
        for key, value in attrs.items():
            if key in ("object_id",):
                continue
            assert _comparable(got[node][key]) == pytest.approx(_comparable(value)), (node, key)
            compared += 1
    assert compared > 100


# -- 2. compound datasets -------------------------------------------------------------------------
def test_pixel_and_voxel_masks_read_as_structured_arrays_like_hdf5(ophys_paths):
    zarr_path, h5_path = ophys_paths
    with NWBZarrIO(zarr_path, mode="r") as zio, NWBHDF5IO(h5_path, mode="r") as hio:
        zseg = zio.read().processing["ophys"]["ImageSegmentation"]
        hseg = hio.read().processing["ophys"]["ImageSegmentation"]
        for name, mask, dtype in (
            ("pixels", "pixel_mask", PIXEL_DTYPE),
            ("voxels", "voxel_mask", VOXEL_DTYPE),
        ):
            zdata, hdata = getattr(zseg[name], mask).data, getattr(hseg[name], mask).data
            assert isinstance(zdata, ZarrCompoundDataset)
            # hdmf-zarr's dtype: the numpy one (hdmf's HDF5 table reports the field names)
            assert zdata.dtype == dtype
            assert hdata.dtype == [str(dtype[n]) for n in dtype.names]
            rows = zdata[:]
            assert isinstance(rows, np.ndarray) and rows.dtype == hdata[:].dtype == dtype
            np.testing.assert_array_equal(rows, hdata[:])
            assert isinstance(zdata[0], np.void) and zdata[0].dtype == dtype
            assert rows["weight"].dtype == np.float32  # not widened to Python floats
            # the ragged column, as pynwb users index it
            np.testing.assert_array_equal(zseg[name][mask][0], hseg[name][mask][0])
        assert zseg["pixels"]["pixel_mask"][1].tolist() == [(5, 6, 0.25)]
        first = zseg["pixels"].pixel_mask.data[:]["weight"]
        np.testing.assert_array_equal(first, np.array([0.5, 0.1, 0.25], dtype=np.float32))
        frame = zseg["pixels"].to_dataframe()
        assert frame["pixel_mask"].iloc[0].tolist() == [(1, 2, 0.5), (3, 4, np.float32(0.1))]


def test_compound_references_resolve_in_an_object_field(ophys_paths):
    zarr_path, h5_path = ophys_paths
    with NWBZarrIO(zarr_path, mode="r") as zio, NWBHDF5IO(h5_path, mode="r") as hio:
        znwb, hnwb = zio.read(), hio.read()
        # the ragged column's target: a TimeSeriesReferenceVectorData
        zcol, hcol = znwb.epochs["timeseries"].target, hnwb.epochs["timeseries"].target
        rows = zcol.data[:]
        assert isinstance(rows, np.ndarray)
        assert rows.dtype.names == ("idx_start", "count", "timeseries")
        assert rows.dtype["timeseries"] == np.dtype(object)
        assert rows.dtype["idx_start"] == np.int32
        assert all(ts is znwb.acquisition["trace"] for ts in rows["timeseries"])
        np.testing.assert_array_equal(rows["idx_start"], hcol.data[:]["idx_start"])
        np.testing.assert_array_equal(rows["count"], hcol.data[:]["count"])
        assert zcol.data.dtype == hcol.data.dtype == ["int32", "int32", "object"]
        row = zcol.data[1]
        assert isinstance(row, np.void) and row["timeseries"] is znwb.acquisition["trace"]
        reference = zcol[0]  # pynwb's TimeSeriesReference from a numpy.void row
        assert reference.timeseries is znwb.acquisition["trace"]
        assert (reference.idx_start, reference.count) == (0, 5)
        assert znwb.epochs.to_dataframe()["timeseries"].iloc[1][0].idx_start == 5


def test_compound_builders_resolve_to_builders(ophys_paths):
    zarr_path, _ = ophys_paths
    with ZarrIO(zarr_path, mode="r") as io:
        root = io.read_builder()
        data = root["intervals/epochs/timeseries"].data
        assert isinstance(data, BuilderZarrTableDataset)
        rows = data[:]
        assert rows["timeseries"][0] is root["acquisition/trace"]
        assert data.dataset.dtype["timeseries"].kind == "U"  # stored as the target path
        assert root["intervals/epochs/timeseries"].dtype == [
            {"name": "idx_start", "dtype": "int32"},
            {"name": "count", "dtype": "int32"},
            {"name": "timeseries", "dtype": "object"},
        ]


def test_exported_masks_keep_their_values(ophys_paths, tmp_path):
    zarr_path, _ = ophys_paths
    again = tmp_path / "again.nwb.zarr"
    as_hdf5 = tmp_path / "again.nwb"
    with NWBZarrIO(zarr_path, mode="r") as src:
        nwb = src.read()
        with NWBZarrIO(again, mode="w") as dst:
            dst.export(src_io=src, nwbfile=nwb, write_args=dict(link_data=False))
    with NWBZarrIO(zarr_path, mode="r") as src, NWBHDF5IO(as_hdf5, mode="w") as dst:
        dst.export(src_io=src)
    stored = zarr.open_group(again, mode="r")["processing/ophys/ImageSegmentation/pixels"]
    assert stored["pixel_mask"].dtype == PIXEL_DTYPE
    with NWBZarrIO(again, mode="r") as zio, NWBHDF5IO(as_hdf5, mode="r") as hio:
        for io in (zio, hio):
            nwb = io.read()
            seg = nwb.processing["ophys"]["ImageSegmentation"]
            values = seg["pixels"].pixel_mask.data[:]
            assert values.dtype == PIXEL_DTYPE and values.shape == (3,)
            assert values.tolist() == [(1, 2, 0.5), (3, 4, np.float32(0.1)), (5, 6, 0.25)]
            epochs = nwb.epochs["timeseries"].target.data[:]
            assert all(ts is nwb.acquisition["trace"] for ts in epochs["timeseries"])


def test_rois_appended_to_a_read_mask_keep_the_structured_values(ophys_paths):
    zarr_path, _ = ophys_paths
    with NWBZarrIO(zarr_path, mode="a") as io:
        nwb = io.read()
        nwb.processing["ophys"]["ImageSegmentation"]["pixels"].add_roi(
            pixel_mask=[(7, 8, 0.125), (9, 10, 2.0)]
        )
        io.write(nwb)
    with NWBZarrIO(zarr_path, mode="r") as io:
        pixels = io.read().processing["ophys"]["ImageSegmentation"]["pixels"]
        assert pixels.pixel_mask.data.dtype == PIXEL_DTYPE
        assert pixels.pixel_mask.data[:]["x"].tolist() == [1, 3, 5, 7, 9]
        assert pixels["pixel_mask"][2].tolist() == [(7, 8, 0.125), (9, 10, 2.0)]


def test_nested_compounds_are_written_and_read(tmp_path):
    inner = np.dtype([("c", np.int32), ("d", np.float64)])
    data = np.zeros(3, dtype=[("a", np.int32), ("b", inner)])
    data["a"] = [1, 2, 3]
    data["b"]["c"] = 202
    data["b"]["d"] = [0.5, 1.5, 2.5]
    spec = [
        {"name": "a", "dtype": "int32"},
        {
            "name": "b",
            "dtype": [{"name": "c", "dtype": "int32"}, {"name": "d", "dtype": "float64"}],
        },
    ]
    rows = [(1, (7, 0.25)), (2, (8, 0.75))]  # the same layout from Python tuples
    with ZarrIO(tmp_path / "nested.zarr", mode="w") as io:
        io.write_builder(
            GroupBuilder(
                "root",
                datasets={
                    "arr": DatasetBuilder("arr", data, dtype=spec),
                    "rows": DatasetBuilder("rows", rows, dtype=spec),
                },
            )
        )
    with ZarrIO(tmp_path / "nested.zarr", mode="r") as io:
        root = io.read_builder()
        np.testing.assert_array_equal(root["arr"].data[:], data)
        assert root["arr"].data[:]["b"]["d"].tolist() == [0.5, 1.5, 2.5]
        assert root["rows"].data[:].tolist() == rows
        assert root["arr"].dtype[1] == {
            "name": "b",
            "dtype": [{"name": "c", "dtype": "int32"}, {"name": "d", "dtype": "float64"}],
        }


def test_text_fields_are_sized_to_the_longest_value(tmp_path):
    spec = [{"name": "id", "dtype": "int"}, {"name": "name", "dtype": "text"}]
    rows = [(0, "a"), (1, "x" * 600), (2, b"bytes \xc2\xb5")]
    with ZarrIO(tmp_path / "text.zarr", mode="w") as io:
        io.write_builder(
            GroupBuilder("root", datasets={"t": DatasetBuilder("t", rows, dtype=spec)})
        )
    stored = zarr.open_array(tmp_path / "text.zarr" / "t", mode="r")
    assert stored.dtype["name"] == np.dtype("<U600")
    with ZarrIO(tmp_path / "text.zarr", mode="r") as io:
        values = io.read_builder()["t"].data[:]
        assert values["name"].tolist() == ["a", "x" * 600, "bytes µ"]
        assert values["id"].dtype == np.int32


def test_scalar_compounds(tmp_path):
    target = DatasetBuilder("target", np.arange(3))
    plain = np.array((1.5, "label"), dtype=[("x", "<f4"), ("label", object)])
    spec = [{"name": "x", "dtype": "float32"}, {"name": "label", "dtype": "text"}]
    with ZarrIO(tmp_path / "scalar.zarr", mode="w") as io:
        io.write_builder(
            GroupBuilder("root", datasets={"pos": DatasetBuilder("pos", plain, dtype=spec)})
        )
    with ZarrIO(tmp_path / "scalar.zarr", mode="r") as io:
        data = io.read_builder()["pos"].data
        assert data.shape == () and data["x"] == np.float32(1.5) and data["label"] == "label"
    ref_spec = [{"name": "idx", "dtype": "int32"}, {"name": "ref", "dtype": "object"}]
    with_ref = np.array((1, ReferenceBuilder(target)), dtype=[("idx", "<i4"), ("ref", object)])
    builder = GroupBuilder(
        "root", datasets={"target": target, "cs": DatasetBuilder("cs", with_ref, dtype=ref_spec)}
    )
    with ZarrIO(tmp_path / "scalar_ref.zarr", mode="w") as io:
        with pytest.raises(UnsupportedLayoutError, match="/cs: a zero-dimensional") as err:
            io.write_builder(builder)
    assert isinstance(err.value, NotImplementedError)  # what hdmf-zarr raises there


def test_scalar_compound_with_a_reference_from_another_writer_reads(tmp_path):
    """Such a value has no hdmf-zarr form, but HDF5 files hold it: read it when found."""
    path = tmp_path / "other.zarr"
    with ZarrIO(path, mode="w") as io:
        io.write_builder(GroupBuilder("root", datasets={"target": DatasetBuilder("target", [1])}))
    group = zarr.open_group(path, mode="a")
    dtype = np.dtype([("idx", "<i4"), ("ref", "<U7")])
    array = group.create_array(
        "cs", shape=(), dtype=dtype, attributes={"_REFERENCE_FIELDS": ["ref"]}
    )
    array[()] = np.array((7, "/target"), dtype=dtype)
    with ZarrIO(path, mode="r-") as io:
        root = io.read_builder()
        value = root["cs"].data
        assert isinstance(value, np.void)
        assert value["idx"] == 7 and value["ref"] is root["target"]


# -- 3. hdmf-zarr's _DTYPE notes ------------------------------------------------------------------
def test_dtype_type_notes_of_hdmf_zarr_are_accepted(tmp_path):
    path = tmp_path / "notes.zarr"
    builder = GroupBuilder(
        "root",
        datasets={
            "ints": DatasetBuilder("ints", np.arange(3)),
            "text": DatasetBuilder("text", "hi"),
            "num": DatasetBuilder("num", 5),
        },
    )
    with ZarrIO(path, mode="w") as io:
        io.write_builder(builder)
    group = zarr.open_group(path, mode="a", use_consolidated=False)
    for name, note in (("ints", "int64"), ("text", "str"), ("num", "int")):
        group[name].attrs["_DTYPE"] = note  # what hdmf-zarr 0.14 writes on such arrays
    with ZarrIO(path, mode="r-") as io:
        root = io.read_builder()
        np.testing.assert_array_equal(root["ints"].data[:], np.arange(3))
        assert root["text"].data == "hi" and root["num"].data == 5
        assert "_DTYPE" not in root["ints"].attributes
    group["ints"].attrs["_DTYPE"] = "object_referenc"  # not a type: still refused
    with ZarrIO(path, mode="r-") as io:
        with pytest.raises(MalformedAttributeError, match="/ints.*_DTYPE"):
            io.read_builder()


def test_files_with_compound_masks_and_references_validate(tmp_path):
    assert_validates_in_fresh_interpreter(
        tmp_path / "v.nwb.zarr", "backend.test_attribute_values", "ophys_file"
    )


# -- 4. compat: zarr >= 3.4's "struct" data type on every supported zarr ----------------------
def _as_struct(doc):
    """An array document with its compound data type in zarr >= 3.4's "struct" form."""
    dtype = doc.get("data_type")
    if isinstance(dtype, dict) and dtype.get("name") == "structured":
        fields = dtype["configuration"]["fields"]
        doc["data_type"] = {
            "name": "struct",
            "configuration": {"fields": [{"name": n, "data_type": t} for n, t in fields]},
        }
        doc["fill_value"] = {
            n: ("" if isinstance(t, dict) else 0) for n, t in fields
        }  # an object of field values, as zarr >= 3.4 writes it
    return doc


def test_struct_compounds_written_by_newer_zarr_open_everywhere(tmp_path):
    from nwbzarr import compat

    assert isinstance(compat.install_struct_reader(), bool)  # idempotent
    path = tmp_path / "struct.nwb.zarr"
    with NWBZarrIO(path, mode="w") as io:
        io.write(ophys_file())
    for doc_path in path.rglob("zarr.json"):  # arrays, and the root's consolidated metadata
        doc = json.loads(doc_path.read_text())
        doc = _as_struct(doc)
        for entry in doc.get("consolidated_metadata", {}).get("metadata", {}).values():
            _as_struct(entry)
        doc_path.write_text(json.dumps(doc))
    stored = json.loads((path / "intervals/epochs/timeseries/zarr.json").read_text())
    assert stored["data_type"]["name"] == "struct"
    with NWBZarrIO(path, mode="a") as io:
        nwb = io.read()
        pixels = nwb.processing["ophys"]["ImageSegmentation"]["pixels"]
        assert pixels.pixel_mask.data[:].tolist() == [
            (1, 2, 0.5),
            (3, 4, np.float32(0.1)),
            (5, 6, 0.25),
        ]
        assert nwb.epochs["timeseries"].target.data[:]["idx_start"].tolist() == [0, 5]
        nwb.add_epoch(1.0, 2.0, timeseries=[nwb.acquisition["trace"]])  # rewrites the metadata
        io.write(nwb)
    with NWBZarrIO(path, mode="r") as io:
        column = io.read().epochs["timeseries"].target.data[:]
        assert column["idx_start"].tolist() == [0, 5, 10]
    # creating a compound array still resolves to one zarr data type (the reader claims none)
    created = zarr.create_array(zarr.storage.MemoryStore(), shape=(1,), dtype=PIXEL_DTYPE)
    assert created.dtype == PIXEL_DTYPE


def test_compound_text_that_is_not_utf8_is_refused_naming_the_dataset(tmp_path):
    from nwbzarr.errors import NonUTF8TextError

    spec = [{"name": "id", "dtype": "int"}, {"name": "name", "dtype": "ascii"}]
    builder = GroupBuilder(
        "root", datasets={"t": DatasetBuilder("t", [(0, b"ok"), (1, b"\xff")], dtype=spec)}
    )
    with ZarrIO(tmp_path / "latin.zarr", mode="w") as io:
        with pytest.raises(NonUTF8TextError, match="/t: a text field of compound dataset 't'"):
            io.write_builder(builder)
