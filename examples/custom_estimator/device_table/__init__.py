"""``device-table``: latencies measured on a device gasnas cannot reach, read from a CSV table (an example)."""
