"""Appends killed at many moments, failed appends, and readers during an append.

The child process appends to a copy of a rich store (a new 6 MB series, units whose index must
widen from uint8, an interval row) and kills itself with SIGKILL at the N-th journal event:
after a log line, before or after an atomic file write, or half way through writing a
temporary file. Whatever N, the store must read back with either its previous content or the
complete append, a read-only reader must see the previous content even before any recovery,
and the next writable open must leave the store byte for byte as committed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import build_rich_file, write

import nwbzarr
from nwbzarr.storage.journal import JOURNAL_DIR

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from pynwb import TimeSeries
    import nwbzarr
    from nwbzarr.storage import journal

    store, kill_at, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    count = 0
    original_write = journal.atomic_write_bytes
    original_note = journal.JournaledStore._note

    def tick():
        global count
        count += 1
        return count == kill_at

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def atomic(path, data):
        if tick():
            if how == "mid":  # half a temporary file on disk, then death
                tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path)
                                   + journal.TMP_INFIX + "killed")
                os.makedirs(os.path.dirname(tmp), exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(bytes(memoryview(data))[: max(1, len(memoryview(data)) // 2)])
            die()
        original_write(path, data)
        if tick():
            die()

    def note(self, op, key):
        original_note(self, op, key)
        if tick():
            die()

    journal.atomic_write_bytes = atomic
    journal.JournaledStore._note = note
    rng = np.random.default_rng(0)
    with nwbzarr.NWBZarrIO(store, mode="a") as io:
        nwb = io.read()
        nwb.units.add_unit(spike_times=np.linspace(10.0, 20.0, 300), quality="good",
                           electrodes=[5])
        nwb.intervals["sleep"].add_interval(start_time=70.0, stop_time=80.0, stage="N1")
        data = rng.standard_normal((200_000, 8)).astype("f4")
        nwb.add_acquisition(TimeSeries(name="late", data=data, unit="V", rate=1000.0))
        io.write(nwb)
    print("EVENTS", count)
    """
)


def store_files(store: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()
    }


def content(store: Path) -> tuple:
    """What a reader sees: acquisition names, row counts, the spike times."""
    with nwbzarr.NWBZarrIO(str(store), mode="r") as io:
        nwb = io.read()
        spikes = [list(np.asarray(nwb.units["spike_times"][i])) for i in range(len(nwb.units))]
        late = None
        if "late" in nwb.acquisition:
            late = float(np.asarray(nwb.acquisition["late"].data[-1]).sum())
        return (
            sorted(nwb.acquisition),
            len(nwb.intervals["sleep"]),
            len(nwb.units),
            spikes,
            late,
        )


def run_child(store: Path, kill_at: int, how: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(store), str(kill_at), how],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> dict:
    """The rich store, its files and content before, and the content after a full append."""
    base = tmp_path_factory.mktemp("crash")
    original = write(build_rich_file(), base / "rich.nwb.zarr")
    full = base / "full.nwb.zarr"
    shutil.copytree(original, full)
    proc = run_child(full, 0, "clean")
    assert proc.returncode == 0, proc.stderr
    events = int(proc.stdout.split("EVENTS")[1])
    return {
        "store": original,
        "files": store_files(original),
        "before": content(original),
        "after": content(full),
        "events": events,
    }


# ~25 s of kill-and-recover cycles: pure file operations, not version-specific, so CI runs
# it in pass 1 only (the other append-crash tests run in every pass)
@pytest.mark.slow
def test_append_killed_at_many_moments_keeps_previous_content(committed, tmp_path):
    events = committed["events"]
    assert events >= 10, events
    before, after = committed["before"], committed["after"]
    assert before != after
    points = sorted({1, 2, 3, events - 1, events, *np.linspace(1, events, 9).astype(int)})
    plans = [(n, "clean") for n in points] + [(n, "mid") for n in points[1::3]]
    outcomes = []
    for n, how in plans:
        store = tmp_path / f"kill-{n}-{how}.nwb.zarr"
        shutil.copytree(committed["store"], store)
        proc = run_child(store, n, how)
        assert proc.returncode == -signal.SIGKILL, (n, how, proc.stderr[-2000:])
        seen = content(store)  # read-only, before any recovery: the committed state
        assert seen in (before, after), (n, how)
        with (
            pytest.warns(UserWarning, match="rolled back")
            if seen == before and (store / JOURNAL_DIR).exists()
            else _no_warning()
        ):
            nwbzarr.NWBZarrIO(str(store), mode="a").close()  # recovery on writable open
        assert not (store / JOURNAL_DIR).exists()
        assert not [p for p in store.rglob("*") if ".nwbzarr-tmp-" in p.name]
        if seen == before:
            assert store_files(store) == committed["files"], (n, how)  # byte for byte
        assert content(store) == seen
        outcomes.append(seen == after)
        shutil.rmtree(store)
    assert not all(outcomes) and not any(outcomes[:3])  # early kills roll back


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_readers_during_appends_never_fail(committed, tmp_path):
    store = tmp_path / "busy.nwb.zarr"
    shutil.copytree(committed["store"], store)
    writer = textwrap.dedent(
        """
        import sys, time
        import numpy as np
        from pynwb import TimeSeries
        import nwbzarr
        for i in range(6):
            with nwbzarr.NWBZarrIO(sys.argv[1], mode="a") as io:
                nwb = io.read()
                nwb.intervals["sleep"].add_interval(
                    start_time=100.0 + i, stop_time=101.0 + i, stage="N2")
                nwb.units.add_unit(spike_times=np.linspace(0, 1, 50 + i), quality="good",
                                   electrodes=[1])
                data = np.full((100_000, 8), i, dtype="f4")
                nwb.add_acquisition(TimeSeries(name=f"s{i}", data=data, unit="V", rate=1.0))
                io.write(nwb)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(store)], stderr=subprocess.PIPE)
    opens, failures, states = 0, [], set()
    lock = threading.Lock()

    def reader() -> None:
        nonlocal opens
        while proc.poll() is None:
            try:
                with nwbzarr.NWBZarrIO(str(store), mode="r") as io:
                    nwb = io.read()
                    rows = len(nwb.intervals["sleep"])
                    units = len(nwb.units)
                    series = sorted(k for k in nwb.acquisition if k.startswith("s"))
                    values = [float(np.asarray(nwb.acquisition[k].data[-1])[0]) for k in series]
                    tail = np.asarray(nwb.units["spike_times"][units - 1])
                state = (rows, units, tuple(series))
                assert rows - 2 == units - 3 == len(series), state  # one append = one step
                assert values == [float(k[1:]) for k in series]
                assert len(tail) in (5, *(50 + i for i in range(6)))
                with lock:
                    opens += 1
                    states.add(state)
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                with lock:
                    failures.append(repr(exc))
            time.sleep(0.01)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    err = proc.stderr.read().decode()
    assert proc.wait() == 0, err
    assert failures == [], failures[:3]
    assert opens >= 5
    assert content(store)[1] == 8  # all six appends landed
    assert not (store / JOURNAL_DIR).exists()


def test_widening_rolled_back_on_failure(committed, tmp_path):
    store = tmp_path / "widen.nwb.zarr"
    shutil.copytree(committed["store"], store)
    with pytest.raises(RuntimeError, match="stop"):
        with nwbzarr.NWBZarrIO(str(store), mode="a") as io:
            nwb = io.read()
            nwb.units.add_unit(
                spike_times=np.linspace(10.0, 20.0, 300), quality="good", electrodes=[5]
            )
            raise RuntimeError("stop")
    assert store_files(store) == committed["files"]


def test_no_marker_left_by_a_failed_or_killed_append(committed, tmp_path):
    store = tmp_path / "marker.nwb.zarr"
    shutil.copytree(committed["store"], store)
    proc = run_child(store, max(2, committed["events"] // 2), "clean")
    assert proc.returncode == -signal.SIGKILL
    root = (store / "zarr.json").read_text()
    assert "_WRITE_IN_PROGRESS" not in root  # an append never marks the committed root
    assert os.path.isdir(store / JOURNAL_DIR)


def test_rewritten_array_keeps_old_chunks_for_readers_until_collected(committed, tmp_path):
    from nwbzarr.storage.journal import GARBAGE_FILE, collect_garbage

    store = tmp_path / "garbage.nwb.zarr"
    shutil.copytree(committed["store"], store)
    index = store / "units" / "spike_times_index"
    old_chunks = sorted(p.name for p in (index / "c").iterdir())
    with nwbzarr.NWBZarrIO(str(store), mode="r") as old_reader:
        old = old_reader.read()  # opened on the committed root, reads lazily
        with nwbzarr.NWBZarrIO(str(store), mode="a") as io:
            nwb = io.read()
            nwb.units.add_unit(
                spike_times=np.linspace(10.0, 20.0, 300), quality="good", electrodes=[5]
            )
            io.write(nwb)
        # the index was widened into chunks under other keys; the old ones are still there
        assert any(p.name.startswith("c.") for p in index.iterdir())
        assert sorted(p.name for p in (index / "c").iterdir()) == old_chunks
        assert (store / GARBAGE_FILE).is_file()
        np.testing.assert_array_equal(
            np.asarray(old.units["spike_times"][2]), [2.0, 2.5, 3.0, 3.5, 4.0]
        )
    assert collect_garbage(store, grace=60.0) == 0  # too young: kept for slow readers
    assert collect_garbage(store, grace=0.0) == len(old_chunks)
    assert not (index / "c").exists() and not (store / GARBAGE_FILE).exists()
    with nwbzarr.NWBZarrIO(str(store), mode="r") as io:
        units = io.read().units
        assert len(units["spike_times"][3]) == 300
        assert units["spike_times_index"].data.dtype.itemsize >= 2
