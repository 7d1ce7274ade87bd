"""Metadata-heavy files: write and read N small TimeSeries with each tool, same run.

Usage::

    python benchmarks/metadata_heavy.py [--n 1000 3000] [--tools hdf5 nwbzarr] [--repeat 1]

Each file holds ``N`` small ``TimeSeries`` (100 float64 samples, half with a sampling rate and
half with timestamps, a description, a comment and a unit) spread over 10 processing modules.
For each tool the script measures, in seconds of wall time (best of ``--repeat``):

- ``write``: open a new file, ``write(nwbfile)``, close;
- ``read``: open, ``read()``, read ``data[0]`` of every series, close.

The NWBFile is built before the clock starts (once per tool, since a written container keeps
its file). Ratios in the table are relative to pynwb's ``NWBHDF5IO`` measured in the same run.
Public API only (pynwb, nwbzarr). To add a peer, write one ``bench_<tool>(n, workdir)``
function returning ``{"write": seconds, "read": seconds}`` and register it in ``TOOLS``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from nwbzarr import NWBZarrIO

N_MODULES = 10
N_SAMPLES = 100


def make_nwbfile(n: int, n_modules: int = N_MODULES) -> NWBFile:
    """Return an NWBFile holding ``n`` TimeSeries of ``N_SAMPLES`` float64 values each."""
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


def _read_first_values(nwbfile: NWBFile) -> int:
    count = 0
    for module in nwbfile.processing.values():
        for series in module.data_interfaces.values():
            float(series.data[0])
            count += 1
    return count


def _time_io(io_class: Callable, path: Path, n: int, **io_kwargs) -> dict[str, float]:
    nwbfile = make_nwbfile(n)
    t0 = time.perf_counter()
    with io_class(str(path), mode="w", **io_kwargs) as io:
        io.write(nwbfile)
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    with io_class(str(path), mode="r", **io_kwargs) as io:
        count = _read_first_values(io.read())
    read = time.perf_counter() - t0
    if count != n:
        raise RuntimeError(f"{path}: read {count} series, wrote {n}")
    return {"write": write, "read": read}


def bench_hdf5(n: int, workdir: Path) -> dict[str, float]:
    """pynwb's NWBHDF5IO (the reference of the ratios)."""
    return _time_io(NWBHDF5IO, workdir / f"hdf5_{n}.nwb", n)


def bench_nwbzarr(n: int, workdir: Path) -> dict[str, float]:
    """nwbzarr's NWBZarrIO on a local directory store."""
    return _time_io(NWBZarrIO, workdir / f"nwbzarr_{n}.nwb.zarr", n)


TOOLS: dict[str, Callable[[int, Path], dict[str, float]]] = {
    "hdf5": bench_hdf5,
    "nwbzarr": bench_nwbzarr,
}


def run(ns: list[int], tools: list[str], repeat: int = 1) -> list[tuple[int, str, dict]]:
    """Measure every tool for every N; return ``(n, tool, {"write": s, "read": s})`` rows."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in ns:
            for tool in tools:
                best: dict[str, float] = {}
                for r in range(repeat):
                    workdir = Path(tmp) / f"{tool}_{n}_{r}"
                    workdir.mkdir()
                    result = TOOLS[tool](n, workdir)
                    for key, value in result.items():
                        best[key] = min(best.get(key, value), value)
                rows.append((n, tool, best))
    return rows


def table(rows: list[tuple[int, str, dict]]) -> str:
    """Markdown table of the rows, with ratios to ``hdf5`` of the same N when measured."""
    ref = {n: res for n, tool, res in rows if tool == "hdf5"}
    lines = [
        "| N | tool | write s | write / HDF5 | read s | read / HDF5 |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for n, tool, res in rows:
        base = ref.get(n)
        wr = f"{res['write'] / base['write']:.2f}" if base else "-"
        rr = f"{res['read'] / base['read']:.2f}" if base else "-"
        lines.append(f"| {n} | {tool} | {res['write']:.2f} | {wr} | {res['read']:.2f} | {rr} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(table(run(args.n, args.tools, args.repeat)))


if __name__ == "__main__":
    main()
