"""``python -m sources.demo_world --out DIR [--scale S] [--seed N] [--files K]``: write the CRM landing files."""

from __future__ import annotations

import argparse
from pathlib import Path

from sources.demo_world import DemoWorld, write_crm_landing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sources.demo_world", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="landing folder for the CRM CSV files")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies contacts and orders (default 1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--files", type=int, default=3, help="files per table (default 3)")
    args = parser.parse_args(argv)
    world = DemoWorld(seed=args.seed, scale=args.scale)
    paths = write_crm_landing(world, args.out, files=args.files)
    print(f"demo world seed={args.seed} scale={args.scale}: {len(world.contacts)} contacts, {len(world.orders)} orders")
    for path in paths:
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
