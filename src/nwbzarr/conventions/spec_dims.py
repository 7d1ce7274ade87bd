"""Dimension names from the ``dims`` of cached NWB/HDMF specs, without hdmf.

An NWB 2.x file caches the specs of its namespaces (``/specifications/<namespace>/<version>/
<source>``, JSON text). The writer takes dimension names from the spec's ``dims`` through
hdmf's resolved specs (``backend/dimensions.py``); HDF5 views and reference JSON take them
from the cached spec through :class:`SpecDims`, which resolves the same way for the lookups
naming needs, so that a view and its converted store name dimensions alike:

* a typed dataset (``neurodata_type`` attribute) takes its type's ``dims``, inherited along
  ``neurodata_type_inc`` when the type has none;
* an untyped dataset takes the ``dims`` of the entry of its name in the spec of its nearest
  typed ancestor group (through untyped named subgroups), an entry's missing ``dims`` coming
  from the same-named entry of the ancestor's parent types, or from the entry's own included
  type;
* a spec giving ``shape`` but no ``dims`` names its dimensions ``dim_0``, ``dim_1``... as
  hdmf does;
* of the alternatives of ``dims``, the one of the array's rank is used when exactly one has
  that rank and its names are distinct; otherwise there is no candidate.

The specs are untrusted file content: they are parsed under the JSON limits of
:mod:`nwbzarr.limits` by the caller, inheritance chains are followed at most
:data:`MAX_INHERITANCE` levels (a cycle ends the chain), and anything malformed gives no
candidate rather than an error (names are a convenience; the fallbacks of
:mod:`nwbzarr.conventions.dimension_names` apply).

Sources: NWB specification language (``neurodata_type_def``/``_inc``, ``dims``, ``shape``);
HDMF's spec resolution (``GroupSpec.resolve_inc_spec``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["MAX_INHERITANCE", "SpecDims", "dims_for_ndim", "type_key"]

MAX_INHERITANCE = 64
"""Longest ``neurodata_type_inc`` chain (and untyped-subgroup nesting) followed."""

_DEF_KEYS = ("neurodata_type_def", "data_type_def")
_INC_KEYS = ("neurodata_type_inc", "data_type_inc")


def type_key(spec: Any, keys: Sequence[str]) -> str | None:
    """The type name a spec entry defines or includes (``keys``: the def or the inc keys)."""
    if not isinstance(spec, dict):
        return None
    for key in keys:
        value = spec.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def dims_for_ndim(dims: Any, ndim: int) -> list[str] | None:
    """The alternative of a spec's ``dims`` with ``ndim`` names, if exactly one exists.

    Parameters
    ----------
    dims : Any
        The ``dims`` value: a list of names, or a list of such lists (alternatives).
    ndim : int
        Rank of the array.

    Returns
    -------
    list of str or None
        The names, or None when no alternative, or several different ones, have ``ndim``
        entries, when the names repeat, or when ``dims`` is malformed.
    """
    if not isinstance(dims, (list, tuple)) or not dims or ndim <= 0:
        return None
    alternatives = [dims] if not isinstance(dims[0], (list, tuple)) else list(dims)
    matches = {
        tuple(alt) for alt in alternatives if isinstance(alt, (list, tuple)) and len(alt) == ndim
    }
    if len(matches) != 1:
        return None
    names = next(iter(matches))
    if not all(isinstance(n, str) and n for n in names) or len(set(names)) != len(names):
        return None
    return list(names)


def _own_dims(spec: dict) -> Any:
    dims = spec.get("dims")
    if dims:
        return dims
    shape = spec.get("shape")
    if isinstance(shape, (list, tuple)) and shape:
        if isinstance(shape[0], (list, tuple)):
            return [[f"dim_{i}" for i in range(len(s))] for s in shape if isinstance(s, list)]
        return [f"dim_{i}" for i in range(len(shape))]
    return None


class SpecDims:
    """Dimension-name candidates from parsed spec sources (see the module docstring).

    Parameters
    ----------
    sources : iterable of dict
        Parsed spec source documents (``{"groups": [...], "datasets": [...]}``), as cached in
        an NWB file; type definitions nested anywhere in them are found.
    """

    def __init__(self, sources: Iterable[Any]) -> None:
        self.types: dict[str, dict] = {}
        stack: list[Any] = [s for s in sources if isinstance(s, dict)]
        visited = 0
        while stack and visited < 1_000_000:
            spec = stack.pop()
            visited += 1
            if not isinstance(spec, dict):
                continue
            name = type_key(spec, _DEF_KEYS)
            if name is not None:
                self.types.setdefault(name, spec)
            for key in ("groups", "datasets"):
                children = spec.get(key)
                if isinstance(children, list):
                    stack.extend(children)

    def __bool__(self) -> bool:
        return bool(self.types)

    def _chain(self, type_name: str | None) -> list[dict]:
        """The type's spec and its parent types' specs, nearest first."""
        chain: list[dict] = []
        seen: set[str] = set()
        while type_name and type_name not in seen and len(chain) < MAX_INHERITANCE:
            seen.add(type_name)
            spec = self.types.get(type_name)
            if spec is None:
                break
            chain.append(spec)
            type_name = type_key(spec, _INC_KEYS)
        return chain

    def _entry(self, view: list[dict], kind: str, name: str) -> list[dict]:
        """The specs describing child ``name`` (``kind``: groups/datasets) of a spec view."""
        found: list[dict] = []
        for spec in view:
            children = spec.get(kind)
            if not isinstance(children, list):
                continue
            for child in children:
                if isinstance(child, dict) and child.get("name") == name:
                    found.append(child)
                    found.extend(self._chain(type_key(child, _INC_KEYS)))
                    break
            if len(found) >= MAX_INHERITANCE:
                break
        return found

    def candidates(
        self,
        ndim: int,
        name: str,
        dataset_type: str | None,
        ancestors: Sequence[tuple[str, str | None]],
    ) -> list[str] | None:
        """Dimension names the spec gives a dataset, or None.

        Parameters
        ----------
        ndim : int
            The dataset's rank.
        name : str
            The dataset's name.
        dataset_type : str or None
            Its ``neurodata_type`` (or ``data_type``) attribute.
        ancestors : sequence of (str, str or None)
            ``(name, neurodata_type)`` of its parent, grandparent, ... up to the root.
        """
        if ndim <= 0 or not self.types:
            return None
        if dataset_type:
            view = self._chain(dataset_type)
        else:
            names = [name]
            typed = None
            for group_name, group_type in ancestors[:MAX_INHERITANCE]:
                if group_type:
                    typed = group_type
                    break
                names.insert(0, group_name)
            if typed is None:
                return None
            view = self._chain(typed)
            for group_name in names[:-1]:
                view = self._entry(view, "groups", group_name)
            view = self._entry(view, "datasets", names[-1])
        for spec in view:
            dims = _own_dims(spec)
            if dims:
                return dims_for_ndim(dims, ndim)
        return None
