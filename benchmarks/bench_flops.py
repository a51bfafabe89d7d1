"""`paramcalc flops --json` against `paramcalc count --json` (both whole processes, interleaved),
and against what a user would do instead to get the same forward FLOPs: build the model with
transformers on the meta device and run it under torch's FlopCounterMode.

Run: python benchmarks/bench_flops.py [--repeat N]
Target: flops costs the same start-up as count (within 10%): it is a counting command and
never imports torch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from _measure import have, measure, paramcalc_command

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "llama-3.2-1b"

COUNTER_ROUTE = """
import sys, torch, transformers
from torch.utils.flop_counter import FlopCounterMode
from torch.nn.attention import SDPBackend, sdpa_kernel
transformers.logging.set_verbosity_error()
config = transformers.AutoConfig.from_pretrained(sys.argv[1])
config._attn_implementation = "eager"
length = int(sys.argv[2])
with torch.device("meta"):
    model = transformers.AutoModelForCausalLM.from_config(config)
    tokens = torch.zeros((1, length), dtype=torch.long)
    mask = torch.ones((1, length), dtype=torch.long)
with torch.no_grad(), FlopCounterMode(display=False) as counter:
    model(input_ids=tokens, attention_mask=mask, use_cache=False)
print(counter.get_total_flops())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seq-length", type=int, default=2048)
    args = parser.parse_args()
    model = ["--hf-config", str(EXAMPLE), "--seq-length", str(args.seq_length)]
    ours_command = [*paramcalc_command(), "flops", *model, "--json"]
    count_command = [*paramcalc_command(), "count", *model, "--json"]
    ours, count = [], []
    for _ in range(args.repeat):  # interleaved: both see the same machine
        ours.append(measure(ours_command, repeat=1, warmup=0))
        count.append(measure(count_command, repeat=1, warmup=0))
    ours_s = statistics.median(r.seconds for r in ours)
    count_s = statistics.median(r.seconds for r in count)
    forward = json.loads(ours[-1].stdout)["flops"]["forward"]["total"]
    print(f"flops {ours_s:.3f} s (peak {max(r.peak_mb for r in ours):.0f} MB), count "
          f"{count_s:.3f} s: {ours_s / count_s:.2f}x the cost of count "
          f"(target <= 1.10x: {'met' if ours_s <= 1.10 * count_s else 'NOT met'})")
    if have("transformers"):
        meta = measure([sys.executable, "-c", COUNTER_ROUTE, str(EXAMPLE),
                        str(args.seq_length)], repeat=max(3, args.repeat // 3))
        theirs = int(meta.stdout)
        print(f"transformers on meta under FlopCounterMode: {meta.seconds:.3f} s, "
              f"{meta.seconds / ours_s:.1f}x slower; forward FLOPs equal: {forward == theirs} "
              f"({forward:,})")


if __name__ == "__main__":
    main()
