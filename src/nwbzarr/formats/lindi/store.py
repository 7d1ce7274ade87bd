"""A read-only zarr v3 store presenting a LINDI (or plain kerchunk) Zarr v2 reference store in
the unified v3 convention, so :class:`nwbzarr.NWBZarrIO` and plain zarr-python read it unchanged.

Source formats: LINDI's ``docs/special_zarr_annotations.md`` (lindi 0.4: ``_SCALAR``,
``_SOFT_LINK``, ``_REFERENCE``, ``_COMPOUND_DTYPE``, ``_EXTERNAL_ARRAY_LINK``), the Zarr v2
storage specification, and kerchunk's reference layout (Zarr v2 keys mapped to inline bytes or
byte ranges; reading the reference JSON itself is :mod:`nwbzarr.formats.kerchunk.references`' job).

How it works (``docs/storage.md`` §13): the view builds on
:class:`nwbzarr.formats.hdmf_zarr_v2.store.V2TranslatingStore`, which turns v2 metadata into
``zarr.json`` documents and decodes v2 chunks for a codec-free v3 pipeline. This class changes
what is specific to LINDI:

* every ``.zgroup``/``.zarray``/``.zattrs`` is read once, from one listing (a reference set
  holds them inline), and served as inline consolidated metadata on the root;
* groups carrying ``_SOFT_LINK`` are hidden and become ``_LINKS`` entries of their parent;
* object (JSON) arrays are told apart (text, references, compound rows) by their first element;
* arrays with ``_EXTERNAL_ARRAY_LINK`` read each chunk from the named HDF5 dataset through
  h5py (local path, its opened file checked against the access policy, or a URL read through
  :func:`~nwbzarr.storage.remote_file.open_remote_file` with ``storage_options``).
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from zarr.abc.store import Store

from ...compat import read_only_store_error
from ...conventions.attributes import LINKS_ATTR, SPECLOC_ATTR
from ...conventions.references import link_entry
from ...errors import (
    LegacyFormatError,
    ReferenceFileError,
    SourceChangedError,
    UntrustedReferenceError,
)
from ...storage.policy import AccessPolicy, verify_opened
from ...storage.remote_file import open_remote_file
from ...storage.resolve import join_location
from ..hdmf_zarr_v2.chunks import decode_v2_chunk
from ..hdmf_zarr_v2.conventions import (
    NUMERIC,
    REFERENCE,
    TEXT,
    V2_ARRAY,
    V2_ATTRS,
    V2_GROUP,
    ArrayPlan,
    parse_json_document,
    plan_array,
)
from ..hdmf_zarr_v2.store import ZARR_JSON, V2TranslatingStore
from .conventions import (
    dropped_value_message,
    external_array_link,
    plan_lindi_array,
    soft_link_target,
    spec_cache_namespace,
    translate_attributes,
)

_DOC_LEAVES = (V2_GROUP, V2_ARRAY, V2_ATTRS)


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


class LindiTranslatingStore(V2TranslatingStore):
    """Read-only view of a LINDI / kerchunk Zarr v2 store in the Zarr v3 HDMF convention.

    Parameters
    ----------
    v2_store : zarr.abc.store.Store
        A store holding the Zarr v2 keys of a LINDI ``.lindi.json`` or a kerchunk reference
        file (``.zgroup``, ``.zarray``, ``.zattrs``, chunk keys), for example
        :class:`nwbzarr.virtual.store.ReferenceStore` or a ``MemoryStore``. It is only read,
        and must support listing.
    storage_options : dict, optional
        fsspec options used to open the HDF5 file named by an ``_EXTERNAL_ARRAY_LINK`` whose
        ``url`` is a URL (``https://``, ``s3://``, ...). Local paths are opened by h5py.
    policy : nwbzarr.storage.policy.AccessPolicy, optional
        Checked against the target of every ``_EXTERNAL_ARRAY_LINK`` before it is opened
        (default: :class:`~nwbzarr.storage.policy.AccessPolicy()`, the same rules as the
        reference JSON's own byte ranges).
    location : str, optional
        Absolute path or URL of the reference file; relative ``_EXTERNAL_ARRAY_LINK`` URLs
        resolve against its directory and the policy's "own directory" rule uses it.
    read_only : bool
        Accepted for zarr's ``Store.open(..., read_only=...)``; only True is possible.

    Raises
    ------
    ReadOnlyError
        On any write, delete, ``with_read_only(False)`` or ``read_only=False`` (also a
        ``ValueError`` with zarr's wording, as zarr's read-only stores raise).
    LegacyFormatError
        When a metadata document, a LINDI annotation or a chunk is malformed or cannot be
        presented; the message names the key.
    ReferenceFileError
        When the HDF5 file or dataset named by an ``_EXTERNAL_ARRAY_LINK`` cannot be opened or
        does not match the array; the message names the array and the URL.
    UntrustedReferenceError
        When an ``_EXTERNAL_ARRAY_LINK`` names a target the policy does not allow.
    """

    def __init__(
        self,
        v2_store: Store,
        *,
        storage_options: dict | None = None,
        policy: AccessPolicy | None = None,
        location: str | None = None,
        read_only: bool = True,
    ) -> None:
        if not read_only:
            raise read_only_store_error(
                f"{v2_store}: LINDI / kerchunk reference stores are read-only; open the file "
                "with mode 'r' and export it (NWBZarrIO.export or nwbzarr convert) to write"
            )
        super().__init__(v2_store, use_consolidated=True)
        self._storage_options = dict(storage_options or {})
        self._policy = policy if policy is not None else AccessPolicy()
        self._location = location  # (caches: made by _reset_caches, called by super().__init__)

    #: Rebuilt after unpickling: caches, and the HDF5 files opened for external array links.
    _CACHED = (
        *V2TranslatingStore._CACHED,
        "_all_docs",
        "_soft_links",
        "_external",
        "_h5files",
        "_h5_lock",
    )

    def _reset_caches(self) -> None:
        """Empty the caches and forget open HDF5 files (pickling: they are not carried).

        A pickled view carries the underlying store, ``storage_options``, the location and the
        access policy (as resolved where it was pickled, see
        :meth:`nwbzarr.storage.policy.AccessPolicy.__reduce__`); HDF5 files named by
        ``_EXTERNAL_ARRAY_LINK`` are opened again, and checked again, on first use.
        """
        super()._reset_caches()
        self._all_docs: dict[str, Any] | None = None
        self._soft_links: dict[str, str] = {}
        self._external: dict[str, tuple[str, str]] = {}
        self._h5files: dict[str, Any] = {}
        self._h5_lock = threading.Lock()

    @property
    def _kerchunk(self) -> bool:
        """True when the keys come from a plain kerchunk file (not LINDI)."""
        refset = getattr(self._base, "refset", None)
        return getattr(refset, "dialect", None) == "kerchunk"

    # -- identity -----------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LindiTranslatingStore)
            and self._base == other._base
            and self._link_options() == other._link_options()
        )

    def _link_options(self) -> tuple[Any, ...]:
        """What reading an ``_EXTERNAL_ARRAY_LINK`` depends on (views differing here differ).

        The policy counts as what it allows here (its resolved, pickled form), so a view and
        its unpickled copy are equal.
        """
        return (self._storage_options, self._policy.__reduce__(), self._location)

    def __hash__(self) -> int:
        return hash((type(self), id(self._base)))

    def __repr__(self) -> str:
        return f"LindiTranslatingStore({self._base!r})"

    def __str__(self) -> str:
        return f"lindi:{self._base}"

    def with_read_only(self, read_only: bool = False) -> LindiTranslatingStore:
        """Return a new view over the same store; only ``read_only=True`` is possible."""
        if not read_only:
            self._check_writable()
        return type(self)(
            self._base,
            storage_options=self._storage_options,
            policy=self._policy,
            location=self._location,
        )

    def close(self) -> None:
        """Close this view, the HDF5 files opened for external array links, and the store."""
        with self._h5_lock:
            files, self._h5files = list(self._h5files.values()), {}
        for h5file, fileobj in files:
            h5file.close()
            if fileobj is not None:
                fileobj.close()
        super().close()

    def _check_writable(self) -> None:
        raise read_only_store_error(
            f"{self._label}: LINDI / kerchunk reference stores are read-only; open the file "
            "with mode 'r' and export it (NWBZarrIO.export or nwbzarr convert) to write"
        )

    # -- metadata -----------------------------------------------------------------------------
    async def _consolidated_docs(self) -> dict:
        """Every v2 metadata document of the store, by key (read once, from one listing)."""
        if self._all_docs is None:
            keys = [k async for k in self._base.list() if k.rpartition("/")[2] in _DOC_LEAVES]
            raws = await asyncio.gather(*(self._raw(k) for k in keys))
            docs: dict[str, Any] = {
                k: parse_json_document(raw, f"{self._label}/{k}")
                for k, raw in zip(keys, raws)
                if raw is not None
            }
            links = {}
            for key, doc in docs.items():
                node, _, leaf = key.rpartition("/")
                if leaf == V2_ATTRS:
                    target = soft_link_target(doc, f"{self._label}/{key}")
                    if target is not None:
                        if not node:
                            raise LegacyFormatError(f"{self._label}/{key}: the root is a soft link")
                        links[node] = target
            self._soft_links = links
            self._all_docs = self._consolidated = docs
        return self._all_docs

    async def _hidden(self, path: str) -> bool:
        """True if ``path`` is a soft-link group (or inside one): shown as a ``_LINKS`` entry."""
        await self._consolidated_docs()
        parts = path.split("/")
        return any("/".join(parts[: i + 1]) in self._soft_links for i in range(len(parts)))

    async def _plan(self, path: str) -> ArrayPlan | None:
        if path in self._plans:
            return self._plans[path]
        if await self._hidden(path):
            return None
        zarray = await self._doc(_join(path, V2_ARRAY))
        if zarray is None:
            return None
        where = f"{self._label}/{path}"
        if zarray.get("zarr_format", 2) != 2:
            raise LegacyFormatError(f"{where}/{V2_ARRAY}: not Zarr format 2")
        zattrs = await self._doc(_join(path, V2_ATTRS)) or {}
        link = external_array_link(zattrs, f"{where}/{V2_ATTRS}")
        sample = None
        if link is None and zarray.get("dtype") == "|O":
            sample = await self._first_element(path, plan_array(zarray, {}, where))
        plan = plan_lindi_array(zarray, zattrs, where, sample, kerchunk=self._kerchunk)
        if link is not None:
            if plan.kind != NUMERIC:
                raise LegacyFormatError(
                    f"{where}/{V2_ATTRS}: _EXTERNAL_ARRAY_LINK on a {plan.v2_dtype} array; only "
                    "numeric arrays are read from the linked HDF5 dataset"
                )
            self._external[path] = link
        self._plans[path] = plan
        return plan

    async def _first_element(self, path: str, plan: ArrayPlan) -> Any:
        """The first element of an object array's first chunk (None if it has none)."""
        if not plan.v2_shape or 0 in plan.v2_shape:
            return None
        name = plan.separator.join("0" * len(plan.v2_shape))
        raw = await self._raw(_join(path, name))
        if raw is None:
            return None
        chunk = decode_v2_chunk(raw, plan, name)
        return chunk.reshape(-1)[0] if chunk.size else None

    async def _node_metadata(self, path: str) -> dict | None:
        if await self._hidden(path):
            return None
        plan = await self._plan(path)
        if plan is not None:
            return await self._array_metadata(path, plan)
        if await self._doc(_join(path, V2_GROUP)) is None:
            return None
        where = f"{self._label}/{_join(path, V2_ATTRS)}"
        attrs = translate_attributes(
            await self._doc(_join(path, V2_ATTRS)) or {},
            where,
            root=path == "",
            kerchunk=self._kerchunk,
        )
        links = [
            link_entry(node.rpartition("/")[2], target)
            for node, target in sorted(self._soft_links.items())
            if node.rpartition("/")[0] == path
        ]
        if links:
            attrs[LINKS_ATTR] = links
        if path == "" and SPECLOC_ATTR not in attrs:  # kerchunk drops the object reference
            found = spec_cache_namespace(await self._consolidated_docs())
            if found is not None and await self._base.exists(f"{found}/0"):
                attrs[SPECLOC_ATTR] = found.partition("/")[0]
        return {"zarr_format": 3, "node_type": "group", "attributes": attrs}

    # -- chunks -------------------------------------------------------------------------------
    async def _chunk(self, key: str) -> bytes | None:
        found = await self._split_chunk_key(key)
        if found is None:
            return None
        path, plan, name = found
        if path in self._external:
            return await asyncio.to_thread(self._external_chunk, path, plan, name)
        chunk = await super()._chunk(key)
        if (
            chunk is None
            and not plan.v2_shape
            and plan.kind in (TEXT, REFERENCE)
            and plan.fill_value is None
            and plan.v2_dtype.kind == "O"
        ):  # a scalar whose only value is missing: kerchunk >= 0.2.8 leaves them out
            raise ReferenceFileError(dropped_value_message(self._label, path))
        return chunk

    def _h5_dataset(self, path: str, plan: ArrayPlan) -> Any:
        import h5py

        url, name = self._external[path]
        where = f"{self._label}/{path}: _EXTERNAL_ARRAY_LINK"
        if "://" not in url and not os.path.isabs(url) and self._location is not None:
            url = join_location(self._location.rsplit("/", 1)[0] or "/", url)
        self._policy.checker(self._location)(f"{path} (_EXTERNAL_ARRAY_LINK)", url)
        with self._h5_lock:
            if url not in self._h5files:
                fileobj = None
                try:
                    if "://" in url and not url.startswith("file://"):
                        # through the range reader: timeouts, capped bodies, checked redirects
                        fileobj = open_remote_file(url, self._storage_options)
                        self._h5files[url] = (h5py.File(fileobj, "r"), fileobj)
                    else:
                        local = url[len("file://") :] if url.startswith("file://") else url
                        h5file = h5py.File(local, "r")
                        try:  # the file opened must be the one the policy checked
                            verify_opened(local, h5file.id.get_vfd_handle())
                        except BaseException:
                            h5file.close()
                            raise
                        self._h5files[url] = (h5file, None)
                except (UntrustedReferenceError, SourceChangedError):
                    raise
                except (OSError, ValueError, ImportError) as exc:
                    if fileobj is not None:
                        fileobj.close()
                    raise ReferenceFileError(
                        f"{where}: cannot open {url!r} as HDF5 ({exc})"
                    ) from exc
            dset = self._h5files[url][0].get(name)
        if not isinstance(dset, h5py.Dataset):
            raise ReferenceFileError(f"{where}: {url!r} holds no dataset {name!r}")
        if dset.shape != plan.v2_shape:
            raise ReferenceFileError(
                f"{where}: dataset {name!r} of {url!r} has shape {list(dset.shape)}, the array "
                f"declares {list(plan.v2_shape)}"
            )
        return dset

    @staticmethod
    def _external_region(plan: ArrayPlan, name: str) -> tuple | None:
        """The region of chunk ``name`` of an external array, or None outside its grid."""
        if not plan.shape:  # _SCALAR
            return () if name == "0" else None
        try:
            index = tuple(int(i) for i in name.split(plan.separator))
        except ValueError:
            return None
        if len(index) != len(plan.shape) or any(
            i >= math.ceil(s / c) for i, s, c in zip(index, plan.shape, plan.chunks)
        ):
            return None
        return tuple(
            slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, plan.chunks, plan.shape)
        )

    def _external_chunk(self, path: str, plan: ArrayPlan, name: str) -> bytes | None:
        """One chunk of an externally linked array, read from its HDF5 dataset."""
        region = self._external_region(plan, name)
        if region is None:
            return None
        dtype = plan.v2_dtype.newbyteorder("<") if plan.v2_dtype.itemsize > 1 else plan.v2_dtype
        dset = self._h5_dataset(path, plan)
        if not plan.shape:
            return np.asarray(dset[...], dtype=dtype).reshape(()).tobytes()
        data = np.asarray(dset[region], dtype=dtype)
        out = np.zeros(plan.chunks, dtype=dtype)
        out[tuple(slice(0, n) for n in data.shape)] = data
        return out.tobytes()

    # -- Store API ----------------------------------------------------------------------------
    async def exists(self, key: str) -> bool:
        """True if ``key`` is a presented node's ``zarr.json`` or one of its chunks."""
        node = key.rpartition("/")[0]
        if await self._hidden(node):
            return False
        found = None
        if key.rpartition("/")[2] != ZARR_JSON:
            found = await self._split_chunk_key(key)
        if found is not None and found[0] in self._external:
            return self._external_region(found[1], found[2]) is not None
        return await super().exists(key)

    async def _visible(self, key: str) -> bool:
        return not await self._hidden(key.rpartition("/")[0])

    async def list(self) -> AsyncIterator[str]:
        """All keys, v2 metadata shown as ``zarr.json``; soft-link groups left out."""
        async for key in super().list():
            if await self._visible(key):
                yield key

    async def list_prefix(self, prefix: str) -> AsyncIterator[str]:
        """Keys starting with ``prefix`` (as in :meth:`list`)."""
        async for key in super().list_prefix(prefix):
            if await self._visible(key):
                yield key

    async def list_dir(self, prefix: str) -> AsyncIterator[str]:
        """Direct children of ``prefix``; soft-link groups are left out (they are ``_LINKS``)."""
        base = prefix.strip("/")
        async for name in super().list_dir(prefix):
            if name == ZARR_JSON or not await self._hidden(_join(base, name)):
                yield name
