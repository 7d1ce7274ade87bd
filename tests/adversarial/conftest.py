"""Helpers of the adversarial suite: a secret file that must never leak, a runner that executes
a snippet in a subprocess under a memory cap, and a check that no marker file was left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: The token written into the secret file; no output of nwbzarr may ever contain it.
SECRET_TOKEN = "nwbzarr-secret-7f3a9c1e-do-not-leak"


@pytest.fixture
def secret_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file outside every test store (its own temporary directory) holding SECRET_TOKEN."""
    path = tmp_path_factory.mktemp("private") / "private.nwb"
    path.write_text(SECRET_TOKEN * 64)
    return path


def assert_no_secret(*texts: object) -> None:
    """Fail if SECRET_TOKEN appears in any of ``texts`` (str, bytes or a file path's bytes)."""
    for text in texts:
        if isinstance(text, Path):
            if text.is_dir():
                for f in text.rglob("*"):
                    if f.is_file():
                        assert SECRET_TOKEN.encode() not in f.read_bytes(), f
                continue
            text = text.read_bytes() if text.exists() else b""
        if isinstance(text, str):
            text = text.encode()
        assert SECRET_TOKEN.encode() not in bytes(text)


def run_capped(code: str, mem_mb: int = 1024, timeout: float = 120.0, env: dict | None = None):
    """Run ``code`` in a fresh Python with its address space capped at ``mem_mb`` MiB.

    The snippet should print one JSON line (``print(json.dumps(...))``) as its last output;
    the parsed value is returned with the completed process. A snippet that exceeds the cap
    fails with MemoryError, which the test then sees as a non-zero return code.
    """
    prelude = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({mem_mb} << 20, {mem_mb} << 20))
        """
    )
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )
    result = None
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    if lines:
        try:
            result = json.loads(lines[-1])
        except ValueError:
            result = None
    return proc, result


def marker_files(root: Path) -> list[Path]:
    """Files nwbzarr uses as in-progress markers or temporaries left under ``root``."""
    found = []
    for f in root.rglob("*"):
        name = f.name
        if name.startswith(".nwbzarr-") or name.endswith(".partial") or ".tmp" in name:
            found.append(f)
    return found
