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
    update_limit_applied: bool = False
    override: str | None = None  # "override_update_limit" | "approved_changeset" | None

    @property
    def proceed(self) -> bool:
        return self.interruption is None


class Attachment(BaseModel):
    name: str
    path: str


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
    created_at: str
    #: the "Data quality" section: findings per check (issue 16)
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
    #: data-quality findings per check that ran (issue 16)
    data_quality: dict[str, int] = Field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return 0 if self.decision is Decision.COMPLETED else 1
