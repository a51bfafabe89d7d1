"""`paramcalc count --hf-config config.json --json` against `count --preset gpt2` and against what a
user would do instead: build the model with transformers on the meta device and sum it.

Run: python benchmarks/bench_hf.py [--repeat N]   (the files: examples/*/config.json, and for
each other model_type paramcalc reads, the one transformers' config class writes by default)
Targets: each config.json costs no more than `count --preset gpt2` (+10%), and is at least 10x
faster than transformers' meta-device build of the same file. Every route is a whole process.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import Run, have, measure, paramcalc_command

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

META_ROUTE = """
import sys, torch, transformers
transformers.logging.set_verbosity_error()
config = transformers.AutoConfig.from_pretrained(sys.argv[1])
with torch.device("meta"):
    model = transformers.AutoModelForCausalLM.from_config(config)
inner = getattr(getattr(model, "model", None), "language_model", None)
if inner is not None:  # a multimodal wrapper: paramcalc counts its language model and head
    model = torch.nn.ModuleList([inner, model.lm_head])
print(sum(p.numel() for p in model.parameters()))  # parameters() yields a tied tensor once
"""


# for each model_type paramcalc reads and examples/ lacks, the config.json transformers' own
# config class writes with its defaults; in a child process, so that this one stays small (a
# child forked from a process holding torch would report that process's memory as its peak)
WRITE_DEFAULTS = """
import json, sys
from pathlib import Path
import torch, transformers
transformers.logging.set_verbosity_error()
from paramcalc.hf import SUPPORTED
folder, covered = Path(sys.argv[1]), set(sys.argv[2:])
complete = {"deepseek_v2": {"num_experts_per_tok": 6}}  # unset by default; DeepSeek-V2 routes 6
# their attention reads head_dim with no fallback, and it is null by default
complete.update({"hunyuan_v1_dense": {"head_dim": 128}, "ministral": {"head_dim": 128},
                 "hunyuan_v1_moe": {"head_dim": 128}})
# dots.llm1's experts have no defaults: the published 128 routed, 6 a token, 2 shared
complete["dots1"] = {"n_routed_experts": 128, "num_experts_per_tok": 6, "n_shared_experts": 2}
for model_type in SUPPORTED:
    if model_type not in covered:
        path = folder / model_type / "config.json"
        config = transformers.AutoConfig.for_model(model_type, **complete.get(model_type, {}))
        try:  # a default that transformers itself cannot build (Nemotron's null key/value
            with torch.device("meta"):  # heads) has nothing to be timed against
                transformers.AutoModelForCausalLM.from_config(config)
        except Exception as error:
            print(f"skipped {model_type}: transformers cannot build its defaults ({error})",
                  file=sys.stderr)
            continue
        path.parent.mkdir()
        config.to_json_file(path, use_diff=False)
        print(model_type)
"""


def config_files(folder: Path) -> dict[str, Path]:
    """The config.json of each preset of today's models, shipped in examples/, and for each
    other model_type paramcalc reads, the file transformers' own config class writes with its
    defaults (``to_json_file``), in ``folder``."""
    files = {path.parent.name: path for path in sorted(EXAMPLES.glob("*/config.json"))}
    covered = {json.loads(path.read_text())["model_type"] for path in files.values()}
    child = subprocess.run([sys.executable, "-c", WRITE_DEFAULTS, str(folder), *covered],
                           capture_output=True, text=True, check=True)
    for line in child.stderr.splitlines():
        if line.startswith("skipped "):
            print(line[:160])
    written = child.stdout.split()
    for model_type in written:
        files[f"{model_type} (defaults)"] = folder / model_type / "config.json"
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    if not have("transformers"):
        sys.exit("this benchmark needs transformers: pip install transformers")
    baseline_command = [*paramcalc_command(), "count", "--preset", "gpt2", "--json"]
    folder = Path(tempfile.mkdtemp(prefix="bench_hf_"))
    try:
        measure_all(config_files(folder), args.repeat, baseline_command)
    finally:
        shutil.rmtree(folder)


def measure_all(files: dict[str, Path], repeat: int, baseline_command: list[str]) -> None:
    """Each file against count --preset gpt2 (interleaved) and transformers' meta build."""
    worst_cost, worst_speedup, agree = 0.0, float("inf"), True
    paramcalc = paramcalc_command()  # compiles paramcalc once, before anything is measured
    first = next(iter(files.values()))
    for command in ([*paramcalc, "count", "--hf-config", str(first), "--json"],
                    baseline_command, [sys.executable, "-c", META_ROUTE, str(first)]):
        measure(command, repeat=1, warmup=1)  # warm-up: the file cache, the bytecode
    for name, path in files.items():
        ours_command = [*paramcalc, "count", "--hf-config", str(path), "--json"]
        meta_command = [sys.executable, "-c", META_ROUTE, str(path)]
        # interleaved, a run of each in turn (transformers' every third turn), so that all
        # three see the same machine
        ours_runs, baseline_runs, meta_runs = [], [], []
        for turn in range(repeat):
            ours_runs.append(measure(ours_command, repeat=1, warmup=0))
            baseline_runs.append(measure(baseline_command, repeat=1, warmup=0))
            if turn % 3 == 0:
                meta_runs.append(measure(meta_command, repeat=1, warmup=0))
        ours_s = statistics.median(r.seconds for r in ours_runs)
        baseline_s = statistics.median(r.seconds for r in baseline_runs)
        peak = max(r.peak_mb for r in ours_runs)
        meta = Run(statistics.median(r.seconds for r in meta_runs),
                   max(r.peak_mb for r in meta_runs), meta_runs[-1].stdout)
        total, theirs = json.loads(ours_runs[-1].stdout)["params"]["total"], int(meta.stdout)
        agree &= total == theirs
        cost, speedup = ours_s / baseline_s, meta.seconds / ours_s
        worst_cost, worst_speedup = max(worst_cost, cost), min(worst_speedup, speedup)
        print(f"{name:>22}: count --hf-config {ours_s:.3f} s, count --preset gpt2 "
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
