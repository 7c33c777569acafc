"""The one bridge from the API to tables and files: a listing's pages -> flattened segments -> frames, CSV files
rendered as the pages come in, an xlsx workbook rendered as they come in, or a Parquet stream.

:meth:`drframe.Client.customers.to_frames` and ``to_parquet`` import this module inside the method once the
listing has started (as pandas' ``to_excel`` imports its writer), so the first pages are under way while pandas
and pyarrow are imported, and the API layer itself never imports pandas.  Pages are flattened as they arrive, a
range's pages without waiting for the ranges before it, and joined (or written) in listing order.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._api._listing import segments
from ._files._csv_streamed import StreamedCsv
from ._files._parquet import BUFFER_LIMIT, write_parquet_segments
from ._files._streamed import Streamed, Written
from ._memory import young_collections_only
from ._tables._frames import CUSTOMERS, Frames, Segments, frames_in_order, frames_repr

if TYPE_CHECKING:
    from ._api._listing import Listing

#: Customers flattened at a time as a listing's pages arrive: three pages.  Flattening costs about the same per
#: customer from 300 on (2,000 at a time: 4% less), and a range's customers are then not all flattened when it
#: ends: at the end of a listing, when its last ranges end together, little is left to do.
LISTING_SEGMENT = 300
#: Customers rendered at a time by a CSV export while the listing runs: each rendering costs about 0.05 CPU s
#: whatever its size (a few dozen columns, each a few kernel calls); what waits when the last page is in is
#: rendered then.
CSV_BATCH = 1500
#: Customers rendered at a time by an xlsx export while the listing runs: each rendering costs about 0.05 CPU s
#: plus 0.06 per 1,000 customers, and what waits when the last page is in is rendered after it (800: 20,000
#: customers at 25 req/s end ~0.08 s sooner than with 1,500, for ~0.1 CPU s more in all).
XLSX_BATCH = 800


def listing_frames(listing: Listing, *, redact: bool = True, progress: bool = False) -> Frames:
    """Every customer of ``listing`` in typed DataFrames, in listing order."""
    # Young collections only until the frames are joined, not just while pages come in: the full collection the
    # listing held back (every customer held: 0.07-0.09 s at 20,000) would otherwise fall on the join, after
    # the last page; it runs later, at the caller's next collection.
    with young_collections_only():
        return frames_in_order(segments(listing.pages_as_fetched(), size=LISTING_SEGMENT, progress=progress),
                               redact=redact)


def listing_parquet(directory: str | Path, listing: Listing, *, redact: bool = True, progress: bool = False,
                    chunk_size: int = 2000) -> list[Path]:
    """Every customer of ``listing`` into one ``<table>.parquet`` per table in ``directory``, ``chunk_size``
    customers flattened at a time, in bounded memory (see :mod:`drframe._files._parquet`)."""
    return write_parquet_segments(directory, segments(listing.pages_as_fetched(), size=chunk_size,
                                                      limit=BUFFER_LIMIT, progress=progress,
                                                      desc="exporting customers"), redact=redact)


def listing_csv(directory: str | Path, listing: Listing, *, redact: bool = True, mask_pii: bool = False,
                progress: bool = False) -> tuple[str, list[Path]]:
    """Every customer of ``listing`` into one CSV per table in ``directory``, exactly as
    ``listing_frames(listing).to_csv(directory)`` writes them, rendered while the listing runs; the frames'
    ``repr`` (their tables' rows) and the files written."""
    return csv_in_order(directory, segments(listing.pages_as_fetched(), size=LISTING_SEGMENT, progress=progress),
                        redact=redact, mask_pii=mask_pii)


def listing_xlsx(path: str | Path, listing: Listing, *, redact: bool = True, mask_pii: bool = False,
                 progress: bool = False) -> tuple[str, Path]:
    """Every customer of ``listing`` into an xlsx workbook at ``path``, exactly as
    ``listing_frames(listing).to_excel(path)`` writes it, rendered while the listing runs; the frames' ``repr``
    and the file written."""
    return xlsx_in_order(path, segments(listing.pages_as_fetched(), size=LISTING_SEGMENT, progress=progress),
                         redact=redact, mask_pii=mask_pii)


def csv_in_order(directory: str | Path, segments: Iterable[tuple[Any, Iterable[Mapping[str, Any]]]], *,
                 redact: bool = True, mask_pii: bool = False, batch: int | None = None) -> tuple[str, list[Path]]:
    """``frames_in_order(segments).to_csv(directory)``, segments rendered as they arrive, ``batch`` customers or
    more at a time (default :data:`CSV_BATCH`; see :mod:`drframe._files._csv_streamed`); the frames' ``repr``
    and the files written."""
    streamed = StreamedCsv(directory, mask_pii=mask_pii)
    return in_order(streamed, segments, redact=redact, batch=CSV_BATCH if batch is None else batch)


def xlsx_in_order(path: str | Path, segments: Iterable[tuple[Any, Iterable[Mapping[str, Any]]]], *,
                  redact: bool = True, mask_pii: bool = False, batch: int | None = None) -> tuple[str, Path]:
    """``frames_in_order(segments).to_excel(path)``, segments rendered as they arrive, ``batch`` customers or
    more at a time (default :data:`XLSX_BATCH`; see :mod:`drframe._files._xlsx_streamed`); the frames' ``repr``
    and the file written."""
    from ._files._xlsx_streamed import StreamedXlsx  # Arrow's string kernels: imported by an xlsx export only

    streamed = StreamedXlsx(path, mask_pii=mask_pii)
    return in_order(streamed, segments, redact=redact, batch=XLSX_BATCH if batch is None else batch)


def in_order(streamed: Streamed[Any, Written], segments: Iterable[tuple[Any, Iterable[Mapping[str, Any]]]], *,
             redact: bool, batch: int) -> tuple[str, Written]:
    """What ``streamed`` writes of ``frames_in_order(segments)``: segments flattened as they arrive and rendered
    ``batch`` customers or more at a time, assembled at the end (or the joined frames written); the frames'
    ``repr`` and what was written.  Frames that warn (undeclared fields, values that do not fit their type) or
    fail leave the writing to the joined frames, which warn or fail as before."""
    collected = Segments(redact=redact)
    waiting: list[int] = []
    for key, customers in segments:
        waiting.append(collected.add(key, customers))
        if streamed.live and collected.rows(waiting)[CUSTOMERS.name] >= batch:
            _render(collected, waiting, streamed)
            waiting = []
    if streamed.live and waiting:
        _render(collected, waiting, streamed)
    summary = frames_repr(collected.rows())
    return summary, streamed.write(collected.joined)


def _render(collected: Segments, numbers: list[int], streamed: Streamed[Any, Any]) -> None:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frames = collected.frames_of(numbers)
    except Exception as exc:  # the joined frames raise it (or not) as before
        streamed.give_up(f"{type(exc).__name__}: {exc}")
        return
    if caught:
        streamed.give_up(f"a warning: {caught[0].message}")
    else:
        streamed.add([(collected.key(n), collected.rows([n])) for n in numbers], frames)
