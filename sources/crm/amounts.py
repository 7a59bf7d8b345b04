"""The decimal separator of a file's amounts, decided from the amounts themselves.

Each value is classified (vectorised): a value readable only with ``.`` decimals (``100.50``, ``1,234.50``) is
evidence for ``.``; one readable only with ``,`` decimals (``100,50``, ``1.234,50``) is evidence for ``,``;
a lone separator followed by exactly three digits (``1.234``, ``1,234``) is *ambiguous* (a thousands separator or
a three-decimal amount); plain integers fit both. A file with evidence for one style is read with it; evidence
for both is *mixed* and one with only ambiguous values is *ambiguous*: such a file is quarantined with that
reason, never read as a guess (``sources.crm.decimal`` fixes the separator instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

DECIMAL_STYLES = ("auto", ".", ",")
DECIMAL_TYPE = pa.decimal128(18, 2)
_VALID = {
    ".": r"^-?(\d+|\d{1,3}(,\d{3})+)(\.\d{1,2})?$",
    ",": r"^-?(\d+|\d{1,3}(\.\d{3})+)(,\d{1,2})?$",
}
_AMBIGUOUS = r"^-?\d{1,3}[.,]\d{3}$"


class DecimalStyleError(ValueError):
    """The file's amounts do not tell which decimal separator it uses (mixed or ambiguous)."""


def readable(text: pa.ChunkedArray, style: str) -> pa.ChunkedArray:
    """True where ``text`` is a number with the ``style`` decimal separator (``auto``: with either)."""
    if style == "auto":
        return pc.or_(pc.match_substring_regex(text, _VALID["."]), pc.match_substring_regex(text, _VALID[","]))
    return pc.match_substring_regex(text, _VALID[style])


def to_decimal(text: pa.ChunkedArray, style: str, ok: pa.ChunkedArray | None = None) -> pa.ChunkedArray:
    """Decimal values of numbers written with the ``style`` separator (unreadable values become 0: mask them);
    ``ok``: ``readable(text, style)`` when the caller has it already (each regex pass costs)."""
    safe = pc.if_else(readable(text, style) if ok is None else ok, text, "0")
    if style == ",":
        safe = pc.replace_substring(pc.replace_substring(safe, ".", ""), ",", ".")
    else:
        safe = pc.replace_substring(safe, ",", "")
    return pc.cast(safe, DECIMAL_TYPE)


@dataclass
class DecimalEvidence:
    """What the amounts of one file seen so far say about its decimal separator."""

    column: str
    dot: tuple[int, str] | None = None  # first (line, value) readable only with '.'
    comma: tuple[int, str] | None = None
    ambiguous: tuple[int, str] | None = None

    def add(self, text: pa.ChunkedArray, lines: pa.ChunkedArray) -> pa.ChunkedArray:
        """Record the evidence of ``text`` (trimmed readable numbers or nulls) and return its ambiguous mask."""
        dot_ok = pc.match_substring_regex(text, _VALID["."])
        comma_ok = pc.match_substring_regex(text, _VALID[","])
        ambiguous = pc.match_substring_regex(text, _AMBIGUOUS)
        plain = pc.invert(ambiguous)
        self.dot = self.dot or _first(pc.and_(pc.and_(dot_ok, pc.invert(comma_ok)), plain), text, lines)
        self.comma = self.comma or _first(pc.and_(pc.and_(comma_ok, pc.invert(dot_ok)), plain), text, lines)
        self.ambiguous = self.ambiguous or _first(ambiguous, text, lines)
        return ambiguous

    def decide(self) -> str:
        """The file's separator, or :class:`DecimalStyleError` naming the lines that disagree."""
        if self.dot and self.comma:
            raise DecimalStyleError(
                f"mixed decimal separators in {self.column}: {self.dot[1]!r} (line {self.dot[0]}) has a '.' "
                f"decimal, {self.comma[1]!r} (line {self.comma[0]}) a ',' decimal; fix the export or set "
                "sources.crm.decimal"
            )
        if self.dot or self.comma:
            return "." if self.dot else ","
        if self.ambiguous:
            raise DecimalStyleError(
                f"ambiguous decimal separator in {self.column}: {self.ambiguous[1]!r} (line {self.ambiguous[0]}) "
                "may be a thousands separator or a decimal, and no amount in the file decides it; "
                "set sources.crm.decimal to '.' or ','"
            )
        return "."  # only whole numbers: both readings agree


def _first(mask: pa.ChunkedArray, text: pa.ChunkedArray, lines: pa.ChunkedArray) -> tuple[int, str] | None:
    mask = pc.fill_null(mask, False)
    if not pc.any(mask).as_py():
        return None
    i = pc.index(mask, True).as_py()
    return int(lines[i].as_py()), str(text[i].as_py())
