"""Overlapping work periods: one person (same unique ID) with two periods at the same time.

Only people with more than one row are looked at (found with one pass over the unique-ID
column); their periods are sorted by start date and each period is compared with the latest
end date seen so far. An empty end date is open-ended. Rows whose dates do not parse are left
to validation, which blocks them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date
from itertools import compress, count
from operator import itemgetter

from hr_connector.records import Value


def repeated(values: Sequence[Value]) -> set[Value]:
    """The values that occur more than once (``Counter`` counts in C)."""
    return {v for v, n in Counter(values).items() if n > 1}


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
    rows = list(compress(count(), map(many.__contains__, persons)))
    pick = itemgetter(*rows) if len(rows) > 1 else (lambda values: (values[rows[0]],))
    who = pick(persons)
    # each distinct date text parsed once; a missing or unparsable start skips the row (the
    # validation blocks it), an empty end is open-ended, an unparsable one skips the row
    start_of = {t: _date(t, parse, None) for t in set(pick(starts))}
    first = list(map(start_of.__getitem__, pick(starts)))
    if ends is None:
        last: list[date | None] = [date.max] * len(rows)
    else:
        end_of = {t: _date(t, parse, date.max) for t in set(pick(ends))}
        last = list(map(end_of.__getitem__, pick(ends)))
    periods = sorted(
        (p, s, e, i)
        for p, s, e, i in zip(who, first, last, rows, strict=True)
        if s is not None and e is not None and s <= e
    )
    pairs: list[tuple[int, int]] = []
    current: Value = None
    open_spans: list[tuple[date, int]] = []
    for person, start, end, i in periods:
        if person != current:
            current, open_spans = person, []
        elif open_spans:
            still = [(e, j) for e, j in open_spans if e >= start]
            pairs.extend((min(i, j), max(i, j)) for _e, j in still)
            open_spans = still
        open_spans.append((end, i))
    pairs.sort()
    return pairs


def _date(text: Value, parse: Callable[[str], date | None], blank: date | None) -> date | None:
    if not text or text.isspace():
        return blank
    return parse(text)
