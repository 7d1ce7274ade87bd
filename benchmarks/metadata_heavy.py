"""Metadata-heavy NWB files: write, read, virtual open and index, nwbzarr against its peers.

Usage::

    python benchmarks/metadata_heavy.py [--n 1000 2000] [--trials 5000] [--rounds 3]
        [--tools hdf5 nwbzarr hdmf-zarr] [--no-index] [--workdir DIR] [--keep]
        [--peer-python PATH] [--json OUT.json]

Each file holds ``N`` small ``TimeSeries`` (100 float64 samples, half with a sampling rate and
half with timestamps, a description, a comment and a unit) over 10 processing modules and a
trials table of ``--trials`` rows (built by :mod:`metadata_files`, plain pynwb). Every
measurement is its own process (``peers/metadata_tasks.py``) reporting wall seconds, CPU
seconds (user + system) and its peak RSS; ``--rounds`` rounds run the tools in rotated
order and the tables show medians:

- write: build the NWBFile (untimed), open a new file, ``write``, close: pynwb
  ``NWBHDF5IO``, nwbzarr ``NWBZarrIO``, hdmf-zarr 0.13 (peer venv);
- read: open, ``read()``, ``data[0]`` of every series, the trials' start times, close;
- open the HDF5 file as it is: ``NWBHDF5IO``, nwbzarr's virtual open ``NWBZarrIO(path.nwb)``
  and LINDI ``from_hdf5_file`` (peer venv), same reads as above;
- index the HDF5 file into a reference JSON: ``nwbzarr index`` (the CLI, whole process),
  nwbzarr ``index_hdf5`` + ``save_references`` (in the task process, like the peers), LINDI
  0.4 and kerchunk (peer venv).

Prints the tables and the issue's targets (target / measured / met?). Public APIs only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner as br  # noqa: E402

TASKS = br.BENCH_DIR / "peers" / "metadata_tasks.py"
WRITE_TOOLS = [("hdf5", "local"), ("nwbzarr", "local"), ("hdmf-zarr", "peer")]
OPEN_TOOLS = [("hdf5", "local", "NWBHDF5IO"), ("nwbzarr", "local", "nwbzarr NWBZarrIO(.nwb)")]
OPEN_TOOLS += [("lindi", "peer", "lindi from_hdf5_file")]
INDEX_TOOLS = [
    ("nwbzarr-cli", "local", "nwbzarr index (CLI process)"),
    ("nwbzarr", "local", "nwbzarr index_hdf5 + save_references"),
    ("lindi", "peer", "lindi 0.4 (every chunk referenced)"),
    ("kerchunk", "peer", "kerchunk SingleHdf5ToZarr"),
]


def task(args: list[str], runner: str | None) -> dict:
    """Run ``peers/metadata_tasks.py`` with ``args`` in a fresh process (this interpreter
    with the checkout's ``src`` when ``runner`` is None, else the peer venv's)."""
    return br.run_task(args, runner, script=TASKS)


def store_path(work: Path, io: str, n: int) -> Path:
    """Output path of ``io``'s file for ``n`` series."""
    return work / (f"{io}_{n}.nwb" if io == "hdf5" else f"{io}_{n}.nwb.zarr")


def write_read(
    io: str, n: int, trials: int, work: Path, runner: str | None, keep: bool = False
) -> dict:
    """Write then read one file with ``io`` (two processes); the output is deleted unless
    ``keep``."""
    out = store_path(work, io, n)
    br.remove(out)
    result = task(
        ["write", "--io", io, "--n", str(n), "--trials", str(trials), "--out", str(out)], runner
    )
    if "error" not in result:
        result |= task(["read", "--io", io, "--n", str(n), "--out", str(out)], runner)
    if not keep:
        br.remove(out)
    return result


def open_or_index(kind: str, tool: str, n: int, src: Path, work: Path, runner: str | None) -> dict:
    """One virtual-open (``kind="open"``) or index (``"index"``) task on the HDF5 file."""
    if kind == "open":
        return task(["read", "--io", tool, "--n", str(n), "--out", str(src)], runner)
    out = work / (f"{tool}_{n}.lindi.json" if tool == "lindi" else f"{tool}_{n}.json")
    result = task(["index", "--tool", tool, "--src", str(src), "--out", str(out)], runner)
    br.remove(out)
    return result


def run_n(n: int, args: argparse.Namespace, work: Path, runners: dict) -> dict:
    """All rounds for one N: ``{"write": {tool: median}, "open": {...}, "index": {...}}``."""
    jobs = [("write", t, k) for t, k in WRITE_TOOLS if t in args.tools]
    src = work / f"source_{n}.nwb"
    if not args.no_index:
        made = task(
            [
                "write",
                "--io",
                "hdf5",
                "--n",
                str(n),
                "--trials",
                str(args.trials),
                "--out",
                str(src),
            ],
            None,
        )
        if "error" in made:
            sys.exit(f"writing the HDF5 source failed: {made['error']}")
        jobs += [("open", t, k) for t, k, _ in OPEN_TOOLS]
        jobs += [("index", t, k) for t, k, _ in INDEX_TOOLS]
    runs: dict[tuple[str, str], list[dict]] = {(kind, t): [] for kind, t, _ in jobs}
    todo = [j for j in jobs if j[2] == "local" or runners[j[2]]]
    for r in range(args.rounds):
        for kind, tool, runner_kind in br.rotated(todo, r):
            print(f"N={n} round {r + 1}/{args.rounds}: {kind} {tool} ...", file=sys.stderr)
            runner = runners[runner_kind]
            if kind == "write":
                result = write_read(tool, n, args.trials, work, runner, args.keep)
            else:
                result = open_or_index(kind, tool, n, src, work, runner)
            runs[(kind, tool)].append(result)
    if not args.keep:
        br.remove(src)
    out: dict = {"write": {}, "open": {}, "index": {}}
    for (kind, tool), results in runs.items():
        out[kind][tool] = br.median_result(results) if results else {"skipped": "no peer venv"}
    return out


def _row(label: str, r: dict, keys: list[tuple[str, str]]) -> list[str]:
    return [label] + [br.cell(r, key, fmt) for key, fmt in keys]


def report(results: dict[int, dict]) -> str:
    """Markdown tables of every N, then the targets."""
    tables, target_rows, notes = [], [], []
    for n, res in results.items():
        w, o, x = res["write"], res["open"], res["index"]
        hdf5, peer = w.get("hdf5", {}), w.get("hdmf-zarr", {})
        rows = []
        for tool, r in w.items():
            rows.append(
                [str(n)]
                + _row(
                    tool,
                    r,
                    [
                        ("write_s", "{:.2f}"),
                        ("write_cpu_s", "{:.2f}"),
                        ("write_rss_mb", "{:.0f}"),
                        ("stored_bytes", "{:,.0f}"),
                        ("files", "{:.0f}"),
                        ("read_s", "{:.2f}"),
                        ("read_cpu_s", "{:.2f}"),
                        ("read_rss_mb", "{:.0f}"),
                    ],
                )
                + [
                    br.ratio(r, hdf5, "write_cpu_s"),
                    br.ratio(r, hdf5, "read_cpu_s"),
                    br.ratio(r, peer, "write_cpu_s"),
                    br.ratio(r, peer, "read_cpu_s"),
                ]
            )
        tables.append(
            br.markdown_table(
                [
                    "N",
                    "tool",
                    "write s",
                    "write CPU-s",
                    "write RSS MB",
                    "stored bytes",
                    "files",
                    "read s",
                    "read CPU-s",
                    "read RSS MB",
                    "write CPU / HDF5",
                    "read CPU / HDF5",
                    "write CPU / hdmf-zarr",
                    "read CPU / hdmf-zarr",
                ],
                rows,
            )
        )
        if o:
            rows = [
                [str(n)]
                + _row(
                    label,
                    o.get(tool, {}),
                    [("read_s", "{:.2f}"), ("read_cpu_s", "{:.2f}"), ("read_rss_mb", "{:.0f}")],
                )
                + [br.ratio(o.get(tool, {}), o.get("hdf5", {}), "read_cpu_s")]
                for tool, _, label in OPEN_TOOLS
            ]
            tables.append(
                br.markdown_table(
                    [
                        "N",
                        "open the .nwb",
                        "open + read() s",
                        "CPU-s",
                        "peak RSS MB",
                        "CPU / NWBHDF5IO",
                    ],
                    rows,
                )
            )
        if x:
            rows = [
                [str(n)]
                + _row(
                    label,
                    x.get(tool, {}),
                    [
                        ("index_s", "{:.2f}"),
                        ("index_cpu_s", "{:.2f}"),
                        ("index_rss_mb", "{:.0f}"),
                        ("json_bytes", "{:,.0f}"),
                    ],
                )
                + [br.ratio(x.get(tool, {}), x.get("lindi", {}), "index_rss_mb")]
                for tool, _, label in INDEX_TOOLS
            ]
            tables.append(
                br.markdown_table(
                    ["N", "index", "index s", "CPU-s", "peak RSS MB", "JSON bytes", "RSS / lindi"],
                    rows,
                )
            )
        ours = w.get("nwbzarr", {})
        target_rows += [
            br.target_row(
                f"N={n}: write CPU-s <= 0.8x HDF5",
                ours.get("write_cpu_s"),
                hdf5.get("write_cpu_s"),
                0.8,
            ),
            br.target_row(
                f"N={n}: read CPU-s <= 0.5x HDF5",
                ours.get("read_cpu_s"),
                hdf5.get("read_cpu_s"),
                0.5,
            ),
        ]
        if o:
            h5open = o.get("hdf5", {}).get("read_cpu_s")
            target_rows += [
                br.target_row(
                    f"N={n}: virtual open + read() CPU-s <= 1.0x NWBHDF5IO",
                    o.get("nwbzarr", {}).get("read_cpu_s"),
                    h5open,
                    1.0,
                ),
                br.target_row(
                    f"N={n}: virtual open peak RSS <= 1.0x lindi's",
                    o.get("nwbzarr", {}).get("read_rss_mb"),
                    o.get("lindi", {}).get("read_rss_mb"),
                    1.0,
                ),
                br.target_row(
                    f"N={n}: index CPU-s (API) <= 1.0x NWBHDF5IO open + read()",
                    x.get("nwbzarr", {}).get("index_cpu_s"),
                    h5open,
                    1.0,
                ),
                br.target_row(
                    f"N={n}: `nwbzarr index` peak RSS <= 1.0x lindi's",
                    x.get("nwbzarr-cli", {}).get("index_rss_mb"),
                    x.get("lindi", {}).get("index_rss_mb"),
                    1.0,
                ),
            ]
        for kind in ("write", "open", "index"):
            for tool, r in res[kind].items():
                for key in ("error", "skipped"):
                    if key in r:
                        notes.append(f"- N={n} {kind} {tool}: {r[key]}")
    parts = tables + [br.markdown_table(["target", "measured", "met?"], target_rows)]
    if notes:
        parts.append("notes:\n" + "\n".join(notes))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Parse options, run every N, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 2000], help="series per file")
    parser.add_argument("--trials", type=int, default=5000, help="rows of the trials table")
    parser.add_argument(
        "--tools",
        nargs="+",
        default=[t for t, _ in WRITE_TOOLS],
        choices=[t for t, _ in WRITE_TOOLS],
        help="writers to compare (default all)",
    )
    parser.add_argument(
        "--no-index", action="store_true", help="skip the virtual-open and index measurements"
    )
    br.add_rounds_option(parser)
    br.add_common_options(parser)
    args = parser.parse_args(argv)
    runners = {"local": None, "peer": br.peer_python(args.peer_python)}
    print(
        f"metadata-heavy: N = {args.n}, {args.trials} trials, {args.rounds} rounds, load "
        f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; peer python: "
        f"{runners['peer'] or 'missing (hdmf-zarr, lindi and kerchunk rows n/a)'}",
        file=sys.stderr,
    )
    with br.WorkDir(args.workdir, args.keep) as work:
        results = {n: run_n(n, args, work, runners) for n in args.n}
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps({str(n): r for n, r in results.items()}, indent=1))


if __name__ == "__main__":
    main()
