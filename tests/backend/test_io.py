"""hdmf-zarr 0.14's ZarrIO API as nwbzarr gives it: generic HDMF files, write_builder and
export arguments, links made on export, reference resolution, and what other readers see
while a new store is being written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr
from hdmf.backends.errors import UnsupportedOperation
from hdmf.build import DatasetBuilder, GroupBuilder
from hdmf.common import DynamicTable, VectorData, get_manager
from pynwb import NWBHDF5IO, TimeSeries

import nwbzarr
from nwbzarr import NWBZarrIO, ZarrIO
from nwbzarr.errors import IncompleteStoreError, NotNWBStoreError, UnsupportedOperationError


def _root_attrs(path: Path) -> dict:
    return json.loads((path / "zarr.json").read_text())


def test_untyped_root_is_read_by_zarrio_and_refused_by_nwbzarrio(tmp_path):
    path = tmp_path / "generic.zarr"
    data = np.arange(12, dtype="int16").reshape(3, 4)
    root = GroupBuilder(
        "root",
        groups={"g": GroupBuilder("g", attributes={"note": "inner"})},
        datasets={"values": DatasetBuilder("values", data, attributes={"unit": "V"})},
    )
    with ZarrIO(path, mode="w") as io:
        io.write_builder(root)
    with ZarrIO(path, mode="r") as io:
        builder = io.read_builder()
        assert builder.name == "root"
        np.testing.assert_array_equal(builder["values"].data[:], data)
        assert builder["values"].attributes["unit"] == "V"
        assert builder["g"].attributes["note"] == "inner"
        with pytest.raises(NotNWBStoreError, match="read_builder"):
            io.read()
    with NWBZarrIO(path, mode="r") as io:
        with pytest.raises(NotNWBStoreError, match="neurodata_type"):
            io.read()


def test_write_builder_takes_positional_arguments(tmp_path):
    path = tmp_path / "pos.zarr"
    with ZarrIO(path, mode="w") as io:
        # (builder, link_data, exhaust_dci, export_source, consolidate_metadata)
        io.write_builder(GroupBuilder("root", datasets={"x": DatasetBuilder("x", [1, 2])}), True)
    with ZarrIO(path, mode="r") as io:
        assert list(io.read_builder()["x"].data[:]) == [1, 2]


def test_a_new_store_is_visible_to_zarr_before_close_but_not_complete(tmp_path):
    path = tmp_path / "open.zarr"
    io = ZarrIO(path, mode="w")
    io.write_builder(GroupBuilder("root", datasets={"x": DatasetBuilder("x", np.arange(5))}))
    group = zarr.open_group(path, mode="r")  # consolidated metadata refreshed by write_builder
    np.testing.assert_array_equal(group["x"][:], np.arange(5))
    with pytest.raises(IncompleteStoreError):
        ZarrIO(path, mode="r").read_builder()  # still marked in progress until close
    io.close()
    with ZarrIO(path, mode="r") as reader:
        np.testing.assert_array_equal(reader.read_builder()["x"].data[:], np.arange(5))


def _table(name: str, values) -> DynamicTable:
    column = VectorData(name="v", description="values", data=list(values))
    return DynamicTable(name=name, description="t", columns=[column])


def test_export_arguments_and_mode(tmp_path, ecephys_file):
    out = tmp_path / "exported.nwb.zarr"
    with NWBHDF5IO(ecephys_file, "r") as src:
        with NWBZarrIO(out, mode="w") as dst:
            dst.export(src_io=src, consolidate_metadata=False, number_of_jobs=1)
    assert "consolidated_metadata" not in _root_attrs(out) or not _root_attrs(out).get(
        "consolidated_metadata"
    )
    with NWBZarrIO(out, mode="r-") as io:  # read by listing
        assert io.read().identifier == "anm00239123_2017-06-27_09-35-49"
    again = tmp_path / "again.nwb.zarr"
    with NWBZarrIO(out, mode="r-") as src:
        with NWBZarrIO(again, mode="a") as dst:
            with pytest.raises(UnsupportedOperation, match="mode 'w'") as info:
                dst.export(src_io=src)
    assert isinstance(info.value, UnsupportedOperationError) and isinstance(info.value, ValueError)


def test_root_level_link_to_another_store_survives_write_and_export(tmp_path):
    """A root dataset whose data lives in another store is written as a link (was lost)."""
    first, second, third = (tmp_path / f"f{i}.zarr" for i in range(3))
    manager = get_manager()
    data = np.arange(7, dtype="float32")
    with ZarrIO(first, manager=manager, mode="w") as io:
        io.write_builder(GroupBuilder("root", datasets={"d": DatasetBuilder("d", data)}))
    with ZarrIO(first, mode="r") as src:
        linked = src.read_builder()["d"].data
        with ZarrIO(second, mode="w") as io:
            io.write_builder(
                GroupBuilder("root", datasets={"d_link": DatasetBuilder("d_link", linked)})
            )
    links = _root_attrs(second)["attributes"]["_LINKS"]
    assert links == [{"name": "d_link", "source": "../f0.zarr", "path": "/d"}]
    with ZarrIO(second, mode="r") as src:
        builder = src.read_builder()
        np.testing.assert_array_equal(builder["d_link"].builder.data[:], data)
        with ZarrIO(third, mode="w") as dst:
            dst.write_builder(builder, export_source=str(second))
    assert _root_attrs(third)["attributes"]["_LINKS"][0]["path"] == "/d"


def test_export_links_data_placed_at_a_second_path(tmp_path):
    """Data of the exported file placed at a second path becomes a soft link to the first,
    as HDF5IO.export makes it: one copy of the bytes, the same builder on read."""
    src, out = tmp_path / "src.zarr", tmp_path / "out.zarr"
    data = np.arange(6, dtype="int32")
    with ZarrIO(src, mode="w") as io:
        io.write_builder(GroupBuilder("root", datasets={"a": DatasetBuilder("a", data)}))
    with ZarrIO(src, mode="r") as io:
        builder = io.read_builder()
        builder.set_dataset(DatasetBuilder("b", builder["a"].data))
        with ZarrIO(out, mode="w") as dst:
            dst.write_builder(builder, export_source=str(src))
    assert _root_attrs(out)["attributes"]["_LINKS"] == [{"name": "b", "source": ".", "path": "/a"}]
    assert not (out / "b").exists()
    with ZarrIO(out, mode="r") as io:
        read = io.read_builder()
        assert read.links["b"].builder is read["a"]
        np.testing.assert_array_equal(read["a"].data[:], data)


def test_export_copies_reused_data_a_link_would_change(tmp_path, ecephys_file):
    """A TimeSeries reusing a table column's data needs attributes (unit, conversion) a link
    cannot carry, so export copies it instead of linking (or refusing)."""
    src_path, out = tmp_path / "src.nwb.zarr", tmp_path / "out.nwb.zarr"
    nwbzarr.convert(ecephys_file, src_path)
    with NWBZarrIO(src_path, mode="r") as src:
        nwbfile = src.read()
        starts = nwbfile.trials["start_time"].data  # a column read from the source store
        nwbfile.add_acquisition(TimeSeries(name="starts", data=starts, unit="s", rate=1.0))
        with NWBZarrIO(out, mode="w") as dst:
            dst.export(src_io=src, nwbfile=nwbfile)
    with NWBZarrIO(out, mode="r") as io:
        read = io.read()
        series = read.acquisition["starts"]
        assert series.unit == "s" and series.conversion == 1.0
        np.testing.assert_array_equal(series.data[:], read.trials.start_time[:])


def test_resolve_ref_returns_the_zarr_node(tmp_path, ecephys_file):
    path = tmp_path / "r.nwb.zarr"
    nwbzarr.convert(ecephys_file, path)
    with NWBZarrIO(path, mode="r") as io:
        name, node = io.resolve_ref({"source": ".", "path": "/general/devices"})
        assert name == "devices" and isinstance(node, zarr.Group)
        name, node = io.resolve_ref({"source": ".", "path": None})
        assert name == "root" and node.attrs["neurodata_type"] == "NWBFile"
        with pytest.raises(ValueError, match="/no/such/node"):
            io.resolve_ref({"source": ".", "path": "/no/such/node"})


def test_read_nwb_reads_s3_anonymously_unless_told(monkeypatch):
    seen = {}

    def fake_init(self, path, mode="r", storage_options=None, **kwargs):
        seen[path] = storage_options
        raise RuntimeError("stop")

    monkeypatch.setattr(NWBZarrIO, "__init__", fake_init)
    for path in ("s3://bucket/f.nwb.zarr", "local.nwb.zarr"):
        with pytest.raises(RuntimeError):
            NWBZarrIO.read_nwb(path)
    with pytest.raises(RuntimeError):
        NWBZarrIO.read_nwb("s3://bucket/g.nwb.zarr", storage_options={"key": "k"})
    assert seen == {
        "s3://bucket/f.nwb.zarr": {"anon": True},
        "local.nwb.zarr": None,
        "s3://bucket/g.nwb.zarr": {"key": "k"},
    }


@pytest.mark.parametrize("value", [[b"ok", b"\xff\xfe"], b"\xff\xfe"])
def test_text_that_is_not_utf8_is_refused_naming_the_dataset(tmp_path, value):
    from nwbzarr.errors import NonUTF8TextError

    path = tmp_path / "t.zarr"
    with pytest.raises(NonUTF8TextError, match="'d'.*not valid UTF-8") as info:
        with ZarrIO(path, mode="w") as io:
            io.write_builder(
                GroupBuilder("root", datasets={"d": DatasetBuilder("d", value, dtype="ascii")})
            )
    assert isinstance(info.value, ValueError)
    with pytest.raises(IncompleteStoreError):  # the failed write never opens as complete
        ZarrIO(path, mode="r").read_builder()


def test_append_of_a_foreign_builder_over_a_stored_dataset_is_refused(tmp_path):
    from nwbzarr.errors import AppendError

    path = tmp_path / "a.zarr"

    def tree(values):
        return GroupBuilder("root", datasets={"tbl": DatasetBuilder("tbl", values)})

    with ZarrIO(path, mode="w") as io:
        io.write_builder(tree([1, 2, 3]))
    with pytest.raises(AppendError, match="/tbl already exists"):
        with ZarrIO(path, mode="a") as io:
            io.write_builder(tree([7, 8, 9, 10]))
    with ZarrIO(path, mode="r") as io:  # rolled back: the stored values are intact
        assert list(io.read_builder()["tbl"].data[:]) == [1, 2, 3]


@pytest.mark.parametrize("source", ["../../../../etc", "/etc", "http://169.254.169.254/latest"])
def test_resolve_ref_to_another_store_passes_the_access_policy(tmp_path, ecephys_file, source):
    from nwbzarr.errors import UntrustedReferenceError

    path = tmp_path / "r.nwb.zarr"
    nwbzarr.convert(ecephys_file, path, progress=False)
    with NWBZarrIO(path, mode="r") as io:
        with pytest.raises(UntrustedReferenceError):
            io.resolve_ref({"source": source, "path": "/passwd"})
