"""Filling arrays with data: block copies from array-likes and data chunk iterators.

A copy moves one shard-aligned block of leading rows at a time, so memory stays bounded by the
shard size (128 MiB by default) whatever the source size. Chunk iterators are drained at once
or round-robin (``exhaust_dci=False``) through a per-shard buffer (:mod:`.stream`) that grows
their array as chunks arrive (``maxshape`` None); with ``write(number_of_jobs=n)``,
``GenericDataChunkIterator`` data goes to worker processes instead (:mod:`.parallel`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import zarr
from hdmf.data_utils import AbstractDataChunkIterator, GenericDataChunkIterator
from tqdm import tqdm

from ..compat import is_hdf5_filter_error
from ..conventions.layout import TEXT_ITEMSIZE
from ..errors import CorruptChunkError
from ..storage.journal import JournaledStore
from ..storage.write_back import WriteBackStore
from .dataio import ZarrDataIO
from .lazy import checked_read
from .parallel import ParallelJob, can_send_iterator, write_parallel
from .rawcopy import copy_raw_rows, raw_plan
from .stream import RegionBuffer
from .text import text_array


@dataclasses.dataclass
class _ParallelOptions:
    number_of_jobs: int = 1
    max_threads_per_process: int | None = None
    multiprocessing_context: str | None = None
    jobs: list = dataclasses.field(default_factory=list)


class Filler:
    """Moves data into arrays a :class:`nwbzarr.backend.write.Writer` created: block copies,
    queued chunk iterators and the worker-process jobs of one ``write`` call.

    Parameters
    ----------
    store : zarr store
        The store being written (worker processes open its local directory by path).
    flush : callable
        Lands every buffered write in the store (called before worker processes start).
    progress : callable, optional
        Receives the number of uncompressed bytes written, block by block.
    copy_sink : callable, optional
        ``(array, data, kept, step) -> bool`` taking over block copies (e.g.
        :class:`nwbzarr.convert.dask_copy.DaskCopies`); True means it will copy ``data``.
    """

    def __init__(
        self,
        store: Any,
        flush: Callable[[], None],
        progress: Callable[[int], Any] | None = None,
        copy_sink: Callable[..., bool] | None = None,
    ) -> None:
        self.store = store
        self.flush = flush
        self.progress = progress
        self.copy_sink = copy_sink
        #: Options of the current ``write`` call (one process outside ``write``).
        self.parallel = _ParallelOptions()
        #: ``(RegionBuffer, iterator)`` pairs waiting for :meth:`exhaust_iterators`.
        self.iterators: list = []

    def copy_blocks(self, array: zarr.Array, data: Any, dtype: Any, kept: bool = False) -> None:
        """Copy ``data`` into ``array`` one shard-aligned block of leading rows at a time.

        Parameters
        ----------
        array : zarr.Array
            The array to fill (its full shape).
        data : array-like
            The values.
        dtype : numpy.dtype or str
            Storage dtype (``str`` for text).
        kept : bool
            ``array`` was created with the storage settings of ``data``.
        """
        step = block_rows(array)
        n = array.shape[0]
        if (
            self.copy_sink is not None
            and dtype is not str
            and self.copy_sink(array, data, kept, step)
        ):
            return
        if kept and self._copy_raw(array, data, step):
            return
        for start in range(0, n, step):
            stop = min(n, start + step)
            block = _read_block(data, start, stop)
            values = text_array(block) if dtype is str else np.asarray(block, dtype=dtype)
            array[start:stop] = values
            if self.progress is not None:
                self.progress(values.nbytes)

    def _copy_raw(self, array: zarr.Array, data: Any, step: int) -> bool:
        """Copy an HDF5 dataset's stored chunk bytes into ``array`` if they can be reused."""
        if not ZarrDataIO.is_h5py_dataset(data):
            return False
        plan = raw_plan(array, data)
        if plan is None:
            return False
        with ThreadPoolExecutor(max_workers=copy_threads()) as pool:
            for start in range(0, array.shape[0], step):
                nbytes = copy_raw_rows(array, data, plan, start, start + step, pool)
                if self.progress is not None:
                    self.progress(nbytes)
        return True

    def queue_iterator(
        self, array: zarr.Array, data: AbstractDataChunkIterator, dtype: Any, maxshape: tuple
    ) -> None:
        """Queue a chunk iterator's values for ``array``: for the worker pool when they can go
        there, else for :meth:`exhaust_iterators` (through a per-shard buffer that grows the
        array as chunks arrive, :mod:`nwbzarr.backend.stream`).

        Parameters
        ----------
        array : zarr.Array
            The array just created for the iterator (unbounded dimensions empty).
        data : hdmf.data_utils.AbstractDataChunkIterator
            The iterator.
        dtype : numpy.dtype or str
            Storage dtype.
        maxshape : tuple
            The iterator's maximum shape (None for unbounded dimensions).
        """
        path = f"/{array.path}"
        if self._queue_parallel(array, data, dtype, path):
            return

        def convert(values: Any) -> np.ndarray:
            return text_array(values) if dtype is str else np.asarray(values, dtype=dtype)

        buffer = RegionBuffer(array, dtype, maxshape, path, convert, self.progress)
        self.iterators.append((buffer, data))

    def exhaust_iterators(self) -> None:
        """Drain queued chunk iterators round-robin; each buffers its chunks per shard (or
        chunk) and writes a region once it is complete (:mod:`nwbzarr.backend.stream`)."""
        queue = self.iterators
        try:
            while queue:
                buffer, data = queue.pop(0)
                try:
                    chunk = next(data)
                except StopIteration:
                    buffer.finish()
                    continue
                except BaseException:
                    buffer.abort()
                    raise
                try:
                    buffer.add(chunk)
                except BaseException:
                    buffer.abort()
                    raise
                # drop the piece before the iterator makes the next: two pieces alive at once
                # would set the peak memory of a streamed write
                del chunk
                queue.append((buffer, data))
        except BaseException:
            for buffer, _ in queue:  # no temporary shard file is left behind
                buffer.abort()
            raise

    # -- parallel writes (write(number_of_jobs=...)) --------------------------------------------
    def _queue_parallel(self, array: zarr.Array, data: Any, dtype: Any, path: str) -> bool:
        """Queue ``data`` for the worker pool if it can go there; return whether it was."""
        if self.parallel.number_of_jobs <= 1 or not isinstance(data, GenericDataChunkIterator):
            return False
        if dtype is str or not array.shape or 0 in array.shape:
            return False
        store = _local_base(self.store)
        if not isinstance(store, zarr.storage.LocalStore):
            warnings.warn(
                f"{path}: worker processes cannot open a {type(store).__name__} by path, so "
                "this dataset is written in this process; write to a local directory to use "
                "number_of_jobs",
                stacklevel=2,
            )
            return False
        if not can_send_iterator(data):
            warnings.warn(
                f"{path}: {type(data).__name__} cannot be pickled for worker processes (define "
                "_to_dict and _from_dict, as hdmf's GenericDataChunkIterator asks), so this "
                "dataset is written in this process",
                stacklevel=2,
            )
            return False
        grid = tuple(int(g) for g in (array.shards or array.chunks))
        job = ParallelJob(path, array.path, data, np.dtype(dtype), tuple(array.shape), grid)
        self.parallel.jobs.append(job)
        return True

    @contextlib.contextmanager
    def session(
        self,
        number_of_jobs: int,
        max_threads_per_process: int | None,
        multiprocessing_context: str | None,
        progress: bool,
    ) -> Iterator[None]:
        """Set the parallel options and progress bar for one ``write`` call.

        Raises
        ------
        ValueError
            If ``number_of_jobs`` is less than 1.
        """
        if int(number_of_jobs) < 1:
            raise ValueError(f"number_of_jobs must be at least 1, not {number_of_jobs}")
        self.parallel = _ParallelOptions(
            int(number_of_jobs), max_threads_per_process, multiprocessing_context
        )
        previous = self.progress
        bar = tqdm(unit="B", unit_scale=True, desc="write") if progress else None
        if bar is not None:
            self.progress = bar.update
        try:
            yield
        finally:
            self.parallel = _ParallelOptions()
            self.progress = previous
            if bar is not None:
                bar.close()

    def exhaust_parallel(self) -> None:
        """Fill the arrays queued for worker processes (``write(number_of_jobs=n)``)."""
        options = self.parallel
        jobs, options.jobs = options.jobs, []
        if not jobs:
            return
        bar = getattr(self.progress, "__self__", None)
        if isinstance(bar, tqdm):
            bar.total = (bar.total or bar.n) + sum(job.nbytes for job in jobs)
            bar.refresh()
        self.flush()  # workers open the arrays by path: their metadata must be on disk
        write_parallel(
            str(_local_base(self.store).root),
            jobs,
            options.number_of_jobs,
            options.max_threads_per_process,
            options.multiprocessing_context,
            self.progress,
        )


def chunk_hint(data: AbstractDataChunkIterator, dtype: Any, chunk_bytes: int) -> Any:
    """The iterator's recommended chunk shape if it is at most ``2 x chunk_bytes``, else None
    (the layout policy chooses; docs/storage.md §6 rule 4). ``GenericDataChunkIterator``
    recommends ~10 MB chunks, which make every small window decode megabytes.

    Parameters
    ----------
    data : hdmf.data_utils.AbstractDataChunkIterator
        The iterator.
    dtype : numpy.dtype or str
        Storage dtype (``str`` for text).
    chunk_bytes : int
        Target uncompressed chunk size.

    Returns
    -------
    tuple or None
        The chunk shape to use, or None.
    """
    chunks = data.recommended_chunk_shape()
    if chunks is None:
        return None
    itemsize = TEXT_ITEMSIZE if dtype is str else np.dtype(dtype).itemsize
    if int(np.prod([max(1, int(c)) for c in chunks])) * itemsize > 2 * int(chunk_bytes):
        return None
    return chunks


def _local_base(store: Any) -> Any:
    """The store under a :class:`~nwbzarr.storage.write_back.WriteBackStore` or an append's
    :class:`~nwbzarr.storage.journal.JournaledStore` (else ``store``). Worker processes write
    only arrays the append creates, which a rollback removes whole with their node."""
    return store._store if isinstance(store, (WriteBackStore, JournaledStore)) else store


def block_rows(array: zarr.Array) -> int:
    """Leading rows per copy block: one shard (or chunk) row, so no two blocks share a shard."""
    outer = array.shards or array.chunks
    return max(1, int(outer[0])) if outer else 1


def copy_threads() -> int:
    """Threads decoding and re-framing chunks during a copy (the CPU count, at least 2)."""
    return max(2, os.cpu_count() or 1)


def _read_block(data: Any, start: int, stop: int) -> Any:
    if isinstance(data, zarr.Array):  # a chunk that does not decode: CorruptChunkError
        return checked_read(data, slice(start, stop))
    try:
        return data[start:stop]
    except OSError as err:  # h5py: a chunk's filters (deflate, ...) failed on its stored bytes
        if not is_hdf5_filter_error(err) or not hasattr(data, "chunks") or not data.chunks:
            raise
        raise _hdf5_chunk_error(data, start, stop, err) from err


def _hdf5_chunk_error(dset: Any, start: int, stop: int, err: OSError) -> Exception:
    """CorruptChunkError naming the dataset and the first chunk of rows that does not read."""
    step = dset.chunks[0]
    bad = f"rows {start}:{stop}"
    for row in range(start - start % step, stop, step):
        try:
            dset[row : min(row + step, stop)]
        except OSError:
            bad = f"the chunk at row {row}"
            break
    return CorruptChunkError(
        f"{dset.file.filename}: {dset.name}: {bad} cannot be decoded ({err}); the file is damaged"
    )
