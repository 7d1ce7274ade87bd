"""Paths found inside a file (links, reference-JSON targets) reach only what the access policy
allows, also after a symbolic link is swapped in, and never a source that changed size."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from zarr.core.sync import sync

import nwbzarr
import nwbzarr.cli
from nwbzarr.errors import SourceChangedError, UntrustedReferenceError
from nwbzarr.formats.kerchunk.references import load_references, save_references
from nwbzarr.storage.manifest import ByteRange, ReferenceSet
from nwbzarr.storage.policy import AccessPolicy
from nwbzarr.storage.ranges import open_range_reader

from .conftest import SECRET_TOKEN, assert_no_secret, marker_files

LEGACY_V2 = Path(__file__).resolve().parents[3] / "shared/data/hdmf_zarr_v2"
LEGACY_STORE = LEGACY_V2 / "1.5.1_timeseries_no_unit.nwb.zarr"


def _secret_nwb(directory: Path) -> Path:
    """An HDF5 NWB file outside the store's directory whose data holds the secret token."""
    from pynwb import NWBHDF5IO, TimeSeries
    from pynwb.testing.mock.file import mock_NWBFile

    directory.mkdir(parents=True, exist_ok=True)
    nwbfile = mock_NWBFile()
    data = np.frombuffer(SECRET_TOKEN.encode() * 8, dtype="u1")
    nwbfile.add_acquisition(TimeSeries(name="secret", data=data, unit="V", rate=1.0))
    path = directory / "private.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def _store_linking_to(store: Path, source: str, path: str = "/acquisition/secret/data") -> None:
    from pynwb import TimeSeries
    from pynwb.testing.mock.file import mock_NWBFile

    nwbfile = mock_NWBFile()
    nwbfile.add_acquisition(TimeSeries(name="ts", data=np.arange(4.0), unit="V", rate=1.0))
    with nwbzarr.NWBZarrIO(str(store), "w") as io:
        io.write(nwbfile)
    group = zarr.open_group(store / "acquisition/ts", mode="r+")
    group.attrs["_LINKS"] = [{"name": "stolen", "source": source, "path": path}]
    zarr.consolidate_metadata(str(store))


def test_links_source_outside_the_store_directory_is_refused(tmp_path):
    secret = _secret_nwb(tmp_path / "other")
    store = tmp_path / "work" / "sub" / "a.nwb.zarr"
    store.parent.mkdir(parents=True)
    source = os.path.relpath(secret, store)  # ../../../other/private.nwb
    _store_linking_to(store, source)
    with pytest.raises(UntrustedReferenceError) as info:
        with nwbzarr.NWBZarrIO(str(store), "r") as io:
            io.read()
    message = str(info.value)
    assert str(store) in message and "acquisition/ts" in message and source in message
    assert "NWBZARR_ALLOWED_ROOTS" in message
    # convert copies nothing of it
    out = tmp_path / "work" / "out.nwb"
    result = CliRunner().invoke(nwbzarr.cli.main, ["convert", str(store), str(out)])
    assert result.exit_code != 0 and "NWBZARR_ALLOWED_ROOTS" in result.output
    assert_no_secret(result.output, out, tmp_path / "work")
    assert not marker_files(tmp_path / "work")


def test_links_allowed_root_and_sibling_are_followed(tmp_path, monkeypatch):
    secret = _secret_nwb(tmp_path / "other")
    store = tmp_path / "work" / "a.nwb.zarr"
    store.parent.mkdir()
    _store_linking_to(store, os.path.relpath(secret, store))
    monkeypatch.setenv("NWBZARR_ALLOWED_ROOTS", str(tmp_path / "other"))
    with nwbzarr.NWBZarrIO(str(store), "r") as io:
        link = io.read_builder()["acquisition"]["ts"].links["stolen"]
        assert link.builder.name == "data"  # followed: the root is allowed


def test_legacy_zarr_link_outside_is_refused(tmp_path):
    if not LEGACY_STORE.is_dir():
        pytest.skip("legacy v2 fixtures not found")
    secret = _secret_nwb(tmp_path / "other")
    store = tmp_path / "work" / "legacy.nwb.zarr"
    shutil.copytree(LEGACY_STORE, store)
    for f in store.rglob("*"):
        os.chmod(f, 0o755 if f.is_dir() else 0o644)
    os.chmod(store, 0o755)
    attrs_path = store / "acquisition" / ".zattrs"
    attrs = json.loads(attrs_path.read_text()) if attrs_path.exists() else {}
    attrs["zarr_link"] = [
        {"name": "stolen", "source": os.path.relpath(secret, store), "path": "/acquisition"}
    ]
    attrs_path.write_text(json.dumps(attrs))
    consolidated = store / ".zmetadata"
    if consolidated.exists():
        doc = json.loads(consolidated.read_text())
        doc["metadata"]["acquisition/.zattrs"] = attrs
        consolidated.write_text(json.dumps(doc))
    with pytest.raises(UntrustedReferenceError, match="link"):
        with nwbzarr.NWBZarrIO(str(store), "r") as io:
            io.read()


def _json_with_one_range(directory: Path, name: str = "data.bin", record: bool = True) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(b"ok" * 512)
    refset = ReferenceSet(
        refs={"zarr.json": b"{}", "a/c/0": ByteRange(str(directory / name), 0, 64)},
        zarr_format=3,
        dialect="nwbzarr",
    )
    out = directory / "refs.json"
    save_references(refset, out)
    if not record:
        doc = json.loads(out.read_text())
        doc["nwbzarr"].pop("sources", None)
        out.write_text(json.dumps(doc))
    return out


def test_symlink_swapped_in_after_the_check_is_not_read(tmp_path, secret_file):
    refs_path = _json_with_one_range(tmp_path / "d")
    refset = load_references(refs_path)  # checked here: data.bin is under the JSON's dir
    target = tmp_path / "d" / "data.bin"
    target.unlink()
    target.symlink_to(secret_file)
    with open_range_reader(cache=False) as reader:
        with pytest.raises(UntrustedReferenceError) as info:
            sync(reader.read(refset.refs["a/c/0"]))
    assert "replaced after its access check" in str(info.value)
    assert_no_secret(str(info.value))


def test_symlink_to_secret_at_load_is_refused(tmp_path, secret_file):
    refs_path = _json_with_one_range(tmp_path / "d")
    target = tmp_path / "d" / "data.bin"
    target.unlink()
    target.symlink_to(secret_file)
    with pytest.raises(UntrustedReferenceError, match="outside the allowed local roots"):
        load_references(refs_path)


def test_source_size_recorded_and_checked(tmp_path):
    refs_path = _json_with_one_range(tmp_path / "d")
    doc = json.loads(refs_path.read_text())
    assert doc["nwbzarr"]["sources"]["u0"]["size"] == 1024
    refset = load_references(refs_path)
    with open(tmp_path / "d" / "data.bin", "ab") as f:  # same file, grown after the load
        f.write(b"more")
    with open_range_reader(cache=False) as reader:
        with pytest.raises(SourceChangedError, match="re-index|Re-index"):
            sync(reader.read(refset.refs["a/c/0"]))
    refset = load_references(refs_path)  # loads (no read yet); the first read refuses
    with open_range_reader(cache=False) as reader:
        with pytest.raises(SourceChangedError, match="1028 bytes"):
            sync(reader.read(refset.refs["a/c/0"]))


def test_json_without_record_still_reads(tmp_path):
    refs_path = _json_with_one_range(tmp_path / "d", record=False)
    with open(tmp_path / "d" / "data.bin", "ab") as f:
        f.write(b"more")
    refset = load_references(refs_path)
    with open_range_reader(cache=False) as reader:
        assert sync(reader.read(refset.refs["a/c/0"])) == b"ok" * 32


def test_lindi_external_array_link_outside_is_refused(tmp_path, secret_file):
    refs = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": {},
        "x/.zarray": {
            "chunks": [4],
            "compressor": None,
            "dtype": "<i4",
            "fill_value": 0,
            "filters": None,
            "order": "C",
            "shape": [4],
            "zarr_format": 2,
        },
        "x/.zattrs": {
            "_EXTERNAL_ARRAY_LINK": {
                "link_type": "hdf5_dataset",
                "url": os.path.relpath(secret_file, tmp_path),
                "name": "x",
            }
        },
    }
    path = tmp_path / "f.lindi.json"
    path.write_text(json.dumps({"version": 1, "refs": refs}))
    from nwbzarr.virtual.sources import open_virtual_store

    store = open_virtual_store(str(path))
    with pytest.raises(UntrustedReferenceError):
        arr = zarr.open_array(store, path="x", mode="r")
        arr[:]


def test_policy_field_allows_private_hosts():
    assert AccessPolicy(allow_private_hosts=True).private_hosts_allowed()
    assert not AccessPolicy(allow_private_hosts=False).private_hosts_allowed()


def test_hdf5_external_link_outside_is_refused(tmp_path):
    import h5py
    from pynwb import NWBHDF5IO
    from pynwb.testing.mock.file import mock_NWBFile

    secret = _secret_nwb(tmp_path / "other")
    work = tmp_path / "work"
    work.mkdir()
    linking = work / "a.nwb"
    with NWBHDF5IO(str(linking), "w") as io:
        io.write(mock_NWBFile())
    with h5py.File(linking, "a") as f:
        f["acquisition"]["stolen"] = h5py.ExternalLink(
            os.path.relpath(secret, work), "/acquisition/secret"
        )
    with pytest.raises(UntrustedReferenceError, match="private.nwb"):
        with nwbzarr.NWBZarrIO(str(linking), "r") as io:
            io.read()
    out = work / "out.nwb.zarr"
    result = CliRunner().invoke(nwbzarr.cli.main, ["convert", str(linking), str(out)])
    assert_no_secret(result.output, out)


def test_check_link_rules(tmp_path, secret_file):
    policy = AccessPolicy()
    store = "http://127.0.0.1:1/d/a.nwb.zarr"
    assert policy.check_link("s", store, "http://127.0.0.1:1/d", "/x", "../b.nwb.zarr") == (
        "http://127.0.0.1:1/d/b.nwb.zarr"
    )
    for source in ("../../admin", "http://169.254.169.254/x", "http://127.0.0.2:8/x"):
        with pytest.raises(UntrustedReferenceError, match="link /x"):
            policy.check_link("s", store, "http://127.0.0.1:1/d", "/x", source)
    local = str(tmp_path / "a.nwb.zarr")
    with pytest.raises(UntrustedReferenceError, match="outside the allowed local roots"):
        policy.check_link("s", local, str(tmp_path), "/x", str(secret_file))  # absolute
    allowed = AccessPolicy(allow_local=[secret_file.parent])
    assert allowed.check_link("s", local, str(tmp_path), "/x", str(secret_file)) == str(secret_file)
