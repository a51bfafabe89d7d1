"""The trainer's edges: option bounds, devices, data windows by hand, the running figures over
several batches, the stopping rule when nothing is learnable, the memory estimate and its
refusal. Each was a mutation nothing caught (docs/mutation.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from paramcalc import ConfigError, DataError, ModelConfig, from_name
from paramcalc.train import (PAD, TrainOptions, available_bytes, check_fits, evaluate,
                             load_corpus, make_dataset, new_model, resolve_device, train,
                             training_bytes)
from test_verify import CORPUS, Fixed

CPU = torch.device("cpu")


@pytest.mark.parametrize("options", [
    dict(max_epochs=10**6), dict(seed=2**63 - 1), dict(batch_size=1), dict(batch_size=2**20),
    dict(min_confidence=1.0), dict(max_epochs=1), dict(seed=0)])
def test_option_bounds_that_are_allowed(options: dict) -> None:
    TrainOptions(**options)


@pytest.mark.parametrize("options, message", [
    (dict(max_epochs=10**6 + 1), "max_epochs must be from 1 to 1,000,000, got 1,000,001"),
    (dict(max_epochs=0), "max_epochs must be from 1 to 1,000,000, got 0"),
    (dict(seed=2**63), f"seed must be from 0 to 2**63 - 1, got {2**63:,}"),
    (dict(seed=-1), "seed must be from 0 to 2**63 - 1, got -1"),
    (dict(batch_size=0), "batch_size must be from 1 to 1,048,576, got 0"),
    (dict(batch_size=2**20 + 1), "batch_size must be from 1 to 1,048,576, got 1,048,577"),
    (dict(min_confidence=0.0), "min_confidence must be in (0, 1], got 0.0"),
    (dict(min_confidence=1.01), "min_confidence must be in (0, 1], got 1.01"),
    (dict(lr=0.0), "lr must be a positive finite number, got 0.0"),
    (dict(lr=math.inf), "lr must be a positive finite number, got inf"),
])
def test_option_bounds_that_are_refused(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        TrainOptions(**options)
    assert str(error.value) == message


def test_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == CPU
    with pytest.raises(ConfigError) as error:
        resolve_device("tpu")
    assert str(error.value) == "unknown device 'tpu'; choose one of: auto, cpu, cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(ConfigError) as error:
        resolve_device("cuda")
    assert str(error.value) == ("device cuda was asked for, but torch sees no CUDA device here; "
                                "use --device cpu or auto")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # only the choice is made
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda") == torch.device("cuda")


def test_windows_by_hand() -> None:
    """Corpus bytes 0..63, S = 3, 5 samples: training windows (0,1,2)→3 … (4,5,6)→7 use bytes
    0..7; the test windows are spread over bytes 8..63 from its first window on."""
    data = make_dataset(CORPUS, seq_length=3, samples=5, test_samples=4)
    assert data.train.inputs.tolist() == [[i, i + 1, i + 2] for i in range(5)]
    assert data.train.targets.tolist() == [3, 4, 5, 6, 7]
    starts = [row[0] for row in data.test.inputs.tolist()]
    assert starts[0] == 8 and starts[-1] == 63 - 3  # the last window's target is byte 63
    assert data.test.targets.tolist() == [s + 3 for s in starts]
    assert len(starts) == 4 and data.learnable.all() and data.achievable_accuracy == 1.0


def test_the_shortest_corpus_that_works() -> None:
    """samples + S bytes to train on and S + 1 for one test window: 5 + 3 + 4 = 12 bytes."""
    make_dataset(bytes(range(12)), seq_length=3, samples=5, test_samples=1)
    with pytest.raises(DataError) as error:
        make_dataset(bytes(range(11)), seq_length=3, samples=5, test_samples=1, source="x.txt")
    assert str(error.value) == ("x.txt has 11 bytes; 5 samples of seq_length 3 and a test set "
                                "need at least 12 bytes (8 for training, 4 for one test window)")
    with pytest.raises(DataError) as error:
        make_dataset(bytes(range(11)), seq_length=3, samples=5, test_samples=1)
    assert str(error.value).startswith("corpus has 11 bytes")
    make_dataset(bytes(range(12)), seq_length=3, samples=1, test_samples=1)  # one of each


@pytest.mark.parametrize("samples, test_samples, message", [
    (0, None, "samples must be a positive integer, got 0"),
    (-2, None, "samples must be a positive integer, got -2"),
    (4, 0, "test samples must be a positive integer, got 0"),
])
def test_sample_counts_are_positive(samples: int, test_samples: int | None, message: str) -> None:
    with pytest.raises(DataError) as error:
        make_dataset(CORPUS, seq_length=2, samples=samples, test_samples=test_samples)
    assert str(error.value) == message


def test_the_running_figures_add_up_over_batches() -> None:
    """Four windows in batches of one: the epoch's accuracy and loss are over all four, as
    evaluate() gives them for the fixed probabilities (Adam moves a shift that changes none)."""
    data = make_dataset(CORPUS, seq_length=2, samples=4, test_samples=2)
    model = Fixed({0: {2: 0.3, 9: 0.6}, 1: {3: 0.9}, 2: {4: 0.5, 7: 0.2}, 3: {5: 0.969}})
    result = train(model, data, TrainOptions(max_epochs=2, batch_size=1, min_confidence=0.97))
    stats = evaluate(model, data.train)
    assert [e.accuracy for e in result.history] == [3 / 4, 3 / 4] == [stats.accuracy] * 2
    assert result.history[0].loss == pytest.approx(stats.loss, rel=1e-5)
    assert (result.memorized, result.reason) == (False, "budget spent")
    assert 0 <= result.history[0].seconds <= result.history[1].seconds <= result.seconds < 3600


def test_memorized_in_the_loop_says_memorized() -> None:
    data = make_dataset(CORPUS, seq_length=2, samples=4, test_samples=2)
    result = train(Fixed({i: {i + 2: 0.99} for i in range(4)}), data,
                   TrainOptions(max_epochs=5, min_confidence=0.97))
    assert (result.memorized, result.reason, result.epochs) == (True, "memorized", 1)


def test_nothing_learnable_is_memorized_at_any_confidence() -> None:
    """Bytes 0 1 1 0 0 with S = 1: 0→1, 1→1, 1→0, 0→0, each context followed by two different
    bytes. No window is learnable, the lowest confidence over none is 1, and even
    min_confidence = 1 is met."""
    data = make_dataset(bytes([0, 1, 1, 0, 0, 1, 1, 0]), seq_length=1, samples=4, test_samples=1)
    assert not data.learnable.any() and data.achievable_accuracy == 2 / 4
    result = train(Fixed({}), data, TrainOptions(max_epochs=1, min_confidence=1.0))
    assert (result.memorized, result.reason, result.min_learnable_confidence) == \
        (True, "memorized", 1.0)


def test_a_smaller_learning_rate_moves_less() -> None:
    """lr reaches Adam: the same model and data after one epoch, at lr 1e-2 and 1e-6."""
    config = from_name("id4").config
    data = make_dataset(CORPUS * 4, config.seq_length, 16)
    moved = []
    for lr in (1e-2, 1e-6):
        model = new_model(config, 0, CPU)
        before = model.head.dense.weight.detach().clone()
        train(model, data, TrainOptions(max_epochs=1, lr=lr, min_confidence=1.0))
        moved.append(float((model.head.dense.weight.detach() - before).abs().max()))
    assert moved[0] > 100 * moved[1] > 0


def test_a_diverged_loss_says_so_in_full() -> None:
    config = from_name("id4").config
    model = new_model(config, 0, CPU)
    with torch.no_grad():
        model.head.dense.weight.fill_(math.nan)
    result = train(model, make_dataset(CORPUS * 4, config.seq_length, 16),
                   TrainOptions(max_epochs=5))
    assert result.reason == "loss diverged (NaN or infinite); try a smaller --lr"


def test_byte_level_training_needs_the_padding_token() -> None:
    new_model(ModelConfig(vocab_size=PAD + 1, seq_length=4, d_model=8, num_blocks=1), 0, CPU)
    with pytest.raises(ConfigError) as error:
        new_model(ModelConfig(vocab_size=PAD, seq_length=4, d_model=8, num_blocks=1), 0, CPU)
    assert str(error.value) == ("vocab_size must be at least 257 for byte-level training (bytes "
                                "0-255 and the padding token 256), got 256")


def test_the_memory_estimate_by_its_documented_arithmetic() -> None:
    """id4 at batch 64: 16 bytes a parameter, and 4 bytes × 64 × (one block's 40·S·d + 3·h·S²,
    the logits S·V and the input S·d)."""
    config = from_name("id4").config  # V 257, S 32, d 16, n 1, h 4
    assert config.n_heads == 4
    assert training_bytes(config, 64) == 16 * 137_105 + 4 * 64 * (
        1 * (40 * 32 * 16 + 3 * 4 * 32 * 32) + 32 * 257 + 32 * 16)
    assert training_bytes(config, 64, params=1) == 16 + 4 * 64 * (
        40 * 32 * 16 + 3 * 4 * 32 * 32 + 32 * 257 + 32 * 16)
    one_head = config.replace(n_heads=1)
    assert training_bytes(one_head, 1) == 16 * 137_105 + 4 * (
        40 * 32 * 16 + 3 * 32 * 32 + 32 * 257 + 32 * 16)


def test_a_model_too_big_is_refused_with_its_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    import paramcalc.train as train_module

    config = from_name("id4").config
    need = training_bytes(config, 64)
    monkeypatch.setattr(train_module, "available_bytes", lambda: need)
    check_fits(config, 64, CPU)  # exactly enough is enough
    monkeypatch.setattr(train_module, "available_bytes", lambda: need - 1)
    with pytest.raises(ConfigError) as error:
        check_fits(config, 64, CPU)
    assert str(error.value) == (f"training this model needs about {need / 2**30:,.1f} GiB "
                                "(137,105 parameters at 16 bytes each for Adam, plus one batch "
                                f"of activations), but {(need - 1) / 2**30:,.1f} GiB is "
                                "available on cpu; make it smaller")
    monkeypatch.setattr(train_module, "available_bytes", lambda: 3 * 2**30)
    with pytest.raises(ConfigError) as error:
        check_fits(from_name("gpt2-xl").config, 64, CPU)
    assert "needs about " in str(error.value) and "but 3.0 GiB is available on cpu" in \
        str(error.value)
    monkeypatch.setattr(train_module, "available_bytes", lambda: None)  # unknown: no refusal
    check_fits(from_name("gpt2-xl").config, 64, CPU)


def test_available_bytes_reads_memavailable(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    import builtins

    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal:       2000 kB\nMemAvailable:   1000 kB\n", encoding="ascii")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, *a, **k: real_open(
        fake if path == "/proc/meminfo" else path, *a, **k))
    assert available_bytes() == 1000 * 1024
    fake.write_text("MemTotal:       2000 kB\n", encoding="ascii")
    assert available_bytes() is None


def test_a_corpus_past_the_config_limit_still_reads(tmp_path: Path) -> None:
    """Corpora have their own, larger limit (64 MiB), not the 4 MiB of configuration files."""
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (5 * 2**20 // 256))
    data, source = load_corpus(big)
    assert len(data) == 5 * 2**20 and source == str(big)


class Nudged(torch.nn.Module):
    """Gives each window's target a logit of ln 256 + w over 256 zeros: p(target) is 1/2 at
    w = 0 and e/(e + 1) = 0.731 at w = 1, where Adam's first step at lr 1 takes w."""

    def __init__(self) -> None:
        super().__init__()
        self.config = ModelConfig(vocab_size=257, seq_length=2, d_model=4, num_blocks=1)
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, tokens: torch.Tensor, every_position: bool = False) -> torch.Tensor:
        logits = torch.zeros(len(tokens), 257)
        target = torch.zeros(len(tokens), 257)
        target[torch.arange(len(tokens)), tokens[:, 0] + 2] = 1.0  # window (i, i+1) → i + 2
        return logits + target * (math.log(256) + self.w)


def test_memorized_by_the_last_step_is_memorized() -> None:
    """The running figures of the only epoch come before its update (p = 0.5 < 0.6); the model
    after it is at 0.731: the verdict is memorized, and the reason says so."""
    data = make_dataset(CORPUS, seq_length=2, samples=4, test_samples=2)
    result = train(Nudged(), data, TrainOptions(max_epochs=1, lr=1.0, batch_size=4,
                                                min_confidence=0.6))
    assert result.history[0].accuracy == 1.0 and result.history[0].loss == pytest.approx(
        math.log(2), rel=1e-5)
    assert (result.memorized, result.reason) == (True, "memorized")
    assert result.min_learnable_confidence == pytest.approx(math.e / (math.e + 1), rel=1e-4)


def test_the_order_of_batches_is_the_seeds_not_the_global_generator() -> None:
    config = from_name("id4").config
    data = make_dataset(CORPUS * 4, config.seq_length, 24)
    histories = []
    for global_seed in (1, 2):
        model = new_model(config, 0, CPU)
        torch.manual_seed(global_seed)  # whatever the global generator holds
        result = train(model, data, TrainOptions(max_epochs=2, batch_size=5, seed=7))
        histories.append([(e.loss, e.accuracy) for e in result.history])
    assert histories[0] == histories[1]


def test_accuracy_is_counted_per_row_in_batches_of_two() -> None:
    data = make_dataset(CORPUS, seq_length=2, samples=4, test_samples=2)
    model = Fixed({0: {2: 0.3, 9: 0.6}, 1: {3: 0.9}, 2: {4: 0.5, 7: 0.2}, 3: {5: 0.969}})
    result = train(model, data, TrainOptions(max_epochs=1, batch_size=2, min_confidence=0.97))
    assert result.history[0].accuracy == 3 / 4


def test_a_configuration_torch_cannot_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import paramcalc.train as train_module

    def refuse(config: ModelConfig) -> None:
        raise RuntimeError("no room for it\nsecond line")

    monkeypatch.setattr(train_module, "build", refuse)
    with pytest.raises(ConfigError) as error:
        new_model(from_name("id4").config, 0, CPU)
    assert str(error.value) == "cannot build this configuration in torch on cpu: no room for it"


def test_on_cuda_the_free_memory_is_what_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.cuda.mem_get_info() is (free, total): the refusal uses the free bytes."""
    config = from_name("gpt2-xl").config
    need = training_bytes(config, 64)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (need - 1, 10 * need))
    with pytest.raises(ConfigError) as error:
        check_fits(config, 64, torch.device("cuda"))
    assert str(error.value) == (f"training this model needs about {need / 2**30:,.1f} GiB "
                                "(1,557,611,200 parameters at 16 bytes each for Adam, plus one "
                                f"batch of activations), but {(need - 1) / 2**30:,.1f} GiB is "
                                "available on cuda; make it smaller")
    assert f"{need / 2**30:,.1f}" != f"{need / 2**31:,.1f}"
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda: (need, need))
    check_fits(config, 64, torch.device("cuda"))
