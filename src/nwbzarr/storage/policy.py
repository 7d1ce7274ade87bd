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
* an ``http(s)`` URL target may not name a loopback, link-local, private, reserved or
  unspecified address (the host name is resolved with :func:`socket.getaddrinfo` and every
  address checked), unless it is the origin (host and port) the JSON itself was fetched from,
  an origin the user opened in this process (:func:`trust_origin`), or private hosts are
  allowed (``AccessPolicy(allow_private_hosts=True)``, ``NWBZARR_ALLOW_PRIVATE_HOSTS=1``).

The same rules apply to every other path or URL found inside a file: external-link sources
(``_LINKS``, legacy ``zarr_link``; :meth:`AccessPolicy.check_link`, whose own directory is the
directory holding the store), LINDI ``_EXTERNAL_ARRAY_LINK`` targets and redirects
(:func:`check_url_host`). A local target that passed the check is remembered by identity
(device, inode); :func:`verify_opened` refuses a descriptor opened later on that path that
is another file (a symbolic link swapped in after the check), and a file whose size differs
from the one its reference JSON recorded (:func:`expect_source`).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import limits
from ..errors import SourceChangedError, UntrustedReferenceError

__all__ = [
    "AccessPolicy",
    "ENV_ALLOWED_ROOTS",
    "DEFAULT_SCHEMES",
    "split_scheme",
    "check_url_host",
    "trust_origin",
    "origin_of",
    "expect_source",
    "expected_source",
    "check_remote_source",
    "note_remote_source",
    "learned_source",
    "verify_opened",
    "SourceRecord",
    "TrustRecords",
    "export_trust",
    "restore_trust",
]

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
    allow_private_hosts : bool or None, default None
        Allow URL targets on loopback, link-local or private addresses of any host; None
        follows :attr:`nwbzarr.limits.Limits.allow_private_hosts`
        (``NWBZARR_ALLOW_PRIVATE_HOSTS``).
    """

    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    allow_local: tuple[str | Path, ...] = field(default_factory=tuple)
    use_env: bool = True
    allow_own_directory: bool = True
    allow_private_hosts: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "schemes", tuple(s.lower() for s in self.schemes))
        object.__setattr__(self, "allow_local", tuple(self.allow_local))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the policy in force here, so that a copy allows exactly what this one does.

        The roots of ``NWBZARR_ALLOWED_ROOTS`` and the private-host setting
        (``NWBZARR_ALLOW_PRIVATE_HOSTS``) are read now and pickled as explicit values, and the
        ``allow_local`` roots as resolved absolute paths: an unpickled policy (in a dask worker
        with another environment or working directory) does not consult its own environment.

        Returns
        -------
        tuple
            ``(AccessPolicy, arguments)`` of the resolved policy.
        """
        return (
            AccessPolicy,
            (
                self.schemes,
                tuple(self.local_roots(None)),
                False,
                self.allow_own_directory,
                self.private_hosts_allowed(),
            ),
        )

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

    def private_hosts_allowed(self) -> bool:
        """True if URL targets may name private, loopback or link-local addresses."""
        if self.allow_private_hosts is not None:
            return bool(self.allow_private_hosts)
        return bool(limits.current().allow_private_hosts)

    def check_link(self, store: str, base: str, own_dir: str, key: str, source: str) -> str:
        """Resolve and check the ``source`` of an external link found in a store.

        Parameters
        ----------
        store : str
            The store (or file) holding the link, for messages.
        base : str
            Absolute path or URL the link's ``source`` is relative to (the store root).
        own_dir : str
            The directory holding the store (local path or URL): its files may be linked.
        key : str
            Where the link is (``"/acquisition/ts _LINKS"``), for messages.
        source : str
            The link's ``source`` as stored.

        Returns
        -------
        str
            The absolute path or URL of the linked file or store.

        Raises
        ------
        UntrustedReferenceError
            If the target lies outside ``own_dir`` and the allowed roots, uses a scheme that
            is not allowed, or names a private address (message names the store, the link,
            the target and how to allow it).
        """
        # function-local: resolve imports zarr, and this module stays light (storage/__init__)
        from .resolve import is_remote_url, join_location

        scheme, path = split_scheme(source)
        if scheme is not None:
            target = source
        elif os.path.isabs(path) and not is_remote_url(base):
            target = os.path.normpath(path)
        else:
            target = join_location(base, path)
        what = f"{store}: link {key} (source {source!r})"
        tscheme, tpath = split_scheme(target)
        if tscheme is None:
            roots = [os.path.realpath(own_dir)] if not is_remote_url(own_dir) else []
            roots += self.local_roots(None)
            _check_local(what, target, tpath, roots, "link")
            return tpath
        if tscheme not in self.schemes:
            raise UntrustedReferenceError(
                f"{what} points at {target!r}, whose URL scheme {tscheme!r} is not allowed "
                f"(allowed: {', '.join(self.schemes)})"
            )
        if scheme is None and is_remote_url(own_dir):  # relative: stays under the store's dir
            inside = urlsplit(own_dir).path.rstrip("/") + "/"
            if not (urlsplit(target).path.rstrip("/") + "/").startswith(inside):
                raise UntrustedReferenceError(
                    f"{what} points at {target!r}, outside the directory {own_dir!r} holding "
                    "the store; a relative link may only name files next to the store"
                )
        trusted = (origin_of(base),) if is_remote_url(base) else ()
        check_url_host(target, what=what, trusted=trusted, allow=self.private_hosts_allowed())
        return target


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
            own = split_scheme(self.location)[0] if self.location else None
            trusted = (origin_of(self.location),) if own is not None else ()
            check_url_host(
                target,
                what=f"{where}: reference {key!r}",
                trusted=trusted,
                allow=self.policy.private_hosts_allowed(),
            )
        else:
            if self._roots is None:
                self._roots = self.policy.local_roots(self.location)
            _check_local(f"{where}: reference {key!r}", target, path, self._roots, "reference")
        self._seen.add(target)


# -- local targets: the check, and the identity kept for later opens ---------------------------
@dataclass(frozen=True)
class SourceRecord:
    """What a reference JSON recorded about one source when it was written.

    Parameters
    ----------
    size : int or None
        Size in bytes.
    etag : str or None
        HTTP ETag (remote sources), compared when the server sends one.
    mtime : float or None
        Modification time (seconds since the epoch); recorded, not compared (copies and
        uploads change it without changing the bytes).
    json : str or None
        The reference JSON that recorded it, for messages.
    """

    size: int | None = None
    etag: str | None = None
    mtime: float | None = None
    json: str | None = None


_LOCK = threading.Lock()
#: checked local target -> (st_dev, st_ino, allowed roots) at the time of the check
_CHECKED: dict[str, tuple[int, int, tuple[str, ...]]] = {}
#: source (path or URL) -> what its reference JSON recorded
_EXPECTED: dict[str, SourceRecord] = {}
#: URL -> size and ETag a server answered with (what a reference JSON written now records)
_LEARNED: dict[str, SourceRecord] = {}
#: (host, port) origins the user opened directly in this process
_TRUSTED_ORIGINS: set[tuple[str, int | None]] = set()


def _check_local(what: str, target: str, path: str, roots: list[str], kind: str) -> None:
    """Refuse ``path`` outside ``roots``; remember the identity of the file that passed."""
    real = os.path.realpath(path)
    if not any(_is_under(real, root) for root in roots):
        shown = ", ".join(roots) or "none"
        rule = (
            "a store may only link files in the directory holding it"
            if kind == "link"
            else "a JSON read from a URL may not name local files, a local JSON only files "
            "under its own directory"
        )
        raise UntrustedReferenceError(
            f"{what} points at the local file {target!r} (resolved: {real!r}), outside the "
            f"allowed local roots ({shown}); {rule}. If the {kind} is trusted, allow its "
            f"directory: set the environment variable {ENV_ALLOWED_ROOTS}="
            f"{os.path.dirname(real)} (several directories separated by {os.pathsep!r}), or "
            f"pass AccessPolicy(allow_local=[{os.path.dirname(real)!r}]) (allow_local= of "
            "nwbzarr.virtual.open_virtual_store)"
        )
    try:
        st = os.stat(real)
    except OSError:
        return  # missing: reported when it is read
    with _LOCK:
        _CHECKED[os.path.normpath(path)] = (st.st_dev, st.st_ino, tuple(roots))
        _CHECKED[real] = (st.st_dev, st.st_ino, tuple(roots))


def _fd_realpath(fd: int) -> str | None:
    """The path an open descriptor refers to (Linux ``/proc/self/fd``), if known."""
    try:
        return os.path.realpath(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError:
        return None


def verify_opened(path: str, fd: int) -> os.stat_result:
    """Check a descriptor opened on ``path`` against what the access check saw.

    Parameters
    ----------
    path : str
        The local path as named by the reference (or link).
    fd : int
        Descriptor opened on ``path``.

    Returns
    -------
    os.stat_result
        ``os.fstat(fd)``.

    Raises
    ------
    UntrustedReferenceError
        The descriptor is another file than the one checked and lies outside the allowed
        roots (a symbolic link swapped in after the check).
    SourceChangedError
        The descriptor is another file than the one checked (replaced), or its size is not the
        size the reference JSON recorded.
    """
    st = os.fstat(fd)
    norm = os.path.normpath(path)
    with _LOCK:
        checked = _CHECKED.get(norm)
        expected = _EXPECTED.get(norm)
    if checked is not None and (st.st_dev, st.st_ino) != checked[:2]:
        real = _fd_realpath(fd)
        roots = checked[2]
        if (
            real is None
            or not any(_is_under(real, root) for root in roots)
            or not (stat.S_ISREG(st.st_mode))
        ):
            raise UntrustedReferenceError(
                f"{path}: the file was replaced after its access check by "
                f"{real or 'another file'!r}, outside the allowed local roots "
                f"({', '.join(roots) or 'none'}); refusing to read it"
            )
        raise SourceChangedError(
            f"{path}: the file was replaced after its reference JSON was opened; re-open "
            "the JSON (re-index the source with `nwbzarr index` if its contents changed)"
        )
    if expected is not None and expected.size is not None and st.st_size != expected.size:
        raise _changed(path, expected, f"{st.st_size} bytes")
    return st


def _changed(source: str, expected: SourceRecord, now: str) -> SourceChangedError:
    by = f" by {expected.json}" if expected.json else ""
    return SourceChangedError(
        f"{source}: the source now has {now}, the reference JSON recorded{by} "
        f"{expected.size} bytes; its byte ranges cannot be trusted. Re-index the source "
        "(nwbzarr index SOURCE OUT.json) and open the new JSON"
    )


def expect_source(source: str, record: SourceRecord) -> None:
    """Record what a reference JSON says about ``source``; checked before reading from it.

    Local sources are compared by :func:`verify_opened` (``fstat`` of each opened
    descriptor), remote ones by :func:`check_remote_source` (from the first answer).

    Parameters
    ----------
    source : str
        Absolute path or URL, as the byte ranges name it.
    record : SourceRecord
        Its recorded size (and ETag, mtime).
    """
    scheme, path = split_scheme(source)
    key = os.path.normpath(path) if scheme is None else source
    with _LOCK:
        _EXPECTED[key] = record


def note_remote_source(url: str, size: int | None, etag: str | None = None) -> None:
    """Remember the size (and ETag) a server told for ``url`` (recorded by a later save).

    Parameters
    ----------
    url : str
    size : int or None
    etag : str or None
    """
    if size is None:
        return
    with _LOCK:
        _LEARNED[url] = SourceRecord(size=size, etag=etag)


def learned_source(url: str) -> SourceRecord | None:
    """What a server told about ``url`` in this process (:func:`note_remote_source`), or None.

    Parameters
    ----------
    url : str
    """
    with _LOCK:
        return _LEARNED.get(url)


def expected_source(source: str) -> SourceRecord | None:
    """What a reference JSON recorded about ``source`` (a URL or path), or None.

    Parameters
    ----------
    source : str
    """
    scheme, path = split_scheme(source)
    with _LOCK:
        return _EXPECTED.get(os.path.normpath(path) if scheme is None else source)


def check_remote_source(url: str, size: int | None, etag: str | None = None) -> None:
    """Compare what a server says about ``url`` with the record of its reference JSON.

    Parameters
    ----------
    url : str
    size : int or None
        File size from ``Content-Range`` (or a whole 200 body), if known.
    etag : str or None
        The ``ETag`` header, if sent.

    Raises
    ------
    SourceChangedError
        If the size (or ETag, when both are known) differs from the record.
    """
    expected = expected_source(url)
    if expected is None:
        return
    if size is not None and expected.size is not None and size != expected.size:
        raise _changed(url, expected, f"{size} bytes")
    if etag and expected.etag and etag.strip('"') != expected.etag.strip('"'):
        raise SourceChangedError(
            f"{url}: the source now has ETag {etag}, the reference JSON recorded "
            f"{expected.etag}; its byte ranges cannot be trusted. Re-index the source "
            "(nwbzarr index SOURCE OUT.json) and open the new JSON"
        )


# -- pickling: what this process learned about a store's sources -------------------------------
@dataclass(frozen=True)
class TrustRecords:
    """What the access checks of this process know about some sources, for a pickled store.

    The records above (checked file identities, recorded source sizes, trusted origins) live
    in the process that opened a reference JSON; a store unpickled in another process (a dask
    worker) brings them along so that its reads are checked as they are here.

    Parameters
    ----------
    host : str
        The machine the identities were taken on (host name and boot id).
    checked : tuple of (str, int, int, tuple of str)
        ``(path, st_dev, st_ino, allowed roots)`` of each local source that passed the check.
    expected : tuple of (str, SourceRecord)
        What the reference JSON recorded about each source (size, ETag).
    origins : tuple of (str, int or None)
        Origins among the sources (and the JSON's own) that the user opened in this process.
    """

    host: str
    checked: tuple[tuple[str, int, int, tuple[str, ...]], ...] = ()
    expected: tuple[tuple[str, SourceRecord], ...] = ()
    origins: tuple[tuple[str, int | None], ...] = ()


def _host_id() -> str:
    """This machine: host name plus the kernel's boot id (file identities hold per boot)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"


def export_trust(sources: Iterable[str], location: str | None = None) -> TrustRecords:
    """The records of this process about ``sources``, to be pickled with a store.

    Parameters
    ----------
    sources : iterable of str
        Absolute paths or URLs the store's byte ranges name.
    location : str, optional
        Where the reference JSON was read from (its origin, if trusted, is carried too).

    Returns
    -------
    TrustRecords
    """
    checked: list[tuple[str, int, int, tuple[str, ...]]] = []
    expected: list[tuple[str, SourceRecord]] = []
    origins: set[tuple[str, int | None]] = set()
    with _LOCK:
        for source in dict.fromkeys([*sources, *([location] if location else [])]):
            scheme, path = split_scheme(source)
            key = os.path.normpath(path) if scheme is None else source
            found = _CHECKED.get(key) if scheme is None else None
            if found is not None:
                checked.append((key, found[0], found[1], found[2]))
            record = _EXPECTED.get(key)
            if record is not None:
                expected.append((key, record))
            origin = origin_of(source) if scheme is not None else None
            if origin is not None and origin in _TRUSTED_ORIGINS:
                origins.add(origin)
    return TrustRecords(_host_id(), tuple(checked), tuple(expected), tuple(sorted(origins)))


def restore_trust(records: TrustRecords) -> None:
    """Make the records of a pickled store known to this process (called on unpickling).

    Records this process already holds are kept. On the machine the records were taken on,
    file identities are restored as they were checked (a file replaced since is refused when it
    is read); on another machine (identities differ there) each local source is checked again
    against the allowed roots recorded with it, and its identity taken now.

    Parameters
    ----------
    records : TrustRecords
        What :func:`export_trust` returned in the pickling process.

    Raises
    ------
    UntrustedReferenceError
        On another machine, a local source that now lies outside its allowed roots.
    """
    same_host = records.host == _host_id()
    with _LOCK:
        for key, record in records.expected:
            _EXPECTED.setdefault(key, record)
        _TRUSTED_ORIGINS.update(records.origins)
        if same_host:
            for key, dev, ino, roots in records.checked:
                _CHECKED.setdefault(key, (dev, ino, roots))
            return
        missing = [(key, roots) for key, _, _, roots in records.checked if key not in _CHECKED]
    for key, roots in missing:
        _check_local(
            f"{key} (a byte-range source of an unpickled store)", key, key, list(roots), "reference"
        )


# -- URLs: server-side request forgery ---------------------------------------------------------
def origin_of(url: str | None) -> tuple[str, int | None] | None:
    """``(host, port)`` of an ``http(s)`` URL (default ports filled in), else None.

    Parameters
    ----------
    url : str or None
    """
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    if port is None:
        port = 443 if scheme == "https" else 80
    return parts.hostname.lower().strip("[]"), port


def trust_origin(url: str) -> None:
    """Mark the origin of a URL the user opened directly as trusted for this process.

    URLs found inside files (reference-JSON targets, links, redirects) may then name that host
    and port even when it is a private or loopback address: the user chose it.

    Parameters
    ----------
    url : str
    """
    origin = origin_of(url)
    if origin is not None:
        with _LOCK:
            _TRUSTED_ORIGINS.add(origin)


def _blocked_kind(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None:
        addr = mapped
    for kind in ("loopback", "link_local", "unspecified", "private", "reserved", "multicast"):
        if getattr(addr, f"is_{kind}", False):
            return kind.replace("_", "-")
    return None


def check_url_host(
    url: str,
    *,
    what: str,
    trusted: Iterable[tuple[str, int | None] | None] = (),
    allow: bool | None = None,
) -> None:
    """Refuse an ``http(s)`` URL found inside a file that names a non-public address.

    The host is resolved with :func:`socket.getaddrinfo` (nothing is connected to) and every
    address checked with :mod:`ipaddress`: loopback, link-local, private, unspecified,
    reserved and multicast addresses are refused. Other schemes pass (their endpoint comes
    from the caller's ``storage_options``). A name that does not resolve passes: no
    connection to it can be made.

    Parameters
    ----------
    url : str
        The URL.
    what : str
        Where the URL was found (``"x.json: reference 'a/0'"``), for the message.
    trusted : iterable of (str, int), optional
        Origins allowed whatever their address (the origin of the file the URL was found in);
        origins passed to :func:`trust_origin` are always trusted.
    allow : bool, optional
        Allow every private address; None: :attr:`nwbzarr.limits.Limits.allow_private_hosts`.

    Raises
    ------
    UntrustedReferenceError
        If the URL names a non-public address (message names the URL, the address and how to
        allow it).
    """
    origin = origin_of(url)
    if origin is None:
        return
    if allow is None:
        allow = limits.current().allow_private_hosts
    if allow:
        return
    with _LOCK:
        if origin in _TRUSTED_ORIGINS:
            return
    if origin in set(trusted):
        return
    host, port = origin
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return
        addresses = []
        for info in infos:
            try:
                addresses.append(ipaddress.ip_address(info[4][0].split("%")[0]))
            except ValueError:
                continue
    for addr in addresses:
        kind = _blocked_kind(addr)
        if kind is not None:
            raise UntrustedReferenceError(
                f"{what} points at {url!r}, whose host {host!r} is the {kind} address {addr}; "
                "a URL found inside a file may not reach loopback, link-local or private "
                "addresses of another host than the file's own (server-side request "
                "forgery). If the file is trusted, allow it with "
                "NWBZARR_ALLOW_PRIVATE_HOSTS=1 or AccessPolicy(allow_private_hosts=True)"
            )


def _is_under(path: str, root: str) -> bool:
    """True if the resolved ``path`` is ``root`` or inside it."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives (Windows)
        return False
