"""The Data page: visual Polars pipelines."""
