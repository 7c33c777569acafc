"""Frames put in another customer order: what lets a concurrent listing be flattened as its pages arrive, in
whatever order that is, and still come out in the listing's order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._tables import PARENT_ROW_COLUMN

if TYPE_CHECKING:
    from ._payloads import Frames


def reorder(frames: Frames, order: Sequence[int] | np.ndarray) -> Frames:
    """``frames`` with its customers rows in ``order`` (row positions, each once), each child table's rows
    following their parents' new order (siblings keep theirs) with ``customer_row`` renumbered, and fresh
    ``RangeIndex`` everywhere: the frames flattening the customers in that order gives.  ``frames`` must have
    the ``RangeIndex`` flattening gives (a child's ``customer_row`` is then its parent's position)."""
    from ._payloads import Frames

    positions = np.asarray(order, dtype=np.int64)
    count = len(frames.customers)
    if len(positions) != count or not np.array_equal(np.sort(positions), np.arange(count)):
        raise ValueError(f"order must hold each of the {count} customers rows once")
    if np.array_equal(positions, np.arange(count)):
        return frames
    new_row = np.empty(count, dtype=np.int64)
    new_row[positions] = np.arange(count)
    tables = {"customers": frames.customers.take(positions).reset_index(drop=True)}
    for name, frame in frames.tables().items():
        if name == "customers":
            continue
        parents = new_row[frame[PARENT_ROW_COLUMN].to_numpy(dtype=np.int64)]
        rows = np.argsort(parents, kind="stable")
        child = frame.take(rows).reset_index(drop=True)
        child[PARENT_ROW_COLUMN] = pd.array(parents[rows], dtype=frame[PARENT_ROW_COLUMN].dtype)
        tables[name] = child
    return Frames(**tables)


__all__ = ["reorder"]
