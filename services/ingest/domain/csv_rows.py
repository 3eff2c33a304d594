"""Decode a CSV file as it arrives, in chunks of any size, a batch of rows at a time.

UTF-8 (with or without a byte-order mark) is decoded incrementally and the text handed to
`csv.reader` a line at a time, so a quoted field that holds a comma or a line break reads as
one field and only one batch of rows is in memory at once.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections.abc import Iterable, Iterator

from services.ingest.domain.json_rows import NotUtf8

# Rows per batch: 5,000 Last.fm rows are about 400 KB of Python strings.
CSV_BATCH_ROWS = 5_000
# A line of a listening-history CSV is a few hundred characters; one with no end in sight
# after this many is not one.
MAX_LINE_CHARS = 32 * 1024 * 1024


class CsvFault(ValueError):
    """The file is not well-formed CSV at data row `row` (1 is the first row, header or not)."""

    def __init__(self, message: str, row: int) -> None:
        super().__init__(message)
        self.message, self.row = message, row


def csv_rows(chunks: Iterable[bytes]) -> Iterator[list[list[str]]]:
    """The rows of one CSV document arriving as `chunks`, in batches of `CSV_BATCH_ROWS`;
    blank lines are skipped. Raises NotUtf8 or CsvFault at the first fault (a field over
    csv's 128 KiB limit is one: no name or date is that long)."""
    reader = csv.reader(_lines(chunks), strict=True)
    read = 0
    while True:
        try:
            batch = [row for row in itertools.islice(reader, CSV_BATCH_ROWS) if row]
        except csv.Error as fault:
            raise CsvFault(str(fault), reader.line_num) from None
        if not batch and reader.line_num == read:
            return
        read = reader.line_num
        if batch:
            yield batch


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text of `chunks`, a line (with its line break) at a time; CsvFault when no line
    ends within `MAX_LINE_CHARS` (so a file with no line breaks is not held whole)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    line_no = 0
    for chunk in chunks:
        try:
            pending += decoder.decode(chunk)
        except UnicodeDecodeError:
            raise NotUtf8() from None
        *lines, pending = pending.split("\n")
        for line in lines:
            line_no += 1
            yield line + "\n"
        if len(pending) > MAX_LINE_CHARS:
            raise CsvFault(
                f"a line runs past {MAX_LINE_CHARS:,} characters with no line break",
                line_no + 1,
            )
    try:
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise NotUtf8() from None
    if pending:
        yield pending
