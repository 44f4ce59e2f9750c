"""Importing a department's own resources into the directory: read the declarations (a YAML
declaration or the compilation guide's CSV), check them against the whole directory, and write
them to the imports folder, all or nothing. `gdx catalog import` and the portal both use it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml

from catalog_schema import Catalog, CatalogError, Resource
from catalog_schema.catalog import check_links, load_catalog, load_resource


def read_declarations(
    path: Path, catalog: Catalog, problems: list[str] | None = None
) -> list[tuple[str, Any]]:
    """The declarations of a file, each with where it came from: one from a YAML file, one per
    row from a directory CSV (with `problems`, a bad row's problem goes there and the other
    rows are read on)."""
    from catalog_schema.directory_csv import read_csv

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_csv(path, catalog.departments, problems)
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


def declaration_yaml(resource: Resource, origin: str, by: str = "`gdx catalog import`") -> str:
    """The YAML written to the imports folder: the checked declaration, defaults left out.

    The origin (a file name: outside text) goes into the comment as a quoted literal with every
    line break and unprintable character escaped (`repr`), so it can never end the comment and
    become keys of the declaration; the declaration itself is serialised by yaml.safe_dump."""
    from runtime import clock

    data = resource.model_dump(mode="json", exclude_defaults=True)
    today = clock.local(clock.now()).date()  # the province's day, not the machine's
    head = comment(f"{resource.code}: imported by {by} from {origin!r} on {today}")
    return head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def comment(text: str) -> str:
    """One YAML comment line; refuses anything YAML would read as a line break or reject."""
    if not text.isprintable():  # \n, \r, NEL, LS, PS and control characters are not
        raise ValueError(f"not one printable line: {text!r}")
    return f"# {text}\n"


def write_imports(
    folder: Path,
    resources: list[Resource],
    origin: str,
    catalog_dir: Path | None,
    by: str = "`gdx catalog import`",
) -> None:
    """Write `<code>.yaml` per resource into `folder`, after loading the whole catalog with them
    from a copy: nothing is written when any check fails."""
    texts = {f"{r.code}.yaml": declaration_yaml(r, origin, by) for r in resources}
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


def every_problem(
    catalog: Catalog, declarations: list[tuple[str, Any]], department: str | None
) -> list[str]:
    """Every problem of the declarations, not only the first (what `check_imports` raises):
    each declaration is checked on its own, and all of its field errors are listed; once none
    has a problem of its own, they are checked together (codes declared twice, references
    between them)."""
    packaged = set(catalog.resources) - catalog.imported
    codes = {data.get("code") for _, data in declarations if isinstance(data, dict)}
    problems: list[str] = []
    for where, data in declarations:
        if not isinstance(data, dict):
            problems.append(f"{where}: /: expected a mapping (one resource declaration)")
            continue
        try:
            check_imports(catalog, [(where, data)], department)
        except CatalogError as exc:
            if any(f"unknown resource {code!r}" in str(exc) for code in codes):
                continue  # a reference to another of these declarations: checked together
            code = data.get("code")
            if isinstance(code, str) and code in packaged or data.get("library") is not None:
                problems.append(str(exc))
            else:
                problems.extend(_field_errors(where, data) or [str(exc)])
    if problems:
        return problems
    try:
        check_imports(catalog, declarations, department)
    except CatalogError as exc:
        return [str(exc)]
    return []


def _field_errors(where: str, data: dict) -> list[str]:
    """Each of a declaration's field errors (the model's own checks), one line each."""
    from pydantic import ValidationError

    try:
        Resource.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = ""
            for part in error["loc"]:
                loc += f"[{part}]" if isinstance(part, int) else f".{part}" if loc else str(part)
            lines.append(f"{where}: {loc or '/'}: {error['msg'].removeprefix('Value error, ')}")
        return lines
    return []
