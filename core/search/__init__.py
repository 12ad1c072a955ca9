"""Search: understanding a query (query) and ranking the library against it (ranking)."""
