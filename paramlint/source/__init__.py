"""Stage 1, reading: files to data with the position of every node, and inline suppressions."""
