"""JSON from files nwbzarr does not own, parsed under the nesting limit of :mod:`nwbzarr.limits`.

:func:`json.loads` recurses once per nesting level, so a document nested 100 000 deep raises
:class:`RecursionError` (or, in a thread with a small stack, could crash). :func:`loads` turns
that into :class:`~nwbzarr.errors.LimitExceededError`; :func:`check_nesting` then measures a
decoded value without recursion (depth and item count) so that the limits hold below Python's
own recursion limit too, before any recursive code (``json.dumps``, hdmf) sees the value.
"""

from __future__ import annotations

import json
from typing import Any

from .. import limits
from ..errors import NWBZarrError

__all__ = ["loads", "check_nesting"]


def loads(
    data: bytes | bytearray | memoryview | str,
    where: str,
    error: type[NWBZarrError],
    *,
    max_depth: int | None = None,
) -> Any:
    """Decode JSON text, turning a too-deep document into :class:`LimitExceededError`.

    Parameters
    ----------
    data : bytes-like or str
        The JSON text.
    where : str
        The file (and key) it came from, for messages.
    error : type
        The nwbzarr error raised for text that is not JSON (e.g. ``ReferenceFileError``).
    max_depth : int, optional
        Check the decoded value's nesting against this depth (see :func:`check_nesting`);
        default: no check beyond Python's recursion limit (the caller checks the parts that
        may nest, e.g. only the metadata of a large reference JSON).

    Returns
    -------
    object
        The decoded value.

    Raises
    ------
    LimitExceededError
        The document nests deeper than Python can decode, or deeper than ``max_depth``.
    NWBZarrError
        ``error``, for text that is not valid JSON or UTF-8.
    """
    if isinstance(data, memoryview):
        data = bytes(data)
    try:
        value = json.loads(data)
    except RecursionError:
        raise limits.exceeded(
            f"{where}: JSON nested deeper than Python's recursion limit", "max_json_depth"
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise error(f"{where}: not a valid JSON file ({exc})") from None
    if max_depth is not None:
        check_nesting(value, where, max_depth=max_depth)
    return value


def check_nesting(
    value: Any,
    where: str,
    *,
    max_depth: int | None = None,
    max_items: int | None = None,
    items_field: str = "max_spec_items",
) -> int:
    """Measure a decoded JSON value without recursion; raise if it nests or counts too much.

    Parameters
    ----------
    value : object
        A decoded JSON value (dicts, lists, scalars).
    where : str
        The file (and key) it came from, for messages.
    max_depth : int, optional
        Deepest nesting allowed (default ``limits.current().max_json_depth``); a scalar or an
        empty container is depth 0, ``[[1]]`` depth 2.
    max_items : int, optional
        Most containers and values allowed in all (default: no limit).
    items_field : str, optional
        The :class:`~nwbzarr.limits.Limits` field named when ``max_items`` is exceeded.

    Returns
    -------
    int
        The number of containers and values (the root counted).

    Raises
    ------
    LimitExceededError
        Over ``max_depth`` (``max_json_depth``) or ``max_items``.
    """
    if max_depth is None:
        max_depth = limits.current().max_json_depth
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        count += 1
        if max_items is not None and count > max_items:
            raise limits.exceeded(f"{where}: more than {max_items} JSON values", items_field)
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if not children:
            continue
        if depth + 1 > max_depth:
            raise limits.exceeded(
                f"{where}: JSON nested deeper than {max_depth} levels", "max_json_depth"
            )
        for child in children:
            if isinstance(child, (dict, list)):
                push((child, depth + 1))
            else:
                count += 1
        if max_items is not None and count > max_items:
            raise limits.exceeded(f"{where}: more than {max_items} JSON values", items_field)
    return count
