"""The pieces a :class:`drframe._api._listing.Listing` pages: ``createdTime`` ranges with their cursors, and the caller's
time filter that bounds them.  Times are whole microseconds since the epoch; split points are whole milliseconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .._core._models import format_datetime, parse_datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = 1000
#: A range's key: sorting keys gives the listing order (a range's later splits sort after it, newest first).
RangeKey = tuple[int, ...]


def micros(value: datetime | str) -> int:
    moment = parse_datetime(value) if isinstance(value, str) else value.astimezone(UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(micros: int) -> str:
    return format_datetime(_EPOCH + timedelta(microseconds=micros))


def whole_ms(micros: int) -> int:
    return micros // _MS * _MS


@dataclass
class Range:
    key: RangeKey
    gte: int | None
    """Inclusive lower bound (µs since the epoch); None: open."""
    lt: int | None
    """Exclusive upper bound; None: open (only the first range)."""
    after: str | None = None
    """The ``startingAfter`` cursor: the last customer listed."""
    lte: int | None = None
    """After a vanished cursor: the cursor's time, inclusive."""
    skip: frozenset[str] = frozenset()
    """After a vanished cursor: customers of the instant ``lte`` already listed."""
    tail_time: str | None = None
    tail_ids: list[str] = field(default_factory=list)
    """The customers listed last that share the last ``createdTime`` (what a vanished cursor must skip)."""
    children: int = 0
    pages: int = 0
    left: float | None = None
    """Pages still to come, estimated from the last page's density (infinite for the open bottom; None before
    the first page)."""

    def __lt__(self, other: Range) -> bool:
        """Which range a worker takes first: the open bottom (where the oldest customers are is learnt from its
        first page), then the newest."""
        return (self.gte is not None, self.key) < (other.gte is not None, other.key)

    def advance(self, data: list[dict[str, Any]]) -> None:
        """Move the cursor past ``data`` (a non-empty page)."""
        last_time = data[-1].get("createdTime")
        trailing = []
        for item in reversed(data):
            if item.get("createdTime") != last_time:
                break
            trailing.append(item["id"])
        if last_time == self.tail_time and len(trailing) == len(data):
            self.tail_ids.extend(reversed(trailing))
        else:
            self.tail_ids = trailing[::-1]
        self.tail_time = last_time
        self.after = data[-1]["id"]

    def cursor_vanished(self) -> None:
        """The cursor customer was deleted: go on from its instant, skipping what was listed of it."""
        if self.tail_time is None:
            raise AssertionError("a range has a cursor only after a page")
        self.lte = micros(self.tail_time)
        self.skip = frozenset(self.tail_ids)
        self.after = None


@dataclass(frozen=True)
class TimeFilter:
    """The caller's ``created_time`` filter: what bounds the ranges, and what is passed on as given."""

    gte: int | None = None
    lt: int | None = None
    lte: int | None = None
    other: Mapping[str, datetime | str] = field(default_factory=dict)
    splittable: bool = True

    @classmethod
    def of(cls, value: datetime | str | Mapping[str, datetime | str] | None) -> TimeFilter:
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            return cls(other={"eq": value}, splittable=False)
        bounds: dict[str, int] = {}
        other: dict[str, datetime | str] = {}
        for op, moment in value.items():
            if op in {"gte", "lt", "lte"}:
                bounds[op] = micros(moment)
            else:
                other[op] = moment
        return cls(bounds.get("gte"), bounds.get("lt"), bounds.get("lte"), other, "eq" not in other)

    def params(self, rng: Range) -> dict[str, datetime | str]:
        """The ``created_time`` filter of one request for ``rng``: its bounds within the caller's."""
        out: dict[str, datetime | str] = dict(self.other)
        for op, pick, bounds in (("gte", max, (rng.gte, self.gte)), ("lt", min, (rng.lt, self.lt)),
                                 ("lte", min, (rng.lte, self.lte))):
            given = [b for b in bounds if b is not None]
            if given:
                out[op] = _moment(pick(given))
        return out


__all__ = ["Range", "RangeKey", "TimeFilter", "micros", "whole_ms"]
