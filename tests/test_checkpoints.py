"""Checkpoints as written and read back, the corpus they name, and a model assessed as it is:
the file's contents key by key, and every fault's message word for word."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from paramcalc import CheckpointError, ConfigError, DataError, ModelConfig
from paramcalc.modules import build
from paramcalc.train import (CHECKPOINT_FORMAT, Checkpoint, assess, corpus_of, default_corpus,
                             load_checkpoint, make_dataset, read_checkpoint, save_checkpoint)

CONFIG = ModelConfig(vocab_size=257, seq_length=4, d_model=8, num_blocks=2, n_heads=2,
                     block="transformer", num_experts=2, dense_layers=(0,), head="linear")


def test_the_payload_key_by_key(tmp_path: Path) -> None:
    corpus_file = tmp_path / "corpus.txt"
    corpus_file.write_bytes(b"abcabc")
    model = build(CONFIG)
    save_checkpoint(model, tmp_path / "m.pt", data=corpus_file, corpus=b"abcabc", samples=5)
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert set(payload) == {"format", "version", "config", "data", "state_dict"}
    assert payload["format"] == CHECKPOINT_FORMAT == "paramcalc-checkpoint"
    assert payload["version"] == 2
    assert payload["config"] == {"vocab_size": 257, "seq_length": 4, "d_model": 8,
                                 "num_blocks": 2, "n_heads": 2, "block": "transformer",
                                 "num_experts": 2, "dense_layers": [0], "head": "linear"}
    assert payload["data"] == {"path": str(corpus_file.resolve()),
                               "sha256": hashlib.sha256(b"abcabc").hexdigest(), "samples": 5}
    assert payload["state_dict"].keys() == model.state_dict().keys()
    assert all(torch.equal(payload["state_dict"][k], v) for k, v in model.state_dict().items())


def test_the_defaults_name_the_default_corpus(tmp_path: Path) -> None:
    save_checkpoint(build(CONFIG), tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert payload["data"] == {"path": None, "sha256": hashlib.sha256(b"").hexdigest(),
                               "samples": 0}
    read = read_checkpoint(tmp_path / "m.pt")
    assert read.data_path is None and read.samples == 0
    assert read.config == CONFIG and read.config.dense_layers == (0,)


def test_read_back_what_was_written(tmp_path: Path) -> None:
    corpus_file = tmp_path / "c.bin"
    corpus_file.write_bytes(bytes(range(50)))
    model = build(CONFIG)
    save_checkpoint(model, tmp_path / "m.pt", corpus_file, bytes(range(50)), 7)
    read = read_checkpoint(tmp_path / "m.pt")
    assert (read.data_path, read.data_sha256, read.samples) == (
        corpus_file.resolve(), hashlib.sha256(bytes(range(50))).hexdigest(), 7)
    restored = load_checkpoint(read, torch.device("cpu"))
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in model.state_dict().items())
    assert corpus_of(read) == (bytes(range(50)), str(corpus_file.resolve()))


def _checkpoint(path: Path | None, sha: str | None) -> Checkpoint:
    return Checkpoint(CONFIG, {}, path, sha, 0)


def test_a_corpus_that_changed_since(tmp_path: Path) -> None:
    corpus_file = tmp_path / "c.txt"
    corpus_file.write_bytes(b"now different")
    with pytest.raises(DataError) as error:
        corpus_of(_checkpoint(corpus_file, hashlib.sha256(b"as trained").hexdigest()))
    assert str(error.value) == (f"the checkpoint was trained on {corpus_file}, which has changed "
                                "since (its SHA-256 differs); give --data FILE to evaluate on it "
                                "anyway")
    with pytest.raises(DataError) as error:
        corpus_of(_checkpoint(None, hashlib.sha256(b"another default").hexdigest()))
    assert str(error.value).startswith("the checkpoint was trained on the default corpus, which "
                                       "has changed since")


def test_a_corpus_that_cannot_be_read_now(tmp_path: Path) -> None:
    gone = tmp_path / "gone.txt"
    with pytest.raises(DataError) as error:
        corpus_of(_checkpoint(gone, None))
    assert str(error.value).startswith(f"the checkpoint was trained on {gone}, which cannot be "
                                       "read now (")
    assert str(error.value).endswith("); give --data FILE")


def test_no_fingerprint_no_check(tmp_path: Path) -> None:
    """A checkpoint from before paramcalc stored the SHA-256 is taken at its word."""
    assert corpus_of(_checkpoint(None, None)) == (default_corpus(), "the default corpus")


def test_missing_and_odd_paths(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(tmp_path / "none.pt")
    assert str(error.value) == f"checkpoint {str(tmp_path / 'none.pt')!r} does not exist"
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(tmp_path)
    assert str(error.value) == f"checkpoint {str(tmp_path)!r} is not a file"


def test_a_state_dict_that_does_not_fit(tmp_path: Path) -> None:
    save_checkpoint(build(CONFIG), tmp_path / "m.pt")
    read = read_checkpoint(tmp_path / "m.pt")
    wrong = Checkpoint(CONFIG.replace(d_model=16), read.state_dict, None, None, 0)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(wrong, torch.device("cpu"), tmp_path / "m.pt")
    assert str(error.value) == f"{tmp_path / 'm.pt'}: damaged checkpoint (RuntimeError)"


def test_assess_reports_the_model_as_it_is() -> None:
    """No training: 0 epochs, 0.0 seconds, no history, and the verdict of the stopping rule."""
    torch.manual_seed(0)
    model = build(ModelConfig(vocab_size=257, seq_length=4, d_model=8, num_blocks=1))
    data = make_dataset(bytes(range(100)), seq_length=4, samples=8, test_samples=4)
    result = assess(model, data, min_confidence=0.97)
    assert (result.memorized, result.reason, result.epochs, result.seconds, result.history) == \
        (False, "not trained here", 0, 0.0, [])
    assert 0 < result.min_learnable_confidence < 0.97
    easy = assess(model, data, min_confidence=1e-9)
    assert (easy.memorized, easy.reason) == (True, "memorized")
    assert easy.min_learnable_confidence == result.min_learnable_confidence
    assert result.train.windows == 8 and result.test.windows == 4


def _write(path: Path, payload: object) -> Path:
    torch.save(payload, path)
    return path


def _payload(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"format": CHECKPOINT_FORMAT, "version": 2,
                               "config": {"vocab_size": 257, "seq_length": 4, "d_model": 8,
                                          "num_blocks": 1},
                               "state_dict": {}}
    base.update(changes)
    return base


def test_what_a_payload_says_of_its_data(tmp_path: Path) -> None:
    read = read_checkpoint(_write(tmp_path / "a.pt", _payload()))  # no "data": older files
    assert (read.data_path, read.data_sha256, read.samples) == (None, None, 0)
    read = read_checkpoint(_write(tmp_path / "b.pt", _payload(
        data={"path": "/corpora/c.txt", "sha256": "ab12", "samples": 3})))
    assert (read.data_path, read.data_sha256, read.samples) == (Path("/corpora/c.txt"), "ab12", 3)
    read = read_checkpoint(_write(tmp_path / "c.pt", _payload(data={"samples": None})))
    assert read.samples == 0
    assert read.config == ModelConfig(vocab_size=257, seq_length=4, d_model=8, num_blocks=1)


@pytest.mark.parametrize("payload, message", [
    ([1, 2], "{path} is not a paramcalc checkpoint"),
    ({"format": "other"}, "{path} is not a paramcalc checkpoint"),
    ({"format": CHECKPOINT_FORMAT}, "{path}: damaged checkpoint (KeyError)"),
    (_payload(data={"samples": "many"}), "{path}: damaged checkpoint (ValueError)"),
    (_payload(data=["not", "a", "mapping"]), "{path}: damaged checkpoint (AttributeError)"),
    (_payload(config={"vocab_size": 257, "seq_length": 4, "d_model": 8, "num_blocks": 1,
                      "depth": 3}), "{path}: unknown key 'depth'; known keys: "),
])
def test_damaged_payloads_are_named(tmp_path: Path, payload: object, message: str) -> None:
    path = _write(tmp_path / "m.pt", payload)
    with pytest.raises((CheckpointError, ConfigError)) as error:
        read_checkpoint(path)
    assert str(error.value).startswith(message.format(path=path))
    if not message.endswith(": "):
        assert str(error.value) == message.format(path=path)


def test_only_tensors_and_plain_data_are_unpickled(tmp_path: Path) -> None:
    """torch.load runs with weights_only=True: a pickled object of any other class is refused
    before it is built, even inside an otherwise good checkpoint."""
    from fractions import Fraction

    path = _write(tmp_path / "m.pt", _payload(extra=Fraction(1, 2)))
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(path)
    assert str(error.value) == f"{path} is not a paramcalc checkpoint (UnpicklingError)"
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError) as error:
        read_checkpoint(text)
    assert str(error.value) == f"{text} is not a paramcalc checkpoint (UnpicklingError)"
