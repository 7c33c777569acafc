"""``drframe sync DIR``: a local Parquet mirror of the customer base, kept fresh incrementally.

* The mirror is ``customers.parquet``, ``sources.parquet``, ``tax_identifiers.parquet`` and
  ``tax_certificates.parquet`` (the tables of :func:`drframe.to_frames`) plus ``drframe-sync.json``, its state:
  the host it mirrors and the high-water mark (the newest ``updatedTime`` seen, the server's clock, not ours).
* An incremental run lists only customers updated since the high-water mark minus an overlap window (late
  writes, clock skew between API nodes) and merges them by ``customer_id``: a customer's row and all its
  children are replaced by what the API says now.
* The API lists no deleted customers, so an incremental run cannot see deletions; a ``full`` run lists
  everyone, replaces the mirror and reports who disappeared. Changes that do not touch a customer's
  ``updatedTime`` (on the real API this may include attaching a source) also wait for a full run.
* Every file is written to a temporary name and renamed; the state is written last. A crash leaves the old
  mirror, or the new tables with the old state, which the next run simply fetches again (merging is idempotent).
* A mirror belongs to one host: syncing it from another is refused.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._core._models import format_datetime, parse_datetime
from ._errors import ConfigurationError
from ._files._parquet import read_parquet, write_frames
from ._tables._frames import CUSTOMER_KEY, PARENT_ROW_COLUMN, Frames

if TYPE_CHECKING:
    from ._api._client import Client

STATE_FILE = "drframe-sync.json"
TABLES = ("customers", "sources", "tax_identifiers", "tax_certificates")
DEFAULT_OVERLAP = timedelta(minutes=10)


@dataclass(frozen=True)
class SyncResult:
    """What a sync did, by content: customers fetched; then added, changed (any field of the customer or of its
    sources, tax identifiers or certificates differs from the mirror's) and unchanged, which sum to the mirror's
    ``total``; and removed (full runs only)."""

    full: bool
    first: bool
    fetched: int
    added: int
    changed: int
    unchanged: int
    removed: int
    total: int
    since: str | None
    high_water: str | None

    def __str__(self) -> str:
        kind = "first" if self.first else "full" if self.full else f"incremental since {self.since}"
        gone = f", {self.removed} removed" if self.full else ""
        return (f"{kind} sync: {self.fetched} fetched; {self.added} added, {self.changed} changed{gone}, "
                f"{self.unchanged} unchanged; {self.total} customers in the mirror")


def sync(client: Client, directory: str | Path, *, full: bool = False, overlap: timedelta = DEFAULT_OVERLAP,
         progress: bool = False) -> SyncResult:
    """Bring the Parquet mirror in ``directory`` up to date (see the module docstring); the first run is full."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = _read_state(directory, client)
    mirror = _read_mirror(directory) if state else None
    full = full or mirror is None
    since = None
    if not full and state.get("high_water"):
        since = format_datetime(parse_datetime(state["high_water"]) - overlap)
    filters: dict[str, Any] = {"updated_time": {"gte": since}} if since else {}
    fetched = client.customers.to_frames(redact=True, progress=progress, **filters)
    fetched_ids = set(fetched.customers[CUSTOMER_KEY].astype(str))
    old_ids = set(mirror.customers[CUSTOMER_KEY].astype(str)) if mirror is not None else set()
    merged = fetched if full or mirror is None else _merge_into_mirror(mirror, fetched, fetched_ids)
    removed = len(old_ids - fetched_ids) if full and mirror is not None else 0
    write_frames(directory, Frames(**{name: _without_row_links(getattr(merged, name)) for name in TABLES}))
    high_water = _newest(fetched.customers, state.get("high_water"))
    _write_json(directory / STATE_FILE, {
        "version": 1, "host": client.host, "high_water": high_water,
        "last_full": format_datetime(datetime.now(UTC)) if full else state.get("last_full"),
        "last_sync": format_datetime(datetime.now(UTC)),
    })
    kept = fetched_ids & old_ids
    before = _fingerprints(mirror, kept) if mirror is not None else {}
    after = _fingerprints(fetched, kept)
    added = len(fetched_ids - old_ids)
    changed = sum(before.get(i) != after.get(i) for i in kept)
    total = len(merged.customers)
    return SyncResult(full=full, first=mirror is None, fetched=len(fetched_ids), added=added, changed=changed,
                      unchanged=total - added - changed, removed=removed, total=total, since=since,
                      high_water=high_water)


def _read_state(directory: Path, client: Client) -> dict[str, Any]:
    path = directory / STATE_FILE
    if not path.exists():
        if any((directory / f"{name}.parquet").exists() for name in TABLES):
            raise ConfigurationError(f"{directory} holds Parquet files but no {STATE_FILE}: not a drframe mirror "
                                     "(sync into an empty directory)")
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} is unreadable ({exc}); delete the directory to start a new mirror") from None
    if state.get("host") != client.host:
        raise ConfigurationError(f"{directory} mirrors {state.get('host')!r}, not {client.host!r}: sync another "
                                 "directory for this target")
    return dict(state)


def _read_mirror(directory: Path) -> Frames | None:
    paths = [directory / f"{name}.parquet" for name in TABLES]
    if not all(p.exists() for p in paths):
        return None
    return read_parquet(directory)


def _merge_into_mirror(mirror: Frames, fetched: Frames, fetched_ids: set[str]) -> Frames:
    """The mirror with every fetched customer (row and children) replaced by its fetched version."""
    tables = {}
    for name in TABLES:
        old, new = getattr(mirror, name), getattr(fetched, name)
        kept = old[~old[CUSTOMER_KEY].astype(str).isin(fetched_ids)] if len(old) else old
        parts = [frame for frame in (new, kept) if len(frame)]
        tables[name] = pd.concat(parts, ignore_index=True) if len(parts) > 1 else (parts[0] if parts else new)
    return Frames(**tables)


def _fingerprints(frames: Frames, ids: set[str]) -> dict[str, list[list[str]]]:
    """Per customer in ``ids``: its row and its children's rows, as canonical JSON (empty cells and row links
    left out, so a mirror and a fresh listing of the same state compare equal)."""
    found: dict[str, list[list[str]]] = {i: [[] for _ in TABLES] for i in ids}
    for position, name in enumerate(TABLES):
        table = getattr(frames, name)
        if not len(table):
            continue
        table = table[table[CUSTOMER_KEY].astype(str).isin(ids)].drop(columns=[PARENT_ROW_COLUMN], errors="ignore")
        for record in table.to_dict("records"):
            text = json.dumps({k: _plain(v) for k, v in record.items() if not _empty(v)}, sort_keys=True, default=str)
            found[str(record[CUSTOMER_KEY])][position].append(text)
    for parts in found.values():
        for part in parts:
            part.sort()
    return found


def _empty(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or dict cell
        return False


def _plain(value: Any) -> Any:
    """A cell as JSON sees it: numpy scalars as Python ones, times as ISO text."""
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if isinstance(value, np.generic) else value


def _without_row_links(frame: pd.DataFrame) -> pd.DataFrame:
    """Children are linked by ``customer_id`` in a mirror (ids are unique there); row labels do not survive a merge."""
    return frame.drop(columns=[c for c in (PARENT_ROW_COLUMN,) if c in frame]).reset_index(drop=True)


def _newest(customers: pd.DataFrame, previous: str | None) -> str | None:
    stamps = customers["updatedTime"].dropna() if "updatedTime" in customers else pd.Series([], dtype=object)
    newest = pd.Timestamp(stamps.max()).to_pydatetime() if len(stamps) else None
    if previous and (newest is None or parse_datetime(previous) > newest):
        return previous
    return format_datetime(newest) if newest is not None else previous


def _write_json(path: Path, data: dict[str, Any]) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)
