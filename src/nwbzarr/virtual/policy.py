"""Which files and URLs a reference set may point at (:class:`AccessPolicy`).

A reference JSON is untrusted input: whoever wrote it chose the byte ranges it names. Without a
check, a JSON downloaded from the web could make the reader return the bytes of any local file
(``["/home/me/.ssh/id_rsa", 0, 4096]``) as if they were chunk data. The rules, applied to every
reference when a JSON is loaded (so a bad file fails at open, not in the middle of a read):

* a URL target must use one of the allowed schemes (default ``http``, ``https``, ``s3``,
  ``gs``);
* a local target (a path or a ``file://`` URL) must lie, after resolving ``..`` and symbolic
  links, under an allowed local root. The allowed roots are the roots given by the caller
  (``AccessPolicy(allow_local=[...])``), the roots named in the ``NWBZARR_ALLOWED_ROOTS``
  environment variable (``os.pathsep``-separated) and, for a JSON read from local disk, the
  JSON's own directory. A JSON read from a URL gets no local root of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import UntrustedReferenceError

__all__ = ["AccessPolicy", "ENV_ALLOWED_ROOTS", "DEFAULT_SCHEMES", "split_scheme"]

ENV_ALLOWED_ROOTS = "NWBZARR_ALLOWED_ROOTS"
"""Environment variable listing extra allowed local roots, ``os.pathsep``-separated."""

DEFAULT_SCHEMES = ("http", "https", "s3", "gs")
"""URL schemes a reference may use unless the caller allows others."""


def split_scheme(target: str) -> tuple[str | None, str]:
    """Split ``target`` into its URL scheme (lower case) and the rest.

    Parameters
    ----------
    target : str
        A URL (``"https://host/f.nwb"``) or a local path.

    Returns
    -------
    tuple of (str or None, str)
        ``(scheme, target)`` for a URL; ``(None, path)`` for a local path, a ``file://`` URL
        being turned into its path.
    """
    head, sep, _ = target.partition("://")
    if not sep or not head or not head.replace("+", "").replace("-", "").isalnum():
        return None, target
    scheme = head.lower()
    if scheme == "file":
        return None, unquote(urlsplit(target).path)
    return scheme, target


@dataclass(frozen=True)
class AccessPolicy:
    """What the references of a reference JSON may point at.

    Parameters
    ----------
    schemes : tuple of str, default ("http", "https", "s3", "gs")
        Allowed URL schemes (lower case, without ``://``).
    allow_local : iterable of str or pathlib.Path, default ()
        Extra local directories whose files may be referenced (by any JSON, local or remote).
    use_env : bool, default True
        Also allow the roots listed in the ``NWBZARR_ALLOWED_ROOTS`` environment variable.
    allow_own_directory : bool, default True
        Allow a JSON read from local disk to reference files under its own directory.
    """

    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    allow_local: tuple[str | Path, ...] = field(default_factory=tuple)
    use_env: bool = True
    allow_own_directory: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))
        object.__setattr__(self, "allow_local", tuple(self.allow_local))

    def local_roots(self, location: str | None) -> list[str]:
        """Return the allowed local roots (resolved, absolute) for a JSON at ``location``.

        Parameters
        ----------
        location : str or None
            Absolute path or URL of the reference JSON; None for a reference set built in
            memory (no own directory).

        Returns
        -------
        list of str
            Real paths (symbolic links resolved) of every allowed root directory.
        """
        roots: list[str | Path] = list(self.allow_local)
        if self.use_env:
            roots += [r for r in os.environ.get(ENV_ALLOWED_ROOTS, "").split(os.pathsep) if r]
        if self.allow_own_directory and location is not None:
            scheme, path = split_scheme(location)
            if scheme is None:
                roots.append(os.path.dirname(os.path.abspath(path)))
        return [os.path.realpath(os.fspath(r)) for r in roots]

    def checker(self, location: str | None) -> _TargetChecker:
        """Return a callable checking the targets of one reference set (caches per target).

        Parameters
        ----------
        location : str or None
            Absolute path or URL of the reference JSON, None for an in-memory set.
        """
        return _TargetChecker(self, location)

    def check_all(self, items: Iterable[tuple[str, str]], location: str | None) -> None:
        """Check ``(key, target)`` pairs; raise on the first one not allowed.

        Parameters
        ----------
        items : iterable of (str, str)
            Zarr key and the absolute path or URL its byte range points at.
        location : str or None
            Absolute path or URL of the reference JSON, None for an in-memory set.

        Raises
        ------
        UntrustedReferenceError
            If a target uses a scheme or lies outside the local roots this policy allows.
        """
        check = self.checker(location)
        for key, target in items:
            check(key, target)


class _TargetChecker:
    """Checks targets of one reference set against a policy; each distinct target once."""

    def __init__(self, policy: AccessPolicy, location: str | None) -> None:
        self.policy = policy
        self.location = location
        self._roots: list[str] | None = None
        self._seen: set[str] = set()

    def __call__(self, key: str, target: str) -> None:
        if target in self._seen:
            return
        scheme, path = split_scheme(target)
        where = self.location or "the reference set"
        if scheme is not None:
            if scheme not in self.policy.schemes:
                raise UntrustedReferenceError(
                    f"{where}: reference {key!r} points at {target!r}, whose URL scheme "
                    f"{scheme!r} is not allowed (allowed: {', '.join(self.policy.schemes)}); "
                    f"allow it with AccessPolicy(schemes=(..., {scheme!r}))"
                )
        else:
            if self._roots is None:
                self._roots = self.policy.local_roots(self.location)
            real = os.path.realpath(path)
            if not any(_is_under(real, root) for root in self._roots):
                roots = ", ".join(self._roots) or "none"
                raise UntrustedReferenceError(
                    f"{where}: reference {key!r} points at the local file {target!r} "
                    f"(resolved: {real!r}), outside the allowed local roots ({roots}); a JSON "
                    "read from a URL may not name local files, a local JSON only files under "
                    "its own directory. Allow the directory with "
                    f"AccessPolicy(allow_local=[{os.path.dirname(real)!r}]) or the "
                    f"{ENV_ALLOWED_ROOTS} environment variable"
                )
        self._seen.add(target)


def _is_under(path: str, root: str) -> bool:
    """True if the resolved ``path`` is ``root`` or inside it."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives (Windows)
        return False
