"""Decode pickled chunks of legacy hdmf-zarr stores without running code from the file.

hdmf-zarr < 0.14 stored object arrays (object references, compound rows holding text or
references) with numcodecs' ``Pickle`` codec, whose chunk is ``pickle.dumps(ndarray)`` (after
the compressor is undone). Unpickling such bytes with :mod:`pickle` can call any importable
function the file names, so nwbzarr never does that. This module reads them with a
:class:`pickle.Unpickler` whose ``find_class`` resolves no real global at all:

* plain data (``dict``, ``list``, ``tuple``, ``str``, ``bytes``, ``int``, ``float``, ``bool``,
  ``None``) is built by pickle opcodes and needs no global;
* the names a numpy array pickle and hdmf-zarr's reference class use
  (``numpy[._]core.multiarray._reconstruct``, ``numpy.ndarray``, ``numpy.dtype``,
  ``numpy[._]core.numeric._frombuffer`` and ``_codecs.encode`` for raw bytes, and
  ``hdmf_zarr.utils.ZarrReference``) resolve to inert stand-ins defined here, which only
  record their arguments; the array is rebuilt afterwards from the recorded shape, a
  validated dtype string and the list of elements;
* every other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ...) raises
  :class:`~nwbzarr.errors.UnsafePickleError` before anything is called.

Loading itself costs memory in proportion to the stream (each opcode makes at most one object),
but a pickle's memo lets a tiny stream name one object many times (``L1 = [L0, L0]``,
``L2 = [L1, L1]``, ... is 2**60 elements once copied) and an array's dtype may ask for wide
fixed-size elements (``U9999999``). So, before anything is copied or allocated, the decoded
value is measured once without recursion, each shared object counted as often as it is
referenced: the bytes it would take (an array's as shape times item size) must stay within
``limits.max_pickle_bytes`` and its nesting within ``limits.max_json_depth``
(:class:`~nwbzarr.errors.LimitExceededError` otherwise), and a top-level array must have the
element count of the chunk shape the array declares.

The numcodecs ``NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE`` switch has no effect here: neither
``numcodecs.Pickle.decode`` nor :func:`pickle.loads` is ever called.
"""

from __future__ import annotations

import io
import math
import pickle
import re
from typing import Any

import numpy as np

from ... import limits
from ...errors import LegacyFormatError, LimitExceededError, UnsafePickleError

__all__ = ["safe_unpickle", "SafeUnpickler"]

# numpy dtype strings a pickled dtype may name: bool, numbers, object, fixed text and void
_DTYPE_SPEC = re.compile(r"^(?:[?]|b1|[iu][1248]|f[248]|c(?:8|16)|O[48]?|[SUV]\d{1,7})$")
_MAX_ELEMENTS = 1 << 31


class _NDArrayMarker:
    """Stands for ``numpy.ndarray`` (only ever an argument of ``_reconstruct``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<numpy.ndarray stand-in>"


NDARRAY = _NDArrayMarker()


class _DTypeStub:
    """Records ``numpy.dtype(spec, align, copy)`` and its ``__setstate__`` tuple."""

    __slots__ = ("spec", "state")

    def __init__(self, spec: Any = None, align: Any = False, copy: Any = True) -> None:
        if not isinstance(spec, str) or not _DTYPE_SPEC.match(spec):
            raise LegacyFormatError(f"pickled numpy dtype {spec!r} is not a plain data type")
        self.spec = spec
        self.state: tuple | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 8:
            raise LegacyFormatError("malformed pickled numpy dtype state")
        self.state = state

    def to_numpy(self) -> np.dtype:
        state = self.state or (3, "|", None, None, None, -1, -1, 0)
        byteorder, subarray, names, fields, itemsize = state[1], state[2], *state[3:6]
        if subarray is not None:
            raise LegacyFormatError("pickled numpy sub-array dtypes are not supported")
        if names is not None:
            if not isinstance(names, tuple) or not isinstance(fields, dict):
                raise LegacyFormatError("malformed pickled compound dtype")
            formats, offsets = [], []
            for name in names:
                field = fields.get(name)
                if (
                    not isinstance(name, str)
                    or not isinstance(field, tuple)
                    or len(field) < 2
                    or not isinstance(field[0], _DTypeStub)
                    or not isinstance(field[1], int)
                ):
                    raise LegacyFormatError(f"malformed pickled compound field {name!r}")
                formats.append(field[0].to_numpy())
                offsets.append(field[1])
            if not isinstance(itemsize, int) or itemsize < 0:
                raise LegacyFormatError("malformed pickled compound dtype size")
            return np.dtype(
                {"names": list(names), "formats": formats, "offsets": offsets, "itemsize": itemsize}
            )
        dtype = np.dtype(self.spec)
        if byteorder in ("<", ">") and dtype.itemsize > 1 and dtype.kind not in "OSV":
            dtype = dtype.newbyteorder(byteorder)
        return dtype


class _ArrayStub:
    """Records the ``__setstate__`` tuple of a pickled ``numpy.ndarray``."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state: tuple | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise LegacyFormatError("malformed pickled numpy array state")
        self.state = state

    def to_numpy(self) -> np.ndarray:
        if self.state is None:
            raise LegacyFormatError("pickled numpy array without state")
        _version, shape, dtype_stub, fortran, data = self.state
        if (
            not isinstance(shape, tuple)
            or not all(isinstance(n, int) and n >= 0 for n in shape)
            or not isinstance(dtype_stub, _DTypeStub)
        ):
            raise LegacyFormatError("malformed pickled numpy array shape or dtype")
        size = math.prod(shape)
        if size > _MAX_ELEMENTS:
            raise LegacyFormatError(f"pickled numpy array of {size} elements is too large")
        dtype = dtype_stub.to_numpy()
        order = "F" if fortran else "C"
        if isinstance(data, (bytes, bytearray)):
            if dtype.hasobject or len(data) != size * dtype.itemsize:
                raise LegacyFormatError("pickled numpy array bytes do not match its dtype")
            flat = np.frombuffer(bytes(data), dtype=dtype, count=size)
            return flat.reshape(shape, order=order)  # raw bytes follow the Fortran flag
        elif isinstance(data, list):
            if len(data) != size:
                raise LegacyFormatError(
                    f"pickled numpy array holds {len(data)} elements, its shape {shape} needs "
                    f"{size}"
                )
            flat = np.empty(size, dtype=dtype)
            for i, value in enumerate(data):
                flat[i] = _plain(value)
            return flat.reshape(shape)  # numpy lists object elements in C order
        raise LegacyFormatError("malformed pickled numpy array data")


class _ReferenceStub(dict):
    """Stands for ``hdmf_zarr.utils.ZarrReference`` (a dict subclass: keys set by SETITEMS)."""

    __slots__ = ()


def _reconstruct(cls: Any, shape: Any = None, typecode: Any = None) -> _ArrayStub:
    if cls is not NDARRAY:
        raise LegacyFormatError(
            "pickled array reconstructor called with a class other than ndarray"
        )
    return _ArrayStub()


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    # protocol <= 2 pickles spell raw array bytes as _codecs.encode(text, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise LegacyFormatError("pickled _codecs.encode call is not a latin-1 byte string")
    return text.encode("latin-1")


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    # protocol 5 pickles of non-object arrays: numpy._core.numeric._frombuffer(bytes, ...)
    if (
        not isinstance(buf, (bytes, bytearray))
        or not isinstance(dtype, _DTypeStub)
        or not isinstance(shape, tuple)
        or order not in ("C", "F")
    ):
        raise LegacyFormatError("malformed pickled numpy buffer")
    np_dtype = dtype.to_numpy()
    size = math.prod(shape)
    if np_dtype.hasobject or len(buf) != size * np_dtype.itemsize:
        raise LegacyFormatError("pickled numpy buffer does not match its dtype and shape")
    return np.frombuffer(bytes(buf), dtype=np_dtype, count=size).reshape(shape, order=order)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): NDARRAY,
    ("numpy", "dtype"): _DTypeStub,
    ("hdmf_zarr.utils", "ZarrReference"): _ReferenceStub,
}


class SafeUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that never imports or calls a real global.

    ``find_class`` returns inert stand-ins for the few names numpy and hdmf-zarr use to pickle
    object arrays and references, and raises :class:`~nwbzarr.errors.UnsafePickleError` for any
    other name. Out-of-band buffers and persistent ids are refused by :mod:`pickle` itself.

    Parameters
    ----------
    file : binary file-like
        The pickle stream.
    where : str
        What is being decoded (e.g. the array path), for error messages.
    """

    def __init__(self, file: Any, where: str) -> None:
        super().__init__(file)
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        """Return the stand-in for an allowed name; refuse every other global."""
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._where}: pickled data names the global {module}.{name}, which could run "
                "code; refused (nwbzarr decodes pickled chunks as plain data only, even with "
                "allow_pickle=True). If you trust this file, export it with hdmf-zarr, "
                "otherwise regenerate it"
            ) from None


def _plain(value: Any) -> Any:
    """Replace stand-ins in a decoded value by plain Python/numpy objects."""
    if isinstance(value, _ArrayStub):
        return value.to_numpy()
    if isinstance(value, _ReferenceStub):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, (_DTypeStub, _NDArrayMarker)):
        raise LegacyFormatError("pickled data holds a bare numpy type object")
    return value


_NESTED = frozenset((list, tuple, dict, _ReferenceStub, _ArrayStub))
_SCALARS = frozenset((int, float, bool, type(None)))


def _children(node: Any) -> list | tuple | None:
    """The values a decoded node holds (None for a leaf)."""
    if isinstance(node, (list, tuple)):
        return node
    if isinstance(node, dict):
        return [*node.keys(), *node.values()]
    if isinstance(node, _ArrayStub):
        state = node.state
        return state[4] if state is not None and isinstance(state[4], list) else ()
    return None


def _own_bytes(node: Any, where: str) -> int:
    """Bytes the node itself takes once rebuilt (children not included)."""
    if isinstance(node, str):
        return 49 + len(node)
    if isinstance(node, (bytes, bytearray)):
        return 33 + len(node)
    if isinstance(node, (list, tuple)):
        return 56 + 8 * len(node)
    if isinstance(node, dict):
        return 64 + 24 * len(node)
    if isinstance(node, np.ndarray):
        return 112 + node.nbytes
    if isinstance(node, _ArrayStub):
        state = node.state
        if state is None:
            return 112
        shape, dtype_stub = state[1], state[2]
        if not (
            isinstance(shape, tuple)
            and all(isinstance(n, int) and n >= 0 for n in shape)
            and isinstance(dtype_stub, _DTypeStub)
        ):
            raise LegacyFormatError("malformed pickled numpy array shape or dtype")
        return 112 + math.prod(shape) * dtype_stub.to_numpy().itemsize
    return 32


def _measure(root: Any, where: str) -> int:
    """Bytes ``root`` takes once every shared reference is copied; raise over the limits.

    One post-order pass over the distinct objects (shared ones memoised by ``id``), no
    recursion: cost is linear in the pickle stream, not in the expanded value.
    """
    lim = limits.current()
    budget, max_depth = lim.max_pickle_bytes, lim.max_json_depth
    memo: dict[int, tuple[int, int]] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        kids = _children(node)
        if kids is None:
            continue
        nid = id(node)
        if not done:
            if nid in memo:
                continue
            if nid in active:
                raise LegacyFormatError("pickled data refers to itself (a cycle)")
            active.add(nid)
            stack.append((node, True))
            stack.extend((k, False) for k in kids if type(k) in _NESTED and id(k) not in memo)
            continue
        active.discard(nid)
        cost, depth = _own_bytes(node, where), 0
        for kid in kids:
            kind = type(kid)
            if kind is str:
                cost += 49 + len(kid)
            elif kind in _SCALARS:
                cost += 32
            else:
                known = memo.get(id(kid))
                if known is None:
                    cost += _own_bytes(kid, where)
                else:
                    cost += known[0]
                    if known[1] > depth:
                        depth = known[1]
        if cost > budget:
            raise limits.exceeded(
                f"{where}: pickled chunk expands to more than {budget} bytes", "max_pickle_bytes"
            )
        depth += 1
        if depth > max_depth:
            raise limits.exceeded(
                f"{where}: pickled chunk nested deeper than {max_depth} levels", "max_json_depth"
            )
        memo[nid] = (cost, depth)
    if id(root) in memo:
        return memo[id(root)][0]
    cost = _own_bytes(root, where)
    if cost > budget:
        raise limits.exceeded(
            f"{where}: pickled chunk expands to {cost} bytes", "max_pickle_bytes", cost
        )
    return cost


def _element_count(value: Any) -> int | None:
    if isinstance(value, _ArrayStub) and value.state is not None:
        shape = value.state[1]
        return math.prod(shape) if isinstance(shape, tuple) else None
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, (list, tuple)):
        return len(value)
    return None


def safe_unpickle(
    data: bytes | bytearray | memoryview, where: str, shape: tuple[int, ...] | None = None
) -> Any:
    """Decode a pickle stream as plain data (see the module docstring for what is allowed).

    Parameters
    ----------
    data : bytes-like
        One pickle stream, e.g. a numcodecs ``Pickle`` chunk after decompression.
    where : str
        The array path (and chunk key) being decoded, used in error messages.
    shape : tuple of int, optional
        The chunk shape the array declares: a pickled array (or list) must hold as many
        elements, checked before anything is allocated.

    Returns
    -------
    object
        A numpy array for a pickled ``ndarray`` (object elements as plain Python values,
        hdmf-zarr references as ``dict``), otherwise the plain Python value.

    Raises
    ------
    UnsafePickleError
        If the stream names any global other than the allowed stand-ins.
    LegacyFormatError
        If the stream is malformed or its array does not match its declared shape and dtype.
    LimitExceededError
        If the value would take more than ``limits.max_pickle_bytes`` once built (shared
        references counted each time) or nests deeper than ``limits.max_json_depth``.
    """
    try:
        value = SafeUnpickler(io.BytesIO(bytes(data)), where).load()
        if shape is not None:
            count, expected = _element_count(value), math.prod(shape)
            if count is not None and count != expected:
                raise LegacyFormatError(
                    f"pickled chunk holds {count} elements, the chunk shape {tuple(shape)} "
                    f"needs {expected}"
                )
        _measure(value, where)
        return _plain(value)
    except LimitExceededError:
        raise
    except LegacyFormatError as exc:
        if str(exc).startswith(where):
            raise
        raise type(exc)(f"{where}: {exc}") from None
    except Exception as exc:  # any pickle/typing error: refuse, never fall back
        raise LegacyFormatError(
            f"{where}: cannot decode the pickled chunk as plain data ({type(exc).__name__}: {exc})"
        ) from None
