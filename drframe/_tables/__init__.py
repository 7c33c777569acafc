"""Records <-> DataFrames: flattening customers into typed frames and back to payloads, and edits to payloads.

Rule: never the client (``drframe._api``) nor files; uses ``drframe._core``.  ``Frames.to_excel``/``to_csv``/
``to_parquet`` import their writer from ``drframe._files`` inside the method, as pandas' ``to_excel`` does.
"""
