"""Convert a large gzip'd HDF5 NWB file: ``nwbzarr convert`` vs hdmf-zarr 0.13 export.

Usage::

    python benchmarks/convert_big.py [--gb 1] [--workdir DIR] [--keep] [--peer-python PATH]
        [--json OUT.json]

Writes, with pynwb, an HDF5 NWB file holding one int16 ElectricalSeries of ``--gb`` GB
(10**9 bytes) of samples (384 channels at 30 kHz, the signal of ``ephys_signal.py``; chunks
16384 x 64, gzip 4 + shuffle), then times, each in its own process:

- ``nwbzarr convert SRC DST --quiet`` (the CLI, as a child process of the task; peak RSS is
  the child's),
- hdmf-zarr 0.13 ``NWBZarrIO(dst, "w").export(src_io=NWBHDF5IO(src, "r"),
  write_args=dict(link_data=False))`` in the peer venv.

Each output is read back by its own tool and compared with the generated samples (SHA-1).
Ratios are nwbzarr / hdmf-zarr from this run (below 1 is better).
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

RATIO_KEYS = [
    ("convert s", "convert_s"),
    ("stored bytes", "stored_bytes"),
    ("files", "files"),
    ("peak RSS", "convert_rss_mb"),
]


def data_check(result: dict, expected: dict) -> str:
    """``ok`` if the read-back digests match the generated samples."""
    if "scan_sha1" not in result:
        return "n/a"
    same = all(result[k] == expected[k] for k in ("scan_sha1", "slices_sha1"))
    return "ok" if same else "MISMATCH"


def convert_one(tool: str, src: Path, work: Path, n: int, peer: str | None) -> dict:
    """Convert ``src`` with one tool, then read the output back with the same tool."""
    dst = work / f"{tool}.nwb.zarr"
    br.remove(dst)
    if tool == "nwbzarr":
        result = br.run_task(["convert-cli", "--src", str(src), "--dst", str(dst)])
        runner = None
    elif peer is None:
        return {"tool": tool}
    else:
        result = br.run_task(["export", "--src", str(src), "--dst", str(dst)], peer)
        runner = peer
    if "convert_s" in result:
        read = br.run_task(["read", "--tool", tool, "--samples", str(n), "--out", str(dst)], runner)
        result |= {k: read[k] for k in ("scan_sha1", "slices_sha1", "error") if k in read}
    return {"tool": tool, **result}


def report(results: dict[str, dict], expected: dict, raw_bytes: int, src_bytes: int) -> str:
    """The conversion table and the ratio row as markdown."""
    rows = []
    for tool, r in results.items():
        speed = dict(r, mbps=raw_bytes / 1e6 / r["convert_s"]) if "convert_s" in r else r
        rows.append(
            [
                tool,
                br.cell(r, "convert_s"),
                br.cell(speed, "mbps", "{:.1f}"),
                br.cell(r, "stored_bytes", "{:,}"),
                br.cell(r, "files", "{:d}"),
                br.cell(r, "convert_rss_mb", "{:.0f}"),
                data_check(r, expected),
            ]
        )
    ours, theirs = results["nwbzarr"], results["hdmf-zarr"]
    ratios = [[label, br.ratio(ours, theirs, key)] for label, key in RATIO_KEYS]
    notes = [f"- {t}: {r['error']}" for t, r in results.items() if "error" in r]
    return "\n\n".join(
        [
            br.markdown_table(
                ["tool", "convert s", "MB/s", "stored bytes", "files", "peak RSS MB", "data"],
                rows,
            ),
            br.markdown_table(["nwbzarr / hdmf-zarr", "ratio"], ratios)
            + "\n\nnwbzarr stored bytes / HDF5 source bytes: "
            + br.ratio(ours, {"stored_bytes": src_bytes}, "stored_bytes"),
        ]
        + (["notes:\n" + "\n".join(notes)] if notes else [])
    )


def main(argv: list[str] | None = None) -> None:
    """Parse options, build the source file, run both converters, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="samples to write, in GB")
    br.add_common_options(parser)
    args = parser.parse_args(argv)
    peer = br.peer_python(args.peer_python)
    n = max(1, round(args.gb * 1e9 / (sig.N_CHANNELS * 2)))
    raw_bytes = n * sig.N_CHANNELS * 2
    print(
        f"source: {n} x {sig.N_CHANNELS} int16 ({raw_bytes / 1e6:.1f} MB), load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peer python: "
        f"{peer or 'missing (peer column n/a)'}",
        file=sys.stderr,
    )
    with br.WorkDir(args.workdir, args.keep) as work:
        raw, src = work / "signal.i16", work / "source.nwb"
        br.remove(src)
        for task in (
            ["generate", "--raw", str(raw), "--samples", str(n)],
            ["write", "--tool", "hdf5-gzip-shuffle", "--raw", str(raw)]
            + ["--samples", str(n), "--out", str(src)],
        ):
            done = br.run_task(task)
            if "error" in done:
                sys.exit(f"building the source file failed ({task[0]}): {done['error']}")
        expected = sig.expected_digests(str(raw), n, sig.random_slices(n))
        if not args.keep:
            raw.unlink()
        src_bytes = src.stat().st_size
        print(f"source file: {src_bytes:,} bytes", file=sys.stderr)
        results = {}
        for tool in ("hdmf-zarr", "nwbzarr"):
            print(f"{tool} ...", file=sys.stderr)
            results[tool] = convert_one(tool, src, work, n, peer)
            if not args.keep:
                br.remove(work / f"{tool}.nwb.zarr")
    print(f"source: HDF5 gzip 4 + shuffle, {src_bytes:,} bytes, {raw_bytes:,} bytes of samples")
    print(report(results, expected, raw_bytes, src_bytes))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
