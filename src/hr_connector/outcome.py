"""What a run decided and counted: the typed result of the flow and the content of the admin task.

These are the pydantic models at the boundary: the flow returns an :class:`ImportResult`, the
report step files an :class:`AdminTask`, and both are small (blocked rows are listed, imported
rows are not), so they are cheap to pass between Prefect tasks and safe to store.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from hr_connector.errors import ConnectorError
from hr_connector.limits import LimitCheck
from hr_connector.quality.findings import QualityReport


class Decision(StrEnum):
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"


class RunCounts(BaseModel):
    rows_read: int = 0
    valid: int = 0
    blocked: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    output: int = 0


class Interruption(BaseModel):
    """Why a run stopped: the report case, its figures, an English message and what to fix."""

    case: str
    message: str
    hint: str = ""
    figures: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_error(cls, error: ConnectorError) -> Interruption:
        return cls(
            case=error.case,
            message=error.message,
            hint=error.hint,
            figures={k: v if isinstance(v, int) else str(v) for k, v in error.figures.items()},
        )

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class BlockedReason(BaseModel):
    code: str
    column: str = ""
    detail: str = ""
    message: str = ""


class BlockedRow(BaseModel):
    row_id: str
    position: str
    reasons: list[BlockedReason]


class GuardVerdict(BaseModel):
    """The guard step's decision, with the figures it was taken on."""

    interruption: Interruption | None = None
    update_limit: int | None = None
    updates: int = 0
    override: str | None = None  # "override_update_limit" | "approved_changeset" | None
    #: every limit that was set, with its figures (partial runs; see hr_connector.limits)
    limits: list[LimitCheck] = Field(default_factory=list)


class FileRef(BaseModel):
    """A file the admin task names: attached, or listed instead."""

    name: str
    path: str


class Attachment(FileRef):
    #: the file a zipped attachment was made from (None: ``path`` is the file itself)
    source: str | None = None
    #: rows in the file, when the run that wrote it knows (else counted when needed)
    rows: int | None = None
    #: the file's SHA-256, when the run that wrote it hashed it as it wrote it
    sha256: str | None = None


class NotAttached(FileRef):
    """A file the admin task lists instead of attaching it (hr_connector.attachments)."""

    size: int
    rows: int | None = None
    sha256: str
    reason: str  # cap | cap_zipped | xml | esm_too_large
    figures: dict[str, str] = Field(default_factory=dict)


class ColumnChange(BaseModel):
    """One changed column of a changed row: the archived value and the file's value."""

    column: str
    old: str = ""
    new: str = ""


class RowChange(BaseModel):
    """A new, changed or removed row: its row ID, where it is, who it is, what changed."""

    row_id: str
    #: "line 5" / "record 5" in the file; empty for a removed row (it is only in the archive)
    position: str = ""
    #: the identifying columns (names, person ID masked when it is a national ID, start date)
    identity: dict[str, str] = Field(default_factory=dict)
    #: changed rows only: every changed column
    columns: list[ColumnChange] = Field(default_factory=list)


class ChangeList(BaseModel):
    """A partial run's changes: the first ``report_max_rows`` of each kind in row-ID order, and
    how many there are in all (the complete lists are in ``<taskid>_changes.csv``)."""

    new: list[RowChange] = Field(default_factory=list)
    changed: list[RowChange] = Field(default_factory=list)
    removed: list[RowChange] = Field(default_factory=list)
    new_total: int = 0
    changed_total: int = 0
    removed_total: int = 0


class AdminTask(BaseModel):
    """The "IGA admin task" datacard's content, in the run's language."""

    task_id: str
    data_type: str
    decision: Decision
    case: str
    language: str
    title: str
    description: str
    counts: RunCounts
    blocked_rows: list[BlockedRow] = Field(default_factory=list)
    changeset: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    not_attached: list[NotAttached] = Field(default_factory=list)
    created_at: str
    changes: ChangeList | None = None
    #: the "Data quality" section: findings per check
    data_quality: QualityReport | None = None


class ImportResult(BaseModel):
    """What the flow returns: the decision, the figures, and where the files went."""

    task_id: str
    data_type: str
    run_type: str
    decision: Decision
    dry_run: bool = False
    counts: RunCounts = Field(default_factory=RunCounts)
    interruption: Interruption | None = None
    changeset: str | None = None
    source_file: str | None = None
    output_path: str | None = None
    log_path: str | None = None
    admin_task_path: str | None = None
    admin_task_id: str | None = None
    report_error: str | None = None
    #: attachments the ESM refused although it filed the task (the task lists them)
    attachments_refused: list[str] = Field(default_factory=list)
    changes: ChangeList | None = None
    #: data-quality findings per check that ran
    data_quality: dict[str, int] = Field(default_factory=dict)
