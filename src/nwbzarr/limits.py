"""Documented limits on what untrusted input may cost (``docs/security.md``).

Everything read from a file — a reference JSON, a kerchunk template, a pickled legacy chunk, a
cached namespace, an HTTP response, a chunk's encoded bytes — is bounded by one of these
limits before nwbzarr acts on it. Each limit has a default chosen to be far above what real NWB
files need (the numbers in ``docs/security.md`` say how far) and can be raised through an
environment variable ``NWBZARR_<FIELD NAME IN UPPER CASE>`` (e.g.
``NWBZARR_MAX_JSON_DEPTH=1000``) or, in code, with :func:`override`.

An input over a limit raises :class:`nwbzarr.errors.LimitExceededError`, whose message names the
input, the limit and its environment variable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import LimitExceededError

__all__ = ["Limits", "current", "value", "override", "exceeded", "env_name"]

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True)
class Limits:
    """The limits in force. Sizes in bytes, times in seconds, counts in items.

    Parameters
    ----------
    max_json_depth : int
        Deepest nesting of lists/objects accepted in a JSON document (reference JSON, ``zarr.json``,
        attribute values, cached namespaces) and in a legacy pickled chunk's value.
    max_json_bytes : int
        Largest reference JSON read (bytes).
    max_generated_refs : int
        Keys a kerchunk ``gen`` block may produce, summed over all its entries.
    max_template_bytes : int
        Longest string a kerchunk template (or ``gen`` key/URL pattern) may render to, and
        longest template text or intermediate value while rendering (characters).
    max_template_int_bits : int
        Widest integer a kerchunk template may compute (bits; offsets and lengths need 64).
    max_range_bytes : int
        Longest byte range a reference may name (bytes); also the largest single HTTP body read.
    max_chunk_bytes : int
        Largest decoded chunk accepted (bytes), before comparing with the declared chunk shape.
    max_pickle_bytes : int
        Largest decoded object a legacy pickled chunk may produce (bytes, counted as the pickle
        is loaded).
    max_namespace_bytes : int
        Largest cached namespace or spec source read from ``/specifications`` (bytes).
    max_spec_items : int
        Most dicts/lists/values in one cached namespace source (all nesting levels).
    max_link_depth : int
        Longest chain of links (soft, external, HDF5) followed before giving up.
    http_timeout : float
        Seconds a single HTTP request (headers and body) may take.
    allow_private_hosts : bool
        Let URLs found inside a file (reference-JSON targets, external links, redirects) name
        loopback, link-local or private addresses of another host than the file's own.
    """

    max_json_depth: int = 256
    max_json_bytes: int = 2 * GiB
    max_generated_refs: int = 2_000_000
    max_template_bytes: int = 64 * 1024
    max_template_int_bits: int = 4096
    max_range_bytes: int = 4 * GiB
    max_chunk_bytes: int = 4 * GiB
    max_pickle_bytes: int = 1 * GiB
    max_namespace_bytes: int = 16 * MiB
    max_spec_items: int = 200_000
    max_link_depth: int = 64
    http_timeout: float = 30.0
    allow_private_hosts: bool = False


def env_name(field: str) -> str:
    """The environment variable that sets limit ``field`` (``NWBZARR_MAX_JSON_DEPTH``)."""
    return f"NWBZARR_{field.upper()}"


_OVERRIDES: dict[str, object] = {}


def _parse(field: dataclasses.Field, raw: str) -> object:
    kind = field.type if isinstance(field.type, type) else eval(field.type)  # noqa: S307
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind is float:
        return float(raw)
    return int(float(raw))


_FIELDS = dataclasses.fields(Limits)
_ENV_NAMES = tuple(env_name(f.name) for f in _FIELDS)
_BY_NAME = {f.name: (f, env_name(f.name)) for f in _FIELDS}
_CACHE: dict[tuple, Limits] = {}
#: ``(field, raw environment value) -> parsed value`` for :func:`value`.
_PARSED: dict[tuple[str, str], object] = {}


def _parse_env(f: dataclasses.Field, raw: str) -> object:
    """The value of limit ``f``'s environment variable holding ``raw`` (a non-blank string)."""
    try:
        return _parse(f, raw)
    except ValueError as exc:
        raise ValueError(f"{env_name(f.name)}={raw!r} is not a valid value") from exc


def current() -> Limits:
    """The limits in force now: defaults, then environment variables, then :func:`override`.

    Cheap enough for hot paths (one environment lookup per field; the parsed result is cached
    for each distinct set of values). A hot path that needs one limit calls :func:`value`,
    which reads only that limit's variable.

    Raises
    ------
    ValueError
        If an ``NWBZARR_*`` limit variable holds no number.
    """
    raw_values = tuple(map(os.environ.get, _ENV_NAMES))
    key = (raw_values, tuple(sorted(_OVERRIDES.items())) if _OVERRIDES else ())
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    values: dict[str, object] = {}
    for f, raw in zip(_FIELDS, raw_values):
        if raw is not None and raw.strip():
            values[f.name] = _parse_env(f, raw)
    values.update(_OVERRIDES)
    result = Limits(**values)
    if len(_CACHE) > 64:
        _CACHE.clear()
    _CACHE[key] = result
    return result


def value(field: str) -> object:
    """The value of one limit in force now, as ``getattr(current(), field)`` gives it.

    Reads only ``field``'s own environment variable (``NWBZARR_<FIELD>``, looked up on every
    call, so setting it takes effect at once; its parsed value is cached per raw string), then
    :func:`override`. Unlike :func:`current`, an invalid value in *another* limit's variable
    does not raise here.

    Parameters
    ----------
    field : str
        A field name of :class:`Limits` (``"max_chunk_bytes"``).

    Returns
    -------
    object
        The limit (int, float or bool, as the field's type).

    Raises
    ------
    TypeError
        If ``field`` is not a field of :class:`Limits`.
    ValueError
        If the field's environment variable holds no number.
    """
    if field in _OVERRIDES:
        return _OVERRIDES[field]
    found = _BY_NAME.get(field)
    if found is None:
        raise TypeError(f"unknown limit {field!r}; known: {sorted(_BY_NAME)}")
    f, name = found
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return f.default
    parsed = _PARSED.get((field, raw), _PARSED)
    if parsed is _PARSED:
        parsed = _parse_env(f, raw)
        if len(_PARSED) > 256:
            _PARSED.clear()
        _PARSED[(field, raw)] = parsed
    return parsed


@contextlib.contextmanager
def override(**values: object) -> Iterator[Limits]:
    """Set limits for the duration of a ``with`` block (this process, all threads).

    Parameters
    ----------
    **values
        Field names of :class:`Limits` and their values.

    Raises
    ------
    TypeError
        If a name is not a field of :class:`Limits`.
    """
    names = {f.name for f in dataclasses.fields(Limits)}
    unknown = set(values) - names
    if unknown:
        raise TypeError(f"unknown limit(s): {sorted(unknown)}; known: {sorted(names)}")
    saved = dict(_OVERRIDES)
    _OVERRIDES.update(values)
    try:
        yield current()
    finally:
        _OVERRIDES.clear()
        _OVERRIDES.update(saved)


def exceeded(what: str, field: str, value: object | None = None) -> LimitExceededError:
    """The error for ``what`` going over limit ``field`` (to be raised by the caller).

    Parameters
    ----------
    what : str
        The input and where it is (``"refs.json: key 'a/0'"``).
    field : str
        The :class:`Limits` field exceeded.
    value : object, optional
        The size or count asked for, when known.
    """
    limit = getattr(current(), field)
    asked = "" if value is None else f" (asked for {value})"
    return LimitExceededError(
        f"{what}: over the limit {field}={limit}{asked}; if the input is trusted, raise it "
        f"with the environment variable {env_name(field)} (docs/security.md)"
    )
