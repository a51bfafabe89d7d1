"""paramcalc's trainer with its defaults against a plain training loop written here, memorizing
id6 on the default corpus's windows, in the same run and on the same data and model.

The plain loop is what a user writes: Adam (lr 1e-3), batch 64, and the same stopping rule,
checked by evaluating every training window after each epoch.

Run: python benchmarks/bench_verify.py [--samples 432] [--seeds 3] [--big]
Target on a 2-core machine: paramcalc's time / the plain loop's time <= 1.0, and 4,320
windows memorized within the default epoch budget (--big).
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F

from paramcalc import from_name
from paramcalc.train import (Dataset, TrainOptions, default_corpus, make_dataset, new_model,
                             predict, train)


def plain_loop(data: Dataset, seed: int, max_epochs: int, min_confidence: float) -> tuple[int, float, bool]:
    """Adam 1e-3, batch 64; after each epoch, stop once every learnable window is confident."""
    model = new_model(from_name("id6").config, seed, torch.device("cpu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    x, y = data.train.inputs, data.train.targets
    start = time.perf_counter()
    for epoch in range(1, max_epochs + 1):
        model.train()
        for batch in torch.randperm(len(y), generator=generator).split(64):
            loss = F.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        target_logp, _ = predict(model, data.train)
        if bool((target_logp[data.learnable] >= math.log(min_confidence)).all()):
            return epoch, time.perf_counter() - start, True
    return max_epochs, time.perf_counter() - start, False


def ours(data: Dataset, seed: int) -> tuple[int, float, bool]:
    options = TrainOptions(seed=seed, device="cpu")
    result = train(new_model(from_name("id6").config, seed, torch.device("cpu")), data, options)
    return result.epochs, result.seconds, result.memorized


def compare(samples: int, seeds: int) -> float:
    data = make_dataset(default_corpus(), from_name("id6").config.seq_length, samples)
    options = TrainOptions()
    print(f"id6, {samples:,} windows of the default corpus ({data.conflicting} conflicting), "
          f"{seeds} seeds, {torch.get_num_threads()} threads; paramcalc defaults: "
          f"Adam lr {options.lr:g}, batch {options.batch_size}, {options.max_epochs} epochs max")
    totals = {"paramcalc verify": [0, 0.0, 0], "plain loop": [0, 0.0, 0]}
    for seed in range(seeds):
        for name, run in (("paramcalc verify", lambda: ours(data, seed)),
                          ("plain loop", lambda: plain_loop(data, seed, options.max_epochs,
                                                            options.min_confidence))):
            epochs, seconds, memorized = run()
            totals[name][0] += epochs
            totals[name][1] += seconds
            totals[name][2] += memorized
            print(f"  seed {seed}  {name:16s} {epochs:4d} epochs {seconds:7.2f} s "
                  f"{epochs * samples / seconds:9,.0f} windows/s  memorized={memorized}")
    for name, (epochs, seconds, memorized) in totals.items():
        print(f"{name:16s}: {epochs / seeds:6.1f} epochs, {seconds / seeds:6.2f} s mean, "
              f"{epochs * samples / seconds:,.0f} windows/s, memorized {memorized}/{seeds}")
    ratio = totals["paramcalc verify"][1] / totals["plain loop"][1]
    print(f"time ratio paramcalc / plain loop: {ratio:.2f} (target <= 1.0: "
          f"{'met' if ratio <= 1.0 else 'NOT met'})")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=432)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--big", action="store_true",
                        help="also memorize 4,320 windows with paramcalc's defaults")
    args = parser.parse_args()
    compare(args.samples, args.seeds)
    if args.big:
        data = make_dataset(default_corpus(), 32, 4_320)
        epochs, seconds, memorized = ours(data, 0)
        print(f"4,320 windows with paramcalc's defaults: memorized={memorized} in {epochs} epochs "
              f"(budget {TrainOptions().max_epochs}), {seconds:.1f} s")


if __name__ == "__main__":
    main()
