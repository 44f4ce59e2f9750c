"""A department's own directory entries: the resources it provides, and importing more (a
resource YAML or the compilation guide's CSV) with the checks and the writer of `gdx catalog
import`, all or nothing."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from catalog_schema import CatalogError, load_catalog
from gdx import catalog_import
from portal import journal, pages, uploads
from portal.session import DepartmentAdminDep, PortalError, checked_form
from runtime import settings
from warehouse import engine as engines
from warehouse import people, tables

router = APIRouter(prefix="/entries")
FIELD = "entries-file"


@router.get("")
def listing(request: Request, session: DepartmentAdminDep):
    return _page(request, session.person)


def _page(request: Request, person: people.Person, status: int = 200, **context):
    catalog = request.app.state.catalog
    mine = [
        resource
        for code, resource in sorted(catalog.resources.items())
        if resource.provider == person.department
    ]
    return pages.render(
        request,
        "entries.html",
        status=status,
        entries=mine,
        imported=catalog.imported,
        field=FIELD,
        **context,
    )


@router.post("/import")
async def import_entries(request: Request, session: DepartmentAdminDep):
    form = await checked_form(request, session)
    sent = form.get("file")
    name, content = None, b""
    if isinstance(sent, UploadFile):
        name, content = sent.filename, await sent.read()
    return await run_in_threadpool(_import, request, session.person, name, content)


def _import(request: Request, person: people.Person, name: str | None, content: bytes):
    shown = uploads.shown_name(name)
    if name is None:
        return _refuse(request, person, shown, ["请选择文件。 Choose a file."])
    try:
        kind = uploads.text_kind(content, shown)
    except uploads.UploadRefused as exc:
        return _refuse(request, person, shown, [str(exc)])
    catalog = request.app.state.catalog
    problems: list[str] = []
    with uploads.kept(content, "." + kind) as path:
        try:
            declarations = catalog_import.read_declarations(path, catalog, problems)
            problems += catalog_import.every_problem(catalog, declarations, person.department)
            if not problems:
                resources = catalog_import.check_imports(catalog, declarations, person.department)
                catalog_import.write_imports(
                    settings.imports_dir(),
                    resources,
                    shown,
                    settings.catalog_dir(),
                    by=f"{person.username} in the portal",
                )
        except CatalogError as exc:
            problems.append(str(exc))
        problems = [problem.replace(str(path), shown) for problem in problems]
    if problems:
        return _refuse(request, person, shown, problems)
    codes = [resource.code for resource in resources]
    try:
        fresh = load_catalog(catalog.directory, settings.imports_dir())
        tables.init_schema(request.app.state.engine, fresh)
        for resource in fresh.resources.values():
            tables.for_resource(resource)
    except (CatalogError, sa.exc.SQLAlchemyError) as exc:
        reason = str(exc).strip().splitlines()[0]
        journal.refused(request, person, "entry_imported", 500, f"{shown}: written; {reason}")
        raise PortalError(
            503,
            f"条目已写入目录，但平台未能加载（{reason}）。请平台管理员运行 gdx init 并重启。 "
            f"The entries {', '.join(codes)} were written, but the hub could not load them "
            f"({reason}): a hub administrator runs `gdx init` and restarts the hub.",
        ) from None
    request.app.state.catalog = fresh  # the portal and the directory see the new entries now
    with engines.writing(request.app.state.engine) as conn:
        journal.record(conn, request, person, "entry_imported", reason=shown, keys=codes)
    return _page(request, person, imported_now=codes, file_name=shown)


def _refuse(request: Request, person: people.Person, shown: str, problems: list[str]):
    """Nothing was imported: recorded (status 422), and every problem listed on the page."""
    journal.refused(request, person, "entry_imported", 422, f"{shown}: {problems[0]}")
    return _page(
        request,
        person,
        422,
        errors={
            FIELD: f"{shown}：{len(problems)} 个问题，未导入任何条目。 "
            f"{len(problems)} problem(s); nothing was imported."
        },
        problems=problems,
        file_name=shown,
    )
