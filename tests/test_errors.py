"""Modes, error messages, spec cache choice, and failure safety of ZarrIO/NWBZarrIO."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import zarr
from pynwb import TimeSeries
from pynwb.testing.mock.file import mock_NWBFile

import nwbzarr
from nwbzarr import NWBZarrIO, ZarrIO
from nwbzarr.backend.specs import _version_key
from nwbzarr.errors import (
    IncompleteStoreError,
    InvalidModeError,
    NotAZarrStoreError,
    NotNWBStoreError,
    ReadOnlyError,
    StoreExistsError,
    StoreNotFoundError,
    UnknownNamespaceError,
    UnsupportedDataError,
    UnsupportedOptionError,
)


def _nwbfile(n: int = 10):
    f = mock_NWBFile(session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC))
    f.add_acquisition(TimeSeries(name="ts", data=np.arange(n, dtype="f4"), unit="m", rate=10.0))
    return f


def _write(path, nwbfile=None):
    with NWBZarrIO(path, "w") as io:
        io.write(nwbfile or _nwbfile())
    return path


def test_missing_path_raises_named_error(tmp_path):
    missing = tmp_path / "nope.nwb.zarr"
    with pytest.raises(StoreNotFoundError, match="nope.nwb.zarr") as info:
        NWBZarrIO(missing, "r")
    assert isinstance(info.value, FileNotFoundError)


def test_bad_mode(tmp_path):
    with pytest.raises(InvalidModeError, match="mode 'q'"):
        ZarrIO(tmp_path / "x.zarr", mode="q")


def test_w_minus_refuses_existing(tmp_path):
    path = _write(tmp_path / "f.nwb.zarr")
    for mode in ("w-", "x"):
        with pytest.raises(StoreExistsError, match="already exists"):
            NWBZarrIO(path, mode)
    assert nwbzarr.read_nwb(path).acquisition["ts"].data[3] == 3


def test_w_refuses_non_zarr_directory_without_force(tmp_path):
    d = tmp_path / "precious"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    with pytest.raises(StoreExistsError, match="force_overwrite"):
        NWBZarrIO(d, "w")
    assert (d / "notes.txt").read_text() == "keep me"
    with NWBZarrIO(d, "w", force_overwrite=True) as io:
        io.write(_nwbfile())
    assert not (d / "notes.txt").exists()


def test_directory_that_is_not_zarr(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "a.txt").write_text("x")
    with pytest.raises(NotAZarrStoreError, match="plain"):
        NWBZarrIO(d, "r")
    assert not ZarrIO.can_read(d)


def test_zarr_store_that_is_not_nwb(tmp_path):
    path = tmp_path / "plain.zarr"
    g = zarr.open_group(path, mode="w", zarr_format=3)
    g.create_array("x", shape=(3,), dtype="i4")
    with NWBZarrIO(path, "r") as io:
        with pytest.raises(NotNWBStoreError, match="neurodata_type"):
            io.read_builder()
    # a plain ZarrIO is an HDMF backend: it reads any group's builders, but holds no container
    with ZarrIO(path, "r") as io:
        builder = io.read_builder()
        assert builder.name == "root" and builder.datasets["x"].data.shape == (3,)
        with pytest.raises(NotNWBStoreError, match="read_builder"):
            io.read()


def test_read_only_refuses_writes(tmp_path):
    path = _write(tmp_path / "f.nwb.zarr")
    with NWBZarrIO(path, "r") as io:
        nwbfile = io.read()
        with pytest.raises(ReadOnlyError, match="read-only"):
            io.write(nwbfile)


def test_read_in_write_mode(tmp_path):
    with NWBZarrIO(tmp_path / "f.nwb.zarr", "w") as io:
        with pytest.raises(ValueError, match="cannot read"):
            io.read()


def test_unknown_namespace(tmp_path):
    from hdmf.spec import NamespaceCatalog

    path = _write(tmp_path / "f.nwb.zarr")
    with pytest.raises(UnknownNamespaceError, match="not-a-namespace"):
        ZarrIO.load_namespaces(NamespaceCatalog(), path=path, namespaces=["not-a-namespace"])


def test_load_namespaces_accepts_hdf5_only_kwargs(tmp_path):
    from pynwb import get_type_map

    path = _write(tmp_path / "f.nwb.zarr")
    deps = NWBZarrIO.load_namespaces(get_type_map(), path=path, driver=None, aws_region=None)
    assert isinstance(deps, dict)


def test_failed_write_leaves_store_marked_incomplete(tmp_path):
    path = tmp_path / "f.nwb.zarr"
    nwbfile = _nwbfile()
    nwbfile.add_acquisition(TimeSeries(name="bad", data=[object(), object()], unit="m", rate=1.0))
    with pytest.raises(UnsupportedDataError, match="bad/data"):
        with NWBZarrIO(path, "w") as io:
            io.write(nwbfile)
    assert path.exists()
    with pytest.raises(IncompleteStoreError, match="did not complete"):
        NWBZarrIO(path, "r")


def test_spec_cache_picks_newest_version_numerically(tmp_path):
    path = _write(tmp_path / "f.nwb.zarr")
    root = zarr.open_group(path, mode="r+")
    core = root["specifications"]["core"]
    (current,) = [name for name, _ in core.groups()]
    # fabricate an older cached version that sorts after the real one as a string
    old = core.create_group("2.9.0")
    for name, arr in core[current].arrays():
        new = old.create_array(name, shape=(), dtype=str)
        new[()] = arr[()]
    zarr.consolidate_metadata(path)
    assert _version_key("2.10.0") > _version_key("2.9.0")
    found = NWBZarrIO.get_namespaces(path)
    assert found["core"] == max([current, "2.9.0"], key=_version_key)


def test_on_disk_convention(tmp_path):
    path = _write(tmp_path / "f.nwb.zarr")
    root = zarr.open_group(path, mode="r")
    assert root.attrs["neurodata_type"] == "NWBFile"
    assert root.attrs[".specloc"] == "specifications"
    assert "_WRITE_IN_PROGRESS" not in root.attrs
    assert root["session_description"].shape == ()
    assert str(root["session_description"].dtype) in ("StringDType()", "<class 'str'>") or (
        root["session_description"].metadata.data_type.to_json(zarr_format=3) == "string"
    )
    ns = json.loads(str(root["specifications/core"].groups().__next__()[1]["namespace"][()]))
    assert ns["namespaces"][0]["name"] == "core"
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["consolidated_metadata"]["metadata"], "consolidated metadata at the root"


def test_region_reference_dtype_rejected(tmp_path):
    from hdmf.build import DatasetBuilder, GroupBuilder

    root = GroupBuilder("root", attributes={"neurodata_type": "Thing"})
    root.set_dataset(DatasetBuilder("r", data=[1, 2], dtype="region"))
    with ZarrIO(tmp_path / "r.zarr", "w") as io:
        with pytest.raises(UnsupportedDataError, match="/r: region references"):
            io.write_builder(root)


def test_hdmf_zarr_parameters_accepted_or_refused(tmp_path):
    with ZarrIO(tmp_path / "a.zarr", "w", synchronizer=None, object_codec_class=None) as io:
        assert io.synchronizer is None and io.object_codec_class is None
    with pytest.raises(UnsupportedOptionError, match="never pickles"):
        ZarrIO(tmp_path / "b.zarr", "w", object_codec_class=object)
    with pytest.raises(UnsupportedOptionError, match="synchronizers"):
        ZarrIO(tmp_path / "c.zarr", "w", synchronizer=object())
    assert not (tmp_path / "b.zarr").exists() and not (tmp_path / "c.zarr").exists()


def test_reference_to_another_file_is_refused(tmp_path):
    from hdmf.build import DatasetBuilder, GroupBuilder, ReferenceBuilder

    other_root = GroupBuilder("root", source=str(tmp_path / "other.nwb.zarr"))
    target = GroupBuilder("thing", source=str(tmp_path / "other.nwb.zarr"))
    other_root.set_group(target)
    root = GroupBuilder("root", attributes={"neurodata_type": "Thing"})
    root.set_dataset(DatasetBuilder("ref", data=ReferenceBuilder(target), dtype="object"))
    with ZarrIO(tmp_path / "r.zarr", "w") as io:
        with pytest.raises(UnsupportedDataError, match="/ref: refers to '/thing' in another file"):
            io.write_builder(root)
