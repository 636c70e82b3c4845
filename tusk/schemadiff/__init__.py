"""Schema comparison: two schemas' definitions, their differences, and the DDL from A to B."""
