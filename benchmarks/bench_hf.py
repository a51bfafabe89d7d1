"""`paramcalc count --hf-config config.json --json` against `count --preset gpt2` and against what a
user would do instead: build the model with transformers on the meta device and sum it.

Run: python benchmarks/bench_hf.py [--repeat N]
Targets: each config.json costs no more than `count --preset gpt2` (+10%), and is at least 10x
faster than transformers' meta-device build of the same file. Every route is a whole process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import have, measure, paramcalc_command

HERE = Path(__file__).resolve().parent

#: model name -> (model_type, the keys of its published config.json that set its size)
MODELS = {
    "mistral-7b": ("mistral", dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336,
                                   num_hidden_layers=32, num_attention_heads=32,
                                   num_key_value_heads=8, max_position_embeddings=32768)),
    "qwen2.5-7b": ("qwen2", dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944,
                                 num_hidden_layers=28, num_attention_heads=28,
                                 num_key_value_heads=4, max_position_embeddings=131072)),
    "gemma-2-2b": ("gemma2", dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216,
                                  num_hidden_layers=26, num_attention_heads=8,
                                  num_key_value_heads=4, head_dim=256)),
    "gpt-neox-20b": ("gpt_neox", dict(vocab_size=50432, hidden_size=6144,
                                      intermediate_size=24576, num_hidden_layers=44,
                                      num_attention_heads=64)),
}

META_ROUTE = """
import sys, torch, transformers
transformers.logging.set_verbosity_error()
config = transformers.AutoConfig.from_pretrained(sys.argv[1])
with torch.device("meta"):
    model = transformers.AutoModelForCausalLM.from_config(config)
print(sum(p.numel() for p in model.parameters()))  # parameters() yields a tied tensor once
"""


WRITE = """
import json, sys, transformers
for name, (model_type, keys) in json.loads(sys.argv[2]).items():
    transformers.AutoConfig.for_model(model_type, **keys).save_pretrained(f"{sys.argv[1]}/{name}")
"""


def config_files(folder: Path) -> dict[str, Path]:
    """The shipped Llama 3.1 8B example, and the other models' files as save_pretrained writes
    them (defaults and all), so that both routes read the same bytes.

    transformers writes them in a child process: imported here, it would swell every measured
    child (a forked process counts its parent's pages until it execs).
    """
    subprocess.run([sys.executable, "-c", WRITE, str(folder), json.dumps(MODELS)], check=True)
    files = {"llama-3.1-8b": HERE.parent / "examples" / "llama-3.1-8b" / "config.json"}
    files.update({name: folder / name / "config.json" for name in MODELS})
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    if not have("transformers"):
        sys.exit("this benchmark needs transformers: pip install transformers")
    baseline = measure([*paramcalc_command(), "count", "--preset", "gpt2", "--json"], args.repeat)
    print(f"paramcalc count --preset gpt2 --json: median {baseline.seconds:.3f} s, "
          f"peak {baseline.peak_mb:.0f} MB")
    worst_cost, worst_speedup, agree = 0.0, float("inf"), True
    with tempfile.TemporaryDirectory() as folder:
        for name, path in config_files(Path(folder)).items():
            ours = measure([*paramcalc_command(), "count", "--hf-config", str(path), "--json"],
                           args.repeat)
            meta = measure([sys.executable, "-c", META_ROUTE, str(path)],
                           repeat=max(3, args.repeat // 3))
            total, theirs = json.loads(ours.stdout)["params"]["total"], int(meta.stdout)
            agree &= total == theirs
            cost, speedup = ours.seconds / baseline.seconds, meta.seconds / ours.seconds
            worst_cost, worst_speedup = max(worst_cost, cost), min(worst_speedup, speedup)
            print(f"{name:>13}: count --hf-config {ours.seconds:.3f} s ({cost:.2f}x gpt2's), "
                  f"{ours.peak_mb:.0f} MB; transformers on meta {meta.seconds:.3f} s, "
                  f"{meta.peak_mb:.0f} MB; {speedup:.1f}x faster; total {total:,}"
                  f"{'' if total == theirs else f' != {theirs:,}'}")
    ok = worst_cost <= 1.10 and worst_speedup >= 10
    print(f"worst: {worst_cost:.2f}x the cost of count --preset gpt2, {worst_speedup:.1f}x faster "
          f"than transformers; target (<= 1.10x, >= 10x): {'met' if ok else 'NOT met'}")
    if not agree:
        sys.exit("paramcalc and transformers disagree on a total")


if __name__ == "__main__":
    main()
