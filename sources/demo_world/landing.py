"""CRM landing files of the demo world: ``contacts_NNN.csv`` and ``orders_NNN.csv``, split by time."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

from sources.crm.settings import CONTACT_COLUMNS, ORDER_COLUMNS
from sources.demo_world.world import DemoWorld


def csv_bytes(columns: Sequence[str], rows: Sequence[dict[str, str]]) -> bytes:
    """UTF-8 CSV with a header row, comma separated, ``\\n`` line ends, minimal quoting."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_if_changed(path: Path, data: bytes) -> None:
    """Write atomically, and only when the content differs (keeps mtimes of unchanged files stable)."""
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _chunks(n_rows: int, files: int) -> list[tuple[int, int]]:
    return [(n_rows * k // files, n_rows * (k + 1) // files) for k in range(files)]


def write_crm_landing(world: DemoWorld, folder: Path, files: int = 3) -> list[Path]:
    """Write the world's CRM exports into ``folder``; returns the contacts paths, then the orders paths.

    Contacts are split into ``files`` parts of equal size in sign-up order; orders into ``files`` equal
    periods of the window. Same world -> same bytes; files whose content is unchanged are not rewritten.
    """
    if files < 1:
        raise ValueError(f"files must be at least 1, got {files}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    contacts = world.contacts
    for k, (lo, hi) in enumerate(_chunks(len(contacts), files), start=1):
        path = folder / f"contacts_{k:03d}.csv"
        write_if_changed(path, csv_bytes(CONTACT_COLUMNS, contacts[lo:hi]))
        paths.append(path)
    parts: list[list[dict[str, str]]] = [[] for _ in range(files)]
    for fact, row in zip(world.order_facts, world.orders, strict=True):
        parts[fact.day * files // world.days].append(row)
    for k, part in enumerate(parts, start=1):
        path = folder / f"orders_{k:03d}.csv"
        write_if_changed(path, csv_bytes(ORDER_COLUMNS, part))
        paths.append(path)
    return paths
