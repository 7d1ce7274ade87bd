"""The on-disk chunk cache (storage/cache.py) alone and behind the range reader."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from zarr.core.sync import sync

from nwbzarr.storage.cache import LocalCache
from nwbzarr.storage.manifest import ByteRange
from nwbzarr.storage.ranges import open_range_reader

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture(scope="module")
def random_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    """``(directory, data)``: ``f.bin`` in the directory holds ``data`` (1 MiB random bytes)."""
    root = tmp_path_factory.mktemp("cache-served")
    data = np.random.default_rng(7).integers(0, 256, 2**20, dtype=np.uint8).tobytes()
    (root / "f.bin").write_bytes(data)
    return root, data


@pytest.fixture(scope="module")
def served_dir(random_file: tuple[Path, bytes]) -> Path:
    """What the ``server`` fixture (conftest) serves: the random file's directory."""
    return random_file[0]


def test_second_read_is_served_from_the_cache(tmp_path, server, random_file) -> None:
    data = random_file[1]
    url = server.url("f.bin")
    refs = [ByteRange(url, i * 5000, 4000) for i in range(20)] + [ByteRange(url, 900_000, -1)]
    expected = [data[r.offset : r.offset + 4000] for r in refs[:-1]] + [data[900_000:]]
    with open_range_reader(cache=LocalCache(tmp_path / "c", 2**22)) as reader:
        assert sync(reader.read_many(refs)) == expected
        assert reader.requests == 2  # 20 chunks merged into one request, plus the tail
    server.clear_log()
    cache = LocalCache(tmp_path / "c", 2**22)
    with open_range_reader(cache=cache) as reader:
        assert sync(reader.read_many(refs)) == expected
        assert reader.requests == 0 and reader.bytes_read == 0
    assert server.log == [] and cache.hits == len(refs)


def test_local_ranges_are_not_cached(tmp_path, random_file) -> None:
    cache = LocalCache(tmp_path / "c", 2**22)
    path = str(random_file[0] / "f.bin")
    with open_range_reader(cache=cache) as reader:
        assert sync(reader.read(ByteRange(path, 10, 10))) == random_file[1][10:20]
    assert cache.total_bytes() == 0 and cache.hits == cache.misses == 0


def test_cache_from_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NWBZARR_CACHE_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("NWBZARR_CACHE_MAX_BYTES", "12345")
    reader = open_range_reader()
    assert reader.cache is not None and reader.cache.max_bytes == 12345
    assert reader.cache.directory == tmp_path / "env"
    assert open_range_reader(cache=False).cache is None
    monkeypatch.setenv("NWBZARR_CACHE_MAX_BYTES", "lots")
    with pytest.raises(ValueError, match="NWBZARR_CACHE_MAX_BYTES"):
        open_range_reader()
    monkeypatch.delenv("NWBZARR_CACHE_DIR")
    assert open_range_reader().cache is None


def test_eviction_keeps_total_under_bound_and_recent_entries(tmp_path) -> None:
    cache = LocalCache(tmp_path, max_bytes=10_000)
    for i in range(30):
        cache.put("https://h/x", i * 1000, 1000, bytes([i]) * 1000)
        assert cache.total_bytes() <= 10_000
        if i == 5:
            os.utime(cache.path_for("https://h/x", 0, 1000), (0, 0))  # oldest: evicted first
    assert cache.get("https://h/x", 29 * 1000, 1000) == bytes([29]) * 1000
    assert cache.get("https://h/x", 0, 1000) is None
    cache.put("https://h/x", 0, 20_000, b"x" * 20_000)  # larger than the bound: not stored
    assert cache.get("https://h/x", 0, 20_000) is None
    assert cache.total_bytes() <= 10_000


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # truncated payload
        lambda b: b[:10],  # truncated header
        lambda b: b[:-1] + bytes([b[-1] ^ 1]),  # flipped bit: checksum
        lambda b: b"XXXX" + b[4:],  # wrong magic
        lambda b: b"",
    ],
)
def test_corrupt_entry_is_a_miss_and_refetched(tmp_path, server, random_file, damage) -> None:
    url = server.url("f.bin")
    cache = LocalCache(tmp_path, 2**20)
    with open_range_reader(cache=cache) as reader:
        assert sync(reader.read(ByteRange(url, 100, 5000))) == random_file[1][100:5100]
    entry = cache.path_for(url, 100, 5000)
    entry.write_bytes(damage(entry.read_bytes()))
    assert cache.get(url, 100, 5000) is None
    assert not entry.exists()  # dropped
    entry.parent.mkdir(exist_ok=True)
    entry.write_bytes(damage(b"\0" * 40))
    with open_range_reader(cache=cache) as reader:
        assert sync(reader.read(ByteRange(url, 100, 5000))) == random_file[1][100:5100]
        assert reader.requests == 1
    assert cache.get(url, 100, 5000) == random_file[1][100:5100]


def test_entry_of_another_length_is_not_used(tmp_path) -> None:
    cache = LocalCache(tmp_path, 2**20)
    cache.put("https://h/x", 0, 10, b"0123456789")
    target = cache.path_for("https://h/x", 0, 5)
    target.parent.mkdir(exist_ok=True)
    os.replace(cache.path_for("https://h/x", 0, 10), target)
    assert cache.get("https://h/x", 0, 5) is None


_WORKER = textwrap.dedent(
    """
    import hashlib, random, sys
    from nwbzarr.storage.cache import LocalCache

    cache = LocalCache(sys.argv[1], max_bytes=60_000)
    rng = random.Random(int(sys.argv[2]))
    bad = hits = 0
    for step in range(600):
        key = rng.randrange(40)
        size = 1000 + key * 37
        payload = hashlib.sha256(str(key).encode()).digest() * (size // 32 + 1)
        payload = payload[:size]
        got = cache.get("https://h/shared", key * 10_000, size)
        if got is None:
            cache.put("https://h/shared", key * 10_000, size, payload)
        elif got == payload:
            hits += 1
        else:
            bad += 1
    print(bad, hits)
    """
)


def test_two_processes_share_a_cache_directory(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for seed in (1, 2)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        bad, hits = map(int, out.split())
        assert bad == 0 and hits > 0
    # the documented bound for n processes: max_bytes + n * (max_bytes / 32 + largest entry)
    largest = 24 + 1000 + 39 * 37
    assert LocalCache(tmp_path, 60_000).total_bytes() <= 60_000 + 2 * (60_000 // 32 + largest)


def test_another_process_reads_what_this_one_cached(tmp_path, server, random_file) -> None:
    url = server.url("f.bin")
    refs = [ByteRange(url, i * 70_000, 3000) for i in range(5)]
    with open_range_reader(cache=LocalCache(tmp_path, 2**22)) as reader:
        sync(reader.read_many(refs))
    server.clear_log()
    script = textwrap.dedent(
        f"""
        import hashlib
        from zarr.core.sync import sync
        from nwbzarr.storage.cache import LocalCache
        from nwbzarr.storage.ranges import open_range_reader
        from nwbzarr.storage.manifest import ByteRange
        refs = [ByteRange({url!r}, i * 70_000, 3000) for i in range(5)]
        with open_range_reader(cache=LocalCache({str(tmp_path)!r}, 2**22)) as reader:
            out = sync(reader.read_many(refs))
            print(reader.requests, hashlib.sha256(b"".join(out)).hexdigest())
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert proc.returncode == 0, proc.stderr
    requests, digest = proc.stdout.split()
    expected = b"".join(random_file[1][r.offset : r.offset + 3000] for r in refs)
    assert requests == "0" and digest == hashlib.sha256(expected).hexdigest()
    assert server.log == []


def test_eviction_removes_temporary_files_of_killed_writers(tmp_path) -> None:
    cache = LocalCache(tmp_path, 10_000)
    cache.put("https://h/y", 0, 100, b"x" * 100)
    sub = cache.path_for("https://h/y", 0, 100).parent
    stale, fresh = sub / ".tmp-1-stale", sub / ".tmp-2-fresh"
    stale.write_bytes(b"s" * 50)
    fresh.write_bytes(b"f" * 50)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    cache.evict()
    assert not stale.exists() and fresh.exists()
    assert cache.get("https://h/y", 0, 100) == b"x" * 100
