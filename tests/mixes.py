"""The customer mixes of ``benchmarks/bench_frames.py`` (the shapes the speed figures are for), for tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def benchmark_mix(mix: str, count: int) -> list[dict[str, Any]]:
    """``count`` customers of one of ``bench_frames.py``'s mixes (``sparse``, ``dense``, ``sources``, ``project``)."""
    spec = importlib.util.spec_from_file_location("bench_frames", Path(__file__).parents[1] / "benchmarks"
                                                  / "bench_frames.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    customers: list[dict[str, Any]] = module.make(mix, count)
    return customers
