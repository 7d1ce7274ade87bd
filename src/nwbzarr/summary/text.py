"""Text rendering of a :class:`nwbzarr.summary.nodes.StoreSummary` (what ``nwbzarr info``
prints); :func:`dataset_html` and :func:`format_bytes` are
:mod:`nwbzarr.backend.html`'s."""

from __future__ import annotations

from ..backend.html import dataset_html, format_bytes
from .nodes import NodeInfo, StoreSummary, byte_ratio

__all__ = ["format_summary", "format_bytes", "dataset_html"]


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
    ratio = byte_ratio(raw, stored)
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
        if max_depth is not None and info.depth > max_depth:
            hidden += 1
            continue
        lines.append(_node_line(info, summary.sizes_known))
    if hidden:
        lines.append(f"... {hidden} node(s) deeper than max_depth={max_depth} not shown")
    if any(info.note for info in summary.nodes):
        lines.append(
            "(!) described from its metadata file: zarr-python could not open it "
            "(see NodeInfo.note)"
        )
    lines.append("")
    lines.extend(_footer_lines(summary))
    return "\n".join(lines)


def _node_line(info: NodeInfo, sizes_known: bool) -> str:
    """One node's line: indented name, ``[neurodata_type]``; for an array its layout and sizes."""
    indent = "  " * info.depth
    name = "/" if not info.path else info.name
    ndt = f"  [{info.neurodata_type}]" if info.neurodata_type else ""
    if info.kind == "group":
        return f"{indent}{name}{ndt}"
    parts = [f"{indent}{name}{ndt}  {info.dtype} {_fmt_shape(info.shape)}"]
    if info.chunks is not None:
        parts.append(f"chunks={_fmt_shape(info.chunks)}")
    if info.shards is not None:
        parts.append(f"shards={_fmt_shape(info.shards)}")
    parts.append("codecs=" + (",".join(info.codecs) if info.codecs else "none"))
    sizes = _fmt_sizes(info.raw_bytes, info.stored_bytes, sizes_known)
    line = " ".join(parts) + ("  " + sizes if sizes else "")
    if info.note:
        line += "  (!)"
    return line


def _footer_lines(summary: StoreSummary) -> list[str]:
    """The totals: counts, stored and raw bytes, compression ratio (sizes unknown: raw only)."""
    if not summary.sizes_known:
        return [
            f"groups: {summary.n_groups}  arrays: {summary.n_arrays}  files: unknown (this "
            "location cannot be listed, e.g. plain HTTP)",
            f"raw: {format_bytes(summary.raw_bytes)} ({summary.raw_bytes} bytes)",
            "(raw excludes variable-length data such as strings)",
        ]
    return [
        f"groups: {summary.n_groups}  arrays: {summary.n_arrays}  files on disk: {summary.n_files}",
        f"stored: {format_bytes(summary.stored_bytes)} ({summary.stored_bytes} bytes)  "
        f"raw: {format_bytes(summary.raw_bytes)} ({summary.raw_bytes} bytes)  "
        f"compression ratio: {_fmt_ratio(summary.compression_ratio)}",
        "(raw excludes variable-length data such as strings; stored includes metadata)",
    ]
