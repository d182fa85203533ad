"""What is a secret is declared once: the SecretStr fields of the parameter models; masking,
redaction, stashing and resolving derive from it."""

from __future__ import annotations

import importlib.util

from pydantic import SecretStr

from hr_connector import secret_refs
from hr_connector.params import (
    SECRET_KEYS,
    ConnectorParams,
    SftpSettings,
    WebApiSettings,
    is_secret_key,
    parse_params,
    secret_values,
)

RAW = {
    "file_path": "in/*.csv",
    "data_type": "title",
    "update_limit": "5",
    "webapi_url": "http://esm",
    "webapi_user": "u",
    "webapi_password": "web-pass-1",
    "report_template_code": "T",
    "sftp_server_fqdn": "sftp.example",
    "sftp_username": "hr",
    "sftp_password": "sftp-pass-2",
    "sftp_remote_path_data": "/out",
    "sftp_private_key_passphrase": "",
}


def test_secret_keys_are_the_secretstr_fields() -> None:
    declared = {
        name
        for model in (ConnectorParams, WebApiSettings, SftpSettings)
        for name, field in model.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert declared == SECRET_KEYS
    assert {"webapi_password", "sftp_password", "sftp_private_key_passphrase"} == SECRET_KEYS


def test_every_use_derives_from_the_declaration() -> None:
    params = parse_params(RAW)
    assert sorted(secret_values(params)) == ["sftp-pass-2", "web-pass-1"]
    assert secret_values(params.sftp) == ["sftp-pass-2"]
    dumped = params.safe_dump()
    assert dumped["webapi_password"] == dumped["sftp_password"] == "**********"
    assert isinstance(params.webapi.webapi_password, SecretStr)
    # a declared key is a secret exactly when it is a SecretStr; an undeclared one by its name
    assert is_secret_key("webapi_password") and not is_secret_key("sftp_private_key_path")
    assert is_secret_key("api_token") and not is_secret_key("department")


def test_stash_and_resolve_cover_every_secret_key() -> None:
    stashed = secret_refs.stash(RAW)
    for key in SECRET_KEYS - {"sftp_private_key_passphrase"}:
        assert str(stashed[key]).startswith("memory:")
    assert stashed["sftp_private_key_passphrase"] == ""
    assert secret_refs.resolve(stashed)["sftp_password"] == "sftp-pass-2"


def test_the_module_does_not_shadow_the_standard_library() -> None:
    assert importlib.util.find_spec("hr_connector.secrets") is None
    assert importlib.util.find_spec("hr_connector.secret_refs") is not None
