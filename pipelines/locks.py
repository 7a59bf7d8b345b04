"""Inter-process locks on a local data dir: one run at a time per dlt pipeline and per local warehouse writer.

A lock is ``fcntl.flock`` on a small file that holds the owner's pid. The kernel releases it when the owner
exits, also on ``kill -9``, so a crashed run never leaves a stale lock behind. A second run waits for the lock
(saying for what) up to ``mdw.lock_timeout_s``, then stops with :class:`LockTimeout`.

These locks work for a local data dir (one machine). In production, Airflow's ``max_active_runs=1`` per
ingest DAG and the one-slot writer pool serialise runs; the locks then only guard each worker's own files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

POLL_S = 0.2


class LockTimeout(RuntimeError):
    """Another process held a lock longer than this run was willing to wait; the message says who and what to do."""


def _owner(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


@contextlib.contextmanager
def exclusive(path: Path, what: str, timeout_s: float, progress: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock file ``path`` for the block; ``what`` names the holder in messages ("a run of crm").

    Waits up to ``timeout_s`` for another process that holds it, printing once what it waits for.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        said = False
        while not _try_lock(fd):
            owner = _owner(path)
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"another {what} is in progress (pid {owner}); waited {timeout_s:g} s: let it finish and run "
                    "again, or raise mdw.lock_timeout_s"
                )
            if not said and progress:
                progress(f"waiting for another {what} to finish (pid {owner}, lock {path}), up to {timeout_s:g} s")
                said = True
            time.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def held_new(path: Path) -> Iterator[None]:
    """Create the lock file ``path`` (a new, unique name) already locked and hold it for the block.

    The file is made and locked under a temporary name, then renamed, so no other process ever finds ``path``
    unheld while its owner lives: an unheld one means the owner has ended (see :func:`is_held`).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        os.rename(temporary, path)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def is_held(path: Path) -> bool:
    """Whether a live process holds the lock file ``path`` (False when the file does not exist)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)
