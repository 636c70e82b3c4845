"""The Studio page: query tabs, the SQL editor, runs, results and the side panels."""
