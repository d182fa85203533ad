"""Guards: refuse dangerous imports before anything is written (PLATFORM.md §5).

First, right after validation (:func:`check_blocked_share`): more blocked rows than
``max_blocked_share`` of the file. Then, in this order, each with its figures: fewer data rows
than ``minimum_row_count``; then,
for a partial run, more updates (new + changed) than ``update_limit``, more new, changed or removed
rows than ``new_limit``, ``changed_limit``, ``removed_limit`` (each a count or a percentage of the
archived rows, :mod:`hr_connector.limits`), unless ``override_update_limit`` is true or
``approved_changeset`` names exactly this changeset.
An approval is bound to the changeset digest, so it cannot let a different, later change through:
an ``approved_changeset`` that does not match is named in the stop as voided.
"""

from __future__ import annotations

import polars as pl

from hr_connector.compare import Changeset
from hr_connector.errors import RunInterrupted, TooFewRows, TooManyBlocked, UpdateLimitExceeded
from hr_connector.limits import ChangeLimitExceeded, check_limits
from hr_connector.outcome import GuardVerdict, Interruption
from hr_connector.params import ConnectorParams
from hr_connector.records import blocked_count

#: How many of the most frequent reasons the stop names.
_NAMED_REASONS = 5


def check_blocked_share(params: ConnectorParams, rows: int, blocked: pl.DataFrame) -> None:
    """Stop when more than ``max_blocked_share`` of the rows are blocked: a file whose dates are
    in another form, or whose columns are mixed up, is a file to fix, not a completed run that
    imports nothing. The stop names the most frequent reasons with their row counts."""
    count = blocked_count(blocked)
    if not rows or count / rows <= params.max_blocked_share:
        return
    frequent = (
        blocked.group_by("code", "column")
        .agg(pl.col("row").n_unique().alias("rows"))
        .sort(["rows", "code", "column"], descending=[True, False, False])
    )
    reasons = [
        f"{code}{f' ({column})' if column else ''}: {n}"  # in any language
        for code, column, n in frequent.head(_NAMED_REASONS).iter_rows()
    ]
    if frequent.height > _NAMED_REASONS:
        reasons.append("…")
    raise TooManyBlocked(count, rows, params.max_blocked_share, "; ".join(reasons))


def check_guards(params: ConnectorParams, rows_read: int, changeset: Changeset) -> GuardVerdict:
    verdict = GuardVerdict(updates=changeset.updates)
    if isinstance(params.update_limit, int):
        verdict.update_limit = params.update_limit
    if params.minimum_row_count is not None and rows_read < params.minimum_row_count:
        verdict.interruption = Interruption.from_error(
            TooFewRows(rows_read, params.minimum_row_count)
        )
        return verdict
    if changeset.run_type != "partial":
        return verdict
    archived = changeset.unchanged + len(changeset.changed) + len(changeset.removed)
    counts = {
        "updates": changeset.updates,
        "new": len(changeset.new),
        "changed": len(changeset.changed),
        "removed": len(changeset.removed),
    }
    verdict.limits = check_limits(params, counts, archived)
    verdict.update_limit = verdict.limits[0].allowed
    exceeded = [c for c in verdict.limits if c.exceeded]
    if not exceeded:
        return verdict
    if params.override_update_limit:
        verdict.override = "override_update_limit"
        return verdict
    if params.approved_changeset and params.approved_changeset == changeset.digest:
        verdict.override = "approved_changeset"
        return verdict
    first, also = exceeded[0], exceeded[1:]
    if first.name == "update_limit":
        error: RunInterrupted = UpdateLimitExceeded(
            changeset.updates,
            first.shown,
            len(changeset.new),
            len(changeset.changed),
            changeset.digest,
        )
    else:
        error = ChangeLimitExceeded(first, archived, changeset.digest)
    if also:  # every limit the run exceeded, each with its figures
        error.figures["also"] = "; ".join(c.figures for c in also)
        error.message += f" Also exceeded: {error.figures['also']}."
    if params.approved_changeset:  # given, but for other changes: the file changed since
        error.figures["approval_voided"] = params.approved_changeset
        error.message += (
            f" The approval of changeset {params.approved_changeset} does not apply: the file "
            "has changed since it was approved, these are other changes."
        )
    verdict.interruption = Interruption.from_error(error)
    return verdict
