"""hdmf-zarr (0.13, Zarr v2) column of ``metadata_heavy.py``; runs in the peer venv.

Started as ``PEER_PYTHON benchmarks/peers/hdmf_zarr_metadata.py --n N --out PATH``; builds the
file with :mod:`metadata_files` (plain pynwb, never nwbzarr), writes and reads it with
``hdmf_zarr.nwb.NWBZarrIO`` and prints one JSON line ``{"write": s, "read": s, "versions": ...}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import metadata_files  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    """Parse ``--n`` and ``--out``, time hdmf-zarr's write and read, print the JSON result."""
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    from hdmf_zarr.nwb import NWBZarrIO

    result = metadata_files.time_io(NWBZarrIO, args.out, args.n)
    result["versions"] = {name: version(name) for name in ("hdmf-zarr", "zarr", "hdmf", "pynwb")}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
