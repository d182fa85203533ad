"""The local ESM's pages in a real headless browser (Debian's chromium; ``./dev test`` installs it).

Admin tasks are filed the way the connector files them (its report texts, its REST sink), one in
Finnish with blocked rows and a changes table, one interrupted in English; chromium renders the
list and the task page: the DOM it builds is checked, and a screenshot is taken.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hr_connector.clients.esm import RestSink
from hr_connector.errors import FileNotReceived
from hr_connector.outcome import Attachment, BlockedReason, BlockedRow, Interruption, RunCounts
from hr_connector.report import build_admin_task
from hr_connector.texts import Translations

from esm_server import StartEsm, settings_for

pytestmark = pytest.mark.integration

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHANGES = (
    "\ufeffrow_id;employee_number;column;old value;new value\r\n"
    "WP-0007;E1007;employment_end_date;;2026-12-31\r\n"
    "WP-0012;E1012;org_unit;OU110;OU120\r\n"
)


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless browser: chromium is not installed (./dev test installs it as root)")


def chromium(url: str, tmp: Path, *extra: str) -> str:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    done = subprocess.run(
        [browser(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def file_tasks(sandbox: Any, tmp: Path) -> tuple[str, str]:
    t = Translations.load()
    changes = tmp / "4_changes.csv"
    changes.write_bytes(CHANGES.encode("utf-8"))
    errors = tmp / "error_workperiod_archive.json"
    errors.write_text("[]\n", encoding="utf-8")
    blocked = [
        BlockedRow(
            row_id="WP-0015",
            position="rivi 16",
            reasons=[
                BlockedReason(
                    code="missing_value",
                    column="last_name",
                    message=t.text("reason_missing_value", "fi", column="last_name"),
                )
            ],
        )
    ]
    finnish = build_admin_task(
        translations=t,
        language="fi",
        task_id="4",
        data_type="workperiod",
        run_type="partial",
        file="workperiod.csv",
        counts=RunCounts(
            rows_read=41, valid=40, blocked=1, new=2, changed=2, unchanged=36, output=4
        ),
        interruption=None,
        changeset="sha256:0123456789abcdef",
        blocked=blocked,
        attachments=[
            Attachment(name="4_changes.csv", path=str(changes)),
            Attachment(name="error_workperiod_archive.json", path=str(errors)),
        ],
    )
    stopped = build_admin_task(
        translations=t,
        language="en",
        task_id="7",
        data_type="title",
        run_type="full",
        file="-",
        counts=RunCounts(),
        interruption=Interruption.from_error(FileNotReceived("./title/*.csv", "title")),
    )
    sink = RestSink(settings_for(sandbox))
    return sink.file(finnish), sink.file(stopped)


def test_the_pages_in_a_headless_browser(start_esm: StartEsm, tmp_path: Path) -> None:
    sandbox = start_esm()
    finnish, stopped = file_tasks(sandbox, tmp_path)

    listing = chromium(sandbox.url + "/", tmp_path, "--dump-dom")
    assert "Admin tasks" in listing
    assert f'href="/tasks/{finnish}"' in listing and f'href="/tasks/{stopped}"' in listing
    assert '<span class="badge blocked">' in listing  # completed with blocked rows
    assert '<span class="badge interrupted">' in listing
    assert "HR-tuonti työsuhdejaksot" in listing  # the data type named in Finnish too
    # local times, not UTC ISO stamps
    assert re.search(r'<td class="time">\d{4}-\d\d-\d\d \d\d:\d\d', listing)
    assert not re.search(r"\d\dT\d\d:\d\d:\d\d", listing)

    page = chromium(f"{sandbox.url}/tasks/{finnish}", tmp_path, "--dump-dom")
    assert '<html lang="fi">' in page
    assert "Luettuja rivejä" in page  # the count labels in the task's language
    assert "Hylätyt rivit (1)" in page
    # the changes table, generically by the attachment's header (the BOM is not a column name)
    assert "<th>row_id</th><th>employee_number</th><th>column</th><th>old value</th>" in page
    assert "<td>WP-0012</td><td>E1012</td><td>org_unit</td><td>OU110</td><td>OU120</td>" in page
    assert "<td>rivi 16</td><td>WP-0015</td>" in page
    assert 'href="/files/' in page and "4_changes.csv" in page
    assert "(attachments)" not in page
    assert "työsuhdejaksot · tehtävä 4 · " in page  # the task id, with the shipped word for "task"
    assert '<span class="badge blocked">valmis</span>' in page

    shot = tmp_path / "task.png"
    chromium(
        f"{sandbox.url}/tasks/{finnish}",
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1280,1400",
        "--hide-scrollbars",
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
