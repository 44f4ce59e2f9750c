"""The Data Docs a batch writes: a page per validated block as it goes, then the batch's index,
its resource's page and the Home of the Data Docs (GDX_DATA_DOCS_DIR)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from catalog_schema import Resource
from quality import data_docs, docs_home
from quality.data_docs import Batch
from quality.runner import Verdict
from runtime import clock, settings
from warehouse.ledger import BatchSummary


@dataclass
class DataDocs:
    """The batch's Data Docs, under `root/<resource>/<batch id>/`."""

    root: Path
    resource: Resource
    batch: Batch

    @classmethod
    def of(cls, resource: Resource, summary: BatchSummary) -> DataDocs:
        batch = data_docs.batch_of(
            resource,
            summary.batch_id,
            summary.department,
            source=summary.source,
            started=clock.shown(clock.now()),
        )
        return cls(settings.data_docs_dir(), resource, batch)

    @property
    def folder(self) -> Path:
        return self.root / self.resource.code / self.batch.batch_id

    def add(self, verdict: Verdict) -> None:
        """A page for a block Great Expectations judged."""
        if verdict.report is not None:
            data_docs.block_page(self.folder, self.batch, verdict, self.resource)

    def finish(self, summary: BatchSummary, outcome: str | None = None) -> None:
        """The batch's index (named in the ledger), its resource's page and the Home, once a
        block was judged; the rows the checks of the whole batch found are the summary's.
        `outcome`: rejected, failed or interrupted when nothing of the batch is merged; then
        Data Docs that cannot be written do not hide why the batch failed."""
        if not self.batch.blocks:
            return
        self.batch.outcome = outcome
        self.batch.file = summary.file
        self.batch.add_whole(summary.rejected_by_rule, summary.warned_by_rule)
        self.batch.quarantined = summary.rows_quarantined
        try:
            summary.data_docs = str(data_docs.batch_index(self.folder, self.batch, self.resource))
            docs_home.refresh(self.root, self.resource.code)
        except OSError:
            if outcome is None:
                raise
            # the batch failed already (a full disk, say): its own failure is what the ledger
            # must record, not this one; `gdx quality docs` writes the Home again later
