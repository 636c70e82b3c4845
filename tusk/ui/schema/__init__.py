"""The Schema page: ER diagram and schema compare."""
