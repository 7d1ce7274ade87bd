"""Deterministic synthetic two-photon movie (uint16, 512 x 512 frames) for ``gb_scale.py``.

Imported by the task scripts of both interpreters (nwbzarr's and the peer venvs'), so it
depends on numpy, hdmf and pynwb only. Each frame is a function of the seed and its index
alone: a smooth background, ``N_CELLS`` Gaussian cell footprints whose brightness follows a
slow per-cell oscillation, and Gaussian shot-like noise drawn from a generator keyed by
``(seed, frame)``; so any tool, reading or writing in any block order, sees the same values.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
from hdmf.data_utils import GenericDataChunkIterator

RATE = 30.0
"""Frames per second."""
FRAME_SHAPE = (512, 512)
"""Rows x columns of a frame."""
FRAME_BYTES = FRAME_SHAPE[0] * FRAME_SHAPE[1] * 2
CHUNK_SHAPE = (32, 128, 128)
"""Chunk shape handed to the writers (1 MiB of uint16)."""
BUFFER_FRAMES = 128
"""Frames per iterator step (64 MiB of uint16)."""
N_CELLS = 60
SEED = 20_261_201
PIXEL = (300, 211)
"""Pixel (row, column) of the single-pixel trace read; it lies inside no first chunk."""
_PATCH = 15


def _cells(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cell centres (row, col of the patch corner), footprint, frequency (Hz) and phase."""
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, FRAME_SHAPE[0] - _PATCH, size=(N_CELLS, 2))
    y, x = np.mgrid[:_PATCH, :_PATCH] - _PATCH // 2
    footprint = np.exp(-(x**2 + y**2) / (2 * 3.0**2))
    freqs = rng.uniform(0.05, 1.0, N_CELLS)
    phases = rng.uniform(0, 2 * np.pi, N_CELLS)
    return corners, footprint, freqs, phases


def frames(t0: int, t1: int, seed: int = SEED) -> np.ndarray:
    """Frames ``[t0, t1)`` of the movie.

    Parameters
    ----------
    t0, t1 : int
        First and one-past-last frame index (``0 <= t0 <= t1``).
    seed : int
        Movie seed.

    Returns
    -------
    numpy.ndarray
        ``(t1 - t0, 512, 512)`` uint16 (arbitrary fluorescence units).
    """
    corners, footprint, freqs, phases = _cells(seed)
    rows = np.linspace(0.0, 1.0, FRAME_SHAPE[0])[:, None]
    cols = np.linspace(0.0, 1.0, FRAME_SHAPE[1])[None, :]
    background = 800.0 + 300.0 * rows + 200.0 * np.cos(3.0 * cols)
    out = np.empty((t1 - t0, *FRAME_SHAPE), dtype=np.uint16)
    for i, t in enumerate(range(t0, t1)):
        frame = background + np.random.default_rng([seed, t]).normal(0.0, 25.0, FRAME_SHAPE)
        brightness = 600.0 * (1.0 + np.sin(2 * np.pi * freqs * t / RATE + phases))
        for (r, c), b in zip(corners, brightness, strict=True):
            frame[r : r + _PATCH, c : c + _PATCH] += b * footprint
        out[i] = np.clip(np.rint(frame), 0, 65535)
    return out


class ImagingIterator(GenericDataChunkIterator):
    """Chunk iterator over the movie (``(n_frames, 512, 512)`` uint16).

    Values come from ``source``, a raw little-endian uint16 file written by
    :func:`write_raw`, read with ``numpy.fromfile`` (not memory-mapped, so it does not count
    in the peak RSS); without ``source`` they are generated.

    Parameters
    ----------
    n_frames : int
        Frames of the movie.
    source : str, optional
        Raw file of ``n_frames * 512 * 512`` uint16 values, C order.
    seed : int
        Movie seed (when generating).
    """

    def __init__(self, n_frames: int, source: str | None = None, seed: int = SEED) -> None:
        self._n_frames = int(n_frames)
        self._source = source
        self._seed = seed
        chunk = (min(CHUNK_SHAPE[0], self._n_frames), *CHUNK_SHAPE[1:])
        buffer = (min(BUFFER_FRAMES, self._n_frames), *FRAME_SHAPE)
        super().__init__(buffer_shape=buffer, chunk_shape=chunk, display_progress=False)

    def _get_data(self, selection: tuple[slice, ...]) -> np.ndarray:
        t0, t1, _ = selection[0].indices(self._n_frames)
        if self._source is None:
            block = frames(t0, t1, self._seed)
        else:
            block = np.fromfile(
                self._source,
                dtype="<u2",
                count=(t1 - t0) * FRAME_SHAPE[0] * FRAME_SHAPE[1],
                offset=t0 * FRAME_BYTES,
            ).reshape(t1 - t0, *FRAME_SHAPE)
        return block[(slice(None), *selection[1:])]

    def _to_dict(self) -> dict:
        """Constructor arguments (lets writers pickle the iterator to worker processes)."""
        return {"n_frames": self._n_frames, "source": self._source, "seed": self._seed}

    @staticmethod
    def _from_dict(dictionary: dict) -> ImagingIterator:
        """The iterator :meth:`_to_dict` described."""
        return ImagingIterator(**dictionary)

    def _get_maxshape(self) -> tuple[int, int, int]:
        return (self._n_frames, *FRAME_SHAPE)

    def _get_dtype(self) -> np.dtype:
        return np.dtype(np.uint16)


def frames_for_gb(gb: float) -> int:
    """Frames holding ``gb`` GB (10**9 bytes) of samples (at least ``CHUNK_SHAPE[0]``)."""
    return max(CHUNK_SHAPE[0], int(round(gb * 1e9 / FRAME_BYTES)))


def write_raw(path: str, n_frames: int, seed: int = SEED) -> None:
    """Generate the movie into a raw little-endian uint16 file, one buffer at a time.

    Parameters
    ----------
    path : str
        Output file (``n_frames * 512 * 512 * 2`` bytes).
    n_frames : int
        Frames to generate.
    seed : int
        Movie seed.
    """
    with open(path, "wb") as f:
        for t0 in range(0, n_frames, BUFFER_FRAMES):
            f.write(frames(t0, min(n_frames, t0 + BUFFER_FRAMES), seed).astype("<u2").tobytes())


def random_windows(n_frames: int, n: int = 100, seed: int = 7) -> list[tuple[int, int, int, int]]:
    """``n`` windows of 10 frames x 64 x 64 pixels, ``(t0, t1, r0, c0)`` (rows ``r0:r0+64``,
    columns ``c0:c0+64``)."""
    rng = np.random.default_rng(seed)
    length = min(10, n_frames)
    t0s = rng.integers(0, n_frames - length + 1, size=n)
    r0s = rng.integers(0, FRAME_SHAPE[0] - 64 + 1, size=n)
    c0s = rng.integers(0, FRAME_SHAPE[1] - 64 + 1, size=n)
    return [(int(t), int(t) + length, int(r), int(c)) for t, r, c in zip(t0s, r0s, c0s)]


def _sha1(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array, dtype="<u2").tobytes()).hexdigest()


def expected_digests(path: str, n_frames: int, windows: list, frame_index: int) -> dict:
    """SHA-1 digests of the raw movie as the imaging read tasks compute them.

    Parameters
    ----------
    path : str
        Raw uint16 file (:func:`write_raw`).
    n_frames : int
        Frames of the movie.
    windows : list of tuple of int
        Windows of :func:`random_windows`.
    frame_index : int
        Frame of the ``frame_sha1`` digest.

    Returns
    -------
    dict
        ``scan_sha1`` (all frames), ``slices_sha1`` (the windows in order), ``trace_sha1``
        (pixel :data:`PIXEL` over time), ``frame_sha1``.
    """
    it = ImagingIterator(n_frames, source=path)
    scan, trace = hashlib.sha1(), hashlib.sha1()
    for t0 in range(0, n_frames, BUFFER_FRAMES):
        block = it._get_data((slice(t0, min(n_frames, t0 + BUFFER_FRAMES)),))
        scan.update(np.ascontiguousarray(block, dtype="<u2").tobytes())
        trace.update(np.ascontiguousarray(block[:, PIXEL[0], PIXEL[1]], dtype="<u2").tobytes())
    win = hashlib.sha1()
    for t0, t1, r0, c0 in windows:
        block = it._get_data((slice(t0, t1), slice(r0, r0 + 64), slice(c0, c0 + 64)))
        win.update(np.ascontiguousarray(block, dtype="<u2").tobytes())
    frame = it._get_data((slice(frame_index, frame_index + 1),))[0]
    return {
        "scan_sha1": scan.hexdigest(),
        "slices_sha1": win.hexdigest(),
        "trace_sha1": trace.hexdigest(),
        "frame_sha1": _sha1(frame),
    }


def make_nwbfile(data: object):
    """An NWBFile with one ``TwoPhotonSeries`` ``acquisition/TwoPhotonSeries`` holding ``data``,
    its ``ImagingPlane``, ``OpticalChannel`` and ``Device`` built with plain pynwb.

    Parameters
    ----------
    data : array-like, DataChunkIterator or DataIO
        ``(n_frames, 512, 512)`` uint16 frames.

    Returns
    -------
    pynwb.NWBFile
    """
    from pynwb import NWBFile
    from pynwb.ophys import OpticalChannel, TwoPhotonSeries

    nwbfile = NWBFile(
        session_description="benchmark: synthetic two-photon movie",
        identifier="nwbzarr-benchmark-imaging",
        session_start_time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    device = nwbfile.create_device(name="microscope", description="synthetic two-photon")
    channel = OpticalChannel(name="green", description="GCaMP emission", emission_lambda=525.0)
    plane = nwbfile.create_imaging_plane(
        name="plane0",
        optical_channel=channel,
        imaging_rate=RATE,
        description="synthetic plane",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6s",
        location="V1",
        grid_spacing=[1.0, 1.0],
        grid_spacing_unit="micrometers",
    )
    nwbfile.add_acquisition(
        TwoPhotonSeries(
            name="TwoPhotonSeries",
            data=data,
            imaging_plane=plane,
            rate=RATE,
            starting_time=0.0,
            unit="n.a.",
        )
    )
    return nwbfile
