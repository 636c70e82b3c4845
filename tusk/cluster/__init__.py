"""Cluster mode: thin wrappers around Ray (nodes) and Daft (distributed SQL).

Tusk starts `ray start … --block` processes and submits SQL to Daft in isolated worker
processes; it never schedules anything itself. Ray and Daft are imported only inside the
worker process (`tusk.cluster.runner`), so importing this package stays light.
"""
