"""ccg against real authorization servers started on 127.0.0.1 (issue 10)."""
