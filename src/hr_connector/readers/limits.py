"""The limits every reader shares, declared once."""

from __future__ import annotations

#: Longest field (CSV) or value (JSON, XML) accepted, in characters. Bigger ones are refused.
MAX_FIELD_CHARS = 1 << 20

#: Longest physical CSV line accepted, in characters.
MAX_LINE_CHARS = 32 * MAX_FIELD_CHARS

#: Most bytes that may stand before the root element of an XML file.
MAX_PROLOG_BYTES = 16 * 1024 * 1024

#: Records a JSON or XML reader collects before it turns them into columns (bounded memory).
BATCH = 50_000
