"""Text values as the writer stores them: object arrays of ``str``.

Shared by the writer (:mod:`nwbzarr.backend.write`, :mod:`nwbzarr.backend.fill`) and the
growth of arrays read from a store (:mod:`nwbzarr.backend.grow`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..conventions.dtypes import text_value

__all__ = ["text_array"]


def text_array(values: Any) -> np.ndarray:
    """Return text values (str, bytes, datetimes; nested) as an object array of ``str``.

    Parameters
    ----------
    values : Any
        A value, a (nested) sequence of values or a numpy array.

    Returns
    -------
    numpy.ndarray
        Object array of the same shape holding ``str`` values.
    """
    arr = np.asarray(values, dtype=object) if not isinstance(values, np.ndarray) else values
    if arr.dtype.kind == "U":
        return arr.astype(object)
    out = np.empty(arr.shape, dtype=object)
    flat_in = arr.reshape(-1)
    flat_out = out.reshape(-1)
    for i, v in enumerate(flat_in):
        flat_out[i] = text_value(v)
    return out
