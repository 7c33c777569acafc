"""The HTTP layer: the client, the resources, retries, rate limits, the concurrent listing and its ranges, pacing.

Rule: never imports pandas (nor the tables, files or workflows); only :mod:`drframe._fetch` bridges a listing to
DataFrames, imported inside ``client.customers.to_frames()``/``to_parquet()``.  Layers above use what they need
through this package's names.
"""

from ._pacing import DEMO_RATE, RATE_HELP, WORKERS_HELP, default_workers, paced

__all__ = ["DEMO_RATE", "RATE_HELP", "WORKERS_HELP", "default_workers", "paced"]
