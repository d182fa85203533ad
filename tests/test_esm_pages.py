"""The local ESM's pages in a real headless browser (Debian's chromium; ``./dev test`` installs it).

Admin tasks are filed by real runs of the connector (its report, its REST sink): an English full
load with one blocked row, an English partial run stopped by the update limit, and a Finnish
partial run with changes and blocked rows. Chromium renders the list and the task pages: the page
reads each task's data (status, type, counts, numbers right in every language), speaks the task's
language, lists each row once and fits a 1400 px wide window. Screenshots are kept as test output
(their folder is printed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import ImportResult
from hr_connector.params import parse_params
from hr_connector.runner import run_plain

from conftest import WEBAPI_PASSWORD, base_raw, place
from esm_server import USER

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
    "--hide-scrollbars",
]
WIDTH = 1400


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


def page_width(url: str, tmp: Path) -> int:
    """The page's laid-out width in a 1400 px window (DevTools: documentElement.scrollWidth)."""
    from websockets.sync.client import connect

    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    browser_process = subprocess.Popen(
        [
            browser(),
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            f"--window-size={WIDTH},1000",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [t for t in json.load(answer) if t["type"] == "page"]
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:

            def evaluate(expression: str, ask: int) -> Any:
                ws.send(
                    json.dumps(
                        {
                            "id": ask,
                            "method": "Runtime.evaluate",
                            "params": {"expression": expression, "returnByValue": True},
                        }
                    )
                )
                while True:
                    message = json.loads(ws.recv(timeout=30))
                    if message.get("id") == ask:
                        return message["result"]["result"].get("value")

            ask = 1
            width = None  # None until the page (not the blank tab before it) has loaded
            while not isinstance(width, int):
                assert time.monotonic() < deadline, "the page did not load"
                ask += 1
                ready = evaluate("document.readyState", ask) == "complete"
                ask += 1
                width = evaluate("document.documentElement.scrollWidth", ask) if ready else None
                time.sleep(0.2)
            return width
    finally:
        browser_process.terminate()
        browser_process.wait(timeout=30)


def run(esm: Any, workdir: Path, task_id: str, **extra: Any) -> ImportResult:
    raw = base_raw(webapi_url=esm.url, webapi_user=USER, webapi_password=WEBAPI_PASSWORD)
    raw.update(extra)
    return run_plain(parse_params(raw), workdir, task_id)


def file_tasks(esm: Any, tmp: Path, samples: Path) -> dict[str, str]:
    """Real runs filing admin tasks in the sandbox; their datacard numbers by name."""
    english, finnish = tmp / "en", tmp / "fi"
    place(english, samples / "title" / "title.csv")
    place(finnish, samples / "workperiod" / "workperiod.csv")
    # the sample title file has one blocked row: English, "1 row blocked"
    titles = run(esm, english, "11", data_type="title")
    assert titles.counts.blocked == 1
    assert (titles.counts.rows_read, titles.counts.output) == (14, 13)
    cards = {"blocked_one": titles.admin_task_id}
    fi = {"language": "fi", "update_limit": 3}
    assert run(esm, finnish, "4", **fi).admin_task_id
    place(finnish, samples / "workperiod" / "next_day" / "workperiod.csv")
    cards["finnish_stop"] = run(esm, finnish, "4", run_type="partial", **fi).admin_task_id
    cards["english_stop"] = run(
        esm, finnish, "4", run_type="partial", update_limit=3, language="en"
    ).admin_task_id
    assert all(cards.values()), cards
    return {k: str(v) for k, v in cards.items()}


def visible(page: str) -> str:
    """The page without its folded "text as filed" section."""
    return page.split('<details id="text-as-filed"')[0]


def test_the_pages_read_each_task_s_data_in_its_language_in_a_headless_browser(
    start_esm: Any, tmp_path: Path, samples: Path
) -> None:
    sandbox = start_esm(users={USER: WEBAPI_PASSWORD})
    cards = file_tasks(sandbox, tmp_path, samples)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    listing = chromium(sandbox.url + "/?lang=en", tmp_path, "--dump-dom")
    row = re.search(rf'<tr class="row" id="dc-{cards["blocked_one"]}">(.*?)</tr>', listing, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert 'class="badge completed_blocked">completed, rows blocked<' in cells[0]
    assert cells[1] == "job titles" and cells[2] == cards["blocked_one"] and cells[3] == "11"
    assert "1 row blocked" in cells[5]
    assert [c.strip() for c in cells[6:9]] == ["14", "1", "13"]  # a full load's figures
    stop = re.search(rf'id="dc-{cards["finnish_stop"]}">(.*?)</tr>', listing, re.S)
    assert stop is not None
    stop_cells = re.findall(r"<td[^>]*>(.*?)</td>", stop.group(1), re.S)
    assert 'class="badge interrupted">interrupted<' in stop_cells[0]
    assert stop_cells[1] == "work periods"  # the list speaks the page's language
    assert [c.strip() for c in stop_cells[6:9]] == ["41", "6", "0"]
    finnish_list = chromium(sandbox.url + "/?lang=fi", tmp_path, "--dump-dom")
    assert "Ylläpitotehtävät" in finnish_list and "keskeytetty" in finnish_list

    page = chromium(f"{sandbox.url}/tasks/{cards['finnish_stop']}", tmp_path, "--dump-dom")
    assert '<html lang="fi">' in page
    shown = visible(page)
    for finnish in ("Muutokset", "Liitteet", "Hylätyt rivit", "Tietokortti", "Tehtävätunnus 4"):
        assert finnish in shown, finnish
    for english in ("Text", "Changes", "Attachments", "ROW_ID", "OLD_VALUE", "row_id", ">new<"):
        assert english not in shown, english
    assert f"Tietokortti {cards['finnish_stop']}" in shown
    assert 'class="badge interrupted">keskeytetty<' in shown
    assert "työsuhdejaksot" in shown and "rivi 15" in shown  # positions in Finnish
    for row_id in ("WP-0014", "WP-0040", "WP-0038"):  # a changed, a new and a removed row
        assert shown.count(f"<td>{row_id}</td>") == 1, row_id  # each row listed once
    assert shown.count("<td>WP-0006</td>") == 1  # a blocked row, once
    assert "Teksti sellaisenaan" in page  # the text as filed, folded away

    english_page = chromium(f"{sandbox.url}/tasks/{cards['english_stop']}", tmp_path, "--dump-dom")
    assert '<html lang="en">' in english_page
    assert "Changes" in english_page and "Muutokset" not in english_page

    for name, card in cards.items():
        assert page_width(f"{sandbox.url}/tasks/{card}", tmp_path) <= WIDTH, name
        shot = shots / f"{name}.png"
        chromium(
            f"{sandbox.url}/tasks/{card}",
            tmp_path,
            f"--screenshot={shot}",
            f"--window-size={WIDTH},1600",
        )
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert page_width(f"{sandbox.url}/?lang=en", tmp_path) <= WIDTH
    chromium(
        f"{sandbox.url}/?lang=fi",
        tmp_path,
        f"--screenshot={shots / 'list_fi.png'}",
        f"--window-size={WIDTH},900",
    )
    print(f"\nscreenshots of the ESM sandbox's pages: {shots}")
