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
import stat
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .errors import CheckpointError, ConfigError, DataError, ParamcalcError, first_line
from .files import atomic_write, corpus_limit, read_input, stat_input
from .modules import LanguageModel, build
from .spec import MAX_SIZE, ModelConfig, _shown

PAD = 256  # the padding token: byte-level presets have vocab_size 257
BYTES = 256
CHECKPOINT_FORMAT = "paramcalc-checkpoint"


def _count(value: int) -> str:
    """A whole number for a message, with separators (a huge one by its length)."""
    return f"{value:,}" if value.bit_length() <= 100 else _shown(value)


def default_corpus() -> bytes:
    """The corpus shipped inside the package: text written by the paramcalc project."""
    return resources.files("paramcalc").joinpath("data", "corpus.txt").read_bytes()


def load_corpus(path: str | Path | None) -> tuple[bytes, str]:
    """The bytes of a corpus file (any file: text or binary), or the default corpus."""
    try:
        limit = corpus_limit()  # a bound set wrong is said, whichever corpus is read
    except ParamcalcError as error:
        raise DataError(str(error)) from None
    if path is None:
        return default_corpus(), "the default corpus"
    path = Path(path)
    try:
        data = read_input(path, "corpus file", limit)
    except ParamcalcError as error:
        raise DataError(str(error)) from None
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
        raise DataError(f"samples must be a positive integer, got {samples:,}")
    wanted_test = samples if test_samples is None else test_samples
    if wanted_test <= 0:
        raise DataError(f"test samples must be a positive integer, got {wanted_test:,}")
    train_bytes = samples + seq_length
    need = train_bytes + seq_length + 1
    if len(corpus) < need:
        raise DataError(f"{source} has {len(corpus):,} bytes; {samples:,} samples of seq_length "
                        f"{seq_length:,} and a test set need at least {need:,} bytes "
                        f"({train_bytes:,} for training, {seq_length + 1:,} for one test "
                        "window)")
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


#: the learning rates float32 weights can take a step of (Adam's first step is lr / 0.1)
MIN_LR, MAX_LR = 1e-30, 1e30


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
        if not 0 < self.max_epochs <= 10**6:
            raise ConfigError(f"max_epochs must be from 1 to 1,000,000, got "
                              f"{_count(self.max_epochs)}")
        if not 0 <= self.seed < 2**63:
            raise ConfigError(f"seed must be from 0 to 2**63 - 1, got {_count(self.seed)}")
        if not 0 < self.batch_size <= 2**20:
            raise ConfigError(f"batch_size must be from 1 to 1,048,576, got "
                              f"{_count(self.batch_size)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive finite number, got {self.lr}")
        if not MIN_LR <= self.lr <= MAX_LR:
            raise ConfigError(f"lr must be from {MIN_LR:g} to {MAX_LR:g} (float32 weights "
                              f"take steps of that size), got {self.lr:g}")
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
                          f"(bytes 0-255 and the padding token 256), got {config.vocab_size:,}")
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
          on_epoch: Callable[[Epoch], None] | None = None,
          on_interrupt: Callable[[], None] | None = None) -> Result:
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
        if on_interrupt is not None:
            on_interrupt()
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
    if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
        # below, float32 logits divided by it overflow; above, every byte is equally likely
        raise ConfigError(f"temperature must be from {MIN_TEMPERATURE:g} to "
                          f"{MAX_TEMPERATURE:g}, got {temperature:g}")
    if top_k < 0:
        raise ConfigError(f"top_k must be 0 (no limit) or a positive integer, got {top_k}")
    if top_k > MAX_SIZE:
        raise ConfigError(f"top_k must be at most 2**40 ({MAX_SIZE:,}; any k past the "
                          f"vocabulary samples among every byte), got {_shown(top_k)}")


#: the most bytes ``generate`` samples
MAX_SAMPLE = 100_000
#: the sampling temperatures that leave float32 logits finite and mean something
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-6, 1e6


@dataclass(frozen=True)
class Sample:
    """Sampled bytes, and why sampling stopped early if it did."""

    data: bytes
    stopped: str | None = None


@torch.no_grad()
def generate(model: LanguageModel, prompt: bytes, length: int, temperature: float = 1.0,
             top_k: int = 0, seed: int = 0) -> Sample:
    """Sample ``length`` bytes after ``prompt``; the context is left-padded with token 256.

    Outputs that are not finite numbers (a diverged model) or Ctrl-C end sampling early
    with what was sampled so far, and say so.
    """
    check_sampling(temperature, top_k)
    if not 0 <= length <= MAX_SAMPLE:
        raise ConfigError(f"length must be from 0 to {MAX_SAMPLE:,} bytes, got {length:,}")
    model.train(False)  # evaluation mode
    device = next(model.parameters()).device
    seq_length = model.config.seq_length
    generator = torch.Generator(device=device).manual_seed(seed)
    context = [PAD] * seq_length + list(prompt)
    out = bytearray()
    try:
        for _ in range(length):
            tokens = torch.tensor([context[-seq_length:]], device=device)
            logits = model(tokens)[0, :BYTES].float() / temperature  # never the padding token
            if not bool(torch.isfinite(logits).all()):
                return Sample(bytes(out), "the model's outputs are not finite numbers")
            if 0 < top_k < BYTES:
                cutoff = logits.topk(top_k).values[-1]
                logits = logits.masked_fill(logits < cutoff, float("-inf"))
            token = int(torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator))
            context.append(token)
            out.append(token)
    except KeyboardInterrupt:
        return Sample(bytes(out), "interrupted (Ctrl-C)")
    return Sample(bytes(out))


def fingerprint(corpus: bytes) -> str:
    """The SHA-256 of a corpus: how a checkpoint knows its data again."""
    import hashlib

    return hashlib.sha256(corpus).hexdigest()


def save_checkpoint(model: LanguageModel, path: str | Path, data: Path | None = None,
                    corpus: bytes = b"", samples: int = 0) -> None:
    """Write the configuration, the weights and the corpus trained on (its path, or none for
    the default corpus, and its SHA-256) atomically: a temporary file, then a rename."""
    path = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, "version": 2,
               "config": {k: list(v) if isinstance(v, tuple) else v
                          for k, v in model.config.given},
               "data": {"path": None if data is None else str(Path(data).resolve()),
                        "sha256": fingerprint(corpus), "samples": samples},
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    atomic_write(path, lambda f: torch.save(payload, f))


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read, not yet built: its configuration and what it was trained on."""

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    data_path: Path | None  # None: the default corpus
    data_sha256: str | None  # None: a checkpoint from before paramcalc stored it
    samples: int


def corpus_of(checkpoint: Checkpoint) -> tuple[bytes, str]:
    """The corpus a checkpoint was trained on, checked against its SHA-256."""
    where = "the default corpus" if checkpoint.data_path is None else str(checkpoint.data_path)
    try:
        corpus, source = load_corpus(checkpoint.data_path)
    except DataError as error:
        raise DataError(f"the checkpoint was trained on {where}, which cannot be read now "
                        f"({error}); give --data FILE") from None
    if checkpoint.data_sha256 is not None and fingerprint(corpus) != checkpoint.data_sha256:
        raise DataError(f"the checkpoint was trained on {where}, which has changed since "
                        "(its SHA-256 differs); give --data FILE to evaluate on it anyway")
    return corpus, source


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint`` (torch.load with weights_only=True)
    without building its model, so that its size can be checked first."""
    path = Path(path)
    try:
        info = stat_input(path, "checkpoint")
    except ParamcalcError as error:
        raise CheckpointError(str(error)) from None
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"checkpoint {str(path)!r} is not a file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a file that is not a checkpoint
        raise CheckpointError(f"{path} is not a paramcalc checkpoint "
                              f"({type(error).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a paramcalc checkpoint")
    try:
        config = ModelConfig.from_mapping(payload["config"], origin=str(path))
        data = payload.get("data") or {}
        return Checkpoint(config, payload["state_dict"],
                          None if data.get("path") is None else Path(data["path"]),
                          data.get("sha256"), int(data.get("samples") or 0))
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint ({type(error).__name__})") from None


def load_checkpoint(checkpoint: Checkpoint, device: torch.device, path: str | Path = "") -> LanguageModel:
    """Build a checkpoint's model and restore its weights."""
    try:
        model = build(checkpoint.config)
        model.load_state_dict(checkpoint.state_dict)
    except (KeyError, RuntimeError, TypeError) as error:
        raise CheckpointError(f"{path}: damaged checkpoint ({type(error).__name__})") from None
    return model.to(device)


def training_bytes(config: ModelConfig, batch_size: int, params: int | None = None) -> int:
    """About how many bytes training ``config`` takes, from paramcalc's own formulas, before
    anything is allocated: fp32 weights, gradients and Adam's two moments (16 bytes a
    parameter), and the activations of one batch (a generous 40 floats per position and
    width in each block, the attention scores, and the logits)."""
    if params is None:
        from .formulas import budget

        params = budget(config).params["total"]
    S, d, n, h = config.seq_length, config.d_model, config.num_blocks, config.n_heads or 1
    per_block = 40 * S * d + 3 * h * S * S
    return 16 * params + 4 * batch_size * (n * per_block + S * config.vocab_size + S * d)


def available_bytes() -> int | None:
    """Memory the system can give now (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fits(config: ModelConfig, batch_size: int, device: torch.device) -> None:
    """Refuse a model the machine cannot train, with the figure, before building it."""
    from .formulas import budget

    params = budget(config).params["total"]
    need = training_bytes(config, batch_size, params)
    if device.type == "cuda":
        have: int | None = torch.cuda.mem_get_info()[0]
    else:
        have = available_bytes()
    if have is not None and need > have:
        raise ConfigError(f"training this model needs about {need / 2**30:,.1f} GiB "
                          f"({params:,} parameters at 16 bytes each for Adam, plus one batch of "
                          f"activations), but {have / 2**30:,.1f} GiB is available on "
                          f"{device.type}; make it smaller")


@dataclass(frozen=True)
class Verification:
    """A verify run: the model trained (or restored), its data, the verdict and a sample."""

    name: str
    model: LanguageModel
    dataset: Dataset
    result: Result
    sample: Sample
    device: torch.device
    corpus: bytes

    @property
    def interrupted(self) -> bool:
        return (self.result.reason.startswith("interrupted")
                or self.sample.stopped == "interrupted (Ctrl-C)")


def check_request(samples: int, temperature: float, top_k: int, length: int) -> None:
    """The bounds of a verify run's numbers, before anything is read or built."""
    if samples <= 0:
        raise ParamcalcError(f"--samples must be a positive integer, got {_count(samples)}")
    if samples > MAX_SIZE:
        raise ParamcalcError(f"--samples must be at most 2**40 ({MAX_SIZE:,}), got "
                             f"{_shown(samples)}")
    check_sampling(temperature, top_k)
    if not 0 <= length <= MAX_SAMPLE:
        shown = f"{length:,}" if length.bit_length() <= 100 else _shown(length)
        raise ParamcalcError(f"--length must be from 0 to {MAX_SAMPLE:,}, got {shown}")


def verify(config: ModelConfig | None, name: str, options: TrainOptions, *,
           data: Path | None = None, samples: int = 432, prompt: bytes = b"", length: int = 200,
           temperature: float = 1.0, top_k: int = 0, load: Path | None = None,
           save: Path | None = None, on_epoch: Callable[[Epoch], None] | None = None,
           on_stop: Callable[[], None] | None = None) -> Verification:
    """Train ``config`` (or restore the checkpoint ``load``, and then report without training)
    until the first ``samples`` windows of the corpus are known by heart, sample ``length``
    bytes after ``prompt``, and write the checkpoint ``save`` if asked. A Ctrl-C ends training
    early and is reported in the result (``interrupted``), not raised."""
    check_request(samples, temperature, top_k, length)
    where = resolve_device(options.device)
    checkpoint = read_checkpoint(load) if load is not None else None
    if checkpoint is not None:
        config = checkpoint.config
    if config is None:
        raise ConfigError("verify needs a configuration or a checkpoint to load")
    if checkpoint is not None and data is None:
        corpus, source = corpus_of(checkpoint)
    else:
        corpus, source = load_corpus(data)
    dataset = make_dataset(corpus, config.seq_length, samples, source=source)
    check_fits(config, min(options.batch_size, samples), where)
    if checkpoint is not None:
        net = load_checkpoint(checkpoint, where, load or "")
        result = assess(net, dataset, options.min_confidence)
    else:
        net = new_model(config, options.seed, where)
        result = train(net, dataset, options, on_epoch, on_stop)
    sample = generate(net, prompt, length, temperature, top_k, options.seed)
    if save is not None:
        save_checkpoint(net, save, data if data is not None else
                        (checkpoint.data_path if checkpoint else None), corpus, samples)
    return Verification(name, net, dataset, result, sample, where, corpus)
