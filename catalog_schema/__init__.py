"""Declarations of the hub: departments, resources (the directory) and sources."""

from catalog_schema.catalog import Catalog, CatalogError, configured_catalog, load_catalog
from catalog_schema.models import (
    RULE_NAMES,
    RULE_NAMES_ZH,
    Department,
    FieldSpec,
    Resource,
    Rule,
    Source,
)

__all__ = [
    "RULE_NAMES",
    "RULE_NAMES_ZH",
    "Catalog",
    "CatalogError",
    "Department",
    "FieldSpec",
    "Resource",
    "Rule",
    "Source",
    "configured_catalog",
    "load_catalog",
]
