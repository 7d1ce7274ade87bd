"""Write and read one int16 ElectricalSeries (384 ch x 30 kHz) with nwbzarr and its peers.

Usage::

    python benchmarks/ephys_write_read.py [--seconds 20] [--workdir DIR] [--keep]
        [--peer-python PATH] [--json OUT.json]

Default 20 s = 460.8 MB of samples. Tools: pynwb ``NWBHDF5IO`` raw (chunked, no filter) and
gzip 4, hdmf-zarr 0.13 ``NWBZarrIO`` default and ``number_of_jobs=2`` (peer venv), nwbzarr
``NWBZarrIO`` default and ``number_of_jobs=2``. Each write and each read runs in its own
process (peak RSS per task). Every tool reads back the exact bytes generated (SHA-1 of the
scan and of the 100 windows against the raw file), else the row says MISMATCH. Prints
markdown tables; ratios are nwbzarr / peer measured in this run (below 1 is better for
times, bytes, files and RSS).
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

TOOLS = [
    ("hdf5-raw", False),
    ("hdf5-gzip", False),
    ("hdmf-zarr", True),
    ("hdmf-zarr-j2", True),
    ("nwbzarr", False),
    ("nwbzarr-j2", False),
]
RATIO_KEYS = [
    ("write s", "write_s"),
    ("stored bytes", "stored_bytes"),
    ("files", "files"),
    ("write peak RSS", "write_rss_mb"),
    ("open + read() s", "open_read_s"),
    ("full scan s", "scan_s"),
    ("100 windows s", "slices_s"),
    ("read peak RSS", "read_rss_mb"),
]


def measure(tool: str, is_peer: bool, work: Path, raw: Path, n: int, peer: str | None) -> dict:
    """Write then read with one tool; the merged results (``error`` / ``unsupported`` kept)."""
    if is_peer and peer is None:
        return {"tool": tool}
    out = work / (f"{tool}.nwb" if tool.startswith("hdf5") else f"{tool}.nwb.zarr")
    br.remove(out)
    common = ["--tool", tool, "--samples", str(n), "--out", str(out)]
    runner = peer if is_peer else None
    result = br.run_task(["write", *common, "--raw", str(raw)], runner)
    if "write_s" in result:
        result |= br.run_task(["read", *common], runner)
    return {"tool": tool, **result}


def check(result: dict, expected: dict) -> str:
    """``ok`` if both digests match the raw file, ``MISMATCH`` if not, ``n/a`` if unread."""
    if "scan_sha1" not in result:
        return "n/a"
    same = all(result[k] == expected[k] for k in ("scan_sha1", "slices_sha1"))
    return "ok" if same else "MISMATCH"


def rss_cell(result: dict) -> str:
    """Peak RSS of the writing process, plus the largest worker's if it started any."""
    text = br.cell(result, "write_rss_mb", "{:.0f}")
    workers = result.get("write_workers_rss_mb")
    return f"{text} (workers {workers:.0f})" if workers else text


def report(results: dict[str, dict], expected: dict, raw_bytes: int) -> str:
    """The write, read and ratio tables as markdown."""
    mb = 1e6
    write_rows, read_rows = [], []
    for name, r in results.items():
        tool = f"{name} (unsupported)" if "unsupported" in r else name
        speed = dict(r, mbps=raw_bytes / mb / r["write_s"]) if "write_s" in r else r
        write_rows.append(
            [
                tool,
                br.cell(r, "write_s"),
                br.cell(speed, "mbps", "{:.1f}"),
                br.cell(r, "stored_bytes", "{:,}"),
                br.cell(r, "files", "{:d}"),
                rss_cell(r),
            ]
        )
        read_rows.append(
            [
                tool,
                br.cell(r, "open_read_s", "{:.3f}"),
                br.cell(r, "scan_s"),
                br.cell(r, "slices_s", "{:.3f}"),
                br.cell(r, "read_rss_mb", "{:.0f}"),
                check(r, expected),
            ]
        )
    ours = results["nwbzarr"]
    ratio_rows = [
        [label] + [br.ratio(ours, results[p], key) for p in ("hdmf-zarr", "hdf5-gzip", "hdf5-raw")]
        for label, key in RATIO_KEYS
    ]
    ratio_rows.append(
        [
            "write s (number_of_jobs=2)",
            br.ratio(results["nwbzarr-j2"], results["hdmf-zarr-j2"], "write_s"),
            "",
            "",
        ]
    )
    errors = [f"- {t}: {r['error']}" for t, r in results.items() if "error" in r]
    errors += [f"- {t}: {r['unsupported']}" for t, r in results.items() if "unsupported" in r]
    return "\n\n".join(
        [
            br.markdown_table(
                ["tool", "write s", "MB/s", "stored bytes", "files", "peak RSS MB"], write_rows
            ),
            br.markdown_table(
                ["tool", "open + read() s", "full scan s", "100 windows s", "peak RSS MB", "data"],
                read_rows,
            ),
            br.markdown_table(
                ["nwbzarr / ...", "hdmf-zarr", "HDF5 gzip 4", "HDF5 raw"], ratio_rows
            ),
        ]
        + (["notes:\n" + "\n".join(errors)] if errors else [])
    )


def main(argv: list[str] | None = None) -> None:
    """Parse options, run every tool, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="recording length (s)")
    br.add_common_options(parser)
    args = parser.parse_args(argv)
    peer = br.peer_python(args.peer_python)
    n = sig.n_samples_for(args.seconds)
    raw_bytes = n * sig.N_CHANNELS * 2
    print(
        f"ElectricalSeries {n} x {sig.N_CHANNELS} int16 ({raw_bytes / 1e6:.1f} MB), "
        f"chunks {sig.CHUNK_SHAPE}, load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores; peer python: {peer or 'missing (peer columns n/a)'}",
        file=sys.stderr,
    )
    with br.WorkDir(args.workdir, args.keep) as work:
        raw = work / "signal.i16"
        gen = br.run_task(["generate", "--raw", str(raw), "--samples", str(n)])
        if "error" in gen:
            sys.exit(f"generating the signal failed: {gen['error']}")
        expected = sig.expected_digests(str(raw), n, sig.random_slices(n))
        results = {}
        for tool, is_peer in TOOLS:
            print(f"{tool} ...", file=sys.stderr)
            results[tool] = measure(tool, is_peer, work, raw, n, peer)
            if not args.keep:
                for p in work.glob(f"{tool}.nwb*"):
                    br.remove(p)
    versions = next((r["versions"] for r in results.values() if "versions" in r), None)
    if versions:
        print("peer venv: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(report(results, expected, raw_bytes))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
