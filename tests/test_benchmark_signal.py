"""The benchmark signal is the same for every tool: position-determined, iterator == generator.

The peer comparisons (benchmarks/ephys_write_read.py, convert_big.py) rely on every tool
writing and reading identical samples; these tests hold the generator and the digest check
to that.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import ephys_signal as sig  # noqa: E402

import nwbzarr  # noqa: E402

N = sig.TILE_SAMPLES + 700  # crosses a tile boundary in time


def test_block_values_do_not_depend_on_the_requested_window():
    whole = sig.ephys_block(0, N, 0, sig.N_CHANNELS)
    assert whole.dtype == np.int16 and whole.shape == (N, sig.N_CHANNELS)
    part = sig.ephys_block(16000, N, 50, 200)  # crosses tile edges in time and channels
    np.testing.assert_array_equal(part, whole[16000:N, 50:200])
    # a signal, not a constant: spread in range of extracellular recordings
    assert 30 < whole.std() < 500
    assert not np.array_equal(whole[:, 0], whole[:, 1])
    other_seed = sig.ephys_block(0, 100, 0, 8, seed=sig.SEED + 1)
    assert not np.array_equal(other_seed, whole[:100, :8])


def test_nwbzarr_write_read_of_raw_file_matches_digests(tmp_path):
    raw = tmp_path / "signal.i16"
    sig.write_raw(str(raw), N)
    np.testing.assert_array_equal(
        np.fromfile(raw, dtype="<i2").reshape(N, sig.N_CHANNELS),
        sig.ephys_block(0, N, 0, sig.N_CHANNELS),
    )
    out = tmp_path / "ephys.nwb.zarr"
    with nwbzarr.NWBZarrIO(out, "w") as io:
        # written through the copy a worker process would rebuild (hdmf's __reduce__ path)
        iterator = sig.EphysIterator(N, source=str(raw))
        clone = sig.EphysIterator._from_dict(iterator._to_dict())
        assert clone.maxshape == (N, sig.N_CHANNELS) and clone.chunk_shape == sig.CHUNK_SHAPE
        io.write(sig.make_nwbfile(clone))
    slices = sig.random_slices(N, n=10)
    expected = sig.expected_digests(str(raw), N, slices)

    def open_and_read():
        io = nwbzarr.NWBZarrIO(out, "r")
        return io, io.read()

    measured = sig.measure_reads(open_and_read, N, slices)
    assert measured["scan_sha1"] == expected["scan_sha1"]
    assert measured["slices_sha1"] == expected["slices_sha1"]
    with nwbzarr.NWBZarrIO(out, "r") as io:
        series = io.read().acquisition["ElectricalSeries"]
        assert series.rate == sig.RATE
        np.testing.assert_array_equal(
            series.data[:], np.fromfile(raw, dtype="<i2").reshape(N, sig.N_CHANNELS)
        )
    # a changed sample changes the digest the drivers compare
    data = np.fromfile(raw, dtype="<i2")
    data[123] += 1
    data.tofile(raw)
    assert sig.expected_digests(str(raw), N, slices)["scan_sha1"] != expected["scan_sha1"]


def test_channel_digest_matches_a_column_read(tmp_path):
    n = 3000
    raw = tmp_path / "signal.i16"
    sig.write_raw(str(raw), n)
    expected = sig.expected_digests(str(raw), n, sig.random_slices(n, n=3), sig.TRACE_CHANNEL)
    column = np.fromfile(raw, dtype="<i2").reshape(n, sig.N_CHANNELS)[:, sig.TRACE_CHANNEL]

    class _Reader:  # an "io" over the raw samples: open_and_read() -> (io, nwbfile)
        def close(self) -> None:
            pass

    nwbfile = sig.make_nwbfile(np.fromfile(raw, dtype="<i2").reshape(n, sig.N_CHANNELS))
    measured = sig.measure_channel(lambda: (_Reader(), nwbfile), sig.TRACE_CHANNEL)
    assert measured["channel_sha1"] == expected["channel_sha1"]
    import hashlib

    assert expected["channel_sha1"] == hashlib.sha1(column.astype("<i2").tobytes()).hexdigest()
    other = sig.expected_digests(str(raw), n, [], sig.TRACE_CHANNEL + 1)["channel_sha1"]
    assert other != expected["channel_sha1"]
    assert measured["channel_cpu_s"] >= 0.0 and measured["channel_rss_mb"] > 0


def test_imaging_frames_do_not_depend_on_the_requested_block(tmp_path):
    import imaging_signal as img

    n = img.CHUNK_SHAPE[0] + 5
    whole = img.frames(0, n)
    assert whole.dtype == np.uint16 and whole.shape == (n, *img.FRAME_SHAPE)
    np.testing.assert_array_equal(img.frames(30, n), whole[30:])
    assert whole.std() > 50 and not np.array_equal(whole[0], whole[1])
    raw = tmp_path / "movie.u2"
    img.write_raw(str(raw), n)
    it = img.ImagingIterator(n, source=str(raw))
    clone = img.ImagingIterator._from_dict(it._to_dict())
    assert clone.maxshape == (n, *img.FRAME_SHAPE)
    np.testing.assert_array_equal(
        clone._get_data((slice(3, 9), slice(100, 164), slice(7, 71))), whole[3:9, 100:164, 7:71]
    )
    windows = img.random_windows(n, n=4)
    expected = img.expected_digests(str(raw), n, windows, 10)
    data = np.fromfile(raw, dtype="<u2")
    data[img.PIXEL[0] * img.FRAME_SHAPE[1] + img.PIXEL[1]] += 1  # frame 0, the traced pixel
    data.tofile(raw)
    changed = img.expected_digests(str(raw), n, windows, 10)
    assert changed["trace_sha1"] != expected["trace_sha1"]
    assert changed["scan_sha1"] != expected["scan_sha1"]
    assert changed["frame_sha1"] == expected["frame_sha1"]  # frame 10 untouched
