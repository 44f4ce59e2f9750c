"""The published directory (政务信息资源目录): one entry per resource, its filters and keyset
paging (the DCAT-AP export is `catalog_schema.dcat`). Pure: the figures are passed in."""

from __future__ import annotations

import datetime as dt
from typing import Any

from catalog_schema.catalog import Catalog
from catalog_schema.models import Department, Resource, ServiceItem
from runtime import clock

API = "/api/v1"
SHARE_TYPES_ZH = {
    "unconditional": "无条件共享",
    "conditional": "有条件共享",
    "not_shared": "不予共享",
}
OPEN_ATTRIBUTES_ZH = {
    "open": "无条件开放",
    "conditional_open": "有条件开放",
    "not_open": "不予开放",
}
UPDATE_CYCLES_ZH = {
    "realtime": "实时",
    "hourly": "每小时",
    "daily": "每日",
    "weekly": "每周",
    "monthly": "每月",
    "quarterly": "每季度",
    "yearly": "每年",
}
FIGURES = ("records", "last_update", "last_collected", "fresh", "pass_rate", "open_conflicts")


def provider(department: Department) -> dict[str, Any]:
    return {
        "code": department.code,
        "name_zh": department.name_zh,
        "name_en": department.name_en,
        "uscc": department.uscc,
    }


def endpoints(resource: Resource) -> list[dict[str, str]]:
    """The data-service routes that serve a shared resource; none for a resource not shared."""
    if resource.share_type == "not_shared":
        return []
    base = f"{API}/resources/{resource.code}/records"
    return [
        {"method": "GET", "path": f"{base}/{{{resource.key}}}", "does": "one record by its key"},
        {"method": "GET", "path": base, "does": "records filtered by fields, keyset paging"},
        {"method": "POST", "path": f"{base}:batch", "does": "many records by key at once"},
    ]


def entry(resource: Resource, catalog: Catalog, figures: dict[str, Any] | None) -> dict:
    """The directory entry of one resource, with its published figures (None before the first
    `gdx publish`)."""
    return {
        "code": resource.code,
        "library": resource.group,
        "imported": resource.code in catalog.imported,
        "name_zh": resource.name_zh,
        "name_en": resource.name_en,
        "summary": resource.summary,
        "classification": resource.classification,
        "grain": resource.grain,
        "key": resource.key,
        "format": resource.format,
        "provider": provider(catalog.department(resource.provider)),
        "share_type": resource.share_type,
        "share_type_zh": SHARE_TYPES_ZH[resource.share_type],
        "share_conditions": resource.share_conditions,
        "share_channel": resource.share_channel,
        "open_attribute": resource.open_attribute,
        "update_cycle": resource.update_cycle,
        "published_on": resource.published_on,
        "fields": [
            {
                "name": spec.name,
                "label_zh": spec.label_zh,
                "type": spec.type,
                "sensitivity": spec.sensitivity,
                "description": spec.description,
            }
            for spec in resource.fields
        ],
        "related": list(resource.related),
        "figures": _figures(figures),
        "endpoints": endpoints(resource),
    }


def service_item(item: ServiceItem, catalog: Catalog) -> dict:
    """A line of the sharing responsibility list: a service item, its materials and the shared
    resource that supplies each (none: the applicant hands it in)."""
    materials = []
    for material in item.materials:
        supplier = catalog.resources.get(material.resource or "")
        materials.append(
            {
                "code": material.code,
                "name_zh": material.name_zh,
                "name_en": material.name_en,
                "supplied_by": _supplier(supplier) if supplier else None,
                "applicant_field": material.applicant_field,
                "fields": list(material.fields),
                "where": {name: list(values) for name, values in material.where.items()},
                "many": material.many,
            }
        )
    return {
        "code": item.code,
        "name_zh": item.name_zh,
        "name_en": item.name_en,
        "department": provider(catalog.department(item.department)),
        "applicant": item.applicant,
        "materials": materials,
        "shared": sum(1 for material in materials if material["supplied_by"]),
    }


def _supplier(resource: Resource) -> dict[str, str]:
    return {
        "code": resource.code,
        "name_zh": resource.name_zh,
        "share_type": resource.share_type,
        "provider": resource.provider,
    }


def _figures(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """The published figures, their times local with their offset (runtime.clock.iso)."""
    if row is None:
        return None
    values = {name: row.get(name) for name in (*FIGURES, "computed_at")}
    return {
        name: clock.iso(value) if isinstance(value, dt.datetime) else value
        for name, value in values.items()
    }


def matches(
    resource: Resource,
    *,
    library: str | None = None,
    provider: str | None = None,
    share_type: str | None = None,
    q: str | None = None,
    update_cycle: str | None = None,
    open_attribute: str | None = None,
) -> bool:
    """Whether a resource passes the directory's filters; `q` is a case-insensitive part of its
    names, summary, code, or a field's name or zh label. (The portal also filters on the update
    cycle and the open attribute; the API does not offer those yet.)"""
    if library and resource.group != library:
        return False
    if provider and resource.provider != provider:
        return False
    if share_type and resource.share_type != share_type:
        return False
    if update_cycle and resource.update_cycle != update_cycle:
        return False
    if open_attribute and resource.open_attribute != open_attribute:
        return False
    if q:
        words = [resource.code, resource.name_zh, resource.name_en, resource.summary]
        words += [part for spec in resource.fields for part in (spec.name, spec.label_zh)]
        needle = q.strip().casefold()
        return any(needle in word.casefold() for word in words)
    return True


def select(catalog: Catalog, **filters: str | None) -> list[Resource]:
    """The resources that pass the filters, in code order."""
    return [
        catalog.resources[code]
        for code in sorted(catalog.resources)
        if matches(catalog.resources[code], **filters)
    ]


def page(resources: list[Resource], after: str | None, limit: int) -> tuple[list[Resource], bool]:
    """Keyset paging on the code: up to `limit` resources after the code `after`, and whether
    more follow."""
    rest = [resource for resource in resources if after is None or resource.code > after]
    return rest[:limit], len(rest) > limit
