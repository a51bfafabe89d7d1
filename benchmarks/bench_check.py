"""`paramcalc check --preset ctrl` against the usual route, transformers' CTRLLMHeadModel built on
the meta device and summed, and (a second line, where memory allows) against materializing
CTRL with real weights. Whole processes all.

Run: python benchmarks/bench_check.py [--repeat N]
Target on a 2-core machine: check at most 3 s and 500 MB peak.
"""

from __future__ import annotations

import argparse
import json
import sys

from _measure import have, measure, paramcalc_command

CTRL_TOTAL = 1_637_964_550

META = """
import torch, transformers
transformers.logging.set_verbosity_error()
with torch.device("meta"):
    model = transformers.CTRLLMHeadModel(transformers.CTRLConfig())
print(sum(p.numel() for p in model.parameters()))  # a tied tensor once
"""

MATERIALIZE = """
import torch
from transformers import CTRLConfig, CTRLLMHeadModel
model = CTRLLMHeadModel(CTRLConfig())  # real fp32 weights on the CPU, initialised
print(sum(p.numel() for p in model.parameters()))
"""


def available_mb() -> float:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    ours = measure([*paramcalc_command(), "check", "--preset", "ctrl", "--json"], args.repeat)
    report = json.loads(ours.stdout)
    print(f"paramcalc check --preset ctrl: median {ours.seconds:.2f} s, peak {ours.peak_mb:.0f} MB, "
          f"ok={report['ok']}")
    ok = ours.seconds <= 3 and ours.peak_mb <= 500 and report["ok"]
    print(f"target (<= 3 s, <= 500 MB, every row equal): {'met' if ok else 'NOT met'}")

    if not have("transformers"):
        print("transformers' routes skipped: transformers is not installed")
        return
    meta = measure([sys.executable, "-c", META], repeat=args.repeat)
    print(f"CTRLLMHeadModel on the meta device, summed: median {meta.seconds:.2f} s, peak "
          f"{meta.peak_mb:,.0f} MB, {int(meta.stdout):,} parameters (a total only: no "
          "component is compared)")
    print(f"check (every component proved) / transformers' meta total: "
          f"{ours.seconds / meta.seconds:.2f}x the time, {ours.peak_mb / meta.peak_mb:.2f}x the "
          "memory")
    need_mb = CTRL_TOTAL * 4 / 2**20 * 1.3  # fp32 weights plus the initialiser's working space
    if available_mb() < need_mb:
        print(f"materializing skipped: it needs about {need_mb:,.0f} MB, "
              f"{available_mb():,.0f} MB are available")
        return
    real = measure([sys.executable, "-c", MATERIALIZE], repeat=1, warmup=0)
    print(f"CTRLLMHeadModel with real weights: {real.seconds:.2f} s, peak {real.peak_mb:,.0f} MB, "
          f"{int(real.stdout):,} parameters")
    print(f"check is {real.seconds / ours.seconds:.1f}x faster and uses "
          f"{real.peak_mb / ours.peak_mb:.1f}x less memory")


if __name__ == "__main__":
    main()
