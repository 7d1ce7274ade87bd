"""Every store nwbzarr hands out pickles after reads and reads the same once unpickled.

Stores reach dask workers pickled (``dask.array.from_zarr(array)`` puts the zarr array, and so
its store, into the task graph). Each kind below is opened, read, pickled, unpickled and read
again, in this process and in a fresh interpreter (one subprocess for all kinds); then the
access policy, recorded source sizes and file identities are shown to hold in the copy, write
stores to pickle safely or refuse, and a virtual HDF5 view to compute on a two-process
``distributed.LocalCluster`` (started once for the module).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import zarr
from conftest import ECEPHYS_FILE, SHARED_DATA
from formats.lindi.test_container import _to_blobs, write_lindi_tar
from http_server import RangeHTTPServer
from zarr.storage import LocalStore

import nwbzarr
from nwbzarr.compat import default_buffer_prototype, sync
from nwbzarr.errors import AppendError, ReadOnlyError, SourceChangedError, UntrustedReferenceError
from nwbzarr.formats.hdmf_zarr_v2.store import V2TranslatingStore
from nwbzarr.storage.cache import LocalCache
from nwbzarr.storage.inline_reads import InlineReadStore
from nwbzarr.storage.journal import JournaledStore
from nwbzarr.storage.ranges import ByteRangeReader, open_range_reader
from nwbzarr.storage.remote_file import open_remote_file
from nwbzarr.storage.resolve import open_store
from nwbzarr.virtual import (
    AccessPolicy,
    LindiTranslatingStore,
    ReferenceStore,
    StagingStore,
    index_to_json,
    open_virtual_store,
)

pytestmark = pytest.mark.filterwarnings("ignore")

SRC = str(Path(__file__).resolve().parents[2] / "src")
LINDI_NAME = "sub-anm00239123_ses-20170627T093549_ecephys+ogen.nwb"
LINDI_JSON = SHARED_DATA / "lindi" / f"{LINDI_NAME}.lindi.json"
LINDI_HDF5 = SHARED_DATA / "nwb" / LINDI_NAME
LEGACY_STORE = SHARED_DATA / "hdmf_zarr_v2" / f"{LINDI_NAME}.zarr"
HAVE_REMOTE = importlib.util.find_spec("fsspec") and importlib.util.find_spec("aiohttp")


# -- files and stores ---------------------------------------------------------------------------
@dataclass
class Files:
    """The module's files (under one served directory) and the server serving them."""

    root: Path
    server: RangeHTTPServer
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def nwb(self) -> Path:
        return self.root / "s.nwb"

    @property
    def chunked(self) -> Path:
        return self.root / "chunked.h5"


def _write_chunked(path: Path) -> None:
    """A plain HDF5 file: a gzip-chunked 2-d dataset (8 chunks) and a contiguous one."""
    with h5py.File(path, "w") as f:
        grid = np.arange(2000 * 16, dtype="<f4").reshape(2000, 16) / 7
        f.create_dataset("grid", data=grid, chunks=(250, 16), compression="gzip")
        f.create_dataset("flat", data=np.arange(5000, dtype="<i2") - 2500)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Files]:
    root = tmp_path_factory.mktemp("pickling")
    shutil.copy(ECEPHYS_FILE, root / "s.nwb")
    _write_chunked(root / "chunked.h5")
    index_to_json(root / "s.nwb", root / "s.nwb.json")
    rfs = json.loads((root / "s.nwb.json").read_text())
    write_lindi_tar(root / "s.lindi.tar", rfs, _to_blobs(rfs, root))  # chunks as tar members
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nwbzarr.convert(str(root / "s.nwb"), str(root / "s.nwb.zarr"), progress=False)
    if LINDI_JSON.is_file() and LINDI_HDF5.is_file():
        shutil.copy(LINDI_JSON, root)
        shutil.copy(LINDI_HDF5, root)
    if LEGACY_STORE.is_dir():
        shutil.copytree(LEGACY_STORE, root / "legacy.nwb.zarr")
    with RangeHTTPServer(root) as server:
        index_to_json(root / "s.nwb", root / "remote.nwb.json", url=server.url("s.nwb"))
        env = Files(root, server)
        yield env
        for cleanup in reversed(env.cleanups):
            cleanup()


def _io_store(files: Files, path: Path, mode: str) -> Any:
    io = nwbzarr.NWBZarrIO(str(path), mode)
    io.read()
    files.cleanups.append(io.close)
    return io.file.store


def _staging(files: Files) -> StagingStore:
    """A staging store with changes: a new array (a staged file) and a changed attribute."""
    store = StagingStore(open_virtual_store(files.nwb), directory=files.root / "staged")
    group = zarr.open_group(store, mode="r+", use_consolidated=False)
    new = group.create_array("acquisition/new", shape=(3000,), dtype="<f8", chunks=(1000,))
    new[:] = np.linspace(0, 1, 3000)
    group.attrs["note"] = "amended"
    assert store.unsaved_changes
    files.cleanups.append(store.mark_saved)
    return store


def _requires(condition: Any, why: str) -> None:
    if not condition:
        pytest.skip(why)


def _lindi(files: Files) -> Any:
    _requires((files.root / f"{LINDI_NAME}.lindi.json").is_file(), "shared LINDI file absent")
    return open_virtual_store(files.root / f"{LINDI_NAME}.lindi.json")


def _legacy(files: Files) -> Any:
    _requires((files.root / "legacy.nwb.zarr").is_dir(), "shared legacy v2 store absent")
    return V2TranslatingStore(LocalStore(files.root / "legacy.nwb.zarr", read_only=True))


def _remote(make: Callable[[Files], Any]) -> Callable[[Files], Any]:
    def opened(files: Files) -> Any:
        _requires(HAVE_REMOTE, "remote reads need fsspec and aiohttp")
        return make(files)

    return opened


#: store kind -> how to open it (each test opens its own)
KINDS: dict[str, Callable[[Files], Any]] = {
    "hdf5": lambda f: open_virtual_store(f.nwb),
    "hdf5-chunked": lambda f: open_virtual_store(f.chunked),
    "hdf5-cached": _remote(
        lambda f: open_virtual_store(f.server.url("s.nwb"), cache=LocalCache(f.root / "cache"))
    ),
    "json": lambda f: open_virtual_store(f.root / "s.nwb.json"),
    "lindi": _lindi,
    "lindi-tar": lambda f: open_virtual_store(f.root / "s.lindi.tar"),
    "http-hdf5": _remote(lambda f: open_virtual_store(f.server.url("chunked.h5"))),
    "http-json": _remote(lambda f: open_virtual_store(f.server.url("remote.nwb.json"))),
    "http-zarr": _remote(lambda f: open_store(f.server.url("s.nwb.zarr"), read_only=True)),
    "staging": _staging,
    "legacy-v2": _legacy,
    "io-zarr-r": lambda f: _io_store(f, f.root / "s.nwb.zarr", "r"),
    "io-zarr-a": lambda f: _io_store(f, f.root / "s.nwb.zarr", "a"),
    "io-hdf5-a": lambda f: _io_store(f, f.nwb, "a"),
}

#: what each kind unpickles as, when that is not its own type
UNPICKLED_TYPE = {"io-zarr-a": InlineReadStore}


def numeric_arrays(store: Any) -> dict[str, np.ndarray]:
    """Every numeric array of the store, read whole (what the copies must read alike)."""
    root = zarr.open_group(store, mode="r", use_consolidated=None)
    found = {}
    for path, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array) and node.dtype.kind in "biuf" and node.size:
            found[path] = node[...]
    assert found, "no numeric array"
    return found


def assert_same(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert sorted(got) == sorted(expected)
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value, err_msg=path)


# -- round trips in this process ----------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_round_trip_after_reads(files: Files, kind: str) -> None:
    store = KINDS[kind](files)
    expected = numeric_arrays(store)  # reads first: readers, sessions and caches are live
    blob = pickle.dumps(store)
    copy = pickle.loads(blob)
    assert isinstance(copy, UNPICKLED_TYPE.get(kind, type(store)))
    assert_same(numeric_arrays(copy), expected)
    again = pickle.loads(pickle.dumps(copy))  # a copy read from pickles again
    assert_same(numeric_arrays(again), expected)
    assert_same(numeric_arrays(store), expected)  # the original is unaffected
    for each in (copy, again) if kind.startswith("io-") else (copy, again, store):
        each.close()  # (NWBZarrIO closes its own store)


def test_zarr_array_pickles_with_its_store(files: Files) -> None:
    store = open_virtual_store(files.chunked)
    array = zarr.open_array(store, path="grid", mode="r")
    part = array[100:700]
    copy = pickle.loads(pickle.dumps(array))
    np.testing.assert_array_equal(copy[100:700], part)


def test_reader_pickles_its_configuration_only(files: Files) -> None:
    _requires(HAVE_REMOTE, "remote reads need fsspec and aiohttp")
    cache = LocalCache(files.root / "reader-cache", max_bytes=1 << 20)
    reader = open_range_reader({"headers": {"X-Test": "1"}}, cache=cache, retries=2, timeout=9)
    url = files.server.url("s.nwb")
    head = sync(reader.read_many([nwbzarr.virtual.ByteRange(url, 0, 64)] * 2))[0]
    copy = pickle.loads(pickle.dumps(reader))
    assert isinstance(copy, ByteRangeReader) and copy is not reader
    assert (copy.storage_options, copy.retries, copy.timeout) == (
        {"headers": {"X-Test": "1"}},
        2,
        9,
    )
    assert copy.cache.directory == cache.directory and copy.cache.max_bytes == 1 << 20
    assert copy.requests == 0 and not copy._states and reader._states
    assert sync(copy.read(nwbzarr.virtual.ByteRange(url, 0, 64))) == head
    copy.close()
    reader.close()


def test_remote_file_pickles_without_its_blocks(files: Files) -> None:
    _requires(HAVE_REMOTE, "remote reads need fsspec and aiohttp")
    with open_remote_file(files.server.url("chunked.h5"), block_size=4096) as f:
        with h5py.File(f, "r") as h5:
            expected = h5["grid"][:300]
        f.seek(1000)
        copy = pickle.loads(pickle.dumps(f))
    assert copy.tell() == 1000 and copy.size == os.path.getsize(files.chunked)
    with h5py.File(copy, "r") as h5:
        np.testing.assert_array_equal(h5["grid"][:300], expected)
    copy.close()
    with pytest.raises(ValueError, match="closed"):
        pickle.dumps(copy)


# -- round trips into a fresh interpreter -------------------------------------------------------
_FRESH = """
import json, pickle, sys, traceback
import numpy as np, zarr
blobs = pickle.load(open(sys.argv[1], "rb"))
expected = np.load(sys.argv[2])
results = {}
for kind, blob in blobs.items():
    try:
        store = pickle.loads(blob)
        root = zarr.open_group(store, mode="r", use_consolidated=None)
        for name in expected.files:
            k, _, path = name.partition(":")
            if k == kind:
                np.testing.assert_array_equal(root[path][...], expected[name], err_msg=path)
        results[kind] = "ok"
    except Exception:
        results[kind] = traceback.format_exc()
print(json.dumps(results))
"""


def run_fresh(script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` in a new interpreter (nwbzarr from this checkout); its JSON output."""
    environ = {**os.environ, "PYTHONPATH": SRC, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def fresh_results(files: Files, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every kind pickled after reads and read back in one fresh interpreter."""
    blobs, expected = {}, {}
    for kind, make in KINDS.items():
        try:
            store = make(files)
        except pytest.skip.Exception:
            continue
        for path, value in numeric_arrays(store).items():
            expected[f"{kind}:{path}"] = value
        blobs[kind] = pickle.dumps(store)
        if not kind.startswith("io-"):
            store.close()
    where = tmp_path_factory.mktemp("fresh")
    with open(where / "stores.pkl", "wb") as f:
        pickle.dump(blobs, f)
    np.savez(where / "expected.npz", **expected)
    return run_fresh(_FRESH, str(where / "stores.pkl"), str(where / "expected.npz"))


@pytest.mark.parametrize("kind", list(KINDS))
def test_round_trip_into_fresh_interpreter(fresh_results: dict[str, str], kind: str) -> None:
    if kind not in fresh_results:
        pytest.skip(f"{kind}: its files are absent")
    assert fresh_results[kind] == "ok", fresh_results[kind]


_FRESH_ARRAYS = """
import json, pickle, sys, traceback
import numpy as np
blobs = pickle.load(open(sys.argv[1], "rb"))
expected = np.load(sys.argv[2])
results = {}
for kind, blob in blobs.items():
    try:
        np.testing.assert_array_equal(pickle.loads(blob)[...], expected[kind])
        results[kind] = "ok"
    except Exception:
        results[kind] = traceback.format_exc()
print(json.dumps(results))
"""

#: kinds whose store class is not nwbzarr's: nothing installs nwbzarr's checked codec pipeline
#: before a fresh interpreter meets its name in the array's pickle (see the module docstring)
NOT_OURS = {"http-zarr", "io-zarr-r"}


@pytest.fixture(scope="module")
def fresh_array_results(files: Files, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The first numeric zarr array of every kind, pickled and read in a fresh interpreter."""
    blobs, expected = {}, {}
    # kinds NOT_OURS first: no store of nwbzarr's has installed the pipeline there yet
    for kind in sorted(KINDS, key=lambda k: k not in NOT_OURS):
        try:
            store = KINDS[kind](files)
        except pytest.skip.Exception:
            continue
        path, value = next(iter(numeric_arrays(store).items()))
        array = zarr.open_group(store, mode="r", use_consolidated=None)[path]
        blobs[kind], expected[kind] = pickle.dumps(array), value
    where = tmp_path_factory.mktemp("fresh-arrays")
    with open(where / "arrays.pkl", "wb") as f:
        pickle.dump(blobs, f)
    np.savez(where / "expected.npz", **expected)
    return run_fresh(_FRESH_ARRAYS, str(where / "arrays.pkl"), str(where / "expected.npz"))


@pytest.mark.parametrize("kind", KINDS)
def test_zarr_array_into_fresh_interpreter(fresh_array_results: dict[str, str], kind: str) -> None:
    if kind not in fresh_array_results:
        pytest.skip(f"{kind}: its files are absent")
    assert fresh_array_results[kind] == "ok", fresh_array_results[kind]


# -- the access policy and the source records travel ----------------------------------------------
def _lindi_with_external_link(directory: Path, target: Path) -> Path:
    """A LINDI JSON in ``directory`` whose one array is an _EXTERNAL_ARRAY_LINK to ``target``."""
    zarray = {
        "zarr_format": 2,
        "shape": [2000, 16],
        "chunks": [500, 16],
        "dtype": "<f4",
        "compressor": None,
        "fill_value": 0,
        "filters": None,
        "order": "C",
    }
    link = {"link_type": "hdf5_dataset", "url": str(target), "name": "/grid"}
    refs = {
        ".zgroup": {"zarr_format": 2},
        ".zattrs": {},
        "grid/.zarray": zarray,
        "grid/.zattrs": {"_EXTERNAL_ARRAY_LINK": link},
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "linked.lindi.json"
    path.write_text(json.dumps({"refs": refs, "version": 1}))
    return path


def test_policy_is_pickled_as_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NWBZARR_ALLOWED_ROOTS", str(tmp_path / "env-root"))
    monkeypatch.delenv("NWBZARR_ALLOW_PRIVATE_HOSTS", raising=False)
    policy = AccessPolicy(allow_local=[tmp_path / "given"])
    blob = pickle.dumps(policy)
    monkeypatch.setenv("NWBZARR_ALLOWED_ROOTS", "/")  # the copy does not read the environment
    monkeypatch.setenv("NWBZARR_ALLOW_PRIVATE_HOSTS", "1")
    copy = pickle.loads(blob)
    assert not copy.use_env and copy.private_hosts_allowed() is False
    assert copy.local_roots(None) == [
        os.path.realpath(tmp_path / "given"),
        os.path.realpath(tmp_path / "env-root"),
    ]
    with pytest.raises(UntrustedReferenceError):
        copy.check_all([("k", "/etc/passwd")], None)


def test_unpickled_lindi_store_enforces_the_same_policy(files: Files, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(files.chunked, outside / "raw.h5")
    with h5py.File(files.chunked, "r") as h5:
        grid = h5["grid"][...]
    refused = open_virtual_store(_lindi_with_external_link(tmp_path / "a", outside / "raw.h5"))
    allowed = open_virtual_store(
        _lindi_with_external_link(tmp_path / "b", outside / "raw.h5"), allow_local=[outside]
    )
    assert isinstance(refused, LindiTranslatingStore)
    with pytest.raises(UntrustedReferenceError):
        zarr.open_array(refused, path="grid", mode="r")[...]
    np.testing.assert_array_equal(zarr.open_array(allowed, path="grid", mode="r")[...], grid)
    blobs = {"refused": pickle.dumps(refused), "allowed": pickle.dumps(allowed)}
    (tmp_path / "stores.pkl").write_bytes(pickle.dumps(blobs))
    np.save(tmp_path / "grid.npy", grid)
    script = """
    import json, pickle, sys
    import numpy as np, zarr
    blobs = pickle.loads(open(sys.argv[1], "rb").read())
    out = {}
    for name, blob in blobs.items():
        try:
            got = zarr.open_array(pickle.loads(blob), path="grid", mode="r")[...]
            out[name] = "ok" if np.array_equal(got, np.load(sys.argv[2])) else "differs"
        except Exception as exc:
            out[name] = type(exc).__name__
    print(json.dumps(out))
    """
    # the worker's environment would allow everything: the pickled policy still decides
    env = {"NWBZARR_ALLOWED_ROOTS": "/", "NWBZARR_ALLOW_PRIVATE_HOSTS": "1"}
    out = run_fresh(script, str(tmp_path / "stores.pkl"), str(tmp_path / "grid.npy"), env=env)
    assert out == {"refused": "UntrustedReferenceError", "allowed": "ok"}


def test_unpickled_store_checks_recorded_sources(files: Files, tmp_path: Path) -> None:
    """Recorded sizes and checked file identities of a reference JSON reach the copy."""
    for name in ("grown", "replaced"):
        (tmp_path / name).mkdir()
        shutil.copy(files.nwb, tmp_path / name / "s.nwb")
        index_to_json(tmp_path / name / "s.nwb", tmp_path / name / "s.nwb.json")
    stores = {n: open_virtual_store(tmp_path / n / "s.nwb.json") for n in ("grown", "replaced")}
    for store in stores.values():
        numeric_arrays(store)  # read before pickling
    blobs = {n: pickle.dumps(s) for n, s in stores.items()}
    with open(tmp_path / "grown" / "s.nwb", "ab") as f:  # same file, another size
        f.write(b"\0" * 10)
    shutil.copy(files.nwb, tmp_path / "replaced" / "new.nwb")  # same size, another file
    os.replace(tmp_path / "replaced" / "new.nwb", tmp_path / "replaced" / "s.nwb")
    for store in stores.values():
        with pytest.raises(SourceChangedError):
            numeric_arrays(store.with_read_only(True))  # a new store over the same refs
    (tmp_path / "stores.pkl").write_bytes(pickle.dumps(blobs))
    script = """
    import json, pickle, sys
    import zarr
    out = {}
    for name, blob in pickle.loads(open(sys.argv[1], "rb").read()).items():
        try:
            zarr.open_array(pickle.loads(blob), path="units/spike_times", mode="r")[...]
            out[name] = "read"
        except Exception as exc:
            out[name] = type(exc).__name__
    print(json.dumps(out))
    """
    out = run_fresh(script, str(tmp_path / "stores.pkl"))
    assert out == {"grown": "SourceChangedError", "replaced": "SourceChangedError"}


def test_records_from_another_machine_are_checked_again(tmp_path: Path) -> None:
    from nwbzarr.storage import policy

    (tmp_path / "inside").mkdir()
    source = tmp_path / "inside" / "f.bin"
    source.write_bytes(b"data")
    key = os.path.normpath(source)
    elsewhere = policy.TrustRecords("another-host/boot", checked=((key, 1, 2, ("/nowhere",)),))
    with pytest.raises(UntrustedReferenceError, match="unpickled store"):
        policy.restore_trust(elsewhere)  # outside the roots it was allowed under
    root = os.path.realpath(tmp_path / "inside")
    policy.restore_trust(policy.TrustRecords("another-host/boot", checked=((key, 1, 2, (root,)),)))
    st = os.stat(source)
    assert policy._CHECKED[key][:2] == (st.st_dev, st.st_ino)  # taken here, not (1, 2)


def test_unpickled_store_brings_trusted_origin(files: Files) -> None:
    _requires(HAVE_REMOTE, "remote reads need fsspec and aiohttp")
    store = open_virtual_store(files.server.url("remote.nwb.json"))  # the user opened it
    numeric_arrays(store)
    script = """
    import json, pickle, sys
    from nwbzarr.storage.policy import check_url_host
    url = sys.argv[2]
    try:
        check_url_host(url, what="before")
        before = "allowed"
    except Exception as exc:
        before = type(exc).__name__
    pickle.loads(open(sys.argv[1], "rb").read())
    check_url_host(url, what="after")  # the origin the user opened is trusted here too
    print(json.dumps({"before": before}))
    """
    path = files.root / "trusted.pkl"
    path.write_bytes(pickle.dumps(store))
    env = {"NWBZARR_ALLOW_PRIVATE_HOSTS": "0"}
    out = run_fresh(script, str(path), files.server.url("s.nwb"), env=env)
    assert out == {"before": "UntrustedReferenceError"}


# -- write stores: safe copies or clear refusals ------------------------------------------------
def test_staging_store_pickles_as_read_only_snapshot(files: Files) -> None:
    store = _staging(files)
    before = numeric_arrays(store)
    copy = pickle.loads(pickle.dumps(store))
    assert copy.read_only and not store.read_only and copy.unsaved_changes == 0
    assert_same(numeric_arrays(copy), before)
    assert "acquisition/new" in before
    assert zarr.open_group(copy, mode="r", use_consolidated=False).attrs["note"] == "amended"
    buf = default_buffer_prototype().buffer.from_bytes(b"x")
    with pytest.raises(ReadOnlyError, match="read-only snapshot"):
        sync(copy.set("acquisition/new/c/0", buf))
    with pytest.raises(ReadOnlyError, match="read-only snapshot"):
        sync(copy.delete("acquisition/new/c/0"))
    with pytest.raises(ReadOnlyError):
        copy.with_read_only(False)
    sync(store.set("extra/zarr.json", default_buffer_prototype().buffer.from_bytes(b"{}")))
    assert sync(store.exists("extra/zarr.json")) and not sync(copy.exists("extra/zarr.json"))
    del copy  # the snapshot owns nothing: the staged files stay
    assert os.listdir(store.directory)


def test_journaled_store_refuses_pickling_mid_append(files: Files, tmp_path: Path) -> None:
    shutil.copytree(files.root / "s.nwb.zarr", tmp_path / "s.nwb.zarr")
    store = JournaledStore(LocalStore(tmp_path / "s.nwb.zarr"))
    key = "acquisition/extra/zarr.json"
    sync(store.set(key, default_buffer_prototype().buffer.from_bytes(b'{"zarr_format": 3}')))
    with pytest.raises(AppendError, match="middle of an append.*Commit first"):
        pickle.dumps(store)
    store.rollback()
    copy = pickle.loads(pickle.dumps(store))
    assert isinstance(copy, InlineReadStore) and copy.read_only
    assert not sync(copy.exists(key))
    with pytest.raises((ValueError, PermissionError)):
        sync(copy.set(key, default_buffer_prototype().buffer.from_bytes(b"{}")))


def test_reference_store_given_reader_travels(files: Files) -> None:
    reader = open_range_reader(retries=3)
    store = ReferenceStore(open_virtual_store(files.chunked).refset, reader=reader)
    expected = numeric_arrays(store)
    copy = pickle.loads(pickle.dumps(store))
    assert copy._reader is not reader and copy._reader.retries == 3
    assert_same(numeric_arrays(copy), expected)


# -- dask.distributed ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.array")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _h5_read(path: Path, name: str) -> Callable[[], np.ndarray]:
    def read() -> np.ndarray:
        with h5py.File(path, "r") as h5:
            return h5[name][...]

    return read


#: kind -> (array path, dask chunks or None for the zarr chunks, the expected values)
CLUSTER_CASES: dict[str, tuple[str, Any, Callable[[Files], np.ndarray]]] = {
    "hdf5-chunked": ("grid", None, lambda f: _h5_read(f.chunked, "grid")()),
    "http-hdf5": ("grid", None, lambda f: _h5_read(f.chunked, "grid")()),
    "json": ("units/spike_times", (5000,), lambda f: _h5_read(f.nwb, "units/spike_times")()),
    "staging": ("acquisition/new", None, lambda f: np.linspace(0, 1, 3000)),  # a snapshot
}


@pytest.mark.parametrize("kind", list(CLUSTER_CASES))
def test_dask_from_zarr_on_local_cluster(client: Any, files: Files, kind: str) -> None:
    """``da.from_zarr`` of a virtual view computes on two worker processes, as h5py reads."""
    import dask.array as da

    path, chunks, expected_of = CLUSTER_CASES[kind]
    store = KINDS[kind](files)
    array = zarr.open_array(store, path=path, mode="r")
    lazy = da.from_zarr(array, chunks=chunks) if chunks else da.from_zarr(array)
    assert lazy.npartitions > 1
    start = time.perf_counter()
    got = client.compute(lazy).result(timeout=60)
    total = client.compute(lazy.sum()).result(timeout=60)
    elapsed = time.perf_counter() - start
    expected = expected_of(files)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(total, expected.sum(dtype=expected.dtype), rtol=1e-6)
    workers = client.run(lambda: os.getpid())
    assert len(set(workers.values())) == 2
    assert elapsed < 20, f"{kind}: {elapsed:.1f} s on the cluster"


def test_write_back_store_pickles_read_only_and_only_when_flushed(tmp_path) -> None:
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync as zsync
    from zarr.storage import LocalStore

    from nwbzarr.errors import ReadOnlyError
    from nwbzarr.storage.write_back import WriteBackStore

    store = WriteBackStore(LocalStore(tmp_path))
    zsync(store.set("k", default_buffer_prototype().buffer.from_bytes(b"held")))
    with pytest.raises(ReadOnlyError, match="unwritten"):
        pickle.dumps(store)
    zsync(store.flush())
    copy = pickle.loads(pickle.dumps(store))
    assert copy.read_only
    assert zsync(copy.get("k", default_buffer_prototype())).to_bytes() == b"held"
