"""The overfitting trainer and `paramcalc verify`: data windows, memorization, reports, faults."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import Cli
from paramcalc import HEADS, DataError, ModelConfig, from_name
from paramcalc.train import (Epoch, TrainOptions, default_corpus, evaluate,
                             make_dataset,
                             new_model, train)

CPU = torch.device("cpu")


def test_default_corpus_ships_in_the_package_and_is_tens_of_kb() -> None:
    corpus = default_corpus()
    assert len(corpus) > 20_000
    corpus.decode("utf-8")  # text written by this project


def test_training_windows_are_the_first_n_and_test_windows_touch_other_bytes() -> None:
    corpus = bytes(range(200))  # every byte value once: a value is a position
    data = make_dataset(corpus, seq_length=4, samples=10, test_samples=5)
    assert data.train.inputs[0].tolist() == [0, 1, 2, 3] and data.train.targets[0] == 4
    assert data.train.inputs[9].tolist() == [9, 10, 11, 12] and data.train.targets[9] == 13
    # the training windows touch bytes 0..13; every test window starts at byte 14 or later
    assert int(data.test.inputs.min()) >= 14 and len(data.test) == 5
    assert data.conflicting == 0 and data.achievable_accuracy == 1.0


def test_conflicting_contexts_are_counted_and_bound_the_accuracy() -> None:
    # contexts of 2 bytes: "ab" is followed by c, d, c, d, c; "bc", "bd", "ca", "da" are not
    corpus = b"abcabdabcabdabc" + b"-" * 40
    data = make_dataset(corpus, seq_length=2, samples=13)
    ab = [i for i in range(13) if bytes(data.train.inputs[i].tolist()) == b"ab"]
    assert len(ab) == 5 and data.conflicting == 5
    assert data.achievable_accuracy == pytest.approx((13 - 5 + 3) / 13)  # "ab"→c wins 3 of 5


def test_a_corpus_too_short_says_how_long_it_must_be() -> None:
    with pytest.raises(DataError) as error:
        make_dataset(b"x" * 100, seq_length=32, samples=432, source="tiny.txt")
    assert str(error.value) == ("tiny.txt has 100 bytes; 432 samples of seq_length 32 and a test "
                                "set need at least 497 bytes (464 for training, 33 for one test "
                                "window)")


def test_id6_memorizes_432_windows_like_the_log() -> None:
    config = from_name("id6").config
    data = make_dataset(default_corpus(), config.seq_length, 432)
    result = train(new_model(config, 0, CPU), data, TrainOptions())
    assert result.memorized and result.reason == "memorized"
    assert result.train.accuracy == 1.0 and result.train.confidence_min >= 0.97
    assert result.train.confidence_mean > 0.99  # the log: 0.993
    assert result.test.confidence_mean < result.train.confidence_mean  # the log: 0.74
    assert result.test.accuracy < 0.5
    assert 1 <= result.epochs <= 50


@pytest.mark.mutation_skip
def test_like_the_logs_id2_an_aggressive_bottleneck_cannot_memorize() -> None:
    config = from_name("id4").config
    data = make_dataset(default_corpus(), config.seq_length, 432)
    plain = train(new_model(config, 0, CPU), data, TrainOptions())
    squeezed = config.replace(head="bottleneck", head_width=2)
    result = train(new_model(squeezed, 0, CPU), data, TrainOptions(max_epochs=60))
    assert plain.memorized
    assert not result.memorized and result.reason == "budget spent"
    assert result.train.accuracy < 0.6


@pytest.mark.parametrize("block", ["seed", "transformer"])
@pytest.mark.parametrize("head", HEADS, ids=str)
@pytest.mark.mutation_skip
def test_every_head_design_trains(head: str, block: str) -> None:
    config = ModelConfig(vocab_size=257, seq_length=8, d_model=32, num_blocks=2, n_heads=2,
                         block=block, head=head,
                         head_width=8 if head in ("td-dense", "conv", "rnn") else None)
    data = make_dataset(default_corpus(), 8, 64)
    options = TrainOptions(max_epochs=300, lr=3e-3, batch_size=16, min_confidence=0.5)
    result = train(new_model(config, 0, CPU), data, options)
    assert result.memorized, (head, block, result.reason, result.min_learnable_confidence)
    assert result.train.accuracy == pytest.approx(data.achievable_accuracy)
    assert result.history[-1].loss < result.history[0].loss / 5


def test_same_seed_same_numbers() -> None:
    config = from_name("id4").config
    data = make_dataset(default_corpus(), config.seq_length, 64)
    runs = [train(new_model(config, 7, CPU), data, TrainOptions(max_epochs=3, seed=7))
            for _ in range(2)]
    assert [e.loss for e in runs[0].history] == [e.loss for e in runs[1].history]
    assert runs[0].train == runs[1].train and runs[0].test == runs[1].test


def test_a_loss_that_becomes_nan_ends_with_a_verdict() -> None:
    config = from_name("id4").config
    model = new_model(config, 0, CPU)
    with torch.no_grad():
        model.head.dense.weight.fill_(math.nan)
    data = make_dataset(default_corpus(), config.seq_length, 64)
    result = train(model, data, TrainOptions(max_epochs=5))
    assert not result.memorized and result.reason.startswith("loss diverged")
    assert result.epochs == 1


def test_ctrl_c_stops_training_and_still_reports() -> None:
    config = from_name("id4").config
    data = make_dataset(default_corpus(), config.seq_length, 64)

    def interrupt_at_two(epoch: Epoch) -> None:
        if epoch.epoch == 2:
            raise KeyboardInterrupt

    result = train(new_model(config, 0, CPU), data, TrainOptions(max_epochs=50), interrupt_at_two)
    assert result.reason == "interrupted (Ctrl-C)" and result.epochs == 2
    assert result.train.windows == 64 and result.test.windows > 0


def test_verify_json_contract(cli: Cli) -> None:
    obj = cli.json("verify", "--preset", "id4", "--samples", "64", "--max-epochs", "3",
                   "--length", "20", code=1)  # 3 epochs do not memorize: exit code 1
    assert obj["memorized"] is False
    assert set(obj) >= {"memorized", "epochs", "seconds", "samples", "train", "test", "sample"}
    assert obj["samples"] == 64 and obj["epochs"] <= 3
    for part in ("train", "test"):
        assert set(obj[part]) >= {"accuracy", "loss", "confidence"}
        assert set(obj[part]["confidence"]) == {"mean", "min", "max"}
    assert isinstance(obj["sample"], str)


def test_verify_text_report(cli: Cli) -> None:
    out = cli("verify", "--samples", "432", "--quiet", "--length", "40").stdout  # id6 by default
    assert "✓ memorized 432 windows of the default corpus in" in out
    assert "confidence mean" in out and "train" in out and "test" in out
    assert "prompt: Il y a bien longtemps, dans un pays lointain, " in out


def test_same_seed_same_report_from_the_cli(cli: Cli) -> None:
    args = ("verify", "-p", "id4", "--samples", "64", "--max-epochs", "4", "--seed", "3",
            "--length", "30")
    first, second = cli.json(*args, code=1), cli.json(*args, code=1)
    for obj in (first, second):
        obj.pop("seconds")
        for epoch in obj["history"]:
            epoch.pop("seconds")
    assert first == second


def test_save_then_load_generates_without_training(cli: Cli, tmp_path: Path) -> None:
    ckpt = tmp_path / "id4.pt"
    trained = cli.json("verify", "-p", "id4", "--samples", "64", "--save", str(ckpt),
                       "--length", "30")
    assert trained["memorized"] and ckpt.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["id4.pt"]  # no temporary file left behind
    loaded = cli.json("verify", "--load", str(ckpt), "--samples", "64", "--length", "30",
                      "--prompt", "The parameter budget")
    assert loaded["epochs"] == 0 and loaded["memorized"]
    assert loaded["config"] == trained["config"]
    assert loaded["train"] == trained["train"]
    assert len(loaded["sample"].encode("utf-8", "replace")) >= 1


def test_plot_writes_a_png(cli: Cli, tmp_path: Path) -> None:
    png = tmp_path / "curve.png"
    cli("verify", "-p", "id4", "--samples", "64", "--max-epochs", "3", "--quiet", "--plot",
        str(png), code=1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pdf = tmp_path / "curve.pdf"  # the suffix names the format
    cli("verify", "-p", "id4", "--samples", "64", "--max-epochs", "1", "--quiet", "--plot",
        str(pdf), code=1)
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_plot_without_matplotlib_is_a_clear_message(cli: Cli, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    line = cli.error("verify", "-p", "id4", "--samples", "64", "--max-epochs", "1", "--quiet",
                     "--plot", str(tmp_path / "x.png"))
    assert line == "Error: --plot needs matplotlib: pip install 'paramcalc[plot]'"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    short = tmp_path / "short.txt"
    short.write_bytes(b"abc" * 30)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(256))
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    return {"empty": empty, "short": short, "junk": junk, "other": other, "dir": tmp_path}


@pytest.mark.parametrize("args, message", [
    (["--data", "{dir}/missing.txt"], "Error: corpus file '{dir}/missing.txt' does not exist"),
    (["--data", "{dir}"], "Error: corpus file '{dir}' is a directory, not a file"),
    (["--data", "{empty}"], "Error: corpus file '{empty}' is empty"),
    (["--data", "{short}"], "Error: {short} has 90 bytes; 432 samples of seq_length 32 and a "
                            "test set need at least 497 bytes"),
    (["--samples", "0"], "Error: --samples must be a positive integer, got 0"),
    (["--samples", "-5"], "Error: --samples must be a positive integer, got -5"),
    (["--lr", "0"], "Error: lr must be a positive finite number, got 0.0"),
    (["--lr", "-1e-3"], "Error: lr must be a positive finite number, got -0.001"),
    (["--lr", "nan"], "Error: lr must be a positive finite number, got nan"),
    (["--lr", "inf"], "Error: lr must be a positive finite number, got inf"),
    (["--device", "tpu"], "Error: Invalid value for '--device'"),
    (["--temperature", "0"], "Error: temperature must be a positive finite number, got 0.0"),
    (["--top-k", "-1"], "Error: top_k must be 0 (no limit) or a positive integer, got -1"),
    (["--batch-size", "0"], "Error: batch_size must be from 1 to 1,048,576, got 0"),
    (["--batch-size", str(10**20)], "Error: batch_size must be from 1 to 1,048,576, got "
                                    "100,000,000,000,000,000,000"),
    (["--max-epochs", "0"], "Error: max_epochs must be from 1 to 1,000,000, got 0"),
    (["--seed", str(10**20)], "Error: seed must be from 0 to 2**63 - 1, got "
                              "100,000,000,000,000,000,000"),
    (["--seed", "-1"], "Error: seed must be from 0 to 2**63 - 1, got -1"),
    (["--length", str(10**9)], "Error: --length must be from 0 to 100,000, got 1,000,000,000"),
    (["--plot", "{dir}/x.jpg"], "Error: --plot {dir}/x.jpg: paramcalc writes .png, .pdf, .svg "
                                "files"),
    (["--save", "{dir}/c.txt", "--data", "{dir}/c.txt"], "Error: --save {dir}/c.txt is also "
                                                         "--data: writing it would destroy"),
    (["--save", "{dir}/x.png", "--plot", "{dir}/x.png"], "Error: --save and --plot name the "
                                                         "same file"),
    (["--save", "/proc/version"], "Error: cannot write /proc/version"),
    (["--save", "/dev/full"], "Error: cannot write /dev/full: it is not a regular file"),
    (["--data", "/dev/zero"], "Error: corpus file '/dev/zero' is not a regular file"),
    (["-p", "id6", "--seq-length", "1000000"], "Error: the default corpus has"),
    (["-p", "id6", "--d-model", "65536"], "Error: training this model needs about"),
    (["--min-confidence", "1.5"], "Error: min_confidence must be in (0, 1], got 1.5"),
    (["--load", "{junk}"], "Error: {junk} is not a paramcalc checkpoint"),
    (["--load", "{other}"], "Error: {other} is not a paramcalc checkpoint"),
    (["--load", "{dir}/none.pt"], "Error: checkpoint '{dir}/none.pt' does not exist"),
    (["--load", "{other}", "--preset", "id4"], "Error: --load restores the checkpoint's own"),
    (["--save", "{dir}/no/such/folder/x.pt", "--samples", "8", "--max-epochs", "1"],
     "Error: cannot write {dir}/no/such/folder/x.pt: folder"),
    (["--preset", "id4", "--vocab-size", "100"], "Error: vocab_size must be at least 257"),
])
def test_verify_bad_input_is_one_line(cli: Cli, files: dict[str, Path], args: list[str],
                                      message: str) -> None:
    args = [a.format(**files) for a in args]
    assert cli.error("verify", "--quiet", *args).startswith(message.format(**files))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_where_there_is_none(cli: Cli) -> None:
    assert cli.error("verify", "--device", "cuda").startswith(
        "Error: device cuda was asked for, but torch sees no CUDA device here")


@pytest.mark.slow
def test_ctrl_c_from_the_terminal_prints_the_report() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "paramcalc", "verify", "-p", "id6", "--samples", "3000",
         "--max-epochs", "100000", "--min-confidence", "1.0", "--length", "10"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the event, not a clock: the first progress line (stderr is a pipe: plain lines) is
    # printed after the first epoch, inside the training loop, however loaded the machine
    first = proc.stderr.readline()  # type: ignore[union-attr]
    assert first.startswith("training: epoch 1/100,000"), first
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err  # after the report, as a shell expects of Ctrl-C
    assert "interrupted (Ctrl-C)" in out and "confidence mean" in out
    assert "interrupted: evaluating the model as it is" in err
    assert "Traceback" not in err and "Aborted." not in err  # the report said it already


def _tiny_config_json(model_type: str) -> dict[str, object]:
    """A config.json of ``model_type`` at a size that trains in seconds, byte-level."""
    if model_type in ("gpt2", "ctrl"):
        keys: dict[str, object] = dict(vocab_size=257, n_positions=8, n_embd=32, n_layer=2,
                                       n_head=4)
        keys.update(n_inner=64) if model_type == "gpt2" else keys.update(dff=64)
    else:
        keys = dict(vocab_size=257, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, max_position_embeddings=8)
        keys.update(ffn_dim=64) if model_type == "opt" else keys.update(intermediate_size=64)
    if model_type in ("qwen3", "gemma", "gemma2", "gemma3_text"):
        keys["head_dim"] = 8
    if model_type == "mixtral":
        keys.update(num_local_experts=4, num_experts_per_tok=2)
    if model_type in ("qwen2_moe", "qwen3_moe"):
        keys.update(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                    mlp_only_layers=[0])
    if model_type == "qwen2_moe":
        keys["shared_expert_intermediate_size"] = 32
    if model_type in ("deepseek_v2", "deepseek_v3"):
        keys.update(n_routed_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
                    n_shared_experts=1, first_k_dense_replace=1, q_lora_rank=16, kv_lora_rank=16,
                    qk_rope_head_dim=4, qk_nope_head_dim=8, v_head_dim=8)
    return {"model_type": model_type, **keys}


@pytest.mark.parametrize("model_type", ["gpt2", "ctrl", "llama", "mistral", "qwen2", "qwen3",
                                        "gemma", "gemma2", "gemma3_text", "phi3", "olmo2",
                                        "gpt_neox", "opt", "starcoder2", "mixtral", "qwen2_moe",
                                        "qwen3_moe", "deepseek_v2", "deepseek_v3"], ids=str)
@pytest.mark.mutation_skip
def test_every_model_type_memorizes_a_small_set(model_type: str, tmp_path: Path,
                                                cli: Cli) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_tiny_config_json(model_type)))
    obj = cli.json("verify", "--hf-config", str(path), "--samples", "64", "--max-epochs", "300",
                   "--lr", "3e-3", "--batch-size", "16", "--min-confidence", "0.5",
                   "--length", "8")
    assert obj["memorized"], (model_type, obj["reason"], obj["min_learnable_confidence"])
    assert obj["train"]["accuracy"] == pytest.approx(obj["achievable_accuracy"])
    assert obj["history"][-1]["loss"] < obj["history"][0]["loss"] / 5


# --- the statistics and the stopping rule, against hand values -----------------------------------

class Fixed(torch.nn.Module):
    """A stand-in model whose next-byte probabilities the test sets: a window's row is chosen
    by its first byte. A scalar added to every logit gives Adam something to move without
    changing any probability."""

    def __init__(self, rows: dict[int, dict[int, float]]) -> None:
        super().__init__()
        self.config = ModelConfig(vocab_size=257, seq_length=2, d_model=4, num_blocks=1)
        probs = torch.full((256, 257), 1e-9)
        for first, row in rows.items():
            rest = (1 - sum(row.values())) / (257 - len(row))
            probs[first] = rest
            for byte, p in row.items():
                probs[first, byte] = p
        self.register_buffer("logits", probs.log())
        self.shift = torch.nn.Parameter(torch.zeros(()))

    def forward(self, tokens: torch.Tensor, every_position: bool = False) -> torch.Tensor:
        return self.logits[tokens[:, 0]] + self.shift


# corpus bytes 0, 1, 2, …: window i is (i, i+1) and its next byte is i + 2
CORPUS = bytes(range(64))


def test_statistics_by_hand() -> None:
    data = make_dataset(CORPUS, seq_length=2, samples=4, test_samples=2)
    model = Fixed({0: {2: 0.3, 9: 0.6},  # wrong: byte 9 is likelier than the target 2
                   1: {3: 0.9}, 2: {4: 0.5, 7: 0.2}, 3: {5: 0.969}})
    stats = evaluate(model, data.train)
    assert stats.accuracy == 3 / 4
    assert stats.loss == pytest.approx(-(math.log(0.3) + math.log(0.9) + math.log(0.5)
                                         + math.log(0.969)) / 4, rel=1e-5)  # the mean, not sum
    # confidence is the highest probability, not p(target): 0.6 for the first window
    assert stats.confidence_mean == pytest.approx((0.6 + 0.9 + 0.5 + 0.969) / 4, rel=1e-5)
    assert stats.confidence_min == pytest.approx(0.5, rel=1e-5)
    assert stats.confidence_max == pytest.approx(0.969, rel=1e-5)
    assert stats.windows == 4
    assert stats.to_dict() == {"accuracy": 3 / 4, "loss": stats.loss, "windows": 4,
                               "confidence": {"mean": stats.confidence_mean,
                                              "min": stats.confidence_min,
                                              "max": stats.confidence_max}}


@pytest.mark.parametrize("p, memorized", [(0.969, False), (0.9701, True)])
def test_the_stopping_rule_at_its_boundary(p: float, memorized: bool) -> None:
    data = make_dataset(CORPUS, seq_length=2, samples=4, test_samples=2)
    model = Fixed({i: {i + 2: p} for i in range(4)})
    result = train(model, data, TrainOptions(max_epochs=3, min_confidence=0.97))
    assert result.memorized is memorized
    assert result.epochs == (1 if memorized else 3)
    assert result.min_learnable_confidence == pytest.approx(p, rel=1e-5)


def test_an_unreachable_target_spends_exactly_the_budget() -> None:
    data = make_dataset(CORPUS, seq_length=2, samples=4, test_samples=2)
    model = Fixed({i: {i + 2: 0.5} for i in range(4)})
    result = train(model, data, TrainOptions(max_epochs=7, min_confidence=0.97))
    assert not result.memorized and result.reason == "budget spent"
    assert result.epochs == 7 and [e.epoch for e in result.history] == list(range(1, 8))
    assert result.history[-1].loss == pytest.approx(-math.log(0.5), rel=1e-5)  # a mean


def test_the_library_verifies_without_the_cli(tmp_path: Path) -> None:
    """paramcalc.train.verify is what `paramcalc verify` runs: train, sample, save; then the
    checkpoint restored reports the same statistics without a single epoch."""
    from paramcalc.train import verify

    epochs: list[Epoch] = []
    options = TrainOptions(max_epochs=200, seed=1, device="cpu")
    ckpt = tmp_path / "id4.pt"
    run = verify(from_name("id4").config, "id4", options, samples=64, prompt=b"The ",
                 length=12, save=ckpt, on_epoch=epochs.append)
    assert run.result.memorized and not run.interrupted
    assert [e.epoch for e in epochs] == list(range(1, run.result.epochs + 1))
    assert len(run.sample.data) == 12 and ckpt.is_file()
    again = verify(None, "id4", options, samples=64, load=ckpt, length=0)
    assert again.result.epochs == 0 and again.result.train == run.result.train
