"""DataFrames <-> files: reading sheets as shown (csv, xlsx, ods), xlsx and csv exports, Parquet, sample files.

Rule: never the client (``drframe._api``); uses ``drframe._tables`` and ``drframe._core``.  A listing reaches a
file only through ``drframe._fetch``.
"""
