"""Who wins a field when departments disagree: the declared priority, then the newest value.

For every field of a resource the policy gives each department a rank (lower wins; departments
not listed share the last rank) and the field's owner: the first department in the priority
that a registered source has contribute the field. Only the owner may blank a field; an empty
value from anyone else never replaces another department's value.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog_schema.catalog import Catalog
from catalog_schema.models import Resource


@dataclass(frozen=True)
class FieldPolicy:
    order: tuple[str, ...]  # departments by rank
    owner: str | None

    def rank(self, department: str) -> int:
        return self.order.index(department) if department in self.order else len(self.order)


def policy(catalog: Catalog, resource: Resource) -> dict[str, FieldPolicy]:
    """The survivorship policy of each non-key field of a resource."""
    contributors: dict[str, list[str]] = {spec.name: [] for spec in resource.fields}
    for source in catalog.sources.values():
        if source.resource == resource.code:
            for name in source.fields:
                if source.department not in contributors[name]:
                    contributors[name].append(source.department)
    result = {}
    for spec in resource.fields:
        if spec.name == resource.key:
            continue
        order = tuple(spec.priority or resource.priority)
        registered = contributors[spec.name]
        ranked = [code for code in order if code in registered]
        owner = ranked[0] if ranked else registered[0] if len(registered) == 1 else None
        result[spec.name] = FieldPolicy(order, owner)
    return result
