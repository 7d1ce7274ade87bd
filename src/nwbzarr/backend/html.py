"""HTML description of one array for Jupyter (:meth:`nwbzarr.ZarrIO.generate_dataset_html`).

hdmf's container ``_repr_html_`` asks the I/O object that read a container to describe each
of its arrays; for a Zarr array the description adds the storage facts ``nwbzarr info``
prints (data type, chunk and shard shape, codecs, uncompressed and stored bytes).
"""

from __future__ import annotations

import html
import math
from typing import Any

import zarr

from ..conventions.zarr_json import codec_names_v2, codec_names_v3, v2_dtype_name, v3_dtype_name

__all__ = ["dataset_html", "format_bytes"]


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


def dataset_html(dataset: Any) -> str:
    """Rich HTML description of a dataset read from a store, for Jupyter.

    Parameters
    ----------
    dataset : zarr.Array, HDMF dataset wrapper, numpy array or h5py.Dataset
        The array to describe; read wrappers (text, references) are unwrapped.

    Returns
    -------
    str
        An HTML fragment: a table with data type, shape, chunk and shard shape, codecs,
        uncompressed and stored bytes and their ratio, followed by the values when the array
        has at most 16 elements. Anything but a Zarr array is described by hdmf.
    """
    # function-local: hdmf is needed only here; ``nwbzarr info`` (summary.text) renders
    # without it
    from hdmf.backends.io import HDMFIO

    array = getattr(dataset, "dataset", dataset)
    if not isinstance(array, zarr.Array):
        return HDMFIO.generate_dataset_html(dataset)
    shape = _tuple(array.shape)
    raw = 0 if array.dtype.kind in "OT" else int(array.nbytes)  # variable-length: unknown
    try:
        stored: int | None = int(array.nbytes_stored())
    except Exception:  # a store that cannot list keys (plain HTTP)
        stored = None
    dtype, codecs = _dtype_and_codecs(array)
    rows: dict[str, Any] = {
        "Data type": dtype,
        "Shape": shape,
        "Chunk shape": _grid(array, "chunks"),
        "Shard shape": _grid(array, "shards") or "not sharded",
        "Codecs": ", ".join(codecs) or "none",
        "Uncompressed size": format_bytes(raw) if raw else "variable",
        "Stored size": format_bytes(stored) if stored is not None else "unknown",
    }
    if stored and raw:
        rows["Compression ratio"] = f"{raw / stored:.2f}"
    body = "".join(
        f'<tr><th style="text-align: left">{html.escape(k)}</th>'
        f'<td style="text-align: left">{html.escape(str(v))}</td></tr>'
        for k, v in rows.items()
    )
    out = f'Zarr array<br><table class="data-info"><tbody>{body}</tbody></table>'
    if shape is not None and math.prod(shape) <= 16:
        out += "<br>" + html.escape(str(array[()]))
    return out


def _dtype_and_codecs(array: zarr.Array) -> tuple[str, list[str]]:
    """The data type's name and the codec names of an array, from its metadata document."""
    meta = array.metadata.to_dict()
    if array.metadata.zarr_format == 2:
        return v2_dtype_name(meta.get("dtype")), codec_names_v2(
            meta.get("filters"), meta.get("compressor")
        )
    return v3_dtype_name(meta.get("data_type")), codec_names_v3(meta.get("codecs"))


def _grid(array: zarr.Array, name: str) -> tuple[int, ...] | None:
    """``array.chunks`` or ``array.shards`` as a tuple (None where zarr cannot say)."""
    try:
        return _tuple(getattr(array, name))
    except (NotImplementedError, TypeError, ValueError):  # a non-regular chunk grid
        return None


def _tuple(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(int(v) for v in value)
