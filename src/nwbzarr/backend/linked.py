"""Where the links of a store being read lead (used by :class:`nwbzarr.backend.read.Reader`).

* :class:`LinkedSources`: the other Zarr stores and HDF5 files that external links and
  references of one store point into, each checked by the access policy
  (:meth:`nwbzarr.storage.policy.AccessPolicy.check_link`) and opened once, read-only;
  :class:`HDF5LinkSource` serves the builders of a linked HDF5 file.
* Chains of links: :func:`following_link` keeps the links being followed in this thread, so
  that a chain coming back to itself raises :class:`~nwbzarr.errors.LinkCycleError` and one
  longer than ``limits.max_link_depth`` raises :class:`~nwbzarr.errors.LimitExceededError`;
  :func:`reading_store` and :func:`serving_reader` let an external link back into a store whose
  read is under way be served by the object reading it (instead of reading it again, endlessly).
* :func:`check_group_cycles`: refuse a builder tree in which a link makes a group contain
  itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import h5py
from hdmf.backends.hdf5 import HDF5IO
from hdmf.build import GroupBuilder

from .. import limits
from ..conventions.references import builder_path, normalize_path
from ..errors import LinkCycleError
from ..storage.policy import AccessPolicy, verify_opened
from ..storage.resolve import is_remote_url, join_location

__all__ = [
    "HDF5LinkSource",
    "LinkedSources",
    "check_group_cycles",
    "following_link",
    "reading_store",
    "serving_reader",
    "store_key",
]

#: Links being followed in this thread, outermost first: ``(store key, link path)`` pairs.
_LINK_STACK: contextvars.ContextVar[tuple] = contextvars.ContextVar("nwbzarr_links", default=())
#: Stores whose ``read_builder`` is under way in this thread: ``{store key: I/O object}``. An
#: external link back into one of them is served by that object (its walk is complete, its
#: links are being resolved) instead of opening and reading the store again, endlessly.
_READING: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "nwbzarr_reading", default=None
)


def store_key(io: Any) -> str:
    """The identity of the store or file an I/O object reads.

    Parameters
    ----------
    io : Any
        A :class:`~nwbzarr.ZarrIO` or :class:`HDF5LinkSource` (``abspath`` or ``path``).

    Returns
    -------
    str
        The real path of a local store or file, or its URL.
    """
    where = str(getattr(io, "abspath", None) or getattr(io, "path", None) or id(io))
    return where if "://" in where else os.path.realpath(where)


@contextlib.contextmanager
def reading_store(key: str, io: Any) -> Iterator[None]:
    """Mark the store ``key`` as being read by ``io`` in this thread, for the block.

    Parameters
    ----------
    key : str
        The store's :func:`store_key`.
    io : Any
        The object whose ``get_builder_at`` serves links into that store meanwhile.
    """
    token = _READING.set({**(_READING.get() or {}), key: io})
    try:
        yield
    finally:
        _READING.reset(token)


def serving_reader(io: Any) -> Any:
    """The object to ask for builders of ``io``'s store: the one reading it in this thread
    (:func:`reading_store`) if any, else ``io`` itself.

    Parameters
    ----------
    io : Any
        An opened linked store or file.

    Returns
    -------
    Any
        An object with ``get_builder_at``.
    """
    return (_READING.get() or {}).get(store_key(io), io)


@contextlib.contextmanager
def following_link(key: tuple[str, str], source: str, where: str) -> Iterator[None]:
    """Follow the link ``key`` (``(store key, link path)``) for the block.

    Parameters
    ----------
    key : tuple of (str, str)
        The store holding the link and the link's path.
    source : str
        The store read, for messages.
    where : str
        What is being looked up, for messages.

    Raises
    ------
    LinkCycleError
        The link is already being followed in this thread (the chain comes back to it).
    LimitExceededError
        The chain is longer than ``limits.max_link_depth``.
    """
    stack = _LINK_STACK.get()
    if key in stack:
        raise LinkCycleError(
            f"{source}: {where}: links form a cycle: {_cycle_text(stack, key)}; "
            "remove or retarget one of these links"
        )
    if len(stack) >= limits.current().max_link_depth:
        raise limits.exceeded(
            f"{source}: {where}: a chain of {len(stack) + 1} links "
            f"({_cycle_text(stack[:2], key, close=False, gap=len(stack) > 2)})",
            "max_link_depth",
            len(stack) + 1,
        )
    token = _LINK_STACK.set((*stack, key))
    try:
        yield
    finally:
        _LINK_STACK.reset(token)


def _cycle_text(stack: tuple, key: tuple, close: bool = True, gap: bool = False) -> str:
    """``/a -> /b -> /a`` for the links of ``stack`` (from ``key``'s first occurrence on if
    ``close``), then ``key``; ``gap`` puts ``...`` before ``key`` (links left out)."""
    chain = list(stack[stack.index(key) :]) if close and key in stack else list(stack)
    chain.append(key)
    one_store = len({store for store, _ in chain}) == 1
    names = [path if one_store else f"{store}:{path}" for store, path in chain]
    if gap:
        names.insert(-1, "...")
    return " -> ".join(names)


class LinkedSources:
    """The stores and HDF5 files the external links of one store point into.

    Parameters
    ----------
    source : str
        The store holding the links, for messages.
    store_root : str
        Absolute path or URL link sources are relative to (the store root; the directory of
        an HDF5 file or reference JSON).
    is_file : bool
        True if the links are held by a file (HDF5, reference JSON) rather than a directory
        store: its own directory is then ``store_root`` itself, else the directory holding it.
    open_store : callable
        ``open_store(target)`` opens a linked Zarr store (or file) read-only.
    manager : hdmf.build.BuildManager
        Build manager linked HDF5 files are read with (shared, so containers resolve once).
    access_policy : AccessPolicy, optional
        What may be linked; default a new :class:`AccessPolicy` for each check.
    """

    def __init__(
        self,
        source: str,
        store_root: str,
        is_file: bool,
        open_store: Callable[[str], Any],
        manager: Any,
        access_policy: AccessPolicy | None = None,
    ) -> None:
        self.source = source
        self.store_root = store_root
        own_dir = store_root  # a file (HDF5, reference JSON): its own directory
        if not is_file:  # a directory store: its siblings
            own_dir = (
                join_location(store_root, "..")
                if is_remote_url(store_root)
                else os.path.dirname(store_root)
            )
        self.own_dir = own_dir
        self.access_policy = access_policy
        self._open_store = open_store
        self._manager = manager
        self._opened: dict[str, Any] = {}

    @property
    def opened(self) -> Mapping[str, Any]:
        """The linked stores and files opened so far: ``{absolute path or URL: reader}``."""
        return MappingProxyType(self._opened)

    def check(self, link_source: str, where: str, store: str | None = None) -> str:
        """Resolve a link's ``source`` through the access policy.

        Parameters
        ----------
        link_source : str
            The link's ``source`` as stored.
        where : str
            Where the link is, for messages.
        store : str, optional
            The store named in messages (default ``source``).

        Returns
        -------
        str
            The absolute path or URL of the linked store or file.

        Raises
        ------
        UntrustedReferenceError
            If the access policy refuses the target.
        """
        policy = self.access_policy or AccessPolicy()
        name = self.source if store is None else store
        return policy.check_link(name, self.store_root, self.own_dir, where, link_source)

    def get(self, link_source: str, where: str) -> Any:
        """The opened store or HDF5 file a link's ``source`` names (opened on first use).

        Parameters
        ----------
        link_source : str
            The link's ``source`` as stored.
        where : str
            Where the link is, for messages.

        Returns
        -------
        Any
            A :class:`~nwbzarr.ZarrIO` (from ``open_store``) or an :class:`HDF5LinkSource`.

        Raises
        ------
        UntrustedReferenceError
            If the access policy refuses the target.
        """
        target = self.check(link_source, where)
        if target not in self._opened:
            if os.path.isfile(target) and h5py.is_hdf5(target):
                self._opened[target] = HDF5LinkSource(target, self._manager)
            else:
                self._opened[target] = self._open_store(target)
        return self._opened[target]

    def close(self) -> None:
        """Close every linked store and file opened (they open again when next needed)."""
        for opened in self._opened.values():
            opened.close()
        self._opened = {}


class HDF5LinkSource:
    """An HDF5 file that external links of a Zarr store point into.

    Opens the file read-only with hdmf's HDF5IO on first use and serves builders by path,
    so a linked dataset reads lazily as an ``h5py.Dataset``.

    Parameters
    ----------
    path : str
        Absolute path of the HDF5 file.
    manager : hdmf.build.BuildManager
        The build manager of the Zarr store's ZarrIO (shared so containers resolve once).
    """

    def __init__(self, path: str, manager: Any) -> None:
        self.path = path
        self._io = HDF5IO(path, mode="r", manager=manager)
        try:  # the file h5py opened must be the one the access policy checked
            verify_opened(path, self._io._file.id.get_vfd_handle())
        except BaseException:
            self._io.close()
            raise
        self._root = None

    def get_builder_at(self, path: str) -> Any:
        """Return the builder at ``path`` (``/a/b/c``) inside the HDF5 file.

        Raises
        ------
        KeyError
            If nothing exists at ``path``.
        """
        if self._root is None:
            self._root = self._io.read_builder()
        key = normalize_path(path).strip("/")
        if not key:
            return self._root
        try:
            return self._root[key]
        except KeyError:
            raise KeyError(
                f"{self.path}: a link points at {path!r}, which does not exist"
            ) from None

    def close(self) -> None:
        """Close the HDF5 file."""
        self._io.close()


def check_group_cycles(root: GroupBuilder, source: str) -> None:
    """Raise LinkCycleError if a link makes a group contain itself (directly or via others).

    HDMF and pynwb walk builders recursively through links (``pynwb`` migrations, export,
    validation), so a link to a group's own ancestor would recurse without end.

    Parameters
    ----------
    root : hdmf.build.GroupBuilder
        The root of the tree read.
    source : str
        The store read, for messages.

    Raises
    ------
    LinkCycleError
        A group contains itself through links (the message lists the cycle).
    """
    state: dict[int, int] = {id(root): 1}  # id(builder) -> 1 on the current path, 2 done
    trail: list[str] = [_label(root, source)]  # the current path, links included
    stack: list[tuple[GroupBuilder, Iterator, int]] = [(root, _group_edges(root), 1)]
    while stack:
        group, edges, pushed = stack[-1]
        for label, child in edges:
            mark = state.get(id(child))
            if mark == 2:
                continue
            start = _label(child, source)
            if mark == 1:
                cycle = trail[trail.index(start) :] if start in trail else trail
                raise LinkCycleError(
                    f"{source}: links form a cycle: {' -> '.join([*cycle, label, start])}: "
                    "a group would contain itself; remove or retarget the link"
                )
            state[id(child)] = 1
            names = [label, start] if label else [start]
            trail.extend(names)
            stack.append((child, _group_edges(child), len(names)))
            break
        else:
            stack.pop()
            state[id(group)] = 2
            del trail[len(trail) - pushed :]


def _label(builder: Any, source: str) -> str:
    path = builder_path(builder)
    own = getattr(builder, "source", None)
    return path if own in (None, source) else f"{own}:{path}"


def _group_edges(group: GroupBuilder) -> Iterator[tuple[str, GroupBuilder]]:
    """Sub-groups (label ``""``) and the groups links point at (label ``"<path> (link)"``)."""
    for child in group.groups.values():
        yield "", child
    for link in group.links.values():
        if isinstance(link.builder, GroupBuilder):
            yield f"{builder_path(group).rstrip('/')}/{link.name} (link)", link.builder
