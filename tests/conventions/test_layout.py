"""Chunk, shard and codec policy for new arrays (conventions/layout.py): pure rules.

``tests/backend/test_dataio.py`` covers ``chunks_within`` and ``resolve_shards`` through
``ZarrDataIO``; these tables pin the policy's numbers themselves.
"""

from __future__ import annotations

import numpy as np
import pytest

from nwbzarr.conventions.layout import (
    SHARDS_POLICY,
    SHARDS_REQUIRED,
    choose_chunks,
    choose_shards,
    compressors_for,
    resolve_shards,
)
from nwbzarr.errors import UnsupportedCodecError

KiB = 1024
MiB = 1024 * KiB


@pytest.mark.parametrize(
    ("shape", "itemsize", "chunk_bytes", "expected"),
    [
        ((), 8, 256 * KiB, ()),
        ((100,), 8, 256 * KiB, (100,)),  # fits: one chunk
        ((0, 3), 4, 256 * KiB, (1, 3)),  # zero-length dimensions count as 1
        ((10,), 0, 256 * KiB, (10,)),  # itemsize at least 1
        ((1_000_000,), 8, 256 * KiB, (32768,)),
        ((100,), 8, 80, (10,)),
        ((3_000_000, 2), 2, 256 * KiB, (65536, 2)),
        ((100_000, 384), 2, 256 * KiB, (2048, 64)),  # at most 64 channels per chunk
        ((1000, 512, 512), 1, 256 * KiB, (16, 128, 128)),  # 128 pixels per trailing axis
        ((1000, 512, 512), 4, 256 * KiB, (4, 128, 128)),
        ((1000, 100, 3), 1, 256 * KiB, (873, 100, 3)),
        ((10, 64), 8, 256, (1, 32)),  # one row too big: halve the trailing axis
        ((5, 128, 128), 8, 1000, (1, 8, 8)),  # halved in turn, largest axis first
    ],
)
def test_choose_chunks(shape, itemsize, chunk_bytes, expected):
    assert choose_chunks(shape, itemsize, chunk_bytes) == expected


@pytest.mark.parametrize(
    ("shape", "chunks", "itemsize", "shard_bytes", "expected"),
    [
        ((), (), 8, 128 * MiB, None),
        ((100,), (100,), 8, 128 * MiB, None),  # one chunk
        ((1000,), (100,), 8, 0, None),  # disabled
        ((1000,), (100,), 8, 800, None),  # a shard would be one chunk
        ((1000,), (100,), 8, 2000, (200,)),
        ((1_000_000,), (32768,), 8, 128 * MiB, (1015808,)),
        ((3_000_000, 2), (65536, 2), 2, 128 * MiB, (3014656, 2)),
        ((100_000, 384), (2048, 64), 2, 128 * MiB, (100352, 384)),  # spans all channels
        ((10, 1000), (1, 100), 1, 300, (1, 300)),  # trailing span halved to fit
    ],
)
def test_choose_shards(shape, chunks, itemsize, shard_bytes, expected):
    assert choose_shards(shape, chunks, itemsize, shard_bytes) == expected


@pytest.mark.parametrize(
    ("request_", "shape", "chunks", "text", "expected"),
    [
        (None, (1000,), (100,), False, None),
        ((500,), (1000,), (100,), False, (500,)),
        ([20, 10], (100, 10), (10, 5), False, (20, 10)),
        (SHARDS_POLICY, (1000,), (100,), False, (1000,)),
        (SHARDS_POLICY, (1000,), (100,), True, None),  # text stays unsharded
        (SHARDS_REQUIRED, (1000,), (100,), True, (1000,)),
        (SHARDS_REQUIRED, (100,), (100,), False, (100,)),  # one chunk per shard
        (SHARDS_REQUIRED, (), (), False, None),  # a scalar has no shard
    ],
)
def test_resolve_shards(request_, shape, chunks, text, expected):
    assert resolve_shards(request_, shape, chunks, 8, text=text) == expected


def test_resolve_shards_refuses_unknown_requests():
    with pytest.raises(ValueError, match="unknown shard request 'automatic'"):
        resolve_shards("automatic", (10,), (10,), 4)


def _blosc(cname, clevel, shuffle, typesize):
    config = {"typesize": typesize, "cname": cname, "clevel": clevel, "shuffle": shuffle}
    return [{"name": "blosc", "configuration": {**config, "blocksize": 0}}]


@pytest.mark.parametrize(
    ("codec", "dtype", "expected"),
    [
        ("blosc-lz4", "int16", _blosc("lz4", 5, "bitshuffle", 2)),
        ("blosc-lz4", "uint8", _blosc("lz4", 5, "bitshuffle", 1)),
        ("blosc-lz4", "bool", _blosc("lz4", 5, "bitshuffle", 1)),
        ("blosc-lz4", "datetime64[ns]", _blosc("lz4", 5, "bitshuffle", 8)),
        ("blosc-zstd", "float64", _blosc("zstd", 3, "shuffle", 8)),
        ("blosc-zstd", "uint8", _blosc("zstd", 3, "noshuffle", 1)),
        ("zstd", "float32", [{"name": "zstd", "configuration": {"level": 3, "checksum": False}}]),
        ("gzip", "int32", [{"name": "gzip", "configuration": {"level": 4}}]),
        ("none", "float64", []),
    ],
)
def test_compressors_for_numeric_arrays(codec, dtype, expected):
    assert [c.to_dict() for c in compressors_for(codec, np.dtype(dtype))] == expected


@pytest.mark.parametrize(
    ("codec", "dtype"),
    [
        ("blosc-lz4", str),
        ("zstd", str),
        ("none", str),
        ("blosc-lz4", np.dtype([("a", "<i4"), ("b", "<f8")])),
        ("gzip", np.dtype("U4")),
    ],
)
def test_text_and_compound_arrays_use_zarr_defaults(codec, dtype):
    assert compressors_for(codec, dtype) == "auto"


@pytest.mark.parametrize("dtype", [np.dtype("int16"), str])
def test_unknown_codec_names_are_refused(dtype):
    with pytest.raises(UnsupportedCodecError, match="unknown codec 'lz4'"):
        compressors_for("lz4", dtype)
