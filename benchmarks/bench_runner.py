"""Shared driver plumbing: task subprocesses, the peer interpreter, work directory, tables.

Every measurement runs in a fresh process (``ephys_tasks.py`` in this interpreter with
``PYTHONPATH`` pointing at this checkout's ``src``; ``peers/hdmf_zarr_tasks.py`` in the peer
venv with ``PYTHONPATH`` cleared), which prints one JSON line; :func:`run_task` collects it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
LOCAL_TASKS = BENCH_DIR / "ephys_tasks.py"
PEER_TASKS = BENCH_DIR / "peers" / "hdmf_zarr_tasks.py"
DEFAULT_PEER_PYTHON = REPO.parent / "peers-venv" / "bin" / "python"
DEFAULT_PEER314_PYTHON = REPO.parent / "peers314-venv" / "bin" / "python"


def _vm_hwm_mb(status: str = "/proc/self/status") -> float | None:
    """``VmHWM`` (peak resident set of the current address space) from a ``status`` file of
    /proc, in MB; None where /proc is not available."""
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB (10**6 bytes).

    Linux's ``VmHWM``, not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries
    ``ru_maxrss`` over ``execve``, so a task started by a driver that once held 400 MB
    reports at least 400 MB whatever it does itself (the drivers hold the digests' buffers
    and numpy, hdmf, pynwb: about 130-220 MB). ``VmHWM`` belongs to the address space the
    task's interpreter got at ``execve``. Falls back to ``ru_maxrss`` without /proc.
    """
    hwm = _vm_hwm_mb()
    if hwm is not None:
        return hwm
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * 1024 / 1e6


_CLI_WRAPPER = """
import atexit, os, runpy, sys

def _report_peak():
    with open('/proc/self/status') as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))
    with open(os.environ['NWBZARR_BENCH_PEAK_FILE'], 'w') as f:
        f.write(str(kib))

atexit.register(_report_peak)
sys.argv = ['nwbzarr', *sys.argv[1:]]
runpy.run_module('nwbzarr.cli', run_name='__main__', alter_sys=True)
"""


def run_cli(args: list[str], peak_file: str) -> tuple[object, float, float, float]:
    """Run ``nwbzarr ARGS...`` in a child process and measure it.

    The child runs the CLI module under a small wrapper that writes its own ``VmHWM`` to
    ``peak_file`` at exit (see :func:`peak_rss_mb` for why ``RUSAGE_CHILDREN`` would not do:
    it would include this task's memory at the time of the ``fork``).

    Parameters
    ----------
    args : list of str
        CLI arguments after ``nwbzarr`` (e.g. ``["convert", SRC, DST, "--quiet"]``).
    peak_file : str
        Scratch file for the child's peak (deleted afterwards).

    Returns
    -------
    tuple
        ``(completed_process, wall_s, cpu_s, peak_rss_mb)``; CPU is the child's user +
        system time (``RUSAGE_CHILDREN`` difference); the peak falls back to
        :func:`children_peak_rss_mb` if the child could not write it.
    """
    import subprocess
    import time

    env = dict(os.environ, NWBZARR_BENCH_PEAK_FILE=peak_file)
    cmd = [sys.executable, "-c", _CLI_WRAPPER, *args]
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    try:
        with open(peak_file) as f:
            peak = int(f.read()) * 1024 / 1e6
        os.unlink(peak_file)
    except (OSError, ValueError):
        peak = children_peak_rss_mb()
    return proc, wall, cpu, peak


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its waited-for children.

    Threads count (they are part of the process); worker processes count once they have
    been waited for (a closed process pool), so a difference of two readings around a task
    is the task's whole CPU cost on every core.

    Returns
    -------
    float
        ``ru_utime + ru_stime`` of ``RUSAGE_SELF`` plus ``RUSAGE_CHILDREN``, in seconds.
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def children_peak_rss_mb() -> float:
    """Largest peak resident set size among waited-for child processes, in MB.

    An upper bound: each child's ``ru_maxrss`` includes the memory of this process when the
    child was started (Linux keeps it across ``fork`` + ``execve``)."""
    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kib * 1024 / 1e6


def workers_peak_rss_mb(before: float) -> float:
    """Largest peak RSS (MB) of worker processes started since ``before`` was read from
    :func:`children_peak_rss_mb`; 0.0 if none grew past it (importing h5py already runs a
    ~35 MB child, so the raw value is never 0)."""
    after = children_peak_rss_mb()
    return after if after > before else 0.0


def tree_stats(path: str) -> tuple[int, int]:
    """Stored bytes and file count of a file or directory tree (``os.walk``)."""
    if os.path.isfile(path):
        return os.path.getsize(path), 1
    total, count = 0, 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
            count += 1
    return total, count


def emit(result: dict) -> None:
    """Print one result as the last line of stdout (JSON) for the driver to collect."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def installed_versions(names: tuple[str, ...]) -> dict[str, str | None]:
    """Installed version of each distribution (None if not installed); used by task scripts
    in either interpreter (this module imports the standard library only)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def peer_python(option: str | None) -> str | None:
    """The peer interpreter: ``--peer-python``, else ``$NWBZARR_PEER_PYTHON``, else
    ``../peers-venv/bin/python``; ``None`` if that file does not exist (peer columns n/a)."""
    path = option or os.environ.get("NWBZARR_PEER_PYTHON") or str(DEFAULT_PEER_PYTHON)
    return path if Path(path).is_file() else None


def peer314_python(option: str | None) -> str | None:
    """The hdmf-zarr 0.14 interpreter (Python 3.13, zarr 3): ``--peer314-python``, else
    ``$NWBZARR_PEER314_PYTHON``, else ``../peers314-venv/bin/python``; ``None`` if that file
    does not exist (its columns print n/a)."""
    path = option or os.environ.get("NWBZARR_PEER314_PYTHON") or str(DEFAULT_PEER314_PYTHON)
    return path if Path(path).is_file() else None


def rotated(items: list, round_index: int) -> list:
    """``items`` rotated left by ``round_index`` places: round ``r`` of a round-robin run
    starts with the ``r``-th tool, so no tool is always first (cold caches) or last."""
    if not items:
        return []
    k = round_index % len(items)
    return items[k:] + items[:k]


def median_result(rounds: list[dict]) -> dict:
    """Merge the results of one tool over several rounds.

    Parameters
    ----------
    rounds : list of dict
        One task result per round (``error`` entries allowed).

    Returns
    -------
    dict
        Numeric values: the median over the rounds that have them (``bool`` excluded);
        other values: those of the first round that has them, except ``*_sha1`` digests,
        which become ``"differ between rounds"`` when the rounds disagree; ``rounds``: how
        many rounds had a value for ``write_s`` or any timing; ``error`` of any failed
        round is kept.
    """
    import statistics

    merged: dict = {}
    keys: list[str] = []
    for result in rounds:
        keys += [k for k in result if k not in keys]
    for key in keys:
        values = [r[key] for r in rounds if key in r]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if numbers and len(numbers) == len(values):
            merged[key] = statistics.median(numbers)
        elif key.endswith("_sha1") and len(set(values)) > 1:
            merged[key] = "differ between rounds"
        else:
            merged[key] = values[0]
    merged["rounds"] = len(rounds)
    return merged


def target_row(label: str, ours: float | None, theirs: float | None, limit: float) -> list[str]:
    """One row of a "target / measured / met?" table: ``ours / theirs <= limit``.

    Parameters
    ----------
    label : str
        The target, as the issue states it.
    ours, theirs : float or None
        Measured values (None when a tool did not run: the row says n/a).
    limit : float
        Largest ratio that meets the target.

    Returns
    -------
    list of str
        ``[label, "0.42x", "met" | "NOT met" | "n/a"]``.
    """
    if ours is None or not theirs:
        return [label, "n/a", "n/a"]
    value = ours / theirs
    return [label, f"{value:.2f}x", "met" if value <= limit else "NOT met"]


def add_rounds_option(parser: argparse.ArgumentParser, default: int = 3) -> None:
    """Add ``--rounds N``: rounds of every tool in rotated order, medians reported."""
    parser.add_argument(
        "--rounds",
        type=int,
        default=default,
        help=f"rounds of every tool, order rotated per round; medians (default {default})",
    )


def add_peer314_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--peer314-python``: the hdmf-zarr 0.14 interpreter (see :func:`peer314_python`)."""
    parser.add_argument(
        "--peer314-python",
        help="interpreter of the hdmf-zarr 0.14 venv (Python 3.13; default "
        "$NWBZARR_PEER314_PYTHON or ../peers314-venv/bin/python)",
    )


def run_task(
    args: list[str],
    peer: str | None = None,
    *,
    script: Path | None = None,
    env_extra: dict[str, str] | None = None,
    timeout: float | None = None,
    src: Path | None = None,
) -> dict:
    """Run one task in a fresh process and return its JSON result.

    Parameters
    ----------
    args : list of str
        Task arguments (after the script path).
    peer : str, optional
        Peer interpreter (``PYTHONPATH`` cleared); None runs this interpreter with
        ``PYTHONPATH`` set to this checkout's ``src``.
    script : pathlib.Path, optional
        Task script run by either interpreter; default ``ephys_tasks.py`` here and
        ``peers/hdmf_zarr_tasks.py`` with a peer.
    env_extra : dict of str to str, optional
        Extra environment variables.
    timeout : float, optional
        Seconds before the task is killed (then ``{"error": "timed out ..."}``).
    src : pathlib.Path, optional
        nwbzarr sources put on ``PYTHONPATH`` (default: this checkout's ``src``).

    Returns
    -------
    dict
        The task's result (the last line of its output that is a JSON object: LINDI prints
        to stdout when it is garbage collected), or ``{"error": <tail of stderr>}``.
    """
    env = dict(os.environ) | dict(env_extra or {})
    if peer is None:
        cmd = [sys.executable, str(script or LOCAL_TASKS), *args]
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(src or REPO / "src"), env.get("PYTHONPATH")) if p
        )
    else:
        cmd = [peer, str(script or PEER_TASKS), *args]
        env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = [line for line in proc.stderr.strip().splitlines() if "already closed" not in line]
        return {"error": " | ".join(tail[-3:]) or f"exit status {proc.returncode}"}
    return json.loads(lines[-1])


class WorkDir:
    """Context manager for the directory of generated files (``--workdir``, ``--keep``).

    Parameters
    ----------
    path : str, optional
        Existing or new directory; default a fresh ``tempfile.mkdtemp()`` under /tmp.
    keep : bool
        Leave the files in place at the end.
    """

    def __init__(self, path: str | None, keep: bool) -> None:
        self.created = path is None or not Path(path).exists()
        self.path = Path(path or tempfile.mkdtemp(prefix="nwbzarr-bench-"))
        self.path.mkdir(parents=True, exist_ok=True)
        self.keep = keep

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.keep:
            print(f"\nfiles kept in {self.path}", file=sys.stderr)
        elif self.created:
            shutil.rmtree(self.path, ignore_errors=True)


def remove(path: Path) -> None:
    """Delete a file or directory tree if it exists."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def cell(result: dict, key: str, fmt: str = "{:.2f}") -> str:
    """One table cell: the formatted value, or ``n/a`` (missing, failed or unsupported)."""
    value = result.get(key)
    return "n/a" if value is None else fmt.format(value)


def ratio(ours: dict, theirs: dict, key: str) -> str:
    """``ours[key] / theirs[key]`` as ``0.42x``, or ``n/a``."""
    a, b = ours.get(key), theirs.get(key)
    if a is None or not b:
        return "n/a"
    return f"{a / b:.2f}x"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add the options every driver takes: ``--workdir``, ``--keep``, ``--peer-python``,
    ``--json``."""
    parser.add_argument("--workdir", help="directory for generated files (default: temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--peer-python", help="interpreter of the peer venv (hdmf-zarr 0.13)")
    parser.add_argument("--json", help="also write the raw results to this JSON file")
