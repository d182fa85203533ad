"""The parameters are built from parts: the flat vendor keys customers send are grouped on input
into settings models, and every message still names the flat keys."""

from __future__ import annotations

import pytest

from hr_connector.errors import ParametersInvalid
from hr_connector.params import (
    ConnectorParams,
    QualityParams,
    SftpSettings,
    WebApiSettings,
    parse_params,
)

#: The vendor's SFTP example, as its page gives it (blank fields included).
RAW = {
    "file_path": "./organization/*.csv",
    "data_type": "organization",
    "update_limit": "100",
    "webapi_url": "https://customer.example.com/",
    "webapi_user": "iga.webapi",
    "webapi_password": "pw-1",
    "report_template_code": "IGAWorkflowTaskInformation",
    "report_folder_code": "",
    "language": "",
    "sftp_server_fqdn": "sftp.example.com",
    "sftp_server_ssh_port_number": "2222",
    "sftp_username": "hr",
    "sftp_password": "pw-2",
    "sftp_remote_path_data": "/hr/organization",
    "sftp_remote_path_archive": "",
    "national_id_country": "fi",
    "custom_key": "kept",
}


def test_flat_keys_are_grouped_into_settings_models() -> None:
    params = parse_params(RAW)
    assert isinstance(params.webapi, WebApiSettings)
    assert isinstance(params.sftp, SftpSettings)
    assert isinstance(params.quality, QualityParams)
    assert params.webapi.webapi_url == "https://customer.example.com"
    assert (params.webapi.language, params.webapi.report_folder_code) == ("en", "iga_tasks")
    assert params.sftp.sftp_server_ssh_port_number == 2222
    assert params.sftp.sftp_remote_path_archive is None
    assert params.quality.national_id_country == "fi"
    assert params.extra_keys == ["custom_key"]
    for group in ("webapi", "sftp", "quality"):
        assert group not in params.safe_dump()
    assert params.safe_dump()["sftp_username"] == "hr"
    assert params.safe_dump()["sftp_password"] == "**********"


def test_the_sftp_group_exists_only_with_a_server() -> None:
    local = {k: v for k, v in RAW.items() if k != "sftp_server_fqdn"}
    params = parse_params(local)
    assert params.sftp is None
    assert not any(k.startswith("sftp_") for k in params.extra_keys)
    assert parse_params({**RAW, "sftp_server_fqdn": " "}).sftp is None


def test_errors_name_the_flat_vendor_keys() -> None:
    raw = {**RAW, "sftp_username": "", "webapi_url": "ftp://x", "webapi_password": None}
    raw["sftp_server_ssh_port_number"] = True
    with pytest.raises(ParametersInvalid) as info:
        parse_params(raw)
    assert info.value.missing == ["sftp_username", "webapi_password"]
    assert sorted(info.value.invalid) == ["sftp_server_ssh_port_number", "webapi_url"]
    assert "webapi." not in str(info.value) and "sftp." not in str(info.value)


def test_a_dump_reads_back_as_the_same_parameters() -> None:
    params = parse_params(RAW)
    assert ConnectorParams.model_validate(params.model_dump()) == params
    secrets = {k: RAW[k] for k in ("webapi_password", "sftp_password")}
    assert parse_params({**params.flat_dump(), **secrets}) == params
