"""Indexing on a cluster (Ray): the local index's stage functions on workers, the library's single writer on the
driver. See the README, "Archives and clusters"."""
