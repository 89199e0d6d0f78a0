"""The lineage collector: every announcement and declaration, stored and queryable as a graph."""
