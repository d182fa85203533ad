"""Attachments that do not sink the run: zipped above a size, capped per admin task,
streamed from disk on every path (413 handling included), listed when they are not sent."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from esm_sandbox import EsmSandbox
from hr_connector import attachments
from hr_connector.clients.esm import RestSink, XmlSink
from hr_connector.outcome import Attachment
from hr_connector.params import parse_params
from hr_connector.workdir import WorkDir

from conftest import REPO, base_raw, place
from esm_server import StartEsm, make_task, settings_for
from run_helpers import run_import

MB = 1024 * 1024


@pytest.fixture
def sandbox(start_esm: StartEsm, tmp_path: Path) -> Iterator[EsmSandbox]:
    server = start_esm(tmp_path / "esm")
    yield server


def write_layout(path: Path, rows: int, *, noise: int = 0, seed: int = 3) -> bytes:
    """A JSON array in the connector's own layout (one row per line), as publish writes it."""
    import random

    rng = random.Random(seed)
    lines = [
        json.dumps(
            {
                "row_id": f"WP-{i:07d}",
                "employee_number": f"E{i:07d}",
                "last_name": "Virtanen",
                "note": "".join(
                    rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(noise)
                ),
            }
        )
        for i in range(rows)
    ]
    content = ("[\n" + ",\n".join(lines) + "\n]\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return content


def prepared(
    folder: Path, files: list[tuple[str, Path]], cap_mb: float = 20
) -> tuple[list[Attachment], list[Any]]:
    return attachments.prepare_attachments(
        [Attachment(name=name, path=str(path)) for name, path in files], folder, "3", cap_mb
    )


def description(sandbox: EsmSandbox, card_id: str) -> str:
    card = sandbox.datacard(card_id)
    assert card is not None
    return str(card["data"]["description"]["values"][0]["value"])


def listed_line(text: str, path: Path) -> str:
    return next(line for line in text.splitlines() if str(path) in line)


def test_file_facts_count_rows_in_the_connectors_layout_and_other_json(tmp_path: Path) -> None:
    content = write_layout(tmp_path / "a.json", 1234)
    facts = attachments.file_facts(tmp_path / "a.json")
    assert (facts.size, facts.rows) == (len(content), 1234)
    assert facts.sha256 == hashlib.sha256(content).hexdigest()
    (tmp_path / "empty.json").write_bytes(b"[]\n")
    assert attachments.file_facts(tmp_path / "empty.json").rows == 0
    (tmp_path / "indented.json").write_text(json.dumps([{"a": 1}, {"a": 2}], indent=2))
    assert attachments.file_facts(tmp_path / "indented.json").rows == 2
    (tmp_path / "x.bin").write_bytes(b"\x00\x01")
    assert attachments.file_facts(tmp_path / "x.bin").rows is None


def test_a_large_attachment_is_zipped_and_opens_as_the_original(
    sandbox: EsmSandbox, tmp_path: Path
) -> None:
    big = tmp_path / "data" / "archive" / "workperiod_archive.json"
    content = write_layout(big, 40_000)
    assert len(content) > attachments.ZIP_ABOVE_BYTES
    small = tmp_path / "3_output.json"
    small_content = write_layout(small, 10)
    sent, left_out = prepared(
        tmp_path / "data" / "attachments",
        [("workperiod_archive.json", big), ("3_output.json", small)],
    )
    assert left_out == []
    assert [a.name for a in sent] == ["workperiod_archive.json.zip", "3_output.json"]
    card_id = RestSink(settings_for(sandbox)).file(
        make_task(attachments=[]).model_copy(update={"attachments": sent})
    )
    card = sandbox.datacard(card_id)
    assert card is not None
    assert card["files"]["attachments"] == ["workperiod_archive.json.zip", "3_output.json"]
    with zipfile.ZipFile(sandbox.file_path(card_id, "workperiod_archive.json.zip")) as archive:
        info = archive.getinfo("workperiod_archive.json")
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert archive.read(info) == content
    assert sandbox.file_path(card_id, "3_output.json").read_bytes() == small_content


def test_an_attachment_over_the_cap_is_listed_not_sent(
    sandbox: EsmSandbox, workdir: Path, samples: Path
) -> None:
    """A real run with a 10 KB cap: the archive does not fit, the error archive does."""
    place(workdir, samples / "workperiod" / "workperiod.csv")
    raw = base_raw(webapi_url=sandbox.url, report_attachment_max_mb="0.01")
    params = parse_params(raw)
    sink = RestSink(settings_for(sandbox))
    result = run_import(params, WorkDir(workdir, "3", "workperiod"), sink)
    assert result.admin_task_id is not None
    card = sandbox.datacard(result.admin_task_id)
    assert card is not None
    archive = workdir / "data" / "archive" / "workperiod_archive.json"
    output = workdir / "3_output.json"
    assert archive.stat().st_size > 10 * 1024
    sent = card["files"].get("attachments", [])
    assert "workperiod_archive.json" not in sent
    assert "error_workperiod_archive.json" in sent
    files = [n for n in sent if n != "3_admin_task.json"]  # the task's own data is not capped
    assert sum(sandbox.file_path(card["dataCardId"], n).stat().st_size for n in files) <= 10240
    text = description(sandbox, result.admin_task_id)
    line = listed_line(text, archive.relative_to(workdir))
    assert line.startswith("- workperiod_archive.json: ")
    assert f"({archive.stat().st_size} bytes), 40 rows" in line
    assert hashlib.sha256(archive.read_bytes()).hexdigest() in line
    assert "at most 0.01 MB (report_attachment_max_mb)" in line
    if "3_output.json" not in sent:
        assert f"{output.stat().st_size} bytes" in listed_line(text, output.relative_to(workdir))
    assert "error_workperiod_archive.json" not in text
    assert str(workdir) not in text  # paths relative to the working directory
    # the kept admin task says the same, so a re-send does too
    kept = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    assert (
        "- workperiod_archive.json: data/archive/workperiod_archive.json, " in (kept["description"])
    )
    assert {item["path"] for item in kept["not_attached"]} >= {str(archive)}


def test_a_413_on_a_compressed_attachment_is_handled(start_esm: StartEsm, tmp_path: Path) -> None:
    """The zip is refused too: the task is still filed, the file listed, the others attached."""
    big = tmp_path / "data" / "archive" / "workperiod_archive.json"
    write_layout(big, 60_000, noise=40)  # zips to well above 1 MB
    small = tmp_path / "error_workperiod_archive.json"
    small_content = write_layout(small, 5)
    sent, left_out = prepared(
        tmp_path / "data" / "attachments",
        [("workperiod_archive.json", big), ("error_workperiod_archive.json", small)],
    )
    assert left_out == [] and sent[0].name == "workperiod_archive.json.zip"
    zipped = Path(sent[0].path)
    assert zipped.stat().st_size > MB
    sandbox = start_esm(tmp_path / "esm", max_upload_bytes=MB)
    task = make_task().model_copy(update={"attachments": sent})
    card_id = RestSink(settings_for(sandbox)).file(task)
    card = sandbox.datacard(card_id)
    assert card is not None
    assert card["files"]["attachments"] == ["error_workperiod_archive.json"]
    assert sandbox.file_path(card_id, "error_workperiod_archive.json").read_bytes() == (
        small_content
    )
    assert [r.status for r in sandbox.requests if r.path.endswith("/file")] == [413, 200]
    line = listed_line(description(sandbox, card_id), big)
    assert line.startswith("- workperiod_archive.json: ")
    assert ", 60000 rows, SHA-256 " + hashlib.sha256(big.read_bytes()).hexdigest() in line
    assert f"the ESM refused it as too large ({zipped.stat().st_size} bytes sent)" in line


def test_the_xml_api_lists_every_file_with_its_facts(sandbox: EsmSandbox, tmp_path: Path) -> None:
    big = tmp_path / "workperiod_archive.json"
    write_layout(big, 30)
    task = make_task(attachments=[("workperiod_archive.json", big)])
    card_id = XmlSink(settings_for(sandbox, webapi_kind="xml")).file(task)
    line = listed_line(description(sandbox, card_id), big)
    assert ", 30 rows, SHA-256 " + hashlib.sha256(big.read_bytes()).hexdigest() in line
    assert "Why: the legacy XML Web API cannot carry files" in line


def test_the_cap_keeps_the_smaller_files_and_replaces_an_earlier_zip(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "attachments"
    big = tmp_path / "big.json"
    write_layout(big, 100_000, noise=30)
    small = tmp_path / "small.json"
    write_layout(small, 3)
    stale = folder / "3_big.json.zip"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run's zip")
    sent, left_out = prepared(folder, [("big.json", big), ("small.json", small)], cap_mb=1)
    assert [a.name for a in sent] == ["small.json"]
    assert [(i.name, i.reason, i.rows) for i in left_out] == [("big.json", "cap_zipped", 100_000)]
    assert not stale.exists()  # never to be taken for this run's zip on a re-send
    assert not list(folder.glob(".*tmp*"))


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from hr_connector.clients.esm import RestSink
    from hr_connector.outcome import Attachment
    from hr_connector.params import WebApiSettings
    from esm_server import make_task

    settings = WebApiSettings.model_validate(json.loads(sys.argv[1]))
    task = make_task().model_copy(
        update={{"attachments": [Attachment(name="big.json", path=sys.argv[2])]}}
    )
    sink = RestSink(settings)
    sink.client.login()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    card = sink.file(task)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT", json.dumps({{"card": card, "before": before, "after": after}}))
    """
)


def test_filing_a_300_mb_attachment_keeps_memory_flat(start_esm: StartEsm, tmp_path: Path) -> None:
    """300 MB sent plain (refused: 413), zipped on disk, the zip sent: peak RSS stays flat.

    Reading the file whole, as the connector once did, would add >= 300 MB (the multipart copy twice
    that); the bound is generous for the interpreter's own noise.
    """
    big = tmp_path / "big.json"
    block = b"".join(
        b'{"row_id": "WP-%07d", "last_name": "Virtanen", "first_name": "Aino"},\n' % i
        for i in range(15_000)
    )
    with big.open("wb") as fh:
        fh.write(b"[\n")
        while fh.tell() < 300 * MB:
            fh.write(block)
        fh.write(b'{"row_id": "last"}\n]\n')
    size = big.stat().st_size
    sandbox = start_esm(tmp_path / "esm", max_upload_bytes=40 * MB)
    settings = settings_for(sandbox).model_dump(mode="json")
    settings["webapi_password"] = settings_for(sandbox).webapi_password.get_secret_value()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            MEMORY_SCRIPT.format(tests=str(REPO / "tests")),
            json.dumps(settings),
            str(big),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    figures = json.loads(line[len("RESULT ") :])
    card = sandbox.datacard(figures["card"])
    assert card is not None and card["files"]["attachments"] == ["big.json.zip"]
    statuses = [r.status for r in sandbox.requests if r.path.endswith("/file")]
    assert statuses == [413, 200]  # the 300 MB went out plain first, then the zip
    with zipfile.ZipFile(sandbox.file_path(figures["card"], "big.json.zip")) as archive:
        assert archive.getinfo("big.json").file_size == size
    assert figures["after"] - figures["before"] < 100, figures


def test_small_attachments_that_each_fit_but_not_together_are_capped(
    workdir: Path, samples: Path
) -> None:
    """A 20 KB cap: the archive (19 KB) and the output (17 KB) each fit alone, not together."""
    from hr_connector.sinks import LocalOnlySink

    place(workdir, samples / "workperiod" / "workperiod.csv")
    params = parse_params(base_raw(report_attachment_max_mb="0.02"))
    run_import(params, WorkDir(workdir, "3", "workperiod"), LocalOnlySink())
    task = json.loads((workdir / "3_admin_task.json").read_text(encoding="utf-8"))
    capped = [Path(a["path"]) for a in task["attachments"] if a["name"] != "3_admin_task.json"]
    # the smaller first: the error archive (3 KB) and the output fit, the archive is left out
    assert [p.name for p in capped] == ["3_output.json", "error_workperiod_archive.json"]
    assert sum(p.stat().st_size for p in capped) <= 0.02 * MB
    assert {item["name"] for item in task["not_attached"]} == {"workperiod_archive.json"}
    listed = [line for line in task["description"].splitlines() if "at most 0.02 MB" in line]
    assert len(listed) == 1
