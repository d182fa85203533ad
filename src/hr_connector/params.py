"""The connector's parameters: the scheduled task's "extra arguments" (PLATFORM.md §3).

EPE hands the parameters over as one JSON object whose values are often strings
(``"update_limit": "100"``, ``"debug": "false"``); this model coerces them, fills the defaults,
and turns every problem into one :class:`~hr_connector.errors.ParametersInvalid` that names all
missing and invalid keys at once, so the admin fixes the task in one go. Secrets are
:class:`pydantic.SecretStr`: they print as ``**********`` and Prefect stores them masked.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from hr_connector.errors import ParametersInvalid
from hr_connector.limits import LimitValue, OptionalLimit
from hr_connector.quality.settings import Severity, parse_checks, validate_country
from hr_connector.schemas import SCHEMAS, DataType

log = logging.getLogger(__name__)

#: Seconds between the attempts at a network step: backoff for a server briefly away.
DEFAULT_RETRY_DELAYS = (2.0, 10.0, 30.0)
#: The environment variable that changes them for a whole process (e.g. to shorten tests).
RETRY_DELAYS_ENV = "HR_CONNECTOR_RETRY_DELAYS"


def _retry_delays() -> tuple[float, ...]:
    """The delays of this run: read from the environment once, when its parameters are parsed."""
    text = os.environ.get(RETRY_DELAYS_ENV)
    if text is None:
        return DEFAULT_RETRY_DELAYS
    return tuple(float(x) for x in text.split(",") if x.strip())


#: The keys the vendor's "Scheduled task is missing extra arguments" exception lists.
REQUIRED_KEYS = (
    "file_path",
    "data_type",
    "update_limit",
    "webapi_user",
    "webapi_password",
    "webapi_url",
    "report_template_code",
)
#: Parts of keys the models do not declare (extensions, the platform's task mappings) that hint
#: at a secret value; a declared key is a secret exactly when its field is a ``SecretStr``.
SECRET_HINTS = ("password", "passphrase", "secret", "token", "key")
#: What a masked secret reads as in logs, artifacts and reports.
MASKED = "**********"
#: Where the ESM's Web APIs begin in a URL (the REST API v1 and the legacy XML Web API).
_API_PATH = re.compile(r"/(rest-api|api/itsm)(/|$)", re.IGNORECASE)
#: How people write a delimiter they cannot type into a form field.
DELIMITER_NAMES = {"\\t": "\t", "tab": "\t", "space": " "}
#: Keys that only say which run this is; accepted in the parameters object (PLATFORM.md §1).
TASK_ID_KEYS = ("taskid", "task_id", "__taskid__")


def _json_if_string(value: Any) -> Any:
    """Accept a JSON-encoded list or object where one is expected (EPE sends strings)."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
    return value


def _no_bool_number(value: Any) -> Any:
    if isinstance(value, bool):  # JSON true is not 1
        raise ValueError("a number is expected, not true/false")
    return value


_NOT_BOOL = BeforeValidator(_no_bool_number)
_JSON = BeforeValidator(_json_if_string)


class ReportAttributeCodes(BaseModel):
    """Attribute codes of the admin task datacard (PLATFORM.md §7)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = "subject"
    description: str = "description"
    attachments: str = "attachments"


class WebApiSettings(BaseModel):
    """Where and how the admin task is filed; also usable when the rest of the parameters is bad."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    webapi_url: str
    webapi_user: str = Field(min_length=1)
    webapi_password: SecretStr
    report_template_code: str = Field(min_length=1)
    report_folder_code: str = "iga_tasks"
    webapi_kind: Literal["rest", "xml"] = "rest"
    webapi_ca_bundle: str | None = None
    webapi_verify_tls: bool = True
    webapi_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    report_attribute_codes: Annotated[ReportAttributeCodes, _JSON] = ReportAttributeCodes()
    language: str = Field(default="en", min_length=2)

    @field_validator("webapi_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        """The ESM's base URL: an address of one of its Web APIs (``…/api/itsm``,
        ``…/rest-api/itsm/v1``, even a page below them) is cut to the part before it, which is
        what both clients add their API's path to."""
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError("must start with http:// or https:// and name the ESM's host")
        path = parts.path
        found = _API_PATH.search(path)
        if found:
            path = path[: found.start()]
        return f"{parts.scheme.lower()}://{parts.netloc}{path.rstrip('/')}"


class SftpSettings(BaseModel):
    """The customer's SFTP server (PLATFORM.md §2, §3); absent when the file is already local."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    sftp_server_fqdn: str = Field(min_length=1)
    sftp_server_ssh_port_number: Annotated[int, _NOT_BOOL] = Field(default=22, ge=1, le=65535)
    sftp_username: str = Field(min_length=1)
    sftp_password: SecretStr | None = None
    sftp_private_key_path: str | None = None
    sftp_private_key_passphrase: SecretStr | None = None
    sftp_remote_path_data: str = Field(min_length=1)
    sftp_remote_path_archive: str | None = None
    sftp_known_hosts: str | None = None
    sftp_host_key_fingerprint: str | None = None
    sftp_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    #: how long the remote file must keep its size and time before it is taken (whole files)
    sftp_settle_seconds: float = Field(default=10.0, ge=0, le=600)

    @model_validator(mode="after")
    def _needs_credentials(self) -> SftpSettings:
        if self.sftp_password is None and self.sftp_private_key_path is None:
            raise ValueError("give sftp_password or sftp_private_key_path")
        return self


class QualityParams(BaseModel):
    """The data-quality keys (:mod:`hr_connector.quality`): severities and figures."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    checks: Annotated[dict[str, Severity], BeforeValidator(parse_checks)] = Field(
        default_factory=dict
    )
    national_id_country: Annotated[str | None, BeforeValidator(validate_country)] = None
    # a blank value never reaches these: parse_params drops blank keys, so defaults apply
    max_file_age_hours: float | None = Field(default=None, gt=0)
    reference_archives_dir: str | None = None


class ConnectorParams(BaseModel):
    """All parameters of one run. Build it with :func:`parse_params`.

    The input is the flat JSON object customers send (PLATFORM.md §3); the keys of each settings
    group (:data:`GROUPS`) are gathered into it on input, under the group's name. The SFTP group
    is present only when ``sftp_server_fqdn`` is given.
    """

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    # The vendor's parameters (the Web API and SFTP ones are in the groups below).
    file_path: str = Field(min_length=1)
    data_type: DataType
    update_limit: Annotated[LimitValue, _NOT_BOOL]
    run_type: Literal["partial", "full"] = "partial"
    override_update_limit: bool = False
    minimum_row_count: Annotated[int | None, _NOT_BOOL] = Field(default=None, ge=0)
    #: more blocked rows than this share of the file stop the run (1: never)
    max_blocked_share: float = Field(default=0.5, ge=0, le=1)
    debug: bool = False
    objectGUID_field_name: str = Field(default="objectGUID", min_length=1)
    #: ``webapi_*``, ``report_template_code``, ``report_folder_code``, ``language``…
    webapi: WebApiSettings
    #: ``sftp_*``; None when the file is already local.
    sftp: SftpSettings | None = None

    # Extensions (PLATFORM.md §3), all optional with safe defaults.
    taskid: str | None = None
    #: any one character; a tab also as ``\\t`` or ``tab`` (how people type it in a form)
    csv_delimiter: str = ";"
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"], min_length=1)
    unique_id: Literal["employee_number", "national_id"] = "employee_number"
    field_names: dict[str, str] = Field(default_factory=dict)
    change_columns: list[str] | None = None
    report_attachment_max_mb: float = Field(default=20.0, ge=0)
    approved_changeset: str | None = None
    dry_run: bool = False
    # Limits per kind of change and the review of a stop: see hr_connector.limits.
    new_limit: OptionalLimit = None
    changed_limit: OptionalLimit = None
    removed_limit: OptionalLimit = None
    report_max_rows: int = Field(default=50, ge=0)
    #: seconds between the attempts at a network step (SFTP, the ESM Web API)
    retry_delays: tuple[float, ...] = Field(default_factory=_retry_delays)
    approved_by: str | None = None
    wait_for_approval: bool = True
    approval_timeout_hours: float = Field(default=20.0, gt=0, le=24 * 90)
    #: ``checks``, ``national_id_country``, ``max_file_age_hours``, ``reference_archives_dir``.
    quality: QualityParams = QualityParams()

    @model_validator(mode="before")
    @classmethod
    def _group_flat_keys(cls, data: Any) -> Any:
        """Gather the flat vendor keys of each group under the group's name."""
        if not isinstance(data, Mapping):
            return data
        flat = dict(data)
        for name, model in GROUPS.items():
            if name in flat:  # already grouped (a dump read back)
                continue
            part = {k: flat.pop(k) for k in list(flat) if k in model.model_fields}
            if name != "sftp" or not _blank(part.get("sftp_server_fqdn")):  # else: a local file
                flat[name] = part
        return flat

    @field_validator("data_type")
    @classmethod
    def _known_data_type(cls, value: str) -> str:
        if value not in SCHEMAS:
            raise ValueError(f"Input should be one of {', '.join(map(repr, SCHEMAS))}")
        return value

    @field_validator("run_type", mode="before")
    @classmethod
    def _full_load(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
        return "full" if value in ("full load", "full_load") else value

    @field_validator("date_formats", "field_names", "change_columns", mode="before")
    @classmethod
    def _json_values(cls, value: Any) -> Any:
        value = _json_if_string(value)
        return [value] if isinstance(value, str) else value

    @field_validator("date_formats")
    @classmethod
    def _usable_date_formats(cls, value: list[str]) -> list[str]:
        for fmt in value:  # a format must read back the date it writes ("%" does not)
            probe = date(2001, 2, 3)
            try:
                usable = datetime.strptime(probe.strftime(fmt), fmt).date() == probe
            except ValueError:
                usable = False
            if not usable:
                raise ValueError(
                    f"{fmt!r} is not a usable date format: it must name day, month and year "
                    "(strftime syntax, e.g. %Y-%m-%d or %d.%m.%Y)"
                )
        return value

    @field_validator("csv_delimiter", mode="before")
    @classmethod
    def _one_character(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in DELIMITER_NAMES:
            value = DELIMITER_NAMES[value.strip().lower()]
        if not isinstance(value, str) or len(value) != 1:
            raise ValueError('one character is expected, e.g. ";", ",", "|" or a tab ("\\t")')
        if value in '"\r\n':
            raise ValueError("a quote or a line break cannot separate the fields of a line")
        return value

    @field_validator("taskid", mode="before")
    @classmethod
    def _taskid_text(cls, value: Any) -> Any:
        return None if value is None else str(value).strip() or None

    @property
    def extra_keys(self) -> list[str]:
        return sorted((self.model_extra or {}).keys())

    def flat_dump(self) -> dict[str, Any]:
        """The parameters as the flat JSON object customers send (groups spread in place)."""
        data: dict[str, Any] = {}
        for key, value in self.model_dump(mode="json").items():
            if key in GROUPS:
                data.update(value or {})
            else:
                data[key] = value
        return data

    def safe_dump(self) -> dict[str, Any]:
        """The flat parameters with every secret masked: for logs, artifacts and reports."""
        data = self.flat_dump()
        for key in SECRET_KEYS:
            if data.get(key) is not None:
                data[key] = MASKED
        return data


#: The settings groups of :class:`ConnectorParams`: its field name -> the model of its flat keys.
GROUPS: dict[str, type[BaseModel]] = {
    "webapi": WebApiSettings,
    "sftp": SftpSettings,
    "quality": QualityParams,
}


# What is a secret is declared once: the SecretStr fields of the models above.
_MODELS: list[type[BaseModel]] = [ConnectorParams, *GROUPS.values()]
_FIELDS = [field for model in _MODELS for field in model.model_fields.items()]
#: Keys whose values are secrets: never logged, never stored by Prefect in clear.
SECRET_KEYS = frozenset(
    n for n, f in _FIELDS if SecretStr in (f.annotation, *get_args(f.annotation))
)
#: Every flat key the models declare.
_DECLARED = frozenset(n for n, _ in _FIELDS)


def is_secret_key(key: object) -> bool:
    """A declared ``SecretStr`` key, or an undeclared key whose name hints at a secret."""
    name = str(key)
    if name in SECRET_KEYS:
        return True
    return name not in _DECLARED and any(h in name.lower() for h in SECRET_HINTS)


def secret_values(model: BaseModel) -> list[str]:
    """The clear values of ``model``'s secret fields that are set, nested groups included."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found += secret_values(value)
    return found


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _flat_key(loc: tuple[int | str, ...]) -> str:
    """The vendor key an error is about: a group's name is not one (``webapi.webapi_url``)."""
    if loc and loc[0] in GROUPS:
        loc = loc[1:]
    return ".".join(str(p) for p in loc) or "parameters"


def _repeated_problems(repeated: Mapping[str, list[Any]]) -> dict[str, str]:
    """``key -> why`` for keys given more than once (a secret's values are not shown)."""
    problems: dict[str, str] = {}
    for path, values in repeated.items():
        shown = ", then ".join(json.dumps(v, ensure_ascii=False)[:60] for v in values)
        if is_secret_key(path.rsplit(".", 1)[-1]):
            shown = ""
        problems[path] = f"given {len(values)} times{shown and f' ({shown})'}: keep one"
    return problems


def parse_params(
    raw: Mapping[str, Any], *, repeated: Mapping[str, list[Any]] | None = None
) -> ConnectorParams:
    """Validate the extra arguments; raise one :class:`ParametersInvalid` naming every problem.

    ``repeated``: keys the JSON text gave more than once with different values
    (:func:`hr_connector.invocation.split_input`); each is a problem, never a silent last wins.
    """
    data = dict(raw)
    ids = [data.pop(key, None) for key in TASK_ID_KEYS]
    data["taskid"] = next((str(v) for v in ids if v not in (None, "")), None)
    missing = [key for key in REQUIRED_KEYS if _blank(data.get(key))]
    # the platform's form leaves blank fields as "" or null: for an optional key that means
    # "not given", so its default applies (PLATFORM.md §1); a tab or a space is a delimiter
    for key in [
        k for k, v in data.items() if _blank(v) and not (k == "csv_delimiter" and v and len(v) == 1)
    ]:
        del data[key]
    invalid = _repeated_problems(repeated or {})
    try:
        params = ConnectorParams.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            key = _flat_key(err["loc"])
            if err["type"] == "missing":
                if key not in missing:
                    missing.append(key)
            else:
                invalid.setdefault(key, err["msg"])
        raise ParametersInvalid(missing, invalid) from None
    if missing or invalid:
        raise ParametersInvalid(missing, invalid)
    if params.extra_keys:
        log.debug("Unknown parameter keys kept for extensions: %s", ", ".join(params.extra_keys))
    return params


def webapi_settings_from_raw(raw: Mapping[str, Any]) -> WebApiSettings | None:
    """The report target, when the Web API keys are usable even though other keys are not."""
    try:
        return WebApiSettings.model_validate({k: v for k, v in raw.items() if not _blank(v)})
    except ValidationError:
        return None
