"""Pydantic models of the declarations: departments, resources and their fields, sources."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FieldType = Literal["text", "date", "decimal"]
Sensitivity = Literal["public", "sensitive", "secret"]
ShareType = Literal["unconditional", "conditional", "not_shared"]
Library = Literal["population", "legal_entity", "e_licence", "credit"]
LIBRARIES: tuple[str, ...] = get_args(Library)  # the four base libraries
DEPARTMENT_GROUP = "departments"  # the resources departments add beside the base libraries
UpdateCycle = Literal["realtime", "hourly", "daily", "weekly", "monthly", "quarterly", "yearly"]

#: The rule vocabulary of the declarations; `quality` implements every name (a test checks it).
RULE_NAMES: dict[str, str] = {
    "required": "present (not blank)",
    "citizen_id": "a valid citizen ID (GB 11643: check character, birth date, division code)",
    "uscc": "a valid unified social credit code (GB 32100, with the GB 11714 organisation code)",
    "in_set": "one of the field's declared values",
    "ethnic_group": "one of the 56 ethnic groups, or 其他",
    "phone": "a mainland mobile or landline number",
    "date_format": "a calendar date (YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or YYYY年M月D日)",
    "not_future": "a date not after today",
    "not_before": "a date not before the date in the named field",
    "gender_agrees_with_id": "in agreement with the sequence digit of the ID in the named field",
    "birth_date_agrees_with_id": "in agreement with the birth date in the ID in the named field",
    "industry_code": "a GB/T 4754 industry code: a section letter and up to 4 digits",
    "subject_id": "a citizen ID when the named type field says 自然人, a USCC when it says 法人",
    "number_format": "a decimal number (digits, an optional sign and decimal point)",
    "non_negative": "a number not below zero",
}

#: The same rules in Chinese, for the departments that must fix and resend rejected rows.
RULE_NAMES_ZH: dict[str, str] = {
    "required": "缺少必填值",
    "citizen_id": "不是有效的公民身份号码（校验码、出生日期或行政区划代码有误）",
    "uscc": "不是有效的统一社会信用代码（校验码或组织机构代码有误）",
    "in_set": "不在规定的取值范围内",
    "ethnic_group": "不是56个民族之一（或“其他”）",
    "phone": "不是有效的手机号码或固定电话",
    "date_format": "不是有效的日期",
    "not_future": "日期晚于今天",
    "not_before": "日期早于所依据的日期",
    "gender_agrees_with_id": "与公民身份号码中的性别不一致",
    "birth_date_agrees_with_id": "与公民身份号码中的出生日期不一致",
    "subject_id": "与主体类型不符（自然人应为公民身份号码，法人应为统一社会信用代码）",
    "industry_code": "不是有效的国民经济行业代码",
    "number_format": "不是有效的数字",
    "non_negative": "不能为负数",
}

#: Rules that take the name of another field of the same resource as their argument.
FIELD_ARGUMENT_RULES = {
    "not_before",
    "gender_agrees_with_id",
    "birth_date_agrees_with_id",
    "subject_id",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rule(Strict):
    """One declared rule of a field: a name from the vocabulary, an optional argument, and
    whether a row that fails it is rejected (quarantined) or only warned about (loaded, counted).
    """

    name: str
    arg: str | None = None
    severity: Literal["reject", "warn"] = "reject"

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in RULE_NAMES:
            raise ValueError(f"unknown rule {name!r} (known: {', '.join(sorted(RULE_NAMES))})")
        return name

    @model_validator(mode="before")
    @classmethod
    def _from_short_form(cls, value: Any) -> Any:
        """Accept `citizen_id`, `{not_before: birth_date}` or `{phone: null, severity: warn}` as
        well as the long form."""
        if isinstance(value, str):
            return {"name": value}
        if isinstance(value, dict) and "name" not in value:
            rest = {k: v for k, v in value.items() if k != "severity"}
            if len(rest) == 1:
                ((name, arg),) = rest.items()
                return {"name": name, "arg": arg} | (
                    {"severity": value["severity"]} if "severity" in value else {}
                )
        return value


class Mask(Strict):
    """How a sensitive value is shown when masked: keep so many characters at each end."""

    keep_head: int = Field(0, ge=0)
    keep_tail: int = Field(0, ge=0)

    def apply(self, value: str) -> str:
        """Keep the head and tail, star the rest (`220102********123X`)."""
        head, tail = self.keep_head, self.keep_tail
        if head + tail >= len(value):
            return "*" * len(value)
        return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


class FieldSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label_zh: str
    aliases: list[str] = []
    type: FieldType = "text"
    length: int | None = Field(None, gt=0)
    values: list[str] | None = None
    sensitivity: Sensitivity = "public"
    mask: Mask = Mask()
    description: str
    rules: list[Rule] = []
    references: list[str] = Field(
        [],
        description="Resources whose key this value should be (a cross-library check: a miss "
        "is counted as a warning, not a rejection, since libraries fill at different times).",
    )
    indexed: bool = Field(
        False,
        description="The API looks records up by this field (a licence number, a holder): the "
        "golden table gets an index on it.",
    )
    priority: list[str] = Field(
        [],
        description="Departments in order of trust for this field, overriding the resource's "
        "priority: when departments disagree, the first one's value wins.",
    )

    @property
    def required(self) -> bool:
        return any(rule.name == "required" for rule in self.rules)

    def headers(self) -> list[str]:
        """Every header that names this field in a department file."""
        return [self.name, self.label_zh, *self.aliases]


class Resource(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    library: Library | None = Field(
        None,
        description="The base library the resource belongs to; none for a department's own "
        "resource (added with `gdx catalog import`).",
    )
    name_zh: str
    name_en: str
    summary: str
    classification: str
    grain: str
    key: str
    provider: str
    share_type: ShareType
    share_conditions: str | None = None
    share_channel: str = "data-service API"
    open_attribute: Literal["open", "conditional_open", "not_open"] = "not_open"
    update_cycle: UpdateCycle
    published_on: str
    format: str = "database table"
    max_reject_ratio: float = Field(
        0.2, ge=0, le=1, description="Above this share of rejected rows a batch is rejected whole."
    )
    reject_floor: int = Field(
        5,
        ge=0,
        description="A batch with at most this many newly rejected rows is never rejected whole, "
        "whatever their share (DataX's errorLimit has a count beside its ratio): one bad row of "
        "a tiny delivery is quarantined, the rest of the delivery loads.",
    )
    fields: list[FieldSpec]
    priority: list[str] = Field(
        [],
        description="Departments in order of trust: when two deliver different values for one "
        "field, the first one's value wins; departments not listed come after, the most recent "
        "value first.",
    )
    ended_by: list[EndCondition] = Field(
        [],
        description="Explicit status values that end a record (注销, 吊销, a death date): the "
        "only way an incremental source takes a record out of service.",
    )

    expiry: Expiry | None = None
    subject_status: SubjectStatus | None = None
    related: list[str] = Field([], description="Codes of related resources in the directory.")

    @property
    def group(self) -> str:
        """The base library, or `departments` for a department's own resource (the Airflow
        pool and Asset its collections share)."""
        return self.library or DEPARTMENT_GROUP

    @property
    def table_name(self) -> str:
        """The golden table's name: the code with the dot as an underscore."""
        return self.code.replace(".", "_")

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @field_validator("published_on")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        """A real day, kept as YYYY-MM-DD (the directory exports it as an xsd:date); the forms
        departments write it in — 2026/11/21, 2026.11.21, 2026年11月21日 — are read as that day,
        so declarations imported before this rule still load."""
        found = re.fullmatch(
            r"\s*([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?\s*", value
        )
        try:
            if found:
                return dt.date(*(int(part) for part in found.groups())).isoformat()
        except ValueError:
            pass  # a day that does not exist: 2026-02-30
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")

    @model_validator(mode="after")
    def _consistent(self) -> Resource:
        names = [spec.name for spec in self.fields]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"field declared twice: {', '.join(duplicates)}")
        if self.key not in names:
            raise ValueError(f"key {self.key!r} is not a declared field")
        if not self.key_field.required:
            raise ValueError(f"key field {self.key!r} must have the rule 'required'")
        if self.share_type != "unconditional" and not self.share_conditions:
            raise ValueError(
                f"share_conditions: a {self.share_type} resource states its conditions"
            )
        if self.library is None and self.code.split(".")[0] in LIBRARIES:
            raise ValueError(
                f"library: {self.code} is named after a base library but declares none"
            )
        seen: dict[str, str] = {}
        for index, end in enumerate(self.ended_by):
            if end.field not in names:
                raise ValueError(f"ended_by[{index}]: {end.field!r} is not a declared field")
        self._check_derived(names)
        for spec in self.fields:
            for header in spec.headers():
                other = seen.setdefault(_header_key(header), spec.name)
                if other != spec.name:
                    raise ValueError(f"header {header!r} names both {other} and {spec.name}")
            for rule in spec.rules:
                self._check_rule(spec, rule, names)
            self._check_types(spec)
        return self

    def _check_derived(self, names: list[str]) -> None:
        named: list[tuple[str, str | None]] = []
        if self.expiry:
            spec = self.expiry
            named += [("expiry.field", spec.field), ("expiry.date", spec.date)]
            if spec.field in names and self.field(spec.field).values:
                allowed = self.field(spec.field).values
                for value in [spec.value, *spec.replaces]:
                    if value not in allowed:
                        raise ValueError(f"expiry: {value!r} is not a value of {spec.field}")
        if self.subject_status:
            status = self.subject_status
            named += [
                ("subject_status.subject", status.subject),
                ("subject_status.subject_type", status.subject_type),
                ("subject_status.subject_name", status.subject_name),
                ("subject_status.live_until", status.live_until),
            ]
            for index, level in enumerate(status.levels):
                named += [
                    (f"subject_status.levels[{index}].field", level.field),
                    (f"subject_status.levels[{index}].date", level.date),
                ]
        for where, name in named:
            if name is not None and name not in names:
                raise ValueError(f"{where}: {name!r} is not a declared field")

    @property
    def key_field(self) -> FieldSpec:
        return self.field(self.key)

    def _check_rule(self, spec: FieldSpec, rule: Rule, names: list[str]) -> None:
        where = f"field {spec.name}, rule {rule.name}"
        if rule.name in FIELD_ARGUMENT_RULES:
            if rule.arg not in names:
                raise ValueError(f"{where}: argument {rule.arg!r} is not a declared field")
        elif rule.arg is not None:
            raise ValueError(f"{where}: takes no argument")
        if rule.name == "in_set" and not spec.values:
            raise ValueError(f"{where}: the field declares no values")
        if rule.name in {"date_format", "not_future", "not_before"} and spec.type != "date":
            raise ValueError(f"{where}: only applies to date fields")
        if rule.name in {"number_format", "non_negative"} and spec.type != "decimal":
            raise ValueError(f"{where}: only applies to decimal fields")
        if rule.name in {"date_format", "number_format"} and rule.severity == "warn":
            raise ValueError(f"{where}: a value of the wrong type cannot be stored, so it rejects")

    def _check_types(self, spec: FieldSpec) -> None:
        names = {rule.name for rule in spec.rules}
        if spec.type == "date" and "date_format" not in names:
            raise ValueError(f"field {spec.name}: a date field needs the rule date_format")
        if spec.type == "decimal" and "number_format" not in names:
            raise ValueError(f"field {spec.name}: a decimal field needs the rule number_format")
        if spec.values and "in_set" not in names:
            raise ValueError(f"field {spec.name}: declares values but not the rule in_set")


class EndCondition(Strict):
    """A record is ended (still kept and served, marked `ended`) when this field holds one of
    these values, or, without values, when it holds any value (a death date)."""

    field: str
    values: list[str] | None = None


class Expiry(Strict):
    """A status derived from a date: once `date` has passed, a record whose `field` is one of
    `replaces` shows `value` (a licence past its 有效期截止日期 is 过期)."""

    field: str
    value: str
    date: str
    replaces: list[str]


class StatusLevel(Strict):
    """A subject is at this level when it has a live record whose `field` is in `values`
    (decided within the last `within_days` days, counted on `date`, when given)."""

    level: str
    field: str
    values: list[str]
    date: str | None = None
    within_days: int | None = Field(None, gt=0)


class SubjectStatus(Strict):
    """A status per subject derived from its live records (the credit status of a person or
    legal entity): the first level that matches, else `otherwise`. A record is live while it is
    active (not ended or removed) and its `live_until` date has not passed."""

    subject: str
    subject_type: str | None = None
    subject_name: str | None = None
    live_until: str | None = None
    levels: list[StatusLevel]
    otherwise: str


class Material(Strict):
    """An application material of a service item and the shared resource that supplies it (a
    line of the sharing responsibility list, 数据共享责任清单). Without `resource` the applicant
    must hand it in (a signed application form)."""

    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    name_zh: str
    name_en: str
    resource: str | None = None
    applicant_field: str | None = Field(
        None, description="The field of the resource that holds the applicant's ID or USCC."
    )
    fields: list[str] = []
    where: dict[str, list[str]] = Field(
        {}, description="Only records whose field holds one of these values (a licence type)."
    )
    many: bool = Field(False, description="The material is every matching record, not one.")

    @model_validator(mode="after")
    def _supplied(self) -> Material:
        if self.resource and not (self.applicant_field and self.fields):
            raise ValueError("a material supplied by a resource names applicant_field and fields")
        if not self.resource and (self.applicant_field or self.fields or self.where):
            raise ValueError("a material without a resource names no fields")
        return self


class ServiceItem(Strict):
    """A government service item (政务服务事项) and its application materials; its code is the
    purpose a consumer names in X-Purpose."""

    code: str = Field(pattern=r"^[0-9A-Z]{8,32}$")
    name_zh: str
    name_en: str
    department: str
    applicant: Literal["person", "entity", "any"]
    materials: list[Material] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> ServiceItem:
        codes = [material.code for material in self.materials]
        twice = sorted({code for code in codes if codes.count(code) > 1})
        if twice:
            raise ValueError(f"material declared twice: {', '.join(twice)}")
        return self


class Department(Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    uscc: str | None = None


class CsvOptions(Strict):
    kind: Literal["csv"] = "csv"
    path: str = Field(description="File; relative paths are read from GDX_INCOMING_DIR.")
    encoding: str = "auto"


class DropFolderOptions(Strict):
    kind: Literal["drop_folder"] = "drop_folder"
    folder: str = Field(description="Folder; relative paths are read from GDX_INCOMING_DIR.")
    pattern: str = "*.csv"
    encoding: str = "auto"


class XlsxOptions(Strict):
    kind: Literal["xlsx"] = "xlsx"
    path: str = Field(description="Workbook; relative paths are read from GDX_INCOMING_DIR.")
    sheet: str | None = Field(None, description="Sheet name; default the first sheet.")


class SqlOptions(Strict):
    kind: Literal["sql"] = "sql"
    connection: str = Field(description="Connection id: a SQLAlchemy URL in GDX_CONN_<ID>.")
    table: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.]*$")
    query: str | None = None
    watermark: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    lookback_minutes: int = Field(60, ge=0)
    batch_rows: int = Field(50_000, gt=0)

    @model_validator(mode="after")
    def _one_of_table_or_query(self) -> SqlOptions:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either table or query")
        return self


class HttpOptions(Strict):
    kind: Literal["http"] = "http"
    connection: str = Field(description="Connection id: base URL (and token) in GDX_CONN_<ID>.")
    path: str
    records: str = Field("data", description="Key of the list of records in each page.")
    paging: Literal["page", "offset", "cursor"] = "page"
    page_size: int = Field(500, gt=0, le=10_000)
    cursor_field: str = Field("next_cursor", description="Key of the next cursor (cursor paging).")
    since_param: str | None = Field(None, description="Query parameter for incremental reads.")
    since_field: str | None = Field(None, description="Record field whose maximum is the state.")
    lookback_minutes: int = Field(60, ge=0, description="Re-read this far before `since`.")
    timeout_seconds: float = Field(30, gt=0)
    retries: int = Field(3, ge=0, le=10)


SourceOptions = Annotated[
    CsvOptions | DropFolderOptions | XlsxOptions | SqlOptions | HttpOptions,
    Field(discriminator="kind"),
]


class Source(Strict):
    """A registered department delivery: where it comes from and what it contributes."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
    department: str
    resource: str
    options: SourceOptions
    fields: list[str]
    mapping: dict[str, str] = {}
    schedule: str | None = None
    description: str = ""
    full_snapshot: bool = Field(
        False,
        description="Every delivery holds all of the department's current records: a key it no "
        "longer holds is withdrawn (the department's contribution, never a physical delete).",
    )
    scope: dict[str, list[str]] = Field(
        {},
        description="The records this source speaks for, by the values of a field it delivers "
        "(a bureau's licence types, a court's list), exact or a prefix ending in `*` (a key "
        "that carries its issuer: `RT01-*`, a USCC's registration authority `9*`): a row with "
        "another value, or for a record that holds another value there, is not its to write "
        "and is quarantined (`field.source_scope`).",
    )
    time_limit_seconds: int = Field(
        3600,
        gt=0,
        description="A delivery that cannot be read, checked and merged in this time fails "
        "cleanly (nothing merged), instead of holding its library's lock and Airflow pool slot.",
    )
    max_withdraw_ratio: float = Field(
        0.25,
        ge=0,
        le=1,
        description="A full snapshot that would withdraw more than this share of the "
        "department's records is rejected whole (a truncated file must not empty a library).",
    )

    @property
    def kind(self) -> str:
        return self.options.kind

    @model_validator(mode="after")
    def _snapshot_kind(self) -> Source:
        options = self.options
        incremental = (
            self.kind == "drop_folder"
            or getattr(options, "watermark", None)
            or getattr(options, "since_param", None)
        )
        if self.full_snapshot and incremental:
            raise ValueError(
                f"full_snapshot: a {self.kind} source read incrementally cannot be a full snapshot"
            )
        return self


def _header_key(header: str) -> str:
    """The form in which headers are compared: no blanks, full-width brackets as ASCII, lower."""
    table = str.maketrans({"（": "(", "）": ")", "\u3000": None, " ": None, "\ufeff": None})
    return header.translate(table).strip().lower()


header_key = _header_key
