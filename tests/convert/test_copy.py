"""Conversion keeps the source's chunk shape, codecs and fill value (docs/storage.md §6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from datetime import UTC, datetime

import h5py
import numpy as np
import pytest
import zarr
from click.testing import CliRunner
from conftest import ECEPHYS_FILE
from hdmf.backends.hdf5.h5_utils import H5DataIO
from pynwb import NWBHDF5IO, NWBFile, TimeSeries
from zarr.codecs import BloscCodec, GzipCodec

import nwbzarr
from nwbzarr.cli import main
from nwbzarr.compat import enum_value
from nwbzarr.conventions.layout import choose_chunks
from nwbzarr.formats.hdf5.filters import hdf5_codecs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TRIALS = "intervals/trials"


def _arrays(path) -> dict[str, zarr.Array]:
    root = zarr.open_group(path, mode="r")
    return {
        name: node for name, node in root.members(max_depth=None) if isinstance(node, zarr.Array)
    }


def _codec_dicts(codecs) -> list[dict]:
    return [c.to_dict() for c in codecs]


def _assert_kept(dset: h5py.Dataset, array: zarr.Array) -> None:
    """``array`` has ``dset``'s chunks, mapped codecs, fill value, byte order and values."""
    mapped = hdf5_codecs(dset, exact=False)
    assert array.chunks == dset.chunks, dset.name
    if array.shards is not None:
        assert all(s % c == 0 for s, c in zip(array.shards, array.chunks)), dset.name
    assert _codec_dicts(array.compressors) == _codec_dicts(mapped.compressors), dset.name
    assert not any(isinstance(c, BloscCodec) for c in array.compressors), dset.name
    assert array.serializer.to_dict() == mapped.serializer.to_dict(), dset.name
    assert array.fill_value == dset.fillvalue, dset.name
    np.testing.assert_array_equal(array[...], dset[...], err_msg=dset.name)


def _rewrite(dset_parent: h5py.Group, name: str, **create) -> None:
    """Recreate a dataset with new storage settings, keeping its values and attributes."""
    old = dset_parent[name]
    values, attrs = old[...], dict(old.attrs)
    del dset_parent[name]
    new = dset_parent.create_dataset(name, data=values, **create)
    for key, value in attrs.items():
        new.attrs[key] = value


@pytest.fixture
def chunked_real(tmp_path):
    """The real ecephys file with its trial columns and waveforms rewritten chunked.

    ``start_time``: gzip only, with chunk 0 stored with deflate skipped (filter mask 1);
    ``stop_time``: gzip + shuffle, fill value -1, last chunk never written; ``is_good``:
    big-endian int32 with shuffle + gzip; ``pole_in_time``: fletcher32 + gzip (values are
    decoded and re-encoded); ``waveform_mean``: 2-D float32, uncompressed chunks.
    """
    path = tmp_path / "chunked.nwb"
    shutil.copy(ECEPHYS_FILE, path)
    with h5py.File(path, "a") as f:
        trials = f[TRIALS]
        _rewrite(trials, "start_time", chunks=(100,), compression="gzip")
        values = trials["start_time"][:100]
        trials["start_time"].id.write_direct_chunk((0,), values.tobytes(), filter_mask=1)
        stop, attrs = trials["stop_time"][...], dict(trials["stop_time"].attrs)
        del trials["stop_time"]
        new = trials.create_dataset(
            "stop_time", shape=stop.shape, dtype="f8", chunks=(100,), fillvalue=-1.0,
            compression="gzip", compression_opts=6, shuffle=True,
        )  # fmt: skip
        new[:400] = stop[:400]
        new.attrs.update(attrs)
        big = trials["is_good"][...].astype(">i4")
        attrs = dict(trials["is_good"].attrs)
        del trials["is_good"]
        new = trials.create_dataset(
            "is_good", data=big, chunks=(64,), compression="gzip", shuffle=True
        )
        new.attrs.update(attrs)
        _rewrite(trials, "pole_in_time", chunks=(128,), compression="gzip", fletcher32=True)
        _rewrite(f["units"], "waveform_mean", chunks=(2, 16))
    return path


def test_hdf5_real_file_keeps_storage(chunked_real, tmp_path):
    dst = tmp_path / "out.nwb.zarr"
    nwbzarr.convert(chunked_real, dst, progress=False, shard_mb=0.002)
    arrays = _arrays(dst)
    with h5py.File(chunked_real, "r") as f:
        assert f[TRIALS]["start_time"].id.read_direct_chunk((0,))[0] == 1
        for name in ("start_time", "stop_time", "is_good", "pole_in_time"):
            _assert_kept(f[TRIALS][name], arrays[f"{TRIALS}/{name}"])
        _assert_kept(f["units/waveform_mean"], arrays["units/waveform_mean"])
        assert arrays[f"{TRIALS}/stop_time"][-1] == -1.0  # unwritten chunk: fill value
        assert enum_value(arrays[f"{TRIALS}/is_good"].serializer.endian) == "big"
        assert arrays[f"{TRIALS}/stop_time"].shards == (200,)
        # contiguous source datasets follow the policy (default Blosc)
        contiguous = arrays[f"{TRIALS}/cue_start_time"]
        assert isinstance(contiguous.compressors[0], BloscCodec)
        np.testing.assert_array_equal(contiguous[...], f[TRIALS]["cue_start_time"][...])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with nwbzarr.NWBZarrIO(dst, "r") as io:
            trials = io.read().trials
            np.testing.assert_array_equal(trials["is_good"].data[:], arrays[f"{TRIALS}/is_good"])


def _write_generated(path, n=20_000, channels=8) -> np.ndarray:
    t = np.arange(n) / 1000.0
    rng = np.random.default_rng(1)
    values = (300 * np.sin(2 * np.pi * 7 * t)[:, None] + rng.normal(0, 20, (n, channels))).astype(
        np.int16
    )
    nwb = NWBFile("gen", "gen", datetime(2024, 1, 1, tzinfo=UTC))
    data = H5DataIO(values, chunks=(1000, 4), compression="gzip", compression_opts=4, shuffle=True)
    nwb.add_acquisition(TimeSeries(name="ts", data=data, unit="uV", rate=1000.0))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return values


def test_generated_gzip_shuffle_then_zarr_to_zarr(tmp_path):
    src = tmp_path / "gen.nwb"
    values = _write_generated(src)
    first, second = tmp_path / "a.nwb.zarr", tmp_path / "b.nwb.zarr"
    nwbzarr.convert(src, first, progress=False, shard_mb=0.05)
    array = _arrays(first)["acquisition/ts/data"]
    with h5py.File(src, "r") as f:
        _assert_kept(f["acquisition/ts/data"], array)
    assert array.shards == (3000, 8)  # 3 x 2 chunks of 8 kB within the 52 kB shard budget
    assert [type(c).__name__ for c in array.compressors] == ["Shuffle", "GzipCodec"]
    # stored chunks are standard gzip streams: numcodecs GZip (what zarr's gzip runs) reads them
    np.testing.assert_array_equal(array[...], values)
    unsharded = tmp_path / "u.nwb.zarr"  # shard_mb=0: each HDF5 chunk is one chunk object
    nwbzarr.convert(src, unsharded, progress=False, shard_mb=0)
    plain = _arrays(unsharded)["acquisition/ts/data"]
    assert (plain.chunks, plain.shards) == ((1000, 4), None)
    np.testing.assert_array_equal(plain[...], values)
    nwbzarr.convert(first, second, progress=False)
    again = _arrays(second)["acquisition/ts/data"]
    assert (again.chunks, again.shards) == (array.chunks, array.shards)
    assert _codec_dicts(again.compressors) == _codec_dicts(array.compressors)
    np.testing.assert_array_equal(again[...], values)


def test_cli_rechunk_applies_policy_quietly(tmp_path):
    src = tmp_path / "gen.nwb"
    values = _write_generated(src, n=3000)
    dst = tmp_path / "r.nwb.zarr"
    result = CliRunner().invoke(main, ["convert", "--rechunk", "--quiet", str(src), str(dst)])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    array = _arrays(dst)["acquisition/ts/data"]
    assert array.chunks == choose_chunks(values.shape, 2)
    assert isinstance(array.compressors[0], BloscCodec)
    assert not any(isinstance(c, GzipCodec) for c in array.compressors)
    np.testing.assert_array_equal(array[...], values)


def test_unmappable_filter_is_reencoded_with_a_warning(chunked_real, tmp_path):
    """lzf has no Zarr v3 codec: chunks kept, values re-encoded, a warning names the dataset."""
    with h5py.File(chunked_real, "a") as f:
        _rewrite(f[TRIALS], "photo_stim_power", chunks=(100,), compression="lzf")
        expected = f[TRIALS]["photo_stim_power"][...]
    dst = tmp_path / "out.nwb.zarr"
    with pytest.warns(UserWarning, match=f"/{TRIALS}/photo_stim_power.*lzf"):
        nwbzarr.convert(chunked_real, dst, progress=False)
    array = _arrays(dst)[f"{TRIALS}/photo_stim_power"]
    assert array.chunks == (100,)
    assert isinstance(array.compressors[0], BloscCodec)
    np.testing.assert_array_equal(array[...], expected)
    dst2 = tmp_path / "out2.nwb.zarr"
    nwbzarr.convert(chunked_real, dst2, progress=False, keep_storage=False)
    np.testing.assert_array_equal(_arrays(dst2)[f"{TRIALS}/photo_stim_power"][...], expected)


def test_cli_quiet_prints_nothing_in_a_real_process(tmp_path):
    """``-q`` is silent on stdout and stderr, zarr's numcodecs notice included."""
    src = tmp_path / "gen.nwb"
    values = _write_generated(src, n=3000)
    dst = tmp_path / "q.nwb.zarr"
    cmd = [sys.executable, "-m", "nwbzarr.cli", "convert", "-q", str(src), str(dst)]
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")
    array = _arrays(dst)["acquisition/ts/data"]
    assert [type(c).__name__ for c in array.compressors] == ["Shuffle", "GzipCodec"]
    np.testing.assert_array_equal(array[...], values)


def test_convert_keeps_the_sources_cached_schema_versions(ecephys_file, tmp_path):
    """The store caches the namespaces the source cached (core 2.1.0 here), not those of the
    pynwb doing the conversion, so it validates as its source does; namespaces the source did
    not cache (hdmf-experimental) come from pynwb."""
    import pynwb

    from nwbzarr import NWBZarrIO, convert

    dst = tmp_path / "kept.nwb.zarr"
    convert(ecephys_file, dst, progress=False)
    cached = NWBZarrIO.get_namespaces(dst)
    with h5py.File(ecephys_file, "r") as f:
        source = {name: list(f["specifications"][name]) for name in f["specifications"]}
    assert source == {"core": ["2.1.0"], "hdmf-common": ["1.0.0"]}
    assert cached["core"] == "2.1.0" and cached["hdmf-common"] == "1.0.0"
    # the others are pynwb's: hdmf-experimental, and any extension this process loaded into
    # pynwb's global type map (another test may have; pynwb's own writer caches them too)
    from_pynwb = set(pynwb.get_type_map().namespace_catalog.namespaces)
    assert "hdmf-experimental" in from_pynwb
    assert set(cached) - set(source) <= from_pynwb
    assert [p.name for p in (dst / "specifications" / "core").iterdir() if p.is_dir()] == ["2.1.0"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        errors_store = pynwb.validate(path=str(dst))
        errors_source = pynwb.validate(path=str(ecephys_file))
    found = errors_store[0] if isinstance(errors_store, tuple) else errors_store
    theirs = errors_source[0] if isinstance(errors_source, tuple) else errors_source
    original = {str(e) for e in theirs}
    extra = {str(e) for e in found} - original
    assert original <= {str(e) for e in found}
    assert all("expected 'ascii', got 'utf'" in e for e in extra)  # docs/toolchain.md §2.4
