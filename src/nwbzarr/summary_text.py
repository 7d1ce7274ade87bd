"""Text rendering of a :class:`nwbzarr.summary.StoreSummary` (what ``nwbzarr info`` prints)."""

from __future__ import annotations

import html
import math
from typing import Any

import zarr

from .summary import StoreSummary, _describe_zarr_node, _ratio

__all__ = ["format_summary", "format_bytes", "dataset_html"]


def format_bytes(n: int | float) -> str:
    """Format a byte count with a decimal (SI) unit.

    Parameters
    ----------
    n : int or float
        Number of bytes.

    Returns
    -------
    str
        E.g. ``"512 B"``, ``"12.3 kB"``, ``"4.1 MB"``, ``"1.0 GB"``.
    """
    n = float(n)
    if abs(n) < 1000:
        return f"{int(n)} B"
    for unit in ("kB", "MB", "GB", "TB", "PB"):
        n /= 1000.0
        if abs(n) < 1000 or unit == "PB":
            break
    return f"{n:.1f} {unit}"


def _fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "n/a"
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


def _fmt_shape(shape: tuple[int, ...] | None) -> str:
    if shape is None:
        return "?"
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(s) for s in shape) + ")"


def _fmt_sizes(raw: int, stored: int, known: bool = True) -> str:
    if not known:
        return f"{format_bytes(raw)} raw" if raw > 0 else ""
    ratio = _ratio(raw, stored)
    if raw <= 0:
        return f"{format_bytes(stored)} on disk"
    text = f"{format_bytes(raw)} -> {format_bytes(stored)}"
    return f"{text} ({_fmt_ratio(ratio)})" if ratio is not None else text


def format_summary(summary: StoreSummary, max_depth: int | None = None) -> str:
    """Render a :class:`StoreSummary` as a human-readable tree with a totals footer.

    One line per node, indented two spaces per nesting level and showing the node's
    name. Groups show their ``neurodata_type`` in brackets; arrays show dtype, shape,
    chunks, shards (if sharded), codecs, and uncompressed -> stored size with the
    compression ratio, e.g.::

        acquisition
          ElectricalSeries  [ElectricalSeries]
            data  int16 (600000, 32) chunks=(32768, 32) shards=(524288, 32)
            codecs=sharding_indexed,bytes,blosc  38.4 MB -> 12.8 MB (3.0x)

    (the array line is a single line). Sizes use decimal units (1 MB = 10**6 bytes).

    Parameters
    ----------
    summary : StoreSummary
        The result of :func:`summarize`.
    max_depth : int or None, optional
        Show only nodes at most this deep (1 = direct members of the root group);
        None shows every node. The footer always covers the whole store.

    Returns
    -------
    str
        The rendered text, lines separated by ``"\\n"``, without a trailing newline.

    Raises
    ------
    ValueError
        If `max_depth` is negative.
    """
    if max_depth is not None and max_depth < 0:
        raise ValueError(f"max_depth must be >= 0 or None, got {max_depth}")
    lines: list[str] = [f"{summary.path}  (Zarr format {summary.zarr_format})"]
    hidden = 0
    for info in summary.nodes:
        depth = info.depth
        if max_depth is not None and depth > max_depth:
            hidden += 1
            continue
        indent = "  " * depth
        name = "/" if not info.path else info.name
        ndt = f"  [{info.neurodata_type}]" if info.neurodata_type else ""
        if info.kind == "group":
            lines.append(f"{indent}{name}{ndt}")
            continue
        parts = [f"{indent}{name}{ndt}  {info.dtype} {_fmt_shape(info.shape)}"]
        if info.chunks is not None:
            parts.append(f"chunks={_fmt_shape(info.chunks)}")
        if info.shards is not None:
            parts.append(f"shards={_fmt_shape(info.shards)}")
        parts.append("codecs=" + (",".join(info.codecs) if info.codecs else "none"))
        sizes = _fmt_sizes(info.raw_bytes, info.stored_bytes, summary.sizes_known)
        line = " ".join(parts) + ("  " + sizes if sizes else "")
        if info.note:
            line += "  (!)"
        lines.append(line)
    if hidden:
        lines.append(f"... {hidden} node(s) deeper than max_depth={max_depth} not shown")
    if any(info.note for info in summary.nodes):
        lines.append(
            "(!) described from its metadata file: zarr-python could not open it "
            "(see NodeInfo.note)"
        )

    lines.append("")
    if not summary.sizes_known:
        lines.append(
            f"groups: {summary.n_groups}  arrays: {summary.n_arrays}  files: unknown (this "
            "location cannot be listed, e.g. plain HTTP)"
        )
        lines.append(f"raw: {format_bytes(summary.raw_bytes)} ({summary.raw_bytes} bytes)")
        lines.append("(raw excludes variable-length data such as strings)")
        return "\n".join(lines)
    lines.append(
        f"groups: {summary.n_groups}  arrays: {summary.n_arrays}  files on disk: {summary.n_files}"
    )
    lines.append(
        f"stored: {format_bytes(summary.stored_bytes)} ({summary.stored_bytes} bytes)  "
        f"raw: {format_bytes(summary.raw_bytes)} ({summary.raw_bytes} bytes)  "
        f"compression ratio: {_fmt_ratio(summary.compression_ratio)}"
    )
    lines.append("(raw excludes variable-length data such as strings; stored includes metadata)")
    return "\n".join(lines)


def dataset_html(dataset: Any) -> str:
    """Rich HTML description of a dataset read from a store, for Jupyter.

    hdmf's container ``_repr_html_`` calls ``read_io.generate_dataset_html(dataset)`` for
    every array field; for Zarr arrays this adds the storage facts ``nwbzarr info`` prints.

    Parameters
    ----------
    dataset : zarr.Array, HDMF dataset wrapper, numpy array or h5py.Dataset
        The array to describe; read wrappers (text, references) are unwrapped.

    Returns
    -------
    str
        An HTML fragment: a table with data type, shape, chunk and shard shape, codecs,
        uncompressed and stored bytes and their ratio, followed by the values when the array
        is under about 100 bytes.
    """
    from hdmf.backends.io import HDMFIO

    array = getattr(dataset, "dataset", dataset)
    if not isinstance(array, zarr.Array):
        return HDMFIO.generate_dataset_html(dataset)
    info = _describe_zarr_node(array.path, array, array.metadata.zarr_format)
    try:
        stored: int | None = int(array.nbytes_stored())
    except Exception:  # a store that cannot list keys (plain HTTP)
        stored = None
    rows: dict[str, Any] = {
        "Data type": info.dtype,
        "Shape": info.shape,
        "Chunk shape": info.chunks,
        "Shard shape": info.shards or "not sharded",
        "Codecs": ", ".join(info.codecs) or "none",
        "Uncompressed size": format_bytes(info.raw_bytes) if info.raw_bytes else "variable",
        "Stored size": format_bytes(stored) if stored is not None else "unknown",
    }
    if stored and info.raw_bytes:
        rows["Compression ratio"] = f"{info.raw_bytes / stored:.2f}"
    body = "".join(
        f'<tr><th style="text-align: left">{html.escape(k)}</th>'
        f'<td style="text-align: left">{html.escape(str(v))}</td></tr>'
        for k, v in rows.items()
    )
    out = f'Zarr array<br><table class="data-info"><tbody>{body}</tbody></table>'
    small = info.shape is not None and math.prod(info.shape) <= 16
    if small:
        out += "<br>" + html.escape(str(array[()]))
    return out
