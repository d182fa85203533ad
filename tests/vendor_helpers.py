"""Shared helpers of the tests with the vendor's inputs: its example parameters verbatim from its
page, the archives and translation file its script left, and IGAConnector.py run as the engine
runs it for a migrating customer."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from conftest import ESM_USER, SAMPLES, WEBAPI_PASSWORD
from run_helpers import SCRIPT, script_env

VENDOR_PAGE = Path("/work/shared/reference/hr-connector-vendor-doc.txt")


KEYS = {
    "workperiod": "row_id",
    "organization": "org_unit_id",
    "title": "title_id",
    "costcenter": "cost_center_id",
}


SFTP_KEYS = (
    "sftp_server_fqdn",
    "sftp_server_ssh_port_number",
    "sftp_username",
    "sftp_password",
    "sftp_remote_path_data",
    "sftp_remote_path_archive",
)


def vendor_example() -> str:
    """The page's example parameters exactly as it shows them: ``//`` comments, no-break spaces."""
    if not VENDOR_PAGE.is_file():  # pragma: no cover - the page is part of the shared reference
        pytest.skip("the vendor's page is not on this machine")
    lines = VENDOR_PAGE.read_text(encoding="utf-8").splitlines()[541:557]
    assert lines[0].lstrip().startswith('{"objectGUID_field_name"'), "the page moved"
    return "\n".join(lines) + "\n"


def customized(text: str, **values: Any) -> str:
    """The customer's own values put into the verbatim text, key by key (text stays as it is)."""
    for key, value in values.items():
        pattern = re.compile(rf'("{re.escape(key)}"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,\s}}]+)')
        found = pattern.search(text)
        if found:
            text = f"{text[: found.start(2)]}{json.dumps(value)}{text[found.end(2) :]}"
        else:  # a key the example lacks: added as the customer would, first in the object
            start = text.index("{") + 1
            text = f"{text[:start]}{json.dumps(key)}: {json.dumps(value)}, {text[start:]}"
    return text


def engine(
    workdir: Path,
    stdin: str,
    *,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The EPE script as the engine starts it, ``stdin`` as given; ``env`` adds variables."""
    return subprocess.run(
        [str(SCRIPT)],
        input=stdin,
        cwd=workdir,
        env=script_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=120,
    )


def filed_task(proc: subprocess.CompletedProcess[str], esm: Any, workdir: Path) -> dict[str, Any]:
    """The admin task the run kept, after checking that the ESM holds it as a datacard."""
    last = proc.stderr.splitlines()[-1]  # the filing's outcome, stated last
    match = re.fullmatch(
        r"hr-connector: Admin task filed in the ESM \(datacard (\d+)\); "
        r"a copy is kept in (\S+)\.",
        last,
    )
    assert match, proc.stderr
    assert esm.datacard(match.group(1)) is not None
    task: dict[str, Any] = json.loads((workdir / match.group(2)).read_text(encoding="utf-8"))
    return task


def sample_rows(data_type: str) -> tuple[list[str], list[dict[str, str]]]:
    text = (SAMPLES / data_type / f"{data_type}.csv").read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    return list(reader.fieldnames or []), list(reader)


def vendor_archive(data_type: str, seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """What the vendor's script left after yesterday's run: every row with the objectGUID key,
    keys in its own order; yesterday row 0 had another value, row 1 was not there yet and one
    row that is gone today was. Returns the rows and the expected row IDs by kind."""
    key = KEYS[data_type]
    header, rows = sample_rows(data_type)
    rng = random.Random(seed)
    archived: list[dict[str, Any]] = []
    for row in rows:
        keys = list(row)
        rng.shuffle(keys)
        entry: dict[str, Any] = {k: row[k] for k in keys}
        entry["objectGUID"] = row[key]
        archived.append(entry)
    changed_col = next(c for c in header if c != key)
    archived[0][changed_col] = archived[0][changed_col] + " (old)"
    new_id = archived.pop(1)[key]
    archived.append({**{k: "" for k in header}, key: "GONE-1", "objectGUID": "GONE-1"})
    return archived, {"changed": rows[0][key], "new": new_id, "removed": "GONE-1"}


def vendor_workdir(workdir: Path, data_type: str) -> dict[str, str]:
    """./data/<type>.csv, data/archive/<type>_archive.json from the vendor's script, and a
    custom misc-files/translation.json with some cases (one we do not know)."""
    (workdir / "data" / "archive").mkdir(parents=True)
    shutil.copy(SAMPLES / data_type / f"{data_type}.csv", workdir / "data")
    archived, expected = vendor_archive(data_type)
    (workdir / "data" / "archive" / f"{data_type}_archive.json").write_text(
        json.dumps(archived, ensure_ascii=False, indent=4), encoding="utf-8"
    )
    custom_translations(workdir)
    return expected


CUSTOM_TITLE = "Henkilöstötuonti {data_type} valmis (asiakkaan oma teksti)"


def custom_translations(workdir: Path) -> None:
    (workdir / "misc-files").mkdir(exist_ok=True)
    (workdir / "misc-files" / "translation.json").write_text(
        json.dumps(
            {
                "title_completed": {"text": {"en": CUSTOM_TITLE}},
                "title_completed_blocked": {"text": {"en": CUSTOM_TITLE + ", {blocked} estetty"}},
                "UpdateLimitExceededVendorName": {"text": {"en": "Too many updates"}},
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )


def local_params(esm: Any, data_type: str, **more: Any) -> str:
    """The vendor's example as a customer without SFTP saves it: the SFTP fields left blank."""
    values: dict[str, Any] = {
        "file_path": f"./data/{data_type}*.csv",
        "data_type": data_type,
        "webapi_user": ESM_USER,
        "webapi_password": WEBAPI_PASSWORD,
        "webapi_url": esm.url,
        **{key: "" for key in SFTP_KEYS},
        **more,
    }
    return customized(vendor_example(), **values)


MAPPINGS = '{"__taskid__": "1042"}\n'


def plain_params(esm: Any, data_type: str, **more: Any) -> str:
    """Strict one-line JSON with ``taskid``: what main already read, for the tests of single
    behaviours (they fail on main for their own reason, not for the vendor's input format)."""
    params: dict[str, Any] = {
        "file_path": f"./data/{data_type}*.csv",
        "data_type": data_type,
        "update_limit": 100,
        "run_type": "partial",
        "webapi_user": ESM_USER,
        "webapi_password": WEBAPI_PASSWORD,
        "webapi_url": esm.url,
        "report_template_code": "IGAWorkflowTaskInformation",
        "taskid": "1042",
        **more,
    }
    return json.dumps(params) + "\n"


def schema_of(**extra: Any) -> Any:
    """A run's schema of the ``data_type`` (work periods unless given) with ``extra``."""
    from hr_connector.params import parse_params
    from hr_connector.schemas import run_schema

    raw = {
        "file_path": "in/*.csv",
        "data_type": "workperiod",
        "update_limit": 5,
        "webapi_url": "http://esm",
        "webapi_user": "u",
        "webapi_password": "p",
        "report_template_code": "T",
        **extra,
    }
    return run_schema(parse_params(raw))
