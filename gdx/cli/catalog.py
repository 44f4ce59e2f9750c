"""`gdx catalog`: list the directory; a department adds its own (non-base) resources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from catalog_schema import CatalogError
from gdx.catalog_import import (  # noqa: F401  (check_imports and the rest: their old home)
    check_imports,
    comment,
    declaration_yaml,
    read_declarations,
    write_imports,
)
from gdx.cli.console import catalog as _catalog
from gdx.cli.console import fail, out
from gdx.cli.table import Column, show

catalog_app = typer.Typer(
    help="The shared-resource directory: list it, import a department's own resources."
)


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path, typer.Argument(help="One resource declaration (YAML) or a directory CSV.")
    ],
    department: Annotated[
        str | None,
        typer.Option(help="The importing department: it imports only resources it provides."),
    ] = None,
) -> None:
    """Add a department's own resources to the directory (re-importing a code replaces it);
    their warehouse tables are created so that `gdx load` can fill them."""
    import sqlalchemy as sa

    from catalog_schema import configured_catalog
    from runtime import settings
    from warehouse import engine, tables

    try:
        catalog = _catalog()
        resources = check_imports(catalog, read_declarations(file, catalog), department)
        folder = settings.imports_dir()
        write_imports(folder, resources, file.name, settings.catalog_dir())
    except CatalogError as exc:
        raise fail(str(exc)) from None
    for resource in resources:
        verb = "replaced" if resource.code in catalog.imported else "imported"
        out.print(
            f"{verb} {resource.code} ({resource.name_zh}, {len(resource.fields)} fields, "
            f"{resource.share_type}) from {resource.provider} into {folder / resource.code}.yaml",
            highlight=False,
        )
    db = engine.create()
    try:
        changes = tables.init_schema(db, configured_catalog())
    except sa.exc.SQLAlchemyError as exc:
        reason = str(exc).strip().splitlines()[0]
        raise fail(f"the warehouse was not updated ({reason}); run `gdx init`") from None
    names = {resource.table_name for resource in resources}
    mine = [change for change in changes if any(name in change for name in names)]
    others = f" (and {len(changes) - len(mine)} other changes)" if len(changes) > len(mine) else ""
    out.print(
        f"warehouse {engine.describe(db)}: " + (", ".join(mine) or "tables up to date") + others,
        highlight=False,
    )


@catalog_app.command("list")
def catalog_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every resource of the directory: library, provider, share type, update cycle."""
    catalog = _catalog()
    resources = [catalog.resources[code] for code in sorted(catalog.resources)]
    if as_json:
        rows = [
            {
                "code": r.code,
                "library": r.group,
                "name_zh": r.name_zh,
                "name_en": r.name_en,
                "provider": r.provider,
                "share_type": r.share_type,
                "update_cycle": r.update_cycle,
                "imported": r.code in catalog.imported,
            }
            for r in resources
        ]
        out.print_json(json.dumps(rows, ensure_ascii=False), indent=None)
        return
    columns = [Column("code"), Column("library", drop=2), Column("name", "text")]
    columns += [Column("provider"), Column("share type"), Column("cycle", drop=1)]
    rows = [
        [
            r.code,
            r.group,
            r.name_zh,
            r.provider,
            r.share_type,
            r.update_cycle,
            "yes" if r.code in catalog.imported else "",
        ]
        for r in resources
    ]
    show([*columns, Column("imported", drop=3)], rows)
