"""Command line: ``nwbzarr convert``, ``nwbzarr info``, ``nwbzarr index`` and ``nwbzarr upload``
(argument parsing and error reporting only).

Every command runs inside :func:`_command_errors`: any exception becomes exactly one
``Error: ...`` line on stderr naming the file and the fix (exit code 1; 130 for Ctrl-C), and
``nwbzarr --debug COMMAND`` shows the traceback instead. click's own usage errors are left
as click prints them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import traceback
from collections.abc import Iterator
from typing import NoReturn

import click

from .conventions.layout import CODEC_NAMES, DEFAULT_CODEC
from .errors import NWBZarrError, StoreExistsError

#: Exit status of a command interrupted by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130

_header_option = click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="HTTP header sent with every request to an http(s):// source (repeatable).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nwbzarr")
@click.option(
    "--debug", is_flag=True, help="Show the Python traceback of an error instead of one line."
)
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """nwbzarr: NWB files as Zarr v3 stores."""
    ctx.ensure_object(dict)["debug"] = debug


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _role(filename: object, src: str | None, dst: str | None) -> str | None:
    """Which of ``src``/``dst`` an OS error's file name belongs to ("source"/"destination")."""
    if not filename:
        return None
    name = os.path.realpath(os.fsdecode(filename))
    pairs = (("source", src), ("destination", dst))
    local = [(r, os.path.realpath(p)) for r, p in pairs if p is not None and "://" not in p]
    for role, real in local:
        if name == real or name.startswith(real + os.sep):
            return role
    for role, real in local:  # a temporary sibling, or a parent directory being created
        sibling = os.path.join(os.path.dirname(real), f".{os.path.basename(real)}.nwbzarr-")
        if role == "destination" and (
            os.path.dirname(name) == os.path.dirname(real)
            or real.startswith(name + os.sep)
            or name.startswith(sibling)
        ):
            return role
    return None


def _kept(dst: str | None) -> str:
    """``"; DST was left as it was"`` (or ``was not created``) for a local destination."""
    if not dst or "://" in dst:
        return ""
    kept = "was left as it was" if os.path.lexists(dst) else "was not created"
    return f"; {dst} {kept}"


def describe_error(exc: BaseException, src: str | None = None, dst: str | None = None) -> str:
    """One line saying what failed, on which file, and what to do about it.

    Parameters
    ----------
    exc : BaseException
        The error a command raised.
    src : str, optional
        The file or URL the command reads.
    dst : str, optional
        The file or directory the command writes (said to be left unchanged where the API
        guarantees it).

    Returns
    -------
    str
        The message, without the ``Error:`` prefix and without line breaks.
    """
    unchanged = _kept(dst)
    if isinstance(exc, NWBZarrError):
        text = str(exc)
        if isinstance(exc, StoreExistsError) or "nothing was" in text or "as it was" in text:
            return _one_line(text)
        return _one_line(f"{text}{unchanged}")
    if isinstance(exc, OSError):
        role = _role(exc.filename, src, dst)
        where = (dst if role == "destination" else exc.filename or src) or "the file"
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            target = dst or where
            return _one_line(
                f"{target}: no space left on the device (or quota exceeded) while writing; free "
                f"some space or choose a destination on another disk{unchanged}"
            )
        if isinstance(exc, PermissionError) or exc.errno in (errno.EROFS, errno.EPERM):
            if role == "source" or (role is None and dst is None):
                return _one_line(
                    f"{where}: permission denied ({reason}); check that you may read it"
                )
            folder = os.path.dirname(os.path.abspath(dst or where))
            if exc.filename and folder.startswith(os.path.abspath(os.fsdecode(exc.filename))):
                folder = os.path.abspath(os.fsdecode(exc.filename))  # an ancestor is denied
            return _one_line(
                f"{dst or where}: cannot write there ({reason}); choose a destination in a "
                f"directory you may write to (not {folder}){unchanged}"
            )
        if isinstance(exc, FileNotFoundError):
            return _one_line(f"{where}: no such file or directory; check the path")
        if exc.errno is None or role == "source":  # h5py / HDF5 library errors
            return _one_line(
                f"{where}: cannot be read ({exc}); the file may be truncated or "
                f"corrupt (a checksum or filter failed): copy or download it again{unchanged}"
            )
        if role is None and src and dst:
            where = f"{src} -> {dst}"  # the error does not say which file
        return _one_line(f"{where}: {reason}{unchanged}")
    what = f"{src}" if src else "the command"
    return _one_line(
        f"{what}: unexpected {type(exc).__name__}: {exc}{unchanged}. Rerun with "
        "'nwbzarr --debug ...' for the traceback and report it"
    )


@contextlib.contextmanager
def _command_errors(
    src: str | None = None, dst: str | None = None, interrupted: str = ""
) -> Iterator[None]:
    """Turn any exception of a command into one ``Error:`` line (or, with ``--debug``, its
    traceback); Ctrl-C exits with :data:`EXIT_INTERRUPTED`.

    Parameters
    ----------
    src, dst : str, optional
        Paths named in the messages (see :func:`describe_error`).
    interrupted : str
        What the Ctrl-C message adds after saying whether ``dst`` was left unchanged.

    Raises
    ------
    click.ClickException
        For every error other than click's own (those pass through unchanged).
    click.exceptions.Exit
        With :data:`EXIT_INTERRUPTED` on ``KeyboardInterrupt``.
    """
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    debug = bool(root is not None and isinstance(root.obj, dict) and root.obj.get("debug"))
    try:
        yield
    except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except Exception as exc:
        if not _caused_by_interrupt(exc):
            if debug:
                raise
            raise click.ClickException(describe_error(exc, src, dst)) from exc
        _report_interrupt(exc, debug, dst, interrupted)
    except KeyboardInterrupt as exc:
        _report_interrupt(exc, debug, dst, interrupted)


def _caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a ``KeyboardInterrupt`` is in ``exc``'s cause/context chain.

    Ctrl-C raised inside a C extension's callback surfaces as another exception with the
    interrupt as its cause (CPython: ``SystemError: <cyfunction FastRLock.__exit__> returned a
    result with an exception set`` from h5py's lock), or as an error raised while cleaning up
    after it; both are the user's interrupt, not a bug to report.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            return True
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return False


def _report_interrupt(
    exc: BaseException, debug: bool, dst: str | None, interrupted: str
) -> NoReturn:
    """Print the one-line interrupt message and exit with :data:`EXIT_INTERRUPTED`."""
    if debug:
        traceback.print_exception(exc)
    click.echo(_one_line(f"Error: interrupted{_kept(dst)}{interrupted}"), err=True)
    raise click.exceptions.Exit(EXIT_INTERRUPTED) from exc


@main.command()
@click.argument("src")
@click.argument("dst", type=click.Path())
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace DST if it exists and is an NWB file or store (only once the new one is "
    "complete).",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --overwrite, replace DST even if it is not an NWB file or store (its content "
    "is deleted).",
)
@click.option(
    "--rechunk",
    is_flag=True,
    help="Re-chunk and re-compress every array with the policy (--chunk-mb, --codec) instead "
    "of keeping the source's chunk shape and compression.",
)
@click.option(
    "--chunk-mb",
    type=float,
    default=None,
    help="Target chunk size in MiB (default 4) for arrays the policy chunks: all with "
    "--rechunk, else only contiguous/text sources.",
)
@click.option(
    "--shard-mb",
    type=float,
    default=None,
    help="Target shard size in MiB (default 96, which bounds memory; 0 = no shards); shards "
    "group the kept source chunks too.",
)
@click.option(
    "--codec",
    type=click.Choice(CODEC_NAMES),
    default=DEFAULT_CODEC,
    show_default=True,
    help="Compressor for numeric arrays the policy chunks (see --chunk-mb).",
)
@click.option(
    "--dask-scheduler",
    metavar="ADDRESS",
    default=None,
    help="Copy array data as tasks on this dask.distributed scheduler (tcp://host:port); "
    "workers must see SRC and DST at the same paths. Needs nwbzarr[dask].",
)
@_header_option
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no final message.")
def convert(
    src: str,
    dst: str,
    overwrite: bool,
    force: bool,
    rechunk: bool,
    chunk_mb: float | None,
    shard_mb: float | None,
    codec: str,
    dask_scheduler: str | None,
    headers: tuple[str, ...],
    quiet: bool,
) -> None:
    """Convert SRC to DST: a Zarr store, or an HDF5 file when DST ends in .nwb (.h5, .hdf5).

    SRC may be a URL (https://, s3://): a remote HDF5 file is converted in one pass through
    range requests. A reference JSON (ours, LINDI, kerchunk) is materialized into a
    self-contained store (or HDF5 file).

    A legacy hdmf-zarr (Zarr v2) SRC is migrated to a Zarr v3 store (or to HDF5).

    By default each chunked numeric array keeps its source chunk shape, compression (HDF5
    filters mapped to Zarr v3 codecs) and fill value, grouped into shards; --rechunk applies
    the chunk/codec policy instead. Arrays whose HDF5 filters have no Zarr v3 codec (lzf,
    szip, ...) keep their chunks and are re-compressed with the default codec (a warning says so).

    DST is written under a temporary name next to it and moved into place when complete: a
    failed or interrupted conversion leaves DST as it was. DST may not be SRC, lie inside it
    or contain it; --overwrite replaces only an NWB file or store unless --force is given.
    """
    from .convert import convert as run

    with _command_errors(src, dst):
        out = run(
            src,
            dst,
            overwrite=overwrite,
            force=force,
            chunk_mb=chunk_mb,
            shard_mb=shard_mb,
            codec=codec,
            progress=not quiet,
            keep_storage=not rechunk,
            dask_scheduler=dask_scheduler,
            storage_options=_headers_option(headers),
        )
    if not quiet:
        click.echo(f"wrote {out}")


@main.command()
@click.argument("path")
@click.option("--depth", type=int, default=None, help="Show nodes down to this depth only.")
@_header_option
def info(path: str, depth: int | None, headers: tuple[str, ...]) -> None:
    """Show the tree of PATH: types, shapes, chunks, shards, codecs, bytes.

    PATH is what read_nwb opens: a Zarr store (local directory or URL: https://, s3://,
    gs://, ...), an HDF5 .nwb file or a reference JSON (ours, LINDI, kerchunk), local or
    remote; HDF5 files and JSON are shown through their virtual Zarr view (stored bytes are
    the chunk byte ranges). Over plain HTTP a store's file count and stored bytes are unknown
    (HTTP cannot list directories).
    """
    from .summary import summarize
    from .summary_text import format_summary

    storage_options = _headers_option(headers)
    with _command_errors(path):
        summary = summarize(path, storage_options=storage_options)
    click.echo(format_summary(summary, max_depth=depth))


def _headers_option(headers: tuple[str, ...]) -> dict | None:
    """``storage_options`` carrying ``--header 'NAME: VALUE'`` values (None if none given)."""
    if not headers:
        return None
    parsed = {}
    for header in headers:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            raise click.BadParameter(f"{header!r} is not 'NAME: VALUE'", param_hint="--header")
        parsed[name.strip()] = value.strip()
    return {"headers": parsed}


@main.command()
@click.argument("src")
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False),
    required=True,
    help="Reference JSON to write (e.g. session.nwb.json).",
)
@click.option(
    "--url",
    default=None,
    help="URL to record for SRC's bytes (index a local copy of a remote file).",
)
@click.option(
    "--max-chunk-mb",
    type=float,
    default=None,
    help="Split contiguous datasets into pieces of at most this many MiB (default 4).",
)
@_header_option
@click.option("-q", "--quiet", is_flag=True, help="No final message.")
def index(
    src: str,
    out: str,
    url: str | None,
    max_chunk_mb: float | None,
    headers: tuple[str, ...],
    quiet: bool,
) -> None:
    """Index the HDF5 file SRC (path or URL) into a reference JSON; no data are copied.

    The JSON holds the Zarr v3 metadata of every group and array (unified convention), small
    values inline, and [url, offset, length] for every chunk; `nwbzarr.read_nwb(OUT)` opens it
    in one request.
    """
    from .virtual.sources import index_to_json

    with _command_errors(src, out):
        summary = index_to_json(
            src,
            out,
            url=url,
            max_chunk_bytes=None if max_chunk_mb is None else int(max_chunk_mb * 2**20),
            storage_options=_headers_option(headers),
        )
    if not quiet:
        click.echo(
            f"wrote {out}: {summary['arrays']} arrays, {summary['chunk_refs']} chunk references, "
            f"{summary['inline_bytes']} bytes inline"
        )


@main.command()
@click.argument("refs", type=click.Path(dir_okay=False))
@click.option(
    "--to",
    "to",
    required=True,
    metavar="URL",
    help="Destination prefix (s3://bucket/prefix; any fsspec URL).",
)
@click.option(
    "--endpoint-url",
    default=None,
    metavar="URL",
    help="Endpoint of S3-compatible storage (MinIO, Ceph, ...); default AWS.",
)
@click.option("--name", default=None, help="Name of the published JSON (default: REFS's).")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars and no final message.")
def upload(refs: str, to: str, endpoint_url: str | None, name: str | None, quiet: bool) -> None:
    """Publish the reference JSON REFS under --to, with every local file it names.

    Each local file (staged chunks, a local .nwb) is uploaded once as
    TO/objects/<sha256 of its bytes>; the JSON, rewritten to name those objects, is uploaded
    last as TO/<name>, so readers never see it point at a missing object. Objects already
    there are skipped: run the same command again to resume an interrupted upload.
    Credentials come from the usual AWS environment variables or ~/.aws files.
    """
    from .virtual.publish import upload_references

    options = {"endpoint_url": endpoint_url} if endpoint_url else None
    interrupted = "; run the same command again to resume the upload"
    with _command_errors(refs, None, interrupted=interrupted):
        report = upload_references(refs, to, storage_options=options, name=name, progress=not quiet)
    if not quiet:
        click.echo(
            f"published {report.url}: uploaded {report.uploaded} objects "
            f"({report.bytes_uploaded} bytes), skipped {report.skipped} already there "
            f"({report.bytes_skipped} bytes)"
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
