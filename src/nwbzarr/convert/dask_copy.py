"""Array data copied as Dask tasks on a ``dask.distributed`` cluster during conversion.

The builder tree, attributes and array metadata are written in the converting process; each
array whose source is an HDF5 dataset or a Zarr array in a local directory is then filled by
tasks, one per shard-aligned run of leading rows (one shard row, see
:func:`nwbzarr.backend.fill.block_rows`), so no two tasks write the same shard or chunk object.
A task opens the source by file path (h5py or zarr) and the destination array by store path,
so workers must see the same filesystem as the converting process (local or shared disk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from ..errors import ConversionError, UnsupportedOptionError

__all__ = ["CopyTask", "DaskCopies", "copy_region", "get_client"]


@dataclass(frozen=True)
class CopyTask:
    """One shard-aligned block copy: rows ``[start, stop)`` of one array.

    Attributes
    ----------
    dst_root : str
        Destination store directory.
    array_path : str
        Array path inside the destination store.
    src_kind : str
        ``"hdf5"`` or ``"zarr"``.
    src_root : str
        HDF5 file path, or source Zarr store directory.
    src_path : str
        Dataset (array) path inside the source.
    start, stop : int
        Leading-row range.
    kept : bool
        Whether the destination keeps the source's storage settings (raw chunk copy allowed).
    nbytes : int
        Uncompressed bytes of the block (for progress).
    """

    dst_root: str
    array_path: str
    src_kind: str
    src_root: str
    src_path: str
    start: int
    stop: int
    kept: bool
    nbytes: int


class DaskCopies:
    """Collects block copies while the builder tree is written; runs them on a cluster.

    Parameters
    ----------
    dst_root : str or pathlib.Path
        The destination store directory.
    """

    def __init__(self, dst_root: str | Path) -> None:
        self.dst_root = str(Path(dst_root).resolve())
        self.tasks: list[CopyTask] = []

    def __call__(self, array: zarr.Array, data: Any, kept: bool, step: int) -> bool:
        """Record the copy of ``data`` into ``array``; False if it must run in-process.

        Parameters
        ----------
        array : zarr.Array
            The destination array, already created in the store at :attr:`dst_root`.
        data : Any
            The source data.
        kept : bool
            Whether ``array`` keeps the storage settings of ``data``.
        step : int
            Leading rows per block (one shard row).

        Returns
        -------
        bool
            True if the copy was recorded (only ``h5py.Dataset`` and ``zarr.Array`` sources
            in a local directory are).
        """
        source = _source_of(data)
        if source is None or np.dtype(array.dtype).kind not in "biufc":
            return False
        kind, root, path = source
        row = math.prod(array.shape[1:]) * np.dtype(array.dtype).itemsize
        for start in range(0, array.shape[0], step):
            stop = min(array.shape[0], start + step)
            self.tasks.append(
                CopyTask(
                    self.dst_root, array.path, kind, root, path, start, stop, kept,
                    (stop - start) * row,
                )
            )  # fmt: skip
        return True

    def run(self, client: Any, progress: Any = None) -> None:
        """Run the recorded copies on ``client`` and wait for all of them.

        Parameters
        ----------
        client : distributed.Client
            A connected client.
        progress : callable, optional
            Called with the uncompressed bytes of each completed task.

        Raises
        ------
        ConversionError
            If a task fails; the message names the dataset and rows, the cause is chained.
            Tasks not yet run are cancelled.
        """
        from distributed import as_completed

        futures = {
            client.submit(copy_region, task, pure=False, key=f"nwbzarr-copy-{i}"): task
            for i, task in enumerate(self.tasks)
        }
        try:
            for future in as_completed(futures):
                task = futures[future]
                try:
                    future.result()
                except Exception as exc:
                    raise ConversionError(
                        f"{task.src_root}:/{task.src_path.lstrip('/')}: copying rows "
                        f"{task.start}:{task.stop} on the Dask cluster failed: {exc}"
                    ) from exc
                if progress is not None:
                    progress(task.nbytes)
        finally:
            client.cancel([f for f in futures if not f.done()])


def copy_region(task: CopyTask) -> int:
    """Copy one block (a Dask task; runs on a worker).

    Parameters
    ----------
    task : CopyTask
        What to copy.

    Returns
    -------
    int
        Uncompressed bytes copied.
    """
    from concurrent.futures import ThreadPoolExecutor

    import h5py

    from ..backend.rawcopy import copy_raw_rows, raw_plan

    array = zarr.open_array(task.dst_root, path=task.array_path, mode="r+")
    dtype = np.dtype(array.dtype)
    if task.src_kind == "zarr":
        source = zarr.open_array(task.src_root, path=task.src_path, mode="r")
        array[task.start : task.stop] = np.asarray(source[task.start : task.stop], dtype=dtype)
        return task.nbytes
    with h5py.File(task.src_root, "r") as f:
        dset = f[task.src_path]
        plan = raw_plan(array, dset) if task.kept else None
        if plan is not None:
            with ThreadPoolExecutor(max_workers=2) as pool:
                copy_raw_rows(array, dset, plan, task.start, task.stop, pool)
        else:
            array[task.start : task.stop] = np.asarray(dset[task.start : task.stop], dtype=dtype)
    return task.nbytes


def get_client(scheduler: Any) -> tuple[Any, bool]:
    """Return ``(client, owned)`` for a scheduler address or an existing client.

    Parameters
    ----------
    scheduler : str or distributed.Client
        A scheduler address (``"tcp://host:8786"``) or a connected client.

    Returns
    -------
    tuple
        The client, and whether it was created here (and must be closed by the caller).

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed (``pip install nwbzarr[dask]``).
    """
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError(
            "Dask scale-out needs dask.distributed: pip install 'nwbzarr[dask]'"
        ) from exc
    if isinstance(scheduler, Client):
        return scheduler, False
    if not isinstance(scheduler, str):
        raise UnsupportedOptionError(
            f"dask_scheduler must be a scheduler address or a distributed.Client, "
            f"not {type(scheduler).__name__}"
        )
    return Client(scheduler), True


def _source_of(data: Any) -> tuple[str, str, str] | None:
    """``(kind, root, path)`` of an HDF5 dataset or a local Zarr array, else None."""
    from ..backend.dataio import ZarrDataIO

    if ZarrDataIO.is_h5py_dataset(data):
        return "hdf5", str(Path(data.file.filename).resolve()), data.name
    if isinstance(data, zarr.Array):
        from zarr.storage import LocalStore

        store = data.store
        if isinstance(store, LocalStore):
            return "zarr", str(Path(store.root).resolve()), data.path
    return None
