"""Guards that stand behind another one, each tested on its own (the first layer taken away or
gone round), so that removing one while the other still holds is noticed:

- fetch refuses an empty file (the parse step refuses a file without rows, too);
- the XML parser resolves no entity and loads no DTD (the reader refuses a DOCTYPE before the
  parser sees the file);
- the admin task's Prefect artifact masks national IDs (the admin task masks them already).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hr_connector import artifacts, fetch
from hr_connector.errors import FileEmpty
from hr_connector.outcome import Decision, ImportResult
from hr_connector.readers import xml_reader
from hr_connector.workdir import WorkDir

from run_helpers import place_bytes


def test_fetch_refuses_an_empty_file_by_name(workdir: Path) -> None:
    place_bytes(workdir, "title.csv", b"")
    with pytest.raises(FileEmpty) as refused:
        fetch.locate_local_file(WorkDir(workdir, "3", "title"), "in/*.csv")
    assert refused.value.case == "file_empty"
    assert "title.csv" in refused.value.message


def test_fetch_finds_a_file_of_one_byte(workdir: Path) -> None:
    place_bytes(workdir, "title.csv", b"\n")
    assert fetch.locate_local_file(WorkDir(workdir, "3", "title"), "in/*.csv").name == "title.csv"


@pytest.fixture
def parser_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader without its DOCTYPE refusal: the parser's own options are all that is left."""
    monkeypatch.setattr(xml_reader, "_check_prolog", lambda fh, name: None)


def _read(path: Path) -> list[dict[str, str | None]]:
    with path.open("rb") as fh:
        return xml_reader.read_xml(fh, path.name).frame.to_dicts()


def test_the_xml_parser_expands_no_entity(parser_alone: None, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-FROM-DISK", encoding="utf-8")
    path = tmp_path / "title.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE titles [<!ENTITY inner "EXPANDED">'
        f'<!ENTITY outer SYSTEM "{secret.as_uri()}">]>\n'
        "<titles><title><title_id>T1</title_id><title_name>&inner;&outer;</title_name></title>"
        "</titles>\n",
        encoding="utf-8",
    )
    try:
        rows = _read(path)
    except Exception as refused:  # refusing the entities is as good as not expanding them
        assert "EXPANDED" not in str(refused) and "SECRET" not in str(refused)
        return
    text = repr(rows)
    assert "EXPANDED" not in text and "SECRET-FROM-DISK" not in text


def test_the_xml_parser_loads_no_dtd(parser_alone: None, tmp_path: Path) -> None:
    """A DTD the parser read would fail the file here (it is not one). Over the network it could
    not be read either: this libxml2 is built without HTTP, and ``no_network`` is set too."""
    dtd = tmp_path / "titles.dtd"
    dtd.write_text("<!ELEMENT this is not a DTD", encoding="utf-8")
    path = tmp_path / "title.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<!DOCTYPE titles SYSTEM "{dtd.as_uri()}">\n'
        "<titles><title><title_id>T1</title_id><title_name>CEO</title_name></title></titles>\n",
        encoding="utf-8",
    )
    assert _read(path) == [{"title_id": "T1", "title_name": "CEO"}]


def test_the_admin_task_artifact_masks_national_ids(workdir: Path) -> None:
    wd = WorkDir(workdir, "3", "workperiod")
    # an admin task file as an older version, or a hand, left it: a national ID in clear
    wd.admin_task_markdown.write_text(
        "# workperiod: completed\n- row ID WP-0001: national_id 130468-912K\n", encoding="utf-8"
    )
    result = ImportResult(
        task_id="3", data_type="workperiod", run_type="full", decision=Decision.COMPLETED
    )
    shown = artifacts.admin_task_markdown(result, wd)
    assert "130468-912K" not in shown
    assert "*********2K" in shown and "row ID WP-0001" in shown
