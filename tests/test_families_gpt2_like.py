"""GPT-BigCode and GPT-Neo (families/gpt2_like.py) against transformers and by hand.

Their random configurations are tests/test_hf.py's (``family_keys``: multi_query, n_inner,
attention_types and window_size drawn), counted against transformers' model on the meta
device, under the counter and through save_pretrained checkpoints like every family. Here:
the defaults' totals worked out by hand, GPT-Neo's layer pattern as its config class expands
it, its cache past the window, and the files transformers builds no model for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Cli
from paramcalc.families import load

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()
from test_hf import neo_attention_types, reference  # noqa: E402  (needs transformers)

pytestmark = pytest.mark.mutation_skip  # builds transformers' models: slow under mutmut


def _write(folder: Path, model_type: str, **keys: Any) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps({"model_type": model_type, **keys}))
    return str(path)


def test_gpt_bigcode_defaults_by_hand(tmp_path: Path, cli: Cli) -> None:
    # SantaCoder's shapes (GPTBigCodeConfig's defaults): V 50,257, d 768, 1,024 positions,
    # 12 blocks of 12 heads, one key/value head of 64: c_attn d → d + 2·64, biased
    V, d, P, n, f = 50_257, 768, 1024, 12, 4 * 768
    block = (d * (d + 128) + d + 128) + (d * d + d) + (d * f + f + f * d + d) + 2 * 2 * d
    obj = cli.json("count", "--hf-config", _write(tmp_path, "gpt_bigcode"))
    assert obj["params"]["per_block"] == block == 6_005_120
    assert obj["params"]["total"] == V * d + P * d + n * block + 2 * d == 111_446_784
    expected = reference(transformers.AutoConfig.for_model("gpt_bigcode"))
    assert obj["params"]["total"] == expected["total"]


def test_gpt_bigcode_without_multi_query_has_a_key_value_head_per_head(tmp_path: Path,
                                                                       cli: Cli) -> None:
    one = cli.json("count", "--hf-config", _write(tmp_path / "mq", "gpt_bigcode"))
    every = cli.json("count", "--hf-config", _write(tmp_path / "mha", "gpt_bigcode",
                                                   multi_query=False))
    # c_attn d → 3·d: 11 key and 11 value heads of 64 more, weights and biases, in 12 blocks
    assert every["params"]["total"] - one["params"]["total"] == 12 * 2 * 11 * 64 * (768 + 1)
    assert every["config"]["n_kv_heads"] == 12 and one["config"]["n_kv_heads"] == 1


def test_gpt_bigcode_s_cross_attention_is_refused(tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, "gpt_bigcode", add_cross_attention=True, multi_query=False)
    assert cli.error("count", "--hf-config", path) == (
        f"Error: {path}: add_cross_attention = true adds a cross-attention layer to every "
        "block; paramcalc cannot count this model")


def test_gpt_neo_defaults_are_gpt_neo_1_3b(tmp_path: Path, cli: Cli) -> None:
    # GPTNeoConfig's defaults: V 50,257, d 2,048, 2,048 positions, 24 blocks, global and
    # local by turns; q, k, v without biases, out_proj with one, an MLP of 4·d with biases
    V, d, P, n, f = 50_257, 2048, 2048, 24, 4 * 2048
    block = 3 * d * d + (d * d + d) + (d * f + f + f * d + d) + 2 * 2 * d
    obj = cli.json("count", "--hf-config", _write(tmp_path, "gpt_neo"))
    assert obj["params"]["total"] == V * d + P * d + n * block + 2 * d == 1_315_575_808
    assert {k["kind"]: k["count"] for k in obj["block_kinds"]} == {"full": 12, "sliding": 12}
    assert obj["config"]["sliding_window"] == 256
    expected = reference(transformers.AutoConfig.for_model("gpt_neo"))
    assert obj["params"]["total"] == expected["total"]


def test_gpt_neo_s_layers_are_what_its_config_class_expands(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    @settings(max_examples=40, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n),
                                                          neo_attention_types(n))))
    def check(drawn: tuple[int, list[Any]]) -> None:
        layers, types = drawn
        keys = dict(num_layers=layers, attention_types=types, hidden_size=16, num_heads=2)
        expanded = transformers.AutoConfig.for_model("gpt_neo", **keys).attention_layers
        config = load(Path(_write(tmp_path_factory.mktemp("c"), "gpt_neo", **keys))).config
        listed = config.layer_types or ("full_attention",) * layers
        assert [{"global": "full_attention", "local": "sliding_attention"}[kind]
                for kind in expanded] == list(listed)
        assert (config.sliding_window is not None) == ("local" in expanded)

    check()


def test_gpt_neo_s_cache_past_the_window(tmp_path: Path, cli: Cli) -> None:
    """A generation past a 3-token window: paramcalc's figure holds the window in the local
    layers (what their attention reads); transformers' own cache for GPT-Neo keeps every
    token in every layer (its config has no layer_types), and so holds more."""
    keys = dict(vocab_size=32, hidden_size=32, num_layers=4, num_heads=4,
                max_position_embeddings=64, window_size=3,
                attention_types=[[["global", "local"], 2]])
    hf = transformers.AutoConfig.for_model("gpt_neo", **keys)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(hf).eval()
    with torch.no_grad():
        out = model.generate(torch.randint(0, 32, (1, 7)), max_new_tokens=5, do_sample=False,
                             use_cache=True, return_dict_in_generate=True, pad_token_id=0)
    held = sum(t.numel() * t.element_size() for layer in out.past_key_values.layers
               for t in (layer.keys, layer.values))
    tokens = 7 + 5 - 1  # the prompt and every generated token but the last
    per_token = 2 * 32 * 4  # a layer's keys and values, 32 wide, fp32
    assert held == 4 * tokens * per_token  # by hand: every layer keeps every token
    obj = cli.json("flops", "--hf-config", _write(tmp_path, "gpt_neo", **keys), "--dtype",
                   "fp32", "--context", str(tokens))
    # by hand: 2 global layers keep 11 tokens, 2 local ones the window less one (2)
    assert obj["memory"]["kv_cache"] == (2 * tokens + 2 * 2) * per_token


@pytest.mark.parametrize("keys, message", [
    (dict(num_layers=3, attention_types=[[["global", "local"], 1]]),
     "attention_types gives 2 layers, but num_layers is 3 (transformers builds no model)"),
    (dict(num_layers=2), "attention_types gives 24 layers, but num_layers is 2"),
    (dict(num_hidden_layers=2, attention_types=[[["global", "sliding"], 1]]),
     "attention_types names 'sliding'; GPT-Neo's layers are global or local"),
    (dict(attention_types=[[["global"]]]), "attention_types must be a list of [list of layer "
                                           "types, repeats] pairs or null, got [[['global']]]"),
    (dict(window_size=0), "window_size must be a positive integer, got 0"),
])
def test_gpt_neo_files_transformers_builds_no_model_for(keys: dict[str, Any], message: str,
                                                        tmp_path: Path, cli: Cli) -> None:
    path = _write(tmp_path, "gpt_neo", **keys)
    assert cli.error("count", "--hf-config", path).startswith(f"Error: {path}: {message}")
    if "num_layers is" in message:  # transformers refuses it too (its strict validation)
        with pytest.raises(Exception, match=r"len\(config.attention_layers\)"):
            transformers.AutoConfig.for_model("gpt_neo", **keys)
