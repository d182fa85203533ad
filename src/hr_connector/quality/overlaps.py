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
from itertools import accumulate, compress, count, repeat
from operator import add, and_, eq, le, mul, ne

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
    who = list(map(persons.__getitem__, rows))
    # day numbers, each distinct date text parsed once; a missing or unparsable start skips the
    # row (validation blocks it), an empty end is open-ended, an unparsable one skips the row
    picked = list(map(starts.__getitem__, rows))
    start_of = {t: _day(t, parse, NEVER) for t in set(picked)}
    first = list(map(start_of.__getitem__, picked))
    if ends is None:
        last = [OPEN] * len(rows)
    else:
        picked = list(map(ends.__getitem__, rows))
        end_of = {t: _day(t, parse, -1, blank=OPEN) for t in set(picked)}
        last = list(map(end_of.__getitem__, picked))
    order = _by_person_and_start(who, first, last, grouped=_grouped(who, len(many)))
    p = list(map(who.__getitem__, order))
    s = list(map(first.__getitem__, order))
    e = list(map(last.__getitem__, order))
    # a person has an overlap only if two of their periods that follow each other by start do
    # (else every period ends before the next starts): the few such persons are swept below
    adjacent = map(and_, map(eq, p[1:], p[:-1]), map(le, s[1:], e[:-1]))
    suspects = set(compress(p[1:], adjacent))
    pairs: list[tuple[int, int]] = []
    current: Value = None
    open_spans: list[tuple[int, int]] = []
    for k in compress(count(), map(suspects.__contains__, p)):
        i = rows[order[k]]
        if p[k] != current:
            current, open_spans = p[k], []
        elif open_spans:
            still = [(end, j) for end, j in open_spans if end >= s[k]]
            pairs.extend((min(i, j), max(i, j)) for _end, j in still)
            open_spans = still
        open_spans.append((e[k], i))
    pairs.sort()
    return pairs


def _grouped(who: list[Value], persons: int) -> bool:
    """Whether each person's rows follow each other (as most HR exports have them)."""
    return sum(map(ne, who[1:], who[:-1])) + 1 == persons if who else True


def _by_person_and_start(
    who: list[Value], first: list[int], last: list[int], grouped: bool
) -> list[int]:
    """The positions whose period does not end before it starts, each person's together (in
    no particular order of persons: each is swept alone), by start, then position (stable
    sorts on plain keys: no tuple comparisons).

    ``grouped`` (each person's rows already follow each other): one sort of integers, the
    person's group number, then the start. Otherwise: by start, then by person.
    """
    valid = compress(count(), map(le, first, last))
    if not grouped:
        order = sorted(valid, key=first.__getitem__)
        order.sort(key=who.__getitem__)
        return order
    groups = accumulate(map(ne, who[1:], who[:-1]), initial=0)
    keys = list(map(add, map(mul, groups, repeat(NEVER + 1)), first))
    return sorted(valid, key=keys.__getitem__)


#: The day number of an open end, and of a missing or unreadable start (after every end; an
#: unreadable end is -1, before every start).
OPEN = date.max.toordinal()
NEVER = OPEN + 1


def _day(text: Value, parse: Callable[[str], date | None], bad: int, blank: int = NEVER) -> int:
    """The date's day number; ``blank`` for an empty text, ``bad`` for one that does not parse."""
    if not text or text.isspace():
        return blank
    day = parse(text)
    return bad if day is None else day.toordinal()
