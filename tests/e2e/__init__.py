"""End-to-end: the commands a user runs, on the example, as processes."""
