"""The overfitting trainer: byte-level data windows, training until memorized, the log's statistics.

A configuration that cannot learn a few hundred windows by heart has a capacity or wiring
problem (the log's id 2 could not, because of its bottleneck). The trainer fits the first
N windows of a corpus until every learnable window is predicted with at least
``min_confidence`` (the log's "maximally overfit"), then reports accuracy, loss and
max-probability statistics on the training windows and on held-out windows, as the log does.

Tokens are bytes 0–255; token 256 pads prompts shorter than seq_length.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .errors import CheckpointError, ConfigError, DataError, first_line
from .files import atomic_write
from .modules import LanguageModel, build
from .spec import ModelConfig

PAD = 256  # the padding token: byte-level presets have vocab_size 257
BYTES = 256
CHECKPOINT_FORMAT = "paramcalc-checkpoint"


def default_corpus() -> bytes:
    """The corpus shipped inside the package: text written by the paramcalc project."""
    return resources.files("paramcalc").joinpath("data", "corpus.txt").read_bytes()


def load_corpus(path: str | Path | None) -> tuple[bytes, str]:
    """The bytes of a corpus file (any file: text or binary), or the default corpus."""
    if path is None:
        return default_corpus(), "the default corpus"
    path = Path(path)
    if not path.exists():
        raise DataError(f"corpus file {str(path)!r} does not exist")
    if path.is_dir():
        raise DataError(f"corpus {str(path)!r} is a directory; give a file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read corpus {str(path)!r}: {error.strerror}") from None
    if not data:
        raise DataError(f"corpus file {str(path)!r} is empty")
    return data, str(path)


@dataclass(frozen=True)
class Windows:
    """Contexts of seq_length bytes and the byte that follows each."""

    inputs: torch.Tensor  # (N, S) int64
    targets: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.targets)


@dataclass(frozen=True)
class Dataset:
    """The training windows (the corpus's first N) and held-out windows from untouched bytes."""

    train: Windows
    test: Windows
    learnable: torch.Tensor  # (N,) bool: this context is always followed by the same byte
    achievable_accuracy: float  # the best training accuracy any model can reach
    source: str

    @property
    def conflicting(self) -> int:
        """Training windows whose context also occurs with another next byte."""
        return int((~self.learnable).sum())


def make_dataset(corpus: bytes, seq_length: int, samples: int, test_samples: int | None = None,
                 source: str = "corpus") -> Dataset:
    """Cut a corpus into training and test windows.

    The training set is the first ``samples`` windows; its bytes end at ``samples + seq_length``.
    Test windows are spread evenly over the bytes after that.
    """
    if samples <= 0:
        raise DataError(f"samples must be a positive integer, got {samples}")
    wanted_test = samples if test_samples is None else test_samples
    if wanted_test <= 0:
        raise DataError(f"test samples must be a positive integer, got {wanted_test}")
    train_bytes = samples + seq_length
    need = train_bytes + seq_length + 1
    if len(corpus) < need:
        raise DataError(f"{source} has {len(corpus):,} bytes; {samples:,} samples of seq_length "
                        f"{seq_length} and a test set need at least {need:,} bytes "
                        f"({train_bytes:,} for training, {seq_length + 1} for one test window)")
    tokens = torch.frombuffer(bytearray(corpus), dtype=torch.uint8).long()
    train = Windows(tokens[:train_bytes - 1].unfold(0, seq_length, 1)[:samples].clone(),
                    tokens[seq_length:train_bytes].clone())
    rest = tokens[train_bytes:]
    available = len(rest) - seq_length
    starts = torch.linspace(0, available - 1, min(wanted_test, available)).round().long().unique()
    test = Windows(torch.stack([rest[s:s + seq_length] for s in starts.tolist()]),
                   rest[starts + seq_length])

    followers: dict[bytes, Counter[int]] = defaultdict(Counter)
    contexts = [bytes(row) for row in train.inputs.to(torch.uint8).tolist()]
    for context, target in zip(contexts, train.targets.tolist()):
        followers[context][target] += 1
    learnable = torch.tensor([len(followers[c]) == 1 for c in contexts])
    best = sum(max(counter.values()) for counter in followers.values())
    return Dataset(train, test, learnable, best / samples, source)


@dataclass(frozen=True)
class Stats:
    """The log's statistics on one set of windows."""

    accuracy: float
    loss: float
    confidence_mean: float  # the highest next-token probability, averaged over windows
    confidence_min: float
    confidence_max: float
    windows: int

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "loss": self.loss, "windows": self.windows,
                "confidence": {"mean": self.confidence_mean, "min": self.confidence_min,
                               "max": self.confidence_max}}


@torch.no_grad()
def predict(model: LanguageModel, windows: Windows, batch_size: int = 1024,
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probabilities of each window's target, and each window's highest probability."""
    model.train(False)  # evaluation mode
    device = next(model.parameters()).device
    target_logp, top_p = [], []
    for start in range(0, len(windows), batch_size):
        inputs = windows.inputs[start:start + batch_size].to(device)
        targets = windows.targets[start:start + batch_size].to(device)
        logp = F.log_softmax(model(inputs).float(), dim=-1)
        target_logp.append(logp.gather(1, targets[:, None])[:, 0].cpu())
        top_p.append(logp.max(dim=-1).values.exp().cpu())
    return torch.cat(target_logp), torch.cat(top_p)


def evaluate(model: LanguageModel, windows: Windows) -> Stats:
    """Accuracy, cross-entropy and max-probability statistics on a set of windows."""
    target_logp, top_p = predict(model, windows)
    correct = target_logp.exp() >= top_p  # the target is (one of) the most probable bytes
    return Stats(float(correct.float().mean()), float(-target_logp.mean()), float(top_p.mean()),
                 float(top_p.min()), float(top_p.max()), len(windows))


@dataclass(frozen=True)
class TrainOptions:
    """How to train; the defaults were chosen from benchmarks/bench_verify.py's measurements."""

    max_epochs: int = 200
    min_confidence: float = 0.97
    lr: float = 1e-3
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.max_epochs <= 0:
            raise ConfigError(f"max_epochs must be a positive integer, got {self.max_epochs}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive finite number, got {self.lr}")
        if self.batch_size <= 0:
            raise ConfigError(f"batch_size must be a positive integer, got {self.batch_size}")
        if not (0 < self.min_confidence <= 1):
            raise ConfigError(f"min_confidence must be in (0, 1], got {self.min_confidence}")


@dataclass(frozen=True)
class Epoch:
    """One epoch's running figures, from the training forward passes."""

    epoch: int
    loss: float
    accuracy: float
    seconds: float  # since training started


@dataclass
class Result:
    """The verdict and the statistics of a verify run."""

    memorized: bool
    reason: str  # why training stopped: memorized, budget spent, loss diverged, interrupted…
    epochs: int
    seconds: float
    train: Stats
    test: Stats
    min_learnable_confidence: float  # the lowest p(target) over learnable training windows
    history: list[Epoch] = field(default_factory=list)


def resolve_device(name: str) -> torch.device:
    """``auto`` is cuda where there is one, else cpu; cuda where there is none is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device cuda was asked for, but torch sees no CUDA device here; "
                              "use --device cpu or auto")
        return torch.device("cuda")
    raise ConfigError(f"unknown device {name!r}; choose one of: auto, cpu, cuda")


def new_model(config: ModelConfig, seed: int, device: torch.device) -> LanguageModel:
    """A freshly initialised model, the same for the same seed."""
    if config.vocab_size < PAD + 1:
        raise ConfigError(f"vocab_size must be at least {PAD + 1} for byte-level training "
                          f"(bytes 0-255 and the padding token 256), got {config.vocab_size}")
    torch.manual_seed(seed)
    try:
        return build(config).to(device)
    except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError) as error:
        raise ConfigError(f"cannot build this configuration in torch on {device}: "
                          f"{first_line(error)}") from None


def _memorized(model: LanguageModel, data: Dataset, threshold: float) -> tuple[bool, float]:
    target_logp, _ = predict(model, data.train)
    learnable = target_logp.exp()[data.learnable]
    lowest = float(learnable.min()) if len(learnable) else 1.0
    return lowest >= threshold, lowest


def train(model: LanguageModel, data: Dataset, options: TrainOptions,
          on_epoch: Callable[[Epoch], None] | None = None) -> Result:
    """Fit ``data.train`` until every learnable window has p(target) ≥ ``min_confidence``.

    The running figures of each epoch come from its training forward passes; only when
    they already meet the threshold is the whole training set re-evaluated to confirm, so
    the check costs almost nothing until the end. Ctrl-C stops training and still reports.
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(options.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    inputs, targets = data.train.inputs.to(device), data.train.targets.to(device)
    learnable = data.learnable.to(device)
    threshold = math.log(options.min_confidence)
    history: list[Epoch] = []
    reason, memorized, lowest = "budget spent", False, 0.0
    start = time.perf_counter()
    try:
        for epoch in range(1, options.max_epochs + 1):
            model.train()
            total_loss, correct, confident = 0.0, 0, True
            for batch in torch.randperm(len(targets), generator=generator).split(options.batch_size):
                batch = batch.to(device)
                logits = model(inputs[batch])
                loss = F.cross_entropy(logits, targets[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    logp = F.log_softmax(logits.detach().float(), dim=-1)
                    target_logp = logp.gather(1, targets[batch, None])[:, 0]
                    correct += int((logp.argmax(-1) == targets[batch]).sum())
                    confident &= bool((target_logp[learnable[batch]] >= threshold).all())
                total_loss += float(loss.detach()) * len(batch)
            mean_loss = total_loss / len(targets)
            history.append(Epoch(epoch, mean_loss, correct / len(targets),
                                 time.perf_counter() - start))
            if on_epoch is not None:
                on_epoch(history[-1])
            if not math.isfinite(mean_loss):
                reason = "loss diverged (NaN or infinite); try a smaller --lr"
                break
            if confident:
                memorized, lowest = _memorized(model, data, options.min_confidence)
                if memorized:
                    reason = "memorized"
                    break
    except KeyboardInterrupt:
        reason = "interrupted (Ctrl-C)"
    seconds = time.perf_counter() - start
    if not memorized:
        memorized, lowest = _memorized(model, data, options.min_confidence)
        if memorized and reason == "budget spent":
            reason = "memorized"
    return Result(memorized, reason, len(history), seconds, evaluate(model, data.train),
                  evaluate(model, data.test), lowest, history)


def assess(model: LanguageModel, data: Dataset, min_confidence: float) -> Result:
    """The statistics of a model as it is, without training (for a loaded checkpoint)."""
    memorized, lowest = _memorized(model, data, min_confidence)
    return Result(memorized, "memorized" if memorized else "not trained here", 0, 0.0,
                  evaluate(model, data.train), evaluate(model, data.test), lowest, [])


def check_sampling(temperature: float, top_k: int) -> None:
    """Sampling options are checked before training, not after it."""
    if temperature <= 0 or not math.isfinite(temperature):
        raise ConfigError(f"temperature must be a positive finite number, got {temperature}")
    if top_k < 0:
        raise ConfigError(f"top_k must be 0 (no limit) or a positive integer, got {top_k}")


@torch.no_grad()
def generate(model: LanguageModel, prompt: bytes, length: int, temperature: float = 1.0,
             top_k: int = 0, seed: int = 0) -> bytes:
    """Sample ``length`` bytes after ``prompt``; the context is left-padded with token 256."""
    check_sampling(temperature, top_k)
    model.train(False)  # evaluation mode
    device = next(model.parameters()).device
    seq_length = model.config.seq_length
    generator = torch.Generator(device=device).manual_seed(seed)
    context = [PAD] * seq_length + list(prompt)
    out = bytearray()
    for _ in range(length):
        tokens = torch.tensor([context[-seq_length:]], device=device)
        logits = model(tokens)[0, :BYTES].float() / temperature  # never sample the padding token
        if 0 < top_k < BYTES:
            cutoff = logits.topk(top_k).values[-1]
            logits = logits.masked_fill(logits < cutoff, float("-inf"))
        token = int(torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator))
        context.append(token)
        out.append(token)
    return bytes(out)


def save_checkpoint(model: LanguageModel, path: str | Path) -> None:
    """Write the configuration and the weights atomically: a temporary file, then a rename."""
    path = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, "version": 1,
               "config": dict(model.config.given),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path, device: torch.device) -> LanguageModel:
    """Restore a model written by ``save_checkpoint`` (torch.load with weights_only=True)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist" if not path.exists()
                              else f"checkpoint {str(path)!r} is not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"{path} is not a paramcalc checkpoint "
                              f"({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a paramcalc checkpoint")
    try:
        config = ModelConfig.from_mapping(payload["config"], origin=str(path))
        model = build(config)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, RuntimeError, TypeError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint ({type(error).__name__})") from None
    return model.to(device)
