"""The Cluster page: distributed SQL on Ray with Daft."""
