"""Match a department file's headers to the fields of a resource."""

from __future__ import annotations

from dataclasses import dataclass, field

from catalog_schema.models import Resource, header_key


class HeaderError(ValueError):
    """Two columns name one field, or a column maps to an undeclared field."""


@dataclass(frozen=True)
class HeaderMap:
    columns: dict[str, str]  # file header -> field name
    unknown: list[str]  # headers that name no field of the resource
    missing: list[str]  # contributed fields with no column
    withheld: dict[str, str] = field(default_factory=dict)  # header -> a field not contributed

    @property
    def fields(self) -> list[str]:
        return list(self.columns.values())


def map_headers(
    resource: Resource,
    headers: list[str],
    mapping: dict[str, str] | None = None,
    fields: list[str] | None = None,
) -> HeaderMap:
    """Map headers by field name, zh label or alias (or the explicit `mapping`).

    `fields` limits what the delivery contributes (what its department may write, see
    catalog_schema.authority); a column of another field of the resource is withheld, not read.
    """
    lookup = {header_key(h): spec.name for spec in resource.fields for h in spec.headers()}
    lookup.update({header_key(h): name for h, name in (mapping or {}).items()})
    allowed = set(fields) if fields is not None else {spec.name for spec in resource.fields}
    columns: dict[str, str] = {}
    unknown: list[str] = []
    withheld: dict[str, str] = {}
    for header in headers:
        name = lookup.get(header_key(header))
        if name is None:
            unknown.append(header)
            continue
        if name not in allowed:
            withheld[header] = name
            continue
        taken = next((h for h, f in columns.items() if f == name), None)
        if taken is not None:
            raise HeaderError(f"columns {taken!r} and {header!r} both name the field {name}")
        columns[header] = name
    order = [spec.name for spec in resource.fields if spec.name in allowed]
    missing = [name for name in order if name not in columns.values()]
    return HeaderMap(columns, unknown, missing, withheld)
