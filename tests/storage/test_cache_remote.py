"""Requests made to open and ``read()`` a converted store over HTTP (issue 17).

A store converted from the shipped real NWB file is served by the loopback server of
``tests/http_server.py``, whose log counts every request. Three layouts are measured:

* the store as ``nwbzarr.convert`` writes it today;
* the same store with every 0-d array's value moved into its ``fill_value`` and its chunk file
  deleted (the writer change of issue 17, made here with zarr's own metadata classes, so the
  read side is checked on its own);
* that store with the root attribute :data:`~nwbzarr.storage.cache.INLINE_CHUNKS_ATTR` listing
  the absent 0-d chunks (``null``) and carrying the stored bytes of the small 1-D chunks that
  ``read()`` reads (base64), the way a reference JSON inlines small chunks.

Every read is compared with a local read of the converted store (hdmf's container equality) and
the stores are checked against zarr-python's own reads, so a request saved never changes a value.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import shutil
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import zarr
from conftest import ECEPHYS_FILE
from hdmf.testing import TestCase
from http_server import RangeHTTPServer
from zarr.abc.store import RangeByteRequest, Store, SuffixByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.metadata.v3 import ArrayV3Metadata

import nwbzarr
from nwbzarr import NWBZarrIO
from nwbzarr.storage.cache import INLINE_CHUNKS_ATTR, RemoteReadCache, inline_chunk_entries
from nwbzarr.storage.resolve import open_store

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("fsspec") is None or importlib.util.find_spec("aiohttp") is None,
    reason="remote stores need fsspec and aiohttp: pip install 'nwbzarr[remote]'",
)

#: The issue's target for open + read() of a converted store over HTTP.
TARGET = 3
#: Largest stored 1-D chunk carried inline by the simulated writer (bytes).
INLINE_MAX = 4096
#: zarr >= 3.2 hands a shard's chunk ranges to ``Store.get_ranges`` together.
ZARR_GETS_RANGES = hasattr(Store, "get_ranges")


# -- stores -----------------------------------------------------------------------------------
def _scalar_arrays(root: Path) -> dict[str, zarr.Array]:
    group = zarr.open_group(root, mode="r")
    return {
        path: node
        for path, node in group.members(max_depth=None)
        if isinstance(node, zarr.Array) and node.shape == ()
    }


def _rewrite_metadata(root: Path, path: str, document: dict) -> None:
    """Write an array's ``zarr.json`` and its copy in the root's consolidated metadata."""
    (root / path / "zarr.json").write_text(json.dumps(document))
    top = json.loads((root / "zarr.json").read_text())
    top["consolidated_metadata"]["metadata"][path] = document
    (root / "zarr.json").write_text(json.dumps(top))


def scalars_in_fill_value(src: Path, dst: Path) -> list[str]:
    """Copy ``src`` to ``dst`` with each 0-d array's value as its fill value and no chunk
    (arrays the writer already stored so are kept as they are).

    Returns the chunk keys of all 0-d arrays (none exists in ``dst``). Each value is read back
    by zarr from ``dst`` and must equal the one zarr reads from ``src``.
    """
    shutil.copytree(src, dst)
    top = json.loads((dst / "zarr.json").read_text())
    if top["attributes"].pop(INLINE_CHUNKS_ATTR, None) is not None:  # the writer's note
        (dst / "zarr.json").write_text(json.dumps(top))
    before = {path: node[()] for path, node in _scalar_arrays(src).items()}
    absent = []
    for path, node in _scalar_arrays(dst).items():
        chunk = dst / path / "c"
        absent.append(f"{path}/c")
        if not chunk.is_file():
            continue  # written so already
        meta = node.metadata
        assert isinstance(meta, ArrayV3Metadata)
        document = meta.to_dict()
        document["fill_value"] = meta.data_type.to_json_scalar(before[path], zarr_format=3)
        _rewrite_metadata(dst, path, document)
        chunk.unlink()
    after = {path: node[()] for path, node in _scalar_arrays(dst).items()}
    assert after.keys() == before.keys() and absent
    for path, value in before.items():
        np.testing.assert_array_equal(after[path], value, err_msg=path)
    return absent


def with_inline_chunks(src: Path, dst: Path) -> dict:
    """Copy ``src`` to ``dst`` and add the root attribute :data:`INLINE_CHUNKS_ATTR` made by
    :func:`~nwbzarr.storage.cache.inline_chunk_entries` (chunk files of at most
    :data:`INLINE_MAX` bytes; absent 0-d chunks as ``null``). The chunk files stay."""
    shutil.copytree(src, dst)
    top = json.loads((dst / "zarr.json").read_text())
    metadata = top["consolidated_metadata"]["metadata"]
    inline = inline_chunk_entries(dst, metadata, max_chunk_bytes=INLINE_MAX)
    top["attributes"][INLINE_CHUNKS_ATTR] = inline
    (dst / "zarr.json").write_text(json.dumps(top))
    return inline


@pytest.fixture(scope="module")
def served_stores(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``converted``, ``scalars`` (0-d values in fill values) and ``inline`` stores."""
    root = tmp_path_factory.mktemp("requests")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbzarr.convert(ECEPHYS_FILE, root / "converted.nwb.zarr", progress=False)
        nwbzarr.convert(
            ECEPHYS_FILE,
            root / "sharded.nwb.zarr",
            chunk_mb=8 / 1024,
            shard_mb=64 / 1024,
            progress=False,
        )
    absent = scalars_in_fill_value(root / "converted.nwb.zarr", root / "scalars.nwb.zarr")
    inline = with_inline_chunks(root / "scalars.nwb.zarr", root / "inline.nwb.zarr")
    nulls = {k for k, v in inline.items() if v is None}
    assert set(absent) <= nulls  # and chunks of all fill values the writer left out
    assert not any((root / "inline.nwb.zarr" / key).exists() for key in nulls)
    return {"root": root, "absent": absent, "inline": inline}


@pytest.fixture(scope="module")
def served_dir(served_stores: dict) -> Path:
    """What the ``server`` fixture (conftest) serves: the directory of the stores."""
    return served_stores["root"]


# -- helpers ----------------------------------------------------------------------------------
def open_and_read(server: RangeHTTPServer, name: str) -> list:
    """Open ``name`` over HTTP, ``read()`` it, compare it with a local read of the converted
    store; return the server's log of that open + read()."""
    server.clear_log()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBZarrIO(server.url(name), mode="r") as io:
            remote = io.read()
            log = server.log
            with NWBZarrIO(server.root / "converted.nwb.zarr", mode="r") as local:
                TestCase().assertContainerEqual(local.read(), remote, ignore_hdmf_attrs=True)
            np.testing.assert_array_equal(
                remote.units.spike_times.data[:100],
                zarr.open_array(server.root / name / "units" / "spike_times", mode="r")[:100],
            )
    print(f"\n{name}: open + read() = {len(log)} requests")
    return log


def keys_of(log: list, name: str) -> list[str]:
    prefix = f"/{name}/"
    assert all(r.path.startswith(prefix) for r in log), log
    return [r.path[len(prefix) :] for r in log]


def assert_each_key_once(log: list, name: str) -> None:
    keys = keys_of(log, name)
    repeated = {k: n for k, n in Counter(keys).items() if n > 1}
    assert not repeated, f"fetched more than once: {repeated}"
    assert ".zgroup" not in keys  # no legacy probe when the root zarr.json exists
    assert keys.count("zarr.json") == 1
    assert all(r.method == "GET" for r in log)


# -- open + read() ------------------------------------------------------------------------------
def test_converted_store_fetches_each_key_once(server):
    log = open_and_read(server, "converted.nwb.zarr")
    assert_each_key_once(log, "converted.nwb.zarr")
    keys = keys_of(log, "converted.nwb.zarr")
    assert keys[0] == "zarr.json"
    # every other request is the chunk of an array read eagerly by hdmf/pynwb: scalars and
    # small 1-D arrays (ids, file_create_date, experimenter, ...); array data stay lazy
    top = json.loads((server.root / "converted.nwb.zarr" / "zarr.json").read_text())
    nodes = top["consolidated_metadata"]["metadata"]
    for key in keys[1:]:
        array, _, chunk = key.rpartition("/c")
        assert nodes[array]["node_type"] == "array" and chunk in ("", "/0"), key
        assert nodes[array]["shape"] == [] or len(nodes[array]["shape"]) == 1, key
    assert not any(key.startswith("units/spike_times/") for key in keys)
    assert INLINE_CHUNKS_ATTR in top["attributes"]  # written at consolidation
    assert len(log) <= TARGET, keys


def test_scalars_in_fill_value_are_asked_for_once(server, served_stores):
    """0-d arrays without chunks read as their fill value; without a note saying the chunk is
    absent each costs one 404, never two."""
    log = open_and_read(server, "scalars.nwb.zarr")
    assert_each_key_once(log, "scalars.nwb.zarr")
    keys = keys_of(log, "scalars.nwb.zarr")
    missing = [k for k, r in zip(keys, log, strict=True) if r.status == 404]
    assert missing and set(missing) <= set(served_stores["absent"])
    converted = open_and_read(server, "converted.nwb.zarr")
    # the writer's note lists the absent chunks and the small ones: none is asked for
    assert keys_of(converted, "converted.nwb.zarr") == ["zarr.json"]


def test_inline_chunks_open_and_read_within_target(server, served_stores):
    log = open_and_read(server, "inline.nwb.zarr")
    assert_each_key_once(log, "inline.nwb.zarr")
    keys = keys_of(log, "inline.nwb.zarr")
    assert not set(keys) & set(served_stores["inline"]), keys
    assert len(log) <= TARGET, keys
    assert keys == ["zarr.json"]


def test_inline_chunks_equal_the_stored_chunks(served_stores):
    """Each inline entry is the stored chunk file, byte for byte (``null``: no file); what
    they decode to is compared with a local read in :func:`open_and_read`."""
    root = served_stores["root"] / "inline.nwb.zarr"
    for key, text in served_stores["inline"].items():
        if text is None:
            assert not (root / key).exists()
            continue
        assert base64.b64decode(text) == (root / key).read_bytes(), key


# -- the store wrapper alone --------------------------------------------------------------------
def _cache(server: RangeHTTPServer, name: str) -> RemoteReadCache:
    return RemoteReadCache(open_store(server.url(name), read_only=True))


def _run(coro):
    from nwbzarr.compat import sync

    return sync(coro)


def test_absent_and_fetched_keys_are_not_asked_again(server):
    store = _cache(server, "scalars.nwb.zarr")
    proto = default_buffer_prototype()
    server.clear_log()
    assert _run(store.get("identifier/c", proto)) is None
    assert _run(store.get("identifier/c", proto)) is None
    assert not _run(store.exists("identifier/c"))
    first = _run(store.get("units/id/c/0", proto)).to_bytes()
    assert _run(store.get("units/id/c/0", proto)).to_bytes() == first
    assert _run(store.get("units/id/c/0", proto, RangeByteRequest(2, 6))).to_bytes() == first[2:6]
    assert _run(store.exists("zarr.json"))  # fetched whole: the get that follows is free
    _run(store.get("zarr.json", proto))
    assert [(r.path.split("/scalars.nwb.zarr/")[1], r.status) for r in server.log] == [
        ("identifier/c", 404),
        ("units/id/c/0", 200),
        ("zarr.json", 200),
    ]


def test_concurrent_gets_of_one_shard_share_a_request(server):
    """Adjacent ranges of one shard asked for together: one Range request; ranges farther
    apart than the gap: one each."""
    key = _shard_key(server.root / "sharded.nwb.zarr")
    data = (server.root / "sharded.nwb.zarr" / key).read_bytes()
    store = _cache(server, "sharded.nwb.zarr")
    proto = default_buffer_prototype()
    ranges = [RangeByteRequest(i * 1000, i * 1000 + 900) for i in range(6)]
    server.clear_log()

    async def together():
        return await asyncio.gather(*(store.get(key, proto, r) for r in ranges))

    got = _run(together())
    assert [g.to_bytes() for g in got] == [data[r.start : r.end] for r in ranges]
    assert [r.range for r in server.log] == ["bytes=0-5899"]
    # the same ranges again, and the shard index twice: the ranges are in memory
    got = _run(store.get_partial_values(proto, [(key, r) for r in ranges]))
    assert [g.to_bytes() for g in got] == [data[r.start : r.end] for r in ranges]
    index = SuffixByteRequest(100)
    for _ in range(2):
        assert _run(store.get(key, proto, index)).to_bytes() == data[-100:]
    assert [r.range for r in server.log] == ["bytes=0-5899", "bytes=-100"]
    # beyond the gap: separate requests
    narrow = RemoteReadCache(
        open_store(server.url("sharded.nwb.zarr"), read_only=True), merge_gap=50
    )
    server.clear_log()
    got = _run(narrow.get_partial_values(proto, [(key, r) for r in ranges[:3]]))
    assert [g.to_bytes() for g in got] == [data[r.start : r.end] for r in ranges[:3]]
    assert sorted(r.range for r in server.log) == [
        "bytes=0-899",
        "bytes=1000-1899",
        "bytes=2000-2899",
    ]


def _shard_key(root: Path) -> str:
    chunks = sorted((root / "units" / "spike_times" / "c").iterdir())
    assert len(chunks) > 1  # several shards
    return f"units/spike_times/c/{chunks[0].name}"


def test_chunks_of_one_shard_read_by_zarr(server, served_stores):
    """A selection spanning several chunks of one shard, read through NWBZarrIO over HTTP."""
    name = "sharded.nwb.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = zarr.open_array(served_stores["root"] / name / "units" / "spike_times", mode="r")
        with NWBZarrIO(server.url(name), mode="r") as io:
            data = io.read().units.spike_times.data
            per_chunk = data.chunks[0]
            rows = slice(per_chunk // 2, per_chunk * 5 + 3)  # 6 chunks of shard 0
            server.clear_log()
            np.testing.assert_array_equal(data[rows], want[rows])
            log = server.log
            ranges = [r.range for r in log]
            assert all("/units/spike_times/c/0" in r.path for r in log), log
            assert sum(r.startswith("bytes=-") for r in ranges) == 1  # the shard index, once
            if ZARR_GETS_RANGES:
                assert len(log) == 2, ranges  # the index, then the six chunks in one request
            else:
                # zarr < 3.2 awaits each chunk's range in turn: a store sees one at a time
                assert len(log) == 7 and len(set(ranges)) == 7, ranges
            server.clear_log()
            np.testing.assert_array_equal(data[rows], want[rows])
            assert server.log == []  # index and chunks are in memory


def test_concurrent_reads_of_one_key_share_a_request(server):
    store = _cache(server, "converted.nwb.zarr")
    proto = default_buffer_prototype()
    want = (server.root / "converted.nwb.zarr" / "units" / "id" / "c" / "0").read_bytes()
    server.clear_log()

    async def together():
        return await asyncio.gather(*(store.get("units/id/c/0", proto) for _ in range(5)))

    assert [g.to_bytes() for g in _run(together())] == [want] * 5
    assert len(server.log) == 1
    assert store.fetches == 1


def test_bounds_pickling_and_refused_writes(server):
    import pickle

    from nwbzarr.errors import ReadOnlyError

    proto = default_buffer_prototype()
    key = "units/id/c/0"
    want = (server.root / "converted.nwb.zarr" / key).read_bytes()
    store = RemoteReadCache(
        open_store(server.url("converted.nwb.zarr"), read_only=True), max_cached_bytes=0
    )
    server.clear_log()
    for _ in range(2):
        assert _run(store.get(key, proto)).to_bytes() == want
    assert len(server.log) == 2  # nothing may be kept: asked for again
    copy = pickle.loads(pickle.dumps(store))
    assert isinstance(copy, RemoteReadCache) and copy.max_cached_bytes == 0
    assert _run(copy.get(key, proto)).to_bytes() == want
    with pytest.raises(ReadOnlyError):
        _run(store.set(key, proto.buffer.from_bytes(b"x")))
    with pytest.raises(ReadOnlyError):
        _run(store.delete(key))
    with pytest.raises(ValueError):
        RemoteReadCache(store._store, merge_gap=-1)


def test_inline_entries_are_only_trusted_for_whole_single_chunks(tmp_path):
    """An entry is used for the one complete chunk of an array; entries naming a metadata
    document, a partial chunk (an append could rewrite it) or text that is not base64 are
    ignored and those keys fetched."""
    root = tmp_path / "x.zarr"
    for name, chunks in (("whole", 3), ("partial", 4), ("garbled", 3)):
        array = zarr.create_array(root, name=name, shape=(3,), chunks=(chunks,), dtype="int32")
        array[:] = [1, 2, 3]
    zarr.consolidate_metadata(root)
    top = json.loads((root / "zarr.json").read_text())

    def stored(name: str) -> str:
        return base64.b64encode((root / name / "c" / "0").read_bytes()).decode()

    top["attributes"][INLINE_CHUNKS_ATTR] = {
        "whole/c/0": stored("whole"),
        "partial/c/0": stored("partial"),
        "garbled/c/0": "not base64!",
        "whole/zarr.json": base64.b64encode(b"{}").decode(),
        "/whole/c/0": None,
    }
    (root / "zarr.json").write_text(json.dumps(top))
    with RangeHTTPServer(tmp_path) as srv:
        store = RemoteReadCache(open_store(srv.url("x.zarr"), read_only=True))
        group = zarr.open_group(store, mode="r", use_consolidated=True, zarr_format=3)
        for name in ("whole", "partial", "garbled"):
            np.testing.assert_array_equal(group[name][:], [1, 2, 3])
        assert sorted(r.path for r in srv.log) == [
            "/x.zarr/garbled/c/0",
            "/x.zarr/partial/c/0",
            "/x.zarr/zarr.json",
        ]


def test_writer_note_is_hidden_and_refreshed_by_an_append(tmp_path):
    """The root attribute is not a builder attribute, and an append rebuilds it from the chunk
    files as they are after the append (the new series' small arrays are listed)."""
    from pynwb import TimeSeries

    store = tmp_path / "s.nwb.zarr"
    nwbzarr.convert(ECEPHYS_FILE, store, progress=False)
    before = json.loads((store / "zarr.json").read_text())["attributes"][INLINE_CHUNKS_ATTR]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with NWBZarrIO(store, mode="a") as io:
            nwbfile = io.read()
            assert INLINE_CHUNKS_ATTR not in io.read_builder().attributes
            nwbfile.add_acquisition(
                TimeSeries(name="extra", data=np.arange(7.0), unit="V", rate=1.0)
            )
            io.write(nwbfile)
    top = json.loads((store / "zarr.json").read_text())
    after = top["attributes"][INLINE_CHUNKS_ATTR]
    assert "acquisition/extra/data/c/0" in after and "acquisition/extra/data/c/0" not in before
    for key, text in after.items():
        if text is None:
            assert not (store / key).exists(), key
        else:
            assert base64.b64decode(text) == (store / key).read_bytes(), key
    with NWBZarrIO(store, mode="r") as io:
        np.testing.assert_array_equal(io.read().acquisition["extra"].data[:], np.arange(7.0))


@pytest.mark.parametrize(
    "document",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than Python decodes
        b'{"attributes": {"_INLINE_CHUNKS": {"a/c/0": "not base64!"}}, "consolidated_metadata"',
        json.dumps({"attributes": {INLINE_CHUNKS_ATTR: ["a", "list"]}}).encode(),
    ],
    ids=["deep", "truncated", "wrong-type"],
)
def test_hostile_root_documents_seed_nothing(server, document):
    """A root ``zarr.json`` that is too deep, truncated or of the wrong shape seeds no entry
    and raises nothing here (zarr reports the document when it reads it)."""
    cache = _cache(server, "converted.nwb.zarr")
    cache._seed_inline(document)
    assert not cache._kept
