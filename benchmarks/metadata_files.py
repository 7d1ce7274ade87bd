"""The metadata-heavy NWB file shared by ``metadata_heavy.py`` and its hdmf-zarr peer task.

Plain pynwb and numpy only (no nwbzarr), so both interpreters (nwbzarr's and the peer venv's)
import it and build the same file: ``n`` small ``TimeSeries`` (``N_SAMPLES`` float64 values
each, half with a sampling rate and half with timestamps) spread over ``N_MODULES`` processing
modules, and optionally a trials table.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from pynwb import NWBFile, TimeSeries

N_MODULES = 10
N_SAMPLES = 100


def make_nwbfile(n: int, n_modules: int = N_MODULES, n_trials: int = 0) -> NWBFile:
    """Build the benchmark file in memory.

    Parameters
    ----------
    n : int
        Number of ``TimeSeries`` (``N_SAMPLES`` float64 values each, unit ``"V"``).
    n_modules : int
        Number of processing modules the series are spread over (round robin).
    n_trials : int
        Rows of a trials table (``start_time``, ``stop_time`` in s, float64; ``condition``,
        one of 8 strings); 0 for none.

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
    if n_trials:
        nwbfile.trials = _trials(n_trials)
    return nwbfile


def _trials(n_trials: int):
    """A trials table of ``n_trials`` rows built from whole columns (``add_trial`` row by
    row would dominate the set-up time)."""
    from hdmf.common import VectorData
    from pynwb.epoch import TimeIntervals

    start = np.arange(n_trials, dtype="f8") * 2.0
    columns = [
        VectorData(name="start_time", description="start of the trial (s)", data=start),
        VectorData(name="stop_time", description="end of the trial (s)", data=start + 1.5),
        VectorData(
            name="condition",
            description="condition of the trial",
            data=[f"condition_{i % 8}" for i in range(n_trials)],
        ),
    ]
    return TimeIntervals(
        name="trials", description="benchmark trials", columns=columns, id=list(range(n_trials))
    )


def read_first_values(nwbfile: NWBFile) -> int:
    """Read ``data[0]`` of every series, and the trials' start times if there is a table.

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
    if nwbfile.trials is not None:
        np.asarray(nwbfile.trials["start_time"][:])
    return count
