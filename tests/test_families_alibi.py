"""BLOOM, MPT and Falcon (``families/alibi.py``): what the registry-wide tests do not say.

The registry-wide tests (tests/test_hf.py, test_families.py, test_compute_hf.py,
test_check_weights.py) count random configurations of each against transformers' model on
the meta device, run them under FlopCounterMode, fill their caches and check their
checkpoints. Here: published sizes counted by hand, ALiBi's slopes against transformers' own,
and the values each record refuses, one line each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import Cli
from paramcalc.modules import alibi_slopes

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut


def _write(folder: Path, keys: dict[str, Any]) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(keys))
    return str(folder / "config.json")


def _transformers_total(path: str) -> int:
    hf_config = transformers.AutoConfig.from_pretrained(path)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("heads", range(1, 17))
def test_alibi_slopes_are_bloom_s(heads: int) -> None:
    """paramcalc's builder against BLOOM's build_alibi_tensor: the bias it adds at distance 1
    from the first key is each head's slope."""
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor

    mask = torch.ones(1, 2)
    alibi = build_alibi_tensor(mask, heads, torch.float64)  # (h, 1, 2): slope · key position
    # (BLOOM raises its slopes to their powers in fp32)
    assert alibi_slopes(heads) == pytest.approx(alibi[:, 0, 1].tolist(), rel=1e-6)


def test_eight_heads_take_the_paper_s_slopes() -> None:
    # Press et al. 2022, section 3: 1/2, 1/4, …, 1/256 for 8 heads
    assert alibi_slopes(8) == [1 / 2 ** i for i in range(1, 9)]


def test_bloom_560m_counts_its_published_size(tmp_path: Path, cli: Cli) -> None:
    # bigscience/bloom-560m's config.json names its width n_embed
    path = _write(tmp_path, {"model_type": "bloom", "vocab_size": 250880, "n_embed": 1024,
                             "n_layer": 24, "num_attention_heads": 16})
    d, n, vocab = 1024, 24, 250880
    # by hand: a block holds query_key_value (3d² + 3d), dense (d² + d), the MLP
    # (4d² + 4d and 4d² + d) and two LayerNorms (4d); the embeddings' LayerNorm and ln_f 2d each
    block = 12 * d * d + 13 * d
    obj = cli.json("count", "--hf-config", path)
    assert obj["params"]["per_block"] == block == 12_596_224
    assert obj["params"]["embedding"] == vocab * d + 2 * d
    assert obj["params"]["total"] == vocab * d + 2 * d + n * block + 2 * d == 559_214_592
    assert obj["params"]["total"] == _transformers_total(path)
    assert cli.json("check", "--hf-config", path, "--against", "transformers")["ok"]


def test_bloom_s_defaults_are_transformers(tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, {"model_type": "bloom"})  # BloomConfig(): 2 blocks of width 64
    d, n, vocab = 64, 2, 250880
    total = cli.json("count", "--hf-config", path)["params"]["total"]
    assert total == vocab * d + 4 * d + n * (12 * d * d + 13 * d) == 16_156_544
    assert total == _transformers_total(path)


def test_bloom_s_flops_are_those_of_its_sublayers(tmp_path: Path, cli: Cli) -> None:
    """ALiBi adds to the scores elementwise and the embeddings' norm is a norm: no FLOPs of
    their own; per block 2·S·(12·d²) for the projections and 4·S²·d for the scores."""
    path = _write(tmp_path, {"model_type": "bloom", "vocab_size": 100, "hidden_size": 32,
                             "n_layer": 2, "n_head": 4})
    obj = cli.json("flops", "--hf-config", path, "--seq-length", "16")
    d, S = 32, 16
    assert obj["flops"]["forward"]["embedding"] == 0
    assert obj["flops"]["forward"]["blocks"] == 2 * (2 * S * 12 * d * d + 4 * S * S * d)
    assert obj["flops"]["forward"]["head"] == 2 * S * d * 100


def test_mpt_7b_counts_its_published_size(tmp_path: Path, cli: Cli) -> None:
    # mosaicml/mpt-7b's config.json: its sizes, and the switches it sets as transformers reads them
    path = _write(tmp_path, {"model_type": "mpt", "vocab_size": 50432, "d_model": 4096,
                             "n_layers": 32, "n_heads": 32, "max_seq_len": 2048,
                             "expansion_ratio": 4, "no_bias": True, "learned_pos_emb": True,
                             "attn_config": {"alibi": True, "qk_ln": False, "clip_qkv": None,
                                             "attn_type": "multihead_attention"}})
    d, n, vocab = 4096, 32, 50432
    # by hand: Wqkv 3d², out_proj d², up and down 4d² each, two LayerNorms without bias (d
    # each), no bias anywhere; norm_f d; the head tied
    block = 12 * d * d + 2 * d
    obj = cli.json("count", "--hf-config", path)
    assert obj["params"]["per_block"] == block
    assert obj["params"]["total"] == vocab * d + n * block + d == 6_649_286_656
    assert obj["params"]["total"] == _transformers_total(path)


def test_mpt_s_defaults_are_transformers(tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, {"model_type": "mpt"})  # MptConfig(): 24 blocks of width 2,048
    d, n, vocab = 2048, 24, 50368
    total = cli.json("count", "--hf-config", path)["params"]["total"]
    assert total == vocab * d + n * (12 * d * d + 2 * d) + d == 1_311_213_568
    assert total == _transformers_total(path)


_MPT = {"model_type": "mpt", "vocab_size": 40, "d_model": 16, "n_layers": 2, "n_heads": 2,
        "max_seq_len": 32}
#: what the original MPT reads and transformers' MptModel does not: each value, and the line
MPT_REFUSED = [
    ({"no_bias": False}, "no_bias = false asks for biases, which transformers' MPT never "
     "builds (the original MPT does)"),
    ({"expansion_ratio": 8}, "expansion_ratio = 8 is not 4: transformers' MPT builds its MLP "
     "4·d_model wide whatever this says (the original MPT expansion_ratio·d_model)"),
    ({"attn_config": {"alibi": False}}, "attn_config.alibi = false asks for positions other "
     "than ALiBi (a learned table with learned_pos_emb), which transformers' MPT never builds "
     "(the original MPT does)"),
    ({"attn_config": {"qk_ln": True}}, "attn_config.qk_ln = true asks for LayerNorms on "
     "queries and keys, which transformers' MPT never builds (the original MPT does)"),
    ({"attn_config": {"attn_type": "multiquery_attention"}}, "attn_config.attn_type = "
     "\"multiquery_attention\" asks for fewer key/value heads than query heads, which "
     "transformers' MPT never builds (the original MPT does)"),
]


@pytest.mark.parametrize("changes, line", MPT_REFUSED, ids=lambda v: str(v)[:30])
def test_what_transformers_mpt_does_not_build_is_refused(changes: dict[str, Any], line: str,
                                                         tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, {**_MPT, **changes})
    assert cli.error("count", "--hf-config", path) == (
        f"Error: {path}: {line}; paramcalc cannot count this model")
    # transformers builds the same model as without the key: the file's own model is not it
    plain = _write(tmp_path / "plain", _MPT)
    assert _transformers_total(path) == _transformers_total(plain)


def _falcon_block(d: int, heads: int, kv: int, lns: int, ff: int | None = None) -> int:
    """One Falcon block without biases, by hand: query_key_value d → (h + 2g)·d/h, dense d²,
    the MLP d → f → d (f = 4d), and ``lns`` LayerNorms (2d each)."""
    head = d // heads
    f = ff or 4 * d
    return d * (heads + 2 * kv) * head + d * d + 2 * d * f + lns * 2 * d


def test_falcon_s_defaults_are_falcon_7b(tmp_path: Path, cli: Cli) -> None:
    # FalconConfig() is tiiuae/falcon-7b: 71 heads of 64, one key/value head (multi_query),
    # attention and MLP side by side after one LayerNorm, no biases, a tied head
    path = _write(tmp_path, {"model_type": "falcon"})
    d, n, vocab = 4544, 32, 65024
    obj = cli.json("count", "--hf-config", path)
    assert obj["params"]["per_block"] == _falcon_block(d, 71, 1, 1)
    assert obj["params"]["total"] == vocab * d + n * _falcon_block(d, 71, 1, 1) + 2 * d \
        == 6_921_720_704
    assert obj["params"]["total"] == _transformers_total(path)


def test_falcon_40b_counts_its_published_size(tmp_path: Path, cli: Cli) -> None:
    # tiiuae/falcon-40b: the new architecture, 8 key/value heads for 128, two norms a block
    path = _write(tmp_path, {"model_type": "falcon", "vocab_size": 65024, "hidden_size": 8192,
                             "num_hidden_layers": 60, "num_attention_heads": 128,
                             "num_kv_heads": 8, "new_decoder_architecture": True,
                             "parallel_attn": True, "bias": False, "alibi": False})
    d, n, vocab = 8192, 60, 65024
    obj = cli.json("count", "--hf-config", path)
    assert obj["params"]["total"] == vocab * d + n * _falcon_block(d, 128, 8, 2) + 2 * d \
        == 41_303_293_952
    assert obj["params"]["total"] == _transformers_total(path)


_FALCON = {"model_type": "falcon", "vocab_size": 40, "hidden_size": 16, "num_hidden_layers": 1,
           "num_attention_heads": 2}
#: what transformers builds and its forward cannot run: each value, and the line
FALCON_REFUSED = [
    ({"new_decoder_architecture": True, "parallel_attn": False}, "parallel_attn = false with "
     "new_decoder_architecture builds a block whose norms transformers' forward does not find"),
    ({"new_decoder_architecture": True, "num_ln_in_parallel_attn": 3},
     "num_ln_in_parallel_attn = 3 is neither 1 nor 2 with new_decoder_architecture: "
     "transformers' forward leaves the MLP without an input"),
    ({"num_ln_in_parallel_attn": 2}, "num_ln_in_parallel_attn = 2 without "
     "new_decoder_architecture builds two norms, and transformers' forward reads the one it "
     "does not build"),
    ({"multi_query": False, "num_kv_heads": 1}, "num_kv_heads = 1 differs from "
     "num_attention_heads (2) without new_decoder_architecture or multi_query: the fused "
     "query_key_value still makes a key and a value per head (transformers' forward cannot "
     "run it)"),
]


@pytest.mark.parametrize("changes, line", FALCON_REFUSED, ids=lambda v: str(v)[:40])
def test_a_falcon_transformers_cannot_run_is_refused(changes: dict[str, Any], line: str,
                                                     tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, {**_FALCON, **changes})
    assert cli.error("count", "--hf-config", path) == (
        f"Error: {path}: {line}; paramcalc cannot count this model")
    hf_config = transformers.AutoConfig.from_pretrained(path)
    model = transformers.AutoModelForCausalLM.from_config(hf_config)
    with pytest.raises((AttributeError, UnboundLocalError, RuntimeError)):
        model(torch.zeros((1, 4), dtype=torch.long))  # the forward the refusal names
