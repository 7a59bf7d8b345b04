"""Write the saved benchmark tables (``tests/bench/results.py``) into the README's performance section.

``python -m tests.bench.readme`` (the last step of ``make bench``) replaces each block between
``<!-- bench:<id> -->`` and ``<!-- /bench:<id> -->`` with the table saved under that id; a block whose table was
not measured is left as it is and named in the output.
"""

from __future__ import annotations

import re
import sys

from tests.bench.results import ROOT, load

README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- bench:(?P<id>[\w.-]+) -->\n)(?P<body>.*?)(\n<!-- /bench:(?P=id) -->)", re.S)


def update(text: str) -> tuple[str, list[str], list[str]]:
    """The README text with every measured block replaced; (text, ids written, ids not measured)."""
    written: list[str] = []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        table = load(match["id"])
        if table is None:
            missing.append(match["id"])
            return match[0]
        written.append(match["id"])
        return match[1] + table.markdown() + match[4]

    return BLOCK.sub(replace, text), written, missing


def main() -> int:
    text, written, missing = update(README.read_text())
    README.write_text(text)
    print(f"README performance tables written: {', '.join(written) or 'none'}")
    if missing:
        print(f"not measured in this run (left as they were): {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
