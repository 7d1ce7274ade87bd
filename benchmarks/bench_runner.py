"""Shared driver plumbing: task subprocesses, the peer interpreter, work directory, tables.

Every measurement runs in a fresh process (``ephys_tasks.py`` in this interpreter with
``PYTHONPATH`` pointing at this checkout's ``src``; ``peers/hdmf_zarr_tasks.py`` in the peer
venv with ``PYTHONPATH`` cleared), which prints one JSON line; :func:`run_task` collects it.
"""

from __future__ import annotations

import argparse
import json
import os
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
