"""LINDI 0.4 ``.lindi.tar`` and ``.lindi.d`` containers (nwbzarr.formats.lindi.container).

The containers are written here in LINDI's layout (``lindi/tar/lindi_tar.py`` of lindi 0.4.6:
``.tar_entry.json`` first, then ``.tar_index.json``, ``lindi.json`` and ``blobs/...`` members,
two zero blocks at the end) from reference JSON nwbzarr makes itself (and from the real LINDI
JSON of ../shared/data/lindi), with part of the chunks moved into blob members, so they never
depend on lindi. One test uses real lindi when the venv ``/tmp/venv-lindi`` (or
``$NWBZARR_LINDI_PYTHON``) holds it, and skips otherwise. Hostile containers (names escaping
with ``..``, truncation, overlapping or inconsistent members, bad headers) must be refused with
ReferenceFileError before anything outside the container is read.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ECEPHYS_FILE, SHARED_DATA, shared
from nwb_compare import assert_same_nwbfile
from pynwb import NWBHDF5IO

import nwbzarr
from nwbzarr.errors import ReferenceFileError, UntrustedReferenceError
from nwbzarr.formats.lindi.container import is_lindi_container, load_lindi_container
from nwbzarr.virtual import source_kind

LINDI_PYTHON = Path(os.environ.get("NWBZARR_LINDI_PYTHON", "/tmp/venv-lindi/bin/python"))
SHARED_LINDI = (
    SHARED_DATA / "lindi" / "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb.lindi.json"
)

pytestmark = pytest.mark.usefixtures("quiet_warnings")


# -- writing LINDI's layout --------------------------------------------------------------------
def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def write_lindi_tar(path: Path, rfs: dict, blobs: dict[str, bytes], *, tamper=None) -> Path:
    """A .lindi.tar as LINDI writes it; ``tamper(index_files)`` may edit the index records."""
    rfs_json = json.dumps(rfs, indent=2, sort_keys=True).encode()
    rfs_json += b" " * (8192 - len(rfs_json) % 8192)  # LINDI pads lindi.json for growth
    entry_size, index_size = 1024, 64 * 1024
    files = [
        {"n": ".tar_entry.json", "o": 0, "d": 512, "s": entry_size},
        {"n": ".tar_index.json", "o": 1536, "d": 2048, "s": index_size},
    ]
    pos = 2048 + index_size
    body = []
    for name, data in [("lindi.json", rfs_json), *blobs.items()]:
        files.append({"n": name, "o": pos, "d": pos + 512, "s": len(data)})
        body.append(_header(name, len(data)) + _padded(data))
        pos += 512 + len(_padded(data))
    if tamper is not None:
        tamper(files)
    entry = json.dumps({"index": files[1]}, indent=2, sort_keys=True).encode()
    index = json.dumps({"files": files}, indent=2, sort_keys=True).encode()
    assert len(index) <= index_size
    with open(path, "wb") as f:
        f.write(_header(".tar_entry.json", entry_size) + entry.ljust(entry_size))
        f.write(_header(".tar_index.json", index_size) + index.ljust(index_size))
        f.write(b"".join(body))
        f.write(b"\0" * 1024)
    return path


def write_lindi_dir(path: Path, rfs: dict, blobs: dict[str, bytes]) -> Path:
    path.mkdir()
    (path / "lindi.json").write_text(json.dumps(rfs, indent=2, sort_keys=True))
    for name, data in blobs.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def _to_blobs(rfs: dict, root: Path, limit: int | None = None) -> dict[str, bytes]:
    """Move chunk values of ``rfs`` (inline, or ranges of files under ``root``) into blob
    members ``blobs/<key>``, referenced as ``["./blobs/<key>", 0, size]`` as LINDI does."""
    templates = rfs.get("templates", {})
    blobs: dict[str, bytes] = {}
    for key, value in list(rfs["refs"].items()):
        if key.rsplit("/", 1)[-1] in ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"):
            continue
        if isinstance(value, list) and len(value) == 3:
            url = value[0]
            for name, target in templates.items():
                url = url.replace("{{" + name + "}}", target)
            with open(root / url, "rb") as f:
                f.seek(value[1])
                data = f.read(value[2])
        elif isinstance(value, str) and not value.startswith("base64:"):
            data = value.encode()
        elif isinstance(value, str):
            import base64

            data = base64.b64decode(value[7:])
        else:
            continue
        blobs[f"blobs/{key}"] = data
        rfs["refs"][key] = [f"./blobs/{key}", 0, len(data)]
        if limit is not None and len(blobs) >= limit:
            break
    return blobs


@pytest.fixture
def sample(tmp_path) -> tuple[Path, dict, dict]:
    """(HDF5 copy, nwbzarr reference JSON of it with chunks moved to blobs, the blobs)."""
    src = tmp_path / "sample_ecephys.nwb"
    shutil.copy2(ECEPHYS_FILE, src)
    nwbzarr.index_to_json(src, tmp_path / "sample.nwb.json")
    rfs = json.loads((tmp_path / "sample.nwb.json").read_text())
    (tmp_path / "sample.nwb.json").unlink()
    blobs = _to_blobs(rfs, tmp_path)
    assert len(blobs) > 20 and any(v[0].startswith("./") for v in rfs["refs"].values())
    return src, rfs, blobs


def _assert_like_hdf5(container: Path | str) -> None:
    with NWBHDF5IO(str(ECEPHYS_FILE), "r", load_namespaces=True) as h5io:
        original = h5io.read()
        nwbfile = nwbzarr.read_nwb(container)
        try:
            assert_same_nwbfile(original, nwbfile, ECEPHYS_FILE)
        finally:
            nwbfile.get_read_io().close()
        with NWBHDF5IO(file=nwbzarr.h5py_view(container), mode="r") as io:
            assert_same_nwbfile(original, io.read(), ECEPHYS_FILE)


# -- reading ---------------------------------------------------------------------------------
def test_lindi_tar_reads_like_hdf5(sample, tmp_path):
    _, rfs, blobs = sample
    tar = write_lindi_tar(tmp_path / "sample.lindi.tar", rfs, blobs)
    assert tarfile.is_tarfile(tar)  # a real tar: Python's tarfile lists the same members
    with tarfile.open(tar) as t:
        assert t.getnames() == [".tar_entry.json", ".tar_index.json", "lindi.json", *blobs]
    assert is_lindi_container(tar) and source_kind(tar) == "references"
    refset = load_lindi_container(tar)
    assert refset.sources == (str(tar),) or str(tar) in refset.sources
    _assert_like_hdf5(tar)


def test_lindi_dir_reads_like_hdf5(sample, tmp_path):
    _, rfs, blobs = sample
    d = write_lindi_dir(tmp_path / "sample.lindi.d", rfs, blobs)
    assert is_lindi_container(d) and source_kind(d) == "references"
    _assert_like_hdf5(d)
    from click.testing import CliRunner

    from nwbzarr.cli import main

    info = CliRunner().invoke(main, ["info", str(d)])  # a directory, yet no Zarr store
    assert info.exit_code == 0, info.output
    assert "/  [NWBFile]" in info.output and "acquisition" in info.output


def test_shared_lindi_json_packed(tmp_path):
    """The real LINDI JSON (Zarr v2, LINDI annotations) in a tar and a directory, with its
    inline chunks as blob members."""
    ref = shared("lindi", SHARED_LINDI.name)
    src = tmp_path / SHARED_LINDI.name[: -len(".lindi.json")]
    shutil.copy(shared("nwb", src.name), src)  # its references are relative to the JSON
    rfs = json.loads(ref.read_text())
    blobs = _to_blobs(rfs, tmp_path, limit=40)
    for container in (
        write_lindi_tar(tmp_path / "e.lindi.tar", json.loads(json.dumps(rfs)), blobs),
        write_lindi_dir(tmp_path / "e.lindi.d", json.loads(json.dumps(rfs)), blobs),
    ):
        with NWBHDF5IO(str(src), "r", load_namespaces=True) as h5io:
            original = h5io.read()
            with NWBHDF5IO(file=nwbzarr.h5py_view(container), mode="r") as io:
                assert_same_nwbfile(original, io.read(), src)


def test_lindi_tar_over_http(sample, tmp_path):
    from http_server import RangeHTTPServer

    _, rfs, blobs = sample
    write_lindi_tar(tmp_path / "sample.lindi.tar", rfs, blobs)
    with RangeHTTPServer(tmp_path) as server:
        url = server.url("sample.lindi.tar")
        assert source_kind(url) == "references"
        _assert_like_hdf5(url)
        ranges = [r for r in server.log if r.path.endswith(".lindi.tar")]
        assert ranges and all(r.range for r in ranges)  # range requests, never the whole tar


@pytest.mark.skipif(not LINDI_PYTHON.exists(), reason=f"no lindi venv at {LINDI_PYTHON}")
def test_real_lindi_tar_and_dir(tmp_path):
    """Files written by lindi itself (0.4.x): the HDF5 file indexed into .lindi.tar and
    .lindi.d, then a dataset and an attribute added through lindi (a blob member)."""
    src = tmp_path / "sample_ecephys.nwb"
    shutil.copy2(ECEPHYS_FILE, src)
    script = f"""
import numpy as np, lindi
src = {str(src)!r}
f = lindi.LindiH5pyFile.from_hdf5_file(src, url=src)
for name in ("plain.lindi.tar", "plain.lindi.d", "blob.lindi.tar", "blob.lindi.d"):
    f.write_lindi_file({str(tmp_path)!r} + "/" + name)
f.close()
for name in ("blob.lindi.tar", "blob.lindi.d"):
    g = lindi.LindiH5pyFile.from_lindi_file({str(tmp_path)!r} + "/" + name, mode="r+")
    g.create_dataset("extra_blob", data=np.arange(5000, dtype="f8"))
    g.attrs["added"] = "by lindi"
    g.close()
"""
    proc = subprocess.run([str(LINDI_PYTHON), "-c", script], capture_output=True, text=True)
    if proc.returncode and "No module named 'lindi'" in proc.stderr:
        pytest.skip(f"lindi is not installed in {LINDI_PYTHON}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("plain.lindi.tar", "plain.lindi.d"):
        _assert_like_hdf5(tmp_path / name)
    for name in ("blob.lindi.tar", "blob.lindi.d"):
        with nwbzarr.h5py_view(tmp_path / name) as view:
            np.testing.assert_array_equal(view["extra_blob"][:], np.arange(5000.0))
            assert view.attrs["added"] == "by lindi"
            assert view["units/spike_times"].shape == (34057,)
    with tarfile.open(tmp_path / "blob.lindi.tar") as t:
        assert "blobs/extra_blob/0" in t.getnames()


# -- hostile containers ------------------------------------------------------------------------
def _small(tmp_path) -> tuple[dict, dict]:
    refs = {
        ".zgroup": json.dumps({"zarr_format": 2}),
        ".zattrs": json.dumps({}),
        "x/.zarray": json.dumps({
            "zarr_format": 2, "shape": [4], "chunks": [4], "dtype": "<i8", "compressor": None,
            "fill_value": 0, "filters": None, "order": "C",
        }),
        "x/.zattrs": json.dumps({}),
        "x/0": ["./blobs/x/0", 0, 32],
    }  # fmt: skip
    return {"version": 1, "refs": refs}, {"blobs/x/0": np.arange(4, dtype="<i8").tobytes()}


def test_small_tar_reads(tmp_path):
    rfs, blobs = _small(tmp_path)
    tar = write_lindi_tar(tmp_path / "ok.lindi.tar", rfs, blobs)
    with nwbzarr.h5py_view(tar) as view:
        assert view["x"][:].tolist() == [0, 1, 2, 3]
    d = write_lindi_dir(tmp_path / "ok.lindi.d", rfs, blobs)
    with nwbzarr.h5py_view(d) as view:
        assert view["x"][:].tolist() == [0, 1, 2, 3]


def _rename(old: str, new: str):
    def tamper(files):
        for f in files:
            if f["n"] == old:
                f["n"] = new

    return tamper


@pytest.mark.parametrize(
    "name", ["../escape", "blobs/../../escape", "/etc/passwd", "blobs//x", "./blobs/x/0", "a\\b"]
)
def test_member_name_escaping_is_refused(tmp_path, name):
    rfs, blobs = _small(tmp_path)
    tar = write_lindi_tar(tmp_path / "bad.lindi.tar", rfs, blobs, tamper=_rename("blobs/x/0", name))
    with pytest.raises(ReferenceFileError, match="member name"):
        load_lindi_container(tar)


@pytest.mark.parametrize("target", ["./../outside.bin", "./blobs/../../outside.bin", "./nope"])
def test_reference_escaping_the_tar_is_refused(tmp_path, target):
    rfs, blobs = _small(tmp_path)
    (tmp_path / "outside.bin").write_bytes(b"\1" * 32)
    rfs["refs"]["x/0"] = [target, 0, 32]
    tar = write_lindi_tar(tmp_path / "bad.lindi.tar", rfs, blobs)
    with pytest.raises(ReferenceFileError, match="not a member"):
        load_lindi_container(tar)


def test_reference_escaping_the_directory_is_refused(tmp_path):
    rfs, blobs = _small(tmp_path)
    (tmp_path / "outside.bin").write_bytes(b"\1" * 32)
    rfs["refs"]["x/0"] = ["./../outside.bin", 0, 32]
    with pytest.raises(ReferenceFileError, match="leaves the container"):
        load_lindi_container(write_lindi_dir(tmp_path / "bad.lindi.d", rfs, blobs))
    rfs["refs"]["x/0"] = ["/etc/passwd", 0, 32]
    with pytest.raises(UntrustedReferenceError):
        load_lindi_container(write_lindi_dir(tmp_path / "bad2.lindi.d", rfs, blobs))


def test_reference_past_its_member_is_refused(tmp_path):
    rfs, blobs = _small(tmp_path)
    rfs["refs"]["x/0"] = ["./blobs/x/0", 8, 32]  # 8 + 32 > the member's 32 bytes
    tar = write_lindi_tar(tmp_path / "bad.lindi.tar", rfs, blobs)
    with pytest.raises(ReferenceFileError, match="holds 32 bytes"):
        load_lindi_container(tar)


def test_truncated_tar_is_refused(tmp_path):
    rfs, blobs = _small(tmp_path)
    data = write_lindi_tar(tmp_path / "full.lindi.tar", rfs, blobs).read_bytes()
    index = json.loads(data[2048 : 2048 + 64 * 1024])["files"]
    blob = next(f for f in index if f["n"] == "blobs/x/0")
    rfs_member = next(f for f in index if f["n"] == "lindi.json")
    cuts = [0, 100, 600, 1536 + 100, 4000, rfs_member["d"] + 10, blob["d"] + 5]
    for cut in cuts:
        (tmp_path / "cut.lindi.tar").write_bytes(data[:cut])
        with pytest.raises(ReferenceFileError):
            load_lindi_container(tmp_path / "cut.lindi.tar")
    # without only the closing zero blocks every member is whole: it reads
    (tmp_path / "cut.lindi.tar").write_bytes(data[: blob["d"] + blob["s"]])
    with nwbzarr.h5py_view(tmp_path / "cut.lindi.tar") as view:
        assert view["x"][:].tolist() == [0, 1, 2, 3]


def test_inconsistent_index_is_refused(tmp_path):
    rfs, blobs = _small(tmp_path)

    def overlap(files):
        files[-1]["o"] -= 512
        files[-1]["d"] -= 512

    def duplicate(files):
        files.append(dict(files[-1]))

    def misaligned(files):
        files[-1]["d"] += 1

    def wrong_header(files):
        rfs_record = next(f for f in files if f["n"] == "lindi.json")
        rfs_record["s"] -= 1

    def past_the_end(files):
        files[-1]["s"] = 10**9

    for tamper, match in [
        (overlap, "overlap"),
        (duplicate, "twice"),
        (misaligned, "block-aligned"),
        (wrong_header, "the header there"),
        (past_the_end, "past the end"),
    ]:
        tar = write_lindi_tar(tmp_path / "bad.lindi.tar", rfs, blobs, tamper=tamper)
        with pytest.raises(ReferenceFileError, match=match):
            load_lindi_container(tar)


def test_bad_headers_are_refused(tmp_path):
    rfs, blobs = _small(tmp_path)
    data = bytearray(write_lindi_tar(tmp_path / "ok.lindi.tar", rfs, blobs).read_bytes())
    bad = bytearray(data)
    bad[10] ^= 0x01  # the first header's name: its checksum no longer matches
    (tmp_path / "bad.lindi.tar").write_bytes(bad)
    with pytest.raises(ReferenceFileError, match="checksum"):
        load_lindi_container(tmp_path / "bad.lindi.tar")
    # lindi.json as a symbolic link member
    index = json.loads(bytes(data[2048 : 2048 + 64 * 1024]))["files"]
    rec = next(f for f in index if f["n"] == "lindi.json")
    bad = bytearray(data)
    bad[rec["o"] : rec["o"] + 512] = _header("lindi.json", rec["s"], tarfile.SYMTYPE)
    (tmp_path / "bad.lindi.tar").write_bytes(bad)
    with pytest.raises(ReferenceFileError, match="not a regular file"):
        load_lindi_container(tmp_path / "bad.lindi.tar")
    # an entry that is not JSON
    bad = bytearray(data)
    bad[512:520] = b"not json"
    (tmp_path / "bad.lindi.tar").write_bytes(bad)
    with pytest.raises(ReferenceFileError):
        load_lindi_container(tmp_path / "bad.lindi.tar")


def test_plain_tar_is_not_a_lindi_tar(tmp_path):
    """A tar without LINDI's entry first (e.g. ``tar cf`` of a .lindi.d) is refused by name."""
    rfs, blobs = _small(tmp_path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        data = json.dumps(rfs).encode()
        info = tarfile.TarInfo("lindi.json")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    (tmp_path / "plain.lindi.tar").write_bytes(buf.getvalue())
    with pytest.raises(ReferenceFileError, match="not a LINDI"):
        load_lindi_container(tmp_path / "plain.lindi.tar")
    with pytest.raises(ReferenceFileError, match="not a LINDI"):
        nwbzarr.read_nwb(tmp_path / "plain.lindi.tar")


def test_oversized_entry_is_refused(tmp_path):
    with open(tmp_path / "big.lindi.tar", "wb") as f:
        f.write(_header(".tar_entry.json", 10**6) + b" " * 10**6)
    with pytest.raises(ReferenceFileError, match="64 KiB"):
        load_lindi_container(tmp_path / "big.lindi.tar")
