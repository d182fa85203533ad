"""Validation: which rows are blocked, and every reason why (not only the first).

The reasons frame (:data:`hr_connector.records.REASONS_SCHEMA`) is the reader's structural
problems, then every check of the rules of :mod:`hr_connector.rules` (evaluated together, one
polars ``select``), then across rows: a row ID appears once in the file (every row sharing one is
blocked) and IDs that differ from another row's only by surrounding whitespace or Unicode
normalisation are one person, not two. The CSV header check is separate
(:func:`hr_connector.header.check_header`) because a missing column interrupts the run instead of
blocking rows.
"""

from __future__ import annotations

import unicodedata

import polars as pl

from hr_connector import rules
from hr_connector.records import Table, concat_reasons, no_reasons
from hr_connector.rules import Context, date_examples, is_blank, parse_dates
from hr_connector.schemas import RunSchema


def validate_table(table: Table, schema: RunSchema) -> pl.DataFrame:
    """The reasons frame of every blocked row; rows without a reason are valid."""
    frame = table.frame
    dates = {  # each date column parsed once
        c: parse_dates(pl.col(c), frame.get_column(c), schema.date_formats)
        for c in dict.fromkeys(schema.date_columns)
        if c in frame.columns
    }
    ctx = Context(schema, frame.columns, dates, date_examples(schema.date_formats))
    checks = [
        c for rule in rules.RULES if rule.applies_to(schema.data_type) for c in rule.checks(ctx)
    ]
    found = [table.problems]
    if checks and frame.height:
        hits = frame.select(  # the row numbers make a check of every row (a literal) full length
            pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"),
            *(c.blocks.alias(f"b{i}") for i, c in enumerate(checks)),
        )
        rows = hits.get_column("row")
        for i, check in enumerate(checks):
            mask = hits.get_column(f"b{i}")
            if mask.any():  # the detail only of the rows it blocks
                found.append(
                    frame.filter(mask).select(
                        row=pl.lit(rows.filter(mask)),
                        code=pl.lit(check.code),
                        column=pl.lit(check.column),
                        detail=check.detail.cast(pl.String).fill_null(""),
                    )
                )
    key = schema.key_column
    if key in frame.columns:
        found.append(repeated_ids(frame.get_column(key)))
        found.append(look_alike_ids(frame.get_column(key)))
    return concat_reasons(found)


def repeated_ids(keys: pl.Series) -> pl.DataFrame:
    """Rows whose non-blank row ID appears more than once (blank ones are blocked anyway)."""
    frame = pl.DataFrame({"key": keys}).with_row_index("row")
    present = pl.col("key").is_not_null() & ~is_blank(pl.col("key"))
    return frame.filter(present & pl.col("key").is_duplicated()).select(
        "row", code=pl.lit("duplicate_row_id"), column=pl.lit(""), detail="key"
    )


def look_alike_ids(keys: pl.Series) -> pl.DataFrame:
    """Rows whose IDs differ from another row's only by surrounding whitespace or Unicode
    normalisation (``Mäkinen`` composed and decomposed): one person, not two.

    Only IDs that are not plain ASCII or have surrounding whitespace can look alike; their
    distinct texts are normalised in Python (a usual file has none). Rows already blocked as
    repeated IDs are not listed again.
    """
    frame = pl.DataFrame({"key": keys}).with_row_index("row")
    frame = frame.filter(pl.col("key").is_not_null() & ~is_blank(pl.col("key")))
    key = pl.col("key")
    odd = frame.filter(~key.str.contains(r"^[\x00-\x7f]*$") | (key.str.strip_chars() != key))
    if odd.height == 0:
        return no_reasons()
    texts = odd.get_column("key").unique()
    canon = pl.Series([unicodedata.normalize("NFC", t.strip()) for t in texts], dtype=pl.String)
    frame = frame.with_columns(canon=key.replace_strict(texts, canon, default=key))
    alike = (key.n_unique().over("canon") > 1) & ~key.is_duplicated()
    return frame.filter(alike).select(
        "row", code=pl.lit("duplicate_row_id"), column=pl.lit(""), detail="key"
    )
