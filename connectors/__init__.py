"""Connectors: one module per source kind, each streaming bounded Arrow record batches."""

from connectors.base import ConnectorError, MalformedRow, RawBatch

__all__ = ["ConnectorError", "MalformedRow", "RawBatch"]
