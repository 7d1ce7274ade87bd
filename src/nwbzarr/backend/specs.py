"""The namespace/spec cache inside a store: ``/specifications/<namespace>/<version>/<source>``.

Each source is a 0-d text array holding the JSON of one spec file (the ``namespace`` array holds
``{"namespaces": [...]}``), as the HDMF spec cache convention prescribes for HDF5 and Zarr; the
root attribute ``.specloc`` names the cache group.

A cached spec comes from the file, so it is checked before hdmf sees it (hdmf takes gigabytes
and minutes over a few megabytes of specs, then fails on a missing key): its size
(``limits.max_namespace_bytes``), nesting (``limits.max_json_depth``) and item count
(``limits.max_spec_items``), and its shape: a namespace document is ``{"namespaces": [{"name":
str, "schema": [{"source" | "namespace": str}, ...], ...}]}``, a spec source a JSON object
whose ``groups``, ``datasets``, ``attributes`` and ``links`` are lists of JSON objects, at every
level. Real caches are far below the limits (docs/security.md).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import zarr
from hdmf.backends.utils import NamespaceToBuilderHelper
from hdmf.spec import NamespaceCatalog
from hdmf.spec.namespace import SpecReader
from hdmf.spec.write import SpecWriter

from .. import limits
from ..compat import default_buffer_prototype
from ..conventions.attributes import DEFAULT_SPEC_LOC, SPECLOC_ATTR
from ..conventions.bounded_json import check_nesting
from ..conventions.bounded_json import loads as bounded_loads
from ..errors import LimitExceededError, MalformedSpecError, UnknownNamespaceError
from .read import specloc_path

NAMESPACE_SPEC_PATH = "namespace"


def _version_key(version: str) -> tuple:
    """Sort key ordering versions numerically (2.10.0 > 2.9.0); non-numeric parts sort low."""
    parts = []
    for piece in str(version).replace("-", ".").split("."):
        parts.append((1, int(piece), "") if piece.isdigit() else (0, 0, piece))
    return tuple(parts)


class ZarrSpecWriter(SpecWriter):
    """Write namespace and spec sources as 0-d JSON string arrays in a Zarr group."""

    def __init__(self, group: zarr.Group) -> None:
        self._group = group

    def _write(self, obj: dict, name: str) -> None:
        array = self._group.create_array(name, shape=(), dtype=str, overwrite=True)
        array[()] = json.dumps(obj, separators=(",", ":"))

    def write_spec(self, spec: dict, path: str) -> None:
        """Write one spec source (a YAML file's content) under ``path``."""
        self._write(spec, path)

    def write_namespace(self, namespace: dict, path: str) -> None:
        """Write the namespace document under ``path``."""
        self._write({"namespaces": [namespace]}, path)


class ZarrSpecReader(SpecReader):
    """Read cached specs written by :class:`ZarrSpecWriter` (or hdmf-zarr)."""

    def __init__(self, group: zarr.Group, source: str) -> None:
        super().__init__(source=source)
        self._group = group
        self._documents: dict[str, dict] = {}

    def _read(self, path: str) -> dict:
        # hdmf asks for the namespace document more than once; each read is a request remotely
        if path not in self._documents:
            self._documents[path] = self._fetch(path)
        return self._documents[path]

    def _fetch(self, path: str) -> dict:
        where = f"{self.source}/{path}"
        try:
            array = self._group[path]
            value = _read_text(array)
        except (LimitExceededError, MalformedSpecError):
            raise
        except KeyError:
            raise MalformedSpecError(
                f"{where}: the cached spec source is missing; {_ADVICE}"
            ) from None
        lim = limits.current()
        size = len(value.encode("utf-8"))
        if size > lim.max_namespace_bytes:
            raise _limit(f"{where}: cached spec", "max_namespace_bytes", size)
        try:
            doc = bounded_loads(value, where, MalformedSpecError)
            check_nesting(doc, where, max_items=lim.max_spec_items)
        except LimitExceededError as exc:
            raise LimitExceededError(f"{exc}; or {_ADVICE}") from None
        except MalformedSpecError as exc:
            raise MalformedSpecError(f"{exc}; {_ADVICE}") from None
        if path == NAMESPACE_SPEC_PATH or (isinstance(doc, dict) and "namespaces" in doc):
            _check_namespace_document(doc, where)
        else:
            _check_spec_source(doc, where)
        return doc

    def read_spec(self, spec_path: str) -> dict:
        """Return one cached spec source as a dict."""
        return self._read(spec_path)

    def read_namespace(self, ns_path: str) -> list:
        """Return the namespace documents cached at ``ns_path``."""
        return self._read(ns_path)["namespaces"]


_ADVICE = (
    "open the file with load_namespaces=False (and load the namespace from its YAML with "
    "pynwb.load_namespaces) or fix the file's spec cache"
)
_SPEC_LISTS = ("groups", "datasets", "attributes", "links")


def _limit(what: str, field: str, value: int) -> LimitExceededError:
    return LimitExceededError(f"{limits.exceeded(what, field, value)}; or {_ADVICE}")


def _read_text(array: Any) -> str:
    """The text of a 0-d spec array, read into an object buffer.

    Reading a 0-d string array the default way builds a fixed-width ``<U{n}`` array that
    numpy then converts to its variable-width string dtype at about 500 bytes per character
    (measured: 14 MB of JSON -> 7 GB); an object-dtype output buffer avoids the conversion.
    """

    if not isinstance(array, zarr.Array):
        raise MalformedSpecError(f"{array}: the cached spec is a group, not a text array")
    if array.shape not in ((), (1,)):
        raise MalformedSpecError(f"{array.path}: the cached spec has shape {array.shape}")
    out = default_buffer_prototype().nd_buffer.from_numpy_array(np.empty(array.shape, object))
    array.get_basic_selection(Ellipsis, out=out)
    value = out.as_numpy_array().reshape(-1)[0]
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, (bytes, np.bytes_)):
        value = bytes(value).decode("utf-8")
    return str(value)


def _malformed(where: str, what: str) -> MalformedSpecError:
    return MalformedSpecError(f"{where}: {what}; {_ADVICE}")


def _check_namespace_document(doc: Any, where: str) -> None:
    """``{"namespaces": [{"name": str, "schema": [{"source"|"namespace": str}]}, ...]}``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("namespaces"), list):
        raise _malformed(where, "the cached namespace has no 'namespaces' list")
    for i, ns in enumerate(doc["namespaces"]):
        if not isinstance(ns, dict) or not isinstance(ns.get("name"), str):
            raise _malformed(where, f"namespaces[{i}] is not an object with a 'name'")
        schema = ns.get("schema")
        if not isinstance(schema, list):
            raise _malformed(where, f"namespace {ns['name']!r} has no 'schema' list")
        for j, entry in enumerate(schema):
            if not isinstance(entry, dict) or not any(
                isinstance(entry.get(k), str) for k in ("source", "namespace")
            ):
                raise _malformed(
                    where,
                    f"namespace {ns['name']!r} schema[{j}] names neither a 'source' nor a "
                    "'namespace'",
                )
        version = ns.get("version")
        if version is not None and not isinstance(version, (str, int, float)):
            raise _malformed(where, f"namespace {ns['name']!r} has version {version!r:.40}")


def _check_spec_source(doc: Any, where: str) -> None:
    """A spec source: ``groups``/``datasets``/``attributes``/``links`` lists of objects."""
    if not isinstance(doc, dict):
        raise _malformed(where, f"the cached spec is a JSON {type(doc).__name__}, not an object")
    stack = [(doc, "")]
    while stack:
        spec, at = stack.pop()
        for field in _SPEC_LISTS:
            items = spec.get(field)
            if items is None:
                continue
            if not isinstance(items, list):
                raise _malformed(where, f"{at}{field} is not a list")
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise _malformed(where, f"{at}{field}[{i}] is not a JSON object")
                stack.append((item, f"{at}{field}[{i}]."))


def cache_spec(root: zarr.Group, catalog: NamespaceCatalog) -> None:
    """Write every namespace of ``catalog`` not yet cached into the store's spec cache.

    Parameters
    ----------
    root : zarr.Group
        The writable root group; ``.specloc`` is set to the cache group's name.
    catalog : hdmf.spec.NamespaceCatalog
        Namespaces to cache (a version already cached is left as is).
    """
    loc = specloc_path(root.attrs.asdict()) or "/" + DEFAULT_SPEC_LOC
    name = loc.strip("/")
    spec_group = root[name] if name in root else root.create_group(name)
    for ns_name in catalog.namespaces:
        version = str(catalog.get_namespace(ns_name).version)
        ns_group = spec_group.require_group(ns_name)
        if version in ns_group:
            continue
        builder = NamespaceToBuilderHelper.convert_namespace(catalog, ns_name)
        builder.export(NAMESPACE_SPEC_PATH, writer=ZarrSpecWriter(ns_group.create_group(version)))
    root.attrs.update({SPECLOC_ATTR: name})


def namespace_groups(root: zarr.Group) -> dict[str, tuple[str, zarr.Group]]:
    """Return ``{namespace: (newest version, group)}`` of a store's spec cache.

    The newest version is chosen by numeric version order (2.10.0 > 2.9.0); the legacy names
    ``unversioned`` and ``None`` are ignored when another version exists.
    """
    loc = specloc_path(root.attrs.asdict())
    if loc is None or loc.strip("/") not in root:
        return {}
    spec_group = root[loc.strip("/")]
    out = {}
    for ns_name, ns_group in spec_group.groups():
        versions = [v for v, _ in ns_group.groups()]
        if len(versions) > 1:
            versions = [v for v in versions if v not in ("unversioned", "None")] or versions
        if not versions:
            continue
        latest = max(versions, key=_version_key)
        out[ns_name] = (latest, ns_group[latest])
    return out


def load_cached_namespaces(
    root: zarr.Group, catalog: Any, namespaces: list[str] | None, source: str
) -> dict:
    """Load namespaces from a store's spec cache into a catalog or type map.

    Parameters
    ----------
    root : zarr.Group
        The store's root group.
    catalog : hdmf.spec.NamespaceCatalog or hdmf.build.TypeMap
        Where to load them.
    namespaces : list of str, optional
        Names to load (default: every cached namespace, newest version each).
    source : str
        The store's path, for messages and spec provenance.

    Returns
    -------
    dict
        Namespace name -> dependencies, as ``NamespaceCatalog.load_namespaces`` returns.

    Raises
    ------
    UnknownNamespaceError
        If a requested namespace is not cached.
    """
    groups = namespace_groups(root)
    wanted = list(groups) if namespaces is None else list(namespaces)
    readers = {}
    for ns in wanted:
        if ns not in groups:
            raise UnknownNamespaceError(
                f"{source}: namespace {ns!r} is not cached in this store (cached: "
                f"{', '.join(sorted(groups)) or 'none'}); load it from its YAML with "
                "pynwb.load_namespaces() first"
            )
        version, group = groups[ns]
        readers[ns] = ZarrSpecReader(group, source=f"{source}:/{ns}/{version}")
    if not readers:
        return {}
    return catalog.load_namespaces(NAMESPACE_SPEC_PATH, reader=readers)


class SpecCache:
    """The spec cache (``/specifications``) of one open store.

    Parameters
    ----------
    root : zarr.Group
        The store's open root group.
    source : str
        The store's path or URL, for messages and spec provenance.
    """

    def __init__(self, root: zarr.Group, source: str) -> None:
        self.root = root
        self.source = source

    def write(self, catalog: NamespaceCatalog) -> None:
        """Cache every namespace of ``catalog`` not cached yet (see :func:`cache_spec`)."""
        cache_spec(self.root, catalog)

    def versions(self) -> dict[str, str]:
        """``{namespace: newest cached version}``."""
        return {k: v for k, (v, _) in namespace_groups(self.root).items()}

    def load(self, catalog: Any, namespaces: list[str] | None = None) -> dict:
        """Load cached namespaces into ``catalog`` (see :func:`load_cached_namespaces`)."""
        return load_cached_namespaces(self.root, catalog, namespaces, self.source)
