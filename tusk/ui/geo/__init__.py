"""The Geo page: map a query or a file."""
