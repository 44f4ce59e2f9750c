"""A department's rows in quarantine: see why each was rejected, download them as the fix file
(the file `gdx quarantine export` writes), upload the fixed file as a batch of the department
(the pipeline of `gdx load`). A loaded row supersedes the quarantined rows of its key."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from catalog_schema import CatalogError, Resource
from catalog_schema.authority import WriteRefused, authority, writers
from catalog_schema.rule_words import explain
from gdx import quarantine_report
from gdx.errors import GdxError
from gdx.pipeline import load_file
from portal import journal, pages, uploads
from portal.session import DepartmentAdminDep, PortalError, checked_form
from warehouse import engine as engines
from warehouse import people
from warehouse.ledger import BatchSummary

router = APIRouter(prefix="/quarantine")
SHOWN = 100  # rows of a resource on the page (the total is shown; the fix file has them all)


@dataclass
class Section:
    """One resource the department delivers to, with its waiting rows."""

    resource: Resource
    rows: list[dict]
    total: int

    @property
    def field_id(self) -> str:
        return "file-" + self.resource.code.replace(".", "-")

    @property
    def through(self) -> str:
        """The newest batch of the rows shown: a fix file made now holds rows up to it."""
        return self.rows[0]["batch_id"] if self.rows else ""

    @property
    def columns(self) -> list[str]:
        found: list[str] = []
        for row in self.rows:
            found.extend(name for name in row["raw"] if name not in found)
        return found


@router.get("")
def listing(request: Request, session: DepartmentAdminDep):
    return _listing_page(request, session.person)


def _listing_page(request: Request, person: people.Person, status: int = 200, **context):
    catalog = request.app.state.catalog
    mine = [
        resource
        for code, resource in sorted(catalog.resources.items())
        if person.department in writers(catalog, resource)
    ]
    with request.app.state.engine.connect() as conn:
        sections = [
            Section(r, *quarantine_report.waiting_rows(conn, r, person.department, SHOWN))
            for r in mine
        ]
    return pages.render(
        request,
        "quarantine.html",
        status=status,
        sections=sections,
        reasons=_reasons,
        **context,
    )


def _reasons(resource: Resource, row: dict) -> list[tuple[str, str]]:
    return [explain(resource, rule) for rule in row["rules"]]


def _resource(request: Request, person: people.Person, code: str) -> Resource:
    """A resource the person's department delivers to; else a refusal page (recorded)."""
    catalog = request.app.state.catalog
    try:
        resource = catalog.resource(code)
    except CatalogError:
        raise PortalError(404, "目录中没有这个资源。 There is no such resource.") from None
    try:
        authority(catalog, resource.code, person.department)
    except WriteRefused as exc:
        journal.refused(request, person, "refused", 403, str(exc), resource=resource.code)
        raise PortalError(
            403,
            f"本部门不是该资源的数据来源。 Your department is no source of {resource.code}: {exc}",
            "没有权限 Not allowed",
        ) from None
    return resource


@router.get("/{code}/fix.csv")
def fix_file(code: str, request: Request, session: DepartmentAdminDep):
    resource = _resource(request, session.person, code)
    with request.app.state.engine.connect() as conn:
        rows, _ = quarantine_report.waiting_rows(conn, resource, session.person.department)
    response = Response(
        quarantine_report.fix_file(resource, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{resource.code}.fix.csv"'},
    )
    return pages.guarded(response, request)


@router.post("/{code}/upload")
async def upload(code: str, request: Request, session: DepartmentAdminDep):
    form = await checked_form(request, session)
    sent = form.get("file")
    through = form.get("through")
    name, content = None, b""
    if isinstance(sent, UploadFile):
        name, content = sent.filename, await sent.read()
    through = through if isinstance(through, str) else ""
    return await run_in_threadpool(_load, request, session.person, code, name, content, through)


def _load(
    request: Request,
    person: people.Person,
    code: str,
    name: str | None,
    content: bytes,
    through: str,
):
    """Load the upload as a batch; a fix file's rows leave the quarantine they came from
    (`through`: the newest batch of the quarantine the page showed)."""
    resource = _resource(request, person, code)
    shown = uploads.shown_name(name)
    field = Section(resource, [], 0).field_id
    if name is None:
        return _refuse(request, person, resource, field, shown, "请选择文件。 Choose a file.")
    try:
        kind = uploads.table_kind(content)
    except uploads.UploadRefused as exc:
        return _refuse(request, person, resource, field, shown, str(exc))
    with uploads.kept(content, "." + kind) as path:
        try:
            summary = load_file(
                path,
                resource.code,
                person.department,
                engine=request.app.state.engine,
                catalog=request.app.state.catalog,
            )
        except (GdxError, CatalogError) as exc:
            reason = str(exc).replace(str(path), shown)
            return _refuse(request, person, resource, field, shown, reason)
        lines = uploads.column_numbers(path, kind, quarantine_report.LINE_COLUMN)
    with engines.writing(request.app.state.engine) as conn:
        if summary.status == "loaded" and lines and through:
            quarantine_report.supersede_fixed(
                conn, resource, person.department, summary.batch_id, lines, through
            )
        journal.record(
            conn,
            request,
            person,
            "file_uploaded",
            resource=resource.code,
            reason=f"{shown}: batch {summary.status}",
            keys=[summary.batch_id],
        )
        still = quarantine_report.rows(conn, resource, batch=summary.batch_id)
    return _result(request, resource, summary, shown, still)


def _refuse(
    request: Request,
    person: people.Person,
    resource: Resource,
    field: str,
    shown: str,
    reason: str,
):
    """The upload changed nothing: recorded (status 422), and the page says why."""
    journal.refused(
        request, person, "file_uploaded", 422, f"{shown}: {reason}", resource=resource.code
    )
    message = f"{shown}：{reason}"
    return _listing_page(request, person, 422, errors={field: message})


def _result(
    request: Request, resource: Resource, summary: BatchSummary, shown: str, still: list[dict]
):
    rules = [
        (rule, count, explain(resource, rule))
        for rule, count in sorted(summary.rejected_by_rule.items())
    ]
    columns: list[str] = []
    for row in still:
        columns.extend(name for name in row["raw"] if name not in columns)
    return pages.render(
        request,
        "upload_result.html",
        resource=resource,
        summary=summary,
        file_name=shown,
        rules=rules,
        still=still,
        columns=columns,
        reasons=_reasons,
    )
