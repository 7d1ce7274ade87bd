"""Parallel writes of ``GenericDataChunkIterator`` data with a process pool.

``ZarrIO.write(number_of_jobs=n)`` creates each array (its metadata) in the parent process and
queues a :class:`ParallelJob` for it. :func:`write_parallel` then cuts every array into the
regions of its outer grid — shards, or chunks when the array is not sharded — so no two
workers ever write the same storage object, and hands groups of regions to a
``concurrent.futures.ProcessPoolExecutor``. Each worker opens the destination array by its
store path and computes each region's values with the iterator's own ``_get_data(selection)``,
so the result does not depend on the iterator's buffer shape. Shards of the layouts
:func:`nwbzarr.backend.shard_writer.shard_layout` accepts are written by a
:class:`~nwbzarr.backend.shard_writer.ShardStreamWriter` (no zarr merge per chunk).

Iterators travel to the workers the way hdmf intends: the process pool's own transport
serialises them, which ``GenericDataChunkIterator.__reduce__`` turns into
``_from_dict(_to_dict())`` (an iterator over a file reopens it in the worker). This module
never deserialises anything itself; it only checks up front that an iterator can be sent.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np
import zarr
from hdmf.data_utils import GenericDataChunkIterator

from ..errors import ParallelWriteError
from .shard_writer import stream_writer

Box = tuple[tuple[int, int], ...]

#: Tasks per worker and per dataset: enough for load balance, few enough to keep overhead low.
TASKS_PER_JOB = 4


@dataclass
class ParallelJob:
    """One array to fill in worker processes.

    Attributes
    ----------
    path : str
        Dataset path in the file (for messages), e.g. ``/acquisition/ts/data``.
    array_path : str
        Path of the array inside the store (``zarr.Array.path``).
    iterator : hdmf.data_utils.GenericDataChunkIterator
        The iterator (checked with :func:`can_send_iterator`).
    dtype : numpy.dtype
        Storage dtype of the array.
    shape : tuple of int
        Array shape.
    grid : tuple of int
        Shape of a region: the shard shape, or the chunk shape of an unsharded array.
    """

    path: str
    array_path: str
    iterator: GenericDataChunkIterator
    dtype: np.dtype
    shape: tuple[int, ...]
    grid: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        """Uncompressed bytes the job writes."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def can_send_iterator(iterator: GenericDataChunkIterator) -> bool:
    """Return whether an iterator can be sent to worker processes (serialised by the pool).

    Parameters
    ----------
    iterator : hdmf.data_utils.GenericDataChunkIterator
        The iterator; hdmf pickles it as ``_from_dict(_to_dict())``, so a subclass must define
        both methods.

    Returns
    -------
    bool
        False when ``_to_dict``/``_from_dict`` are missing or the iterator's state holds
        objects that cannot be serialised.
    """
    try:
        ForkingPickler.dumps(iterator)  # what the process pool itself will do with it
    except Exception:  # PicklingError, NotImplementedError from _to_dict, TypeError, ...
        return False
    return True


def region_boxes(shape: tuple[int, ...], grid: tuple[int, ...]) -> list[Box]:
    """Return the regions of a regular grid over ``shape``, clipped to it, in C order.

    Parameters
    ----------
    shape : tuple of int
        Array shape.
    grid : tuple of int
        Region shape (shard or chunk shape), same length as ``shape``.

    Returns
    -------
    list of tuple of (int, int)
        One ``((start, stop), ...)`` box per region; empty for an empty array.
    """
    ranges = [range(0, n, g) for n, g in zip(shape, grid)]
    return [
        tuple((s, min(s + g, n)) for s, g, n in zip(starts, grid, shape))
        for starts in itertools.product(*ranges)
    ]


def write_parallel(
    store_root: str,
    jobs: list[ParallelJob],
    number_of_jobs: int,
    max_threads_per_process: int | None = None,
    multiprocessing_context: str | None = None,
    progress: Callable[[int], Any] | None = None,
) -> None:
    """Fill the arrays of ``jobs`` in a pool of worker processes.

    Parameters
    ----------
    store_root : str
        Local directory of the Zarr store; each worker opens the arrays under it.
    jobs : list of ParallelJob
        Arrays already created (metadata written) in the store.
    number_of_jobs : int
        Number of worker processes (at most the number of tasks).
    max_threads_per_process : int, optional
        Threads each worker may use: zarr's ``threading.max_workers`` and, when threadpoolctl
        is installed, BLAS/OpenMP pools.
    multiprocessing_context : str, optional
        ``"fork"``, ``"spawn"`` or ``"forkserver"``; None uses the platform default.
    progress : callable, optional
        Called in the parent with the bytes (uncompressed) of each finished task.

    Raises
    ------
    ParallelWriteError
        A worker raised or died; names the dataset and regions, chains the original error.
        Tasks not yet started are cancelled.
    """
    tasks: list[tuple[int, list[Box]]] = []
    for index, job in enumerate(jobs):
        boxes = region_boxes(job.shape, job.grid)
        n_tasks = min(len(boxes), TASKS_PER_JOB * number_of_jobs)
        for part in range(n_tasks):
            group = boxes[part * len(boxes) // n_tasks : (part + 1) * len(boxes) // n_tasks]
            tasks.append((index, group))
    if not tasks:
        return
    payloads = [(job.array_path, job.iterator, job.dtype) for job in jobs]
    context = multiprocessing.get_context(multiprocessing_context)
    with ProcessPoolExecutor(
        max_workers=min(number_of_jobs, len(tasks)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(str(store_root), payloads, max_threads_per_process),
    ) as pool:
        futures = {pool.submit(_write_task, index, boxes): (index, boxes) for index, boxes in tasks}
        remaining = set(futures)
        while remaining:
            finished, remaining = wait(remaining, return_when=FIRST_EXCEPTION)
            for future in finished:
                exc = future.exception()
                if exc is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                    index, boxes = futures[future]
                    raise _task_error(jobs[index], boxes, exc) from exc
                if progress is not None:
                    progress(future.result())


def _task_error(job: ParallelJob, boxes: list[Box], exc: BaseException) -> ParallelWriteError:
    first = ", ".join(f"{a}:{b}" for a, b in boxes[0])
    last = ", ".join(f"{a}:{b}" for a, b in boxes[-1])
    what = "a worker process died" if isinstance(exc, BrokenProcessPool) else "a worker failed"
    return ParallelWriteError(
        f"{job.path}: {what} while writing regions [{first}] to [{last}]: "
        f"{type(exc).__name__}: {exc}. The store stays marked incomplete; fix the cause and "
        "write again (number_of_jobs=1 runs the iterator in this process)"
    )


# -- worker side ----------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _init_worker(store_root: str, payloads: list, max_threads: int | None) -> None:
    if max_threads is not None:
        zarr.config.set({"threading.max_workers": int(max_threads)})
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            pass
        else:
            _WORKER["limits"] = threadpool_limits(limits=int(max_threads))
    _WORKER["root"] = store_root
    _WORKER["payloads"] = payloads
    _WORKER["open"] = {}


def _write_task(index: int, boxes: list[Box]) -> int:
    """Write ``boxes`` of job ``index``; return the bytes written."""
    opened = _WORKER["open"]
    if index not in opened:
        array_path, iterator, dtype = _WORKER["payloads"][index]
        array = zarr.open_array(_WORKER["root"], path=array_path, mode="r+")
        opened[index] = (array, iterator, dtype)
    array, iterator, dtype = opened[index]
    # shards of the codecs nwbzarr creates are encoded chunk by chunk and written as files
    # (same bytes as zarr's own write); any other array goes through zarr
    writer = stream_writer(array, tuple(array.shape), dtype, threads=0)
    nbytes = 0
    try:
        for box in boxes:
            selection = tuple(slice(a, b) for a, b in box)
            values = np.asarray(iterator._get_data(selection=selection), dtype=dtype)
            if writer is not None and all(a < b for a, b in box):
                writer.add(box, values)
            else:
                array[selection] = values
            nbytes += values.nbytes
            del values
        if writer is not None:
            writer.finish()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    return nbytes
