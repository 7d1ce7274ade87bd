"""Dimension names for every array of a group, consistent within the group.

Zarr v3 arrays carry ``dimension_names``; xarray (``open_zarr``, ``open_datatree``) builds one
Dataset per group from them and refuses a group in which two arrays give the same name to
dimensions of different lengths, or in which an array lacks names. This module chooses the
names of all the arrays of one group at once, from per-array candidates (the builder's
dimension labels, the spec's ``dims``, HDF5 dimension scales, a source array's names), so that
the stores nwbzarr writes, its HDF5 views and its reference JSON all satisfy:

* every array with at least one dimension has a name for each dimension (no ``None``);
* within a group, every array sharing a name has the same length along it, and no array uses
  one name twice;
* a name is never the name of an array of the group (xarray would make that array an index
  coordinate of the dimension, which must then be one-dimensional and of its length, and which
  every child group's dimension of that name would have to align with).

The rules, in order (docs/storage.md §4):

1. **Tables.** A group with a ``colnames`` attribute is an HDMF ``DynamicTable``: its ``id``
   and, for each column, the outermost array of the column's ``<col>_index`` chain (the
   column itself when it has no index) are row-aligned; their first dimension is named
   ``num_rows`` (the name the HDMF spec gives ``VectorIndex`` and hdmf-zarr gives ``id``). The
   other arrays of a ragged chain hold elements, not rows; the first dimension of each is
   ``<array>_elements``.
2. **Candidates.** Every other dimension takes its candidate name when it has one.
3. **Fallbacks.** A dimension without a candidate is ``<array>_dim<i>``.
4. **Conflicts.** When arrays of the group give one name to different lengths, the name stays
   with the lengths of the array ``data`` if it uses the name, else with the length most arrays
   share (ties: the first array by name); the others become ``<array>_<name>``. A name used
   twice by one array, or equal to an array's name, becomes ``<array>_<name>`` too (then
   ``<array>_dim<i>``, then a numbered suffix, until unique).
5. **Ancestors.** xarray's DataTree also aligns each group with all its ancestors: a name an
   ancestor group uses for another length, or the name of an ancestor's array, is renamed in
   this group (every use at once) to ``<group>_<name>`` (then a numbered suffix).

Lengths of ``None`` (an unlimited dimension whose final length is not known yet) never share
a name with another array.

Sources: Zarr v3 core specification (``dimension_names``); xarray's Zarr encoding
specification; HDMF common schema (``DynamicTable``, ``VectorIndex``, ``ElementIdentifiers``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "ArrayDims",
    "ROOT_SCOPE",
    "ROW_DIMENSION",
    "Scope",
    "child_scope",
    "colnames_of",
    "group_dimension_names",
    "name_arrays_by_group",
    "table_columns",
]

ROW_DIMENSION = "num_rows"
"""Name of the row dimension of a DynamicTable's ``id`` and row-aligned columns."""


@dataclass(frozen=True)
class ArrayDims:
    """What the dimension names of one array are chosen from.

    Parameters
    ----------
    shape : tuple of (int or None)
        The array's shape; ``None`` for a dimension whose final length is not known.
    candidates : sequence of (str or None), optional
        A proposed name per dimension (``None``: no proposal), or None for no proposals.
    """

    shape: tuple[int | None, ...]
    candidates: Sequence[str | None] | None = None


def colnames_of(value: object) -> list[str] | None:
    """A ``colnames`` attribute as a list of str (None if absent or not a list of text).

    Parameters
    ----------
    value : object
        The attribute as stored: a str, bytes, or a sequence / numpy array of them.
    """
    if value is None:
        return None
    items = [value] if isinstance(value, (str, bytes)) else value
    try:
        out = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in items]
    except TypeError:
        return None
    return [str(v) for v in out] if all(isinstance(v, str) for v in out) else None


def name_arrays_by_group(
    arrays: Mapping[str, ArrayDims], colnames: Mapping[str, Sequence[str] | None]
) -> dict[str, list[str]]:
    """:func:`group_dimension_names` for arrays of many groups, keyed by absolute path.

    Parameters
    ----------
    arrays : mapping of str to ArrayDims
        Arrays by absolute path (``/a/b/data``).
    colnames : mapping of str to (sequence of str or None)
        ``colnames`` of each group path that is a DynamicTable (others may be absent).

    Returns
    -------
    dict of str to list of str
        Dimension names by array path.
    """
    groups: dict[str, dict[str, ArrayDims]] = {}
    for path, dims in arrays.items():
        parent, _, name = path.rstrip("/").rpartition("/")
        groups.setdefault(parent or "/", {})[name] = dims
    every = {"/"}
    for group in groups:  # the groups holding arrays and all their ancestors
        while group not in every:
            every.add(group)
            group = group.rpartition("/")[0] or "/"
    out: dict[str, list[str]] = {}
    scopes: dict[str, Scope] = {"/": ROOT_SCOPE}
    chosen: dict[str, dict[str, list[str]]] = {}
    for group in sorted(every, key=lambda g: (g.count("/") if g != "/" else 0, g)):
        if group != "/":
            parent = group.rpartition("/")[0] or "/"
            scopes[group] = child_scope(scopes[parent], groups.get(parent, {}), chosen[parent])
        members = groups.get(group, {})
        chosen[group] = group_dimension_names(
            members, colnames.get(group), scopes[group], group.rpartition("/")[2]
        )
        prefix = group.rstrip("/")
        for name, dim_names in chosen[group].items():
            out[f"{prefix}/{name}"] = dim_names
    return out


def table_columns(colnames: Sequence[str], names: Sequence[str]) -> tuple[set[str], set[str]]:
    """Split the arrays of a DynamicTable group into row-aligned and element arrays.

    Parameters
    ----------
    colnames : sequence of str
        The table's ``colnames`` attribute.
    names : sequence of str
        Names of the arrays in the group.

    Returns
    -------
    (set of str, set of str)
        Names of the row-aligned arrays (``id`` and each column's outermost index, or the
        column itself) and of the arrays holding ragged elements (the rest of each chain).
    """
    present = set(names)
    rows: set[str] = {"id"} & present
    elements: set[str] = set()
    for column in colnames:
        chain = [column]
        while f"{chain[-1]}_index" in present and len(chain) < 64:
            chain.append(f"{chain[-1]}_index")
        if chain[-1] not in present:
            continue
        rows.add(chain[-1])
        elements.update(c for c in chain[:-1] if c in present)
    return rows, elements - rows


def group_dimension_names(
    arrays: Mapping[str, ArrayDims],
    colnames: Sequence[str] | None = None,
    inherited: Scope | None = None,
    group_name: str = "",
) -> dict[str, list[str]]:
    """Choose the dimension names of every array of one group (rules in the module docstring).

    Parameters
    ----------
    arrays : mapping of str to ArrayDims
        The group's arrays by name (zero-dimensional arrays included; they get ``[]``).
    colnames : sequence of str, optional
        The group's ``colnames`` attribute when the group is a DynamicTable.
    inherited : Scope, optional
        Dimension lengths and array names of the group's ancestors (:func:`child_scope`):
        xarray's DataTree aligns every group with its ancestors, so a name an ancestor uses
        for another length, or an ancestor's array name, is renamed here (rule 5).
    group_name : str, optional
        The group's own name, used in those renames (``<group>_<name>``).

    Returns
    -------
    dict of str to list of str
        One name per dimension for every array of ``arrays``.
    """
    names: dict[str, list[str]] = {}
    rows, elements = table_columns(colnames, list(arrays)) if colnames else (set(), set())
    for array, dims in arrays.items():
        ndim = len(dims.shape)
        proposed = list(dims.candidates or [])
        if len(proposed) != ndim:
            proposed = [None] * ndim
        chosen = [
            p if isinstance(p, str) and p else f"{array}_dim{i}" for i, p in enumerate(proposed)
        ]
        if ndim and array in rows:
            chosen[0] = ROW_DIMENSION
        elif ndim and array in elements:
            chosen[0] = f"{array}_elements"
        names[array] = chosen
    _resolve_conflicts(arrays, names)
    if inherited is not None:
        _align_with_ancestors(arrays, names, inherited, group_name)
    return names


@dataclass(frozen=True)
class Scope:
    """What the ancestors of a group hold, as xarray's DataTree sees it.

    Parameters
    ----------
    lengths : mapping of str to (int or None)
        Every dimension name used by an ancestor, with its length.
    variables : frozenset of str
        Names of the ancestors' arrays.
    """

    lengths: Mapping[str, int | None]
    variables: frozenset[str] = frozenset()


ROOT_SCOPE = Scope({}, frozenset())
"""The scope of the root group (no ancestors)."""


def child_scope(
    scope: Scope, arrays: Mapping[str, ArrayDims], names: Mapping[str, Sequence[str]]
) -> Scope:
    """The scope of the children of a group whose arrays got ``names`` (in ``scope``)."""
    lengths = dict(scope.lengths)
    for array, dim_names in names.items():
        shape = arrays[array].shape if array in arrays else ()
        for name, length in zip(dim_names, shape):
            lengths.setdefault(name, length)
    return Scope(lengths, scope.variables | frozenset(arrays))


def _align_with_ancestors(
    arrays: Mapping[str, ArrayDims], names: dict[str, list[str]], scope: Scope, group_name: str
) -> None:
    """Rule 5: rename the group's names that disagree with an ancestor's (all uses at once)."""
    lengths: dict[str, int | None] = {}
    for array, dim_names in names.items():
        for name, length in zip(dim_names, arrays[array].shape):
            lengths.setdefault(name, length)
    taken = set(lengths) | set(arrays) | set(scope.lengths) | set(scope.variables)
    for name, length in sorted(lengths.items()):
        clash = name in scope.variables
        if name in scope.lengths:
            clash = clash or length is None or scope.lengths[name] != length
        if not clash:
            continue
        new = f"{group_name}_{name}" if group_name else f"{name}_2"
        k = 2
        while new in taken:
            k += 1
            new = f"{group_name}_{name}_{k}" if group_name else f"{name}_{k}"
        taken.add(new)
        for array, dim_names in names.items():
            names[array] = [new if n == name else n for n in dim_names]


def _resolve_conflicts(arrays: Mapping[str, ArrayDims], names: dict[str, list[str]]) -> None:
    """Rename dimensions until the group's names are consistent (rule 4)."""
    order = sorted(arrays)
    users: dict[str, list[tuple[str, int]]] = {}
    for array in order:
        for axis, name in enumerate(names[array]):
            users.setdefault(name, []).append((array, axis))
    renamed: set[tuple[str, int]] = set()
    for name, uses in users.items():
        if name in arrays:  # an array's name: xarray would make that array a coordinate
            renamed.update(uses)
            continue
        lengths = [arrays[a].shape[axis] for a, axis in uses]
        if len(set(lengths)) == 1 and None not in lengths:
            continue
        keep = _kept_length(uses, lengths)
        seen: set[str] = set()
        for (array, axis), length in zip(uses, lengths):
            if length != keep or length is None or array in seen:
                renamed.add((array, axis))
            seen.add(array)
    taken = set(users) | set(arrays)  # built once: a group may hold very many arrays
    for array, axis in sorted(renamed):
        names[array][axis] = _unique(array, axis, names[array][axis], taken)
    for array in order:  # one array using one name twice
        seen_names: set[str] = set()
        for axis, name in enumerate(names[array]):
            if name in seen_names:
                names[array][axis] = _unique(array, axis, name, taken)
            seen_names.add(names[array][axis])


def _kept_length(uses: list[tuple[str, int]], lengths: list[int | None]) -> int | None:
    for (array, _axis), length in zip(uses, lengths):
        if array == "data" and length is not None:
            return length
    counts = Counter(length for length in lengths if length is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(length for length in lengths if length is not None and counts[length] == best)


def _unique(array: str, axis: int, name: str, taken: set[str]) -> str:
    """A name for ``array``'s dimension ``axis`` that is in no use (``taken``, updated): the
    names the group's dimensions had or got, and its array names."""
    for candidate in (f"{array}_{name}", f"{array}_dim{axis}"):
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    k = 2
    while f"{array}_dim{axis}_{k}" in taken:
        k += 1
    taken.add(f"{array}_dim{axis}_{k}")
    return f"{array}_dim{axis}_{k}"
