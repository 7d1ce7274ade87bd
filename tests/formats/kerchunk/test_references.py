"""Reference JSON: LINDI and kerchunk files read, ours written and read back, AccessPolicy."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import fsspec
import h5py
import pytest
from conftest import NWB_DIR, SHARED_DATA, shared

from nwbzarr.errors import ReferenceFileError, StoreNotFoundError, UntrustedReferenceError
from nwbzarr.formats.kerchunk.references import (
    AccessPolicy,
    load_references,
    parse_references,
    save_references,
)
from nwbzarr.storage.manifest import ByteRange, ReferenceSet

LINDI_DIR = SHARED_DATA / "lindi"
LINDI_FILES = sorted(LINDI_DIR.glob("*.lindi.json")) if LINDI_DIR.is_dir() else []
ECEPHYS_LINDI = "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb.lindi.json"
ALLOW_NWB = AccessPolicy(allow_local=[NWB_DIR], use_env=False)


@pytest.fixture(autouse=True)
def _no_env_roots(monkeypatch):
    monkeypatch.delenv("NWBZARR_ALLOWED_ROOTS", raising=False)


def lindi_copy(tmp_path: Path, name: str) -> Path:
    """Copy a LINDI JSON into tmp_path and symlink its .nwb next to it."""
    src = shared("lindi", name)
    dst = tmp_path / name
    shutil.copy(src, dst)
    nwb = name.removesuffix(".lindi.json")
    (tmp_path / nwb).symlink_to(NWB_DIR / nwb)
    return dst


def expected_value(value, base: Path):
    """What a LINDI/kerchunk JSON value must become, computed independently of refs.py."""
    if isinstance(value, dict):
        return value  # compared after json.loads
    if isinstance(value, str):
        return base64.b64decode(value[7:]) if value.startswith("base64:") else value.encode()
    return ByteRange(str(base / value[0]), value[1], value[2])


# ------------------------------------------------------------------------------ LINDI


@pytest.mark.parametrize("path", LINDI_FILES, ids=lambda p: p.name)
def test_lindi_files_every_value(tmp_path, path):
    copy = lindi_copy(tmp_path, path.name)
    refset = load_references(copy, policy=ALLOW_NWB)
    document = json.loads(path.read_text())
    assert refset.zarr_format == 2
    assert refset.dialect == "lindi"
    assert refset.location == str(copy)
    assert list(refset.refs) == list(document["refs"])
    for key, value in document["refs"].items():
        got = refset.refs[key]
        if isinstance(value, dict):
            assert json.loads(got) == value, key
        else:
            assert got == expected_value(value, tmp_path), key
    ranges = [v for v in refset.refs.values() if isinstance(v, ByteRange)]
    assert refset.sources == tuple(dict.fromkeys(r.url for r in ranges))


def test_lindi_chunk_matches_hdf5_layout(tmp_path):
    copy = lindi_copy(tmp_path, ECEPHYS_LINDI)
    refset = load_references(copy, policy=ALLOW_NWB)
    ref = refset.refs["units/spike_times/0"]
    nwb = tmp_path / ECEPHYS_LINDI.removesuffix(".lindi.json")
    with h5py.File(nwb, "r") as f:
        dset = f["units/spike_times"]
        assert (ref.offset, ref.length) == (dset.id.get_offset(), dset.id.get_storage_size())
    zarray = json.loads(refset.refs["units/spike_times/.zarray"])
    assert zarray["shape"] == [ref.length // 8] and zarray["dtype"] == "<f8"


def test_lindi_without_version_and_with_generation_metadata(tmp_path):
    copy = lindi_copy(tmp_path, ECEPHYS_LINDI)
    document = json.loads(copy.read_text())
    with_version = parse_references(document, str(copy), ALLOW_NWB)
    no_version = {"refs": document["refs"], "generationMetadata": {"generatedBy": "x"}}
    other_name = str(tmp_path / "renamed.json")
    without = parse_references(no_version, other_name, ALLOW_NWB)
    assert without.dialect == "lindi" and without.zarr_format == 2
    assert without.refs == with_version.refs


def test_lindi_symlink_out_of_directory_is_refused(tmp_path):
    copy = lindi_copy(tmp_path, ECEPHYS_LINDI)
    with pytest.raises(UntrustedReferenceError) as info:
        load_references(copy)
    message = str(info.value)
    assert "units/spike_times/0" in message and "AccessPolicy(allow_local=" in message
    assert str(NWB_DIR) in message and "NWBZARR_ALLOWED_ROOTS" in message


# ------------------------------------------------------------------------------ kerchunk


def test_kerchunk_v0(tmp_path):
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)))
    doc = {
        ".zgroup": '{"zarr_format": 2}',
        "x/.zarray": {"shape": [4], "chunks": [2], "dtype": "|u1"},
        "x/0": [str(data), 10, 2],
        "x/1": "base64:" + base64.b64encode(b"\x00\x01").decode(),
        "whole": ["data.bin"],
    }
    refset = parse_references(doc, str(tmp_path / "v0.json"))
    assert refset.dialect == "kerchunk" and refset.zarr_format == 2
    assert refset.refs[".zgroup"] == b'{"zarr_format": 2}'
    assert json.loads(refset.refs["x/.zarray"]) == doc["x/.zarray"]
    assert refset.refs["x/0"] == ByteRange(str(data), 10, 2)
    assert refset.refs["x/1"] == b"\x00\x01"
    assert refset.refs["whole"] == ByteRange(str(data), 0, -1)
    assert refset.sources == (str(data),)


def test_kerchunk_v1_templates_and_gen():
    doc = {
        "version": 1,
        "templates": {"u": "https://example.org/data/file.nc", "v": "s3://bucket/other.nc"},
        "gen": [
            {
                "key": "x/{{i}}.{{j}}",
                "url": "{{u}}",
                "offset": "{{ 1000 + i * 100 + j * 10 }}",
                "length": "10",
                "dimensions": {"i": {"stop": 2}, "j": [0, 3]},
            },
            {
                "key": "y/{{n}}",
                "url": "{{v}}",
                "dimensions": {"n": {"start": 1, "stop": 6, "step": 2}},
            },
        ],
        "refs": {
            ".zgroup": '{"zarr_format":2}',
            "x/.zarray": "{}",
            "x/0.0": ["{{u}}", 1, 1],  # replaced by gen, as in kerchunk
            "z/0": ["{{ v }}", 5, 6],
        },
    }
    refset = parse_references(doc, None)
    url_u, url_v = doc["templates"]["u"], doc["templates"]["v"]
    assert refset.refs["z/0"] == ByteRange(url_v, 5, 6)
    for i in range(2):
        for j in (0, 3):
            assert refset.refs[f"x/{i}.{j}"] == ByteRange(url_u, 1000 + i * 100 + j * 10, 10)
    assert [k for k in refset.refs if k.startswith("y/")] == ["y/1", "y/3", "y/5"]
    assert refset.refs["y/3"] == ByteRange(url_v, 0, -1)
    assert len(refset.refs) == 4 + 4 - 1 + 3


def test_relative_and_absolute_urls(tmp_path):
    doc = {
        "version": 1,
        "refs": {
            "zarr.json": "{}",
            "a": ["../f.nwb", 0, 1],
            "b": ["https://other.org/g.nwb", 0, 1],
            "c": ["sub/h.nwb?x", 0, 1],
        },
    }
    remote = parse_references(doc, "https://host.org/dir/deep/refs.json?sig=abc")
    assert remote.refs["a"].url == "https://host.org/dir/f.nwb"
    assert remote.refs["b"].url == "https://other.org/g.nwb"
    assert remote.refs["c"].url == "https://host.org/dir/deep/sub/h.nwb?x"
    assert remote.dialect == "nwbzarr" and remote.zarr_format == 3
    doc["refs"]["a"] = ["sub/../f.nwb", 0, 1]
    local = parse_references(doc, str(tmp_path / "refs.json"))
    assert local.refs["a"].url == str(tmp_path / "f.nwb")
    with pytest.raises(ReferenceFileError, match="no location"):
        parse_references(doc, None)


# ------------------------------------------------------------------------------ policy


def _doc(target: str) -> dict:
    return {"version": 1, "refs": {"zarr.json": "{}", "g/c/0": [target, 0, 4]}}


def test_policy_schemes():
    with pytest.raises(UntrustedReferenceError, match=r"'g/c/0'.*'ftp'.*schemes"):
        parse_references(_doc("ftp://host/x.nwb"), None)
    allowed = parse_references(_doc("ftp://host/x.nwb"), None, AccessPolicy(schemes=("ftp",)))
    assert allowed.refs["g/c/0"] == ByteRange("ftp://host/x.nwb", 0, 4)
    with pytest.raises(UntrustedReferenceError):
        parse_references(_doc("https://h/x"), None, AccessPolicy(schemes=("s3",)))
    for url in ("http://h/x", "https://h/x", "s3://b/x", "gs://b/x", "HTTPS://h/x"):
        assert parse_references(_doc(url), None).refs["g/c/0"].url == url


def test_policy_remote_json_cannot_name_local_files(tmp_path):
    target = tmp_path / "x.nwb"
    target.write_bytes(b"data")
    for name in (str(target), "file://" + str(target)):
        with pytest.raises(UntrustedReferenceError, match="outside the allowed local roots"):
            parse_references(_doc(name), "https://host/refs.json")
    allowed = parse_references(
        _doc("file://" + str(target)),
        "https://host/refs.json",
        AccessPolicy(allow_local=[tmp_path]),
    )
    assert allowed.refs["g/c/0"] == ByteRange(str(target), 0, 4)


def test_policy_local_json(tmp_path, monkeypatch):
    home, other = tmp_path / "home", tmp_path / "other"
    home.mkdir(), other.mkdir()
    location = str(home / "refs.json")
    (home / "in.nwb").write_bytes(b"1234")
    (other / "out.nwb").write_bytes(b"1234")
    (home / "link.nwb").symlink_to(other / "out.nwb")
    assert parse_references(_doc("in.nwb"), location).refs["g/c/0"].url == str(home / "in.nwb")
    assert parse_references(_doc(str(home / "in.nwb")), location).sources == (str(home / "in.nwb"),)
    assert parse_references(_doc("https://h/x.nwb"), location).sources == ("https://h/x.nwb",)
    for bad in (str(other / "out.nwb"), "../other/out.nwb", "link.nwb", "/etc/hosts"):
        with pytest.raises(UntrustedReferenceError, match="g/c/0"):
            parse_references(_doc(bad), location)
    ok = parse_references(_doc("link.nwb"), location, AccessPolicy(allow_local=[str(other)]))
    assert ok.refs["g/c/0"].url == str(home / "link.nwb")  # the path as written, checked resolved
    monkeypatch.setenv("NWBZARR_ALLOWED_ROOTS", os.pathsep.join(["/nonexistent", str(other)]))
    assert parse_references(_doc("../other/out.nwb"), location).sources == (str(other / "out.nwb"),)
    with pytest.raises(UntrustedReferenceError):
        parse_references(_doc("../other/out.nwb"), location, AccessPolicy(use_env=False))
    with pytest.raises(UntrustedReferenceError):  # an in-memory set has no own directory
        parse_references(_doc(str(home / "in.nwb")), None, AccessPolicy(use_env=False))


# ------------------------------------------------------------------------------ malformed


@pytest.mark.parametrize(
    "doc, match",
    [
        ([1, 2], "expected a JSON object"),
        ({"version": 2, "refs": {}}, "unknown reference file version 2"),
        ({"version": 1, "refs": []}, "'refs' must be"),
        ({"version": 1, "refs": {}, "templates": {"u": 1}}, "'templates'"),
        ({"version": 1, "refs": {}, "gen": {}}, "'gen' must be a list"),
        ({"version": 1, "refs": {"a/.zgroup": 3}}, "'a/.zgroup' has an invalid value"),
        ({"version": 1, "refs": {"k": ["https://h/x", -1, 5]}}, "'k' has an invalid value"),
        ({"version": 1, "refs": {"k": ["https://h/x", "0", 5]}}, "'k' has an invalid value"),
        ({"version": 1, "refs": {"k": ["https://h/x", 0, True]}}, "'k' has an invalid value"),
        ({"version": 1, "refs": {"k": ["https://h/x", 0, 1, 2]}}, "'k' has an invalid value"),
        ({"version": 1, "refs": {"k": [None, 0, 1]}}, "'k' has target None"),
        ({"version": 1, "refs": {"k": "base64:!!!"}}, "'k' holds invalid base64"),
        ({"version": 1, "refs": {"k": ["{{nope}}", 0, 1]}}, "'k' uses the undefined template"),
        ({"version": 1, "refs": {"": "x"}}, "empty key"),
        ({"version": 1, "refs": {"data/0": "x"}}, "holds no Zarr metadata"),
        ({"version": 1, "refs": {}, "gen": [{"key": "k"}]}, r"gen\[0\] is malformed"),
        (
            {
                "version": 1,
                "refs": {},
                "gen": [{"key": "k", "url": "u", "offset": "1", "dimensions": {}}],
            },
            "both 'offset' and 'length'",
        ),
        (
            {
                "version": 1,
                "refs": {},
                "gen": [
                    {
                        "key": "{{i}}",
                        "url": "u",
                        "offset": "{{i+}}",
                        "length": "1",
                        "dimensions": {"i": [1]},
                    }
                ],
            },
            r"gen\[0\] is malformed",
        ),
        ({"nwbzarr": {"format_version": 99}, "version": 1, "refs": {}}, "newer nwbzarr"),
        ({"nwbzarr": {"format_version": "1"}, "version": 1, "refs": {}}, "invalid nwbzarr"),
    ],
)
def test_malformed_documents(doc, match):
    with pytest.raises(ReferenceFileError, match=match) as info:
        parse_references(doc, "https://host/refs.json")
    assert "https://host/refs.json" in str(info.value)


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 1, "refs": {')
    with pytest.raises(ReferenceFileError, match=f"{bad}: not a valid JSON file"):
        load_references(bad)
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(ReferenceFileError, match="not a valid JSON file"):
        load_references(bad)
    with pytest.raises(StoreNotFoundError, match="missing.json"):
        load_references(tmp_path / "missing.json")
    with pytest.raises(ReferenceFileError, match="is a directory"):
        load_references(tmp_path)


def test_remote_json_through_fsspec(tmp_path):
    fs = fsspec.filesystem("memory")
    doc = {"version": 1, "refs": {"zarr.json": "{}", "a/c/0": ["data.nwb", 3, 4]}}
    fs.pipe("/refs_test/r.json", json.dumps(doc).encode())
    try:
        refset = load_references(
            "memory://refs_test/r.json", policy=AccessPolicy(schemes=("memory",))
        )
        assert refset.refs["a/c/0"] == ByteRange("memory://refs_test/data.nwb", 3, 4)
        with pytest.raises(UntrustedReferenceError, match="'memory'"):
            load_references("memory://refs_test/r.json")
        with pytest.raises(StoreNotFoundError):
            load_references("memory://refs_test/none.json")
    finally:
        fs.rm("/refs_test", recursive=True)


# ------------------------------------------------------------------------------ writing


def _sample_refset(source: Path) -> ReferenceSet:
    meta = {"zarr_format": 3, "node_type": "group", "attributes": {"é": "ü"}}
    return ReferenceSet(
        refs={
            "zarr.json": json.dumps(meta, ensure_ascii=False).encode(),
            "g/zarr.json": b'{"zarr_format": 3, "node_type": "array"}',
            "g/c/0": ByteRange(str(source), 0, 8),
            "g/c/1": ByteRange(str(source), 8, 8),
            "g/c/2": b"\x00\xff\x10binary",
            "g/c/3": b"plain text\nline 2",
            "g/c/4": b"base64:looks encoded",
            "g/c/5": b"",
            "h/c/0": ByteRange("https://example.org/a%20b.nwb?x=1", 100, 50),
            "h/c/1": ByteRange(str(source), 0, -1),
        },
        zarr_format=3,
        dialect="hdf5",
    )


def test_save_load_round_trip(tmp_path):
    (tmp_path / "data").mkdir()
    source = tmp_path / "data" / "src.nwb"
    source.write_bytes(bytes(range(16)))
    refset = _sample_refset(source)
    out = tmp_path / "refs.json"
    save_references(refset, out)
    assert sorted(os.listdir(tmp_path)) == ["data", "refs.json"]  # no temporary file left
    document = json.loads(out.read_text())
    assert document["version"] == 1
    assert document["nwbzarr"]["format_version"] == 1 and document["nwbzarr"]["zarr_format"] == 3
    assert document["nwbzarr"]["generator"].startswith("nwbzarr ")
    # local sources: absolute for fsspec's reference filesystem (which resolves against the
    # working directory), relative to the JSON in the "nwbzarr" block for our reader
    assert document["templates"] == {
        "u0": str(tmp_path / "data" / "src.nwb"),
        "u1": "https://example.org/a%20b.nwb?x=1",
    }
    assert document["nwbzarr"]["relative"] == {"u0": "data/src.nwb"}
    assert document["refs"]["g/c/0"] == ["{{u0}}", 0, 8]
    assert document["refs"]["h/c/1"] == ["{{u0}}"]
    assert document["refs"]["zarr.json"] == refset.refs["zarr.json"].decode()
    assert document["refs"]["g/c/3"] == "plain text\nline 2"
    assert document["refs"]["g/c/2"].startswith("base64:")
    assert document["refs"]["g/c/4"].startswith("base64:")
    loaded = load_references(out)
    assert loaded.refs == refset.refs
    assert (loaded.zarr_format, loaded.dialect) == (3, "hdf5")
    assert loaded.sources == (str(source), "https://example.org/a%20b.nwb?x=1")
    # the JSON and its data move together
    moved = tmp_path / "moved"
    shutil.copytree(tmp_path / "data", moved / "data")
    shutil.copy(out, moved / "refs.json")
    again = load_references(moved / "refs.json")
    assert again.refs["g/c/0"] == ByteRange(str(moved / "data" / "src.nwb"), 0, 8)


def test_save_with_url_and_absolute_sources(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = elsewhere / "src.nwb"
    source.write_bytes(bytes(range(16)))
    (tmp_path / "out").mkdir()
    refset = _sample_refset(source)
    out = tmp_path / "out" / "refs.json"
    save_references(refset, out)
    assert json.loads(out.read_text())["templates"]["u0"] == str(source)
    save_references(refset, out, url={str(source): "s3://bucket/src.nwb"})
    loaded = load_references(out)
    assert loaded.refs["g/c/1"] == ByteRange("s3://bucket/src.nwb", 8, 8)
    with pytest.raises(ReferenceFileError, match="ambiguous"):
        save_references(refset, out, url="https://h/x.nwb")
    single = ReferenceSet({"zarr.json": b"{}", "c/0": ByteRange(str(source), 2, 3)})
    save_references(single, out, url="https://h/x.nwb")
    assert load_references(out).refs["c/0"] == ByteRange("https://h/x.nwb", 2, 3)


def test_save_refuses_offset_to_end_and_leaves_no_file(tmp_path):
    bad = ReferenceSet({"zarr.json": b"{}", "c/0": ByteRange("https://h/x", 5, -1)})
    with pytest.raises(ReferenceFileError, match="'c/0'"):
        save_references(bad, tmp_path / "bad.json")
    assert os.listdir(tmp_path) == []


def test_fsspec_reference_filesystem_reads_our_json(tmp_path):
    source = tmp_path / "src.nwb"
    source.write_bytes(bytes(range(16)))
    refset = _sample_refset(source)
    out = tmp_path / "refs.json"
    save_references(refset, out, url={str(source): str(source)})  # fsspec needs absolute paths
    del refset.refs["h/c/0"]  # remote, not reachable here
    fs = fsspec.filesystem("reference", fo=str(out))
    for key, value in refset.refs.items():
        expected = (
            source.read_bytes()[value.offset :][: value.length]
            if isinstance(value, ByteRange)
            else value
        )
        if isinstance(value, ByteRange) and value.length == -1:
            expected = source.read_bytes()
        assert fs.cat(key) == expected, key
