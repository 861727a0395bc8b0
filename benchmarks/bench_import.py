"""Import time of ``import msglance`` (lazy, PEP 562) against the eager import it replaced.

Before the lazy ``__init__``, ``import msglance`` ran ``from msglance.glance import ...``,
which loads torch; ``import msglance.glance`` measures exactly that work today. Each
statement runs in a fresh interpreter (timed with ``time.perf_counter`` around the
statement), the cases interleaved, and the medians are printed with the ratio.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_import.py --runs 7
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

CASES = {
    "import msglance (lazy)": "import msglance",
    "import msglance.glance (= the old eager import)": "import msglance.glance",
    "import msglance; msglance.metrics (first metric access)": "import msglance; msglance.metrics",
}
TIMER = "import time; t = time.perf_counter(); {}; print(int(1e6 * (time.perf_counter() - t)))"


def elapsed_us(statement: str) -> int:
    """Microseconds ``statement`` takes in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", TIMER.format(statement)],
                         capture_output=True, text=True, check=True).stdout
    return int(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[int]] = {k: [] for k in CASES}
    for _ in range(args.runs):  # interleaved, so machine load affects every case alike
        for label, statement in CASES.items():
            times[label].append(elapsed_us(statement))
    medians = {k: statistics.median(v) for k, v in times.items()}
    for label, med in medians.items():
        print(f"{label:58s} median {med / 1e3:9.1f} ms  (min {min(times[label]) / 1e3:.1f})")
    lazy, eager = medians["import msglance (lazy)"], medians[
        "import msglance.glance (= the old eager import)"]
    print(f"eager / lazy: {eager / lazy:.0f}x")


if __name__ == "__main__":
    main()
