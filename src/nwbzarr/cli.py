"""Command line: ``nwbzarr convert``, ``nwbzarr info``, ``nwbzarr index`` and ``nwbzarr upload``
(argument parsing and error reporting only).

Every command runs inside :func:`_command_errors`: any exception becomes exactly one
``Error: ...`` line on stderr naming the file and the fix (exit code 1; 130 for Ctrl-C), and
``nwbzarr --debug COMMAND`` shows the traceback instead. click's own usage errors are left
as click prints them.
"""

# The nwbzarr (and optional-dependency) imports inside the commands are function-local on
# purpose: ``nwbzarr --help`` must not load zarr, hdmf or pynwb (tests/test_api_surface.py).

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Any, NoReturn

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
    help="Target chunk size in MiB (default 0.25) for arrays the policy chunks: all with "
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
    from .summary import format_summary, summarize

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
    default=None,
    help="Reference JSON to write (e.g. session.nwb.json).",
)
@click.option(
    "--icechunk",
    "repo",
    type=click.Path(file_okay=False),
    default=None,
    metavar="REPO_DIR",
    help="Icechunk repository to write the index into, as one commit (extra 'icechunk').",
)
@click.option(
    "--new-commit",
    is_flag=True,
    help="With --icechunk: add the index as a new commit of an existing repository.",
)
@click.option("-m", "--message", default=None, help="With --icechunk: the commit message.")
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
    out: str | None,
    repo: str | None,
    new_commit: bool,
    message: str | None,
    url: str | None,
    max_chunk_mb: float | None,
    headers: tuple[str, ...],
    quiet: bool,
) -> None:
    """Index the HDF5 file SRC (path or URL) into a reference JSON (-o) or an Icechunk
    repository (--icechunk); no data are copied.

    The JSON holds the Zarr v3 metadata of every group and array (unified convention), small
    values inline, and [url, offset, length] for every chunk; `nwbzarr.read_nwb(OUT)` opens it
    in one request. An Icechunk repository holds the same as one commit, each chunk a virtual
    reference to the local file SRC (docs/icechunk.md); an existing non-empty REPO_DIR is
    refused unless --new-commit is given.
    """
    if out is None and repo is None:
        raise click.UsageError("give -o OUT.json, --icechunk REPO_DIR, or both")
    if repo is None and (new_commit or message is not None):
        raise click.UsageError("--new-commit and --message go with --icechunk REPO_DIR")
    max_chunk_bytes = None if max_chunk_mb is None else int(max_chunk_mb * 2**20)
    if out is not None:
        from .virtual.sources import index_to_json

        with _command_errors(src, out):
            summary = index_to_json(
                src,
                out,
                url=url,
                max_chunk_bytes=max_chunk_bytes,
                storage_options=_headers_option(headers),
            )
        if not quiet:
            click.echo(
                f"wrote {out}: {summary['arrays']} arrays, {summary['chunk_refs']} chunk "
                f"references, {summary['inline_bytes']} bytes inline"
            )
    if repo is not None:
        if url is not None or headers:
            raise click.UsageError(
                "--url and --header do not go with --icechunk (virtual chunks name the local SRC)"
            )
        from .formats.icechunk.repository import index_local, write_icechunk
        from .storage.manifest import ByteRange

        with _command_errors(src, repo):
            _quiet_icechunk_logs()
            refset = index_local(src, max_chunk_bytes=max_chunk_bytes)
            snapshot = write_icechunk(
                refset, repo, if_exists="commit" if new_commit else "error", message=message
            )
        if not quiet:
            virtual = sum(1 for v in refset.refs.values() if isinstance(v, ByteRange))
            click.echo(
                f"committed {snapshot} to {repo}: {len(refset.refs) - virtual} keys stored, "
                f"{virtual} virtual chunk references to {os.path.abspath(src)}"
            )


def _quiet_icechunk_logs() -> None:
    """Keep Icechunk's own warnings (printed on stdout, such as "LocalFileSystem storage is
    not safe for concurrent commits") out of the command's output unless ``ICECHUNK_LOG``
    asks for them; errors still reach the user as the command's ``Error:`` line."""
    if "ICECHUNK_LOG" in os.environ:
        return
    with contextlib.suppress(ImportError, AttributeError):
        import icechunk

        icechunk.set_logs_filter("error")


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


# -- nwbzarr inspect / nwbzarr validate (issue 15): nwbinspector and pynwb on nwbzarr's reader --
def _split(value: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    return None if value is None else [part.strip() for part in value.split(",") if part.strip()]


def _require_inspector(command: str) -> None:
    """One ``Error:`` line naming the extra when nwbinspector cannot be imported."""
    from .inspection import INSTALL_HINT, import_nwbinspector

    try:
        import_nwbinspector()
    except ImportError as exc:
        cause = exc.__cause__ or exc
        raise click.ClickException(
            f"nwbzarr {command} needs nwbinspector, which cannot be imported ({cause}); "
            f"install it with: {INSTALL_HINT}"
        ) from exc


def _import_modules(modules: str | None) -> None:
    for name in _split(modules) or []:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise click.ClickException(f"--modules: cannot import {name!r} ({exc})") from exc


def _refuse_existing(option: str, path: str | None, overwrite: bool) -> None:
    if path is not None and os.path.exists(path) and not overwrite:
        raise click.ClickException(
            f"{path}: the {option} file already exists; pass --overwrite to replace it "
            "(nothing was inspected)"
        )


def _inspector_config(config: str | None, path: str) -> dict | None:
    """``--config`` loaded and checked (nwbinspector's default for PATH when not given)."""
    from .inspection import default_config, load_inspector_config

    try:
        return load_inspector_config(config if config is not None else default_config(path))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"--config: {_one_line(str(exc))}") from exc


def _parse_reverse(reverse: str | None, levels: list[str]) -> list[bool] | None:
    if reverse is None:
        return None
    truths = {"true": True, "t": True, "yes": True, "y": True, "1": True, "on": True}
    falsities = {"false": False, "f": False, "no": False, "n": False, "0": False, "off": False}
    values = []
    for word in _split(reverse) or []:
        key = word.lower()
        if key not in truths and key not in falsities:
            raise click.BadParameter(f"{word!r} is not a boolean", param_hint="--reverse")
        values.append(truths.get(key, False))
    if len(values) != len(levels):
        raise click.BadParameter(
            f"give one boolean per level ({len(levels)}), not {len(values)}", param_hint="--reverse"
        )
    return values


def _inspect_report(
    path: str,
    config: str | None,
    threshold: str,
    storage_options: dict | None,
    *,
    skip_validate: bool,
    ignore: list[str] | None = None,
    select: list[str] | None = None,
    levels: list[str] | None = None,
    reverse: list[bool] | None = None,
    detailed: bool = False,
) -> tuple[list, list[str]]:
    """nwbinspector's messages on PATH (``--config`` loaded first) and the report's lines."""
    from .inspection import format_report, inspect_nwb

    loaded = _inspector_config(config, path)
    with _command_errors(path):
        messages = inspect_nwb(
            path,
            config=loaded,
            ignore=ignore,
            select=select,
            importance_threshold=threshold,
            skip_validate=skip_validate,
            storage_options=storage_options,
        )
        lines = format_report(
            messages, levels or ("importance", "file_path"), reverse, detailed, nfiles_detected=1
        )
    return messages, lines


def _report_file_option(name: str, help: str) -> Any:
    """An option naming a report file to write (a file, not a folder; none by default)."""
    return click.option(name, type=click.Path(dir_okay=False), default=None, help=help)


def _report_saved(path: str) -> None:
    click.echo(f"{os.linesep * 2}Report saved to {path}!{os.linesep}")


_threshold_option = click.option(
    "--threshold",
    type=click.Choice(["CRITICAL", "BEST_PRACTICE_VIOLATION", "BEST_PRACTICE_SUGGESTION"]),
    default="BEST_PRACTICE_SUGGESTION",
    show_default=True,
    help="Skip checks whose importance is below this (nwbinspector's --threshold).",
)


@main.command("inspect")
@click.argument("path")
@click.option(
    "--config",
    default=None,
    help="nwbinspector configuration: a built-in name ('dandi') or a YAML file. Default: none, "
    "or 'dandi' for an https:// PATH (as nwbinspector does).",
)
@click.option(
    "--levels",
    default="importance,file_path",
    show_default=True,
    help="Comma-separated message fields to organise the report by.",
)
@click.option("--reverse", default=None, help="Comma-separated booleans: reverse each level.")
@click.option("--ignore", default=None, help="Comma-separated names of checks to skip.")
@click.option("--select", default=None, help="Comma-separated names of checks to run.")
@_threshold_option
@_report_file_option(
    "--json-file-path", help="Also write the messages as nwbinspector's JSON report."
)
@_report_file_option("--report-file-path", help="Also write the text report to this file.")
@click.option("--overwrite", is_flag=True, help="Replace existing report files.")
@click.option("--skip-validate", is_flag=True, help="Skip pynwb's schema validation.")
@click.option(
    "--detailed", is_flag=True, help="List every message instead of grouping identical ones."
)
@click.option(
    "--modules",
    default=None,
    help="Comma-separated modules to import first (extensions registering their own checks).",
)
@_header_option
def inspect_command(
    path: str,
    config: str | None,
    levels: str,
    reverse: str | None,
    ignore: str | None,
    select: str | None,
    threshold: str,
    json_file_path: str | None,
    report_file_path: str | None,
    overwrite: bool,
    skip_validate: bool,
    detailed: bool,
    modules: str | None,
    headers: tuple[str, ...],
) -> None:
    """Inspect PATH with nwbinspector's checks and pynwb's schema validation.

    PATH is what read_nwb opens: a Zarr store, an HDF5 .nwb file or a reference JSON (ours,
    LINDI, kerchunk), local or remote. The report is nwbinspector's (same messages, same
    format, same --options); the exit status is 0 once a report is printed, whatever it
    finds, as with nwbinspector. A file that cannot be read is one Error: line and exit
    status 1 (nwbinspector reports it as an ERROR message and exits 0). Needs
    nwbinspector: pip install "nwbzarr[inspect]".
    """
    storage_options = _headers_option(headers)
    _require_inspector("inspect")
    from .inspection import save_json_report

    _refuse_existing("--json-file-path", json_file_path, overwrite)
    _refuse_existing("--report-file-path", report_file_path, overwrite)
    level_list = _split(levels) or ["importance", "file_path"]
    reverse_list = _parse_reverse(reverse, level_list)
    _import_modules(modules)
    messages, lines = _inspect_report(
        path,
        config,
        threshold,
        storage_options,
        skip_validate=skip_validate,
        ignore=_split(ignore),
        select=_split(select),
        levels=level_list,
        reverse=reverse_list,
        detailed=detailed,
    )
    import nwbinspector

    with _command_errors(path, json_file_path or report_file_path):
        if json_file_path is not None:
            _report_saved(save_json_report(messages, json_file_path, overwrite=overwrite))
        nwbinspector.print_to_console(formatted_messages=lines)
        if report_file_path is not None:
            nwbinspector.save_report(
                report_file_path=report_file_path, formatted_messages=lines, overwrite=overwrite
            )
            _report_saved(os.path.abspath(report_file_path))


@main.command("validate")
@click.argument("path")
@click.option("-n", "--ns", "namespace", default=None, help="Validate against this namespace only.")
@click.option(
    "--no-cached-namespace",
    is_flag=True,
    help="Validate against pynwb's own namespaces instead of those cached in the file.",
)
@click.option(
    "-lns",
    "--list-namespaces",
    is_flag=True,
    help="List the namespaces the file would be validated against, and exit.",
)
@_report_file_option(
    "--json-output-path", help="Also write pynwb-validate's JSON report ({exitcode, errors})."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --json-output-path file.")
@click.option(
    "--skip-inspect", is_flag=True, help="Only the schema validation, no best-practice checks."
)
@click.option(
    "--config",
    default=None,
    help="nwbinspector configuration for the best-practice checks (see nwbzarr inspect).",
)
@_threshold_option
@_header_option
def validate_command(
    path: str,
    namespace: str | None,
    no_cached_namespace: bool,
    list_namespaces: bool,
    json_output_path: str | None,
    overwrite: bool,
    skip_inspect: bool,
    config: str | None,
    threshold: str,
    headers: tuple[str, ...],
) -> None:
    """Validate PATH against the NWB schema (pynwb), then run nwbinspector's checks.

    PATH is a Zarr store, an HDF5 .nwb file or a reference JSON, local or remote. The schema
    validation is pynwb's (pynwb.validate on nwbzarr's reader, against the namespaces cached
    in the file) with pynwb-validate's output and exit status: 1 if the file has schema
    errors, else 0. The best-practice report that follows (nwbzarr inspect --skip-validate)
    does not change the exit status; it is skipped, with a note, when nwbinspector is not
    installed (pip install "nwbzarr[inspect]").
    """
    storage_options = _headers_option(headers)
    from .inspection import validate_nwb

    if list_namespaces:
        from .inspection import cached_namespaces

        with _command_errors(path):
            names = cached_namespaces(path, storage_options=storage_options)
        click.echo("\n".join(names))
        return
    _refuse_existing("--json-output-path", json_output_path, overwrite)
    with _command_errors(path):
        report = validate_nwb(
            path,
            namespace=namespace,
            use_cached_namespaces=not no_cached_namespace,
            storage_options=storage_options,
        )
    for name in report.namespaces:
        click.echo(f"Validating {path} against {report.source} using namespace '{name}'.")
    if report.errors:
        click.echo(" - found the following errors:", err=True)
        for error in report.errors:
            click.echo(str(error), err=True)
    else:
        click.echo(" - no errors found.")
    status = 1 if report.errors else 0
    if json_output_path is not None:
        with _command_errors(path, json_output_path):
            document = {"exitcode": status, "errors": [str(e) for e in report.errors]}
            with open(json_output_path, "w", encoding="utf-8") as f:
                json.dump(document, f)
        click.echo(f"Report saved to {os.path.abspath(json_output_path)}!")
    if not skip_inspect:
        _validate_then_inspect(path, config, threshold, storage_options)
    if status:
        raise click.exceptions.Exit(status)


def _validate_then_inspect(
    path: str, config: str | None, threshold: str, storage_options: dict | None
) -> None:
    """The best-practice part of ``nwbzarr validate`` (a note when nwbinspector is missing)."""
    from .inspection import INSTALL_HINT, import_nwbinspector

    try:
        inspector = import_nwbinspector()
    except ImportError:
        click.echo(
            f"best-practice checks skipped: nwbinspector is not installed ({INSTALL_HINT})",
            err=True,
        )
        return
    _, lines = _inspect_report(path, config, threshold, storage_options, skip_validate=True)
    inspector.print_to_console(formatted_messages=lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
