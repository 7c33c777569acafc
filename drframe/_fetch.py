"""The one bridge from the API to tables and files: a listing's pages -> flattened segments -> frames, or a
Parquet stream.

:meth:`drframe.Client.customers.to_frames` and ``to_parquet`` import this module inside the method once the
listing has started (as pandas' ``to_excel`` imports its writer), so the first pages are under way while pandas
and pyarrow are imported, and the API layer itself never imports pandas.  Pages are flattened as they arrive, a
range's pages without waiting for the ranges before it, and joined (or written) in listing order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ._api._listing import segments
from ._files._parquet import BUFFER_LIMIT, write_parquet_segments
from ._tables._frames import Frames, frames_in_order

if TYPE_CHECKING:
    from ._api._listing import Listing

#: Customers flattened at a time as a listing's pages arrive: three pages.  Flattening costs about the same per
#: customer from 300 on (2,000 at a time: 4% less), and a range's customers are then not all flattened when it
#: ends: at the end of a listing, when its last ranges end together, little is left to do.
LISTING_SEGMENT = 300


def listing_frames(listing: Listing, *, redact: bool = True, progress: bool = False) -> Frames:
    """Every customer of ``listing`` in typed DataFrames, in listing order."""
    return frames_in_order(segments(listing.pages_as_fetched(), size=LISTING_SEGMENT, progress=progress), redact=redact)


def listing_parquet(directory: str | Path, listing: Listing, *, redact: bool = True, progress: bool = False,
                    chunk_size: int = 2000) -> list[Path]:
    """Every customer of ``listing`` into one ``<table>.parquet`` per table in ``directory``, ``chunk_size``
    customers flattened at a time, in bounded memory (see :mod:`drframe._files._parquet`)."""
    return write_parquet_segments(directory, segments(listing.pages_as_fetched(), size=chunk_size,
                                                      limit=BUFFER_LIMIT, progress=progress,
                                                      desc="exporting customers"), redact=redact)
