"""GB-scale run: ephys, two-photon imaging and a metadata-heavy file, written, converted, read.

Usage::

    python benchmarks/gb_scale.py [--gb 2] [--flat-gb 0.5] [--n 2000] [--trials 5000]
        [--parts ephys imaging metadata flatness] [--rounds 1] [--workdir DIR] [--keep]
        [--peer-python PATH] [--json OUT.json]
    python benchmarks/gb_scale.py --gb 0.05 --flat-gb 0.02 --n 50 --trials 100   # < 3 min

Parts (each measurement its own process: wall s, CPU-s = user + system with waited-for
children, peak RSS; bytes and files from ``os.walk``):

- ``ephys``: ``--gb`` GB of int16 samples, 384 channels (``ephys_signal.py``). Written by
  nwbzarr (default settings) and pynwb HDF5 raw; an HDF5 gzip 4 file written by pynwb is
  converted by ``nwbzarr convert SRC DST --quiet`` and by hdmf-zarr 0.13 ``export`` (peer
  venv). Every output (and the gzip source, read by h5py: the same chunks our converted
  store holds) is read back by its own tool: open + ``read()``, a full scan, 100 windows of
  300 samples x 32 channels, and in a separate process channel 191's whole trace.
- ``imaging``: ``--gb`` GB of uint16 512 x 512 frames in a ``TwoPhotonSeries`` with its
  ``ImagingPlane``, ``OpticalChannel`` and ``Device`` (``imaging_signal.py``, plain pynwb);
  same writers and nwbzarr's conversion; reads: open + ``read()``, scan, 100 windows of 10
  frames x 64 x 64, and in separate processes one pixel's trace and one frame.
- ``metadata``: ``--n`` TimeSeries and a ``--trials``-row trials table
  (``metadata_files.py``): HDF5 and nwbzarr writes, ``nwbzarr convert`` of the HDF5 file,
  and open + ``read()`` of each output and of the ``.nwb`` through nwbzarr's virtual open.
- ``flatness``: nwbzarr's write and conversion of the ephys and imaging data at
  ``--flat-gb`` GB, peak RSS beside the ``--gb`` figures (from the parts above, or measured
  here if they were not run).

Disk: the raw samples, one output and the gzip source at a time (about 2.2x ``--gb`` per
part); the script checks the free space of ``--workdir`` before starting and deletes every
output once read (``--keep`` keeps them). Prints markdown tables and the time each part took.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runner as br  # noqa: E402
import ephys_signal as sig  # noqa: E402
import imaging_signal as img  # noqa: E402

IMAGING_TASKS = br.BENCH_DIR / "imaging_tasks.py"
METADATA_TASKS = br.BENCH_DIR / "peers" / "metadata_tasks.py"
PARTS = ("ephys", "imaging", "metadata", "flatness")


class Dataset:
    """How to generate, write and read one kind of data through its task scripts.

    Parameters
    ----------
    kind : str
        ``"ephys"`` or ``"imaging"``.
    gb : float
        Size of the samples, GB (10**9 bytes).
    """

    def __init__(self, kind: str, gb: float) -> None:
        self.kind = kind
        if kind == "ephys":
            self.n = max(sig.CHUNK_SHAPE[0], int(round(gb * 1e9 / (2 * sig.N_CHANNELS))))
            self.raw_bytes = self.n * sig.N_CHANNELS * 2
            self.count_flag = "--samples"
        else:
            self.n = img.frames_for_gb(gb)
            self.raw_bytes = self.n * img.FRAME_BYTES
            self.count_flag = "--frames"
        self.frame_index = self.n // 2

    def script(self, tool: str) -> Path | None:
        """Task script for ``tool`` (None: the default of :func:`bench_runner.run_task`)."""
        return IMAGING_TASKS if self.kind == "imaging" else None

    def run(self, args: list[str], tool: str, peer: str | None = None) -> dict:
        """Run a task for ``tool`` (hdmf-zarr tools in the peer venv)."""
        runner = peer if tool.startswith("hdmf-zarr") else None
        return br.run_task(args, runner, script=self.script(tool))

    def generate(self, raw: Path) -> dict:
        """Write the raw samples file."""
        return self.run(["generate", "--raw", str(raw), self.count_flag, str(self.n)], "local")

    def expected(self, raw: Path) -> dict:
        """Digests of every read, from the raw file."""
        if self.kind == "ephys":
            return sig.expected_digests(
                str(raw), self.n, sig.random_slices(self.n), sig.TRACE_CHANNEL
            )
        return img.expected_digests(str(raw), self.n, img.random_windows(self.n), self.frame_index)

    def write(self, tool: str, raw: Path, out: Path) -> dict:
        """Write ``out`` from the raw file with ``tool``."""
        args = ["write", "--tool", tool, "--raw", str(raw), self.count_flag, str(self.n)]
        return self.run(args + ["--out", str(out)], tool)

    def reads(self, tool: str, out: Path, peer: str | None) -> dict:
        """Every read of ``out`` with ``tool``: the read task, then one process per
        single-call read (channel trace; pixel trace and frame)."""
        result = self.run(
            ["read", "--tool", tool, self.count_flag, str(self.n), "--out", str(out)], tool, peer
        )
        if "error" in result:
            return result
        if self.kind == "ephys":
            extra = [["channel", "--tool", tool, "--out", str(out)]]
        else:
            extra = [
                ["pixel", "--tool", tool, "--out", str(out)],
                ["frame", "--tool", tool, "--out", str(out), "--index", str(self.frame_index)],
            ]
        for args in extra:
            result |= self.run(args, tool, peer)
        return result


def convert(tool: str, src: Path, dst: Path, peer: str | None) -> dict:
    """``nwbzarr convert`` (CLI child process) or hdmf-zarr 0.13 export of ``src``."""
    if tool == "nwbzarr":
        return br.run_task(["convert-cli", "--src", str(src), "--dst", str(dst)])
    return br.run_task(["export", "--src", str(src), "--dst", str(dst)], peer)


def check(result: dict, expected: dict) -> str:
    """``ok`` if every digest read matches, ``MISMATCH`` if one differs, ``n/a`` if none."""
    keys = [k for k in result if k.endswith("_sha1") and k in expected]
    if not keys:
        return "n/a"
    return "ok" if all(result[k] == expected[k] for k in keys) else "MISMATCH"


def _disk_check(work: Path, need: float) -> None:
    free = shutil.disk_usage(work).free
    print(
        f"disk: {free / 1e9:.1f} GB free in {work}, about {need / 1e9:.1f} GB needed",
        file=sys.stderr,
    )
    if free < need:
        sys.exit(f"not enough free space in {work}: {free / 1e9:.1f} GB < {need / 1e9:.1f} GB")


def run_dataset(ds: Dataset, work: Path, peer: str | None, keep: bool, full: bool) -> dict:
    """Writes, conversions and reads of one dataset; ``{row: result}``.

    With ``full`` False only nwbzarr's write and conversion run (the flatness check), with
    no reads.
    """
    tag = f"{ds.kind}-{ds.raw_bytes / 1e9:.2f}GB"
    raw = work / f"{tag}.raw"
    gen = ds.generate(raw)
    if "error" in gen:
        sys.exit(f"generating the {ds.kind} data failed: {gen['error']}")
    expected = ds.expected(raw) if full else {}
    rows: dict[str, dict] = {}

    def done(path: Path) -> None:
        if not keep:
            br.remove(path)

    writers = ["nwbzarr", "hdf5-raw"] if full else ["nwbzarr"]
    for tool in writers:
        print(f"{tag}: write {tool} ...", file=sys.stderr)
        out = work / (f"{tag}-{tool}.nwb" if tool.startswith("hdf5") else f"{tag}-{tool}.nwb.zarr")
        result = ds.write(tool, raw, out)
        if full and "error" not in result:
            result |= ds.reads(tool, out, peer)
        rows[f"write {tool}"] = result
        done(out)
    print(f"{tag}: write the HDF5 gzip 4 source ...", file=sys.stderr)
    src = work / f"{tag}-gzip.nwb"
    source = ds.write("hdf5-gzip", raw, src)
    done(raw)
    if "error" in source:
        rows["write hdf5-gzip (source)"] = source
        return rows
    if full:
        source |= ds.reads("hdf5-gzip", src, peer)
        rows["write hdf5-gzip (source)"] = source
    converters = ["nwbzarr"]
    if full and ds.kind == "ephys":
        converters.append("hdmf-zarr")
    for tool in converters:
        if tool == "hdmf-zarr" and peer is None:
            rows[f"convert {tool}"] = {"skipped": "no hdmf-zarr 0.13 interpreter"}
            continue
        print(f"{tag}: convert {tool} ...", file=sys.stderr)
        dst = work / f"{tag}-converted-{tool}.nwb.zarr"
        result = convert(tool, src, dst, peer)
        if full and "error" not in result:
            result |= ds.reads(tool, dst, peer)
        rows[f"convert {tool}"] = result
        done(dst)
    done(src)
    for row in rows.values():
        row["data"] = check(row, expected) if full else "n/a"
    return rows


def run_metadata(n: int, trials: int, work: Path, keep: bool) -> dict:
    """Writes (HDF5, nwbzarr), ``nwbzarr convert`` of the HDF5 file and open + ``read()`` of
    every output and of the ``.nwb`` through nwbzarr; ``{row: result}``."""

    def task(args: list[str]) -> dict:
        return br.run_task(args, None, script=METADATA_TASKS)

    def read(io: str, path: Path) -> dict:
        return task(["read", "--io", io, "--n", str(n), "--out", str(path)])

    rows: dict[str, dict] = {}
    h5 = work / f"metadata-{n}.nwb"
    zarr = work / f"metadata-{n}.nwb.zarr"
    for io, out in (("hdf5", h5), ("nwbzarr", zarr)):
        print(f"metadata N={n}: write {io} ...", file=sys.stderr)
        result = task(
            ["write", "--io", io, "--n", str(n), "--trials", str(trials), "--out", str(out)]
        )
        if "error" not in result:
            result |= read(io, out)
        rows[f"write {io}"] = result
    if not keep:
        br.remove(zarr)
    if "error" in rows["write hdf5"]:
        return rows
    print(f"metadata N={n}: convert, virtual open ...", file=sys.stderr)
    rows["virtual open of the .nwb (nwbzarr)"] = read("nwbzarr", h5)
    dst = work / f"metadata-{n}-converted.nwb.zarr"
    result = convert("nwbzarr", h5, dst, None)
    if "error" not in result:
        result |= read("nwbzarr", dst)
    rows["convert nwbzarr"] = result
    if not keep:
        br.remove(dst)
        br.remove(h5)
    return rows


def _times(r: dict, key: str, fmt: str = "{:.2f}") -> str:
    """``wall / CPU`` of ``key`` (``key_s`` and ``key_cpu_s``)."""
    return f"{br.cell(r, f'{key}_s', fmt)} / {br.cell(r, f'{key}_cpu_s', fmt)}"


def _made(r: dict) -> str:
    return _times(r, "convert") if "convert_s" in r else _times(r, "write")


def _made_rss(r: dict) -> str:
    return br.cell(r, "convert_rss_mb" if "convert_s" in r else "write_rss_mb", "{:.0f}")


def dataset_table(ds: Dataset, rows: dict) -> str:
    """Markdown table of one dataset's rows."""
    if ds.kind == "ephys":
        extra_head = [f"channel {sig.TRACE_CHANNEL} s / CPU-s", "RSS MB"]
    else:
        extra_head = ["pixel trace s / CPU-s", "RSS MB", "one frame s / CPU-s", "RSS MB"]
    header = [
        "row",
        "write / convert s / CPU-s",
        "peak RSS MB",
        "stored bytes",
        "files",
        "open + read() s / CPU-s",
        "full scan s / CPU-s",
        "100 windows s / CPU-s",
        "read RSS MB",
        *extra_head,
        "data",
    ]
    body = []
    for name, r in rows.items():
        if "skipped" in r or "error" in r and "stored_bytes" not in r:
            body.append(
                [name, r.get("skipped") or f"error: {r['error'][:120]}"] + [""] * (len(header) - 2)
            )
            continue
        if ds.kind == "ephys":
            extra = [_times(r, "channel", "{:.3f}"), br.cell(r, "channel_rss_mb", "{:.0f}")]
        else:
            extra = [
                _times(r, "trace", "{:.3f}"),
                br.cell(r, "trace_rss_mb", "{:.0f}"),
                _times(r, "frame", "{:.3f}"),
                br.cell(r, "frame_rss_mb", "{:.0f}"),
            ]
        body.append(
            [
                name,
                _made(r),
                _made_rss(r),
                br.cell(r, "stored_bytes", "{:,.0f}"),
                br.cell(r, "files", "{:.0f}"),
                _times(r, "open_read", "{:.3f}"),
                _times(r, "scan"),
                _times(r, "slices", "{:.3f}"),
                br.cell(r, "read_rss_mb", "{:.0f}"),
                *extra,
                r.get("data", "n/a"),
            ]
        )
    return br.markdown_table(header, body)


def metadata_table(rows: dict) -> str:
    """Markdown table of the metadata-heavy rows."""
    body = [
        [
            name,
            _made(r) if ("write_s" in r or "convert_s" in r) else "",
            _made_rss(r) if ("write_s" in r or "convert_s" in r) else "",
            br.cell(r, "stored_bytes", "{:,.0f}"),
            br.cell(r, "files", "{:.0f}"),
            _times(r, "read"),
            br.cell(r, "read_rss_mb", "{:.0f}"),
            f"error: {r['error'][:120]}" if "error" in r else "",
        ]
        for name, r in rows.items()
    ]
    header = [
        "row",
        "write / convert s / CPU-s",
        "peak RSS MB",
        "stored bytes",
        "files",
        "open + read() s / CPU-s",
        "read RSS MB",
        "note",
    ]
    return br.markdown_table(header, body)


def flatness_table(small: dict[str, dict], big: dict[str, dict], sizes: tuple[float, float]) -> str:
    """Peak RSS of nwbzarr's write and conversion at two sizes, side by side."""
    body = []
    for kind in small:
        for row in ("write nwbzarr", "convert nwbzarr"):
            a, b = small[kind].get(row, {}), big.get(kind, {}).get(row, {})
            key = "convert_rss_mb" if row.startswith("convert") else "write_rss_mb"
            body.append(
                [
                    kind,
                    row,
                    br.cell(a, key, "{:.0f}"),
                    br.cell(b, key, "{:.0f}"),
                    br.ratio(b, a, key),
                ]
            )
    header = ["data", "step", f"peak RSS MB at {sizes[0]:g} GB", f"at {sizes[1]:g} GB", "ratio"]
    return br.markdown_table(header, body)


def main(argv: list[str] | None = None) -> None:
    """Parse options, run the selected parts, print the tables and the time taken."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="GB of ephys and of imaging samples")
    parser.add_argument(
        "--flat-gb", type=float, default=0.5, help="small size of the flatness check"
    )
    parser.add_argument("--n", type=int, default=2000, help="series of the metadata-heavy file")
    parser.add_argument(
        "--trials", type=int, default=5000, help="trials of the metadata-heavy file"
    )
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    br.add_rounds_option(parser, default=1)
    br.add_common_options(parser)
    args = parser.parse_args(argv)
    peer = br.peer_python(args.peer_python)
    started = time.perf_counter()
    print(
        f"GB scale: {args.gb:g} GB, flatness at {args.flat_gb:g} GB, metadata N={args.n} with "
        f"{args.trials} trials; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        f"hdmf-zarr 0.13 python: {peer or 'missing (its rows n/a)'}",
        file=sys.stderr,
    )
    output: list[str] = []
    raw: dict = {}
    elapsed: dict[str, float] = {}
    with br.WorkDir(args.workdir, args.keep) as work:
        data_parts = [k for k in ("ephys", "imaging") if k in args.parts]
        _disk_check(work, 2.3 * args.gb * 1e9 if data_parts or "flatness" in args.parts else 1e8)
        big: dict[str, dict] = {}
        for kind in data_parts:
            t0 = time.perf_counter()
            ds = Dataset(kind, args.gb)
            runs = [run_dataset(ds, work, peer, args.keep, True) for _ in range(args.rounds)]
            rows = {
                name: br.median_result([r[name] for r in runs if name in r]) for name in runs[0]
            }
            for name, row in rows.items():  # the data check holds only if it held every round
                row["data"] = (
                    "ok"
                    if all(r.get(name, {}).get("data") == "ok" for r in runs)
                    else rows[name].get("data")
                )
            big[kind], raw[kind] = rows, runs
            elapsed[kind] = time.perf_counter() - t0
            output.append(
                f"### {kind}: {ds.raw_bytes / 1e9:.2f} GB of samples "
                f"({ds.n} x {'384 ch int16' if kind == 'ephys' else '512 x 512 uint16'})\n\n"
                + dataset_table(ds, rows)
            )
        if "metadata" in args.parts:
            t0 = time.perf_counter()
            runs = [run_metadata(args.n, args.trials, work, args.keep) for _ in range(args.rounds)]
            rows = {
                name: br.median_result([r[name] for r in runs if name in r]) for name in runs[0]
            }
            raw["metadata"] = runs
            elapsed["metadata"] = time.perf_counter() - t0
            output.append(
                f"### metadata-heavy: {args.n} series, {args.trials} trials\n\n"
                + metadata_table(rows)
            )
        if "flatness" in args.parts:
            t0 = time.perf_counter()
            small = {}
            for kind in ("ephys", "imaging"):
                small[kind] = run_dataset(Dataset(kind, args.flat_gb), work, peer, args.keep, False)
                if kind not in big:
                    big[kind] = run_dataset(Dataset(kind, args.gb), work, peer, args.keep, False)
            raw["flatness"] = small
            elapsed["flatness"] = time.perf_counter() - t0
            output.append(
                "### memory flatness (nwbzarr)\n\n"
                + flatness_table(small, big, (args.flat_gb, args.gb))
            )
    total = time.perf_counter() - started
    times = ", ".join(f"{k} {v / 60:.1f} min" for k, v in elapsed.items())
    output.append(f"run time: {total / 60:.1f} min ({times})")
    print("\n\n".join(output))
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
