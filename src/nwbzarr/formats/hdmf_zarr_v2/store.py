"""A read-only zarr v3 store presenting a legacy hdmf-zarr (< 0.14) Zarr v2 store in the
unified v3 convention, so the ordinary reader (and plain zarr-python) reads it unchanged.

Source formats: the Zarr v2 storage specification (``.zgroup``, ``.zarray``, ``.zattrs``,
``.zmetadata``, chunk keys ``i.j`` or ``i/j``), hdmf-zarr's 0.x storage specification (see
:mod:`nwbzarr.formats.hdmf_zarr_v2.conventions`), and the Zarr v3 core specification for what is
served.

How it works (``docs/storage.md`` §9):

* ``<node>/zarr.json`` is generated from the v2 documents (from ``.zmetadata`` when present:
  one request for the whole tree; otherwise per node). The root carries inline consolidated
  metadata when the v2 store had it and the store was opened with ``use_consolidated=True``.
* Arrays keep their chunk grid and declare ``chunk_key_encoding`` ``v2`` with the v2
  separator, so chunk keys pass through. Each chunk is decoded here (compressor, filters, safe
  object codecs) and served for a trivial v3 pipeline: ``bytes`` (little-endian) for numbers,
  booleans and plain compounds, ``vlen-utf8`` for text and for references (as target paths).
* ``zarr_dtype: "scalar"`` arrays of shape ``(1,)`` become 0-d; their one chunk keeps key ``0``.
* Compounds with text or reference fields (pickled/JSON object rows in v2) are decoded whole
  when their metadata is first needed, since their fixed-length text fields must be sized.
* Two options serve hdmf-zarr's ``ZarrV2IO`` API (:mod:`nwbzarr.backend.legacy_io`):
  ``allow_pickle=False`` refuses to decode any chunk of an array that declares the ``pickle``
  codec (:class:`~nwbzarr.errors.UnsafePickleError`), and ``omit_unreadable=True`` leaves out
  of the hierarchy a member whose metadata cannot be translated or whose codecs are not
  available, keeping its error in :attr:`V2TranslatingStore.omitted` instead of failing the
  whole store.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import AsyncIterator, Iterable
from typing import Any

import numcodecs
import numpy as np
from zarr.abc.store import (
    ByteRequest,
    Store,
)

from ...compat import (
    Buffer,
    BufferPrototype,
    StoreCompat,
    default_buffer_prototype,
    read_only_store_error,
    sync,
    zdtype_from_native,
)
from ...conventions.attributes import ARRAY_DIMENSIONS_ATTR
from ...conventions.dimension_names import (
    ROOT_SCOPE,
    ArrayDims,
    Scope,
    child_scope,
    colnames_of,
    group_dimension_names,
)
from ...errors import CorruptChunkError, LegacyFormatError, UnsafePickleError
from ...storage.byte_ranges import slice_bytes
from ...storage.resolve import checked_pipeline_installed, restore_checked_pipeline
from .chunks import as_paths, as_text, check_codecs, compound_rows, decode_v2_chunk
from .conventions import (
    COMPOUND,
    NUMERIC,
    REFERENCE,
    TEXT,
    V2_ARRAY,
    V2_ATTRS,
    V2_CONSOLIDATED,
    V2_GROUP,
    V2_KEYS,
    ArrayPlan,
    parse_json_document,
    plan_array,
    translate_group_attributes,
)

ZARR_JSON = "zarr.json"
_CHUNK_NAME = re.compile(r"\d+(?:[./]\d+)*")
_MISSING = object()


def is_legacy_v2_store(store: Store) -> bool:
    """Return True if ``store`` holds a Zarr v2 root group (``.zgroup``) and no ``zarr.json``.

    Never raises: unreadable stores return False.
    """
    try:
        return bool(sync(store.exists(V2_GROUP))) and not sync(store.exists(ZARR_JSON))
    except Exception:
        return False


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def pickle_refused(where: str) -> UnsafePickleError:
    """The error for an array stored with the ``pickle`` codec when pickle is not allowed.

    Parameters
    ----------
    where : str
        The store and dataset path (e.g. ``"a.nwb.zarr: /general/.../group"``).

    Returns
    -------
    UnsafePickleError
        Its one-line message names ``where`` and says to pass ``allow_pickle=True``.
    """
    return UnsafePickleError(
        f"{where}: stored with the pickle codec (hdmf-zarr < 0.14 wrote object references and "
        "compound rows so), which is refused by default; pass allow_pickle=True (to "
        "ZarrV2IO/NWBZarrV2IO or convert_to_v3) only if you trust this file. nwbzarr then "
        "decodes it as plain data with its restricted unpickler, never with pickle"
    )


class V2TranslatingStore(StoreCompat, Store):
    """Read-only view of a legacy hdmf-zarr Zarr v2 store in the Zarr v3 HDMF convention.

    Parameters
    ----------
    base : zarr.abc.store.Store
        The store holding the v2 hierarchy (``LocalStore``, ``FsspecStore``, ...), as returned
        by :func:`nwbzarr.storage.resolve.open_store`. It is only read.
    use_consolidated : bool
        Read ``.zmetadata`` (one request for all metadata) and expose it as inline consolidated
        metadata on the root. With False every node's v2 documents are read on demand.
    allow_pickle : bool
        Decode chunks of arrays that declare the ``pickle`` codec (through
        :mod:`nwbzarr.formats.hdmf_zarr_v2.safe_pickle`, plain data only). With False they raise
        :class:`~nwbzarr.errors.UnsafePickleError` before anything is decoded.
    omit_unreadable : bool
        Leave out a member (not the root) whose metadata cannot be translated, or whose codecs
        are unavailable here, as if it were absent; its error is kept in :attr:`omitted`
        (path -> exception). With False (default) such a member raises when it is reached.
    read_only : bool
        Accepted for zarr's ``Store.open(..., read_only=...)``; only True is possible.

    Raises
    ------
    ReadOnlyError
        On any write, delete, ``with_read_only(False)`` or ``read_only=False`` (also a
        ``ValueError`` with zarr's wording, as zarr's read-only stores raise).
    LegacyFormatError
        When a metadata document or chunk is malformed, unsupported, or unsafe (subclass
        :class:`~nwbzarr.errors.UnsafePickleError`); messages name the key.
    """

    supports_writes = False
    supports_deletes = False

    def __init__(
        self,
        base: Store,
        *,
        use_consolidated: bool = True,
        allow_pickle: bool = True,
        omit_unreadable: bool = False,
        read_only: bool = True,
    ) -> None:
        super().__init__(read_only=True)
        if not read_only:
            raise read_only_store_error(
                f"{base}: legacy hdmf-zarr (Zarr v2) stores are read-only; migrate it with "
                "'nwbzarr convert OLD.nwb.zarr NEW.nwb.zarr' and write to the new store"
            )
        self._base = base
        self._use_consolidated = use_consolidated
        self.allow_pickle = bool(allow_pickle)
        self.omit_unreadable = bool(omit_unreadable)
        #: Members left out (``omit_unreadable``): store path (no leading ``/``) -> the error.
        self._reset_caches()
        root = getattr(base, "root", None) or getattr(base, "path", None)
        self._label = str(root) if root is not None else str(base)

    #: Attributes rebuilt from the underlying store, never pickled (see :meth:`__getstate__`).
    _CACHED: tuple[str, ...] = (
        "omitted",
        "_consolidated",
        "_docs",
        "_plans",
        "_compounds",
        "_group_dims",
    )

    def _reset_caches(self) -> None:
        """Empty what is read and translated on demand (documents, plans, decoded compounds)."""
        self.omitted: dict[str, Exception] = {}
        self._consolidated: Any = _MISSING
        self._docs: dict[str, Any] = {}
        self._plans: dict[str, ArrayPlan] = {}
        self._compounds: dict[str, np.ndarray] = {}
        self._group_dims: dict[str, tuple[dict[str, list[str]], Scope]] = {}

    # -- pickling (dask workers) ----------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The underlying store and the options; the caches are rebuilt after unpickling.

        Returns
        -------
        dict
        """
        state = self.__dict__.copy()
        for name in self._CACHED:
            state.pop(name, None)
        state["_checked_pipeline"] = checked_pipeline_installed()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore the view with empty caches (documents are read again on first use).

        Parameters
        ----------
        state : dict
            What :meth:`__getstate__` returned.
        """
        restore_checked_pipeline(state.pop("_checked_pipeline", False))
        self.__dict__.update(state)
        self._reset_caches()

    # -- identity -----------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, V2TranslatingStore)
            and self._base == other._base
            and self._options() == other._options()
        )

    def _options(self) -> dict[str, bool]:
        return {
            "use_consolidated": self._use_consolidated,
            "allow_pickle": self.allow_pickle,
            "omit_unreadable": self.omit_unreadable,
        }

    def __hash__(self) -> int:
        return hash((type(self), id(self._base)))

    def __repr__(self) -> str:
        return f"V2TranslatingStore({self._base!r})"

    def __str__(self) -> str:
        return f"legacy-v2:{self._base}"

    @property
    def base(self) -> Store:
        """The underlying v2 store."""
        return self._base

    def with_read_only(self, read_only: bool = False) -> V2TranslatingStore:
        """Return a new view over the same store; only ``read_only=True`` is possible."""
        if not read_only:
            self._check_writable()
        return type(self)(self._base, **self._options())

    async def _open(self) -> None:
        if self._is_open:
            raise ValueError("store is already open")  # zarr's Store._open wording
        await self._base._ensure_open()
        self._is_open = True

    def close(self) -> None:
        """Close this view (the underlying store is closed too)."""
        super().close()
        self._base.close()

    @property
    def supports_listing(self) -> bool:
        """Listing works when the underlying store lists (or from consolidated metadata)."""
        return True

    @property
    def supports_consolidated_metadata(self) -> bool:
        """True: the root serves inline consolidated metadata (consolidating again would write,
        which the view refuses)."""
        return True

    # -- refused writes -------------------------------------------------------------------------
    def _check_writable(self) -> None:
        raise read_only_store_error(
            f"{self._label}: legacy hdmf-zarr (Zarr v2) stores are read-only; migrate it with "
            "'nwbzarr convert OLD.nwb.zarr NEW.nwb.zarr' (or NWBZarrV2IO.convert_to_v3(OLD, "
            "NEW) in Python) and write to the new store"
        )

    async def set(self, key: str, value: Buffer) -> None:
        """Refused: raises :class:`~nwbzarr.errors.ReadOnlyError`."""
        self._check_writable()

    async def delete(self, key: str) -> None:
        """Refused: raises :class:`~nwbzarr.errors.ReadOnlyError`."""
        self._check_writable()

    async def set_if_not_exists(self, key: str, value: Buffer) -> None:
        """Refused: raises :class:`~nwbzarr.errors.ReadOnlyError`."""
        self._check_writable()

    async def _set_many(self, values: Iterable[tuple[str, Buffer]]) -> None:
        self._check_writable()

    async def delete_dir(self, prefix: str) -> None:
        """Refused: raises :class:`~nwbzarr.errors.ReadOnlyError`."""
        self._check_writable()

    async def clear(self) -> None:
        """Refused: raises :class:`~nwbzarr.errors.ReadOnlyError`."""
        self._check_writable()

    # -- v2 documents -------------------------------------------------------------------------
    async def _raw(self, key: str) -> bytes | None:
        buf = await self._base.get(key, prototype=default_buffer_prototype())
        return None if buf is None else buf.to_bytes()

    async def _consolidated_docs(self) -> dict | None:
        if self._consolidated is _MISSING:
            docs = None
            if self._use_consolidated:
                raw = await self._raw(V2_CONSOLIDATED)
                if raw is not None:
                    doc = parse_json_document(raw, f"{self._label}/{V2_CONSOLIDATED}")
                    docs = doc.get("metadata")
                    if not isinstance(docs, dict):
                        raise LegacyFormatError(
                            f"{self._label}/{V2_CONSOLIDATED}: no 'metadata' object"
                        )
            self._consolidated = docs
        return self._consolidated

    async def _doc(self, key: str) -> dict | None:
        """A parsed v2 document (``.zarray``/``.zgroup``/``.zattrs``) or None if absent."""
        docs = await self._consolidated_docs()
        if docs is not None:
            value = docs.get(key)
            if value is not None and not isinstance(value, dict):
                raise LegacyFormatError(f"{self._label}/{V2_CONSOLIDATED}: {key} is not an object")
            return value
        if key not in self._docs:
            raw = await self._raw(key)
            self._docs[key] = (
                None if raw is None else parse_json_document(raw, f"{self._label}/{key}")
            )
        return self._docs[key]

    async def _plan(self, path: str) -> ArrayPlan | None:
        """The translation plan of the array at ``path``, or None if no array is there."""
        if path in self._plans:
            return self._plans[path]
        zarray = await self._doc(_join(path, V2_ARRAY))
        if zarray is None:
            return None
        if zarray.get("zarr_format", 2) != 2:
            raise LegacyFormatError(f"{self._label}/{_join(path, V2_ARRAY)}: not Zarr format 2")
        zattrs = await self._doc(_join(path, V2_ATTRS)) or {}
        plan = plan_array(zarray, zattrs, f"{self._label}/{path}")
        self._plans[path] = plan
        return plan

    def _check_pickle(self, plan: ArrayPlan) -> None:
        if not self.allow_pickle and plan.uses_pickle:
            raise pickle_refused(f"{self._label}: /{plan.path.removeprefix(self._label + '/')}")

    async def declares_pickle(self, path: str) -> bool:
        """True if the array at ``path`` (store path, no leading ``/``) declares ``pickle``.

        False for groups, missing nodes and arrays whose ``.zarray`` cannot be planned.
        """
        try:
            plan = await self._plan(path)
        except LegacyFormatError:
            return False
        return plan is not None and plan.uses_pickle

    async def _member_metadata(self, path: str) -> dict | None:
        """:meth:`_node_metadata` of a member; with ``omit_unreadable`` a member that cannot be
        translated is recorded in :attr:`omitted` and reported absent (None)."""
        if path in self.omitted:
            return None
        try:
            return await self._node_metadata(path)
        except (LegacyFormatError, CorruptChunkError) as exc:
            if not self.omit_unreadable or not path:
                raise
            self.omitted[path] = exc
            return None

    async def _node_metadata(self, path: str) -> dict | None:
        """The v3 ``zarr.json`` document of the node at ``path`` (without consolidation)."""
        plan = await self._plan(path)
        if plan is not None:
            if self.omit_unreadable and (self.allow_pickle or not plan.uses_pickle):
                check_codecs(plan)  # a refused pickle array is reported as refused, not unreadable
            return await self._array_metadata(path, plan)
        if await self._doc(_join(path, V2_GROUP)) is None:
            return None
        attrs = await self._doc(_join(path, V2_ATTRS)) or {}
        where = f"{self._label}/{_join(path, V2_ATTRS)}"
        return {
            "zarr_format": 3,
            "node_type": "group",
            "attributes": translate_group_attributes(attrs, where),
        }

    async def _array_metadata(self, path: str, plan: ArrayPlan) -> dict:
        if plan.kind in (TEXT, REFERENCE):
            data_type: Any = "string"
            fill: Any = _text_fill(plan) if plan.kind == TEXT else ""
            codecs: list = [{"name": "vlen-utf8", "configuration": {}}]
        else:
            if plan.kind == COMPOUND:
                dtype = (await self._compound(path, plan)).dtype
            else:
                dtype = (
                    plan.v2_dtype.newbyteorder("<") if plan.v2_dtype.itemsize > 1 else plan.v2_dtype
                )
            try:
                zdtype = zdtype_from_native(dtype)
            except Exception as exc:
                raise LegacyFormatError(
                    f"{plan.path}: no Zarr v3 data type for {dtype}: {exc}"
                ) from None
            data_type = zdtype.to_json(zarr_format=3)
            fill = zdtype.to_json_scalar(_fill_scalar(zdtype, plan), zarr_format=3)
            codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
        meta = {
            "zarr_format": 3,
            "node_type": "array",
            "shape": list(plan.shape),
            "data_type": data_type,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(plan.chunks)}},
            "chunk_key_encoding": {"name": "v2", "configuration": {"separator": plan.separator}},
            "fill_value": fill,
            "codecs": codecs,
            "attributes": plan.attributes,
            "storage_transformers": [],
        }
        names = await self._dimension_names(path, plan)
        if names:
            meta["dimension_names"] = names
            meta["attributes"] = {**plan.attributes, ARRAY_DIMENSIONS_ATTR: names}
        return meta

    async def _dimension_names(self, path: str, plan: ArrayPlan) -> list[str] | None:
        """Names of the array's dimensions, chosen with its group's other arrays and in line
        with its ancestors' (the rules of docs/storage.md §4; the ``_ARRAY_DIMENSIONS``
        hdmf-zarr or kerchunk wrote are the candidates)."""
        if not plan.shape:
            return None
        parent, _, name = path.rpartition("/")
        names, _scope = await self._group_names(parent)
        return names.get(name)

    async def _group_names(self, group: str) -> tuple[dict[str, list[str]], Scope]:
        """Names of the arrays of ``group`` and the scope of its children (ancestors first,
        iteratively)."""
        chain = []
        node = group
        while node not in self._group_dims:
            chain.append(node)
            if not node:
                break
            node = node.rpartition("/")[0]
        for node in reversed(chain):
            scope = self._group_dims[node.rpartition("/")[0]][1] if node else ROOT_SCOPE
            arrays: dict[str, ArrayDims] = {}
            for member in await self._array_names(node):
                try:
                    plan = await self._plan(_join(node, member))
                except LegacyFormatError:
                    continue
                if plan is not None:
                    arrays[member] = ArrayDims(tuple(plan.shape), plan.dimension_names)
            attrs = await self._doc(_join(node, V2_ATTRS)) or {}
            colnames = colnames_of(attrs.get("colnames")) if isinstance(attrs, dict) else None
            chosen = group_dimension_names(arrays, colnames, scope, node.rpartition("/")[2])
            self._group_dims[node] = (chosen, child_scope(scope, arrays, chosen))
        return self._group_dims[group]

    async def _array_names(self, parent: str) -> list[str]:
        """Names of the arrays directly in group ``parent`` (from consolidated metadata when
        the store had it, else by listing)."""
        docs = await self._consolidated_docs()
        if docs:
            names = []
            for key in docs:
                node, _, leaf = key.rpartition("/")
                above, _, member = node.rpartition("/")
                if leaf == V2_ARRAY and node and above == parent:
                    names.append(member)
            return names
        names = []
        try:
            async for member in self._base.list_dir(parent):
                if member not in (V2_GROUP, V2_ARRAY, V2_ATTRS, V2_CONSOLIDATED):
                    if await self._doc(_join(parent, member, V2_ARRAY)) is not None:
                        names.append(member)
        except (NotImplementedError, OSError):
            return []
        return names[:100_000]

    async def _compound(self, path: str, plan: ArrayPlan) -> np.ndarray:
        """Decode a compound with text/reference fields whole (once) as a structured array."""
        if path not in self._compounds:
            self._check_pickle(plan)
            full = np.empty(plan.v2_shape, dtype=plan.v2_dtype if plan.v2_dtype.names else object)
            for index in np.ndindex(
                *[math.ceil(s / c) for s, c in zip(plan.v2_shape, plan.v2_chunks)]
            ):
                name = plan.separator.join(map(str, index)) or "0"
                raw = await self._raw(_join(path, name))
                if raw is None:
                    continue
                chunk = decode_v2_chunk(raw, plan, name)
                region = tuple(
                    slice(i * c, min((i + 1) * c, s))
                    for i, c, s in zip(index, plan.v2_chunks, plan.v2_shape)
                )
                full[region] = chunk[tuple(slice(0, r.stop - r.start) for r in region)]
            self._compounds[path] = compound_rows(full, plan)
        return self._compounds[path]

    async def _root_metadata(self) -> dict | None:
        meta = await self._node_metadata("")
        docs = await self._consolidated_docs()
        if meta is None or docs is None:
            return meta
        children: dict[str, Any] = {}
        for key in sorted(docs):
            node, _, leaf = key.rpartition("/")
            if leaf in (V2_GROUP, V2_ARRAY) and node:
                child = await self._member_metadata(node)
                if child is not None:
                    children[node] = child
        if self.omitted:  # nothing under a member left out
            children = {
                node: meta
                for node, meta in children.items()
                if not any(node.startswith(gone + "/") for gone in self.omitted)
            }
        meta["consolidated_metadata"] = {
            "kind": "inline",
            "must_understand": False,
            "metadata": children,
        }
        return meta

    # -- chunks -------------------------------------------------------------------------------
    async def _split_chunk_key(self, key: str) -> tuple[str, ArrayPlan, str] | None:
        parts = key.split("/")
        for n_tail in range(1, len(parts) + 1):  # all of it: a chunk of a root array
            name = "/".join(parts[-n_tail:])
            if not _CHUNK_NAME.fullmatch(name):
                return None
            path = "/".join(parts[:-n_tail])
            if path in self.omitted:
                return None
            plan = await self._plan(path)
            if plan is not None:
                return path, plan, name
        return None

    async def _chunk(self, key: str) -> bytes | None:
        found = await self._split_chunk_key(key)
        if found is None:
            return None
        path, plan, name = found
        self._check_pickle(plan)
        if plan.kind == COMPOUND:
            rows = await self._compound(path, plan)
            index = int(name.split(plan.separator)[0]) if plan.shape else 0
            c = plan.chunks[0] if plan.chunks else 1
            part = rows[index * c : (index + 1) * c]
            if part.size == 0:
                return None
            if part.size < c:
                part = np.concatenate([part, np.zeros(c - part.size, dtype=rows.dtype)])
            return part.tobytes()
        raw = await self._raw(_join(path, name))
        if raw is None:
            return None
        arr = decode_v2_chunk(raw, plan, name)
        where = f"{plan.path}/{name}"
        if plan.kind == NUMERIC:
            dtype = plan.v2_dtype.newbyteorder("<") if plan.v2_dtype.itemsize > 1 else plan.v2_dtype
            return np.ascontiguousarray(arr, dtype=dtype).tobytes()
        values = as_paths(arr, where) if plan.kind == REFERENCE else as_text(arr, where)
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return bytes(numcodecs.VLenUTF8().encode(out))

    # -- Store API ----------------------------------------------------------------------------
    async def _value(self, key: str) -> bytes | None:
        leaf = key.rpartition("/")[2]
        if leaf in V2_KEYS:
            return None
        if leaf == ZARR_JSON:
            path = key[: -len(ZARR_JSON)].rstrip("/")
            meta = await (self._root_metadata() if path == "" else self._member_metadata(path))
            return None if meta is None else json.dumps(meta, allow_nan=True).encode()
        return await self._chunk(key)

    async def get(
        self,
        key: str,
        prototype: BufferPrototype,
        byte_range: ByteRequest | None = None,
    ) -> Buffer | None:
        """Return the translated value at ``key`` (``zarr.json`` or a chunk), or None."""
        await self._ensure_open()
        data = await self._value(key)
        if data is None:
            return None
        return prototype.buffer.from_bytes(slice_bytes(data, byte_range))

    async def get_partial_values(
        self,
        prototype: BufferPrototype,
        key_ranges: Iterable[tuple[str, ByteRequest | None]],
    ) -> list[Buffer | None]:
        """Return several (possibly partial) values, in order."""
        return [await self.get(key, prototype, byte_range) for key, byte_range in key_ranges]

    async def exists(self, key: str) -> bool:
        """True if ``key`` is a translated node's ``zarr.json`` or a stored chunk."""
        leaf = key.rpartition("/")[2]
        if leaf in V2_KEYS:
            return False
        if leaf == ZARR_JSON:
            path = key[: -len(ZARR_JSON)].rstrip("/")
            if self.omit_unreadable and path:
                return await self._member_metadata(path) is not None
            return (
                await self._plan(path) is not None
                or await self._doc(_join(path, V2_GROUP)) is not None
            )
        return await self._base.exists(key)

    @staticmethod
    def _translate_key(key: str) -> str | None:
        node, _, leaf = key.rpartition("/")
        if leaf in (V2_GROUP, V2_ARRAY):
            return _join(node, ZARR_JSON)
        if leaf in (V2_ATTRS, V2_CONSOLIDATED):
            return None
        return key

    async def list(self) -> AsyncIterator[str]:
        """All keys, v2 metadata documents shown as ``zarr.json``."""
        async for key in self._base.list():
            out = self._translate_key(key)
            if out is not None:
                yield out

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """Keys starting with ``prefix`` (translated as in :meth:`list`)."""
        async for key in self._base.list_prefix(prefix):
            out = self._translate_key(key)
            if out is not None and out.startswith(prefix):
                yield out

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """Direct children of ``prefix``: member names, chunk names and ``zarr.json``.

        The metadata of a group's members is translated here, before zarr opens them
        concurrently, so a malformed document raises one clear error from this call.
        """
        names: list[str] = []
        async for name in self._base.list_dir(prefix):
            out = ZARR_JSON if name in (V2_GROUP, V2_ARRAY) else name
            if name not in (V2_ATTRS, V2_CONSOLIDATED) and out not in names:
                names.append(out)
        path = prefix.strip("/")
        if await self._doc(_join(path, V2_GROUP)) is not None:
            for name in names:
                if name != ZARR_JSON:
                    await self._member_metadata(_join(path, name))
            names = [n for n in names if _join(path, n) not in self.omitted]
        if not names:  # e.g. plain HTTP, which cannot list: use the consolidated documents
            docs = await self._consolidated_docs() or {}
            base = prefix.strip("/")
            for key in docs:
                node, _, leaf = key.rpartition("/")
                parent, _, name = node.rpartition("/")
                if leaf in (V2_GROUP, V2_ARRAY) and node and parent == base and name not in names:
                    names.append(name)
        for name in names:
            yield name


def _text_fill(plan: ArrayPlan) -> str:
    """The v3 fill value of a text array: the v2 ``fill_value`` when it is text (zarr v2 keeps
    an object or ``<U`` array's fill as is, a ``|S`` one as base64), else ``""``."""
    fill = plan.fill_value
    if not isinstance(fill, str):
        return ""
    if plan.v2_dtype.kind == "S":
        try:
            return base64.standard_b64decode(fill).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
    return fill


def _fill_scalar(zdtype: Any, plan: ArrayPlan) -> Any:
    """The v3 fill value for a numeric/compound plan (v2 ``null`` means 0)."""
    fill = plan.fill_value
    if plan.kind == COMPOUND or plan.v2_dtype.names is not None or fill is None:
        return zdtype.default_scalar()
    try:
        if isinstance(fill, str) and plan.v2_dtype.kind in "fc":
            fill = float(fill)  # "NaN", "Infinity", "-Infinity"
        return zdtype.cast_scalar(fill)
    except (TypeError, ValueError):
        return zdtype.default_scalar()
