"""A data type is one declaration (:mod:`hr_connector.schemas`) and its texts: a fifth one, added
here, runs through the plain pipeline like the four shipped ones."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hr_connector.outcome import Decision, ImportResult
from hr_connector.params import parse_params
from hr_connector.schemas import SAME_FILE, SCHEMAS, DataTypeSchema
from hr_connector.sinks import LocalOnlySink
from hr_connector.texts import Translations
from hr_connector.workdir import WorkDir

from conftest import base_raw
from run_helpers import run_import

LOCATION = DataTypeSchema(
    name="location",
    key="location_id",
    mandatory=("location_id", "location_name"),
    optional=("parent_location_id", "opened"),
    dates=("opened",),
    references={"parent_location_id": SAME_FILE},
    described_by=("location_name",),
)

DAY_1 = """location_id;location_name;parent_location_id;opened
L1;Helsinki;;2020-01-01
L2;Espoo;L1;2021-05-31
L3;;L1;2022-02-02
L4;Turku;L1;not a date
L6;Tampere;L9;2020-01-01
"""
DAY_2 = DAY_1.replace("L2;Espoo;L1", "L2;Espoo Centre;L1").replace("L1;Helsinki;;", "L5;Oulu;;")


@pytest.fixture
def location(monkeypatch: pytest.MonkeyPatch) -> None:
    """The declaration, and its texts (a shipped data type has them in translation.json)."""
    monkeypatch.setitem(SCHEMAS, LOCATION.name, LOCATION)
    shipped = Translations.load.__func__  # type: ignore[attr-defined]

    def load(cls: type[Translations], override: Path | None = None) -> Translations:
        texts = shipped(cls, override)
        texts.cases = {**texts.cases, LOCATION.text_key: {"en": "locations", "fi": "toimipaikat"}}
        return texts

    monkeypatch.setattr(Translations, "load", classmethod(load))


def run(workdir: Path, content: str, **raw: Any) -> ImportResult:
    (workdir / "in").mkdir(exist_ok=True)
    (workdir / "in" / "locations.csv").write_text(content, encoding="utf-8")
    params = parse_params(base_raw(data_type="location", **raw))
    return run_import(params, WorkDir(workdir, "5", "location"), LocalOnlySink())


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_fifth_data_type_is_one_declaration_and_its_texts(workdir: Path, location: None) -> None:
    full = run(workdir, DAY_1)
    assert full.decision is Decision.COMPLETED, full.interruption
    assert (full.counts.rows_read, full.counts.blocked) == (5, 2)
    assert full.data_quality == {"references": 1}  # L9 is no row of the file (a warning)
    errors = load(workdir / "data" / "archive" / "error_location_reasons.json")
    reasons = {e["row_id"]: [r["code"] for r in e["reasons"]] for e in errors}
    assert reasons == {"L3": ["missing_value"], "L4": ["invalid_date"]}
    assert [r["location_id"] for r in load(workdir / "5_output.json")] == ["L1", "L2", "L6"]
    task = load(workdir / "5_admin_task.json")
    assert "locations" in task["title"] + task["description"]

    partial = run(workdir, DAY_2, run_type="partial", language="fi")
    assert partial.decision is Decision.COMPLETED, partial.interruption
    assert (partial.counts.new, partial.counts.changed, partial.counts.removed) == (1, 1, 1)
    assert {r["location_id"] for r in load(workdir / "5_output.json")} == {"L5", "L2"}
    changes = (workdir / "5_changes.csv").read_text(encoding="utf-8")
    assert "Espoo Centre" in changes and "Helsinki" in changes
    assert "toimipaikat" in (workdir / "5_admin_task.md").read_text(encoding="utf-8")


def test_an_undeclared_data_type_is_refused_by_the_parameters() -> None:
    with pytest.raises(Exception, match="data_type"):
        parse_params(base_raw(data_type="location"))


def test_every_declared_data_type_has_its_flow_and_texts() -> None:
    from hr_connector.flows.hr_import import FLOWS

    shipped = Translations.load()
    assert sorted(FLOWS) == sorted(SCHEMAS)
    for name, declared in SCHEMAS.items():
        assert FLOWS[name].name == declared.flow_name == f"hr-import-{name}"
        assert set(shipped.cases[declared.text_key]) >= {"en", "fi", "sv", "de", "pl", "fr"}
