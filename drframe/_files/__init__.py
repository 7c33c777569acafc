"""DataFrames <-> files."""
