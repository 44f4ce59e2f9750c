"""Quality figures from the batch ledger: per resource and rule, how many rows passed."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from warehouse.tables import batch_ledger


def pass_rates(conn: sa.Connection, resource: str | None = None) -> list[dict]:
    """Per resource and rule over committed batches: rows checked, rejected, warned, pass rate.

    Every batch checks each of its rows against every rule, so the rows checked of a rule are
    the rows read by the batches of its resource (malformed rows included).
    """
    query = sa.select(
        batch_ledger.c.resource,
        batch_ledger.c.rows_read,
        batch_ledger.c.rows_quarantined,
        batch_ledger.c.rejected_by_rule,
        batch_ledger.c.warned_by_rule,
    ).where(batch_ledger.c.status == "loaded")
    if resource:
        query = query.where(batch_ledger.c.resource == resource)
    rows_read: dict[str, int] = defaultdict(int)
    quarantined: dict[str, int] = defaultdict(int)
    failures: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for code, read, held, rejected, warned in conn.execute(query):
        rows_read[code] += read
        quarantined[code] += held
        for rule, count in (rejected or {}).items():
            failures[(code, rule)][0] += count
        for rule, count in (warned or {}).items():
            failures[(code, rule)][1] += count
    report = []
    for code in sorted(rows_read):
        checked = rows_read[code]
        rejected_rows = quarantined[code]  # a row that broke two rules counts once here
        report.append(
            {
                "resource": code,
                "rule": "(all rules)",
                "rows_checked": checked,
                "rejected": rejected_rows,
                "warned": 0,
                "pass_rate": _rate(checked, rejected_rows),
            }
        )
        for (c, rule), (rejected, warned) in sorted(failures.items()):
            if c == code:
                report.append(
                    {
                        "resource": code,
                        "rule": rule,
                        "rows_checked": checked,
                        "rejected": rejected,
                        "warned": warned,
                        "pass_rate": _rate(checked, rejected + warned),
                    }
                )
    return report


def _rate(checked: int, failed: int) -> float:
    return round(1 - failed / checked, 6) if checked else 1.0
