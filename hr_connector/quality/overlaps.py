"""Overlapping work periods: one person (same unique ID) with two periods at the same time.

Only people with more than one row are looked at (found with one pass over the unique-ID
column); their periods are sorted by start date and each period is compared with the latest
end date seen so far. An empty end date is open-ended. Rows whose dates do not parse are left
to validation, which blocks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from itertools import compress, count

from hr_connector.records import Value


def repeated(values: Sequence[Value]) -> set[Value]:
    seen: set[Value] = set()
    add = seen.add
    return {v for v in values if v in seen or add(v)}  # type: ignore[func-returns-value]


def overlapping(
    persons: Sequence[Value],
    starts: Sequence[Value],
    ends: Sequence[Value] | None,
    parse: Callable[[str], date | None],
) -> list[tuple[int, int]]:
    """Pairs (earlier row, later row) of one person's periods that overlap, in row order."""
    many = {p for p in repeated(persons) if p and not p.isspace()}
    if not many:
        return []
    periods: dict[str, list[tuple[date, date, int]]] = {}
    for i in compress(count(), map(many.__contains__, persons)):
        start_text = starts[i]
        start = parse(start_text) if start_text and not start_text.isspace() else None
        if start is None:
            continue
        end_text = ends[i] if ends is not None else None
        if end_text and not end_text.isspace():
            end = parse(end_text)
            if end is None or end < start:
                continue  # validation blocks the row
        else:
            end = date.max
        periods.setdefault(persons[i], []).append((start, end, i))  # type: ignore[index]
    pairs: list[tuple[int, int]] = []
    for spans in periods.values():
        if len(spans) < 2:
            continue
        spans.sort()
        open_spans: list[tuple[date, int]] = []
        for start, end, i in spans:
            for other_end, j in open_spans:
                if other_end >= start:
                    pairs.append((min(i, j), max(i, j)))
            open_spans = [(e, j) for e, j in open_spans if e >= start]
            open_spans.append((end, i))
    pairs.sort()
    return pairs
