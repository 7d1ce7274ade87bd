"""Destination safety for conversion: temporary siblings, atomic install, stale-temp cleanup,
and the checks that refuse to replace what is not an NWB file or store.

A conversion writes into a temporary sibling of the destination (same directory, so the same
filesystem) named ``.<name>.nwbzarr-tmp-<host>-<pid>-<random><suffix>``; only a complete write is
moved into place. Replacing an existing destination swaps the two paths in one system call
(``renameat2(RENAME_EXCHANGE)`` on Linux) and then removes the old copy; where that call is
unavailable the old destination is first renamed aside to ``.<name>.nwbzarr-old-<host>-<pid>-
<random>``, the new one renamed in, and the old one removed (renamed back if the second rename
fails). A process killed at any moment therefore leaves the destination whole: as it was, or,
once the swap happened, the new complete copy (in the fallback's window between its two
renames, the previous content under the ``-old-`` name, which the next conversion of the same
destination renames back). Files are not fsynced: this protects against killed processes, not
against a power loss.

A later conversion of the same destination removes the siblings a killed run left behind: a
sibling is stale only when its name matches the pattern above exactly, names this host, and
its process id is no longer running. Siblings of a live process, of another host, or of any
other name are never touched.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path

from .. import limits
from ..conventions.attributes import WRITE_IN_PROGRESS_ATTR as _WRITE_IN_PROGRESS_ATTR

TMP_MARK = "tmp"
OLD_MARK = "old"

_NWB_ROOT_ATTRS = ("neurodata_type", "nwb_version")

_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _host_tag() -> str:
    """This machine's name reduced to ``[A-Za-z0-9_.]`` (it is part of temporary names)."""
    host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:64]
    return host or "host"


def sibling(dst: Path, mark: str) -> Path:
    """A new temporary name next to ``dst`` owned by this process.

    Parameters
    ----------
    dst : pathlib.Path
        The destination the temporary stands in for.
    mark : {"tmp", "old"}
        ``"tmp"`` for a conversion being written, ``"old"`` for a replaced destination
        waiting to be removed.

    Returns
    -------
    pathlib.Path
        ``<dir>/.<name>.nwbzarr-<mark>-<host>-<pid>-<8 hex digits><suffix of name>`` (does
        not exist yet).
    """
    token = secrets.token_hex(4)
    name = f".{dst.name}.nwbzarr-{mark}-{_host_tag()}-{os.getpid()}-{token}{_suffix(dst)}"
    return dst.with_name(name)


def _suffix(dst: Path) -> str:
    """``dst``'s suffix, kept at the end of temporary names (pynwb warns about an HDF5 file
    whose name does not end in ``.nwb``)."""
    return dst.suffix if re.fullmatch(r"\.[A-Za-z0-9_]{1,16}", dst.suffix) else ""


def _sibling_pattern(dst: Path) -> re.Pattern[str]:
    return re.compile(
        re.escape(f".{dst.name}.nwbzarr-")
        + r"(?P<mark>tmp|old)-(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)-[0-9a-f]{8}"
        + re.escape(_suffix(dst))
    )


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process (another thread may be converting the same destination)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    except OSError:
        return True  # cannot tell: treat as in use
    return True


def remove_path(path: Path) -> None:
    """Remove a file, symlink or directory tree; a missing path is not an error.

    Parameters
    ----------
    path : pathlib.Path
        What to remove (a symlink itself, never its target).

    Raises
    ------
    OSError
        If removal fails.
    """
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def discard(path: Path, attempts: int = 20, pause: float = 0.05) -> bool:
    """Remove a temporary after a failure, never raising (the failure is what matters).

    Writer threads of an interrupted store may still be adding files while the tree is
    removed, so removal is retried a few times.

    Parameters
    ----------
    path : pathlib.Path
        The temporary sibling to remove.
    attempts : int
        How many times to try.
    pause : float
        Seconds between attempts.

    Returns
    -------
    bool
        True if ``path`` is gone; False if it is left (the next conversion of the same
        destination removes it once this process has ended, see :func:`clean_stale_siblings`).
    """
    for attempt in range(attempts):
        try:
            remove_path(path)
        except OSError:
            if attempt + 1 < attempts:
                time.sleep(pause)
            continue
        if not os.path.lexists(path):
            return True
        time.sleep(pause)
    return not os.path.lexists(path)


def clean_stale_siblings(dst: Path) -> list[Path]:
    """Remove the temporary siblings of ``dst`` left by conversions that were killed.

    A sibling is stale when its name matches :func:`sibling`'s pattern for ``dst`` exactly,
    its host part is this machine's, and its process id is not running. A stale ``-old-``
    sibling is renamed back to ``dst`` if ``dst`` is missing (the run was killed between its
    two renames), else removed.

    Parameters
    ----------
    dst : pathlib.Path
        The destination about to be written.

    Returns
    -------
    list of pathlib.Path
        The siblings removed (or, for a restored ``-old-`` one, its former name).
    """
    parent = dst.parent
    if not parent.is_dir():
        return []
    pattern = _sibling_pattern(dst)
    host = _host_tag()
    done = []
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return []
    for name in names:
        match = pattern.fullmatch(name)
        if match is None or match["host"] != host or _pid_running(int(match["pid"])):
            continue
        path = parent / name
        try:
            if match["mark"] == OLD_MARK and not os.path.lexists(dst):
                os.rename(path, dst)
            else:
                remove_path(path)
        except OSError:
            continue  # best effort: a sibling that cannot be removed is left as it is
        done.append(path)
    return done


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False when the system or filesystem lacks it."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError):
        return False
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def install(tmp: Path, dst: Path) -> None:
    """Move the finished ``tmp`` to ``dst``; an existing ``dst`` is removed only afterwards.

    Parameters
    ----------
    tmp : pathlib.Path
        The complete new file or store (a sibling of ``dst``).
    dst : pathlib.Path
        Where it goes. If it exists it is replaced: swapped with ``tmp`` atomically where the
        system allows, else renamed aside, replaced, and renamed back if the replacement
        fails.

    Raises
    ------
    FileExistsError
        If ``dst`` appeared while ``tmp`` was written (only when it did not exist before).
    OSError
        If a rename fails; ``dst`` then still holds what it held before.
    """
    if not os.path.lexists(dst):
        if _renameat2(tmp, dst, _RENAME_NOREPLACE):
            return
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "appeared during the conversion", str(dst))
        os.rename(tmp, dst)
        return
    if _renameat2(tmp, dst, _RENAME_EXCHANGE):
        remove_path(tmp)  # tmp now holds the previous destination
        return
    if tmp.is_file() and (dst.is_symlink() or not dst.is_dir()):
        os.replace(tmp, dst)
        return
    old = sibling(dst, OLD_MARK)
    os.rename(dst, old)
    try:
        os.rename(tmp, dst)
    except BaseException:
        os.rename(old, dst)
        raise
    remove_path(old)


def _attrs_are_nwb(attrs: object) -> bool:
    return isinstance(attrs, dict) and (
        any(key in attrs for key in _NWB_ROOT_ATTRS) or _WRITE_IN_PROGRESS_ATTR in attrs
    )


def _read_json(path: Path) -> object:
    try:  # a root zarr.json holds the consolidated metadata: it may be large
        if path.stat().st_size > limits.current().max_json_bytes:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return None


def hdf5_root_attrs(path: Path) -> set[str]:
    """Names of the root attributes of the HDF5 file ``path``.

    Parameters
    ----------
    path : pathlib.Path
        A local HDF5 file.

    Returns
    -------
    set of str

    Raises
    ------
    OSError
        If h5py cannot open the file (truncated, corrupt, unreadable).
    """
    import h5py

    with h5py.File(path, "r") as f:
        return set(f.attrs.keys())


def zarr_root_attrs(path: Path) -> dict | None:
    """Root attributes of the local Zarr store ``path`` (v3 ``zarr.json`` or v2 ``.zattrs``).

    Parameters
    ----------
    path : pathlib.Path
        A local directory.

    Returns
    -------
    dict or None
        The attributes (empty if unreadable or malformed), or None when ``path`` has no root
        group document (``zarr.json`` that parses, or ``.zgroup``). Documents over
        ``limits.max_json_bytes`` are not read.
    """
    doc = _read_json(path / "zarr.json")
    if isinstance(doc, dict):
        attrs = doc.get("attributes", {})
        return attrs if isinstance(attrs, dict) else {}
    if (path / ".zgroup").is_file():
        attrs = _read_json(path / ".zattrs") if (path / ".zattrs").is_file() else {}
        return attrs if isinstance(attrs, dict) else {}
    return None


def is_nwb_destination(path: Path) -> bool:
    """True if ``path`` holds an NWB file or store that a conversion may replace.

    An HDF5 file whose root has ``neurodata_type`` or ``nwb_version``; a Zarr directory
    (``zarr.json`` or ``.zgroup``) whose root attributes have them, or the in-progress marker
    of an unfinished nwbzarr write. Anything else (a plain directory, a text file, a broken
    symlink, an unreadable file) is not.

    Parameters
    ----------
    path : pathlib.Path
        The existing destination.

    Returns
    -------
    bool
    """
    import h5py

    if path.is_symlink() and not path.exists():
        return False
    if path.is_dir():
        return _attrs_are_nwb(zarr_root_attrs(path))
    try:
        if not h5py.is_hdf5(str(path)):
            return False
        attrs = hdf5_root_attrs(path)
    except OSError:
        return False
    return any(key in attrs for key in _NWB_ROOT_ATTRS)


def overlaps(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` are the same file (real paths or inode) or one lies inside the
    other (real paths).

    Parameters
    ----------
    a, b : pathlib.Path
        Local paths (need not exist).

    Returns
    -------
    bool
    """
    try:
        if os.path.samefile(a, b):  # also hard links of one file
            return True
    except OSError:
        pass
    ra, rb = os.path.realpath(a), os.path.realpath(b)
    try:
        common = os.path.commonpath([ra, rb])
    except ValueError:  # different drives
        return False
    return common in (ra, rb)
