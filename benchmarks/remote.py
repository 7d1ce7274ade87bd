"""Read HDF5 NWB files over HTTP (30 ms per request): nwbzarr vs h5py + remfile and LINDI.

Usage::

    python benchmarks/remote.py [--mb 500] [--reps 3] [--latency 0.03] [--data-dir DIR]
        [--index-chunks 10000] [--shared DIR] [--shared-limit N] [--src SRC_DIR]
        [--peer-python PATH] [--json OUT.json]
    python benchmarks/remote.py --quick        # 25 MB, one repetition, no shared files: < 60 s

A loopback ``tests/http_server.RangeHTTPServer`` with ``latency`` seconds slept per request
serves (a) a chunked gzip NWB recording (``--mb`` MB of int16 samples, 384 channels, chunks
8192 x 64, cached in the data directory) and (b) copies of ``../shared/data/nwb``. Tools:
h5py + remfile, LINDI 0.4 from the HDF5 URL and from a LINDI JSON, nwbzarr from the HDF5 URL
and from its reference JSON. Each measurement runs in its own process
(``peers/remote_tasks.py``); requests and bytes come from the server's log. Also times
writing the reference JSON of a many-chunk file (LINDI with every chunk referenced vs
``index_hdf5`` + ``save_references``), and prints whether the issue's targets are met.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bench_runner as br  # noqa: E402
import ephys_signal as sig  # noqa: E402
import remote_files as rf  # noqa: E402
from http_server import RangeHTTPServer  # noqa: E402

TASKS = br.BENCH_DIR / "peers" / "remote_tasks.py"
SHARED = br.REPO.parent / "shared" / "data" / "nwb"
READ_TOOLS = [  # (tool, label, runs in the peer venv)
    ("h5py-remfile", "h5py + remfile", True),
    ("lindi-hdf5", "lindi (HDF5 URL)", True),
    ("lindi-json", "lindi (LINDI JSON)", True),
    ("nwbzarr-hdf5", "nwbzarr (HDF5 URL)", False),
    ("nwbzarr-json", "nwbzarr (reference JSON)", False),
]
NWBZARR_API = (
    "from nwbzarr.formats.hdf5.index import index_hdf5; "
    "from nwbzarr.formats.kerchunk.references import save_references, load_references; "
    "from nwbzarr.virtual.store import ReferenceStore; from nwbzarr import read_nwb"
)
NWBZARR_SRC = [br.REPO / "src"]
"""Source tree of the nwbzarr measured (``--src``); this checkout's ``src`` by default."""


def run(args: list[str], peer: str | None, timeout: float = 1800.0) -> dict:
    """Run ``peers/remote_tasks.py`` with ``args`` in a fresh process (see
    :func:`bench_runner.run_task`); its JSON result or ``{"error": ...}``."""
    return br.run_task(args, peer, script=TASKS, timeout=timeout, src=NWBZARR_SRC[0])


def nwbzarr_api_missing() -> str | None:
    """Whether the nwbzarr under test has the issue-5 API (checked in a subprocess).

    Returns
    -------
    str or None
        None if ``index_hdf5``, ``save_references``, ``load_references``,
        ``ReferenceStore`` and ``read_nwb`` import from :data:`NWBZARR_SRC`, else the last
        line of the import error.
    """
    env = dict(os.environ, PYTHONPATH=str(NWBZARR_SRC[0]))
    proc = subprocess.run(
        [sys.executable, "-c", NWBZARR_API], capture_output=True, text=True, env=env
    )
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["import failed"])[-1]


def measure_reads(
    server: RangeHTTPServer,
    tool: str,
    urls: list[str],
    window: tuple[int, int] | None,
    peer: str | None,
) -> dict:
    """Run one ``read`` task and attach the server's counts to its per-file results.

    Parameters
    ----------
    server : RangeHTTPServer
        The server of ``urls`` (its log is cleared first).
    tool : str
        One of ``peers/remote_tasks.READ_TOOLS``.
    urls : list of str
        Files (``.nwb`` or reference JSON) opened one after another.
    window : tuple of int, optional
        Samples ``(t0, t1)`` read across all channels after each open.
    peer : str or None
        Interpreter (see :func:`run`).

    Returns
    -------
    dict
        The task's result; each entry of ``files`` gains ``open_requests``,
        ``open_bytes`` (and ``window_requests``, ``window_bytes``) for phases that succeeded.
    """
    args = ["read", "--tool", tool, "--urls", *urls, "--mark", server.url(f"{rf.MARK}/{tool}")]
    if window is not None:
        args += ["--window", str(window[0]), str(window[1])]
    server.clear_log()
    result = run(args, peer)
    segments = rf.split_log(server.log, server.root)
    for i, entry in enumerate(result.get("files", [])):
        for phase, timed in (("open", "open_read_s"), ("window", "window_s")):
            seg = segments.get(f"{i}/{phase}")
            if seg is not None and timed in entry:  # a failed phase has no counts
                entry[f"{phase}_requests"] = seg["requests"]
                entry[f"{phase}_bytes"] = seg["bytes"]
    return result


def make_references(
    tool: str, srcs: list[Path], server: RangeHTTPServer, refs_dir: Path, peer: str | None
) -> tuple[dict, list[Path]]:
    """Write the reference JSONs of local files in one ``index`` task.

    Parameters
    ----------
    tool : {"lindi", "nwbzarr"}
        Who writes them (LINDI in the peer venv, nwbzarr in this interpreter).
    srcs : list of pathlib.Path
        HDF5 files under the served directory; chunk references name their served URLs.
    server : RangeHTTPServer
        The server.
    refs_dir : pathlib.Path
        Output directory (``<stem>.lindi.json`` or ``<stem>.nwbzarr.json``).
    peer : str or None
        Peer interpreter.

    Returns
    -------
    tuple of (dict, list of pathlib.Path)
        The task's result (per file ``index_s``, ``json_bytes``, ``chunk_refs`` or
        ``error``) and the output paths.
    """
    suffix = ".lindi.json" if tool == "lindi" else ".nwbzarr.json"
    outs = [refs_dir / (src.stem + suffix) for src in srcs]
    urls = [server.url(str(src.relative_to(server.root))) for src in srcs]
    args = ["index", "--tool", tool, "--src", *map(str, srcs), "--url", *urls]
    result = run([*args, "--out", *map(str, outs)], None if tool == "nwbzarr" else peer)
    return result, outs


def _summarize(runs: list[dict], key: str) -> float | None:
    """Median of ``key`` over the runs' first file (None if no run has it)."""
    values = [r["files"][0][key] for r in runs if r.get("files") and key in r["files"][0]]
    return statistics.median(values) if values else None


def _first_file(runs: list[dict]) -> dict:
    """Merged view of repeated runs of one file: median times, requests/bytes of run 1."""
    files = [r["files"][0] for r in runs if r.get("files")]
    if not files:
        return {"error": next((r["error"] for r in runs if "error" in r), "no result")}
    out = dict(files[0])
    for key in ("open_read_s", "window_s", "index_s"):
        value = _summarize(runs, key)
        if value is not None:
            out[key] = value
    for key in ("open_requests", "window_requests"):
        counts = sorted({f[key] for f in files if key in f})
        if len(counts) > 1:
            out[key + "_range"] = f"{counts[0]}-{counts[-1]}"
    return out


def _cell_requests(entry: dict, key: str) -> str:
    """Request count, or its range over repetitions when they differ."""
    return entry.get(key + "_range") or br.cell(entry, key, "{:d}")


def main(argv: list[str] | None = None) -> None:
    """Parse options, generate or reuse the files, run every tool, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=500.0, help="MB of samples (default 500)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per measurement")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds added per request")
    parser.add_argument("--index-chunks", type=int, default=10_000, help="chunks to index")
    parser.add_argument("--shared", default=str(SHARED), help="directory of real NWB files")
    parser.add_argument("--shared-limit", type=int, help="use only the N largest shared files")
    parser.add_argument("--data-dir", help="cache of generated files (default: see README)")
    parser.add_argument(
        "--quick", action="store_true", help="25 MB, 1 rep, 1000 chunks, no shared files"
    )
    parser.add_argument("--peer-python", help="interpreter of the peer venv (lindi, remfile)")
    parser.add_argument("--json", help="also write the raw results to this JSON file")
    parser.add_argument("--src", help="nwbzarr source tree to measure (default: ./src)")
    args = parser.parse_args(argv)
    if args.src:
        NWBZARR_SRC[0] = Path(args.src).resolve()
    if args.quick:
        args.mb, args.reps, args.index_chunks = 25.0, 1, 1000
        args.shared_limit = 0 if args.shared_limit is None else args.shared_limit
    start = time.perf_counter()
    peer = br.peer_python(args.peer_python)
    data_dir = Path(args.data_dir) if args.data_dir else rf.default_data_dir()
    n = rf.samples_for_mb(args.mb)
    length = min(int(sig.RATE), n)
    t0 = max(0, min(5 * int(sig.RATE), n - length))
    window = (t0, t0 + length)
    rows = (window[1] - 1) // rf.SERIES_CHUNKS[0] - window[0] // rf.SERIES_CHUNKS[0] + 1
    spanned = rows * -(-sig.N_CHANNELS // rf.SERIES_CHUNKS[1])
    series = rf.cached_ephys_nwb(data_dir, n, rf.SERIES_CHUNKS)
    many = rf.cached_ephys_nwb(data_dir, rf.samples_for_chunks(args.index_chunks), rf.INDEX_CHUNKS)
    shared = rf.shared_copies(Path(args.shared), data_dir, args.shared_limit)
    refs_dir = data_dir / "refs"
    refs_dir.mkdir(exist_ok=True)
    expected = hashlib.sha1(
        sig.ephys_block(*window, 0, sig.N_CHANNELS).astype("<i2").tobytes()
    ).hexdigest()
    missing = nwbzarr_api_missing()
    print(
        f"recording {n} x {sig.N_CHANNELS} int16 ({n * sig.N_CHANNELS * 2 / 1e6:.1f} MB of "
        f"samples, file {series.stat().st_size / 1e6:.1f} MB, chunks {rf.SERIES_CHUNKS}); "
        f"window samples [{window[0]}, {window[1]}) x all channels ({spanned} chunks); latency "
        f"{args.latency * 1e3:.0f} ms; {len(shared)} shared files; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peer python: {peer}",
        file=sys.stderr,
    )
    results: dict = {"nwbzarr_api_missing": missing}
    with rf.start_server(data_dir, args.latency) as server:
        results["refs"] = _build_references(server, [series, *shared], refs_dir, peer, missing)
        results["series"] = _read_series(server, series, refs_dir, window, peer, missing, args)
        results["shared"] = _read_shared(server, shared, refs_dir, peer, missing)
        results["index"] = _time_index(server, many, refs_dir, peer, missing, args.reps)
    print(_report(results, expected, args, len(shared)))
    print(f"\n(whole run {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def _build_references(server, srcs, refs_dir, peer, missing) -> dict:
    """LINDI and nwbzarr JSONs of every served file; ``{tool: task result}``."""
    out = {}
    for tool in ("lindi", "nwbzarr"):
        if (tool == "lindi" and peer is None) or (tool == "nwbzarr" and missing):
            continue
        print(f"writing {tool} reference JSONs ...", file=sys.stderr)
        out[tool], _ = make_references(tool, srcs, server, refs_dir, peer)
    return out


def _target_url(server, tool: str, src: Path, refs_dir: Path) -> str:
    if tool.endswith("-json"):
        suffix = ".lindi.json" if tool.startswith("lindi") else ".nwbzarr.json"
        return server.url(str((refs_dir / (src.stem + suffix)).relative_to(server.root)))
    return server.url(str(src.relative_to(server.root)))


def _skip(is_peer: bool, peer: str | None, missing: str | None) -> dict | None:
    if is_peer and peer is None:
        return {"unavailable": "no peer venv"}
    if not is_peer and missing:
        return {"unavailable": f"nwbzarr API not available yet ({missing})"}
    return None


def _read_series(server, series: Path, refs_dir, window, peer, missing, args) -> dict:
    """Open + read() and the 1 s window of the recording, ``args.reps`` times per tool."""
    out = {}
    for tool, _label, is_peer in READ_TOOLS:
        skip = _skip(is_peer, peer, missing)
        if skip:
            out[tool] = skip
            continue
        print(f"{tool}: recording ...", file=sys.stderr)
        url = _target_url(server, tool, series, refs_dir)
        runs = [
            measure_reads(server, tool, [url], window, peer if is_peer else None)
            for _ in range(args.reps)
        ]
        out[tool] = _first_file(runs) | {"versions": runs[0].get("versions")}
    return out


def _read_shared(server, shared: list[Path], refs_dir, peer, missing) -> dict:
    """Open + read() of each shared file, one process per tool (files one after another)."""
    out = {}
    for tool, _label, is_peer in READ_TOOLS:
        skip = _skip(is_peer, peer, missing)
        if skip or not shared:
            out[tool] = skip or {}
            continue
        print(f"{tool}: {len(shared)} shared files ...", file=sys.stderr)
        urls = [_target_url(server, tool, src, refs_dir) for src in shared]
        out[tool] = measure_reads(server, tool, urls, None, peer if is_peer else None)
    return out


def _time_index(server, many: Path, refs_dir, peer, missing, reps: int) -> dict:
    """Index + save time of the many-chunk file per tool (median of ``reps`` processes)."""
    out = {}
    for tool, is_peer in (("lindi", True), ("nwbzarr", False)):
        skip = _skip(is_peer, peer, missing)
        if skip:
            out[tool] = skip
            continue
        print(f"{tool}: indexing {many.name} ...", file=sys.stderr)
        runs = [make_references(tool, [many], server, refs_dir, peer)[0] for _ in range(reps)]
        out[tool] = _first_file(runs)
    return out


def _times(result: dict, key: str) -> str:
    return br.cell(result, key, "{:.3f}")


def _mb(result: dict, key: str) -> str:
    return br.cell(result, key, "{:,}")


def _series_table(series: dict, expected: str) -> str:
    """Markdown table of the recording's reads."""
    rows = []
    for tool, label, _ in READ_TOOLS:
        r = series.get(tool, {})
        if "unavailable" in r:
            rows.append([label, r["unavailable"]] + [""] * 6)
            continue
        data = "n/a"
        if "window_sha1" in r:
            data = "ok" if r["window_sha1"] == expected else "MISMATCH"
        rows.append(
            [label, _times(r, "open_read_s"), _cell_requests(r, "open_requests")]
            + [_mb(r, "open_bytes"), _times(r, "window_s"), _cell_requests(r, "window_requests")]
            + [_mb(r, "window_bytes"), data]
        )
    header = ["tool", "open + read() s", "requests", "bytes", "1 s read s", "requests", "bytes"]
    return br.markdown_table([*header, "data"], rows)


def _shared_table(shared: dict, n_files: int) -> str:
    """Markdown table of open + read() over the shared files (sums and maxima)."""
    rows = []
    for tool, label, _ in READ_TOOLS:
        r = shared.get(tool, {})
        if "unavailable" in r or "error" in r:
            rows.append([label, r.get("unavailable") or r["error"]] + [""] * 4)
            continue
        ok = [f for f in r.get("files", []) if "open_read_s" in f]
        if not ok:
            rows.append([label, f"0/{n_files}", "n/a", "n/a", "n/a", "n/a"])
            continue
        rows.append(
            [
                label,
                f"{len(ok)}/{n_files}",
                f"{sum(f['open_read_s'] for f in ok):.3f}",
                f"{sum(f.get('open_requests', 0) for f in ok):d}",
                f"{max(f.get('open_requests', 0) for f in ok):d}",
                f"{sum(f.get('open_bytes', 0) for f in ok):,}",
            ]
        )
    header = ["tool", "files read", "open + read() s (sum)", "requests (sum)", "max per file"]
    return br.markdown_table([*header, "bytes (sum)"], rows)


def _index_table(index: dict, n_chunks: int) -> str:
    """Markdown table of index creation."""
    rows = []
    for tool, label in (("lindi", "lindi (every chunk)"), ("nwbzarr", "index_hdf5 + save")):
        r = index.get(tool, {})
        if "unavailable" in r or "error" in r:
            rows.append([label, r.get("unavailable") or r["error"], "", "", ""])
            continue
        links = r.get("external_links")
        rows.append(
            [label, _times(r, "index_s"), br.cell(r, "chunk_refs", "{:d}")]
            + [_mb(r, "json_bytes"), "n/a" if links is None else str(links)]
        )
    header = ["tool", f"index + save s ({n_chunks} chunks)", "series chunk refs", "JSON bytes"]
    return br.markdown_table([*header, "external links"], rows)


def _ratio_target(label: str, ours: float | None, theirs: float | None, goal: float) -> list:
    if ours is None or not theirs:
        return [label, "n/a", "n/a (not measured)"]
    speedup = theirs / ours
    return [label, f"{speedup:.2f}x faster", "met" if speedup >= goal else "not met"]


def _targets_table(results: dict) -> str:
    """The issue's targets, met or not, from this run's numbers."""
    series, index = results["series"], results["index"]
    ours = series.get("nwbzarr-json", {})
    rows = []
    req = ours.get("open_requests")
    rows.append(
        ["open + read() from our JSON <= 2 requests"]
        + (["n/a", "n/a (not measured)"] if req is None else [str(req), _met(req <= 2)])
    )
    for tool, label, _ in READ_TOOLS[:3]:
        rows.append(
            _ratio_target(
                f"1 s read (our JSON) >= 3x faster than {label}",
                ours.get("window_s"),
                series.get(tool, {}).get("window_s"),
                3.0,
            )
        )
    rows.append(
        _ratio_target(
            "index >= 2x faster than lindi",
            index.get("nwbzarr", {}).get("index_s"),
            index.get("lindi", {}).get("index_s"),
            2.0,
        )
    )
    return br.markdown_table(["target", "measured", "status"], rows)


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _failures(section: str, tool: str, entries: list[dict], name_key: str) -> list[str]:
    """One note per tool and section: the first failure, and how many more files failed."""
    failed = [e for e in entries if "error" in e]
    if not failed:
        return []
    first = failed[0]
    where = f" {Path(first[name_key]).name}" if name_key in first else ""
    more = f" (and {len(failed) - 1} more files)" if len(failed) > 1 else ""
    return [f"- {section} / {tool}{where}: {first['error']}{more}"]


def _report(results: dict, expected: str, args, n_shared: int) -> str:
    """All tables and notes as markdown."""
    notes = []
    for section in ("series", "shared", "index"):
        for tool, r in results[section].items():
            entries = r.get("files", [r]) if section == "shared" else [r]
            notes += _failures(section, tool, entries, "url")
    for tool, r in results["refs"].items():
        notes += _failures("refs", tool, r.get("files", [r]), "src")
    versions = {
        k: v for r in results["series"].values() for k, v in (r.get("versions") or {}).items()
    }
    parts = [
        "versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
        f"Recording ({args.mb:g} MB of samples), {args.reps} rep(s), medians:\n\n"
        + _series_table(results["series"], expected),
        *(
            [
                f"Shared files ({n_shared}), open + read() only:\n\n"
                + _shared_table(results["shared"], n_shared)
            ]
            if n_shared
            else []
        ),
        "Index creation:\n\n" + _index_table(results["index"], args.index_chunks),
        "Targets:\n\n" + _targets_table(results),
    ]
    return "\n\n".join(parts + (["notes:\n" + "\n".join(notes)] if notes else []))


if __name__ == "__main__":
    main()
