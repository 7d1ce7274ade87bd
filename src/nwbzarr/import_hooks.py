"""Run a function once a module is imported, without importing it ourselves.

``import nwbzarr`` must stay cheap (``nwbzarr --help`` should not load pynwb, hdmf and zarr),
yet nwbzarr teaches pynwb to open its stores and hdmf to grow its arrays. :func:`after_import`
runs such a set-up at once when the module is already imported, and otherwise when it is first
imported: a finder on ``sys.meta_path`` wraps the module's loader so the callback runs right
after the module has executed.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["after_import"]

_PENDING: dict[str, list[Callable[[], None]]] = {}
_LOCK = threading.RLock()


class _Loader(importlib.abc.Loader):
    """Delegates to the real loader, then runs the callbacks waiting for the module."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _run(self._name)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds the modules with pending callbacks through the other finders, wrapping the loader."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _PENDING:
            return None
        sys.meta_path.remove(self)  # let the other finders answer, without recursion
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader, fullname)
        return spec


_FINDER = _Finder()


def _run(name: str) -> None:
    with _LOCK:
        callbacks = _PENDING.pop(name, [])
        if not _PENDING and _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
    for callback in callbacks:
        callback()


def after_import(module: str, callback: Callable[[], None]) -> None:
    """Call ``callback()`` once ``module`` is imported (now, if it already is).

    Parameters
    ----------
    module : str
        Top-level module name (``"pynwb"``).
    callback : callable
        Called with no arguments, once.
    """
    with _LOCK:
        if module not in sys.modules:
            _PENDING.setdefault(module, []).append(callback)
            if _FINDER not in sys.meta_path:
                sys.meta_path.insert(0, _FINDER)
            return
    callback()
