"""Buffered writes of data chunk iterators: each shard (or chunk) is written once, when complete.

Writing part of a shard makes zarr read, decode, re-encode and write the whole shard, so an
iterator that yields small pieces would rewrite each shard many times. :class:`RegionBuffer`
copies the pieces of each region of the array's outer grid (a shard, or a chunk when the array
is not sharded) into a numpy buffer of that region's shape and writes the region once it is
full; regions still partly filled are written when the iterator ends. Memory stays at the
yielded piece plus the regions partly filled, capped at ``max(2 x region, 64 MiB)``: beyond it
the oldest partial region is written piece by piece (read-modify-write, correct but slower).

New sharded arrays of a numeric dtype on a local store, with the codecs nwbzarr creates, skip
the shard buffer: a :class:`~nwbzarr.backend.shard_writer.ShardStreamWriter` encodes each inner
chunk as soon as it is whole and writes the shard files itself (same bytes as zarr-python),
with memory bounded by the chunks in flight. Pieces that are not boxes of slices end the
stream (what it holds is written) and continue through zarr as above.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import zarr
from hdmf.data_utils import DataChunk

from ..errors import ChunkIteratorError
from .shard_writer import ShardStreamWriter, stream_writer

#: Lowest cap (bytes) on the partial regions one iterator may hold in memory.
MIN_BUFFER_BYTES = 64 * 2**20

Box = tuple[tuple[int, int], ...]


class _Region:
    """A partly filled region of the outer grid: its box, buffer and filled pieces."""

    __slots__ = ("box", "values", "filled", "pieces")

    def __init__(self, box: Box, dtype: Any, fill_value: Any) -> None:
        self.box = box
        self.values = np.empty(tuple(b - a for a, b in box), dtype=dtype)
        self.values[...] = fill_value
        self.filled = 0
        self.pieces: list[Box] = []

    @property
    def size(self) -> int:
        return math.prod(b - a for a, b in self.box)


class RegionBuffer:
    """Collect the chunks of one iterator per shard (or chunk) and write each region once.

    Parameters
    ----------
    array : zarr.Array
        The new array being filled (its shape may grow along unlimited dimensions).
    dtype : numpy.dtype or type
        Storage dtype; ``str`` for variable-length text (values are converted with ``convert``).
    maxshape : tuple of (int or None)
        The iterator's ``maxshape``; ``None`` marks a dimension of unknown length.
    path : str
        Dataset path, used in error messages.
    convert : callable
        ``convert(values) -> numpy.ndarray`` of the storage dtype.
    progress : callable, optional
        Called with the number of bytes (uncompressed) of each write.
    streaming : bool
        Use a :class:`~nwbzarr.backend.shard_writer.ShardStreamWriter` when the array allows
        it (:func:`~nwbzarr.backend.shard_writer.shard_layout`); False always writes through
        zarr.
    """

    def __init__(
        self,
        array: zarr.Array,
        dtype: Any,
        maxshape: tuple,
        path: str,
        convert: Callable[[Any], np.ndarray],
        progress: Callable[[int], Any] | None = None,
        streaming: bool = True,
    ) -> None:
        self.array = array
        self.path = path
        self.convert = convert
        self.progress = progress
        self.grid = tuple(int(g) for g in (array.shards or array.chunks))
        ndim = len(array.shape)
        maxshape = tuple(maxshape) if maxshape is not None else (None,) * ndim
        self.limit = tuple(None if m is None else int(m) for m in maxshape)
        self.extent = [int(s) for s in array.shape]
        self.buffer_dtype = object if dtype is str else np.dtype(dtype)
        self.pending: dict[tuple[int, ...], _Region] = {}
        self.done: set[tuple[int, ...]] = set()
        itemsize = 8 if dtype is str else np.dtype(dtype).itemsize
        region_bytes = math.prod(self.grid) * itemsize
        self.max_bytes = max(2 * region_bytes, MIN_BUFFER_BYTES)
        self.buffered_bytes = 0
        self.stream: ShardStreamWriter | None = (
            stream_writer(array, self.limit, dtype) if streaming and ndim else None
        )

    # -- public -----------------------------------------------------------------------------
    def add(self, chunk: DataChunk) -> None:
        """Place one yielded chunk: into region buffers, or straight into the array when it
        covers whole regions (or uses a selection other than slices and integers)."""
        values = self.convert(chunk.data)
        box, values = self._box(chunk.selection, values)
        if box is None:
            self._end_stream()
            self._direct(chunk.selection, values, chunk.get_min_bounds())
            return
        for axis, (_, stop) in enumerate(box):
            self.extent[axis] = max(self.extent[axis], stop)
        if self.stream is not None:
            if all(a < b for a, b in box):
                self.stream.add(box, values)
                if self.progress is not None:
                    self.progress(int(values.nbytes))
            return
        ranges = [range(a // g, -(-b // g)) for (a, b), g in zip(box, self.grid)]
        for block in itertools.product(*ranges):
            region_box = self._region_box(block)
            inter = tuple((max(a, c), min(b, d)) for (a, b), (c, d) in zip(box, region_box))
            if any(a >= b for a, b in inter):
                continue
            piece = values[tuple(slice(a - s, b - s) for (a, b), (s, _) in zip(inter, box))]
            if block in self.done:
                self._write(inter, piece)
            elif inter == region_box and block not in self.pending:
                self._write(inter, piece)  # a whole region: no copy
                self.done.add(block)
            else:
                self._buffer(block, region_box, inter, piece)
        while self.buffered_bytes > self.max_bytes and self.pending:
            self._spill(next(iter(self.pending)))

    def finish(self) -> None:
        """Write every partly filled region and set the array's final shape."""
        self._end_stream()
        for block in list(self.pending):
            region = self.pending.pop(block)
            box = tuple((a, min(b, e)) for (a, b), e in zip(region.box, self.extent))
            if all(a < b for a, b in box):
                sub = tuple(slice(0, b - a) for a, b in box)
                self._write(box, region.values[sub])
        self.buffered_bytes = 0
        self._grow()

    def abort(self) -> None:
        """Drop what the streaming writer holds (its temporary shard files are removed);
        called when the iterator fails, so no partial shard is left behind."""
        if self.stream is not None:
            self.stream.abort()
            self.stream = None

    # -- internals --------------------------------------------------------------------------
    def _end_stream(self) -> None:
        """Finish the streaming writer: its shards are written, the array is resized and
        later pieces go through zarr (every region it reached counts as written)."""
        if self.stream is None:
            return
        stream, self.stream = self.stream, None
        stream.finish()
        self._grow()
        self.done.update(self._all_blocks())

    def _region_box(self, block: tuple[int, ...]) -> Box:
        out = []
        for i, g, lim in zip(block, self.grid, self.limit):
            start, stop = i * g, (i + 1) * g
            out.append((start, stop if lim is None else min(stop, max(lim, start + 1))))
        return tuple(out)

    def _buffer(self, block: tuple[int, ...], region_box: Box, inter: Box, piece: Any) -> None:
        region = self.pending.get(block)
        if region is None:
            region = _Region(region_box, self.buffer_dtype, self.array.fill_value)
            self.pending[block] = region
            self.buffered_bytes += region.values.nbytes
        local = tuple(slice(a - s, b - s) for (a, b), (s, _) in zip(inter, region.box))
        region.values[local] = piece
        region.filled += math.prod(b - a for a, b in inter)
        region.pieces.append(inter)
        if region.filled >= region.size:
            self._flush(block)

    def _flush(self, block: tuple[int, ...]) -> None:
        region = self.pending.pop(block)
        self.buffered_bytes -= region.values.nbytes
        self._write(region.box, region.values)
        self.done.add(block)

    def _spill(self, block: tuple[int, ...]) -> None:
        """Write what a partial region holds (its bounding box if the pieces tile it, else
        piece by piece) so that its buffer can be dropped."""
        region = self.pending.pop(block)
        self.buffered_bytes -= region.values.nbytes
        lows = [min(p[i][0] for p in region.pieces) for i in range(len(region.box))]
        highs = [max(p[i][1] for p in region.pieces) for i in range(len(region.box))]
        bbox = tuple(zip(lows, highs))
        boxes = [bbox] if math.prod(b - a for a, b in bbox) == region.filled else region.pieces
        for box in boxes:
            local = tuple(slice(a - s, b - s) for (a, b), (s, _) in zip(box, region.box))
            self._write(box, region.values[local])
        self.done.add(block)

    def _grow(self) -> None:
        if tuple(self.extent) != tuple(self.array.shape):
            shape = tuple(max(e, s) for e, s in zip(self.extent, self.array.shape))
            self.array.resize(shape)

    def _write(self, box: Box, values: np.ndarray) -> None:
        self._grow()
        self.array[tuple(slice(a, b) for a, b in box)] = values
        if self.progress is not None:
            self.progress(int(values.nbytes))

    def _direct(self, selection: Any, values: np.ndarray, bounds: tuple) -> None:
        """Write a selection that is not a box of slices, after writing every partial region
        (so that later pieces keep overwriting earlier ones)."""
        while self.pending:
            self._spill(next(iter(self.pending)))
        for axis, b in enumerate(bounds):
            self.extent[axis] = max(self.extent[axis], int(b))
        self._grow()
        self.array[selection] = values
        self.done.update(self._all_blocks())
        if self.progress is not None:
            self.progress(int(values.nbytes))

    def _all_blocks(self) -> set[tuple[int, ...]]:
        ranges = [range(-(-e // g)) for e, g in zip(self.extent, self.grid)]
        return set(itertools.product(*ranges))

    def _box(self, selection: Any, values: np.ndarray) -> tuple[Box | None, np.ndarray]:
        """Return the box ``((start, stop), ...)`` of a selection of slices and integers and
        the values shaped to it, or ``(None, values)`` for any other selection."""
        ndim = len(self.extent)
        sel = selection if isinstance(selection, tuple) else (selection,)
        if len(sel) > ndim or ndim == 0:
            return None, values
        sel = sel + (slice(None),) * (ndim - len(sel))
        ints = [i for i, s in enumerate(sel) if isinstance(s, (int, np.integer))]
        if any(not isinstance(s, (slice, int, np.integer)) for s in sel):
            return None, values
        if values.ndim == ndim - len(ints):
            values = np.expand_dims(values, tuple(ints)) if ints else values
        elif values.ndim != ndim:
            return None, values
        box = []
        for axis, s in enumerate(sel):
            if isinstance(s, (int, np.integer)):
                if s < 0:
                    return None, values
                box.append((int(s), int(s) + 1))
                continue
            if s.step not in (None, 1):
                return None, values
            start = 0 if s.start is None else int(s.start)
            stop = start + values.shape[axis] if s.stop is None else int(s.stop)
            if start < 0 or stop < 0:
                return None, values
            box.append((start, max(start, stop)))
        box = tuple(box)
        for axis, ((a, b), lim) in enumerate(zip(box, self.limit)):
            if lim is not None and b > lim:
                raise ChunkIteratorError(
                    f"{self.path}: a chunk selects [{a}:{b}] on axis {axis}, beyond the "
                    f"iterator's maxshape {lim}; fix the iterator's maxshape or selections"
                )
        shape = tuple(b - a for a, b in box)
        if values.shape != shape:
            try:
                values = np.broadcast_to(values, shape)
            except ValueError as exc:
                raise ChunkIteratorError(
                    f"{self.path}: a chunk of shape {values.shape} does not fit its selection "
                    f"{selection!r} (shape {shape})"
                ) from exc
        return box, values
