"""The `ir3de` command line."""
