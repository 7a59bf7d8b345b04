"""Turning one landing file, whatever its packaging, into a stream of UTF-8 blocks of whole lines.

What is recognised from the first bytes (never from the file name):
- gzip (``.csv.gz`` exports) is decompressed as a stream;
- a UTF-8 BOM is dropped; UTF-16/UTF-32 (with a BOM, or UTF-16 without one, told by its NUL pattern) is
  transcoded to UTF-8;
- any other binary content (zip/xlsx, xls, PDF, parquet, images, bzip2/xz/zstd, NUL bytes) rejects the file as
  a whole: "not a CSV file (...)";
- legacy 8-bit exports (Windows-1252, else Latin-1) are detected from the first block when the encoding is
  ``auto``: bytes that are not valid UTF-8 and no valid multi-byte UTF-8 sequence anywhere in that block.

Line endings are normalised to ``\\n``: ``\\r\\n`` and a lone ``\\r`` (old Mac / CR-only exports) both end a line,
as they do for the CSV parser, so physical line numbers are the same for every kind of file.

Every block yielded ends at a line end; memory is bounded by the block size, not the file size.
"""

from __future__ import annotations

import codecs
import gzip
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from sources.crm.settings import ENCODINGS

BLOCK_SIZE = 16 << 20
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
# (magic bytes, what the file is): formats people drop into a landing folder by mistake
_BINARY_MAGIC = (
    (b"PK\x03\x04", "zip archive (xlsx/docx/zip)"),
    (b"\xd0\xcf\x11\xe0", "OLE document (xls)"),
    (b"%PDF", "PDF document"),
    (b"PAR1", "parquet file"),
    (b"\x89PNG", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ", "xz archive"),
    (b"\x28\xb5\x2f\xfd", "zstd archive"),
    (b"7z\xbc\xaf", "7z archive"),
    (b"SQLite format 3", "SQLite database"),
)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class CsvFileError(ValueError):
    """The file as a whole cannot be read as CSV (it is quarantined with this reason)."""


@dataclass
class TextStream:
    """Whole-line UTF-8 blocks of one file and how they were obtained."""

    blocks: Iterator[bytes]
    encoding: str  # utf-8 | utf-8-sig | utf-16-le | ... | windows-1252 | latin-1
    compression: str | None  # gzip | None
    line_endings: str  # lf | crlf | cr | none


def open_text(raw: IO[bytes], encoding: str = "auto", block_size: int = BLOCK_SIZE) -> TextStream:
    """Recognise the packaging of ``raw`` from its first bytes and stream it as UTF-8 blocks of whole lines."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding '{encoding}' (use one of {', '.join(ENCODINGS)})")
    head = raw.read(block_size)
    compression = None
    if head[:2] == b"\x1f\x8b":
        compression = "gzip"
        stream = gzip.GzipFile(fileobj=_Prepend(head, raw))
        try:
            head = stream.read(block_size)
        except (OSError, EOFError, zlib.error) as exc:
            raise CsvFileError(f"not a CSV file (damaged gzip data: {exc})") from exc
        raw = stream
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise CsvFileError(f"not a CSV file ({what})")
    text_encoding, head = _text_encoding(head, encoding)
    chunks = _chunks(head, raw, block_size, compression)
    if text_encoding.startswith(("utf-16", "utf-32")):
        chunks = _transcode(chunks, text_encoding)
    elif text_encoding in ("windows-1252", "latin-1"):
        chunks = (c.decode(text_encoding, "replace").encode("utf-8") for c in chunks)
    first_nl, first_cr = head.find(b"\n"), head.find(b"\r")
    endings = (
        "none"
        if first_nl == -1 and first_cr == -1
        else "cr"
        if first_nl == -1
        else "crlf"
        if first_cr != -1 and first_cr == first_nl - 1
        else "lf"
    )
    if text_encoding.startswith(("utf-16", "utf-32")):
        endings = "transcoded"
    blocks = _whole_lines(chunks)
    if text_encoding.startswith("utf-8"):
        blocks = map(_valid_utf8, blocks)
    return TextStream(blocks, text_encoding, compression, endings)


REPLACEMENT = "\ufffd".encode()


def _valid_utf8(block: bytes) -> bytes:
    """The block itself when it is valid UTF-8; else with each undecodable byte as U+FFFD (its line is rejected)."""
    try:
        block.decode("utf-8")
        return block
    except UnicodeDecodeError:
        return block.decode("utf-8", "replace").encode("utf-8")


def _text_encoding(head: bytes, encoding: str) -> tuple[str, bytes]:
    """The text encoding of a file from its first block (and the block without a UTF-8 BOM)."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            if name == "utf-8-sig":
                return name, head[len(bom) :]
            return name, head
    if b"\x00" in head:
        sample = head[:4096]
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > len(sample) // 4 and even == 0:
            return "utf-16-le", head
        if even > len(sample) // 4 and odd == 0:
            return "utf-16-be", head
        raise CsvFileError("not a CSV file (binary data: NUL bytes)")
    if encoding in ("windows-1252", "latin-1"):
        return encoding, head
    try:
        # the block may end inside a multi-byte character: judge the complete lines
        head[: head.rfind(b"\n") + 1 or len(head)].decode("utf-8")
        return "utf-8", head
    except UnicodeDecodeError:
        pass
    if encoding == "auto" and not _UTF8_MULTIBYTE.search(head):
        # no valid multi-byte UTF-8 sequence anywhere: an 8-bit legacy export, not damaged UTF-8
        try:
            head.decode("windows-1252")
            return "windows-1252", head
        except UnicodeDecodeError:
            return "latin-1", head
    return "utf-8", head


class _Prepend:
    """A file object that reads ``head`` first, then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head, self._raw = head, raw

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                out, self._head = self._head + self._raw.read(), b""
                return out
            out, self._head = self._head[:size], self._head[size:]
            return out
        return self._raw.read(size)


def _chunks(head: bytes, raw: IO[bytes], block_size: int, compression: str | None) -> Iterator[bytes]:
    if head:
        yield head
    while True:
        try:
            chunk = raw.read(block_size)
        except (OSError, EOFError, zlib.error) as exc:
            raise CsvFileError(f"damaged {compression or 'file'} data after the first block: {exc}") from exc
        if not chunk:
            return
        yield chunk


def _transcode(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    decoder = codecs.getincrementaldecoder(encoding.replace("-sig", ""))("replace")
    first = True
    for chunk in chunks:
        text = decoder.decode(chunk)
        if first:
            text, first = text.removeprefix("\ufeff"), False
        yield text.encode("utf-8")
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail.encode("utf-8")


def _whole_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Normalise line ends to ``\\n`` and re-cut the chunks at line ends; the last line always gets its ``\\n``."""
    carry = b""
    for chunk in chunks:
        data = carry + chunk
        if data.endswith(b"\r"):  # may be the first half of \r\n: decide with the next chunk
            data, carry = data[:-1], b"\r"
        else:
            carry = b""
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        carry = data[cut:] + carry
    if carry:
        tail = carry.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        yield tail if tail.endswith(b"\n") else tail + b"\n"
