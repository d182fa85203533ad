"""Overlapping work periods: one person (same unique ID) with two periods at the same time.

Each distinct date text is parsed once (the run's ``date_formats``). Every valid period gets a
key ``person rank · 2²³ + start day`` and ``person rank · 2²³ + end day``; one global sort of the
start keys puts each person's periods together by start, and a search of each end key in them
gives the later periods that start before it ends: exactly the periods it overlaps (an empty end
date is open-ended; a period ending the day the next starts overlaps it). No window function, no
pair that does not overlap is ever built. A period whose person is blank, whose start is missing
or unreadable, whose end is unreadable, or that ends before it starts is left to validation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from hr_connector.quality.findings import CheckRun, no_findings
from hr_connector.quality.settings import CheckContext
from hr_connector.rules import date_parser

#: The day number of an open end (after every start); every day number is below ``_DAYS``.
OPEN = date.max.toordinal()
_DAYS = 1 << 23
CODES = ("overlapping_period",)


def reads(ctx: CheckContext) -> list[str]:
    return [ctx.unique_id, "employment_start_date", "employment_end_date"]


def day_numbers(
    texts: pl.Series, parse: Callable[[str], date | None], blank: int | None
) -> pl.Series:
    """Each text's day number (None: not a date); ``blank`` for an empty or missing one."""
    texts = texts.fill_null("")
    distinct = texts.unique()
    days = [
        (blank if not t.strip() else None if (d := parse(t)) is None else d.toordinal())
        for t in distinct.to_list()
    ]
    numbers = texts.replace_strict(distinct, pl.Series(days, dtype=pl.Int64))
    return numbers.cast(pl.Int64)  # (an empty series comes back as text)


def overlapping(
    persons: pl.Series,
    starts: pl.Series,
    ends: pl.Series | None,
    parse: Callable[[str], date | None],
) -> pl.DataFrame:
    """(a, b): the row pairs (a < b) of one person's overlapping periods, sorted."""
    periods = pl.DataFrame(
        {
            "person": persons,
            "start": day_numbers(starts, parse, None),
            "end": pl.repeat(OPEN, len(persons), dtype=pl.Int64, eager=True)
            if ends is None
            else day_numbers(ends, parse, OPEN).fill_null(-1),
        }
    ).with_row_index("row")
    periods = periods.filter(
        (pl.col("person").str.strip_chars() != "")
        & pl.col("start").is_not_null()
        & (pl.col("start") <= pl.col("end"))
    )
    group = pl.col("person").rank("dense").cast(pl.Int64) * _DAYS
    keyed = periods.select("row", first=group + pl.col("start"), last=group + pl.col("end"))
    keyed = keyed.sort("first")
    reach = keyed["first"].search_sorted(keyed["last"], side="right")
    later = keyed.select(
        a="row",
        k=pl.int_range(pl.len(), dtype=pl.UInt32),
        reach=reach,
    ).filter(pl.col("reach") > pl.col("k") + 1)
    spans = later.select("a", b=pl.int_ranges(pl.col("k") + 1, pl.col("reach"))).explode("b")
    other = keyed["row"].gather(spans["b"])
    return (
        pl.DataFrame({"i": spans["a"], "j": other})
        .select(a=pl.min_horizontal("i", "j"), b=pl.max_horizontal("i", "j"))
        .sort("a", "b")
    )


def find(frame: pl.DataFrame, ctx: CheckContext, run: CheckRun) -> pl.DataFrame:
    """(finding, row, code, column, detail): one finding per overlapping pair, over its two
    rows; the detail shows both periods (``WP3 2025-01-01 – … / WP5 2024-01-01 – 2025-01-01``)."""
    start, end = ctx.name("employment_start_date"), ctx.name("employment_end_date")
    if ctx.person not in frame.columns or start not in frame.columns:
        return no_findings()
    has_end = end in frame.columns
    pairs = overlapping(
        frame[ctx.person],
        frame[start],
        frame[end] if has_end else None,
        date_parser(
            ctx.schema.date_formats,
            pl.concat([frame[c] for c in {start, end} & set(frame.columns)]),
        ),
    )
    key = ctx.schema.key_column
    shown = [key, start, end] if has_end else [key, start]
    ends = pl.col(end).fill_null("") if has_end else pl.lit("")

    def spans(rows: pl.Series) -> pl.Series:
        return (
            frame.select(shown)[rows]
            .select(
                pl.concat_str(
                    pl.col(key).fill_null("").replace("", "-"),
                    pl.lit(" "),
                    pl.col(start).fill_null(""),
                    pl.lit(" – "),
                    pl.when(ends == "").then(pl.lit("…")).otherwise(ends),
                )
            )
            .to_series()
        )

    detail = spans(pairs["a"]) + " / " + spans(pairs["b"])
    finding = pl.int_range(pairs.height, dtype=pl.UInt32, eager=True)
    both = pl.DataFrame({"finding": finding, "a": pairs["a"], "b": pairs["b"], "detail": detail})
    return (
        both.unpivot(index=["finding", "detail"], on=["a", "b"], value_name="row")
        .sort("finding", "row")
        .select(
            "finding",
            pl.col("row").cast(pl.UInt32),
            code=pl.lit(CODES[0]),
            column=pl.lit(start),
            detail="detail",
        )
    )
