"""The CRM's slice of the demo world: its customers and orders as the CRM's CSV exports.

``crm_export(world)`` renders the rows (the exact strings of the export: local times with their offset or as
UTC ``Z``, amounts with two decimals); ``write_crm_landing`` writes them as ``contacts_NNN.csv`` and
``orders_NNN.csv`` files, split by time.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

from marketing_dwh.demo_world import DemoWorld, catalog, clock
from marketing_dwh.demo_world.campaigns import Campaign
from sources.crm.settings import CONTACT_COLUMNS, ORDER_COLUMNS


@dataclass(frozen=True)
class CrmExport:
    contacts: list[dict[str, str]]  # keys = CONTACT_COLUMNS, in contact_id order
    orders: list[dict[str, str]]  # keys = ORDER_COLUMNS, in time order (``world.order_facts`` order)


@functools.cache
def crm_export(world: DemoWorld) -> CrmExport:
    """The CRM export rows of the world's customers and orders (cached per world; treat as read-only)."""
    rng = Random(f"demo-world/{world.seed}/crm-export")
    contacts = [
        {
            "contact_id": c.contact_id,
            "email": c.email,
            "created_at": clock.local_iso(c.created, c.zone, zulu=rng.random() < 0.5),
            "country": c.country,
            "phone": c.phone,
            "email_opt_in": "true" if c.email_opt_in else "false",
        }
        for c in world.customers
    ]
    orders = []
    for fact in world.order_facts:
        campaign = world.campaign(fact.campaign_id) if fact.campaign_id else None
        utm_source, utm_medium = _utm(fact.channel, campaign)
        orders.append(
            {
                "order_id": fact.order_id,
                "contact_id": fact.contact_id,
                "user_pseudo_id": fact.user_pseudo_id,
                "order_ts": clock.local_iso(fact.utc, fact.zone, zulu=rng.random() < 0.5),
                "order_date": clock.local_date(fact.utc, fact.zone).isoformat(),
                "amount": f"{fact.amount_cents // 100}.{fact.amount_cents % 100:02d}",
                "currency": fact.currency,
                "items": str(fact.items),
                "campaign_id": fact.campaign_id,
                "channel": fact.channel,
                "utm_source": utm_source,
                "utm_medium": utm_medium,
                "transaction_id": fact.transaction_id,
                "is_repeat": "true" if fact.is_repeat else "false",
                "payment_method": fact.payment_method,
            }
        )
    return CrmExport(contacts, orders)


def _utm(channel: str, campaign: Campaign | None) -> tuple[str, str]:
    if campaign is not None:
        return campaign.utm_source, campaign.utm_medium
    if channel == "organic":
        return catalog.ORGANIC[0], catalog.ORGANIC[1]
    return "", ""


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
    export = crm_export(world)
    contacts = export.contacts
    for k, (lo, hi) in enumerate(_chunks(len(contacts), files), start=1):
        path = folder / f"contacts_{k:03d}.csv"
        write_if_changed(path, csv_bytes(CONTACT_COLUMNS, contacts[lo:hi]))
        paths.append(path)
    parts: list[list[dict[str, str]]] = [[] for _ in range(files)]
    for fact, row in zip(world.order_facts, export.orders, strict=True):
        parts[fact.day * files // world.days].append(row)
    for k, part in enumerate(parts, start=1):
        path = folder / f"orders_{k:03d}.csv"
        write_if_changed(path, csv_bytes(ORDER_COLUMNS, part))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m sources.crm.demo --out DIR [--scale S] [--seed N] [--files K]``: write the CRM landing files."""
    parser = argparse.ArgumentParser(prog="python -m sources.crm.demo", description=main.__doc__)
    parser.add_argument("--out", type=Path, required=True, help="landing folder for the CRM CSV files")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies contacts and orders (default 1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--files", type=int, default=3, help="files per table (default 3)")
    args = parser.parse_args(argv)
    world = DemoWorld(seed=args.seed, scale=args.scale)
    paths = write_crm_landing(world, args.out, files=args.files)
    n_contacts, n_orders = len(world.customers), len(world.order_facts)
    print(f"demo world seed={args.seed} scale={args.scale}: {n_contacts} contacts, {n_orders} orders")
    for path in paths:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
