"""Files that appear whole or not at all.

Each is written under a temporary name beside its target and renamed over it once complete (``os.replace`` is
atomic within a file system): a crash, a kill -9 or a full disk mid-write leaves the earlier file, if any, as it
was, never a truncated one that reads as complete.  A set of files (an export's tables) is renamed together once
the last is written, so the files of two exports are not mixed either, short of a crash between the renames.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def written_whole(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary paths (hidden, beside ``paths``) to write into; renamed over ``paths`` when the block ends, or
    removed if it raises."""
    partials = [path.with_name(f".{path.name}.{os.getpid()}.partial") for path in paths]
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield partials
        for partial, path in zip(partials, paths, strict=True):
            os.replace(partial, path)
    except BaseException:
        for partial in partials:
            partial.unlink(missing_ok=True)
        raise
