"""Write and read one int16 ElectricalSeries (384 ch x 30 kHz) with nwbzarr and its peers.

Usage::

    python benchmarks/ephys_write_read.py [--seconds 20] [--rounds 3] [--tools T ...]
        [--workdir DIR] [--keep] [--peer-python PATH] [--peer314-python PATH]
        [--json OUT.json]

Default 20 s = 460.8 MB of samples. Tools: pynwb ``NWBHDF5IO`` raw (chunked, no filter) and
gzip 4, hdmf-zarr 0.13 ``NWBZarrIO`` default and ``number_of_jobs=2`` (peer venv, Zarr v2),
hdmf-zarr 0.14 default and ``number_of_jobs=2`` (Python 3.13 peer venv, Zarr v3), nwbzarr
``NWBZarrIO`` default and ``number_of_jobs=2``. Each write, each read (open + ``read()``,
full scan, 100 windows) and each single-channel read (``data[:, 191]``) runs in its own
process, which reports wall seconds, CPU seconds (user + system, worker processes included)
and its peak RSS. ``--rounds`` rounds run every tool in turn, the order rotated by one tool
per round; the tables show medians. Every tool reads back the exact bytes generated (SHA-1
of the scan, the windows and the trace against the raw file), else the row says MISMATCH.
Prints markdown tables, ratios (nwbzarr / peer, below 1 is better) and the issue's targets.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner as br  # noqa: E402
import ephys_signal as sig  # noqa: E402

TOOLS = [  # (tool, interpreter: "local", "peer" = hdmf-zarr 0.13, "peer314" = 0.14)
    ("hdf5-raw", "local"),
    ("hdf5-gzip", "local"),
    ("hdmf-zarr", "peer"),
    ("hdmf-zarr-j2", "peer"),
    ("hdmf-zarr-0.14", "peer314"),
    ("hdmf-zarr-0.14-j2", "peer314"),
    ("nwbzarr", "local"),
    ("nwbzarr-j2", "local"),
]
PEERS = ("hdmf-zarr", "hdmf-zarr-0.14", "hdf5-gzip", "hdf5-raw")
PEER_LABELS = ("hdmf-zarr 0.13", "hdmf-zarr 0.14", "HDF5 gzip 4", "HDF5 raw")
RATIO_KEYS = [
    ("write s", "write_s"),
    ("write CPU-s", "write_cpu_s"),
    ("stored bytes", "stored_bytes"),
    ("files", "files"),
    ("write peak RSS", "write_rss_mb"),
    ("open + read() CPU-s", "open_read_cpu_s"),
    ("full scan s", "scan_s"),
    ("full scan CPU-s", "scan_cpu_s"),
    ("100 windows s", "slices_s"),
    ("100 windows CPU-s", "slices_cpu_s"),
    ("read peak RSS", "read_rss_mb"),
    ("one channel CPU-s", "channel_cpu_s"),
    ("one channel peak RSS", "channel_rss_mb"),
]
TODAY = {"bytes_vs_013": 0.90, "bytes_vs_014": 0.79, "files": 89}
"""The issue's figures for stored bytes and files at 460.8 MB ("keep them")."""


def measure(tool: str, work: Path, raw: Path, n: int, runner: str | None) -> dict:
    """Write, read, then read one channel with one tool (three processes); the merged
    results (``error`` / ``unsupported`` kept). ``runner``: the peer interpreter, or None
    for this one."""
    out = work / (f"{tool}.nwb" if tool.startswith("hdf5") else f"{tool}.nwb.zarr")
    br.remove(out)
    common = ["--tool", tool, "--out", str(out)]
    result = br.run_task(["write", *common, "--samples", str(n), "--raw", str(raw)], runner)
    if "write_s" in result:
        read = br.run_task(["read", *common, "--samples", str(n)], runner)
        result |= read
        if "error" not in read:
            result |= br.run_task(["channel", *common, "--channel", str(sig.TRACE_CHANNEL)], runner)
    br.remove(out)
    return {"tool": tool, **result}


def check(result: dict, expected: dict) -> str:
    """``ok`` if every digest matches the raw file, ``MISMATCH`` if not, ``n/a`` if unread."""
    keys = [k for k in ("scan_sha1", "slices_sha1", "channel_sha1") if k in result]
    if not keys:
        return "n/a"
    return "ok" if all(result[k] == expected[k] for k in keys) else "MISMATCH"


def rss_cell(result: dict) -> str:
    """Peak RSS of the writing process, plus the largest worker's if it started any."""
    text = br.cell(result, "write_rss_mb", "{:.0f}")
    workers = result.get("write_workers_rss_mb")
    return f"{text} (workers {workers:.0f})" if workers else text


def targets(results: dict[str, dict]) -> list[list[str]]:
    """The issue's targets as ``[target, measured, met?]`` rows (nwbzarr default settings)."""
    ours = results.get("nwbzarr", {})

    def get(tool: str, key: str) -> float | None:
        return results.get(tool, {}).get(key)

    rows = [
        br.target_row(
            "write CPU-s <= 0.5x hdmf-zarr 0.13",
            get("nwbzarr", "write_cpu_s"),
            get("hdmf-zarr", "write_cpu_s"),
            0.5,
        ),
        br.target_row(
            "write CPU-s <= 0.5x hdmf-zarr 0.14",
            get("nwbzarr", "write_cpu_s"),
            get("hdmf-zarr-0.14", "write_cpu_s"),
            0.5,
        ),
        br.target_row(
            "write wall s <= 1.0x HDF5 raw",
            get("nwbzarr", "write_s"),
            get("hdf5-raw", "write_s"),
            1.0,
        ),
        br.target_row(
            "write peak RSS <= 1.2x hdmf-zarr 0.13",
            get("nwbzarr", "write_rss_mb"),
            get("hdmf-zarr", "write_rss_mb"),
            1.2,
        ),
        br.target_row(
            "full scan CPU-s <= 1.0x HDF5 raw",
            get("nwbzarr", "scan_cpu_s"),
            get("hdf5-raw", "scan_cpu_s"),
            1.0,
        ),
        br.target_row(
            "100 windows CPU-s <= 0.5x HDF5 raw",
            get("nwbzarr", "slices_cpu_s"),
            get("hdf5-raw", "slices_cpu_s"),
            0.5,
        ),
        br.target_row(
            f"stored bytes <= {TODAY['bytes_vs_013']:.2f}x hdmf-zarr 0.13 (today's)",
            get("nwbzarr", "stored_bytes"),
            get("hdmf-zarr", "stored_bytes"),
            TODAY["bytes_vs_013"],
        ),
        br.target_row(
            f"stored bytes <= {TODAY['bytes_vs_014']:.2f}x hdmf-zarr 0.14 (today's)",
            get("nwbzarr", "stored_bytes"),
            get("hdmf-zarr-0.14", "stored_bytes"),
            TODAY["bytes_vs_014"],
        ),
    ]
    files = ours.get("files")
    rows.append(
        [
            f"files <= {TODAY['files']} (today's, 460.8 MB)",
            "n/a" if files is None else f"{files:.0f}",
            "n/a" if files is None else ("met" if files <= TODAY["files"] else "NOT met"),
        ]
    )
    return rows


def report(results: dict[str, dict], expected: dict, raw_bytes: int) -> str:
    """The write, read, ratio and target tables as markdown."""
    mb = 1e6
    write_rows, read_rows = [], []
    for name, r in results.items():
        tool = f"{name} (unsupported)" if "unsupported" in r else name
        speed = dict(r, mbps=raw_bytes / mb / r["write_s"]) if "write_s" in r else r
        write_rows.append(
            [
                tool,
                br.cell(r, "write_s"),
                br.cell(r, "write_cpu_s"),
                br.cell(speed, "mbps", "{:.1f}"),
                br.cell(r, "stored_bytes", "{:,.0f}"),
                br.cell(r, "files", "{:.0f}"),
                rss_cell(r),
            ]
        )
        read_rows.append(
            [
                tool,
                br.cell(r, "open_read_s", "{:.3f}"),
                br.cell(r, "open_read_cpu_s", "{:.3f}"),
                br.cell(r, "scan_s"),
                br.cell(r, "scan_cpu_s"),
                br.cell(r, "slices_s", "{:.3f}"),
                br.cell(r, "slices_cpu_s", "{:.3f}"),
                br.cell(r, "read_rss_mb", "{:.0f}"),
                br.cell(r, "channel_s", "{:.3f}"),
                br.cell(r, "channel_cpu_s", "{:.3f}"),
                br.cell(r, "channel_rss_mb", "{:.0f}"),
                check(r, expected),
            ]
        )
    ours = results.get("nwbzarr", {})
    ratio_rows = [
        [label] + [br.ratio(ours, results.get(p, {}), key) for p in PEERS]
        for label, key in RATIO_KEYS
    ]
    for key, label in (("write_s", "write s"), ("write_cpu_s", "write CPU-s")):
        ratio_rows.append(
            [f"{label} (number_of_jobs=2)"]
            + [
                br.ratio(results.get("nwbzarr-j2", {}), results.get(f"{p}-j2", {}), key)
                for p in PEERS[:2]
            ]
            + ["", ""]
        )
    errors = [f"- {t}: {r['error']}" for t, r in results.items() if "error" in r]
    errors += [f"- {t}: {r['unsupported']}" for t, r in results.items() if "unsupported" in r]
    errors += [f"- {t}: not run ({r['skipped']})" for t, r in results.items() if "skipped" in r]
    return "\n\n".join(
        [
            br.markdown_table(
                ["tool", "write s", "write CPU-s", "MB/s", "stored bytes", "files", "peak RSS MB"],
                write_rows,
            ),
            br.markdown_table(
                [
                    "tool",
                    "open + read() s",
                    "CPU-s",
                    "full scan s",
                    "CPU-s",
                    "100 windows s",
                    "CPU-s",
                    "peak RSS MB",
                    f"channel {sig.TRACE_CHANNEL} s",
                    "CPU-s",
                    "peak RSS MB",
                    "data",
                ],
                read_rows,
            ),
            br.markdown_table(["nwbzarr / ...", *PEER_LABELS], ratio_rows),
            br.markdown_table(["target", "measured", "met?"], targets(results)),
        ]
        + (["notes:\n" + "\n".join(errors)] if errors else [])
    )


def main(argv: list[str] | None = None) -> None:
    """Parse options, run every tool for every round, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="recording length (s)")
    parser.add_argument(
        "--tools",
        nargs="+",
        choices=[t for t, _ in TOOLS],
        default=[t for t, _ in TOOLS],
        help="tools to run (default all)",
    )
    br.add_rounds_option(parser)
    br.add_peer314_option(parser)
    br.add_common_options(parser)
    args = parser.parse_args(argv)
    runners = {
        "local": None,
        "peer": br.peer_python(args.peer_python),
        "peer314": br.peer314_python(args.peer314_python),
    }
    n = sig.n_samples_for(args.seconds)
    raw_bytes = n * sig.N_CHANNELS * 2
    print(
        f"ElectricalSeries {n} x {sig.N_CHANNELS} int16 ({raw_bytes / 1e6:.1f} MB), "
        f"chunks {sig.CHUNK_SHAPE}, {args.rounds} rounds, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; hdmf-zarr 0.13 python: "
        f"{runners['peer'] or 'missing'}; hdmf-zarr 0.14 python: {runners['peer314'] or 'missing'}",
        file=sys.stderr,
    )
    selected = [(t, kind) for t, kind in TOOLS if t in args.tools]
    runnable = [(t, kind) for t, kind in selected if kind == "local" or runners[kind]]
    rounds: dict[str, list[dict]] = {t: [] for t, _ in selected}
    with br.WorkDir(args.workdir, args.keep) as work:
        raw = work / "signal.i16"
        gen = br.run_task(["generate", "--raw", str(raw), "--samples", str(n)])
        if "error" in gen:
            sys.exit(f"generating the signal failed: {gen['error']}")
        expected = sig.expected_digests(str(raw), n, sig.random_slices(n), sig.TRACE_CHANNEL)
        for r in range(args.rounds):
            for tool, kind in br.rotated(runnable, r):
                print(f"round {r + 1}/{args.rounds}: {tool} ...", file=sys.stderr)
                rounds[tool].append(measure(tool, work, raw, n, runners[kind]))
    results = {}
    for tool, kind in selected:
        if rounds[tool]:
            results[tool] = br.median_result(rounds[tool])
        else:
            missing = "hdmf-zarr 0.13" if kind == "peer" else "hdmf-zarr 0.14"
            results[tool] = {"tool": tool, "skipped": f"no {missing} interpreter"}
    for tool in ("hdmf-zarr", "hdmf-zarr-0.14"):
        versions = results.get(tool, {}).get("versions")
        if versions:
            print(f"{tool} venv: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(report(results, expected, raw_bytes))
    if args.json:
        Path(args.json).write_text(json.dumps({"medians": results, "rounds": rounds}, indent=1))


if __name__ == "__main__":
    main()
