"""The Admin page: PostgreSQL administration, one module per tab."""
