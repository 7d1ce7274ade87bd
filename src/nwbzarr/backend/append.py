"""Append and amend mode (``"a"``, ``"r+"``) of :class:`nwbzarr.ZarrIO`.

A store opened with ``"a"`` or ``"r+"`` is read with ``io.read()``, changed through pynwb, and
written with ``io.write(nwbfile)``. Three kinds of change reach the store:

* new containers (groups, arrays, links) and changed attributes of existing groups and arrays,
  written by ``io.write`` (:class:`nwbzarr.backend.write.Writer`, which also refreshes the
  attributes and rows of existing arrays);
* rows appended to arrays read from the store (``add_row``, ``add_unit``, ...), written at once
  through the lazy views (:mod:`nwbzarr.backend.grow`), as h5py does in ``r+``;
* references appended to containers that have no path yet, stored as placeholders and filled
  in when ``io.write`` has built their targets.

Failure policy (``docs/storage.md`` §7). The ``_WRITE_IN_PROGRESS`` marker is set just before
the first change. When a write or an append fails, or the ``with`` block exits with an
exception while appended rows are not yet followed by a completed ``io.write``, ``close()``
compares every node's metadata with a snapshot taken before the marker was set: if nothing
changed, the root ``zarr.json`` is restored byte for byte (the store is as complete as before,
consolidated metadata included); if anything changed, the marker stays and readers refuse the
store (``IncompleteStoreError``) instead of showing half an append.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import zarr
from hdmf.build import DatasetBuilder
from hdmf.data_utils import DataIO

from ..compat import default_buffer_prototype, sync
from ..conventions.attributes import (
    DTYPE_ATTR,
    OBJECT_REFERENCE,
    REFERENCE_FIELDS_ATTR,
    WRITE_IN_PROGRESS_ATTR,
)
from ..errors import AppendError, StoreNotFoundError
from .grow import (
    PENDING_PREFIX,
    append_compound,
    append_references,
    append_rows,
    set_compound_field,
    unlock_vector_indexes,
)

#: Modes that open an existing store for changes.
APPEND_MODES = ("a", "r+")
_ROOT_KEY = "zarr.json"


class AppendSession:
    """What an append (``a``/``r+``) remembers between ``io.read()``, changes through the
    lazy views (:mod:`nwbzarr.backend.grow`) and ``io.write``/``close``: placeholders of
    references to containers not built yet, the arrays grown, the fields of the containers
    read, and the root metadata before the first change (see the module doc).

    Attributes
    ----------
    pending_targets : dict of str to Any
        Placeholder token -> the container it stands for.
    pending_sites : list of tuple
        ``(array, index, field, token)`` of every placeholder stored.
    touched_arrays : set of str
        Paths of arrays grown through the lazy views.
    views_changed : bool
        Rows were appended through the views since the last completed ``write_builder``.
    """

    def __init__(self) -> None:
        self.pending_targets: dict[str, Any] = {}
        self.pending_sites: list[tuple[Any, int, str | None, str]] = []
        self.touched_arrays: set[str] = set()
        self.views_changed = False
        self._fields_at_read: dict[int, tuple[Any, dict]] | None = None
        self._snapshot: tuple[Any, dict] | None = None

    # -- references to containers not written yet --------------------------------------------
    def pending_reference(self, target: Any) -> str:
        """A placeholder for a reference to ``target``, a container not built yet.

        Parameters
        ----------
        target : hdmf.container.AbstractContainer
            The referenced container.

        Returns
        -------
        str
            The placeholder stored in its place (the same one for the same target).
        """
        for token, known in self.pending_targets.items():
            if known is target:
                return token
        token = f"{PENDING_PREFIX}{len(self.pending_targets)}"
        self.pending_targets[token] = target
        return token

    def note_growth(self, array: zarr.Array) -> None:
        """Record that rows were appended to ``array`` through a lazy view."""
        self.views_changed = True
        self.touched_arrays.add(array.path.strip("/"))

    # -- fields changed between read and write -------------------------------------------------
    def remember_fields(self, container: Any) -> None:
        """Note every container's field values, to find the ones changed before ``write``."""
        self._fields_at_read = {
            id(obj): (obj, dict(obj.fields)) for obj in container.objects.values()
        }

    def flag_changed_fields(self, container: Any) -> None:
        """Mark containers whose fields were set or replaced since reading as modified.

        pynwb does not flag a container whose optional field was set after reading
        (``device.manufacturer = ...``). Only those are rebuilt: rebuilding unchanged ones
        would store attributes the original never had (spec defaults such as a Subject's
        ``age__reference``).
        """
        seen = self._fields_at_read
        for obj in container.objects.values():
            before = None if seen is None else seen.get(id(obj))
            if before is None or before[0] is not obj:
                if seen is None:
                    obj.set_modified()
                continue
            fields, now = before[1], obj.fields
            if fields.keys() != now.keys() or any(now[k] is not v for k, v in fields.items()):
                obj.set_modified()

    # -- failure handling --------------------------------------------------------------------
    def take_snapshot(self, root: zarr.Group) -> None:
        """Record the store's state before the first change of an append (see module doc);
        nothing for a new store."""
        attrs = root.attrs.asdict()
        if not ("neurodata_type" in attrs or "data_type" in attrs):
            return  # a new store: nothing to preserve
        raw = sync(root.store.get(_ROOT_KEY, prototype=default_buffer_prototype()))
        self._snapshot = (raw, _fingerprint(root))

    def restore_if_unchanged(self, root: zarr.Group) -> bool:
        """After a failure: put back the root metadata if the failed change wrote nothing.

        Returns
        -------
        bool
            True if the store was restored to its state before the append.
        """
        if self._snapshot is None:
            return False
        raw, before = self._snapshot
        if raw is None or _fingerprint(root) != before:
            return False
        sync(root.store.set(_ROOT_KEY, raw))
        return True

    def table_problem(self, root: zarr.Group, source: Any) -> AppendError | None:
        """An error if a table grown through read arrays has columns of different lengths.

        hdmf appends a row column by column; a row interrupted half way (an exception the caller
        caught) would otherwise be stored as a table that no reader can construct.
        """
        problems = []
        for gpath in sorted({p.rpartition("/")[0] for p in self.touched_arrays}):
            try:
                group = root[gpath] if gpath else root
            except KeyError:
                continue
            problems += _table_length_problems(group)
        if not problems:
            return None
        return AppendError(
            f"{source}: rows were appended only in part: {'; '.join(problems)}. A row "
            "interrupted half way cannot be stored; the store is left marked incomplete"
        )

    def unresolved_references(self, source: Any) -> AppendError | None:
        """An error for placeholders whose targets were never written (then forgotten)."""
        if not self.pending_sites:
            return None
        where = sorted({"/" + a.path for a, *_ in self.pending_sites})
        names = sorted(
            {getattr(self.pending_targets[t], "name", "?") for *_, t in self.pending_sites}
        )
        self.pending_sites.clear()
        return AppendError(
            f"{source}: {', '.join(where)} refer to {', '.join(names)}, which were never "
            "written; add them to the file and call io.write(nwbfile) before closing. The store "
            "is left marked incomplete"
        )


class AppendMixin:
    """Append-mode steps of :class:`nwbzarr.ZarrIO`; the state lives in
    the :class:`AppendSession` the I/O object owns (``append_session``)."""

    _exiting_with_error = False

    def pending_object(self, token: str, builders: bool) -> Any:
        """The target of a placeholder read back before ``io.write`` (container or builder).

        Raises
        ------
        KeyError
            If ``token`` is not a placeholder of this I/O object.
        """
        target = self.append_session.pending_targets[token]
        if builders:
            built = self.manager.get_builder(target)
            return built if built is not None else target
        return target

    # -- read / write ------------------------------------------------------------------------
    def read(self, **kwargs: Any) -> Any:
        """Read the root container; in append modes, let its ragged columns grow.

        Raises
        ------
        ValueError
            If the store was opened in a write-only mode.
        """
        if self._created_by_append and not self.writer.started:
            raise StoreNotFoundError(
                f"{self.source}: no NWB file to read; mode 'a' found nothing at this path (the "
                "empty store it made is removed on close). Check the path, or write a new file "
                "first"
            )
        container = super().read(**kwargs)
        if self._mode in APPEND_MODES:
            unlock_vector_indexes(container.objects.values())
            self.append_session.remember_fields(container)
        return container

    def write(self, container: Any, **kwargs: Any) -> None:
        """Write ``container``; in append modes, store every changed attribute too.

        Raises
        ------
        ReadOnlyError
            If the store was opened read-only.
        AppendError
            If a table grown through read arrays has columns of different lengths.
        """
        if self._mode in APPEND_MODES:
            self.append_session.flag_changed_fields(container)
        super().write(container, **kwargs)
        if self._mode in APPEND_MODES:
            self.append_session.remember_fields(container)

    def _after_write_builder(self) -> None:
        """After ``write_builder``: fill in references appended before their targets existed,
        and check the tables grown through read arrays.

        Raises
        ------
        AppendError
            If a table grown through read arrays has columns of different lengths.
        """
        self._fill_pending_references()
        problem = self.append_session.table_problem(self._root, self.source)
        if problem is not None:
            raise problem
        self.append_session.views_changed = False

    def _grow_written_dataset(self, node: zarr.Array, builder: DatasetBuilder) -> None:
        """Store rows added in memory to a dataset written earlier in this session (the
        writer's ``grow_written`` callback, called in append modes).

        A column written by one ``io.write`` keeps its in-memory list in the container; rows
        added before the next ``io.write`` are appended here instead of being skipped.
        """
        data = builder.data
        if "neurodata_type" in builder.attributes or "data_type" in builder.attributes:
            try:
                data = self.manager.construct(builder).data  # the container's current data
            except Exception:  # pragma: no cover - no cached container: keep the builder's
                pass
        if isinstance(data, DataIO):
            data = data.data
        if not isinstance(data, (list, tuple, np.ndarray)) or node.ndim == 0:
            return
        stored = node.shape[0]
        if len(data) <= stored:
            return
        tail = list(data[stored:])
        if node.dtype.names:
            fields = tuple(node.attrs.get(REFERENCE_FIELDS_ATTR) or ())
            append_compound(self, node, tail, fields)
        elif node.attrs.get(DTYPE_ATTR) == OBJECT_REFERENCE:
            append_references(self, node, tail)
        else:
            append_rows(
                self, node, np.asarray(data[stored:]) if isinstance(data, np.ndarray) else tail
            )

    def _fill_pending_references(self) -> None:
        """Replace placeholders whose targets ``io.write`` has now built by their paths."""
        session = self.append_session
        left = []
        for array, index, field, token in session.pending_sites:
            target = session.pending_targets[token]
            if self.manager.get_builder(target) is None:
                left.append((array, index, field, token))
                continue
            path = self.writer.reference_path(target, "/" + array.path)
            if field is None:
                array[index : index + 1] = [path]
            else:
                set_compound_field(array, index, field, path)
        session.pending_sites[:] = left

    # -- failure handling --------------------------------------------------------------------
    def _unresolved_references_error(self) -> AppendError | None:
        """An error for an append that cannot be completed (marks the write failed): a reference
        whose target was never written, or a table grown only in part."""
        session = self.append_session
        if not self.writer.failed and session.views_changed:
            problem = session.table_problem(self._root, self.source)
            if problem is not None:
                self.writer.mark_failed()
                return problem
        problem = session.unresolved_references(self.source)
        if problem is not None:
            self.writer.mark_failed()
        return problem

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._exiting_with_error = True
            if self.append_session.views_changed:  # rows appended, no completed io.write
                self.writer.mark_failed()
        self.close()


def _fingerprint(root: zarr.Group) -> dict[str, str]:
    """Every node's metadata as canonical JSON (the root's attributes without the marker)."""
    attrs = {k: v for k, v in root.attrs.asdict().items() if k != WRITE_IN_PROGRESS_ATTR}
    out = {"/": json.dumps(attrs, sort_keys=True, default=str)}
    for path, node in root.members(max_depth=None):
        meta = node.metadata.to_dict()
        meta.pop("consolidated_metadata", None)
        out[path] = json.dumps(meta, sort_keys=True, default=str)
    return out


def _table_length_problems(group: zarr.Group) -> list[str]:
    """Columns of a DynamicTable group whose row count differs from ``id``'s, and indexes
    whose last offset is not the length of their target."""
    colnames = group.attrs.get("colnames")
    if colnames is None or "id" not in group:
        return []
    arrays = dict(group.arrays())
    rows = arrays["id"].shape[0]
    where = "/" + group.path
    out = []
    for col in [str(c) for c in np.atleast_1d(colnames)]:
        outer = col
        while f"{outer}_index" in arrays:
            outer = f"{outer}_index"
        if outer in arrays and arrays[outer].ndim and arrays[outer].shape[0] != rows:
            out.append(f"{where}/{outer} has {arrays[outer].shape[0]} rows, id has {rows}")
    for name, index in arrays.items():
        target = arrays.get(name[: -len("_index")]) if name.endswith("_index") else None
        if target is None or index.ndim != 1 or not index.shape[0] or not target.ndim:
            continue
        last = int(np.asarray(index[index.shape[0] - 1 :])[0])
        if last != target.shape[0]:
            out.append(
                f"{where}/{name} ends at {last}, {where}/{target.basename} has {target.shape[0]}"
            )
    return out
