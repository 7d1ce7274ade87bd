"""Amend and save an NWB file: nwbzarr (reference JSON, HDF5) vs LINDI 0.4.6 and pynwb HDF5.

Usage::

    python benchmarks/amend.py [--mb 200] [--add-mb 100] [--reps 3] [--data-dir DIR]
        [--workdir DIR] [--keep] [--peer-python PATH] [--json OUT.json]
    python benchmarks/amend.py --quick        # 25 MB file, 10 MB added, one repetition: < 60 s

Input, the same for every tool: the chunked gzip NWB recording of ``remote.py``
(``remote_files.cached_ephys_nwb``: ``--mb`` MB of int16 samples, 384 channels, chunks
8192 x 64, cached in the data directory) and its reference JSONs (nwbzarr's
``index_to_json``; LINDI's with every chunk referenced). Each tool opens its input, adds a
processing module with a ``--add-mb`` MB float32 TimeSeries (chunks 16384 x 64) and a
100-unit Units table, writes, saves the result and closes (``peers/amend_tasks.py``, one
process per measurement). Then each result is read back in a fresh process: the added series
fully, every value compared with what was written, plus the units and a window of the
original recording. Prints markdown tables of the medians over ``--reps`` and of ratios
nwbzarr / peer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner as br  # noqa: E402
import ephys_signal as sig  # noqa: E402
import remote_files as rf  # noqa: E402

TASKS = br.BENCH_DIR / "peers" / "amend_tasks.py"
TOOLS = [  # (tool, label, runs in the peer venv, input, output name)
    ("nwbzarr-json", "nwbzarr (reference JSON)", False, "nwbzarr-json", "nwbzarr_json.json"),
    ("nwbzarr-hdf5", "nwbzarr (HDF5 file)", False, "nwb", "nwbzarr_hdf5.json"),
    ("lindi-json", "lindi (LINDI JSON r+)", True, "lindi-json", "lindi_json.lindi.json"),
    ("lindi-tar", "lindi (.lindi.tar)", True, "lindi-json", "lindi_tar.lindi.tar"),
    ("pynwb-hdf5", "pynwb HDF5 (copy, 'a')", True, "nwb", "pynwb_copy.nwb"),
]
OURS = ("nwbzarr-json", "nwbzarr-hdf5")


def run(args: list[str], peer: str | None, env_extra: dict, timeout: float = 1800.0) -> dict:
    """Run ``peers/amend_tasks.py`` with ``args`` in a fresh process (see
    :func:`bench_runner.run_task`); its JSON result or ``{"error": ...}``."""
    return br.run_task(args, peer, script=TASKS, env_extra=env_extra, timeout=timeout)


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if key in r]
    return statistics.median(values) if values else None


def measure_tool(
    tool: str, is_peer: bool, inputs: dict, out: Path, args, peer: str | None, env: dict
) -> dict:
    """``args.reps`` amend tasks of one tool, then ``args.reps`` read-backs of the last result.

    Parameters
    ----------
    tool : str
        One of :data:`TOOLS`.
    is_peer : bool
        Runs in the peer venv.
    inputs : dict
        ``{"nwb": Path, "nwbzarr-json": Path, "lindi-json": Path}`` (pristine inputs).
    out : pathlib.Path
        Output path (removed before each repetition, with its ``.staging/``).
    args : argparse.Namespace
        Driver options (``reps``, ``add_mb``).
    peer : str or None
        Peer interpreter.
    env : dict
        Extra environment of the tasks.

    Returns
    -------
    dict
        Medians of ``amend_s``, ``copy_s``, ``tar_s``; ``peak_rss_mb``, ``bytes_written``
        and ``original_unchanged`` of the first run (``original_unchanged`` false if any run
        changed an input); ``read``: medians of ``args.reps`` read-back tasks of the last
        result (or the first failure); ``runs``: every amend result.
    """
    source = next(t[3] for t in TOOLS if t[0] == tool)
    runs = []
    for _ in range(args.reps):
        _remove_output(out)
        src = inputs[source]
        if tool == "lindi-json":  # LINDI rewrites the JSON it opened r+: give it a fresh copy
            src = out.parent / "lindi_input_copy.lindi.json"
            shutil.copyfile(inputs[source], src)
        task = ["amend", "--tool", tool, "--src", str(src), "--out", str(out)]
        task += ["--add-mb", str(args.add_mb), "--nwb", str(inputs["nwb"])]
        runs.append(run(task, peer if is_peer else None, env))
        if "error" in runs[-1]:
            break
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[-1]["error"], "runs": runs}
    summary = {key: _median(ok, key) for key in ("amend_s", "copy_s", "tar_s", "peak_rss_mb")}
    summary = {k: v for k, v in summary.items() if v is not None}
    summary["bytes_written"] = ok[0]["bytes_written"]
    summary["original_unchanged"] = all(r["original_unchanged"] for r in ok)
    summary["versions"] = ok[0].get("versions")
    read_task = ["read", "--tool", tool, "--path", str(out), "--add-mb", str(args.add_mb)]
    reads = [run(read_task, peer if is_peer else None, env) for _ in range(args.reps)]
    failed = [r for r in reads if "error" in r]
    summary["read"] = failed[0] if failed else dict(reads[0])
    for key in ("open_read_s", "series_s", "peak_rss_mb"):
        if not failed:
            summary["read"][key] = _median(reads, key)
    summary["runs"] = runs
    return summary


def _remove_output(out: Path) -> None:
    br.remove(out)
    br.remove(Path(str(out.with_suffix("")) + ".staging"))


def main(argv: list[str] | None = None) -> None:
    """Parse options, generate or reuse the input file, run every tool, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200.0, help="MB of samples (default 200)")
    parser.add_argument("--add-mb", type=float, default=100.0, help="MB of float32 added")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement")
    parser.add_argument("--data-dir", help="cache of generated files (see remote.py)")
    parser.add_argument("--quick", action="store_true", help="25 MB, 10 MB added, 1 rep")
    br.add_common_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.mb, args.add_mb, args.reps = 25.0, 10.0, 1
    start = time.perf_counter()
    peer = br.peer_python(args.peer_python)
    data_dir = Path(args.data_dir) if args.data_dir else rf.default_data_dir()
    nwb = rf.cached_ephys_nwb(data_dir, rf.samples_for_mb(args.mb), rf.SERIES_CHUNKS).resolve()
    # the JSONs live in the work directory and name the .nwb in the data directory
    env = {"NWBZARR_ALLOWED_ROOTS": str(nwb.parent)}
    print(
        f"input {nwb.name} ({nwb.stat().st_size / 1e6:.1f} MB, {args.mb:g} MB of samples), "
        f"adding {args.add_mb:g} MB; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores; peer python: {peer}",
        file=sys.stderr,
    )
    results: dict = {"args": vars(args), "nwb": str(nwb), "nwb_bytes": nwb.stat().st_size}
    with br.WorkDir(args.workdir, args.keep) as work:
        inputs = {"nwb": nwb}
        results["index"] = {}
        for tool, is_peer in (("nwbzarr", False), ("lindi", True)):
            if is_peer and peer is None:
                continue
            path = work / f"input.{tool}.json"
            task = ["index", "--tool", tool, "--src", str(nwb), "--out", str(path)]
            results["index"][tool] = run(task, peer if is_peer else None, env)
            inputs[f"{tool}-json"] = path
        results["tools"] = {}
        for tool, _label, is_peer, source, name in TOOLS:
            if is_peer and peer is None:
                results["tools"][tool] = {"unavailable": "no peer venv"}
                continue
            if "error" in results["index"].get(source.split("-")[0], {}):
                results["tools"][tool] = {"error": "input JSON not written"}
                continue
            print(f"{tool} ...", file=sys.stderr)
            out = work / name
            results["tools"][tool] = measure_tool(tool, is_peer, inputs, out, args, peer, env)
            if not args.keep:
                _remove_output(out)
    print(report(results))
    print(f"\n(whole run {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def _data_cell(r: dict) -> str:
    read = r.get("read", {})
    if "error" in read:
        return "MISMATCH" if "AssertionError" in read["error"] else "read failed"
    return "ok" if read else "n/a"


def report(results: dict) -> str:
    """All tables and notes as markdown.

    Parameters
    ----------
    results : dict
        ``args``, ``nwb_bytes``, ``index`` and ``tools`` as collected by :func:`main`.

    Returns
    -------
    str
        Versions, the results table, the ratio table and failure notes.
    """
    tools = results["tools"]
    rows, notes = [], []
    for tool, label, *_ in TOOLS:
        r = tools.get(tool, {})
        if "unavailable" in r or "error" in r:
            rows.append([label, r.get("unavailable") or "failed"] + [""] * 6)
            notes += [f"- {tool}: {r['error']}"] if "error" in r else []
            continue
        read = r.get("read", {})
        notes += [f"- {tool} read-back: {read['error']}"] if "error" in read else []
        unchanged = "yes" if r["original_unchanged"] else "NO"
        if tool == "pynwb-hdf5":
            unchanged = f"in place (copy {r.get('copy_s', 0):.2f} s)"
        rows.append(
            [label, br.cell(r, "amend_s"), br.cell(r, "peak_rss_mb", "{:.0f}")]
            + [br.cell(r, "bytes_written", "{:,}"), unchanged]
            + [br.cell(read, "open_read_s", "{:.3f}"), br.cell(read, "series_s", "{:.3f}")]
            + [_data_cell(r)]
        )
    header = ["tool", "amend + save s", "peak RSS MB", "bytes written", "original unchanged"]
    header += ["read-back open + read() s", "added series read s", "data"]
    main_table = br.markdown_table(header, rows)
    ratio_rows = []
    for ours in OURS:
        for tool, label, is_peer, *_ in TOOLS:
            if not is_peer or "amend_s" not in tools.get(tool, {}):
                continue
            a, b = tools.get(ours, {}), tools[tool]
            ra, rb = a.get("read", {}), b.get("read", {})
            ratio_rows.append(
                [f"{ours} / {label}", br.ratio(a, b, "amend_s"), br.ratio(a, b, "peak_rss_mb")]
                + [br.ratio(a, b, "bytes_written"), br.ratio(ra, rb, "series_s")]
            )
    ratios = br.markdown_table(
        ["nwbzarr / peer", "amend + save time", "peak RSS", "bytes written", "series read"],
        ratio_rows,
    )
    index = results.get("index", {})
    index_line = ", ".join(
        f"{tool} {r['index_s']:.2f} s ({r['json_bytes']:,} B)"
        for tool, r in index.items()
        if "index_s" in r
    )
    versions = {k: v for r in tools.values() for k, v in (r.get("versions") or {}).items() if v}
    args = results["args"]
    parts = [
        "versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        f"Input {results['nwb_bytes'] / 1e6:.1f} MB file ({args['mb']:g} MB of int16 samples,"
        f" {sig.N_CHANNELS} channels); added {args['add_mb']:g} MB float32 + 100 units; "
        f"medians of {args['reps']} process(es). Input JSONs (not timed above): {index_line}.",
        main_table,
        "Ratios (below 1: nwbzarr smaller/faster):\n\n" + ratios,
    ]
    return "\n\n".join(parts + (["notes:\n" + "\n".join(notes)] if notes else []))


if __name__ == "__main__":
    main()
