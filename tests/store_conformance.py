"""Shared pieces of the zarr store conformance tests (``zarr.testing.store.StoreTests``).

Every store nwbzarr defines runs zarr's own suite (tests/<package>/test_<module>_conformance.py).
Writable stores run all of it. Read-only stores (their keys are fixed by what they view) run
:class:`ReadOnlyStoreTests`: the suite's read tests unchanged, its listing tests with the keys
put in place by the test class's backdoor ``set`` instead of the store's own ``set``, and its
write tests replaced by checks that every write is refused with zarr's error and wording.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import pickle
import re
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from zarr.core.buffer import default_buffer_prototype
from zarr.testing.store import StoreTests
from zarr.testing.utils import assert_bytes_equal

#: zarr's words for a write to a read-only store.
READ_ONLY = "store was opened in read-only mode and does not support writing"

#: Inherited tests that write through the store, then read back: a read-only store refuses the
#: write (checked by ``test_read_only_store_raises`` and ``test_writes_refused`` instead).
WRITE_TESTS = (
    "test_set",
    "test_set_not_open",
    "test_set_many",
    "test_set_sync",
    "test_set_if_not_exists",
    "test_clear",
    "test_sync_async_set_get_parity",
    "test_delete_sync_visible_to_async_get",
    "test_get_sync_byte_range_parity",
)

#: Inherited tests that only read, but put their keys in place with the store's ``set`` or
#: ``_set_many``: run with those two going to the test class's backdoor ``set``.
SEEDED_TESTS = (
    "test_exists",
    "test_getsize_prefix",
    "test_list",
    "test_list_prefix",
    "test_list_empty_path",
    "test_list_dir",
)


#: One event loop for every fixture and test of the suite (zarr's own tests run it under
#: pytest-asyncio; here its coroutine tests are run by :class:`ConformanceTests`).
_LOOP = asyncio.new_event_loop()


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run ``coro`` to completion on the suite's event loop."""
    return _LOOP.run_until_complete(coro)


def _blocking(test: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    @functools.wraps(test)  # keeps the signature (fixtures) and the marks (parametrize)
    def blocking(*args: Any, **kwargs: Any) -> Any:
        return run(test(*args, **kwargs))

    blocking._runs_coroutine = True  # type: ignore[attr-defined]
    return blocking


class ConformanceTests(StoreTests):
    """zarr's ``StoreTests`` with its coroutine tests and fixtures run without pytest-asyncio."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in dir(cls):
            test = getattr(cls, name)
            if name.startswith("test_") and inspect.iscoroutinefunction(test):
                setattr(cls, name, _blocking(test))

    @pytest.fixture
    def store(self, open_kwargs: dict[str, Any]) -> Any:
        return run(self.store_cls.open(**open_kwargs))

    @pytest.fixture
    def store_not_open(self, store_kwargs: dict[str, Any]) -> Any:
        return self.store_cls(**store_kwargs)


class _Seeded:
    """The store under test, but ``set``/``_set_many`` put keys in place by the backdoor."""

    def __init__(self, suite: StoreTests, store: Any) -> None:
        self._suite = suite
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def set(self, key: str, value: Any) -> None:
        await self._suite.set(self._store, key, value)

    async def _set_many(self, items: Any) -> None:
        for key, value in items:
            await self._suite.set(self._store, key, value)


def _skipped(reason: str) -> Any:
    @pytest.mark.skip(reason=reason)
    def test(self: Any) -> None:  # pragma: no cover - skipped
        pass

    return test


def _seeded(name: str) -> Any:
    async def test(self: Any, store: Any) -> None:
        await getattr(StoreTests, name)(self, _Seeded(self, store))

    test.__name__ = name
    return test


class ReadOnlyStoreTests(ConformanceTests):
    """zarr's suite for a store that is read-only by design (``read_only`` always True).

    Subclasses set ``store_cls``, ``buffer_cls``, the backdoor ``set`` (``get`` is never
    needed: nothing is written through the store), ``store_kwargs`` and the ``test_store_*``
    abstract tests, and name ``read_only_reason``: why the store cannot be writable.
    """

    buffer_cls = default_buffer_prototype().buffer
    read_only_reason = "read-only by design"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        for name in WRITE_TESTS:
            if hasattr(StoreTests, name) and name not in cls.__dict__:
                setattr(cls, name, _skipped(f"{cls.read_only_reason}: writes are refused"))
        for name in SEEDED_TESTS:
            if hasattr(StoreTests, name) and name not in cls.__dict__:
                setattr(cls, name, _seeded(name))
        super().__init_subclass__(**kwargs)

    async def get(self, store: Any, key: str) -> Any:  # pragma: no cover - never called
        raise AssertionError("nothing is written through a read-only store")

    def test_store_supports_writes(self, store: Any) -> None:
        assert not store.supports_writes
        assert not store.supports_deletes

    def test_store_supports_listing(self, store: Any) -> None:
        assert store.supports_listing

    def test_store_read_only(self, store: Any) -> None:
        assert store.read_only
        with pytest.raises(AttributeError):
            store.read_only = False

    @pytest.mark.parametrize("read_only", [True, False])
    async def test_store_open_read_only(self, open_kwargs: dict[str, Any], read_only: bool) -> None:
        if not read_only:
            pytest.skip(f"{self.read_only_reason}: read_only=False is refused (see below)")
        await super().test_store_open_read_only(open_kwargs, read_only)

    async def test_open_writable_refused(self, open_kwargs: dict[str, Any]) -> None:
        """``read_only=False`` is refused with zarr's error and wording."""
        with pytest.raises(ValueError, match=READ_ONLY):
            await self.store_cls.open(**{**open_kwargs, "read_only": False})

    async def test_serializable_store(self, store: Any) -> None:
        data = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        await self.set(store, "foo", data)
        copy = pickle.loads(pickle.dumps(store))
        assert copy == store
        assert copy.read_only == store.read_only
        assert_bytes_equal(await copy.get("foo", prototype=default_buffer_prototype()), data)

    async def test_with_read_only_store(self, open_kwargs: dict[str, Any]) -> None:
        """The suite's test, for a store no copy of which is writable."""
        store = await self.store_cls.open(**{**open_kwargs, "read_only": True})
        reader = store.with_read_only(read_only=True)
        assert reader.read_only
        for candidate in (store, reader):
            with pytest.raises(ValueError, match=READ_ONLY):
                await candidate.set("foo", self.buffer_cls.from_bytes(b"bar"))
            with pytest.raises(ValueError, match=READ_ONLY):
                await candidate.delete("foo")
        with pytest.raises(ValueError, match=READ_ONLY):
            store.with_read_only(read_only=False)

    async def test_writes_refused(self, store: Any) -> None:
        """Every write method raises zarr's read-only error (nwbzarr's ReadOnlyError too)."""
        from nwbzarr.errors import ReadOnlyError

        value = self.buffer_cls.from_bytes(b"bar")
        for call in (
            lambda: store.set("foo", value),
            lambda: store.set_if_not_exists("foo", value),
            lambda: store._set_many([("foo", value)]),
            lambda: store.delete("foo"),
            lambda: store.delete_dir("foo"),
            lambda: store.clear(),
        ):
            with pytest.raises(ReadOnlyError, match=READ_ONLY):
                await call()


class LocalWrapperTests(ConformanceTests):
    """zarr's suite for a wrapper of a ``LocalStore`` (the pattern of zarr's own
    ``WrapperStore`` tests): the backdoor reads and writes the files under the root."""

    buffer_cls = default_buffer_prototype().buffer

    @staticmethod
    def root_of(store: Any) -> Any:
        """The directory of the wrapped ``LocalStore``."""
        return store._store.root

    async def get(self, store: Any, key: str) -> Any:
        return self.buffer_cls.from_bytes((self.root_of(store) / key).read_bytes())

    async def set(self, store: Any, key: str, value: Any) -> None:
        path = self.root_of(store) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(value.to_bytes())

    @pytest.fixture
    def store_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        from zarr.storage import LocalStore

        return {"store": LocalStore(str(tmp_path))}

    @pytest.fixture
    def open_kwargs(self, tmp_path: Any) -> dict[str, Any]:
        from zarr.storage import LocalStore

        return {"store_cls": LocalStore, "root": str(tmp_path)}

    def test_store_supports_writes(self, store: Any) -> None:
        assert store.supports_writes

    def test_store_supports_listing(self, store: Any) -> None:
        assert store.supports_listing


# -- translated views (V2TranslatingStore, LindiTranslatingStore) --------------------------------

#: Why a translated view cannot hold the suite's keys: it presents v2 documents and chunks only.
TRANSLATED = "a translated view serves only zarr.json documents and chunk keys of v2 arrays"

#: Inherited tests that a translated view cannot run, with the design decision that rules them out.
TRANSLATED_SKIPS = {
    "test_getsize_prefix": f"{TRANSLATED}: the array whose chunks are under 'c/' lists its own "
    "zarr.json there too, which the suite's expected sizes leave out",
    "test_list": f"{TRANSLATED}: the array holding 'foo/c/*' lists its own 'foo/c/zarr.json', "
    "which the suite's expected listing leaves out",
    "test_list_empty_path": f"{TRANSLATED}: the arrays holding 'foo/bar/c/1' and 'foo/baz/c/0' "
    "list their own zarr.json documents, which the suite's expected listing leaves out",
    "test_get_bytes": f"{TRANSLATED}: zarr.json is generated from the v2 documents, so it "
    "cannot hold the suite's arbitrary value",
    "test_get_bytes_sync": f"{TRANSLATED}: zarr.json is generated from the v2 documents",
    "test_get_json": f"{TRANSLATED}: zarr.json is generated from the v2 documents, so it "
    "cannot hold the suite's arbitrary value",
    "test_get_json_sync": f"{TRANSLATED}: zarr.json is generated from the v2 documents",
}

_DIGITS = re.compile(r"\d+")
_DOTTED = re.compile(r"\d+(?:\.\d+)+")


def v2_items(
    key: str, value: bytes, read: Callable[[str], bytes | None]
) -> list[tuple[str, bytes]]:
    """The v2 keys to write so that a translated view serves ``key`` (with ``value`` for chunks).

    ``<node>/zarr.json`` becomes a v2 group at ``<node>`` (the view generates the document from
    it, so the value is not kept); any other key must be a chunk key, ``<array>/<i>[/<j>...]``
    or ``<array>/<i>.<j>...``: ``<array>`` becomes (or grows) a one-byte-integer v2 array, no
    compressor, whose chunks hold ``len(value)`` elements, and the chunk is ``value`` itself.
    ``read`` returns what the v2 store holds under a key (None if nothing). Keys and values a
    translated view cannot serve skip the test, naming why.
    """
    node, _, leaf = key.rpartition("/")
    if leaf == "zarr.json":
        return [(f"{node}/.zgroup" if node else ".zgroup", b'{"zarr_format": 2}')]
    if _DOTTED.fullmatch(leaf):
        path, separator, index = node, ".", [int(i) for i in leaf.split(".")]
    else:
        parts = key.split("/")
        n = len(parts)
        while n and _DIGITS.fullmatch(parts[n - 1]):
            n -= 1
        if n == len(parts):
            pytest.skip(f"{TRANSLATED}: {key!r} is neither")
        path, separator, index = "/".join(parts[:n]), "/", [int(i) for i in parts[n:]]
    if not value:
        pytest.skip(
            f"{TRANSLATED}: a v2 chunk holds at least one element, so an empty value "
            f"({key!r}) cannot be one"
        )
    zarray_key = f"{path}/.zarray" if path else ".zarray"
    old = read(zarray_key)
    grid = [i + 1 for i in index]
    if old is not None:
        meta = json.loads(old)
        if meta["chunks"][0] != len(value) or len(meta["shape"]) != len(index):
            raise AssertionError(f"{key!r}: chunks of one array must have one size and rank")
        grid = [max(g, s // c) for g, s, c in zip(grid, meta["shape"], meta["chunks"])]
    chunks = [len(value)] + [1] * (len(index) - 1)
    meta = {
        "zarr_format": 2,
        "shape": [g * c for g, c in zip(grid, chunks)],
        "chunks": chunks,
        "dtype": "|u1",
        "compressor": None,
        "filters": None,
        "fill_value": 0,
        "order": "C",
        "dimension_separator": separator,
    }
    return [(zarray_key, json.dumps(meta).encode()), (key, value)]


class TranslatedViewTests(ReadOnlyStoreTests):
    """zarr's read-only suite for a view translating a Zarr v2 store (read-only by design).

    The backdoor ``set`` writes the v2 documents and chunk of :func:`v2_items` into the v2
    store (subclasses supply ``write_v2``/``read_v2``) and empties the view's caches, as a new
    view would. Tests the suite's keys rule out are skipped with the reason (``TRANSLATED_SKIPS``).
    """

    read_only_reason = "a translated view of a Zarr v2 store is read-only"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        for name, reason in TRANSLATED_SKIPS.items():
            if hasattr(StoreTests, name) and name not in cls.__dict__:
                setattr(cls, name, _skipped(reason))
        super().__init_subclass__(**kwargs)

    def write_v2(self, base: Any, key: str, value: bytes) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def read_v2(self, base: Any, key: str) -> bytes | None:  # pragma: no cover - abstract
        raise NotImplementedError

    async def set(self, store: Any, key: str, value: Any) -> None:
        base = store.base
        for v2_key, data in v2_items(key, value.to_bytes(), lambda k: self.read_v2(base, k)):
            self.write_v2(base, v2_key, data)
        store._reset_caches()

    async def test_serializable_store(self, store: Any) -> None:
        """The read-only suite's test, with a chunk key (a translated view serves no 'foo')."""
        data = self.buffer_cls.from_bytes(b"\x01\x02\x03\x04")
        await self.set(store, "c/0", data)
        copy = pickle.loads(pickle.dumps(store))
        assert copy == store
        assert copy.read_only == store.read_only
        assert_bytes_equal(await copy.get("c/0", prototype=default_buffer_prototype()), data)

    async def test_is_empty_chunk_keys(self, store: Any) -> None:
        """The suite's ``test_is_empty`` with a chunk key in place of 'foo/bar'."""
        assert await store.is_empty("")
        await self.set(store, "foo/0", self.buffer_cls.from_bytes(b"something"))
        assert not await store.is_empty("")
        assert await store.is_empty("fo")
        assert not await store.is_empty("foo/")
        assert not await store.is_empty("foo")
        assert await store.is_empty("spam/")

    async def test_translated_chunk_and_document(self, store: Any) -> None:
        """A chunk set by the backdoor is served as is; its array's zarr.json is a v3 array."""
        await self.set(store, "zarr.json", self.buffer_cls.from_bytes(b"{}"))
        await self.set(store, "a/b/1.0", self.buffer_cls.from_bytes(b"\x05\x06"))
        proto = default_buffer_prototype()
        assert (await store.get("a/b/1.0", prototype=proto)).to_bytes() == b"\x05\x06"
        assert await store.get("a/b/0.0", prototype=proto) is None
        meta = json.loads((await store.get("a/b/zarr.json", prototype=proto)).to_bytes())
        assert meta["node_type"] == "array" and meta["shape"] == [4, 1]
        assert (
            json.loads((await store.get("zarr.json", prototype=proto)).to_bytes())["node_type"]
            == "group"
        )
        assert not await store.exists("a/b/.zarray")
        assert await store.get("a/b/.zarray", prototype=proto) is None
