"""The metadata-heavy NWB file shared by ``metadata_heavy.py`` and its hdmf-zarr peer task.

Plain pynwb and numpy only (no nwbzarr), so both interpreters (nwbzarr's and the peer venv's)
import it and build the same file: ``n`` small ``TimeSeries`` (``N_SAMPLES`` float64 values
each, half with a sampling rate and half with timestamps) spread over ``N_MODULES`` processing
modules.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from pynwb import NWBFile, TimeSeries

N_MODULES = 10
N_SAMPLES = 100


def make_nwbfile(n: int, n_modules: int = N_MODULES) -> NWBFile:
    """Build the benchmark file in memory.

    Parameters
    ----------
    n : int
        Number of ``TimeSeries`` (``N_SAMPLES`` float64 values each, unit ``"V"``).
    n_modules : int
        Number of processing modules the series are spread over (round robin).

    Returns
    -------
    pynwb.NWBFile
        The file; odd series hold timestamps (seconds), even ones a 30 Hz rate.
    """
    nwbfile = NWBFile(
        session_description="metadata-heavy benchmark",
        identifier="metadata-heavy",
        session_start_time=datetime(2024, 1, 1, tzinfo=UTC),
    )
    modules = [
        nwbfile.create_processing_module(f"module_{m:02d}", f"module {m}") for m in range(n_modules)
    ]
    rng = np.random.default_rng(0)
    for i in range(n):
        kwargs = dict(
            name=f"series_{i:05d}",
            data=rng.standard_normal(N_SAMPLES),
            unit="V",
            description=f"series {i}",
            comments="benchmark",
        )
        if i % 2:
            kwargs["timestamps"] = np.arange(N_SAMPLES, dtype="f8") / 30.0 + i
        else:
            kwargs["rate"] = 30.0
            kwargs["starting_time"] = float(i)
        modules[i % n_modules].add(TimeSeries(**kwargs))
    return nwbfile


def read_first_values(nwbfile: NWBFile) -> int:
    """Read ``data[0]`` of every series of a file opened for reading.

    Parameters
    ----------
    nwbfile : pynwb.NWBFile
        File returned by an IO's ``read()``.

    Returns
    -------
    int
        Number of series read.
    """
    count = 0
    for module in nwbfile.processing.values():
        for series in module.data_interfaces.values():
            float(series.data[0])
            count += 1
    return count


def time_io(io_class, path: str, n: int, **io_kwargs) -> dict[str, float]:
    """Time writing then reading the benchmark file with one pynwb-style IO class.

    Parameters
    ----------
    io_class : type
        IO class taking ``(path, mode=...)`` (``NWBHDF5IO``, an ``NWBZarrIO``...).
    path : str
        File or store to create.
    n : int
        Number of series.
    **io_kwargs
        Passed to ``io_class``.

    Returns
    -------
    dict
        ``{"write": seconds, "read": seconds}`` of wall time; the file is built before the
        clock starts.

    Raises
    ------
    RuntimeError
        If the read finds a different number of series than was written.
    """
    import time

    nwbfile = make_nwbfile(n)
    t0 = time.perf_counter()
    with io_class(str(path), mode="w", **io_kwargs) as io:
        io.write(nwbfile)
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    with io_class(str(path), mode="r", **io_kwargs) as io:
        count = read_first_values(io.read())
    read = time.perf_counter() - t0
    if count != n:
        raise RuntimeError(f"{path}: read {count} series, wrote {n}")
    return {"write": write, "read": read}
