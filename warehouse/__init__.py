"""Storage: settings and engine, tables built from the declarations, loaders, merge, ledger."""
