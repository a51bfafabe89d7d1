"""`paramcalc ratio --preset gpt2-xl --json` against what a user would do instead: build GPT-2 XL
with torch on the meta device (no weights) and sum its parameter sizes.

Both routes are timed twice: cold, as whole processes (what a user waits for at the shell),
and warm, in one open Python session after a first call (what a notebook user waits for):
paramcalc's library call against transformers' meta-device build.

Run: python benchmarks/bench_ratio.py [--repeat N]
Target on a 2-core machine: median at most 0.5 s, peak at most 120 MB, at least 6x faster.
"""

from __future__ import annotations

import argparse
import json
import sys

from _measure import have, measure, paramcalc_command

META_ROUTE = """
import torch
from transformers import GPT2Config, GPT2LMHeadModel
config = GPT2Config(n_embd=1600, n_layer=48, n_head=25)  # gpt2-xl
with torch.device("meta"):
    model = GPT2LMHeadModel(config)
print(sum(p.numel() for p in model.parameters()))  # parameters() yields the tied tensor once
"""


WARM = """
import json, statistics, sys, time
import torch, transformers
import paramcalc
transformers.logging.set_verbosity_error()
repeat = int(sys.argv[1])

def ours():
    return paramcalc.budget(paramcalc.from_name("gpt2-xl").config).ratio

def meta():
    with torch.device("meta"):
        model = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_embd=1600, n_layer=48,
                                                                     n_head=25))
    return sum(p.numel() for p in model.parameters())

times = {}
for name, call in (("ours", ours), ("meta", meta)):
    call()  # warm: imports done, caches filled
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    times[name] = statistics.median(samples)
print(json.dumps(times))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    ours = measure([*paramcalc_command(), "ratio", "--preset", "gpt2-xl", "--json"], args.repeat)
    total = json.loads(ours.stdout)["params"]["total"]
    print(f"paramcalc ratio --preset gpt2-xl --json: median {ours.seconds:.3f} s, "
          f"peak {ours.peak_mb:.0f} MB  (total {total:,})")
    if not have("transformers"):
        print("meta-device route skipped: transformers is not installed (pip install transformers)")
        return
    meta = measure([sys.executable, "-c", META_ROUTE], repeat=max(3, args.repeat // 3))
    print(f"GPT2LMHeadModel on the meta device, summed:  median {meta.seconds:.3f} s, "
          f"peak {meta.peak_mb:.0f} MB  (total {int(meta.stdout):,})")
    speedup = meta.seconds / ours.seconds
    print(f"speed-up: {speedup:.1f}x faster, {meta.peak_mb / ours.peak_mb:.1f}x less memory")
    ok = ours.seconds <= 0.5 and ours.peak_mb <= 120 and speedup >= 6
    print(f"target (<= 0.5 s, <= 120 MB, >= 6x): {'met' if ok else 'NOT met'}")
    if int(meta.stdout) != total:
        sys.exit(f"the two routes disagree: {total:,} vs {int(meta.stdout):,}")
    warm = json.loads(measure([sys.executable, "-c", WARM, str(args.repeat)], repeat=1,
                              warmup=0).stdout)
    print(f"warm, in one session (median of {args.repeat}): paramcalc.budget(...).ratio "
          f"{warm['ours'] * 1e3:.1f} ms; GPT2LMHeadModel on the meta device "
          f"{warm['meta'] * 1e3:.1f} ms; {warm['meta'] / warm['ours']:.1f}x faster")


if __name__ == "__main__":
    main()
