"""What the two sides of an access request share in the portal: reading an id from a URL,
showing a request (its status, fields, purpose, end), and turning a GrantError into the message
beside the field it names."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from catalog_schema import Catalog
from runtime import clock
from warehouse.grants import GrantError

MAX_ID = 2**31 - 1
STATUS_NAMES = {
    "pending": ("待审核", "pending"),
    "approved": ("已批准", "approved"),
    "expired": ("已到期", "expired"),
    "refused": ("未批准", "refused"),
    "revoked": ("已撤销", "revoked"),
    "withdrawn": ("已撤回", "withdrawn"),
}
# the form field a GrantError's message names (before its ':'), where it differs
FORM_FIELDS = {"requested_until": "until"}
# a lead in Chinese for each field's message (the data layer words its messages in English)
LEADS = {
    "fields": "请选择要使用的数据项。",
    "service_item": "请选择服务事项。",
    "purpose": "请说明数据用途。",
    "until": "请填写有效的截止日期。",
    "reason": "请填写理由。",
    "resource": "该资源不可申请。",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def request_id(raw: str) -> int | None:
    """The id in a URL, or None when it cannot be one (the page is then 404, as unknown)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def field_error(exc: GrantError) -> tuple[str, str]:
    """(form field, message) of a GrantError whose message starts with `field: `."""
    name, sep, rest = exc.message.partition(": ")
    if not sep or not re.fullmatch(r"[a-z_]+", name):
        return "form", exc.message
    name = FORM_FIELDS.get(name, name)
    return name, f"{LEADS.get(name, '')} {rest}".strip()


def control_characters(**texts: str) -> dict[str, str]:
    """Errors for texts holding control characters (line breaks and tabs are fine)."""
    return {
        name: "不能包含控制字符。 Control characters are not allowed."
        for name, text in texts.items()
        if _CONTROL.search(text)
    }


def date_of(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


def today() -> dt.date:
    return clock.local(clock.now()).date()


def one_year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def last_day(expires_at: dt.datetime | None) -> dt.date | None:
    """The last day of a grant (it ends at the start of the day after, local time)."""
    if expires_at is None:
        return None
    return (clock.local(expires_at) - dt.timedelta(microseconds=1)).date()


def shown(found: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """A request (grants.get) with what a page shows of it: the resource's and the service
    item's names, each field's label, the grant's last day."""
    resource = catalog.resources.get(found["resource"])
    labels = {spec.name: spec.label_zh for spec in resource.fields} if resource else {}
    item = catalog.service_items.get(found["service_item"])
    return {
        **found,
        "resource_name": resource.name_zh if resource else found["resource"],
        "resource_name_en": resource.name_en if resource else found["resource"],
        "field_labels": [(name, labels.get(name, name)) for name in found["fields"]],
        "item_name": item.name_zh if item else found["service_item"],
        "item_name_en": item.name_en if item else found["service_item"],
        "until": last_day(found["expires_at"]),
    }
