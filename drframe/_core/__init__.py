"""Customer rules: the pydantic models (split by resource), the declared columns, ids, and cell text.

Rule: no I/O and no pandas; imports only the foundation (``drframe._errors``).  Every layer may use it.
"""
