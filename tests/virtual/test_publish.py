"""Publishing a reference JSON to S3 (moto on loopback): objects, rewrite, read-back, resume,
atomicity of the JSON (also against a SIGKILLed ``nwbzarr upload``), CLI and errors."""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ECEPHYS_FILE
from nwb_compare import (
    add_processing,
    assert_same_as_pynwb_append,
    assert_same_nodes,
    assert_same_nwbfile,
    check_additions,
    zarr_nodes,
)
from pynwb import NWBHDF5IO

import nwbzarr
from nwbzarr.cli import main as cli
from nwbzarr.errors import StoreNotFoundError, UploadError
from nwbzarr.formats.kerchunk.references import load_references, save_references
from nwbzarr.storage.manifest import ByteRange
from nwbzarr.virtual import publish
from nwbzarr.virtual.publish import upload_references
from nwbzarr.virtual.sources import index_to_json, open_virtual_store

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")
from s3_server import LocalS3Server  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def s3():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with LocalS3Server() as server:
        yield server


def _prefix() -> str:
    return f"run-{uuid.uuid4().hex[:8]}"


def _staged_json(directory: Path, n_blobs: int = 3, extra_blobs: int = 0) -> Path:
    """An indexed copy of the ecephys file plus staged blobs, as an amended JSON would be.

    The ``n_blobs`` largest inline chunks are moved to ``<json>.staging/<sha256>`` files holding
    7 junk bytes then the chunk (so offsets must survive publishing); the one chunk too large to
    be inline stays a range of the ``.nwb``. ``extra_blobs`` more blobs
    of 16 KiB are referenced under keys outside the Zarr hierarchy (to make uploads longer).
    """
    directory.mkdir(parents=True, exist_ok=True)
    nwb = directory / "ecephys.nwb"
    nwb.write_bytes(ECEPHYS_FILE.read_bytes())
    refs_path = directory / "ecephys.nwb.json"
    index_to_json(nwb, refs_path)
    refset = load_references(refs_path)
    staging = directory / "ecephys.nwb.json.staging"
    staging.mkdir()

    def stage(data: bytes, offset: int) -> ByteRange:
        blob = staging / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        return ByteRange(str(blob), offset, len(data) - offset)

    chunks = [(k, v) for k, v in refset.refs.items() if isinstance(v, bytes) and "/c/" in k]
    for key, value in sorted(chunks, key=lambda kv: -len(kv[1]))[:n_blobs]:
        refset.refs[key] = stage(b"junk:" + key[:2].encode() + value, 7)
    for i in range(extra_blobs):
        refset.refs[f"staged-extra/{i}"] = stage(i.to_bytes(4, "big") + os.urandom(16380), 0)
    save_references(refset, refs_path)
    return refs_path


def _local_files(refs_path: Path) -> set[str]:
    refset = load_references(refs_path)
    return {v.url for v in refset.refs.values() if isinstance(v, ByteRange)}


def _assert_complete(s3, json_url: str) -> None:
    """The JSON at ``json_url`` names only objects that exist, with the bytes of their name."""
    fs = s3.filesystem()
    refset = load_references(json_url, storage_options=s3.storage_options)
    for url in {v.url for v in refset.refs.values() if isinstance(v, ByteRange)}:
        assert url.startswith(s3.url()), url
        assert hashlib.sha256(fs.cat_file(url)).hexdigest() == url.rsplit("/", 1)[1]


# -- publish and read back ----------------------------------------------------------------------
def test_upload_then_read_back_through_s3(s3, tmp_path):
    refs_path = _staged_json(tmp_path / "amended")
    local = load_references(refs_path)
    to = s3.url(_prefix())
    report = upload_references(refs_path, to, storage_options=s3.storage_options, progress=False)

    files = _local_files(refs_path)
    assert len(files) == 4  # the .nwb and three blobs
    assert report.url == f"{to}/ecephys.nwb.json"
    assert (report.uploaded, report.skipped, report.bytes_skipped) == (4, 0, 0)
    assert report.bytes_uploaded == sum(os.path.getsize(p) for p in files)
    assert set(report.objects) == files
    fs = s3.filesystem()
    for path, url in report.objects.items():
        data = Path(path).read_bytes()
        assert url == f"{to}/objects/{hashlib.sha256(data).hexdigest()}"
        assert fs.cat_file(url) == data

    published = load_references(report.url, storage_options=s3.storage_options)
    assert published.refs.keys() == local.refs.keys()
    for key, value in local.refs.items():
        if isinstance(value, ByteRange):
            moved = ByteRange(report.objects[value.url], value.offset, value.length)
            assert published.refs[key] == moved, key
        else:
            assert published.refs[key] == value, key

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(ECEPHYS_FILE), "r", load_namespaces=True) as h5io:
            original = h5io.read()
            with nwbzarr.NWBZarrIO(report.url, "r", storage_options=s3.storage_options) as io:
                assert_same_nwbfile(original, io.read(), ECEPHYS_FILE)
        remote = open_virtual_store(report.url, storage_options=s3.storage_options)
        assert_same_nodes(zarr_nodes(open_virtual_store(ECEPHYS_FILE)), zarr_nodes(remote))

    again = upload_references(refs_path, to, storage_options=s3.storage_options, progress=False)
    assert (again.uploaded, again.skipped, again.bytes_uploaded) == (0, 4, 0)
    assert again.bytes_skipped == report.bytes_uploaded


# -- the whole workflow: amend a file kept in S3, publish, read back ---------------------------
def test_amend_s3_file_publish_and_read_back(s3, tmp_path, monkeypatch):
    """The original .nwb lives in the bucket (as on DANDI); it is amended through nwbzarr, the
    amendment published next to it, read back through S3 and compared with pynwb's append."""
    fs = s3.filesystem()
    original_url = s3.url(f"{_prefix()}/ecephys.nwb")
    fs.put_file(str(ECEPHYS_FILE), original_url)
    etag = fs.info(original_url)["ETag"]
    options = s3.storage_options
    amended = tmp_path / "amended.nwb.json"
    with nwbzarr.NWBZarrIO(original_url, mode="a", storage_options=options) as io:
        nwbfile = io.read()
        add_processing(nwbfile)
        io.write(nwbfile)
        saved = io.save(amended)
    staged = sorted((tmp_path / "amended.nwb.staging").iterdir())
    assert saved["staged_files"] == len(staged) >= 1

    to = s3.url(_prefix())
    # interrupted after the first object: nothing published yet
    real_put = publish._put
    objects_put = []

    def put_then_interrupt(fs_, local, url, callback=None):
        if "/objects/" in url:
            objects_put.append(url)
            if len(objects_put) > 1:
                raise KeyboardInterrupt
        real_put(fs_, local, url, callback)

    monkeypatch.setattr(publish, "_put", put_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        upload_references(amended, to, storage_options=options, progress=False, max_concurrency=1)
    monkeypatch.undo()
    fs.invalidate_cache()
    assert not fs.exists(f"{to}/amended.nwb.json")
    report = upload_references(amended, to, storage_options=options, progress=False)
    # only the staged files travel: the original is already remote and stays where it is
    assert report.uploaded + report.skipped == len(staged) and report.skipped >= 1
    assert set(report.objects) == {str(p) for p in staged}
    _assert_complete_or_original(s3, report.url, original_url)

    with nwbzarr.NWBZarrIO(report.url, "r", storage_options=options) as io:
        got = io.read()
        check_additions(got)
        assert_same_as_pynwb_append(got, tmp_path, add_processing)
    fs.invalidate_cache()
    assert fs.info(original_url)["ETag"] == etag  # the original object was never rewritten


def _assert_complete_or_original(s3, json_url: str, original_url: str) -> None:
    fs = s3.filesystem()
    refset = load_references(json_url, storage_options=s3.storage_options)
    urls = {v.url for v in refset.refs.values() if isinstance(v, ByteRange)}
    assert original_url in urls
    for url in urls - {original_url}:
        assert hashlib.sha256(fs.cat_file(url)).hexdigest() == url.rsplit("/", 1)[1]


# -- interrupted uploads ------------------------------------------------------------------------
@pytest.mark.parametrize("had_json", [False, True], ids=["new", "replace"])
def test_interrupted_upload_leaves_old_json_and_resumes(s3, tmp_path, monkeypatch, had_json):
    to = s3.url(_prefix())
    json_url = f"{to}/ecephys.nwb.json"
    fs = s3.filesystem()
    if had_json:  # publish a first version (no staged blobs) under the same name
        first = _staged_json(tmp_path / "first", n_blobs=0)
        upload_references(first, to, storage_options=s3.storage_options, progress=False)
        old = fs.cat_file(json_url)
    refs_path = _staged_json(tmp_path / "second", n_blobs=3, extra_blobs=4)

    k = 3
    calls = []
    real_put = publish._put

    def put_then_interrupt(fs_, local, url, callback=None):
        if "/objects/" in url:
            calls.append(url)
            if len(calls) > k:
                raise KeyboardInterrupt
        real_put(fs_, local, url, callback)

    monkeypatch.setattr(publish, "_put", put_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        upload_references(
            refs_path, to, storage_options=s3.storage_options, progress=False, max_concurrency=2
        )
    monkeypatch.undo()
    fs.invalidate_cache()
    if had_json:
        assert fs.cat_file(json_url) == old
    else:
        assert not fs.exists(json_url)
    assert len(fs.ls(f"{to}/objects")) >= k

    report = upload_references(refs_path, to, storage_options=s3.storage_options, progress=False)
    n_objects = 8  # the .nwb, 3 + 4 blobs
    assert report.skipped >= k
    assert report.uploaded + report.skipped == n_objects
    assert fs.cat_file(json_url) != (old if had_json else b"")
    _assert_complete(s3, json_url)


def test_sigkilled_cli_upload_keeps_json_whole_and_resumes(s3, tmp_path):
    to = s3.url(_prefix())
    json_url = f"{to}/ecephys.nwb.json"
    fs = s3.filesystem()
    first = _staged_json(tmp_path / "first", n_blobs=0)
    upload_references(first, to, storage_options=s3.storage_options, progress=False)
    old = fs.cat_file(json_url)
    refs_path = _staged_json(tmp_path / "second", n_blobs=3, extra_blobs=120)
    n_objects = 124  # 1 already there (the .nwb)

    env = {**s3.env(), "PYTHONPATH": str(REPO / "src")}
    args = [sys.executable, "-m", "nwbzarr.cli", "upload", str(refs_path), "--to", to]
    args += ["--endpoint-url", s3.endpoint_url, "-q"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = 0
    deadline = time.monotonic() + 60
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            fs.invalidate_cache()
            seen = len(fs.ls(f"{to}/objects")) if fs.exists(f"{to}/objects") else 0
            if seen >= 6:  # the .nwb and some blobs
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.communicate(timeout=30)
    fs.invalidate_cache()
    now = fs.cat_file(json_url)
    if now != old:  # it finished before the kill: the new JSON must be complete
        _assert_complete(s3, json_url)
    else:
        assert seen >= 6 and proc.returncode == -signal.SIGKILL

    report = upload_references(refs_path, to, storage_options=s3.storage_options, progress=False)
    assert report.skipped >= min(seen, n_objects)
    assert report.uploaded + report.skipped == n_objects
    _assert_complete(s3, json_url)
    published = load_references(json_url, storage_options=s3.storage_options)
    assert len(published.refs) == len(load_references(refs_path).refs)


# -- command line and errors --------------------------------------------------------------------
def test_cli_upload_prints_summary(s3, tmp_path, monkeypatch):
    for key, value in s3.env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    refs_path = _staged_json(tmp_path, n_blobs=2)
    to = s3.url(_prefix())
    args = ["upload", str(refs_path), "--to", to, "--endpoint-url", s3.endpoint_url]
    result = CliRunner().invoke(cli, [*args, "--name", "published.json"])
    assert result.exit_code == 0, result.output
    total = sum(os.path.getsize(p) for p in _local_files(refs_path))
    line = f"published {to}/published.json: uploaded 3 objects ({total} bytes), skipped 0"
    assert line in result.stdout
    _assert_complete(s3, f"{to}/published.json")

    result = CliRunner().invoke(cli, [*args, "-q"])
    assert result.exit_code == 0 and result.stdout == ""
    _assert_complete(s3, f"{to}/ecephys.nwb.json")

    missing = CliRunner().invoke(cli, ["upload", str(tmp_path / "nope.json"), "--to", to])
    assert missing.exit_code == 1
    assert "nope.json: reference JSON not found" in missing.output


def test_missing_refs_file(s3, tmp_path):
    with pytest.raises(StoreNotFoundError, match="nope.json"):
        upload_references(tmp_path / "nope.json", s3.url("x"), storage_options=s3.storage_options)


def test_missing_or_shortened_local_file_uploads_nothing(s3, tmp_path):
    refs_path = _staged_json(tmp_path, n_blobs=2)
    blob = sorted((tmp_path / "ecephys.nwb.json.staging").iterdir())[0]
    data = blob.read_bytes()
    to = s3.url(_prefix())
    fs = s3.filesystem()
    blob.unlink()
    with pytest.raises(UploadError, match=f"{blob}: this local file.*does not exist"):
        upload_references(refs_path, to, storage_options=s3.storage_options, progress=False)
    blob.write_bytes(data[:-1])
    with pytest.raises(UploadError, match=f"{blob}: {len(data) - 1} bytes, but"):
        upload_references(refs_path, to, storage_options=s3.storage_options, progress=False)
    assert not fs.exists(to)


def test_destination_errors(s3, tmp_path, monkeypatch):
    refs_path = _staged_json(tmp_path, n_blobs=1)
    with pytest.raises(UploadError, match="no-such-bucket.*does not exist; create it"):
        upload_references(
            refs_path, "s3://no-such-bucket/p", storage_options=s3.storage_options, progress=False
        )
    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if s3fs were not installed
    registry = sys.modules["fsspec.registry"]._registry  # fsspec's loaded implementations
    monkeypatch.delitem(registry, "s3", raising=False)
    with pytest.raises(UploadError, match=r"needs s3fs: pip install s3fs"):
        upload_references(refs_path, "s3://b/p", progress=False)


def test_upload_to_local_directory(tmp_path, monkeypatch):
    refs_path = _staged_json(tmp_path / "src", n_blobs=2)
    dest = tmp_path / "published"
    report = upload_references(refs_path, f"file://{dest}", progress=False)
    assert report.url == f"file://{dest}/ecephys.nwb.json"
    assert sorted(p.name for p in dest.iterdir()) == ["ecephys.nwb.json", "objects"]  # no temp
    for path, url in report.objects.items():
        assert Path(url.removeprefix("file://")).read_bytes() == Path(path).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBHDF5IO(str(ECEPHYS_FILE), "r", load_namespaces=True) as h5io:
            with nwbzarr.NWBZarrIO(str(dest / "ecephys.nwb.json"), "r") as io:
                assert_same_nwbfile(h5io.read(), io.read(), ECEPHYS_FILE)
    monkeypatch.chdir(tmp_path)  # a relative destination path: absolute URLs in the JSON
    again = upload_references(refs_path, "published", progress=False)
    assert (again.uploaded, again.skipped) == (0, 3)
    assert set(again.objects.values()) == {
        u.removeprefix("file://") for u in report.objects.values()
    }
