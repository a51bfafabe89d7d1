"""Checkpoint headers: tiny models saved by transformers (one file and sharded) and GGUF files
written by gguf-py, read back tensor by tensor; their file sizes are header plus the bytes
paramcalc computes. Unreadable files are one line, without a large allocation."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from paramcalc.errors import CheckpointError
from paramcalc.weights import MAX_HEADER, Checkpoint, read

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def _tiny(family: str) -> object:
    """A tiny model of ``family``, in bf16 (its config.json as transformers writes it)."""
    torch.manual_seed(0)
    if family == "gpt2":  # a tied head: the checkpoint holds wte once
        config = transformers.GPT2Config(vocab_size=96, n_positions=32, n_embd=32, n_layer=2,
                                         n_head=4, bos_token_id=0, eos_token_id=0)
        model = transformers.GPT2LMHeadModel(config)
    else:  # an untied head, grouped-query attention
        config = transformers.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64,
                                          num_hidden_layers=2, num_attention_heads=4,
                                          num_key_value_heads=2, tie_word_embeddings=False)
        model = transformers.LlamaForCausalLM(config)
    return model.to(torch.bfloat16)


def _safetensors_size(checkpoint: Checkpoint) -> int:
    """What the files should weigh: per file, 8 bytes, the JSON header (its length read from
    those 8 bytes), and the tensors' bytes as paramcalc computes them."""
    headers = 0
    for file in checkpoint.files:
        with open(file, "rb") as handle:
            headers += 8 + struct.unpack("<Q", handle.read(8))[0]
    return headers + checkpoint.nbytes


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("sharded", [False, True], ids=["one-file", "sharded"])
def test_save_pretrained_checkpoints(tmp_path: Path, family: str, sharded: bool) -> None:
    from safetensors.torch import load_file

    model = _tiny(family)
    model.save_pretrained(tmp_path, max_shard_size="20KB" if sharded else "1GB")
    files = sorted(tmp_path.glob("*.safetensors"))
    assert (len(files) > 1) == sharded
    assert (tmp_path / "model.safetensors.index.json").is_file() == sharded

    checkpoint = read(tmp_path)
    assert checkpoint.format == "safetensors" and len(checkpoint.files) == len(files)
    # every tensor as torch loads it from the files
    loaded = {name: tensor for file in files for name, tensor in load_file(file).items()}
    assert {t.name: (t.shape, t.dtype, t.nbytes) for t in checkpoint.tensors} == {
        name: (tuple(tensor.shape), "BF16", tensor.numel() * tensor.element_size())
        for name, tensor in loaded.items()}
    # the parameters the model holds, a tied matrix once
    assert checkpoint.params == sum(p.numel() for p in model.parameters())
    assert checkpoint.bits_per_weight == 16
    assert sum(os.path.getsize(file) for file in files) == _safetensors_size(checkpoint)
    if sharded:  # what transformers wrote in the index
        assert checkpoint.metadata["total_size"] == checkpoint.nbytes
        assert checkpoint.metadata["total_parameters"] == checkpoint.params
    assert read(tmp_path / "model.safetensors.index.json" if sharded
                else tmp_path / "model.safetensors").tensors == checkpoint.tensors


def _gguf(path: Path, tensors: dict[str, tuple[np.ndarray, str]]) -> None:
    """A GGUF file written by gguf-py: a llama with the given tensors, quantized by gguf."""
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    writer = GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_embedding_length(64)
    writer.add_feed_forward_length(128)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_context_length(256)
    writer.add_token_list([f"t{i}" for i in range(2000)])  # a long array: given by its length
    for name, (values, kind) in tensors.items():
        qtype = GGMLQuantizationType[kind]
        if kind in ("F32", "F16"):
            writer.add_tensor(name, values.astype(np.float32 if kind == "F32" else np.float16))
        else:
            writer.add_tensor(name, quantize(values, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_gguf_files_written_by_gguf_py(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny-Q4_0.gguf"
    _gguf(path, {
        "token_embd.weight": (rng.standard_normal((96, 64)).astype(np.float32), "F16"),
        "blk.0.attn_q.weight": (rng.standard_normal((64, 64)).astype(np.float32), "Q8_0"),
        "blk.0.ffn_up.weight": (rng.standard_normal((128, 64)).astype(np.float32), "Q4_0"),
        "blk.0.ffn_up_exps.weight": (rng.standard_normal((4, 128, 64)).astype(np.float32), "Q4_0"),
        "blk.0.attn_norm.weight": (np.ones(64, np.float32), "F32"),
    })
    checkpoint = read(path)
    # bytes by hand: F16 2 per weight; Q8_0 34 per 32; Q4_0 18 per 32; F32 4
    assert [(t.name, t.shape, t.dtype, t.nbytes) for t in checkpoint.tensors] == [
        ("token_embd.weight", (96, 64), "F16", 96 * 64 * 2),
        ("blk.0.attn_q.weight", (64, 64), "Q8_0", 64 * 64 // 32 * 34),
        ("blk.0.ffn_up.weight", (128, 64), "Q4_0", 128 * 64 // 32 * 18),
        ("blk.0.ffn_up_exps.weight", (4, 128, 64), "Q4_0", 4 * 128 * 64 // 32 * 18),
        ("blk.0.attn_norm.weight", (64,), "F32", 64 * 4),
    ]
    assert checkpoint.params == 96 * 64 + 64 * 64 + 128 * 64 + 4 * 128 * 64 + 64
    # gguf aligns every tensor's data to general.alignment (32 by default)
    padded = sum(-(-t.nbytes // 32) * 32 for t in checkpoint.tensors)
    assert os.path.getsize(path) == checkpoint.header_bytes + padded
    assert checkpoint.architecture == "llama"
    assert {key: checkpoint.metadata[key] for key in (
        "llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.context_length")
    } == {"llama.block_count": 2, "llama.embedding_length": 64, "llama.feed_forward_length": 128,
          "llama.attention.head_count": 4, "llama.attention.head_count_kv": 2,
          "llama.context_length": 256}
    tokens = checkpoint.metadata["tokenizer.ggml.tokens"]
    assert (tokens.type, tokens.length) == ("STRING", 2000)
    assert read(tmp_path).tensors == checkpoint.tensors  # the folder holding one .gguf


# --- what cannot be read -------------------------------------------------------------------

def _one_line(path: Path, *expected: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as error:
            read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(error.value)
    assert "\n" not in message and all(part in message for part in expected), message
    assert peak < 20 * 2**20  # nothing the header claims is allocated


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("llama")
    _tiny("llama").save_pretrained(folder, max_shard_size="20KB")
    return folder


def test_bad_safetensors_files(tmp_path: Path, saved: Path) -> None:
    shard = sorted(saved.glob("*.safetensors"))[0]
    raw = shard.read_bytes()
    cases = {
        "truncated": raw[:-10],
        "header-cut": raw[:40],
        "tiny": raw[:5],
        "huge-header": struct.pack("<Q", 2**62) + raw[8:],
        "header-over-100MB": struct.pack("<Q", MAX_HEADER + 1) + raw[8:],
        "garbage": struct.pack("<Q", 12) + b"not a header" + raw[20:],
        "extra-bytes": raw + b"\0" * 16,
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.safetensors"
        bad.write_bytes(content)
        _one_line(bad, str(bad), "not a readable safetensors file")


def test_bad_sharded_folders(tmp_path: Path, saved: Path) -> None:
    index = json.loads((saved / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))

    def folder(name: str, weight_map: dict[str, str], drop: str | None = None) -> Path:
        where = tmp_path / name
        where.mkdir()
        for shard in shards:
            if shard != drop:
                (where / shard).write_bytes((saved / shard).read_bytes())
        (where / "model.safetensors.index.json").write_text(
            json.dumps({**index, "weight_map": weight_map}))
        return where

    _one_line(folder("missing-shard", index["weight_map"], drop=shards[-1]), "no such file")
    moved = dict(index["weight_map"])
    first = next(iter(moved))
    moved[first] = next(s for s in shards if s != moved[first])
    _one_line(folder("misplaced", moved), f"names {first!r} in", "which does not hold it")
    _one_line(folder("outside", {**index["weight_map"], first: "../secret.safetensors"}),
              "is not a file beside the index")
    fake = tmp_path / "not-json"
    fake.mkdir()
    (fake / "model.safetensors.index.json").write_text("{weight_map")
    _one_line(fake, "not a readable index")
    big = tmp_path / "big"
    big.mkdir()
    with open(big / "model.safetensors.index.json", "wb") as handle:
        handle.truncate(MAX_HEADER + 1)  # sparse: no disk, and never read
    _one_line(big, "larger than 100,000,000")


def test_bad_gguf_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    good = tmp_path / "good.gguf"
    _gguf(good, {"blk.0.ffn_up.weight": (rng.standard_normal((128, 64)).astype(np.float32),
                                         "Q4_0")})
    raw = good.read_bytes()

    def patched(offset: int, value: int) -> bytes:
        return raw[:offset] + struct.pack("<Q", value) + raw[offset + 8:]

    cases = {
        "truncated-data": raw[:-100], "truncated-header": raw[:100], "tiny": raw[:10],
        "bad-magic": b"GGUX" + raw[4:], "huge-tensor-count": patched(8, 2**62),
        "huge-kv-count": patched(16, 2**62), "huge-string": patched(24, 2**62), "empty": b"",
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.gguf"
        bad.write_bytes(content)
        _one_line(bad, str(bad), "not a readable GGUF file")


def test_what_is_not_a_checkpoint(tmp_path: Path) -> None:
    _one_line(tmp_path / "absent.safetensors", "no such file or folder")
    _one_line(tmp_path, "no checkpoint found (wanted model.safetensors.index.json, "
                        "model.safetensors or one .gguf file; found neither)")
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    _one_line(tmp_path / "weights.bin", "not a checkpoint paramcalc reads")


def test_reading_headers_imports_neither_torch_nor_transformers(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    save_file({"wte": np.zeros((96, 32), np.float16)}, str(tmp_path / "model.safetensors"))
    _gguf(tmp_path / "tiny.gguf", {"blk.0.ffn_up.weight": (np.ones((128, 64), np.float32),
                                                           "Q8_0")})
    script = (
        "import sys\n"
        "from paramcalc import gpus, hub, quant, units, weights\n"
        "weights.read(sys.argv[1]); weights.read(sys.argv[2]); hub.parse_name('acme/tiny@v1')\n"
        "quant.tensor_nbytes(quant.weight_format('q4_k'), (256, 256))\n"
        "units.parse_memory('24GiB'); gpus.accelerator('h100')\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.safetensors"),
                             str(tmp_path / "tiny.gguf")], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]"
