"""Guards: refuse dangerous imports before anything is written (PLATFORM.md §5).

Checked in this order, each with its figures: fewer data rows than ``minimum_row_count``; then,
for a partial run, more updates (new + changed) than ``update_limit`` unless
``override_update_limit`` is true or ``approved_changeset`` names exactly this changeset.
An approval is bound to the changeset digest, so it cannot let a different, later change through.
"""

from __future__ import annotations

from hr_connector.compare import Changeset
from hr_connector.errors import TooFewRows, UpdateLimitExceeded
from hr_connector.outcome import GuardVerdict, Interruption
from hr_connector.params import ConnectorParams


def check_guards(params: ConnectorParams, rows_read: int, changeset: Changeset) -> GuardVerdict:
    verdict = GuardVerdict(update_limit=params.update_limit, updates=changeset.updates)
    if params.minimum_row_count is not None and rows_read < params.minimum_row_count:
        verdict.interruption = Interruption.from_error(
            TooFewRows(rows_read, params.minimum_row_count)
        )
        return verdict
    if changeset.run_type != "partial":
        return verdict
    verdict.update_limit_applied = True
    if changeset.updates <= params.update_limit:
        return verdict
    if params.override_update_limit:
        verdict.override = "override_update_limit"
        return verdict
    if params.approved_changeset and params.approved_changeset == changeset.digest:
        verdict.override = "approved_changeset"
        return verdict
    verdict.interruption = Interruption.from_error(
        UpdateLimitExceeded(
            changeset.updates,
            params.update_limit,
            len(changeset.new),
            len(changeset.changed),
            changeset.digest,
        )
    )
    return verdict
