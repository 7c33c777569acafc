"""Records <-> DataFrames."""
