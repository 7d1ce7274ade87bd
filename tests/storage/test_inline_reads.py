"""InlineReadStore: small local files read in the calling coroutine, same bytes as LocalStore."""

from __future__ import annotations

import numpy as np
import pytest
import zarr
from conftest import ECEPHYS_FILE
from zarr.abc.store import RangeByteRequest
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore

import nwbzarr
from nwbzarr import NWBZarrIO
from nwbzarr.storage.inline_reads import InlineReadStore

PROTO = default_buffer_prototype()


@pytest.fixture(scope="module")
def ecephys_store(tmp_path_factory):
    dst = tmp_path_factory.mktemp("inline") / "ecephys.nwb.zarr"
    nwbzarr.convert(ECEPHYS_FILE, dst, progress=False)
    return dst


async def _keys(store) -> list[str]:
    return sorted([k async for k in store.list()])


def test_every_key_reads_the_same_bytes(ecephys_store):
    plain = LocalStore(ecephys_store, read_only=True)
    inline = InlineReadStore(LocalStore(ecephys_store, read_only=True), max_inline_bytes=4096)
    keys = sync(_keys(plain))
    sizes = [(ecephys_store / k).stat().st_size for k in keys]
    assert min(sizes) <= 4096 < max(sizes)  # both paths are taken
    for key in keys:
        assert sync(inline.get(key, PROTO)).to_bytes() == sync(plain.get(key, PROTO)).to_bytes()
    big = keys[int(np.argmax(sizes))]
    part = sync(inline.get(big, PROTO, RangeByteRequest(10, 50))).to_bytes()
    assert part == (ecephys_store / big).read_bytes()[10:50]
    assert sync(inline.get("no/such/key", PROTO)) is None
    assert sync(inline.get("units", PROTO)) is None  # a directory, as LocalStore answers
    assert inline.root == plain.root


def test_read_mode_uses_it_and_values_match(ecephys_store):
    with NWBZarrIO(str(ecephys_store), mode="r") as io:
        assert isinstance(io.file.store, InlineReadStore)
        nwb = io.read()
        spikes = nwb.units.spike_times.data[:]
    plain = LocalStore(ecephys_store, read_only=True)
    expected = zarr.open_array(plain, path="units/spike_times", mode="r")[...]
    np.testing.assert_array_equal(spikes, expected)
