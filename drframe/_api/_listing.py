"""Reading at the API's rate limit: every customer listed over concurrently paged ``createdTime`` ranges (the
ranges themselves are in :mod:`._ranges`; worker counts and the pool for batched calls in :mod:`._pacing`).
Over 400 lines on purpose: the range scheduler (split, hand out, finish) is one algorithm, read best whole.

**How a listing runs** (:class:`Listing`, behind ``client.customers.iter_raw / to_frames / to_parquet``).
``GET /customers`` is newest first (``createdTime``, then the server's insertion order for equal times), 100 per
page, and ``createdTime[gte]`` / ``createdTime[lt]`` cut it into disjoint time ranges, each of which lists a
contiguous block of that same order.  The listing starts as one range, the whole time axis: nothing is looked
up first.  The newest customer is simply the first page's first row, and the oldest is never needed (there is
no ascending order, ``endingBefore`` needs a cursor, and a ``createdTime[lt]`` bisection would cost a dozen
sequential calls before the first page): the bottom range stays open-ended, and its first page shows where its
data starts.  Workers take a range from a queue (the open bottom first, then newest first), read its next page
(``startingAfter`` its cursor) and put it back: a range is not tied to a worker, so a range can be split while
every worker is busy, and no more ranges are open than workers.  After each page, while fewer ranges are open
than wanted, the worker whose range is among the biggest splits off older parts of it, keeping the newest part
and its cursor:

* how many ranges are wanted: with a rate limit (the client's shared ``client.limiter``), enough requests in
  flight to fill it at the round trip the last pages took; without one, one per worker (the worker count then
  bounds the load).  A range on its last page does not count (its worker is about to want another);
* which range: one among the biggest by pages left (a new range's size is estimated from the density of the
  page it was cut on, until its own first page is in); the open bottom, whose size is unknown, does not hold
  back splitting a range known to be big.  Once every range's size is known, a range that would still be
  paging after the others are done (more pages left than the whole rest takes at the rate, one page per round
  trip) is split to even them out;
* where to cut: a range with a lower bound into equal time slices of at least ``MIN_PIECE`` pages (as estimated
  from the density of the page just read: every range ends in one partial page, a request the limit could have
  spent on a full one), single pages at the end when most of the rate is idle or to even out the last ranges;
  the open bottom geometrically, 1, 2, 4... such pieces further back, twice as big at each of its splits, the
  rest staying open (a piece past the oldest customer costs one empty page); at a rate that wants more than
  ``OPEN_FANOUT`` ranges, its first split is into equal pieces, as many as wanted.  The open bottom splits off
  at least one piece at each of its pages, wanted or not: its size is unknown, and left to one range, all that
  is below it would page on alone until the others end.  The range just above the
  ranges that came back empty holds the oldest customers, but how far down they go is not known: it is at
  most halved (equal slices of it would each cost an empty page below the oldest customer).

While a listing runs, the garbage collector keeps to its young generations (:func:`young_collections_only`):
its full collections walked every customer held, stalling the workers for up to 0.18 s each.

Callers that transform customers one by one (flattening) take :func:`segments` of
:meth:`Listing.pages_as_fetched`: each range's pages as they arrive, put in order once at the end.

Split points are whole milliseconds.  Pages are put back in listing order: range keys sort in that order (a
range's splits after it, newest first), and a page is released once every range before it is complete.
Customers with the same ``createdTime`` always fall in one range, so their order is the server's own: the
result is the sequential listing, customer for customer.

**Not a snapshot.** The API has none, and neither has the sequential listing.  Customers created after the
first page was read are not in it (they are newer than that page, and every range lies below it).
Customers deleted while it runs are in it if their page was read before the delete, and missing otherwise.
Every customer that exists for the whole listing is in it exactly once.  A deleted cursor (the last customer
of a page, deleted before the next page was asked for) is handled: the range goes on with ``createdTime[lte]``
at the cursor's time, leaving out the customers of that instant it already listed.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import APIError
from .._memory import young_collections_only
from .._progress import progress as progress_of
from ._ranges import Range, RangeKey, TimeFilter, micros, whole_ms

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter

#: Most ranges split off a range at once.
MAX_FANOUT = 16
#: Most ranges split off the open bottom at once (those past the oldest customer cost an empty page each).
OPEN_FANOUT = 8
#: Pages (events) the workers may be ahead of the consumer.
AHEAD = 128
#: Fewest pages (estimated) a range is split into: its partial last page is then a small share.
MIN_PIECE = 8



class _Stopped(Exception):
    """The listing was stopped (the consumer went away or a worker failed)."""


def _vanished_cursor(exc: APIError) -> bool:
    """The API's answer to a ``startingAfter`` naming a customer that no longer exists."""
    return exc.status in {400, 404} and (exc.parameter == "startingAfter" or exc.code == "not_found")


class Listing:
    """Every customer matching ``filters``, listed concurrently over ``createdTime`` ranges (see the module).

    ``list_page`` is ``client.customers.list_raw``.  Iterate :meth:`pages` for the pages in listing order, or
    :meth:`pages_as_fetched` for them as they arrive (with their place in the order).  Either starts the
    workers; leaving the loop early stops them.
    """

    def __init__(self, list_page: Callable[..., Mapping[str, Any]], *, workers: int,
                 limiter: RateLimiter | None = None, page_size: int = 100, **filters: Any) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        self._request_page = list_page
        self._workers = workers
        self._limiter = limiter
        self._round_trips: deque[float] = deque(maxlen=4 * workers)  # how long the last pages took
        self._answered: deque[float] = deque(maxlen=4 * workers)  # when they came in
        self._page_size = page_size
        self._time = TimeFilter.of(filters.pop("created_time", None))
        if filters.get("ending_before") is not None:
            raise ValueError("ending_before lists one page towards newer customers; use list_raw for it")
        filters.pop("ending_before", None)
        self._root = Range((), self._time.gte, self._time.lt, after=filters.pop("starting_after", None))
        self._filters = filters
        self._cond = threading.Condition()
        self._heap: list[Range] = []
        self._waiting = 0
        self._open: dict[RangeKey, Range] = {}
        self._bottom_splits = 0  # how often the open bottom was split: its pieces double each time
        self._empty: list[tuple[int | None, int | None]] = []  # ranges whose first page was empty
        self._finished = False
        self._stop = threading.Event()
        # Pages fetched ahead of the consumer: enough that flattening a chunk does not stall the workers.
        self._events: queue.Queue[tuple[Any, ...]] = queue.Queue(maxsize=max(AHEAD, 2 * workers))
        self._threads: list[threading.Thread] = []

    def start(self) -> Listing:
        """Start the workers now rather than at the first page asked for (so the first requests are under way
        while the caller prepares); :meth:`close` stops them if the pages are then never read.  ``with listing:``
        does both."""
        if not self._threads:
            self._register([self._root])
            self._push([self._root])
            for number in range(self._workers):
                thread = threading.Thread(target=self._work, name=f"drframe-list-{number}", daemon=True)
                thread.start()
                self._threads.append(thread)
        return self

    def __enter__(self) -> Listing:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (what leaving a loop over the pages early does)."""
        self._stop.set()
        with self._cond:
            self._finished = True
            self._cond.notify_all()
        for thread in self._threads:
            while thread.is_alive():
                try:  # unblock a worker waiting to hand over a page
                    self._events.get_nowait()
                except queue.Empty:
                    thread.join(0.05)

    # ---- consumer side ------------------------------------------------------------------------------------

    def pages(self) -> Iterator[list[dict[str, Any]]]:
        """Non-empty pages of raw customers in listing order (newest first), as soon as their turn comes."""
        open_keys: list[RangeKey] = []
        held: dict[RangeKey, list[list[dict[str, Any]]]] = {}
        done: set[RangeKey] = set()
        for kind, key, *rest in self._run():
            if kind == "open":
                heapq.heappush(open_keys, key)
                held[key] = []
            elif kind == "page":
                if key == open_keys[0]:
                    yield rest[1]
                else:
                    held[key].append(rest[1])
            else:  # a range is complete: release what waited on it
                done.add(key)
                while open_keys:
                    head = open_keys[0]
                    yield from held[head]
                    held[head].clear()
                    if head not in done:
                        break
                    heapq.heappop(open_keys)
                    done.discard(head)
                    del held[head]

    def pages_as_fetched(self) -> Iterator[tuple[RangeKey, int, list[dict[str, Any]] | None]]:
        """``(range key, page number, customers)`` as pages arrive; ``customers`` is None once the range is
        complete.  Sorting by ``(range key, page number)`` gives the listing order."""
        for kind, key, *rest in self._run():
            if kind == "page":
                yield key, rest[0], rest[1]
            elif kind == "close":
                yield key, -1, None

    def _run(self) -> Iterator[tuple[Any, ...]]:
        with young_collections_only():
            self.start()
            try:
                while True:
                    event = self._events.get()
                    if event[0] == "end":
                        return
                    if event[0] == "error":
                        raise event[1]
                    if event[0] == "page" and not event[3]:
                        continue
                    yield event
            finally:
                self.close()

    # ---- worker side --------------------------------------------------------------------------------------

    def _emit(self, event: tuple[Any, ...]) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                self._events.put(event, timeout=0.1)
                return
            except queue.Full:
                continue

    def _register(self, ranges: list[Range]) -> None:
        """Count ``ranges`` as open and tell the consumer, before any of their pages can arrive."""
        with self._cond:
            self._open.update((rng.key, rng) for rng in ranges)
        for rng in ranges:
            self._emit(("open", rng.key))

    def _push(self, ranges: list[Range]) -> None:
        with self._cond:
            for rng in ranges:
                heapq.heappush(self._heap, rng)
            self._cond.notify(len(ranges))

    def _take(self) -> Range | None:
        with self._cond:
            self._waiting += 1
            try:
                while not self._heap and not self._finished:
                    self._cond.wait()
                return None if self._finished else heapq.heappop(self._heap)
            finally:
                self._waiting -= 1

    def _work(self) -> None:
        try:
            while (rng := self._take()) is not None:
                if self._list_page(rng):
                    self._push([rng])
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, which raises it
            with contextlib.suppress(_Stopped):
                self._emit(("error", exc))
            self._stop.set()

    def _list_page(self, rng: Range) -> bool:
        """Read ``rng``'s next page; True if it has more (the range goes back to the queue for its next page:
        ranges are not tied to workers, so there may be more of them than workers, and a range can be split
        while every worker is busy)."""
        while True:
            if self._stop.is_set():
                raise _Stopped
            started = time.monotonic()
            try:
                body = self._request_page(limit=self._page_size, starting_after=rng.after,
                                          created_time=self._time.params(rng), **self._filters)
            except APIError as exc:
                if rng.after is not None and rng.tail_time is not None and _vanished_cursor(exc):
                    rng.cursor_vanished()
                    continue
                raise
            break
        with self._cond:
            now = time.monotonic()
            self._round_trips.append(now - started)
            self._answered.append(now)
        data: list[dict[str, Any]] = body["data"]
        fresh = [c for c in data if c["id"] not in rng.skip] if rng.skip else data
        self._emit(("page", rng.key, rng.pages, fresh))
        rng.pages += 1
        if not data and rng.pages == 1 and rng.after is None:
            with self._cond:
                self._empty.append((rng.gte, rng.lt))
        if body["hasMore"] and data:
            rng.advance(data)
            if self._time.splittable:
                self._split(rng, data)
            return True
        self._emit(("close", rng.key))
        with self._cond:
            del self._open[rng.key]
            last = not self._open
            if last:
                self._finished = True
                self._cond.notify_all()
        if last:
            self._emit(("end",))
        return False

    def _starving(self) -> bool:
        """(Under the lock.)  The last pages came in well below the rate limit (a server queueing under load,
        ranges running out at the end), or, without a limiter, a worker is idle."""
        limiter = self._limiter
        if limiter is None:
            return self._waiting > len(self._heap)
        count = min(len(self._answered), max(8, 2 * len(self._open)))
        if count < 8:
            return False
        window = self._answered[-1] - self._answered[-count]
        return window > 0 and (count - 1) / window < 0.9 * limiter.rate

    def _wanted(self) -> int:
        """(Under the lock.)  Ranges to keep open: one per worker without a rate limiter; with one, enough
        requests in flight to fill it at the round trip the last pages took (their lower quartile: the limiter's
        waits are in the longer ones), and one more while the pages come in below the limit."""
        limiter = self._limiter
        if limiter is None or not self._round_trips:
            return self._workers
        wanted = min(self._workers, math.ceil(limiter.max_rate * self._round_trip()) + 1)
        return max(wanted, min(self._workers, len(self._open) + 1)) if self._starving() else wanted

    def _round_trip(self) -> float:
        """(Under the lock, with pages in.)  The lower quartile of the last pages' round trips."""
        return sorted(self._round_trips)[len(self._round_trips) // 4]

    def _to_balance(self, left: float, sizes: dict[RangeKey, float]) -> int:
        """(Under the lock.)  Once every range's size is known (``sizes``: pages left of the open ranges whose
        size is known), the listing ends when its longest range does, one page per round trip: pieces to split a
        range with ``left`` pages into so that none takes longer than the pages left take at the rate (at least
        two pages each), minus one."""
        if len(sizes) < len(self._open) or not self._round_trips:
            return 0
        per_round_trip = self._limiter.max_rate * self._round_trip() if self._limiter else self._workers
        longest = max(2.0, sum(sizes.values()) / max(1.0, per_round_trip))
        return math.ceil(left / longest) - 1 if left > longest else 0

    def _floor(self) -> int | None:
        """(Under the lock.)  The time below which every range came back empty (None: not known yet): the range
        just above it holds the oldest customers, and how far down they go is not known."""
        floor = self._time.gte
        known = sorted(self._empty, key=lambda bounds: -math.inf if bounds[0] is None else bounds[0])
        for gte, lt in known:
            if (gte is None or (floor is not None and gte <= floor)) and lt is not None:
                floor = lt if floor is None else max(floor, lt)
        return None if floor == self._time.gte else floor

    def _split(self, rng: Range, data: list[dict[str, Any]]) -> None:
        """Hand older parts of ``rng`` to other workers while fewer ranges are open than wanted and ``rng`` is among
        the biggest (by pages left); ``rng`` keeps the newest part and its cursor."""
        newest, oldest = micros(data[0]["createdTime"]), micros(data[-1]["createdTime"])
        page = (newest - oldest) * self._page_size // max(1, len(data) - 1)  # about one page's worth of time
        if page <= 0:
            rng.left = math.inf if rng.gte is None else 1.0
            return  # one instant: only the cursor can go on
        rng.left = math.inf if rng.gte is None else (oldest - rng.gte) / page
        with self._cond:
            # A range on its last page is not counted: its worker will want another one a round trip from now.
            lasting = sum(1 for other in self._open.values() if other.left is None or other.left > 1)
            # Pages left of the ranges whose size is known (not the open bottom, nor a range before its first page).
            sizes = {other.key: other.left for other in self._open.values()
                     if other.left is not None and not math.isinf(other.left)}
            balance = self._to_balance(rng.left, sizes)
            wanted = self._wanted()
            need = max(wanted - lasting, balance)
            if rng.gte is None and rng.pages > 1:
                # The open bottom's size is not known: keep probing further back, one more piece at each of its
                # pages, rather than leave all that is below it to this one range until others end.
                need = max(need, 1)
            if need > 0 and rng.gte is not None:
                # Once it is split, cut it to the typical size, so that later ends need fewer new ranges (each
                # of which ends in a partial page).
                typical = max(MIN_PIECE, sum(sizes.values()) / wanted)
                need = max(need, math.floor(rng.left / typical) - 1)
            # No more ranges open than workers: each open range is a request in flight or queued for one.
            need = min(need, MAX_FANOUT, self._workers - len(self._open))
            floor = self._floor()
            if floor is not None and rng.gte is not None and rng.gte <= floor:
                # The oldest customers are in this range, but how far down is not known: slices of its time
                # below them would each cost an empty page.  At most halves.
                need = min(need, 1)
            # The open bottom (size unknown) does not hold back splitting a range known to be big.
            biggest = max((left for key, left in sizes.items() if key != rng.key), default=0.0)
            bottomless = any(other.gte is None for other in self._open.values())
            starving = self._starving()
        if need <= 0 or rng.left < 0.75 * biggest:
            return  # enough ranges, or a bigger one will be split when its next page is in
        # Pieces of MIN_PIECE pages or more, as a partial last page is a request the rate limit could have
        # spent on a full one; but single pages once the bottom is found and the limit is not reached (a slot
        # left unused is worse than half a page), or to even out the ranges towards the end.
        piece = 1 if (starving or balance) and not bottomless else MIN_PIECE
        if rng.gte is None:  # open bottom: pieces of 1, 2, 4... times that, back in time, bigger each time
            with self._cond:
                scale = 2 ** min(self._bottom_splits, 10)
                self._bottom_splits += 1
            if scale == 1 and need > OPEN_FANOUT:
                # The first split at a high rate: as many equal pieces as wanted.  Geometric ones would reach
                # hundreds of pages back (empty past the oldest customer) and leave the near ones small, each
                # soon replaced by a split, which ends in one more partial page.
                cuts = [whole_ms(oldest - page * piece * j) for j in range(1, need + 1)]
            else:
                cuts = [whole_ms(oldest - page * piece * scale * (2**j - 1)) for j in range(1, min(need, OPEN_FANOUT) + 1)]
            cuts = [c for c in cuts if c > 0]
        else:  # equal slices of what is left
            remaining = oldest - rng.gte
            pieces = min(need, remaining // (page * piece) - 1)
            cuts = [whole_ms(oldest - remaining * j // (pieces + 1)) for j in range(1, pieces + 1)]
            cuts = [c for c in cuts if c > rng.gte]
        cuts = sorted({c for c in cuts if c < oldest}, reverse=True)
        if not cuts:
            return
        count = len(cuts)  # newest first; each new range is [the next cut (or rng.gte), the cut)
        # Each new range's size is estimated from this page's density until its own first page is in.
        new = [Range((*rng.key, -(rng.children + count - i)), lower, upper,
                     left=math.inf if lower is None else (upper - lower) / page)
               for i, (upper, lower) in enumerate(zip(cuts, [*cuts[1:], rng.gte], strict=True))]
        rng.children += count
        rng.gte = cuts[0]
        rng.left = (oldest - cuts[0]) / page
        self._register(new)
        self._push(new)


def iter_customers(listing: Listing, *, progress: bool = False) -> Iterator[dict[str, Any]]:
    """Every customer of ``listing``, newest first; ``progress`` counts them (:func:`drframe._progress.progress`)."""
    try:
        with progress_of("listing customers", "customers", enabled=progress) as bar:
            for page in listing.pages():
                yield from page
                bar.update(len(page))
    finally:
        listing.close()  # also when the pages were never asked for (a started listing)


def segments(pages: Iterable[tuple[RangeKey, int, list[dict[str, Any]] | None]], *, size: int,
             limit: int | None = None, progress: bool = False,
             desc: str = "listing customers") -> Iterator[tuple[tuple[RangeKey, int], list[dict[str, Any]]]]:
    """Consecutive customers of one range, up to ``size`` at a time, as the pages of
    :meth:`Listing.pages_as_fetched` arrive: ``((range key, first page number), customers)``, keys sorting in
    listing order.  So a caller transforming customers (flattening) need not wait for a range's turn, the way
    :meth:`Listing.pages` makes it wait.  With ``limit``, once more customers than that wait in unfinished
    segments, the biggest is given early (bounded memory).  ``progress`` counts customers."""
    buffers: dict[RangeKey, tuple[int, list[dict[str, Any]]]] = {}
    held = 0
    with progress_of(desc, "customers", enabled=progress) as bar:
        for key, number, customers in pages:
            if customers is None:  # the range is complete
                ready = key if key in buffers else None
            else:
                buffers.setdefault(key, (number, []))[1].extend(customers)
                held += len(customers)
                bar.update(len(customers))
                ready = key if len(buffers[key][1]) >= size else None
                if ready is None and limit is not None and held > limit:
                    ready = max(buffers, key=lambda k: len(buffers[k][1]))
            if ready is not None:
                first, done = buffers.pop(ready)
                held -= len(done)
                yield (ready, first), done
        for key, (first, done) in buffers.items():
            yield (key, first), done


__all__ = ["Listing", "RangeKey", "iter_customers", "segments"]
