"""Command line: ``nwbzarr convert``, ``nwbzarr info``, ``nwbzarr index`` and ``nwbzarr upload``
(argument parsing only)."""

from __future__ import annotations

import sys

import click

from .conventions.layout import CODEC_NAMES, DEFAULT_CODEC
from .errors import NWBZarrError

_header_option = click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="HTTP header sent with every request to an http(s):// source (repeatable).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nwbzarr")
def main() -> None:
    """nwbzarr: NWB files as Zarr v3 stores."""


@main.command()
@click.argument("src")
@click.argument("dst", type=click.Path())
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists.")
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
    rechunk: bool,
    chunk_mb: float | None,
    shard_mb: float | None,
    codec: str,
    dask_scheduler: str | None,
    headers: tuple[str, ...],
    quiet: bool,
) -> None:
    """Convert SRC to DST: HDF5 .nwb -> Zarr store, or Zarr -> HDF5 when DST ends in .nwb.

    SRC may be a URL (https://, s3://): a remote HDF5 file is converted in one pass through
    range requests. A reference JSON (ours, LINDI, kerchunk) is materialized into a
    self-contained store (or HDF5 file).

    A legacy hdmf-zarr (Zarr v2) SRC is migrated to a Zarr v3 store (or to HDF5).

    By default each chunked numeric array keeps its source chunk shape, compression (HDF5
    filters mapped to Zarr v3 codecs) and fill value, grouped into shards; --rechunk applies
    the chunk/codec policy instead. Arrays whose HDF5 filters have no Zarr v3 codec (lzf,
    szip, ...) keep their chunks and are re-compressed with the default codec (a warning says so).
    """
    from .convert import convert as run

    try:
        out = run(
            src,
            dst,
            overwrite=overwrite,
            chunk_mb=chunk_mb,
            shard_mb=shard_mb,
            codec=codec,
            progress=not quiet,
            keep_storage=not rechunk,
            dask_scheduler=dask_scheduler,
            storage_options=_headers_option(headers),
        )
    except NWBZarrError as exc:
        raise click.ClickException(str(exc)) from exc
    if not quiet:
        click.echo(f"wrote {out}")


@main.command()
@click.argument("path")
@click.option("--depth", type=int, default=None, help="Show nodes down to this depth only.")
@_header_option
def info(path: str, depth: int | None, headers: tuple[str, ...]) -> None:
    """Show the tree of PATH (a Zarr store): types, shapes, chunks, shards, codecs, bytes.

    PATH is a local directory or a URL (https://, s3://, gs://, ...). Over plain HTTP the file
    count and stored bytes are unknown (HTTP cannot list directories).
    """
    from .summary import summarize
    from .summary_text import format_summary

    storage_options = _headers_option(headers)
    try:
        summary = summarize(path, storage_options=storage_options)
    except NWBZarrError as exc:
        raise click.ClickException(str(exc)) from exc
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

    try:
        summary = index_to_json(
            src,
            out,
            url=url,
            max_chunk_bytes=None if max_chunk_mb is None else int(max_chunk_mb * 2**20),
            storage_options=_headers_option(headers),
        )
    except NWBZarrError as exc:
        raise click.ClickException(str(exc)) from exc
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
    try:
        report = upload_references(refs, to, storage_options=options, name=name, progress=not quiet)
    except NWBZarrError as exc:
        raise click.ClickException(str(exc)) from exc
    if not quiet:
        click.echo(
            f"published {report.url}: uploaded {report.uploaded} objects "
            f"({report.bytes_uploaded} bytes), skipped {report.skipped} already there "
            f"({report.bytes_skipped} bytes)"
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
