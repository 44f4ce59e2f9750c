"""Write authority (一数一源): which department may write which fields of a resource.

The directory says who is the source of what. A department writes a resource only where it is a
registered source of it (`sources.yaml`) or the provider of a resource it imported itself, and
only the fields its sources declare; the status or date fields that end a record (`ended_by`)
are fields like the others, so only a source declared for them can end a record. Every write
path (collection, `gdx load`, quarantine retry, uploads) asks here before a row is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog_schema.catalog import Catalog, CatalogError
from catalog_schema.models import Resource, Source


class WriteRefused(CatalogError):
    """A department asked to write what the directory does not make it the source of."""


@dataclass(frozen=True)
class Authority:
    """What one department may write into one resource, and on whose declaration."""

    resource: Resource
    department: str
    fields: tuple[str, ...]  # in declaration order, the key first
    sources: tuple[Source, ...]  # the registered sources that grant it (none: the provider)

    @property
    def source(self) -> Source | None:
        """The one registered source this delivery speaks for (its mapping and required
        fields apply), when there is exactly one."""
        return self.sources[0] if len(self.sources) == 1 else None

    @property
    def scope(self) -> dict[str, frozenset[str]]:
        """The records the delivery may write, by field values: each of its sources' scopes
        together (none when one of them is unscoped, or for a resource's own provider)."""
        if not self.sources or any(not s.scope for s in self.sources):
            return {}
        fields = set.intersection(*(set(s.scope) for s in self.sources))
        return {name: frozenset(v for s in self.sources for v in s.scope[name]) for name in fields}

    @property
    def mapping(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for source in self.sources:
            merged.update(source.mapping)
        return merged


def writers(catalog: Catalog, resource: Resource) -> dict[str, list[str]]:
    """{department: the registered sources (or `provider`) that let it write the resource}."""
    found: dict[str, list[str]] = {}
    for source in catalog.sources.values():
        if source.resource == resource.code:
            found.setdefault(source.department, []).append(source.code)
    if resource.code in catalog.imported:
        found.setdefault(resource.provider, []).append("provider")
    return found


def describe_writers(catalog: Catalog, resource: Resource, field: str | None = None) -> str:
    """`public_security (public_security.population), civil_affairs (…)`, or `none`."""
    parts = []
    for department, grants in writers(catalog, resource).items():
        if field is not None and field not in _fields_of(catalog, resource, department):
            continue
        parts.append(f"{department} ({', '.join(grants)})")
    return ", ".join(parts) or "none"


def authority(
    catalog: Catalog, resource_code: str, department: str, source: str | None = None
) -> Authority:
    """What `department` may write into the resource, through `source` when one is named.

    Raises WriteRefused (one line naming the departments that may write it) when the directory
    makes the department no source of the resource, or the named source is another's.
    """
    resource = catalog.resource(resource_code)
    catalog.department(department)
    if source is not None:
        registered = catalog.source(source)
        if registered.resource != resource.code or registered.department != department:
            raise WriteRefused(
                f"source {registered.code} is {registered.department}'s delivery of "
                f"{registered.resource}, not {department}'s of {resource.code}"
            )
        return Authority(resource, department, _ordered(resource, registered.fields), (registered,))
    sources = _sources_of(catalog, resource, department)
    if not sources and not _provides(catalog, resource, department):
        raise WriteRefused(
            f"{department} may not write {resource.code}: the directory makes it no source of "
            f"it; its writers are {describe_writers(catalog, resource)}"
        )
    return Authority(
        resource, department, _ordered(resource, _fields_of(catalog, resource, department)), sources
    )


def _sources_of(catalog: Catalog, resource: Resource, department: str) -> tuple[Source, ...]:
    return tuple(
        s
        for s in catalog.sources.values()
        if s.resource == resource.code and s.department == department
    )


def _provides(catalog: Catalog, resource: Resource, department: str) -> bool:
    """The department imported the resource itself (`gdx catalog import`): it writes it all."""
    return resource.code in catalog.imported and resource.provider == department


def _fields_of(catalog: Catalog, resource: Resource, department: str) -> set[str]:
    if _provides(catalog, resource, department):
        return {spec.name for spec in resource.fields}
    return {name for s in _sources_of(catalog, resource, department) for name in s.fields}


def _ordered(resource: Resource, names) -> tuple[str, ...]:
    wanted = set(names) | {resource.key}
    return tuple(spec.name for spec in resource.fields if spec.name in wanted)
