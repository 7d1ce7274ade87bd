"""Deterministic synthetic extracellular recording shared by every benchmark tool.

Imported by the task scripts of both interpreters (nwbzarr's and the peer venv's), so it
depends on numpy, hdmf and pynwb only. Every value is a function of the seed and its
(sample, channel) position: any tool, reading or writing in any block order, sees the same
data, and the generator never holds more than one buffer in memory.

The signal per channel: four low-frequency sinusoids shared across channels with
per-channel amplitude and phase (LFP-like), pink (1/f) noise, and
occasional biphasic spikes, rounded to int16 (microvolt-ish units, conversion 1e-6 V).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# measurement helpers live in bench_runner (standard library only, every interpreter); the
# task scripts keep calling them through this module
from bench_runner import (  # noqa: E402, F401
    children_peak_rss_mb,
    cpu_seconds,
    emit,
    peak_rss_mb,
    run_cli,
    tree_stats,
    workers_peak_rss_mb,
)

RATE = 30_000.0
"""Sampling rate in Hz."""
N_CHANNELS = 384
"""Channels of the probe."""
TRACE_CHANNEL = 191
"""Channel whose whole trace the single-channel read takes (mid-probe, in no first chunk)."""
TILE_SAMPLES = 16_384
"""Noise and spikes are drawn per tile of samples x channels, keyed by the tile position."""
TILE_CHANNELS = 64
CHUNK_SHAPE = (TILE_SAMPLES, TILE_CHANNELS)
"""Chunk shape handed to the writers (2 MiB of int16)."""
BUFFER_SHAPE = (4 * TILE_SAMPLES, N_CHANNELS)
"""Samples x channels generated per iterator step (48 MiB of int16)."""
SEED = 20_260_000
_SPIKE = np.concatenate([-np.hanning(12) * 300.0, np.hanning(24) * 80.0])


def _lfp_mixing(seed: int, n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) of the shared LFP sources and their per-channel sin/cos weights."""
    rng = np.random.default_rng([seed, 1])
    freqs = rng.uniform(0.5, 12.0, size=4)
    phases = rng.uniform(0.0, 2 * np.pi, size=(4, n_channels))
    amps = rng.uniform(20.0, 120.0, size=(4, n_channels))
    # a * sin(w t + p) = a cos(p) sin(w t) + a sin(p) cos(w t)
    weights = np.concatenate([amps * np.cos(phases), amps * np.sin(phases)])
    return freqs, weights


def _tile(seed: int, ti: int, ci: int, n_channels: int) -> np.ndarray:
    """Pink noise + spikes of one tile, float64 (TILE_SAMPLES, <= TILE_CHANNELS)."""
    width = min(TILE_CHANNELS, n_channels - ci * TILE_CHANNELS)
    rng = np.random.default_rng([seed, 2, ti, ci])
    spectrum = np.fft.rfft(rng.standard_normal((TILE_SAMPLES, width)), axis=0)
    scale = 1.0 / np.sqrt(np.maximum(np.arange(spectrum.shape[0]), 1.0))
    noise = np.fft.irfft(spectrum * scale[:, None], n=TILE_SAMPLES, axis=0)
    noise *= 15.0 / max(float(noise.std()), 1e-12)
    noise += rng.normal(0.0, 4.0, size=noise.shape)  # thermal noise floor
    n_spikes = int(rng.poisson(2.0 * width))
    starts = rng.integers(0, TILE_SAMPLES - _SPIKE.size, size=n_spikes)
    chans = rng.integers(0, width, size=n_spikes)
    for s, c in zip(starts, chans):
        noise[s : s + _SPIKE.size, c] += _SPIKE
    return noise


def ephys_block(
    t0: int, t1: int, c0: int, c1: int, seed: int = SEED, n_channels: int = N_CHANNELS
) -> np.ndarray:
    """Values of samples ``[t0, t1)`` and channels ``[c0, c1)``.

    Parameters
    ----------
    t0, t1 : int
        Sample range (at :data:`RATE` Hz).
    c0, c1 : int
        Channel range.
    seed : int
        Recording seed; the same seed gives the same values everywhere.
    n_channels : int
        Channels of the whole recording (the per-channel sinusoids depend on it).

    Returns
    -------
    numpy.ndarray
        int16 array of shape ``(t1 - t0, c1 - c0)``.
    """
    out = np.empty((t1 - t0, c1 - c0), dtype=np.float64)
    for ti in range(t0 // TILE_SAMPLES, (t1 - 1) // TILE_SAMPLES + 1 if t1 > t0 else 0):
        a, b = max(t0, ti * TILE_SAMPLES), min(t1, (ti + 1) * TILE_SAMPLES)
        for ci in range(c0 // TILE_CHANNELS, (c1 - 1) // TILE_CHANNELS + 1 if c1 > c0 else 0):
            c, d = max(c0, ci * TILE_CHANNELS), min(c1, (ci + 1) * TILE_CHANNELS)
            tile = _tile(seed, ti, ci, n_channels)
            out[a - t0 : b - t0, c - c0 : d - c0] = tile[
                a - ti * TILE_SAMPLES : b - ti * TILE_SAMPLES,
                c - ci * TILE_CHANNELS : d - ci * TILE_CHANNELS,
            ]
    freqs, weights = _lfp_mixing(seed, n_channels)
    phase = 2 * np.pi * (np.arange(t0, t1, dtype=np.float64) / RATE)[:, None] * freqs
    out += np.concatenate([np.sin(phase), np.cos(phase)], axis=1) @ weights[:, c0:c1]
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


class EphysIterator(GenericDataChunkIterator):
    """Chunk iterator over the recording (``(n_samples, N_CHANNELS)`` int16).

    Values come from ``source``, a raw little-endian int16 file written by
    :func:`write_raw` (so writers do not pay for generating the signal), read row block by
    row block with ``numpy.fromfile`` (no memory map: the file does not count in the peak
    RSS); without ``source`` they are generated on the fly.

    Parameters
    ----------
    n_samples : int
        Length of the recording in samples.
    source : str, optional
        Raw file of ``n_samples * N_CHANNELS`` int16 values, C order.
    seed : int
        Recording seed (when generating).
    """

    def __init__(self, n_samples: int, source: str | None = None, seed: int = SEED) -> None:
        self._n_samples = int(n_samples)
        self._source = source
        self._seed = seed
        buffer = (min(BUFFER_SHAPE[0], self._n_samples), BUFFER_SHAPE[1])
        chunks = (min(CHUNK_SHAPE[0], self._n_samples), CHUNK_SHAPE[1])
        super().__init__(buffer_shape=buffer, chunk_shape=chunks, display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        ts, cs = selection
        t0, t1, _ = ts.indices(self._n_samples)
        c0, c1, _ = cs.indices(N_CHANNELS)
        if self._source is None:
            return ephys_block(t0, t1, c0, c1, seed=self._seed)
        rows = np.fromfile(
            self._source, dtype="<i2", count=(t1 - t0) * N_CHANNELS, offset=t0 * N_CHANNELS * 2
        ).reshape(t1 - t0, N_CHANNELS)
        return rows[:, c0:c1]

    def _to_dict(self) -> dict:
        """Constructor arguments; with :meth:`_from_dict`, lets writers pickle the iterator
        to worker processes (hdmf-zarr's ``number_of_jobs`` silently writes serially
        without them)."""
        return {"n_samples": self._n_samples, "source": self._source, "seed": self._seed}

    @staticmethod
    def _from_dict(dictionary: dict) -> EphysIterator:
        """The iterator :meth:`_to_dict` described (fresh: no buffer consumed yet)."""
        return EphysIterator(**dictionary)

    def _get_maxshape(self) -> tuple[int, int]:
        return (self._n_samples, N_CHANNELS)

    def _get_dtype(self) -> np.dtype:
        return np.dtype(np.int16)


def write_raw(path: str, n_samples: int, seed: int = SEED) -> None:
    """Generate the recording into a raw little-endian int16 file, one buffer at a time.

    Parameters
    ----------
    path : str
        Output file (``n_samples * N_CHANNELS * 2`` bytes).
    n_samples : int
        Samples to generate.
    seed : int
        Recording seed.
    """
    with open(path, "wb") as f:
        for t0 in range(0, n_samples, BUFFER_SHAPE[0]):
            t1 = min(n_samples, t0 + BUFFER_SHAPE[0])
            f.write(ephys_block(t0, t1, 0, N_CHANNELS, seed=seed).astype("<i2").tobytes())


def expected_digests(path: str, n_samples: int, slices: list, channel: int = 0) -> dict:
    """SHA-1 digests of the raw file as :func:`measure_reads` and :func:`measure_channel`
    compute them: the whole recording, the windows and one channel's trace.

    Parameters
    ----------
    path : str
        Raw int16 file (:func:`write_raw`).
    n_samples : int
        Samples of the recording.
    slices : list of tuple of int
        Windows ``(t0, t1, c0, c1)``.
    channel : int
        Channel of the ``channel_sha1`` digest.

    Returns
    -------
    dict
        ``scan_sha1``, ``slices_sha1`` and ``channel_sha1`` (hex).
    """
    import hashlib

    digest = hashlib.sha1()
    cdigest = hashlib.sha1()
    row_bytes = N_CHANNELS * 2
    with open(path, "rb") as f:
        while block := f.read(BUFFER_SHAPE[0] * row_bytes):
            digest.update(block)
            rows = np.frombuffer(block, dtype="<i2").reshape(-1, N_CHANNELS)
            cdigest.update(np.ascontiguousarray(rows[:, channel]).tobytes())
    it = EphysIterator(n_samples, source=path)
    sdigest = hashlib.sha1()
    for a, b, c, d in slices:
        window = it._get_data((slice(a, b), slice(c, d)))
        sdigest.update(np.ascontiguousarray(window, dtype="<i2").tobytes())
    return {
        "scan_sha1": digest.hexdigest(),
        "slices_sha1": sdigest.hexdigest(),
        "channel_sha1": cdigest.hexdigest(),
    }


def n_samples_for(seconds: float) -> int:
    """Samples in ``seconds`` of recording at :data:`RATE` Hz."""
    return int(round(seconds * RATE))


def make_nwbfile(data: object):
    """An NWBFile with one ElectricalSeries ``acquisition/ElectricalSeries`` holding ``data``.

    Parameters
    ----------
    data : array-like, DataChunkIterator or DataIO
        ``(n_samples, N_CHANNELS)`` int16 samples.

    Returns
    -------
    pynwb.NWBFile
    """
    from pynwb import NWBFile
    from pynwb.ecephys import ElectricalSeries

    nwbfile = NWBFile(
        session_description="benchmark: synthetic 384-channel probe",
        identifier="nwbzarr-benchmark-ephys",
        session_start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group(
        name="shank0", description="synthetic shank", location="brain", device=device
    )
    for i in range(N_CHANNELS):
        nwbfile.add_electrode(group=group, location="brain", x=0.0, y=float(20 * i), z=0.0)
    region = nwbfile.create_electrode_table_region(list(range(N_CHANNELS)), "all electrodes")
    nwbfile.add_acquisition(
        ElectricalSeries(
            name="ElectricalSeries",
            data=data,
            electrodes=region,
            rate=RATE,
            starting_time=0.0,
            conversion=1e-6,
        )
    )
    return nwbfile


def random_slices(n_samples: int, n: int = 100, seed: int = 7) -> list[tuple[int, int, int, int]]:
    """``n`` windows of 300 samples x 32 contiguous channels, ``(t0, t1, c0, c1)``."""
    rng = np.random.default_rng(seed)
    length = min(300, n_samples)
    t0s = rng.integers(0, n_samples - length + 1, size=n)
    c0s = rng.integers(0, N_CHANNELS - 32 + 1, size=n)
    return [(int(t), int(t) + length, int(c), int(c) + 32) for t, c in zip(t0s, c0s)]


def measure_reads(open_and_read, n_samples: int, slices: list) -> dict:
    """Time opening, a full block scan and random window reads of the ElectricalSeries.

    Parameters
    ----------
    open_and_read : callable
        ``() -> (io, nwbfile)``: opens the file with the tool under test and calls ``read()``.
    n_samples : int
        Samples of the recording.
    slices : list of tuple of int
        Windows ``(t0, t1, c0, c1)`` (see :func:`random_slices`).

    Returns
    -------
    dict
        ``open_read_s``, ``scan_s``, ``slices_s`` (wall seconds, reads only; hashing
        excluded), the same as CPU seconds (``open_read_cpu_s``, ``scan_cpu_s``,
        ``slices_cpu_s``; user + system, see :func:`cpu_seconds`), ``scan_sha1`` and
        ``slices_sha1`` (hex digests of the values read, for cross-tool comparison) and
        ``read_rss_mb``.
    """
    import hashlib
    import time

    c0, t0 = cpu_seconds(), time.perf_counter()
    io, nwbfile = open_and_read()
    open_s, open_cpu = time.perf_counter() - t0, cpu_seconds() - c0
    data = nwbfile.acquisition["ElectricalSeries"].data
    scan_s = scan_cpu = 0.0
    digest = hashlib.sha1()
    for start in range(0, n_samples, BUFFER_SHAPE[0]):
        c0, t0 = cpu_seconds(), time.perf_counter()
        block = np.asarray(data[start : start + BUFFER_SHAPE[0]])
        scan_s += time.perf_counter() - t0
        scan_cpu += cpu_seconds() - c0
        digest.update(np.ascontiguousarray(block, dtype="<i2").tobytes())
    slices_s = slices_cpu = 0.0
    sdigest = hashlib.sha1()
    for a, b, c, d in slices:
        c0, t0 = cpu_seconds(), time.perf_counter()
        window = np.asarray(data[a:b, c:d])
        slices_s += time.perf_counter() - t0
        slices_cpu += cpu_seconds() - c0
        sdigest.update(np.ascontiguousarray(window, dtype="<i2").tobytes())
    io.close()
    return {
        "open_read_s": open_s,
        "open_read_cpu_s": open_cpu,
        "scan_s": scan_s,
        "scan_cpu_s": scan_cpu,
        "slices_s": slices_s,
        "slices_cpu_s": slices_cpu,
        "scan_sha1": digest.hexdigest(),
        "slices_sha1": sdigest.hexdigest(),
        "read_rss_mb": peak_rss_mb(),
    }


def measure_channel(open_and_read, channel: int) -> dict:
    """Open the file and read one channel's whole trace, ``data[:, channel]``, in one call.

    Run in a process of its own: the peak RSS it reports is that of opening the file and
    reading the trace (the imports included), so it shows how much a tool decodes or keeps
    to return one column.

    Parameters
    ----------
    open_and_read : callable
        ``() -> (io, nwbfile)`` as for :func:`measure_reads`.
    channel : int
        Channel index (``0 <= channel < N_CHANNELS``).

    Returns
    -------
    dict
        ``channel_s`` and ``channel_cpu_s`` (the read alone, wall and CPU seconds),
        ``channel_sha1`` (of the trace as little-endian int16) and ``channel_rss_mb``.
    """
    import hashlib
    import time

    io, nwbfile = open_and_read()
    data = nwbfile.acquisition["ElectricalSeries"].data
    c0, t0 = cpu_seconds(), time.perf_counter()
    trace = np.asarray(data[:, channel])
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    digest = hashlib.sha1(np.ascontiguousarray(trace, dtype="<i2").tobytes()).hexdigest()
    io.close()
    return {
        "channel_s": wall,
        "channel_cpu_s": cpu,
        "channel_sha1": digest,
        "channel_rss_mb": peak_rss_mb(),
    }
