"""The limits every reader shares, declared once.

A reader imports the names it uses; tests may shrink a reader's own ``BLOCK`` (the fast readers
look the name up in their module) without touching the others.
"""

from __future__ import annotations

#: Longest field (CSV) or value (JSON, XML) accepted, in characters. Bigger ones are refused,
#: not read into memory.
MAX_FIELD_CHARS = 1 << 20

#: Longest physical CSV line accepted, in characters: a record of many short fields is refused
#: before the csv module splits it into millions of strings.
MAX_LINE_CHARS = 32 * MAX_FIELD_CHARS

#: Bytes read per block by the fast readers.
BLOCK = 8 << 20

#: Buffered bytes without a record boundary before the fast JSON reader hands over to the
#: reference reader.
MAX_BUFFER = 8 * BLOCK

#: Most bytes that may stand before the root element of an XML file.
MAX_PROLOG_BYTES = 16 * 1024 * 1024


class Unsupported(Exception):
    """The fast reader does not handle this file; the reference reader will."""
