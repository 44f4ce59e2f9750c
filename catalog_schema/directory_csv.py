"""The directory as CSV in the columns of the national directory compilation guide
(政务信息资源目录编制指南), and the same CSV read back into resource declarations.

Every value under a Chinese column is in Chinese, in the guide's terms: share type (无条件共享),
open attribute (不予开放), update cycle (每日), format (数据库), channel (数据服务接口), and in the
data items cell (信息项信息) every field as `zh label(name:数据类型:敏感级别)`, the key first,
separated by `；` — `公民身份号码(id_number:字符型:敏感)；姓名(name:字符型:公开)`. Read back, the
Chinese terms or our codes (`text`, `sensitive`, `daily` …) are accepted; the first item is the
key (rule `required`), a date gets `date_format`, a decimal `number_format`, and each field's
description is its label.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any, get_args

from catalog_schema.catalog import Catalog, CatalogError
from catalog_schema.directory import OPEN_ATTRIBUTES_ZH, SHARE_TYPES_ZH, UPDATE_CYCLES_ZH
from catalog_schema.models import Department, FieldType, Resource, Sensitivity

#: The guide's columns, then two of ours that a declaration needs (English name, grain).
COLUMNS = (
    "信息资源分类",
    "信息资源名称",
    "信息资源代码",
    "信息资源提供方",
    "信息资源提供方代码",
    "信息资源摘要",
    "信息资源格式",
    "信息项信息",
    "共享类型",
    "共享条件",
    "共享方式",
    "是否向社会开放",
    "更新周期",
    "发布日期",
    "关联资源代码",
    "信息资源英文名称",
    "数据粒度",
)
#: The guide's data types (数据类型) of our field types.
FIELD_TYPES_ZH = {"text": "字符型", "date": "日期型", "decimal": "数值型"}
#: Sensitivity levels: public, sensitive (masked unless a grant names it), secret (never served).
SENSITIVITIES_ZH = {"public": "公开", "sensitive": "敏感", "secret": "保密"}
#: The guide's terms for the declarations' default format and channel; any other value is a
#: department's own text and passes through as it is.
FORMATS_ZH = {"database table": "数据库"}
CHANNELS_ZH = {"data-service API": "数据服务接口"}
REQUIRED = ("信息资源分类", "信息资源名称", "信息资源代码", "信息资源摘要", "信息项信息")
REQUIRED += ("共享类型", "更新周期", "发布日期")
ALIASES = {"提供方代码": "信息资源提供方代码"}
ITEM = re.compile(
    r"^(?P<label>.+?)\s*[(（]\s*(?P<name>[^:：()（）]+?)\s*[:：]\s*(?P<type>[^:：()（）]+?)\s*"
    r"[:：]\s*(?P<sensitivity>[^:：()（）]+?)\s*[)）]$"
)
CODE = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
SEPARATORS = re.compile(r"[；;]")
LIST_SEPARATORS = re.compile(r"[；;,，、\s]+")


def data_items(resource: Resource) -> str:
    """The 信息项信息 cell: every field as `label(name:type:sensitivity)`, the key first."""
    key = resource.key_field
    ordered = [key, *(spec for spec in resource.fields if spec is not key)]
    return "；".join(
        f"{spec.label_zh}({spec.name}:{FIELD_TYPES_ZH[spec.type]}:"
        f"{SENSITIVITIES_ZH[spec.sensitivity]})"
        for spec in ordered
    )


def row(resource: Resource, catalog: Catalog) -> list[str]:
    department = catalog.department(resource.provider)
    return [
        resource.classification,
        resource.name_zh,
        resource.code,
        department.name_zh,
        department.uscc or department.code,
        resource.summary,
        FORMATS_ZH.get(resource.format, resource.format),
        data_items(resource),
        SHARE_TYPES_ZH[resource.share_type],
        resource.share_conditions or "",
        CHANNELS_ZH.get(resource.share_channel, resource.share_channel),
        OPEN_ATTRIBUTES_ZH[resource.open_attribute],
        UPDATE_CYCLES_ZH[resource.update_cycle],
        resource.published_on,
        "；".join(resource.related),
        resource.name_en,
        resource.grain,
    ]


def csv_text(resources: list[Resource], catalog: Catalog) -> str:
    """The CSV, starting with a byte order mark so that Excel reads it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(row(resource, catalog) for resource in resources)
    return "\ufeff" + buffer.getvalue()


def read_csv(
    path: Path, departments: dict[str, Department], problems: list[str] | None = None
) -> list[tuple[str, dict]]:
    """The declarations of a directory CSV, each with where it came from (`file: row N`, rows
    counted as a spreadsheet does, the header being row 1); CatalogError names the file, row,
    column and what is wrong. With `problems`, a bad row's problem is appended there and the
    rows after it are read too (the file's own problems still raise)."""
    records = list(csv.reader(io.StringIO(_decode(path), newline="")))
    if not records:
        raise CatalogError(f"{path}: empty file, expected a header row")
    header = [ALIASES.get(name, name) for name in (cell.strip() for cell in records[0])]
    missing = [name for name in REQUIRED if name not in header]
    if not {"信息资源提供方", "信息资源提供方代码"} & set(header):
        missing.append("信息资源提供方代码")
    if missing:
        raise CatalogError(f"{path}: row 1: missing column {', '.join(missing)}")
    declarations = []
    for number, cells in enumerate(records[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        where = f"{path}: row {number}"
        try:
            if len(cells) > len(header):
                raise CatalogError(f"{where}: {len(cells)} cells, the header has {len(header)}")
            values = {name: cell.strip() for name, cell in zip(header, cells, strict=False)}
            declarations.append((where, declaration(where, values, departments)))
        except CatalogError as exc:
            if problems is None:
                raise
            problems.append(str(exc))
    if not declarations and not problems:
        raise CatalogError(f"{path}: no resource rows under the header")
    return declarations


def declaration(where: str, values: dict[str, str], departments: dict[str, Department]) -> dict:
    """One CSV row as a resource declaration (the mapping of a resource YAML)."""

    def cell(column: str) -> str:
        value = values.get(column, "")
        if column in REQUIRED and not value:
            raise CatalogError(f"{where}: {column}: required")
        return value

    code = cell("信息资源代码")
    if not CODE.fullmatch(code):
        raise CatalogError(
            f"{where}: 信息资源代码: {code!r} is not `department.resource` (lower-case letters, "
            "digits and _), e.g. health.physician_roster"
        )
    fields = _fields(where, cell("信息项信息"))
    share_type = _choice(where, "共享类型", cell("共享类型"), SHARE_TYPES_ZH)
    if share_type != "unconditional" and not cell("共享条件"):
        raise CatalogError(f"{where}: 共享条件: required for {SHARE_TYPES_ZH[share_type]}")
    data: dict[str, Any] = {
        "code": code,
        "name_zh": cell("信息资源名称"),
        "name_en": cell("信息资源英文名称") or code,
        "summary": cell("信息资源摘要"),
        "classification": cell("信息资源分类"),
        "grain": cell("数据粒度") or f"one row per {fields[0]['name']}",
        "key": fields[0]["name"],
        "provider": _provider(where, values, departments),
        "share_type": share_type,
        "open_attribute": _choice(
            where, "是否向社会开放", cell("是否向社会开放") or "不予开放", OPEN_ATTRIBUTES_ZH
        ),
        "update_cycle": _choice(where, "更新周期", cell("更新周期"), UPDATE_CYCLES_ZH),
        "published_on": _date(where, cell("发布日期")),
        "fields": fields,
        "related": [code for code in LIST_SEPARATORS.split(cell("关联资源代码")) if code],
    }
    optional = {
        "share_conditions": "共享条件",
        "share_channel": "共享方式",
        "format": "信息资源格式",
    }
    data |= {name: cell(column) for name, column in optional.items() if cell(column)}
    for name, terms in (("share_channel", CHANNELS_ZH), ("format", FORMATS_ZH)):
        if name in data:  # the guide's term read back as the declarations' own
            data[name] = next((code for code, zh in terms.items() if zh == data[name]), data[name])
    return data


def _fields(where: str, text: str) -> list[dict[str, Any]]:
    fields = []
    types = {**{name: name for name in get_args(FieldType)}, **_reverse(FIELD_TYPES_ZH)}
    sensitivities = {
        **{name: name for name in get_args(Sensitivity)},
        **_reverse(SENSITIVITIES_ZH),
    }
    items = [item.strip() for item in SEPARATORS.split(text) if item.strip()]
    for number, item in enumerate(items, start=1):
        at = f"{where}: 信息项信息 item {number}"
        found = ITEM.match(item)
        if not found:
            raise CatalogError(
                f"{at}: {item!r} is not 'label(name:数据类型:敏感级别)', "
                "e.g. 姓名(name:字符型:公开)"
            )
        name, kind, sensitivity = found["name"], found["type"], found["sensitivity"]
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise CatalogError(f"{at}: name {name!r}: lower-case letters, digits and _ only")
        if kind not in types:
            raise CatalogError(
                f"{at} ({name}): type {kind!r} is not one of {', '.join(FIELD_TYPES_ZH.values())}"
            )
        if sensitivity not in sensitivities:
            raise CatalogError(
                f"{at} ({name}): sensitivity {sensitivity!r} is not one of "
                f"{', '.join(SENSITIVITIES_ZH.values())}"
            )
        kind, sensitivity = types[kind], sensitivities[sensitivity]
        rules = ["required"] if number == 1 else []
        rules += {"date": ["date_format"], "decimal": ["number_format"]}.get(kind, [])
        fields.append(
            {
                "name": name,
                "label_zh": found["label"],
                "type": kind,
                "sensitivity": sensitivity,
                "description": found["label"],
                "rules": rules,
            }
        )
    return fields


def _reverse(terms: dict[str, str]) -> dict[str, str]:
    return {zh: code for code, zh in terms.items()}


def _provider(where: str, values: dict[str, str], departments: dict[str, Department]) -> str:
    code, name = values.get("信息资源提供方代码", ""), values.get("信息资源提供方", "")
    if code:
        found = [d for d in departments.values() if code in (d.uscc, d.code)]
        if not found:
            raise CatalogError(f"{where}: 信息资源提供方代码: no declared department has {code!r}")
        department = found[0]
        if name and name not in (department.name_zh, department.code):
            raise CatalogError(
                f"{where}: 信息资源提供方: {name!r} is not {department.name_zh}, the department "
                f"with the code {code}"
            )
        return department.code
    found = [d for d in departments.values() if name in (d.name_zh, d.code)]
    if not name or not found:
        raise CatalogError(f"{where}: 信息资源提供方: unknown department {name!r}")
    return found[0].code


def _choice(where: str, column: str, value: str, labels: dict[str, str]) -> str:
    """A value given in Chinese (无条件共享) or as its code (unconditional)."""
    for code, label in labels.items():
        if value in (code, label):
            return code
    raise CatalogError(f"{where}: {column}: {value!r} is not one of {', '.join(labels.values())}")


def _date(where: str, value: str) -> str:
    try:
        year, month, day = (int(part) for part in re.split(r"[-/.]", value))
        return dt.date(year, month, day).isoformat()
    except ValueError:
        raise CatalogError(f"{where}: 发布日期: {value!r} is not a date (YYYY-MM-DD)") from None


def _decode(path: Path) -> str:
    """UTF-8 (with or without BOM), else GB18030 (a CSV that Excel saved on Chinese Windows)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise CatalogError(f"{path}: byte {exc.start}: neither UTF-8 nor GB18030") from None
