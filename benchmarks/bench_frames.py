"""Normalisation benchmark: drframe.to_frames vs pd.json_normalize, side by side in one run.

100,000 generated customers (0-3 sources, 0-2 tax identifiers).  Each approach runs in its own fresh process
so peak memory (ru_maxrss above the baseline after the input is built) is not polluted by the other.
Run: ``python benchmarks/bench_frames.py [N]``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

N = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 100_000


def run_one(approach: str, count: int) -> dict[str, float]:
    import gc

    import pandas as pd

    from drframe.testing import generate_customers

    customers = generate_customers(count, seed=1)
    gc.collect()
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    if approach == "drframe":
        from drframe import to_frames

        frames = to_frames(customers)
        rows = sum(len(f) for f in frames.tables().values())
        dtypes = frames.customers.dtypes
        assert str(dtypes["customer_id"]) == "string" and str(dtypes["shipping.address.postalCode"]) == "string"
        assert str(dtypes["enabled"]) == "boolean" and str(dtypes["createdTime"]) == "datetime64[ns, UTC]"
        assert str(frames.sources.dtypes["amount"]) == "Float64"
    else:
        top = pd.json_normalize(customers)
        sources = pd.json_normalize([c for c in customers if c.get("sources")], record_path="sources",
                                    meta=["id"], meta_prefix="customer.")
        tax_ids = pd.json_normalize([c for c in customers if c.get("taxIdentifiers")],
                                    record_path="taxIdentifiers", meta=["id"], meta_prefix="customer.")
        rows = len(top) + len(sources) + len(tax_ids)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_mib": (peak - baseline) / 1024, "rows": rows}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        print(json.dumps(run_one(sys.argv[2], int(sys.argv[3]))))
        return
    results = {}
    for approach in ("json_normalize", "drframe"):
        out = subprocess.run([sys.executable, __file__, "--one", approach, str(N)], check=True,
                             capture_output=True, text=True)
        results[approach] = json.loads(out.stdout.strip().splitlines()[-1])
    base, ours = results["json_normalize"], results["drframe"]
    print(f"normalise {N:,} customers (all tables)")
    print(f"{'approach':<16}{'seconds':>10}{'peak MiB':>12}{'rows':>10}")
    for name, r in results.items():
        print(f"{name:<16}{r['seconds']:>10.2f}{r['peak_mib']:>12.0f}{r['rows']:>10,}")
    print(f"speed-up {base['seconds'] / ours['seconds']:.1f}x, memory {ours['peak_mib'] / base['peak_mib']:.2f} of json_normalize")


if __name__ == "__main__":
    main()
