"""Tests for nwbzarr.summary.tree (storage-level store summary)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import SHARED_DATA

import nwbzarr.summary.tree
from nwbzarr.errors import NotAZarrStoreError, StoreNotFoundError
from nwbzarr.summary.text import format_bytes, format_summary
from nwbzarr.summary.tree import NodeInfo, StoreSummary, summarize

LEGACY_V2 = SHARED_DATA / "hdmf_zarr_v2" / "1.5.1_timeseries_no_unit.nwb.zarr"


def _disk_totals(root: Path) -> tuple[int, int]:
    """(number of regular files, total bytes) under root, counted independently."""
    n = size = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            if os.path.isfile(full):
                n += 1
                size += os.path.getsize(full)
    return n, size


@pytest.fixture
def v3_store(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A small v3 store: nested groups with neurodata_type, plain/sharded/string/0-d arrays."""
    path = tmp_path / "example.nwb.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=3)
    root.attrs["neurodata_type"] = "NWBFile"
    acq = root.create_group("acquisition")
    series = acq.create_group("ElectricalSeries")
    series.attrs["neurodata_type"] = "ElectricalSeries"
    series.attrs["namespace"] = "core"

    small = np.arange(12, dtype="int16").reshape(3, 4)
    a = series.create_array("small", shape=small.shape, dtype=small.dtype, chunks=(2, 4))
    a[:] = small

    sharded = (np.arange(2500 * 4, dtype="int32") % 7).reshape(2500, 4)
    b = series.create_array(
        "data",
        shape=sharded.shape,
        dtype=sharded.dtype,
        chunks=(100, 4),
        shards=(1000, 4),
        compressors=zarr.codecs.BloscCodec(),
    )
    b[:] = sharded

    names = root.create_array("names", shape=(3,), dtype=str)
    names[:] = np.array(["a", "bb", "ccc"])

    scalar = np.array(2.5, dtype="float64")
    c = root.create_array("rate", shape=(), dtype="float64")
    c[...] = scalar

    numeric = {
        "acquisition/ElectricalSeries/small": small,
        "acquisition/ElectricalSeries/data": sharded,
        "rate": scalar,
    }
    return path, numeric


def _by_path(summary: StoreSummary) -> dict[str, NodeInfo]:
    return {node.path: node for node in summary.nodes}


def test_summarize_v3_counts_and_totals(v3_store):
    path, numeric = v3_store
    summary = summarize(path)

    assert isinstance(summary, StoreSummary)
    assert summary.path == os.path.abspath(path)
    assert summary.zarr_format == 3
    assert summary.n_groups == 3  # root, acquisition, ElectricalSeries
    assert summary.n_arrays == 4
    assert len(summary.nodes) == summary.n_groups + summary.n_arrays

    n_files, n_bytes = _disk_totals(path)
    assert summary.n_files == n_files
    assert summary.stored_bytes == n_bytes
    assert summary.stored_bytes > 0
    # variable-length strings count 0, so raw_bytes is the numeric arrays only
    assert summary.raw_bytes == sum(arr.nbytes for arr in numeric.values())
    assert summary.compression_ratio == pytest.approx(summary.raw_bytes / summary.stored_bytes)


def test_summarize_v3_nodes(v3_store):
    path, numeric = v3_store
    summary = summarize(path)
    nodes = _by_path(summary)

    assert set(nodes) == {
        "",
        "acquisition",
        "acquisition/ElectricalSeries",
        "acquisition/ElectricalSeries/small",
        "acquisition/ElectricalSeries/data",
        "names",
        "rate",
    }
    # root first, parents before their members
    assert summary.nodes[0].path == ""
    seen: set[str] = set()
    for node in summary.nodes:
        if node.path:
            assert node.path.rpartition("/")[0] in seen
        seen.add(node.path)

    assert nodes[""].kind == "group" and nodes[""].neurodata_type == "NWBFile"
    assert nodes["acquisition"].neurodata_type is None
    series = nodes["acquisition/ElectricalSeries"]
    assert series.kind == "group"
    assert series.neurodata_type == "ElectricalSeries"
    assert series.shape is None and series.dtype is None and series.codecs == []

    small = nodes["acquisition/ElectricalSeries/small"]
    assert small.kind == "array"
    assert small.shape == (3, 4)
    assert small.dtype == "int16"
    assert small.chunks == (2, 4)
    assert small.shards is None
    assert "sharding_indexed" not in small.codecs
    assert small.codecs[0] == "bytes"
    assert small.raw_bytes == numeric["acquisition/ElectricalSeries/small"].nbytes

    data = nodes["acquisition/ElectricalSeries/data"]
    assert data.shape == (2500, 4)
    assert data.dtype == "int32"
    assert data.chunks == (100, 4)
    assert data.shards == (1000, 4)
    assert "blosc" in data.codecs
    assert "sharding_indexed" in data.codecs
    assert "bytes" in data.codecs
    assert data.raw_bytes == numeric["acquisition/ElectricalSeries/data"].nbytes
    _, data_disk = _disk_totals(path / "acquisition" / "ElectricalSeries" / "data")
    assert data.stored_bytes == data_disk > 0
    assert data.stored_bytes < data.raw_bytes  # repetitive data compresses

    names = nodes["names"]
    assert names.kind == "array"
    assert names.shape == (3,)
    assert names.dtype == "string"
    assert names.raw_bytes == 0  # variable-length: documented as 0
    assert "vlen-utf8" in names.codecs
    assert names.stored_bytes > 0

    rate = nodes["rate"]
    assert rate.shape == ()
    assert rate.chunks == ()
    assert rate.dtype == "float64"
    assert rate.raw_bytes == 8
    assert isinstance(rate.raw_bytes, int)

    # group sizes cover their subtree
    _, series_disk = _disk_totals(path / "acquisition" / "ElectricalSeries")
    assert series.stored_bytes == series_disk
    assert series.raw_bytes == small.raw_bytes + data.raw_bytes
    assert nodes[""].stored_bytes == summary.stored_bytes
    assert all(node.note is None for node in summary.nodes)


def test_summarize_consolidated_v3(v3_store):
    path, _ = v3_store
    with warnings.catch_warnings():  # "Consolidated metadata is currently not part ..."
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(path)
    summary = summarize(path)
    assert summary.consolidated is True
    assert summary.n_arrays == 4
    assert _by_path(summary)["acquisition/ElectricalSeries/data"].shards == (1000, 4)


def test_summarize_accepts_str_and_is_read_only(v3_store):
    path, _ = v3_store
    before = sorted((p, p.stat().st_mtime_ns) for p in path.rglob("*"))
    summary = summarize(str(path))
    assert summary.n_arrays == 4
    assert sorted((p, p.stat().st_mtime_ns) for p in path.rglob("*")) == before


def test_format_summary(v3_store):
    path, _ = v3_store
    summary = summarize(path)
    text = format_summary(summary)

    for name in ("acquisition", "ElectricalSeries", "small", "data", "names", "rate"):
        assert name in text
    assert "[ElectricalSeries]" in text
    assert "[NWBFile]" in text
    assert "chunks=(100, 4)" in text
    assert "shards=(1000, 4)" in text
    assert "blosc" in text
    assert "(2500, 4)" in text

    lines = text.splitlines()
    series_line = next(line for line in lines if "[ElectricalSeries]" in line)
    data_line = next(line for line in lines if line.lstrip().startswith("data "))
    indent = len(series_line) - len(series_line.lstrip())
    assert len(data_line) - len(data_line.lstrip()) == indent + 2
    assert "shards=" not in next(line for line in lines if line.lstrip().startswith("small "))

    assert "groups: 3" in text
    assert "arrays: 4" in text
    assert f"files on disk: {summary.n_files}" in text
    assert format_bytes(summary.stored_bytes) in text
    assert format_bytes(summary.raw_bytes) in text
    assert "compression ratio" in text


def test_format_summary_max_depth(v3_store):
    path, _ = v3_store
    summary = summarize(path)
    text = format_summary(summary, max_depth=1)
    assert "acquisition" in text
    assert "ElectricalSeries" not in text
    assert "small" not in text
    assert "3 node(s) deeper" in text
    assert "arrays: 4" in text  # footer still covers the whole store
    with pytest.raises(ValueError):
        format_summary(summary, max_depth=-1)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (12_300_000, "12.3 MB"), (4.1e9, "4.1 GB")],
)
def test_format_bytes(n, expected):
    assert format_bytes(n) == expected


def test_missing_path(tmp_path: Path):
    missing = tmp_path / "nope.zarr"
    with pytest.raises(StoreNotFoundError, match="nope.zarr"):
        summarize(missing)
    with pytest.raises(FileNotFoundError):  # StoreNotFoundError is a FileNotFoundError
        summarize(missing)
    assert not missing.exists()


def test_plain_directory(tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "readme.txt").write_text("not zarr")
    with pytest.raises(NotAZarrStoreError, match="plain"):
        summarize(plain)
    assert sorted(p.name for p in plain.iterdir()) == ["readme.txt"]  # nothing written


def test_regular_file(tmp_path: Path):
    file = tmp_path / "data.nwb"
    file.write_bytes(b"\x89HDF\r\n\x1a\n")  # an HDF5 signature and nothing else
    from nwbzarr.errors import HDF5IndexError

    with pytest.raises(HDF5IndexError, match="data.nwb.*truncated"):
        summarize(file)


def test_array_root_is_not_a_group(tmp_path: Path):
    path = tmp_path / "array.zarr"
    zarr.create_array(path, shape=(4,), dtype="int8")
    with pytest.raises(NotAZarrStoreError, match="array.zarr"):
        summarize(path)


def test_v2_written_by_zarr_python(tmp_path: Path):
    path = tmp_path / "v2.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    root.attrs["neurodata_type"] = "NWBFile"
    x = root.create_array("x", shape=(10,), dtype="float32", chunks=(5,))
    x[:] = 1.0
    summary = summarize(path)
    assert summary.zarr_format == 2
    node = _by_path(summary)["x"]
    assert node.kind == "array"
    assert node.shape == (10,) and node.chunks == (5,) and node.shards is None
    assert node.dtype == "float32"
    assert node.raw_bytes == 40
    assert summary.n_files == _disk_totals(path)[0]


def test_unparsable_array_metadata_falls_back_to_json(tmp_path: Path):
    """hdmf-zarr writes vlen-bytes arrays with fill_value 0, which zarr-python rejects."""
    path = tmp_path / "legacy.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=2)
    good = root.create_array("good", shape=(4,), dtype="int64", chunks=(4,))
    good[:] = 1
    bad = path / "bad"
    bad.mkdir()
    meta = {
        "chunks": [1],
        "compressor": {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1, "blocksize": 0},
        "dtype": "|O",
        "fill_value": 0,
        "filters": [{"id": "vlen-bytes"}],
        "order": "C",
        "shape": [1],
        "zarr_format": 2,
    }
    (bad / ".zarray").write_text(json.dumps(meta))
    (bad / ".zattrs").write_text(json.dumps({"neurodata_type": "Text"}))

    summary = summarize(path)
    nodes = _by_path(summary)
    assert nodes["good"].note is None
    node = nodes["bad"]
    assert node.kind == "array"
    assert node.note is not None
    assert node.shape == (1,)
    assert node.codecs == ["vlen-bytes", "blosc"]
    assert node.dtype == "object"
    assert node.neurodata_type == "Text"
    assert node.raw_bytes == 0
    assert summary.raw_bytes == 32
    assert "(!)" in format_summary(summary)


@pytest.mark.skipif(not LEGACY_V2.is_dir(), reason=f"{LEGACY_V2} not available")
def test_legacy_hdmf_zarr_v2_store(tmp_path: Path):
    # Work on a copy so that nothing can ever be written into the shared read-only store.
    path = tmp_path / LEGACY_V2.name
    shutil.copytree(LEGACY_V2, path)
    summary = summarize(path)

    assert summary.zarr_format == 2
    nodes = _by_path(summary)
    assert nodes["acquisition/test_timeseries/data"].kind == "array"
    assert nodes["acquisition/test_timeseries/data"].dtype == "int64"
    assert nodes["acquisition/test_timeseries"].neurodata_type == "TimeSeries"
    assert nodes[""].neurodata_type == "NWBFile"
    assert summary.n_files == _disk_totals(path)[0]
    assert "test_timeseries  [TimeSeries]" in format_summary(summary)


@pytest.mark.skipif(not LEGACY_V2.is_dir(), reason=f"{LEGACY_V2} not available")
def test_legacy_hdmf_zarr_v2_store_in_place():
    summary = summarize(LEGACY_V2)
    assert summary.zarr_format == 2
    assert _by_path(summary)["acquisition/test_timeseries/data"].kind == "array"


def test_module_imports_only_zarr_numpy_stdlib():
    # The package __init__ imports the hdmf backend, so check the module's own imports.
    source = Path(nwbzarr.summary.tree.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"}
    assert third_party <= {"zarr", "numpy", "nwbzarr"}
    assert not {"hdmf", "pynwb", "h5py"} & imported


def test_info_accepts_hdf5_files_and_reference_json(tmp_path, ecephys_file):
    """`nwbzarr info` takes what read_nwb takes: an HDF5 .nwb and a reference JSON."""
    import shutil

    from click.testing import CliRunner

    import nwbzarr
    from nwbzarr.cli import main
    from nwbzarr.summary.tree import summarize

    ecephys_file = shutil.copy(ecephys_file, tmp_path / "ecephys.nwb")
    summary = summarize(ecephys_file)
    assert summary.n_arrays > 10 and summary.n_files == 1
    assert summary.stored_bytes > 0
    refs = tmp_path / "ecephys.nwb.json"
    nwbzarr.index_to_json(ecephys_file, refs)
    from_json = summarize(refs)
    assert from_json.n_arrays == summary.n_arrays
    result = CliRunner().invoke(main, ["info", str(ecephys_file)])
    assert result.exit_code == 0, result.output
    assert "ElectricalSeries" in result.output or "arrays:" in result.output
