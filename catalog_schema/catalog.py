"""Load and cross-check the declarations of a catalog folder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from catalog_schema.models import Department, Resource, ServiceItem, Source

DEFAULT_DIR = Path(__file__).resolve().parent


class CatalogError(Exception):
    """A declaration is malformed; the message names the file, the path inside it and why."""


@dataclass(frozen=True)
class Catalog:
    directory: Path
    departments: dict[str, Department]
    resources: dict[str, Resource]
    sources: dict[str, Source]
    service_items: dict[str, ServiceItem] = dataclasses.field(default_factory=dict)
    imported: frozenset[str] = frozenset()  # codes of resources departments imported

    def resource(self, code: str) -> Resource:
        return _lookup(self.resources, code, "unknown resource", "declared")

    def service_item(self, code: str) -> ServiceItem:
        return _lookup(self.service_items, code, "unknown service item", "declared")

    def department(self, code: str) -> Department:
        return _lookup(self.departments, code, "unknown department", "declared")

    def source(self, code: str) -> Source:
        return _lookup(self.sources, code, "unknown source", "registered")


def _lookup(items: dict[str, Any], code: str, unknown: str, listed: str) -> Any:
    try:
        return items[code]
    except KeyError:
        known = ", ".join(sorted(items))
        raise CatalogError(f"{unknown} {code!r} ({listed}: {known})") from None


def configured_catalog() -> Catalog:
    """This deployment's declarations: the catalog folder (GDX_CATALOG_DIR, else the packaged
    one) plus the resources departments imported (GDX_IMPORTS_DIR)."""
    from runtime import settings

    return load_catalog(settings.catalog_dir(), settings.imports_dir())


def load_catalog(
    directory: Path | str | None = None, imported: Path | str | None = None
) -> Catalog:
    """Read `departments.yaml`, `resources/*.yaml`, `sources.yaml` and `service_items.yaml` and
    check them together; `imported` is a folder of resources departments added (each a
    `<code>.yaml`, written by `gdx catalog import`)."""
    root = Path(directory) if directory else DEFAULT_DIR
    if not root.is_dir():
        raise CatalogError(f"{root}: catalog folder not found")
    departments = _index(
        _load_list(root / "departments.yaml", "departments", Department), "departments.yaml"
    )
    resources: dict[str, Resource] = {}
    paths: dict[str, Path] = {}
    for path in sorted((root / "resources").glob("*.yaml")):
        resource = load_resource(path, _read_yaml(path), departments, resources)
        resources[resource.code], paths[resource.code] = resource, path
    added: set[str] = set()
    if imported and Path(imported).is_dir():
        for path in sorted(Path(imported).glob("*.yaml")):
            resource = load_resource(path, _read_yaml(path), departments, resources)
            if resource.library is not None:  # `gdx catalog import` never writes one
                raise CatalogError(
                    f"{path}: library: base libraries are not imported; a department's own "
                    "resource declares no library"
                )
            resources[resource.code], paths[resource.code] = resource, path
            added.add(resource.code)
    for resource in resources.values():
        check_links(paths[resource.code], resource, resources)
    sources_path = root / "sources.yaml"
    sources = _index(_load_list(sources_path, "sources", Source), "sources.yaml")
    for index, source in enumerate(sources.values()):
        _check_source(sources_path, index, source, departments, resources)
    for index, source in enumerate(sources.values()):
        others = [
            other.code
            for other in sources.values()
            if other.code != source.code
            and (other.department, other.resource) == (source.department, source.resource)
        ]
        if source.full_snapshot and others:
            raise CatalogError(
                f"{sources_path}: sources[{index}].full_snapshot: {source.department} has other "
                f"sources for {source.resource} ({', '.join(others)}), whose records a snapshot "
                "would withdraw"
            )
    items_path = root / "service_items.yaml"
    items: dict[str, ServiceItem] = {}
    if items_path.is_file():
        items = _index(_load_list(items_path, "service_items", ServiceItem), "service_items.yaml")
        for index, item in enumerate(items.values()):
            _check_service_item(items_path, index, item, departments, resources)
    return Catalog(root, departments, resources, sources, items, frozenset(added))


def load_resource(
    path: Path | str,
    data: Any,
    departments: dict[str, Department],
    resources: dict[str, Resource],
) -> Resource:
    """One resource declaration checked against the departments and the resources before it."""
    resource = _load_model(Path(path), data, Resource, "")
    if resource.code in resources:
        raise CatalogError(f"{path}: code: resource {resource.code!r} declared twice")
    if resource.provider not in departments:
        raise CatalogError(f"{path}: provider: unknown department {resource.provider!r}")
    for where, order in _priorities(resource):
        for code in order:
            if code not in departments:
                raise CatalogError(f"{path}: {where}: unknown department {code!r}")
    return resource


def check_links(path: Path | str, resource: Resource, resources: dict[str, Resource]) -> None:
    """Every resource a declaration names exists."""
    for index, spec in enumerate(resource.fields):
        for code in spec.references:
            if code not in resources:
                raise CatalogError(f"{path}: fields[{index}].references: unknown resource {code!r}")
    for index, code in enumerate(resource.related):
        if code not in resources:
            raise CatalogError(f"{path}: related[{index}]: unknown resource {code!r}")


def _check_service_item(
    path: Path,
    index: int,
    item: ServiceItem,
    departments: dict[str, Department],
    resources: dict[str, Resource],
) -> None:
    where = f"{path}: service_items[{index}]"
    if item.department not in departments:
        raise CatalogError(f"{where}.department: unknown department {item.department!r}")
    for number, material in enumerate(item.materials):
        if material.resource is None:
            continue
        at = f"{where}.materials[{number}]"
        if material.resource not in resources:
            raise CatalogError(f"{at}.resource: unknown resource {material.resource!r}")
        resource = resources[material.resource]
        declared = {spec.name for spec in resource.fields}
        for name in [material.applicant_field, *material.fields, *material.where]:
            if name not in declared:
                raise CatalogError(f"{at}: {name!r} is not a field of {resource.code}")


def _priorities(resource: Resource) -> list[tuple[str, list[str]]]:
    found = [("priority", resource.priority)]
    for index, spec in enumerate(resource.fields):
        found.append((f"fields[{index}].priority", spec.priority))
    return found


def _check_source(
    path: Path,
    index: int,
    source: Source,
    departments: dict[str, Department],
    resources: dict[str, Resource],
) -> None:
    where = f"{path}: sources[{index}]"
    if source.department not in departments:
        raise CatalogError(f"{where}.department: unknown department {source.department!r}")
    if source.resource not in resources:
        raise CatalogError(f"{where}.resource: unknown resource {source.resource!r}")
    resource = resources[source.resource]
    declared = {spec.name for spec in resource.fields}
    for field in [*source.fields, *source.mapping.values()]:
        if field not in declared:
            raise CatalogError(f"{where}.fields: {field!r} is not a field of {resource.code}")
    if resource.key not in source.fields:
        raise CatalogError(f"{where}.fields: must include the key {resource.key!r}")
    for field, values in source.scope.items():
        if field not in source.fields:
            raise CatalogError(f"{where}.scope: {field!r} is not a field the source delivers")
        allowed = resource.field(field).values
        unknown = [
            value
            for value in values
            if value in ("", "*") or (allowed and not value.endswith("*") and value not in allowed)
        ]
        if not values or unknown:
            raise CatalogError(
                f"{where}.scope.{field}: {', '.join(map(repr, unknown)) or 'no values'}: give "
                f"values of the field ({', '.join(allowed or ['any'])}) or prefixes ending in *"
            )


def _read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise CatalogError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(f"{path}: {line}: invalid YAML: {problem}") from None
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: byte {exc.start}: not UTF-8") from None


def _load_list(path: Path, top: str, model: type[BaseModel]) -> list[Any]:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get(top), list):
        raise CatalogError(f"{path}: {top}: expected a list under the key {top!r}")
    return [_load_model(path, item, model, f"{top}[{i}]") for i, item in enumerate(data[top])]


def _load_model(path: Path, data: Any, model: type[BaseModel], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise CatalogError(f"{path}: {prefix or '/'}: expected a mapping")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = prefix
        for part in error["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else f".{part}" if loc else str(part)
        reason = error["msg"].removeprefix("Value error, ")
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
        raise CatalogError(f"{path}: {loc or '/'}: {reason}{suffix}") from None


def _index(items: list[Any], file: str) -> dict[str, Any]:
    index: dict[str, Any] = {}
    for item in items:
        if item.code in index:
            raise CatalogError(f"{file}: code {item.code!r} declared twice")
        index[item.code] = item
    return index
