"""Test helpers around the local ESM (the development package :mod:`esm_sandbox`).

Kept as a plain module (not a conftest) so that other test files can import exactly what they use:
``from esm_server import settings_for, make_task``. Tests start a sandbox with the ``start_esm``
fixture (conftest), the one way tests start it.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from esm_sandbox import EsmSandbox
from hr_connector.outcome import AdminTask, Attachment, Decision, RunCounts
from hr_connector.params import WebApiSettings

USER = "iga-report"
#: Long and unusual, so a leak is found by a plain substring search.
PASSWORD = "Pw-9f3c7a1e-Sandbox!ÄÖ"
TEMPLATE = "IGAWorkflowTaskInformation"
FOLDER = "iga_tasks"


#: The ``start_esm`` fixture: ``start_esm(root=None, **EsmSandbox options)`` → a started sandbox.
StartEsm = Callable[..., EsmSandbox]


def settings_for(sandbox: EsmSandbox, **overrides: Any) -> WebApiSettings:
    """Web API settings that point at ``sandbox`` (short timeout: the tests must be quick)."""
    values: dict[str, Any] = {
        "webapi_url": sandbox.url,
        "webapi_user": USER,
        "webapi_password": PASSWORD,
        "report_template_code": TEMPLATE,
        "report_folder_code": FOLDER,
        "webapi_timeout_seconds": 5,
    }
    values.update(overrides)
    return WebApiSettings.model_validate(values)


def make_task(
    *,
    title: str = "HR import 42 (workperiod): completed",
    description: str = "The import completed.\n3 rows read, 3 imported.",
    attachments: Sequence[tuple[str, Path]] = (),
    language: str = "en",
    task_id: str = "42",
) -> AdminTask:
    """An admin task as the report step builds it."""
    return AdminTask(
        task_id=task_id,
        data_type="workperiod",
        decision=Decision.COMPLETED,
        case="import_completed",
        language=language,
        title=title,
        description=description,
        counts=RunCounts(rows_read=3, valid=3, output=3),
        attachments=[Attachment(name=name, path=str(path)) for name, path in attachments],
        created_at="2026-11-26T10:00:00+00:00",
    )


def write_rows(path: Path, rows: int, *, random_text: int = 0, seed: int = 7) -> bytes:
    """Write a JSON array of ``rows`` HR-like records; ``random_text`` adds incompressible text."""
    rng = random.Random(seed)
    records = [
        {
            "row_id": f"R{i:05d}",
            "last_name": "Virtanen",
            "first_name": "Aino",
            "note": "".join(rng.choice("0123456789abcdefghijklmnopqrstuvwxyz") for _ in range(n))
            if (n := random_text)
            else "",
        }
        for i in range(rows)
    ]
    content = json.dumps(records, ensure_ascii=False, indent=2).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return content


def all_log_text(records: Sequence[logging.LogRecord]) -> str:
    """Every message and rendered traceback of ``records``, for leak checks."""
    parts = []
    for record in records:
        parts.append(record.getMessage())
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)
