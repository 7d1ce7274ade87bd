"""Publishing a reference JSON and the local files it names to object storage.

A reference JSON written on one machine names local files: staged chunk blobs
(``session.nwb.staging/<sha256>``) and often the original ``.nwb`` it indexes. To share it,
:func:`upload_references` copies every such file once, whole, to a destination prefix as a
content-addressed object, and writes a new JSON there whose byte ranges name those objects
(docs/storage.md section 16)::

    <to>/objects/<sha256 hex of the file's bytes>    one per distinct local file
    <to>/<name>                                      the JSON, written last

Offsets and lengths are kept; only the location of each local source changes (to an absolute
URL). Remote sources and inline values are left as they are. An upload that stops part way
(error, Ctrl-C, killed process) leaves the destination's JSON as it was; running it again
skips the objects already there (same name and size: same content) and finishes.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import UploadError
from ..formats.kerchunk.references import load_references, save_references
from ..storage.manifest import ByteRange, ReferenceSet
from ..storage.policy import AccessPolicy, split_scheme
from ..storage.resolve import http_status

__all__ = ["UploadReport", "upload_references"]

BLOCK_SIZE = 4 * 2**20
"""Bytes read at a time when hashing a local file (memory stays bounded for any file size)."""

OBJECTS_DIR = "objects"
"""Folder under the destination prefix that holds the content-addressed objects."""

S3_PART_SIZE = 16 * 2**20
"""Part size (bytes) of s3fs multipart uploads; s3fs holds each part in memory, and sends a
file of less than two parts in one request (read whole), so this bounds memory per object."""

S3_PARTS_IN_FLIGHT = 4
"""Parts of one object s3fs sends at the same time (memory: this times :data:`S3_PART_SIZE`
per object being uploaded)."""

_PACKAGES = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs"}
_T = TypeVar("_T")


@dataclass
class UploadReport:
    """What :func:`upload_references` did.

    Attributes
    ----------
    url : str
        URL of the published reference JSON.
    uploaded : int
        Objects written by this call.
    skipped : int
        Objects already at the destination with the same name and size (not sent again).
    bytes_uploaded : int
        Bytes sent in those objects (the JSON not counted).
    bytes_skipped : int
        Bytes of the skipped objects.
    objects : dict of str to str
        Every local file the JSON names (absolute path) -> the URL of its object.
    """

    url: str
    uploaded: int = 0
    skipped: int = 0
    bytes_uploaded: int = 0
    bytes_skipped: int = 0
    objects: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _LocalFile:
    path: str
    key: str  # a reference naming it (for messages)
    size: int  # bytes
    mtime_ns: int
    sha256: str = ""


def upload_references(
    refs_path: str | os.PathLike[str],
    to: str,
    *,
    storage_options: dict[str, Any] | None = None,
    name: str | None = None,
    progress: bool = True,
    max_concurrency: int = 8,
    policy: AccessPolicy | None = None,
) -> UploadReport:
    """Publish a reference JSON: upload the local files it names, then the JSON itself.

    Every local file named by a byte range (staged chunk blobs, a local original ``.nwb``) is
    hashed (SHA-256, streamed in blocks of :data:`BLOCK_SIZE` bytes) and uploaded whole as
    ``{to}/objects/{hex digest}``, unless an object of that name and size is already there.
    The JSON is then rewritten with those objects' absolute URLs in place of the local paths
    (offsets and lengths unchanged; remote references and inline values as they were) and
    uploaded last, in one write of a complete file, to ``{to}/{name}``: a reader sees the
    previous JSON or the complete new one, never one naming a missing object.

    Parameters
    ----------
    refs_path : str or os.PathLike
        The reference JSON to publish (any layout
        :func:`~nwbzarr.formats.kerchunk.references.load_references` reads; written back in
        the nwbzarr layout).
    to : str
        Destination prefix, an fsspec URL: ``s3://bucket/prefix`` (needs ``s3fs``),
        ``gs://...``, ``file:///dir`` or a local directory, ``memory://...``.
    storage_options : dict, optional
        fsspec options of the destination, e.g. ``{"endpoint_url": "http://127.0.0.1:9000"}``
        or ``{"key": ..., "secret": ...}`` for S3-compatible storage; by default s3fs finds
        credentials as boto does (environment, ``~/.aws``).
    name : str, optional
        Name of the published JSON under ``to``; default the base name of ``refs_path``.
    progress : bool
        Show tqdm progress bars (bytes hashed, bytes uploaded) on stderr.
    max_concurrency : int
        Files hashed and objects uploaded at the same time (threads); values below 1 count
        as 1.
    policy : AccessPolicy, optional
        What the JSON may reference (applied when it is loaded); default ``AccessPolicy()``.

    Returns
    -------
    UploadReport
        The published JSON's URL, objects uploaded and skipped (counts and bytes), and the
        object URL of each local file.

    Raises
    ------
    StoreNotFoundError
        ``refs_path`` does not exist.
    ReferenceFileError, UntrustedReferenceError
        ``refs_path`` is not a valid reference JSON or names files its policy refuses.
    UploadError
        A local file the JSON names is missing, shorter than its references or changed while
        being uploaded; the destination's fsspec implementation is not installed; the
        destination is unreachable, missing (no bucket) or refused a write. The JSON at the
        destination is then unchanged; objects already uploaded stay (a rerun skips them).
    """
    refset = load_references(refs_path, policy=policy)
    base = to.rstrip("/") if "://" in to else os.path.abspath(to)  # URLs in the JSON: absolute
    json_name = name or posixpath.basename(str(refset.location).rstrip("/"))
    json_url = f"{base}/{json_name}"
    objects_url = f"{base}/{OBJECTS_DIR}"
    fs = _destination(base, storage_options)
    workers = max(1, int(max_concurrency))
    report = UploadReport(url=json_url)

    files = _local_files(refset, str(refset.location))
    with _bar(sum(f.size for f in files), "hashing", progress) as bar:
        files = _run_all(workers, files, lambda f: _hashed(f, bar))
    to_send = _missing_objects(fs, objects_url, files, report)
    _send_objects(fs, objects_url, to_send, workers, progress, report)
    report.objects = {f.path: f"{objects_url}/{f.sha256}" for f in files}
    _publish_json(fs, refset, json_name, json_url, report.objects)
    return report


def _missing_objects(
    fs: Any, objects_url: str, files: list[_LocalFile], report: UploadReport
) -> list[_LocalFile]:
    """The hashed ``files`` whose object is not at the destination yet (identical files once);
    those already there (same name and size) are counted in ``report`` as skipped."""
    present = _listing(fs, objects_url)
    unique = {f.sha256: f for f in files}  # identical files: one object
    to_send = []
    for digest, f in unique.items():
        if present.get(digest) == f.size:
            report.skipped += 1
            report.bytes_skipped += f.size
        else:
            to_send.append(f)
    return to_send


def _send_objects(
    fs: Any,
    objects_url: str,
    to_send: list[_LocalFile],
    workers: int,
    progress: bool,
    report: UploadReport,
) -> None:
    """Upload ``to_send`` as ``{objects_url}/{sha256}`` on ``workers`` threads; count them."""
    with _bar(sum(f.size for f in to_send), "uploading", progress) as bar:
        _run_all(workers, to_send, lambda f: _upload(fs, f, f"{objects_url}/{f.sha256}", bar))
    report.uploaded = len(to_send)
    report.bytes_uploaded = sum(f.size for f in to_send)


def _publish_json(
    fs: Any, refset: ReferenceSet, json_name: str, json_url: str, objects: dict[str, str]
) -> None:
    """Write ``refset`` with its local sources replaced by ``objects`` and publish it last."""
    with tempfile.TemporaryDirectory(prefix="nwbzarr-publish-") as tmp:
        local_json = os.path.join(tmp, posixpath.basename(json_name) or "refs.json")
        save_references(refset, local_json, url=objects)
        _publish_file(fs, local_json, json_url)


# ----------------------------------------------------------------------------- local files


def _local_files(refset: ReferenceSet, where: str) -> list[_LocalFile]:
    """The local sources of ``refset``, checked to exist and to hold every byte referenced."""
    needed: dict[str, tuple[int, str]] = {}
    for key, value in refset.refs.items():
        if isinstance(value, ByteRange) and split_scheme(value.url)[0] is None:
            end = value.offset + max(value.length, 0)
            previous = needed.get(value.url)
            if previous is None:
                needed[value.url] = (end, key)
            elif end > previous[0]:
                needed[value.url] = (end, previous[1])
    files = []
    for path, (end, key) in needed.items():
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            raise UploadError(
                f"{path}: this local file, named by {where} (key {key!r}), does not exist; "
                "restore it (a staging directory must stay next to its JSON) or write the "
                "JSON again"
            ) from None
        if stat.st_size < end:
            raise UploadError(
                f"{path}: {stat.st_size} bytes, but {where} references bytes up to {end}; the "
                "file changed after the JSON was written: write the JSON again"
            )
        files.append(_LocalFile(path, key, stat.st_size, stat.st_mtime_ns))
    return files


def _hashed(f: _LocalFile, bar: Any) -> _LocalFile:
    """``f`` with its SHA-256 hex digest, read in blocks; the size must not change meanwhile."""
    digest = hashlib.sha256()
    read = 0
    buffer = bytearray(min(BLOCK_SIZE, max(f.size, 1)))
    view = memoryview(buffer)
    with open(f.path, "rb") as stream:
        while n := stream.readinto(buffer):
            digest.update(view[:n])
            read += n
            bar.update(n)
    _check_unchanged(f, read)
    return _LocalFile(f.path, f.key, f.size, f.mtime_ns, digest.hexdigest())


def _check_unchanged(f: _LocalFile, read: int | None = None) -> None:
    stat = os.stat(f.path)
    if (read is not None and read != f.size) or (stat.st_size, stat.st_mtime_ns) != (
        f.size,
        f.mtime_ns,
    ):
        raise UploadError(
            f"{f.path}: the file changed while it was being published ({f.size} -> "
            f"{stat.st_size} bytes); publish again once nothing writes to it"
        )


# ----------------------------------------------------------------------------- destination


def _destination(base: str, storage_options: dict[str, Any] | None) -> Any:
    """The fsspec filesystem of ``base`` (a new instance: no stale listing cache)."""
    from fsspec.core import url_to_fs

    try:
        fs, _ = url_to_fs(base, skip_instance_cache=True, **(storage_options or {}))
    except ImportError as exc:
        scheme = split_scheme(base)[0] or "file"
        package = _PACKAGES.get(scheme, f"the fsspec implementation of {scheme}://")
        extra = " (or pip install 'nwbzarr[s3]')" if package == "s3fs" else ""
        raise UploadError(
            f"{base}: uploading to {scheme}:// needs {package}: pip install {package}{extra}"
        ) from exc
    return fs


def _listing(fs: Any, objects_url: str) -> dict[str, int]:
    """Objects already under ``objects_url``: name -> size (bytes); one listing request."""
    try:
        entries = fs.ls(objects_url, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise _destination_error(objects_url, "listing", exc) from exc
    return {posixpath.basename(e["name"].rstrip("/")): int(e.get("size") or 0) for e in entries}


def _upload(fs: Any, f: _LocalFile, url: str, bar: Any) -> None:
    """Put ``f`` at ``url``; if the file changed meanwhile, remove the object and raise."""
    callback = _BarCallback(bar)
    _publish_file(fs, f.path, url, callback.fsspec)
    callback.finish(f.size)
    try:
        _check_unchanged(f)
    except UploadError:
        fs.rm_file(url)  # its bytes may not match its name
        raise


def _put(fs: Any, local: str, url: str, callback: Any = None) -> None:
    """One whole-file write of ``local`` to ``url`` (errors translated)."""
    options: dict[str, Any] = {} if callback is None else {"callback": callback}
    if "s3" in _protocols(fs):
        options.update(chunksize=S3_PART_SIZE, max_concurrency=S3_PARTS_IN_FLIGHT)
    try:
        fs.put_file(local, url, **options)
    except Exception as exc:
        raise _destination_error(url, "writing", exc) from exc


def _publish_file(fs: Any, local: str, url: str, callback: Any = None) -> None:
    """Write ``local`` to ``url`` so that readers see the old file or the complete new one."""
    if "file" not in _protocols(fs):
        _put(fs, local, url, callback)  # an object store PUT is atomic
        return
    directory, leaf = posixpath.split(fs._strip_protocol(url))
    fs.makedirs(directory, exist_ok=True)
    partial = posixpath.join(directory, f".{leaf}.{uuid.uuid4().hex}.tmp")
    try:
        _put(fs, local, partial, callback)
        fs.mv(partial, url)  # a rename on local disks
    except BaseException:
        if fs.exists(partial):
            fs.rm_file(partial)
        raise


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def _destination_error(url: str, action: str, exc: BaseException) -> UploadError:
    """A destination failure as an :class:`UploadError` naming the URL and the likely fix."""
    status = http_status(exc)
    denied = status in (401, 403) or isinstance(exc, PermissionError)
    if denied or "Credentials" in type(exc).__name__:  # botocore's NoCredentialsError & co.
        fix = (
            "the destination refused it or no credentials were found; check the credentials "
            "(AWS_ACCESS_KEY_ID / AWS_PROFILE, or storage_options={'key': ..., 'secret': ...}) "
            "and the bucket policy"
        )
    elif isinstance(exc, FileNotFoundError):
        fix = "the bucket or folder does not exist; create it first"
    else:
        fix = (
            "check that the destination is reachable (endpoint_url in storage_options, "
            "--endpoint-url) and try again; objects already uploaded will be skipped"
        )
    return UploadError(f"{url}: {action} failed ({type(exc).__name__}: {exc}); {fix}")


# ----------------------------------------------------------------------------- threads, progress


def _run_all(workers: int, items: Iterable[_T], fn: Callable[[_T], Any]) -> list[Any]:
    """``[fn(x) for x in items]`` on ``workers`` threads; the first error cancels the rest."""
    items = list(items)
    if workers == 1 or len(items) <= 1:
        return [fn(x) for x in items]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nwbzarr-upload")
    try:
        futures = [pool.submit(fn, x) for x in items]
        results = [future.result() for future in futures]
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # puts in flight end; nothing new starts
        raise
    pool.shutdown(wait=True)
    return results


def _bar(total: int, desc: str, progress: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        disable=not progress,
        leave=False,
    )


class _BarCallback:
    """fsspec transfer callback feeding a shared tqdm bar (thread-safe, bytes)."""

    _lock = threading.Lock()

    def __init__(self, bar: Any) -> None:
        from fsspec.callbacks import Callback

        class _Cb(Callback):
            def call(cb_self, *args: Any, **kwargs: Any) -> None:  # noqa: N805
                self._advance(cb_self.value)

        self.bar = bar
        self.shown = 0
        self.fsspec = _Cb()

    def _advance(self, value: int) -> None:
        with self._lock:
            if value > self.shown:
                self.bar.update(value - self.shown)
                self.shown = value

    def finish(self, size: int) -> None:
        """Count the rest of ``size`` bytes (for filesystems that report no progress)."""
        self._advance(size)
