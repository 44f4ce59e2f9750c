"""`gdx catalog`: list the directory; a department adds its own (non-base) resources."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from catalog_schema import Catalog, CatalogError, Resource
from catalog_schema.catalog import check_links, load_catalog, load_resource
from gdx.console import catalog as _catalog
from gdx.console import fail, out
from gdx.table import Column, show

catalog_app = typer.Typer(
    help="The shared-resource directory: list it, import a department's own resources."
)


def read_declarations(path: Path, catalog: Catalog) -> list[tuple[str, Any]]:
    """The declarations of a file, each with where it came from: one from a YAML file, one per
    row from a directory CSV."""
    from catalog_schema.directory_csv import read_csv

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, catalog.departments)
    if suffix not in (".yaml", ".yml"):
        raise CatalogError(f"{path}: expected a .yaml, .yml or .csv file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{path}: byte {exc.start}: not UTF-8") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(f"{path}: {line}invalid YAML: {problem}") from None
    return [(str(path), data)]


def check_imports(
    catalog: Catalog, declarations: list[tuple[str, Any]], department: str | None
) -> list[Resource]:
    """Every declaration checked against the whole directory: a department's own resource (no
    base library), from a declared provider (the importing department, when named), under a
    code that is not a packaged resource; all of them, or CatalogError for the first problem."""
    if department is not None:
        catalog.department(department)
    packaged = set(catalog.resources) - catalog.imported
    seen: dict[str, str] = {}
    for where, data in declarations:
        if not isinstance(data, dict):
            raise CatalogError(f"{where}: /: expected a mapping (one resource declaration)")
        code = data.get("code")
        if data.get("library") is not None:
            raise CatalogError(
                f"{where}: library: base libraries are not imported; a department's own "
                "resource declares no library"
            )
        if isinstance(code, str) and code in packaged:
            raise CatalogError(
                f"{where}: code: {code} is a packaged resource of the directory, not one a "
                "department imports"
            )
        if isinstance(code, str) and code in seen:
            raise CatalogError(f"{where}: code: {code} is declared again (first in {seen[code]})")
        if isinstance(code, str):
            seen[code] = where
    others = {code: resource for code, resource in catalog.resources.items() if code not in seen}
    resources = []
    for where, data in declarations:
        resource = load_resource(where, data, catalog.departments, others)
        if department is not None and resource.provider != department:
            raise CatalogError(
                f"{where}: provider: {resource.provider} is not {department}; a department "
                "imports only its own resources"
            )
        others[resource.code] = resource
        resources.append(resource)
    for (where, _), resource in zip(declarations, resources, strict=True):
        check_links(where, resource, others)
    return resources


def declaration_yaml(resource: Resource, origin: str) -> str:
    """The YAML written to the imports folder: the checked declaration, defaults left out.

    The origin (a file name: outside text) goes into the comment as a quoted literal with every
    line break and unprintable character escaped (`repr`), so it can never end the comment and
    become keys of the declaration; the declaration itself is serialised by yaml.safe_dump."""
    from runtime import clock

    data = resource.model_dump(mode="json", exclude_defaults=True)
    today = clock.local(clock.now()).date()  # the province's day, not the machine's
    head = comment(f"{resource.code}: imported by `gdx catalog import` from {origin!r} on {today}")
    return head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def comment(text: str) -> str:
    """One YAML comment line; refuses anything YAML would read as a line break or reject."""
    if not text.isprintable():  # \n, \r, NEL, LS, PS and control characters are not
        raise ValueError(f"not one printable line: {text!r}")
    return f"# {text}\n"


def write_imports(
    folder: Path, resources: list[Resource], origin: str, catalog_dir: Path | None
) -> None:
    """Write `<code>.yaml` per resource into `folder`, after loading the whole catalog with them
    from a copy: nothing is written when any check fails."""
    texts = {f"{r.code}.yaml": declaration_yaml(r, origin) for r in resources}
    with tempfile.TemporaryDirectory(prefix="gdx-imports-") as scratch:
        trial = Path(scratch)
        if folder.is_dir():
            for path in folder.glob("*.yaml"):
                shutil.copy2(path, trial / path.name)
        for name, text in texts.items():
            (trial / name).write_text(text, encoding="utf-8")
        try:
            load_catalog(catalog_dir, trial)
        except CatalogError as exc:
            raise CatalogError(str(exc).replace(scratch, str(folder))) from None
    folder.mkdir(parents=True, exist_ok=True)
    staged = []
    for name, text in texts.items():
        partial = folder / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        staged.append((partial, folder / name))
    for partial, target in staged:
        partial.replace(target)


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

    from warehouse import engine, settings, tables

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
        changes = tables.init_schema(db, settings.catalog())
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
