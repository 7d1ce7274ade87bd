"""zarrs (the optional Rust codec pipeline): used when selected, said when it cannot be.

Tests that need zarrs skip when it is not installed (extra ``zarrs``); the others check that
nwbzarr's own checked pipeline reads otherwise, and what selecting zarrs without it does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
import zarr
from conftest import ECEPHYS_FILE
from zarr.storage import LocalStore

import nwbzarr
from nwbzarr import NWBZarrIO, compat
from nwbzarr.storage.inline_reads import InlineReadStore
from nwbzarr.storage.journal import JOURNAL_DIR

CHECKED = "nwbzarr.storage.checked_codecs.CheckedCodecPipeline"
try:
    import zarrs  # noqa: F401

    HAVE_ZARRS = True
except ImportError:
    HAVE_ZARRS = False
needs_zarrs = pytest.mark.skipif(not HAVE_ZARRS, reason="zarrs not installed (extra 'zarrs')")


@pytest.fixture(scope="module")
def ecephys_store(tmp_path_factory):
    """The shipped sample converted to a store (sharded, compressed arrays)."""
    dst = tmp_path_factory.mktemp("zarrs") / "ecephys.nwb.zarr"
    nwbzarr.convert(ECEPHYS_FILE, dst, progress=False)
    return dst


def _arrays(root: zarr.Group) -> dict[str, zarr.Array]:
    """Every non-empty numeric array of the store, by path (zarrs decodes these itself)."""
    found: dict[str, zarr.Array] = {}

    def walk(group: zarr.Group, prefix: str) -> None:
        for name, node in group.members():
            path = f"{prefix}{name}"
            if isinstance(node, zarr.Group):
                walk(node, path + "/")
            elif node.dtype.kind in "biuf" and node.size:
                found[path] = node

    walk(root, "")
    return found


def _reads_with_default_pipeline(store) -> dict[str, np.ndarray]:
    root = zarr.open_group(LocalStore(store, read_only=True), mode="r", use_consolidated=False)
    return {path: a[...] for path, a in _arrays(root).items()}


def test_own_checked_pipeline_reads_when_zarrs_is_not_selected(ecephys_store):
    assert not compat.zarrs_selected()
    assert compat.active_codec_pipeline() == CHECKED
    with NWBZarrIO(str(ecephys_store), mode="r") as io:
        assert isinstance(io.file.store, InlineReadStore)
        spikes = io.file["units/spike_times"]
        name, rust = compat.codec_pipeline_of(spikes)
        assert name == CHECKED and not rust
        values = spikes[...]
    expected = zarr.open_array(LocalStore(ecephys_store, read_only=True), path="units/spike_times")
    np.testing.assert_array_equal(values, expected[...])


def test_unknown_env_value_warns_and_changes_nothing():
    before = compat.active_codec_pipeline()
    with pytest.warns(compat.ZarrsNotUsedWarning, match="not understood"):
        assert compat.select_codec_pipeline_from_env({compat.CODEC_PIPELINE_ENV: "rust"}) is None
    assert compat.select_codec_pipeline_from_env({compat.CODEC_PIPELINE_ENV: "zarr"}) is None
    assert compat.select_codec_pipeline_from_env({}) is None
    assert compat.active_codec_pipeline() == before


@pytest.mark.skipif(HAVE_ZARRS, reason="checks the message for a missing zarrs")
def test_env_asks_for_missing_zarrs_warns():
    with pytest.warns(compat.ZarrsNotUsedWarning, match="not installed"):
        assert compat.select_codec_pipeline_from_env({compat.CODEC_PIPELINE_ENV: "zarrs"}) is None
    assert not compat.zarrs_selected()
    assert "not importable" in compat.zarrs_refusal(LocalStore(os.getcwd(), read_only=True))


@needs_zarrs
def test_zarrs_reads_local_store_and_values_match(ecephys_store, monkeypatch):
    expected = _reads_with_default_pipeline(ecephys_store)
    assert len(expected) > 10
    from zarr.core.codec_pipeline import BatchedCodecPipeline

    calls = {"zarrs": 0, "python": []}
    zarrs_read = zarrs.ZarrsCodecPipeline.read
    python_read = BatchedCodecPipeline.read

    async def counting_zarrs_read(self, *args, **kwargs):
        calls["zarrs"] += 1
        return await zarrs_read(self, *args, **kwargs)

    async def counting_python_read(self, batch_info, out, *args, **kwargs):
        calls["python"].append(out.dtype.kind)
        return await python_read(self, batch_info, out, *args, **kwargs)

    monkeypatch.setattr(zarrs.ZarrsCodecPipeline, "read", counting_zarrs_read)
    monkeypatch.setattr(BatchedCodecPipeline, "read", counting_python_read)
    with warnings.catch_warnings():
        warnings.simplefilter("error", compat.ZarrsNotUsedWarning)
        with zarr.config.set({"codec_pipeline.path": compat.ZARRS_PIPELINE}):
            with NWBZarrIO(str(ecephys_store), mode="r") as io:
                assert type(io.file.store) is LocalStore  # no wrapper zarrs would refuse
                arrays = _arrays(io.file)
                assert set(arrays) == set(expected)
                for path, a in arrays.items():
                    assert compat.codec_pipeline_of(a) == (compat.ZARRS_PIPELINE, True), path
                    np.testing.assert_array_equal(a[...], expected[path], err_msg=path)
                nwb = io.read()  # the containers read through the same arrays
                np.testing.assert_array_equal(
                    nwb.units.spike_times.data[:], expected["units/spike_times"]
                )
    assert calls["zarrs"] >= len(expected)
    # no numeric read fell back to zarr-python's pipeline; text (variable-length strings,
    # which zarrs does not decode) did, inside zarrs' pipeline, and was read all the same
    assert calls["python"] and set(calls["python"]) <= {"O", "T"}, calls["python"]
    # and outside the configuration, the checked pipeline again
    with NWBZarrIO(str(ecephys_store), mode="r") as io:
        assert compat.codec_pipeline_of(io.file["units/spike_times"])[0] == CHECKED


@needs_zarrs
def test_env_var_selects_zarrs_in_a_fresh_interpreter(ecephys_store):
    code = (
        "import nwbzarr, zarr\n"
        "from nwbzarr import NWBZarrIO, compat\n"
        "print(compat.active_codec_pipeline())\n"
        f"io = NWBZarrIO({str(ecephys_store)!r}, mode='r')\n"
        "print(*compat.codec_pipeline_of(io.file['units/spike_times']))\n"
    )
    env = {**os.environ, compat.CODEC_PIPELINE_ENV: "zarrs"}
    out = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[0] == compat.ZARRS_PIPELINE
    assert out[1] == f"{compat.ZARRS_PIPELINE} True"


@needs_zarrs
def test_zarrs_not_used_is_said(ecephys_store, tmp_path):
    with zarr.config.set({"codec_pipeline.path": compat.ZARRS_PIPELINE}):
        # an append running (its journal directory exists): only nwbzarr's store reads the
        # committed bytes, so zarrs is not used
        copy = tmp_path / "copy.nwb.zarr"
        shutil.copytree(ecephys_store, copy)
        (copy / JOURNAL_DIR).mkdir()
        with pytest.warns(compat.ZarrsNotUsedWarning, match="append"):
            with NWBZarrIO(str(copy), mode="r") as io:
                assert isinstance(io.file.store, InlineReadStore)
                spikes = io.file["units/spike_times"]
                assert compat.codec_pipeline_of(spikes)[1] is False
                expected = _reads_with_default_pipeline(ecephys_store)["units/spike_times"]
                np.testing.assert_array_equal(spikes[...], expected)
        # a write: nwbzarr's write-back store, which zarrs refuses
        from pynwb.testing.mock.file import mock_NWBFile

        with pytest.warns(compat.ZarrsNotUsedWarning, match="writes"):
            with NWBZarrIO(str(tmp_path / "new.nwb.zarr"), mode="w") as io:
                io.write(mock_NWBFile())
        # zarrs names the stores it refuses
        assert "does not support" in compat.zarrs_refusal(InlineReadStore(LocalStore(copy)))
        assert compat.zarrs_refusal(LocalStore(copy, read_only=True)) is None


@needs_zarrs
def test_zarrs_write_matches_zarr_python(tmp_path):
    data = (np.random.default_rng(3).standard_normal((5000, 96)) * 40).astype("int16")
    blosc = zarr.codecs.BloscCodec(cname="lz4", shuffle="bitshuffle", typesize=2)

    def write(path, pipeline):
        with zarr.config.set({"codec_pipeline.path": pipeline}):
            a = zarr.create_array(
                LocalStore(path),
                shape=data.shape,
                chunks=(512, 32),
                shards=(2048, 96),
                dtype="int16",
                compressors=blosc,
            )
            assert compat.codec_pipeline_of(a)[1] is (pipeline == compat.ZARRS_PIPELINE)
            a[:] = data

    write(tmp_path / "zarrs.zarr", compat.ZARRS_PIPELINE)
    write(tmp_path / "zarr.zarr", compat.DEFAULT_CODEC_PIPELINE)
    for name in ("zarrs.zarr", "zarr.zarr"):  # each read by nwbzarr's checked pipeline
        read = zarr.open_array(LocalStore(tmp_path / name, read_only=True), mode="r")
        assert compat.codec_pipeline_of(read)[0] == CHECKED
        np.testing.assert_array_equal(read[...], data)


@needs_zarrs
def test_zarrs_checks_decoded_size_only_after_decoding(tmp_path):
    """The known gap of docs/security.md: zarrs rejects a chunk that inflates beyond its
    declared shape, but only once it has inflated it (nwbzarr's pipeline refuses it first)."""
    path = tmp_path / "bomb.zarr"
    a = zarr.create_array(
        LocalStore(path),
        shape=(100,),
        chunks=(100,),
        dtype="int16",
        compressors=zarr.codecs.GzipCodec(),
    )
    a[:] = 7
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    (path / "c" / "0").write_bytes(bomb.compress(bytes(4 * 2**20)) + bomb.flush())
    with zarr.config.set({"codec_pipeline.path": compat.ZARRS_PIPELINE}):
        b = zarr.open_array(LocalStore(path, read_only=True), mode="r")
        assert compat.codec_pipeline_of(b)[1]
        with pytest.raises(RuntimeError, match=rf"{4 * 2**20}\D+200\b"):
            b[...]
    checked = zarr.open_array(LocalStore(path, read_only=True), mode="r")
    with pytest.raises(nwbzarr.errors.CorruptChunkError, match="inflates"):
        checked[...]
