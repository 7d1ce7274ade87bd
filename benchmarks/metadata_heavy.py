"""Metadata-heavy files: write and read N small TimeSeries with each tool, same run.

Usage::

    python benchmarks/metadata_heavy.py [--n 1000 3000] [--tools hdf5 nwbzarr hdmf-zarr]
        [--repeat 1] [--peer-python PATH]

Each file holds ``N`` small ``TimeSeries`` (100 float64 samples, half with a sampling rate and
half with timestamps, a description, a comment and a unit) spread over 10 processing modules.
For each tool the script measures, in seconds of wall time (best of ``--repeat``):

- ``write``: open a new file, ``write(nwbfile)``, close;
- ``read``: open, ``read()``, read ``data[0]`` of every series, close.

The NWBFile is built before the clock starts (once per tool, since a written container keeps
its file). Ratios in the table are relative to pynwb's ``NWBHDF5IO`` and to hdmf-zarr measured
in the same run.
``hdmf-zarr`` (0.13, Zarr v2) runs in the peer venv
(``--peer-python``, ``$NWBZARR_PEER_PYTHON`` or ``../peers-venv/bin/python``) as a subprocess
(``peers/hdmf_zarr_metadata.py``) timing the same two steps inside it; its column shows ``nan``
if that interpreter is missing. The file itself is built by :mod:`metadata_files` (plain pynwb).
Public API only (pynwb, nwbzarr). To add a peer, write one ``bench_<tool>(n, workdir)``
function returning ``{"write": seconds, "read": seconds}`` and register it in ``TOOLS``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import bench_runner as br
from metadata_files import time_io
from pynwb import NWBHDF5IO

from nwbzarr import NWBZarrIO

BENCH_DIR = Path(__file__).resolve().parent
PEER_TASK = BENCH_DIR / "peers" / "hdmf_zarr_metadata.py"
_PEER = {"python": None}


def bench_hdf5(n: int, workdir: Path) -> dict[str, float]:
    """pynwb's NWBHDF5IO (the reference of the ratios)."""
    return time_io(NWBHDF5IO, workdir / f"hdf5_{n}.nwb", n)


def bench_nwbzarr(n: int, workdir: Path) -> dict[str, float]:
    """nwbzarr's NWBZarrIO on a local directory store."""
    return time_io(NWBZarrIO, workdir / f"nwbzarr_{n}.nwb.zarr", n)


def bench_hdmf_zarr(n: int, workdir: Path) -> dict[str, float]:
    """hdmf-zarr 0.13's NWBZarrIO, run by the peer interpreter (``peers/hdmf_zarr_metadata.py``).

    Returns NaN timings when the peer venv is missing or the task fails (reason on stderr).
    """
    peer = _PEER["python"]
    if peer is None:
        return {"write": float("nan"), "read": float("nan")}
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    cmd = [peer, str(PEER_TASK), "--n", str(n), "--out", str(workdir / f"hdmf_zarr_{n}.nwb.zarr")]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        print(f"hdmf-zarr task failed: {proc.stderr.strip().splitlines()[-3:]}")
        return {"write": float("nan"), "read": float("nan")}
    result = json.loads(lines[-1])
    return {"write": result["write"], "read": result["read"]}


TOOLS: dict[str, Callable[[int, Path], dict[str, float]]] = {
    "hdf5": bench_hdf5,
    "nwbzarr": bench_nwbzarr,
    "hdmf-zarr": bench_hdmf_zarr,
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


def _ratio(value: float, base: dict | None, key: str) -> str:
    if not base or base[key] != base[key] or value != value:  # missing or NaN
        return "-"
    return f"{value / base[key]:.2f}"


def table(rows: list[tuple[int, str, dict]]) -> str:
    """Markdown table of the rows, with ratios to ``hdf5`` and to ``hdmf-zarr`` of the same N."""
    ref = {n: res for n, tool, res in rows if tool == "hdf5"}
    peer = {n: res for n, tool, res in rows if tool == "hdmf-zarr"}
    lines = [
        "| N | tool | write s | write / HDF5 | write / hdmf-zarr "
        "| read s | read / HDF5 | read / hdmf-zarr |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n, tool, res in rows:
        cells = [str(n), tool]
        for key in ("write", "read"):
            cells += [
                f"{res[key]:.2f}",
                _ratio(res[key], ref.get(n), key),
                _ratio(res[key], peer.get(n), key),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--peer-python", help="interpreter of the peer venv (hdmf-zarr 0.13)")
    args = parser.parse_args()
    _PEER["python"] = br.peer_python(args.peer_python)
    if "hdmf-zarr" in args.tools and _PEER["python"] is None:
        print("peer python missing: hdmf-zarr column n/a (see --peer-python)")
    print(table(run(args.n, args.tools, args.repeat)))


if __name__ == "__main__":
    main()
