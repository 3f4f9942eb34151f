"""The one timer: `export.verify` (latency of each exported file), `zoo bench` and the benchmarks use it."""

import time

import numpy as np


def timed(fn, repeats, warmup=1):
    """Median seconds of `fn()` over `repeats` calls after `warmup` calls (the median: one slow call, a
    garbage collection or a page fault, does not move it)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))
