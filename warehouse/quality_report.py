"""Quality figures from the batch ledger: per resource and rule, how many rows passed."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from warehouse.tables import batch_ledger


def pass_rates(conn: sa.Connection, resource: str | None = None) -> list[dict]:
    """Per resource and rule over committed deliveries: rows checked, rejected, warned, pass rate.

    A rule is checked on the rows of the batches whose columns allow it (`rules_checked`);
    retries of quarantined rows are left out, so that no row counts twice, and so are rows a
    department delivered again unchanged (`rows_validated`; a batch from before it was counted
    counts every row it read).
    """
    query = sa.select(
        batch_ledger.c.resource,
        sa.func.coalesce(batch_ledger.c.rows_validated, batch_ledger.c.rows_read),
        batch_ledger.c.rows_quarantined,
        batch_ledger.c.rejected_by_rule,
        batch_ledger.c.warned_by_rule,
        batch_ledger.c.rules_checked,
    ).where(batch_ledger.c.status == "loaded", batch_ledger.c.retry_of.is_(None))
    if resource:
        query = query.where(batch_ledger.c.resource == resource)
    rows_read: dict[str, int] = defaultdict(int)
    quarantined: dict[str, int] = defaultdict(int)
    failures: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    checked: dict[tuple[str, str], int] = defaultdict(int)
    for code, read, held, rejected, warned, rules in conn.execute(query):
        rows_read[code] += read
        quarantined[code] += held
        for rule in rules or []:
            checked[(code, rule)] += read
            failures[(code, rule)]  # every checked rule is reported, failures or not
        for rule, count in (rejected or {}).items():
            failures[(code, rule)][0] += count
        for rule, count in (warned or {}).items():
            failures[(code, rule)][1] += count
    report = []
    for code in sorted(rows_read):
        total = rows_read[code]
        rejected_rows = quarantined[code]  # a row that broke two rules counts once here
        report.append(
            {
                "resource": code,
                "rule": "(all rules)",
                "rows_checked": total,
                "rejected": rejected_rows,
                "warned": 0,
                "pass_rate": _rate(total, rejected_rows),
            }
        )
        for (c, rule), (rejected, warned) in sorted(failures.items()):
            if c == code:
                rows = checked.get((code, rule)) or total  # row-level rules: every row
                report.append(
                    {
                        "resource": code,
                        "rule": rule,
                        "rows_checked": rows,
                        "rejected": rejected,
                        "warned": warned,
                        "pass_rate": _rate(rows, rejected + warned),
                    }
                )
    return report


def _rate(checked: int, failed: int) -> float:
    return round(1 - failed / checked, 6) if checked else 1.0


def latest_docs(conn: sa.Connection, resource: str | None = None) -> dict[str, str]:
    """{resource: Data Docs index of its latest committed batch that has one}."""
    query = (
        sa.select(batch_ledger.c.resource, batch_ledger.c.data_docs)
        .where(batch_ledger.c.status == "loaded", batch_ledger.c.data_docs.is_not(None))
        .order_by(batch_ledger.c.started_at)
    )
    if resource:
        query = query.where(batch_ledger.c.resource == resource)
    return dict(conn.execute(query).all())  # later batches overwrite earlier ones
