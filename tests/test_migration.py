"""A customer moving from the vendor's IGAConnector.py keeps its configuration.

Each test drives the wrapper ``deployments/epe/IGAConnector.py`` as a subprocess, the way the
engine runs it for a migrating customer: the vendor's example parameters verbatim from its page
(lines 542-557, comments stripped, no-break spaces and string values kept), the vendor's folder
layout (``./data/``, ``data/archive/``, ``misc-files/translation.json``), archives its script left
behind, and the task id only as ``__taskid__`` in the task mappings on line 2. Every run either
completes or interrupts with the vendor's case, and an admin task is filed in the local ESM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

import pytest

from hr_connector import invocation

import sshd as sshd_mod
from conftest import ESM_USER, REPO, SAMPLES, WEBAPI_PASSWORD
from run_helpers import SCRIPT
from vendor_helpers import (
    CUSTOM_TITLE,
    KEYS,
    MAPPINGS,
    custom_translations,
    customized,
    engine,
    filed_task,
    local_params,
    plain_params,
    sample_rows,
    vendor_example,
    vendor_workdir,
)


def one_line(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert WEBAPI_PASSWORD not in proc.stdout + proc.stderr


# --- the vendor's example, every data type -------------------------------------------------


def test_the_vendor_example_is_what_the_page_shows() -> None:
    text = vendor_example()
    assert "\u00a0" in text  # copied from the web page: no-break spaces between the keys
    assert '"update_limit": 100, // How many updates are allowed to IGA System.' in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)  # not strict JSON, yet the engine hands it over like this


@pytest.mark.parametrize("data_type", list(KEYS))
def test_vendor_example_local_file_partial_run_against_the_vendor_archive(
    workdir: Path, esm: Any, data_type: str
) -> None:
    expected = vendor_workdir(workdir, data_type)
    archive = workdir / "data" / "archive" / f"{data_type}_archive.json"
    before = archive.read_bytes()
    proc = engine(workdir, local_params(esm, data_type) + MAPPINGS)
    one_line(proc)
    task = filed_task(proc, esm, workdir)
    rows = len(sample_rows(data_type)[1])
    if rows < 10:  # the example's minimum_row_count: the vendor's case, nothing imported
        assert proc.returncode == 1, proc.stderr
        assert task["case"] == "minimum_row_count"
        assert not (workdir / "1042_output.json").exists()
        assert archive.read_bytes() == before
        return
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(workdir / "1042_output.json")
    output = json.loads((workdir / "1042_output.json").read_text(encoding="utf-8"))
    key = KEYS[data_type]
    assert sorted(r[key] for r in output) == sorted([expected["changed"], expected["new"]])
    assert all(r["objectGUID"] == r[key] for r in output)
    assert task["counts"]["changed"] == 1 and task["counts"]["new"] == 1
    assert task["counts"]["removed"] == 1 and "GONE-1" in task["description"]
    shipped = json.loads((REPO / "translations" / "translation.json").read_text(encoding="utf-8"))
    type_name = shipped[f"data_type_{data_type}"]["text"]["en"]  # as the admin reads it
    assert task["title"].startswith(CUSTOM_TITLE.format(data_type=type_name))  # custom text
    assert "Rows read:" in task["description"]  # a case the custom file lacks: shipped text


def _vendor_sftp_params(sshd_server: Any, remote: Path, esm: Any, **more: Any) -> str:
    """The page's example with a real sshd's values and the local ESM's."""
    return customized(
        vendor_example(),
        **more,
        sftp_server_fqdn=sshd_server.host,
        sftp_server_ssh_port_number=str(sshd_server.port),
        sftp_username=sshd_server.user.name,
        sftp_password=sshd_server.user.password,
        sftp_remote_path_data=str(remote / "data"),
        sftp_remote_path_archive=str(remote / "archive"),
        webapi_user=ESM_USER,
        webapi_password=WEBAPI_PASSWORD,
        webapi_url=esm.url,
    )


def test_vendor_example_over_sftp_into_data(
    workdir: Path, esm: Any, sshd_server: Any, tmp_path: Path
) -> None:
    """``"file_path": "./data/workperiod*.csv"`` with ``sftp_remote_path_data`` ``…/data``:
    downloaded into ./data/, data/archive/ untouched, the remote file moved to the archive."""
    password = sshd_server.user.password
    if password is None:
        pytest.skip("password login needs root (a test user with a password)")
    remote = sshd_server.new_dir("sftp")
    for name in ("data", "archive"):
        (remote / name).mkdir()
        os.chown(remote / name, sshd_server.user.uid, sshd_server.user.gid)
    sshd_server.put(
        remote / "data",
        "workperiod_20250102.csv",
        (SAMPLES / "workperiod" / "workperiod.csv").read_bytes(),
    )
    expected = vendor_workdir(workdir, "workperiod")
    (workdir / "data" / "workperiod.csv").unlink()  # yesterday's copy is another name
    (workdir / "data" / "workperiod_20250101.csv").write_text("old", encoding="utf-8")
    (workdir / "data" / "archive" / "workperiod_keep.csv").write_text("x", encoding="utf-8")
    archive_dir_before = sorted(p.name for p in (workdir / "data" / "archive").iterdir())
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    sshd_server.write_known_hosts(home / ".ssh" / "known_hosts")  # the user's known_hosts
    params = _vendor_sftp_params(sshd_server, remote, esm)
    assert '"file_path":"./data/workperiod*.csv"' in params  # verbatim
    proc = engine(workdir, params + MAPPINGS, env={"HOME": str(home)})
    one_line(proc)
    assert password not in proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr
    filed_task(proc, esm, workdir)
    output = json.loads((workdir / "1042_output.json").read_text(encoding="utf-8"))
    assert sorted(r["row_id"] for r in output) == sorted([expected["changed"], expected["new"]])
    assert sorted(p.name for p in (workdir / "data").iterdir()) == [
        "archive",
        "workperiod_20250102.csv",
    ]
    assert sorted(p.name for p in (workdir / "data" / "archive").iterdir()) == sorted(
        {*archive_dir_before, "error_workperiod_archive.json", "error_workperiod_reasons.json"}
        | {p.name for p in (workdir / "data" / "archive").glob(".*")}
    )
    assert (workdir / "data" / "archive" / "workperiod_keep.csv").read_text() == "x"
    assert not list((remote / "data").iterdir())
    assert [p.name for p in (remote / "archive").iterdir()] == ["workperiod_20250102.csv"]


@pytest.mark.slow
def test_the_vendors_sftp_keys_alone_trust_the_first_host_key_and_refuse_a_changed_one(
    workdir: Path, esm: Any, sshd_server: Any, tmp_path: Path
) -> None:
    """The page's example names no host key: the first key is trusted, recorded in the working
    directory and announced in the admin task with its fingerprint; then required."""
    password = sshd_server.user.password
    if password is None:
        pytest.skip("password login needs root (a test user with a password)")
    remote = sshd_server.new_dir("sftp-first-use")
    for name in ("data", "archive"):
        (remote / name).mkdir()
        os.chown(remote / name, sshd_server.user.uid, sshd_server.user.gid)
    sample = (SAMPLES / "title" / "title.csv").read_bytes()
    sshd_server.put(remote / "data", "title_1.csv", sample)
    params = _vendor_sftp_params(
        sshd_server, remote, esm, file_path="./data/title*.csv", data_type="title", run_type="full"
    )
    home = {"HOME": str(tmp_path / "home")}  # no ~/.ssh/known_hosts
    proc = engine(workdir, params + MAPPINGS, env=home)
    assert proc.returncode == 0, proc.stderr
    task = filed_task(proc, esm, workdir)
    record = workdir / "data" / "archive" / "sftp_known_hosts"
    assert sshd_server.known_hosts_line().strip() in record.read_text().splitlines()
    announced = task["description"].splitlines()[0]
    assert announced.startswith(f"First connection to the SFTP server {sshd_server.host_entry()}")
    assert sshd_server.host_fingerprint in announced
    assert "recorded in data/archive/sftp_known_hosts" in announced

    sshd_server.put(remote / "data", "title_2.csv", sample)  # the next day: the same key
    proc = engine(workdir, params + MAPPINGS, env=home)
    assert proc.returncode == 0, proc.stderr
    assert "First connection" not in filed_task(proc, esm, workdir)["description"]

    other = sshd_mod.keygen(tmp_path / "impostor")  # the record now names another key
    record.write_text(f"{sshd_server.host_entry()} {sshd_mod.public_line(other)}\n")
    sshd_server.put(remote / "data", "title_3.csv", sample)
    proc = engine(workdir, params + MAPPINGS, env=home)
    assert proc.returncode == 1, proc.stderr
    assert "HOST KEY HAS CHANGED" in proc.stderr
    task = json.loads((workdir / "1042_admin_task.json").read_text("utf-8"))
    assert task["case"] == "sftp_failed" and sshd_server.host_fingerprint in task["description"]
    assert not (workdir / "1042_output.json").exists()
    assert [p.name for p in (remote / "data").iterdir()] == ["title_3.csv"]


# --- the task id, the input's shape, blank fields ----------------------------------------


def _title_workdir(workdir: Path) -> None:
    (workdir / "data").mkdir(exist_ok=True)
    shutil.copy(SAMPLES / "title" / "title.csv", workdir / "data")


@pytest.mark.parametrize(
    "mappings",
    [
        '{"__taskid__": "1042"}',
        '{\n  "__taskid__": 1042,\n  "objectGUID": "title_id"\n}',
        '[{"__taskid__": "1042"}]',
    ],
)
def test_task_id_only_in_the_mappings_on_line_2(workdir: Path, esm: Any, mappings: str) -> None:
    _title_workdir(workdir)
    params = local_params(esm, "title", run_type="full")
    proc = engine(workdir, params + mappings + "\n")
    one_line(proc)
    assert proc.returncode == 0, proc.stderr
    assert (workdir / "1042_output.json").exists()
    assert filed_task(proc, esm, workdir)["task_id"] == "1042"


@pytest.mark.parametrize("line2", ["", "\n", "null\n", "[]\n", "{}\n"])
def test_line_2_absent_empty_null_or_empty(workdir: Path, esm: Any, line2: str) -> None:
    _title_workdir(workdir)
    params = local_params(esm, "title", run_type="full")
    proc = engine(workdir, params + line2, env={"EPE_TASK_ID": "77"})
    one_line(proc)
    assert proc.returncode == 0, proc.stderr
    assert (workdir / "77_output.json").exists()


def test_task_id_key_in_the_parameters(workdir: Path, esm: Any) -> None:
    _title_workdir(workdir)
    params = invocation.split_input(local_params(esm, "title", run_type="full")).params
    params["__taskid__"] = "55"
    proc = engine(workdir, json.dumps(params, indent=2) + "\n")  # pretty-printed, no line 2
    assert proc.returncode == 0, proc.stderr
    assert (workdir / "55_output.json").exists()


def test_blank_optional_fields_take_their_defaults(workdir: Path, esm: Any) -> None:
    _title_workdir(workdir)
    params = local_params(
        esm,
        "title",
        run_type="",
        minimum_row_count="",
        debug="",
        language="",
        override_update_limit="",
        report_folder_code="",
        objectGUID_field_name="",
    )
    (workdir / "data" / "archive").mkdir(parents=True)
    (workdir / "data" / "archive" / "title_archive.json").write_text("[]", encoding="utf-8")
    proc = engine(workdir, params + MAPPINGS)
    one_line(proc)
    assert proc.returncode == 0, proc.stderr  # run_type "" = partial: all 13 rows are new
    output = json.loads((workdir / "1042_output.json").read_text(encoding="utf-8"))
    assert len(output) == 13 and all(r["objectGUID"] == r["title_id"] for r in output)
    assert filed_task(proc, esm, workdir)["language"] == "en"


def test_blank_mandatory_field_is_named_missing(workdir: Path, esm: Any) -> None:
    _title_workdir(workdir)
    proc = engine(workdir, local_params(esm, "title", update_limit="") + MAPPINGS)
    one_line(proc)
    assert proc.returncode == 1
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "parameters_invalid"
    assert "missing: update_limit" in task["description"]


# --- the customer's translation.json ----------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{ not json", "not valid JSON"),
        ('["title_completed"]', "not an object of cases"),
        ('{"title_completed": {"en": "no text level"}}', 'has no "text" object'),
        ('{"title_completed": {"text": {"en": "{0} broken {"}}}', None),
    ],
)
def test_unusable_translation_file_is_ignored_and_said_so(
    workdir: Path, esm: Any, content: str, why: str | None
) -> None:
    _title_workdir(workdir)
    (workdir / "misc-files").mkdir()
    (workdir / "misc-files" / "translation.json").write_text(content, encoding="utf-8")
    proc = engine(workdir, local_params(esm, "title", run_type="full") + MAPPINGS)
    one_line(proc)
    assert proc.returncode == 0, proc.stderr
    task = filed_task(proc, esm, workdir)
    assert task["title"].startswith("HR import job titles: completed")  # the shipped text
    if why is not None:
        assert "misc-files/translation.json were not used" in task["description"]
        assert why in task["description"]
    log = (workdir / "1042_log.txt").read_text(encoding="utf-8")
    assert "misc-files/translation.json" in log


def test_custom_texts_beyond_their_placeholders_and_unknown_cases_are_named_in_the_task(
    workdir: Path, esm: Any
) -> None:
    """``{task_id:>30000000}`` made a 30 MB admin task; ``{ghost}`` printed empty without a word;
    an unknown case name was only logged. Each is now named in the task, shipped texts used."""
    _title_workdir(workdir)
    (workdir / "misc-files").mkdir()
    (workdir / "misc-files" / "translation.json").write_text(
        json.dumps(
            {
                "title_completed": {"text": {"en": "Done {task_id:>30000000}"}},
                "summary_completed": {"text": {"fi": "Valmis: {ghost}"}},
                "UpdateLimitExceededVendorName": {"text": {"en": "Too many updates"}},
            }
        ),
        encoding="utf-8",
    )
    proc = engine(workdir, plain_params(esm, "title", run_type="full", language="fi"))
    assert proc.returncode == 0, proc.stderr
    task = filed_task(proc, esm, workdir)
    assert len(json.dumps(task)) < 50_000
    assert "Valmis: " not in task["description"] and "Done " not in task["title"]
    description = task["description"]
    assert '"UpdateLimitExceededVendorName"' in description
    assert "{task_id:>30000000}" in description and "title_completed" in description
    assert "{ghost}" in description and "summary_completed" in description
    assert "misc-files/translation.json" in description


def test_custom_language_only_partly_translated_falls_back_to_english(
    workdir: Path, esm: Any
) -> None:
    _title_workdir(workdir)
    (workdir / "misc-files").mkdir()
    (workdir / "misc-files" / "translation.json").write_text(
        json.dumps({"title_completed": {"text": {"et": "HR import {data_type}: lõpetatud"}}}),
        encoding="utf-8",
    )
    proc = engine(workdir, local_params(esm, "title", run_type="full", language="et") + MAPPINGS)
    assert proc.returncode == 0, proc.stderr
    task = filed_task(proc, esm, workdir)
    assert task["title"].startswith("HR import job titles:")  # et where there is one, else en
    assert "lõpetatud" in task["title"] or "blocked" in task["title"]
    assert "Rows read: 14" in task["description"]


def test_language_without_any_text_stops_with_an_english_admin_task(
    workdir: Path, esm: Any
) -> None:
    _title_workdir(workdir)
    custom_translations(workdir)
    proc = engine(workdir, local_params(esm, "title", run_type="full", language="xx") + MAPPINGS)
    one_line(proc)
    assert proc.returncode == 1
    task = filed_task(proc, esm, workdir)
    assert task["language"] == "en" and task["case"] == "parameters_invalid"
    assert "'xx'" in task["description"] or "xx" in task["description"]
    assert not (workdir / "1042_output.json").exists()


# --- archives that are not rows -------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b'{"rows": 1}', 'neither {"data": [rows]} nor {"row ID": {row}}'),
        (b"null", "holds null"),
        (b"[1, 2, 3]", "entry 1 is a JSON int"),
        (b"", "the file is empty"),
        (b'[{"title_id": ', "not valid JSON"),
        (b'[{"cost_center_id": "CC1", "cost_center_name": "X"}]', "no row has the title row ID"),
        (b'[{"title_id": "T100", "title_name": {"fi": "x"}}]', "nested value"),
    ],
)
def test_archive_that_is_not_rows_interrupts_naming_it(
    workdir: Path, esm: Any, content: bytes, why: str
) -> None:
    _title_workdir(workdir)
    archive = workdir / "data" / "archive" / "title_archive.json"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(content)
    (workdir / "1042_output.json").write_text("[]", encoding="utf-8")  # a stale output
    proc = engine(workdir, plain_params(esm, "title"))
    one_line(proc)
    assert proc.returncode == 1, proc.stderr
    assert "data/archive/title_archive.json" in proc.stderr
    assert why in proc.stderr
    assert "Run a full load once" in proc.stderr
    assert "HR file" not in proc.stderr.split("\n")[0]
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "archive_unusable"
    assert "data/archive/title_archive.json" in task["description"]
    assert archive.read_bytes() == content  # the archive stays as it was
    assert not (workdir / "1042_output.json").exists()


def test_archive_with_numbers_and_booleans_compares_as_text(workdir: Path, esm: Any) -> None:
    (workdir / "data" / "archive").mkdir(parents=True)
    (workdir / "data" / "t.json").write_text(
        json.dumps([{"title_id": 100, "title_name": "A", "active": True}]), encoding="utf-8"
    )
    (workdir / "data" / "archive" / "title_archive.json").write_text(
        json.dumps([{"objectGUID": 100, "active": True, "title_name": "A", "title_id": 100}]),
        encoding="utf-8",
    )
    params = plain_params(esm, "title", file_path="./data/t.json")
    proc = engine(workdir, params)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((workdir / "1042_output.json").read_text(encoding="utf-8")) == []


# --- objectGUID_field_name naming a column of the file ---------------------------------------


def _with_column(workdir: Path, name: str, values: str) -> None:
    (workdir / "data").mkdir(exist_ok=True)
    lines = (SAMPLES / "title" / "title.csv").read_text(encoding="utf-8").splitlines()
    out = [f"{lines[0]};{name}"] + [f"{line};{values}{i}" for i, line in enumerate(lines[1:])]
    (workdir / "data" / "title.csv").write_text("\n".join(out) + "\n", encoding="utf-8")


def test_guid_field_naming_a_file_column_keeps_the_files_values(workdir: Path, esm: Any) -> None:
    """The vendor's wording: objectGUID_field_name names the input column that identifies the
    row. The customer's AD GUIDs in ``objectGUID`` go out as the file wrote them."""
    _with_column(workdir, "objectGUID", "3f2b8c1e-ad-guid-")
    proc = engine(workdir, plain_params(esm, "title", run_type="full"))
    one_line(proc)
    assert proc.returncode == 0, proc.stderr
    output = json.loads((workdir / "1042_output.json").read_text(encoding="utf-8"))
    assert [r["objectGUID"] for r in output][:2] == ["3f2b8c1e-ad-guid-0", "3f2b8c1e-ad-guid-1"]
    assert output[0]["title_id"] == "T100"
    # a partial run against that archive: nothing changed, the GUIDs are data like any column
    proc = engine(workdir, plain_params(esm, "title"))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((workdir / "1042_output.json").read_text(encoding="utf-8")) == []


def test_guid_field_naming_a_column_that_is_no_identifier_interrupts(
    workdir: Path, esm: Any
) -> None:
    """``last_name`` repeats (a person has several work periods): never overwritten, never
    taken as the identifier; the run stops and says which value repeats."""
    (workdir / "data").mkdir()
    shutil.copy(SAMPLES / "workperiod" / "workperiod.csv", workdir / "data")
    params = plain_params(esm, "workperiod", run_type="full", objectGUID_field_name="last_name")
    proc = engine(workdir, params)
    one_line(proc)
    assert proc.returncode == 1
    assert "objectGUID_field_name 'last_name'" in proc.stderr
    assert "appears in more than one row" in proc.stderr
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "guid_field_conflict"
    assert not (workdir / "1042_output.json").exists()
    assert not (workdir / "data" / "archive" / "workperiod_archive.json").exists()


def test_guid_field_column_with_an_empty_value_interrupts(workdir: Path, esm: Any) -> None:
    _with_column(workdir, "objectGUID", "g-")
    path = workdir / "data" / "title.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit(";", 1)[0] + ";"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = engine(workdir, plain_params(esm, "title", run_type="full"))
    assert proc.returncode == 1
    assert "line 4 has no value in it" in proc.stderr
    assert filed_task(proc, esm, workdir)["case"] == "guid_field_conflict"


def test_guid_field_naming_the_row_id_column_keeps_the_values(workdir: Path, esm: Any) -> None:
    _with_column(workdir, "objectGUID", "3f2b8c1e-ad-guid-")
    params = plain_params(
        esm,
        "title",
        run_type="full",
        field_names='{"title_id": "objectGUID"}',  # the customer's AD GUIDs are the row ID
    )
    proc = engine(workdir, params)
    assert proc.returncode == 0, proc.stderr
    output = json.loads((workdir / "1042_output.json").read_text(encoding="utf-8"))
    assert output[0]["objectGUID"] == "3f2b8c1e-ad-guid-0" and output[0]["title_id"] == "T100"


# --- dates and header names ----------------------------------------------------------------


def test_iso_date_times_and_workday_dates_are_accepted_and_kept(workdir: Path, esm: Any) -> None:
    (workdir / "data").mkdir()
    forms = [
        "2025-01-01",
        "2025-01-01T00:00:00",
        "2025-01-01T08:30:00+02:00",
        "2025-01-01T00:00:00Z",
        "2025-01-01-08:00",
        "2025-01-01 08:00",
    ]
    header = "org_unit_id;org_unit_name;start_date;end_date"
    lines = [header] + [f"OU{i};Unit {i};{f};2025-12-31T23:59:59" for i, f in enumerate(forms)]
    lines.append("OU9;Bad;2025-01-01T25:00:00;")
    (workdir / "data" / "organization.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    params = plain_params(esm, "organization", run_type="full")
    proc = engine(workdir, params)
    assert proc.returncode == 0, proc.stderr
    output = json.loads((workdir / "1042_output.json").read_text(encoding="utf-8"))
    assert [r["start_date"] for r in output] == forms  # as the file wrote them
    task = filed_task(proc, esm, workdir)
    assert task["counts"]["blocked"] == 1 and "OU9" in task["description"]


def test_header_names_match_ignoring_case_spaces_and_separators(workdir: Path, esm: Any) -> None:
    (workdir / "data").mkdir()
    rows = (SAMPLES / "title" / "title.csv").read_text(encoding="utf-8").splitlines()[1:]
    (workdir / "data" / "title.csv").write_text(
        "\n".join([" Title-ID ;TITLE NAME", *rows]) + "\n", encoding="utf-8"
    )
    proc = engine(workdir, plain_params(esm, "title", run_type="full"))
    assert proc.returncode == 0, proc.stderr
    output = json.loads((workdir / "1042_output.json").read_text(encoding="utf-8"))
    assert output[0] == {"Title-ID": "T100", "TITLE NAME": "Toimitusjohtaja", "objectGUID": "T100"}


def test_missing_column_suggests_the_one_of_its_kind_and_the_field_names_fix(
    workdir: Path, esm: Any
) -> None:
    (workdir / "data").mkdir()
    text = (SAMPLES / "workperiod" / "workperiod.csv").read_text(encoding="utf-8")
    text = text.replace("employee_number", "PersNumber", 1)
    (workdir / "data" / "workperiod.csv").write_text(text, encoding="utf-8")
    proc = engine(workdir, plain_params(esm, "workperiod", run_type="full"))
    one_line(proc)
    assert proc.returncode == 1
    assert "employee_number (did you mean PersNumber" in proc.stderr
    assert '"field_names": {"employee_number": "PersNumber"}' in proc.stderr
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "missing_columns" and "PersNumber" in task["description"]


# --- unusable invocations and unexpected errors ----------------------------------------------


def test_parameters_nested_100000_deep_exit_2_in_one_line(workdir: Path) -> None:
    proc = engine(workdir, "[" * 100_000 + "]" * 100_000 + "\n")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "nested too deeply" in proc.stderr
    deep = '{"taskid": 1, "field_names": ' + '{"a": ' * 5000 + "1" + "}" * 5001
    proc = engine(workdir, deep + "\n")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "nested" in proc.stderr
    assert list(workdir.iterdir()) == []


def test_300_character_task_id_exit_2_in_one_line(workdir: Path, esm: Any) -> None:
    _title_workdir(workdir)
    proc = engine(workdir, plain_params(esm, "title", taskid="7" * 300))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "at most 100" in proc.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["data"]


def test_read_only_working_directory_exit_2_in_one_line(workdir: Path, esm: Any) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run the wrapper as another user")
    _title_workdir(workdir)
    os.chmod(workdir, 0o555)
    system_python = Path("/usr/bin/python3.11")
    if not system_python.exists():
        pytest.skip("needs a Python another user may run")
    site_packages = sysconfig.get_paths()["purelib"]  # the test venv's, readable for everyone

    def run_as_nobody() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(system_python), str(SCRIPT)],
            input=plain_params(esm, "title"),
            cwd=workdir,
            env={
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{site_packages}",
            },
            capture_output=True,
            text=True,
            timeout=120,
            user=65534,
            group=65534,
            extra_groups=[],
        )

    proc = run_as_nobody()  # a folder above the working directory is closed to this user
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "cannot be used" in proc.stderr
    for folder in workdir.parents:  # pytest's folders under the temporary directory
        if folder == Path(tempfile.gettempdir()) or folder == folder.parent:
            break
        os.chmod(folder, os.stat(folder).st_mode | 0o005)
    proc = run_as_nobody()
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "not writable" in proc.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["data"]


#: A fault nobody planned for, started with the interpreter (``sitecustomize``): the run fails.
BROKEN_RUN = """
import hr_connector.runner

def execute(*args, **kwargs):
    raise OSError(5, "Input/output error (the disk controller failed)")

hr_connector.runner.opened_run = execute
"""


def test_unexpected_error_ends_like_an_interruption(
    workdir: Path, esm: Any, tmp_path: Path
) -> None:
    """An environment fault nobody planned for (the disk fails): one line on stderr, the stale
    output removed, the admin task kept and filed, exit 1."""
    _title_workdir(workdir)
    (workdir / "1042_output.json").write_text("[]", encoding="utf-8")
    fault = tmp_path / "fault"
    fault.mkdir()
    (fault / "sitecustomize.py").write_text(BROKEN_RUN, encoding="utf-8")
    broken = {"PYTHONPATH": str(fault)}
    proc = engine(workdir, plain_params(esm, "title", run_type="full"), env=broken)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[0].startswith("hr-connector: interrupted, nothing imported")
    assert "OSError" in proc.stderr and "disk controller" in proc.stderr
    assert not (workdir / "1042_output.json").exists()
    task = filed_task(proc, esm, workdir)
    assert task["case"] == "run_failed"
    debug = plain_params(esm, "title", run_type="full", debug="true")
    proc = engine(workdir, debug, env=broken)
    assert proc.returncode == 1 and "Traceback" in proc.stderr  # debug: the traceback too
