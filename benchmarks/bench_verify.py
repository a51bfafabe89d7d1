"""paramcalc's trainer with its defaults against a plain training loop written here, memorizing
id6 on the default corpus's windows, in the same run and on the same data and model.

The plain loop is what a user writes: Adam (lr 1e-3), batch 64, and the same stopping rule,
checked by evaluating every training window after each epoch.

Both are warmed up once, then run interleaved, a seed at a time (five by default).
--grid also trains paramcalc's trainer over the learning rates and batch sizes its defaults
were chosen from, and prints which was fastest.

Run: python benchmarks/bench_verify.py [--samples 432] [--seeds 5] [--grid] [--big]
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


def ours(data: Dataset, seed: int, lr: float = 1e-3, batch_size: int = 64
         ) -> tuple[int, float, bool]:
    options = TrainOptions(seed=seed, device="cpu", lr=lr, batch_size=batch_size)
    result = train(new_model(from_name("id6").config, seed, torch.device("cpu")), data, options)
    return result.epochs, result.seconds, result.memorized


def compare(samples: int, seeds: int) -> float:
    data = make_dataset(default_corpus(), from_name("id6").config.seq_length, samples)
    options = TrainOptions()
    print(f"id6, {samples:,} windows of the default corpus ({data.conflicting} conflicting), "
          f"{seeds} seeds, {torch.get_num_threads()} threads; paramcalc defaults: "
          f"Adam lr {options.lr:g}, batch {options.batch_size}, {options.max_epochs} epochs max")
    totals = {"paramcalc verify": [0, 0.0, 0], "plain loop": [0, 0.0, 0]}
    ours(data, seeds)  # warm-up, untimed: torch's first passes allocate and compile kernels
    plain_loop(data, seeds, options.max_epochs, options.min_confidence)
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


def grid(samples: int, seeds: int) -> None:
    """paramcalc's trainer over learning rates × batch sizes: mean epochs and seconds."""
    data = make_dataset(default_corpus(), from_name("id6").config.seq_length, samples)
    print(f"grid: Adam learning rate × batch size, {seeds} seeds each, id6, {samples} windows")
    results = {}
    for lr in (5e-4, 1e-3, 1.5e-3, 2e-3):
        for batch_size in (32, 64, 128):
            runs = [ours(data, seed, lr, batch_size) for seed in range(seeds)]
            seconds = sum(r[1] for r in runs) / seeds
            results[(lr, batch_size)] = seconds
            print(f"  lr {lr:<7g} batch {batch_size:4d}: {sum(r[0] for r in runs) / seeds:6.1f} "
                  f"epochs, {seconds:6.2f} s mean, memorized {sum(r[2] for r in runs)}/{seeds}")
    best = min(results, key=results.__getitem__)
    print(f"fastest: lr {best[0]:g}, batch {best[1]} ({results[best]:.2f} s); the defaults "
          f"lr 1e-3, batch 64: {results[(1e-3, 64)]:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=432)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--grid", action="store_true",
                        help="also time the learning rates and batch sizes of the defaults' choice")
    parser.add_argument("--big", action="store_true",
                        help="also memorize 4,320 windows with paramcalc's defaults")
    args = parser.parse_args()
    compare(args.samples, args.seeds)
    if args.grid:
        grid(args.samples, min(args.seeds, 3))
    if args.big:
        data = make_dataset(default_corpus(), 32, 4_320)
        epochs, seconds, memorized = ours(data, 0)
        print(f"4,320 windows with paramcalc's defaults: memorized={memorized} in {epochs} epochs "
              f"(budget {TrainOptions().max_epochs}), {seconds:.1f} s")


if __name__ == "__main__":
    main()
