"""`paramcalc sweep` over one million configurations (lambdified, vectorized numpy) against sympy
substitution point by point over a sample, in the same run, and the two checked against each
other on that sample.

Run: python benchmarks/bench_sweep.py [--sample 300]
Target: one million configurations evaluated in under a second.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from paramcalc import budget, from_name
from paramcalc.plan import parse_range, sweep
from paramcalc.symbols import d, f, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    config = from_name("gpt2").config
    ranges = [parse_range("d_model=12:12000:12"), parse_range("num_blocks=1:1000")]
    sweep(config, [parse_range("d_model=12:24:12")])  # warm up: sympy's caches, numpy's import
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        grid = sweep(config, ranges, ["tied-flatten"])
        times.append(time.perf_counter() - start)
    vectorized = statistics.median(times)
    front = grid.front()
    print(f"sweep (median of {args.repeat}): {len(grid):,} configurations of gpt2 with a tied-flatten head "
          f"(d_model 12..12,000 step 12 × num_blocks 1..1,000) in {vectorized:.3f} s "
          f"= {len(grid) / vectorized:,.0f} per second; Pareto front {len(front):,} points")

    # what one would write by hand: the total's expression, substituted point by point
    b = budget(config.with_head("tied-flatten"))
    total = b.total.exact.subs(f, 4 * d)  # gpt2 leaves d_ff at its default, 4·d_model
    fixed = {s: v for s, v in b.values.items() if s not in (d, n, f)}
    rng = random.Random(0)
    picks = [rng.randrange(len(grid)) for _ in range(args.sample)]
    start = time.perf_counter()
    for i in picks:
        point = {d: int(grid.columns["d_model"][i]), n: int(grid.columns["num_blocks"][i])}
        exact = int(total.subs({**fixed, **point}))
        if exact != int(grid.columns["total"][i]):
            raise SystemExit(f"mismatch at {point}: sympy {exact:,}, sweep "
                             f"{int(grid.columns['total'][i]):,}")
    per_point = (time.perf_counter() - start) / args.sample
    print(f"sympy substitution, point by point: {per_point * 1e3:.2f} ms per configuration "
          f"({args.sample} sampled, all equal to the sweep's) → {per_point * len(grid):,.0f} s "
          f"for the same grid")
    print(f"vectorized is {per_point * len(grid) / vectorized:,.0f}x faster; target (1M in < 1 s): "
          f"{'met' if vectorized < 1 and len(grid) >= 1_000_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
