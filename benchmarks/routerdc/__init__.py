"""RouterDC benchmarks of ir3de: quality (RouterDC's table, computed end to end) and speed."""
