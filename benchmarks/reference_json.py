"""Time writing and opening a reference JSON with many references (nwbzarr only).

Builds a reference set like an HDF5 index of a large file: ``--arrays`` arrays, each with a
``zarr.json`` and ``--chunks`` byte-range chunks into one source file, plus a few inline
chunks; writes it with ``save_references``, then times ``load_references`` (parse, resolve,
policy check) and making a ``ReferenceStore`` and listing it. Prints a markdown table;
asserts nothing about time.

    python benchmarks/reference_json.py --arrays 100 --chunks 100   # 10,100 references
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from zarr.core.sync import sync

from nwbzarr.formats.kerchunk.references import load_references, save_references
from nwbzarr.storage.manifest import ByteRange, ReferenceSet
from nwbzarr.virtual.store import ReferenceStore


def build(n_arrays: int, n_chunks: int, source: str) -> ReferenceSet:
    """A reference set with ``n_arrays * (n_chunks + 1)`` keys (one source file)."""
    refs: dict[str, bytes | ByteRange] = {"zarr.json": b'{"zarr_format":3,"node_type":"group"}'}
    offset = 4096
    for a in range(n_arrays):
        meta = {"zarr_format": 3, "node_type": "array", "shape": [n_chunks * 1000]}
        refs[f"acquisition/series_{a}/data/zarr.json"] = json.dumps(meta).encode()
        for c in range(n_chunks):
            refs[f"acquisition/series_{a}/data/c/{c}"] = ByteRange(source, offset, 8000)
            offset += 8000
    return ReferenceSet(refs, zarr_format=3, dialect="hdf5")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrays", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "source.nwb")
        open(source, "wb").close()
        refset = build(args.arrays, args.chunks, source)
        path = os.path.join(tmp, "refs.json")
        rows = []
        t0 = time.perf_counter()
        save_references(refset, path)
        rows.append(("save_references", time.perf_counter() - t0))
        best_load = best_list = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            loaded = load_references(path)
            best_load = min(best_load, time.perf_counter() - t0)
            t0 = time.perf_counter()
            store = ReferenceStore(loaded)

            async def walk(s: ReferenceStore = store) -> int:
                return len([k async for k in s.list_dir("acquisition")])

            sync(walk())
            best_list = min(best_list, time.perf_counter() - t0)
        rows += [("load_references (best)", best_load), ("ReferenceStore + list_dir", best_list)]
        size = os.path.getsize(path)
    print(f"{len(refset.refs)} references, JSON {size / 1e6:.2f} MB\n")
    print("| step | seconds |\n| --- | --- |")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.4f} |")


if __name__ == "__main__":
    main()
