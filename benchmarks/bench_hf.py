"""`paramcalc count --hf-config config.json --json` against `count --preset gpt2` and against what a
user would do instead: build the model with transformers on the meta device and sum it.

Run: python benchmarks/bench_hf.py [--repeat N]   (the files: examples/*/config.json)
Targets: each config.json costs no more than `count --preset gpt2` (+10%), and is at least 10x
faster than transformers' meta-device build of the same file. Every route is a whole process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from _measure import have, measure, paramcalc_command

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

META_ROUTE = """
import sys, torch, transformers
transformers.logging.set_verbosity_error()
config = transformers.AutoConfig.from_pretrained(sys.argv[1])
with torch.device("meta"):
    model = transformers.AutoModelForCausalLM.from_config(config)
print(sum(p.numel() for p in model.parameters()))  # parameters() yields a tied tensor once
"""


def config_files() -> dict[str, Path]:
    """The config.json of each preset of today's models, shipped in examples/."""
    return {path.parent.name: path for path in sorted(EXAMPLES.glob("*/config.json"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    if not have("transformers"):
        sys.exit("this benchmark needs transformers: pip install transformers")
    baseline_command = [*paramcalc_command(), "count", "--preset", "gpt2", "--json"]
    worst_cost, worst_speedup, agree = 0.0, float("inf"), True
    for name, path in config_files().items():
        ours_command = [*paramcalc_command(), "count", "--hf-config", str(path), "--json"]
        # interleaved, a run of each in turn, so that both see the same machine
        ours_runs, baseline_runs = [], []
        for _ in range(args.repeat):
            ours_runs.append(measure(ours_command, repeat=1, warmup=0))
            baseline_runs.append(measure(baseline_command, repeat=1, warmup=0))
        ours_s = statistics.median(r.seconds for r in ours_runs)
        baseline_s = statistics.median(r.seconds for r in baseline_runs)
        peak = max(r.peak_mb for r in ours_runs)
        meta = measure([sys.executable, "-c", META_ROUTE, str(path)],
                       repeat=max(3, args.repeat // 3))
        total, theirs = json.loads(ours_runs[-1].stdout)["params"]["total"], int(meta.stdout)
        agree &= total == theirs
        cost, speedup = ours_s / baseline_s, meta.seconds / ours_s
        worst_cost, worst_speedup = max(worst_cost, cost), min(worst_speedup, speedup)
        print(f"{name:>13}: count --hf-config {ours_s:.3f} s, count --preset gpt2 "
              f"{baseline_s:.3f} s beside it ({cost:.2f}x), {peak:.0f} MB; transformers on meta "
              f"{meta.seconds:.3f} s, {meta.peak_mb:.0f} MB; {speedup:.1f}x faster; total "
              f"{total:,}{'' if total == theirs else f' != {theirs:,}'}")
    ok = worst_cost <= 1.10 and worst_speedup >= 10
    print(f"worst: {worst_cost:.2f}x the cost of count --preset gpt2, {worst_speedup:.1f}x faster "
          f"than transformers; target (<= 1.10x, >= 10x): {'met' if ok else 'NOT met'}")
    if not agree:
        sys.exit("paramcalc and transformers disagree on a total")


if __name__ == "__main__":
    main()
