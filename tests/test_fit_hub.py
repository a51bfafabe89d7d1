"""A model by its Hub name: config.json from a cache laid out as huggingface_hub lays it, and
every failure as one line. Nothing here touches the network: the cache is offline, and
huggingface_hub's own exceptions are raised by a stand-in for its download functions."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import huggingface_hub
import pytest
from huggingface_hub import constants, errors
from huggingface_hub.utils import SafetensorsFileMetadata, SafetensorsRepoMetadata, TensorInfo

from paramcalc.errors import CheckpointError, ConfigError, HubError
from paramcalc.hub import config_file, parse_name, weights_headers

SHA = "0123456789abcdef0123456789abcdef01234567"
CONFIG = {"model_type": "llama", "hidden_size": 64}


def _cache(root: Path, repo: str, files: dict[str, bytes], refs: dict[str, str]) -> Path:
    """A Hub cache as huggingface_hub writes it: blobs named by their hash, a snapshot per
    commit linking to them, a ref per branch or tag holding the commit."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "blobs").mkdir(parents=True)
    (folder / "refs").mkdir()
    snapshot = folder / "snapshots" / SHA
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        blob = hashlib.sha256(content).hexdigest()
        (folder / "blobs" / blob).write_bytes(content)
        (snapshot / name).symlink_to(Path("../..") / "blobs" / blob)
    for ref, commit in refs.items():
        (folder / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    _cache(tmp_path, "acme/tiny-llama", {"config.json": json.dumps(CONFIG).encode()},
           {"main": SHA, "v1.0": SHA})
    return tmp_path


def test_offline_from_the_cache_as_users_set_it(cache: Path) -> None:
    # the environment variables themselves, read by huggingface_hub when it is imported
    script = ("import sys\nfrom paramcalc.hub import config_file\nfrom paramcalc.errors import "
              "HubError\nfor name in sys.argv[1:]:\n    try:\n        print(config_file(name))\n"
              "    except HubError as error:\n        print('Error:', error)\n")
    names = ["acme/tiny-llama", "acme/tiny-llama@v1.0", f"acme/tiny-llama@{SHA}",
             "acme/tiny-llama@v2.0", "acme/absent"]
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script, *names], env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout.splitlines()
    snapshot = cache / "models--acme--tiny-llama" / "snapshots" / SHA / "config.json"
    assert out[:3] == [str(snapshot)] * 3
    assert json.loads(snapshot.read_text()) == CONFIG
    assert out[3:] == [
        "Error: acme/tiny-llama@v2.0: config.json is not in the Hugging Face cache and "
        "HF_HUB_OFFLINE is set; run once online or set HF_HUB_OFFLINE=0",
        "Error: acme/absent: config.json is not in the Hugging Face cache and HF_HUB_OFFLINE "
        "is set; run once online or set HF_HUB_OFFLINE=0"]


def test_offline_in_process(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    path = config_file("acme/tiny-llama@v1.0", cache_dir=cache)
    assert path.name == "config.json" and json.loads(path.read_text()) == CONFIG


@pytest.mark.parametrize(("name", "parsed"), [
    ("meta-llama/Llama-3.1-8B", ("meta-llama/Llama-3.1-8B", None)),
    ("Qwen/Qwen3-8B@main", ("Qwen/Qwen3-8B", "main")),
    ("gpt2", ("gpt2", None)),
    ("org/name@refs/pr/1", ("org/name", "refs/pr/1")),
    (f" org/name@{SHA} ", ("org/name", SHA)),
])
def test_names(name: str, parsed: tuple[str, str | None]) -> None:
    assert parse_name(name) == parsed


@pytest.mark.parametrize(("name", "message"), [
    ("a/b/c", "malformed Hub model name 'a/b/c'; write ORG/NAME or ORG/NAME@REVISION"),
    ("org/na--me", "malformed Hub model name"),
    ("org/-name", "malformed Hub model name"),
    ("", "malformed Hub model name ''"),
    ("org/name@", "malformed revision '' in 'org/name@'"),
    ("org/name@../../etc", "malformed revision '../../etc'"),
    ("org/name@a b", "malformed revision 'a b'"),
])
def test_malformed_names_are_one_line(name: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config_file(name)
    assert message in str(error.value) and "\n" not in str(error.value)


def _hub(cls: type[Exception], message: str = "from the Hub",
         status: int | None = None) -> Exception:
    """One of huggingface_hub's exceptions, built without a live HTTP response."""
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    if status is not None:
        error.response = SimpleNamespace(status_code=status)  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(("raised", "offline", "message"), [
    (_hub(errors.GatedRepoError, status=403), False,
     "acme/tiny is gated: accept its license on huggingface.co/acme/tiny, then set HF_TOKEN "
     "or run `hf auth login`"),
    (_hub(errors.RepositoryNotFoundError, status=404), False,
     "no model acme/tiny on the Hub (a private one needs a token: set HF_TOKEN or run "
     "`hf auth login`)"),
    (_hub(errors.RevisionNotFoundError, status=404), False,
     "acme/tiny has no revision 'v9'; give a branch, a tag or a commit"),
    (_hub(errors.RemoteEntryNotFoundError, status=404), False, "acme/tiny@v9 has no config.json"),
    (_hub(errors.LocalEntryNotFoundError), True,
     "acme/tiny@v9: config.json is not in the Hugging Face cache and HF_HUB_OFFLINE is set; "
     "run once online or set HF_HUB_OFFLINE=0"),
    (_hub(errors.LocalEntryNotFoundError), False,
     "acme/tiny@v9: cannot reach the Hub and config.json is not in the cache; check the "
     "connection (or HF_ENDPOINT)"),
    (_hub(errors.HfHubHTTPError, status=401), False,
     "acme/tiny: the Hub refused the token (401); set HF_TOKEN or run `hf auth login` with a "
     "valid one"),
    (_hub(errors.HfHubHTTPError, "500 Server Error", status=500), False,
     "acme/tiny@v9: the Hub answered 500 (500 Server Error)"),
    (ConnectionError("Connection refused"), False,
     "acme/tiny@v9: cannot reach the Hub (Connection refused)"),
])
def test_hub_failures_are_one_line(monkeypatch: pytest.MonkeyPatch, raised: Exception,
                                   offline: bool, message: str) -> None:
    def download(*args: Any, **kwargs: Any) -> str:
        assert args == ("acme/tiny", "config.json") and kwargs["revision"] == "v9"
        raise raised

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    with pytest.raises(HubError) as error:
        config_file("acme/tiny@v9")
    assert str(error.value) == message


def test_a_bug_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def download(*args: Any, **kwargs: Any) -> str:
        raise TypeError("a bug")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    with pytest.raises(TypeError, match="a bug"):
        config_file("acme/tiny")


# --- weights' headers from the Hub ---------------------------------------------------------

def _repo_metadata(folder: Path) -> SafetensorsRepoMetadata:
    """What get_safetensors_metadata returns for a folder's files: their JSON headers, read
    here from the files' first bytes."""
    files = {}
    for file in sorted(folder.glob("*.safetensors")):
        raw = file.read_bytes()
        header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
        metadata = header.pop("__metadata__", {})
        files[file.name] = SafetensorsFileMetadata(metadata=metadata, tensors={
            name: TensorInfo(dtype=info["dtype"], shape=info["shape"],
                             data_offsets=tuple(info["data_offsets"]))
            for name, info in header.items()})
    weight_map = {name: file for file, meta in files.items() for name in meta.tensors}
    return SafetensorsRepoMetadata(metadata=None, sharded=len(files) > 1, weight_map=weight_map,
                                   files_metadata=files)


def test_weights_headers_from_the_hub_equal_the_local_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from paramcalc.weights import read

    config = transformers.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64,
                                      num_hidden_layers=2, num_attention_heads=4,
                                      num_key_value_heads=2)
    transformers.LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(
        tmp_path, max_shard_size="20KB")
    found = _repo_metadata(tmp_path)
    asked: list[tuple[str, str | None]] = []

    def metadata(repo: str, *, revision: str | None = None, **kwargs: Any) -> Any:
        asked.append((repo, revision))
        return found

    monkeypatch.setattr(huggingface_hub, "get_safetensors_metadata", metadata)
    checkpoint = weights_headers("acme/tiny-llama@main")
    assert asked == [("acme/tiny-llama", "main")]
    local = read(tmp_path)
    assert checkpoint.tensors == local.tensors
    assert checkpoint.source == "acme/tiny-llama@main"
    assert checkpoint.files == tuple(Path(f).name for f in local.files)

    broken = next(iter(found.files_metadata.values()))
    name, info = next(iter(broken.tensors.items()))
    broken.tensors[name] = TensorInfo(dtype=info.dtype, shape=info.shape,
                                      data_offsets=(info.data_offsets[0],
                                                    info.data_offsets[1] + 2))
    with pytest.raises(CheckpointError, match=f"tensor {name!r} spans"):
        weights_headers("acme/tiny-llama")


@pytest.mark.parametrize(("raised", "message"), [
    (_hub(errors.NotASafetensorsRepoError), "acme/tiny has no safetensors weights (neither "
     "model.safetensors nor model.safetensors.index.json)"),
    (_hub(errors.OfflineModeIsEnabled), "acme/tiny: reading its safetensors weights needs the "
     "Hub and HF_HUB_OFFLINE is set; set HF_HUB_OFFLINE=0, or give the path of a local copy"),
    (_hub(errors.GatedRepoError, status=403), "acme/tiny is gated"),
])
def test_weights_headers_failures(monkeypatch: pytest.MonkeyPatch, raised: Exception,
                                  message: str) -> None:
    def metadata(*args: Any, **kwargs: Any) -> Any:
        raise raised

    monkeypatch.setattr(huggingface_hub, "get_safetensors_metadata", metadata)
    with pytest.raises(HubError) as error:
        weights_headers("acme/tiny")
    assert str(error.value).startswith(message)
    with pytest.raises(CheckpointError, match="unreadable safetensors header"):
        monkeypatch.setattr(huggingface_hub, "get_safetensors_metadata",
                            lambda *a, **k: (_ for _ in ()).throw(
                                _hub(errors.SafetensorsParsingError, "bad JSON")))
        weights_headers("acme/tiny")


@pytest.mark.mutation_skip
def test_count_by_hub_name_from_the_cache(tmp_path: Path) -> None:
    # `paramcalc count --hf ORG/NAME` as a user types it, offline, on Llama 3.1 8B's published
    # config.json laid in a Hub cache: the same count as --hf-config on the file itself
    example = Path(__file__).resolve().parents[1] / "examples" / "llama-3.1-8b" / "config.json"
    _cache(tmp_path, "meta-llama/Llama-3.1-8B", {"config.json": example.read_bytes()},
           {"main": SHA})
    env = {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "paramcalc", "count", "--json"]
    out = subprocess.run([*run, "--hf", "meta-llama/Llama-3.1-8B"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["params"]["total"] == 8_030_261_248
    missing = subprocess.run([*run, "--hf", "meta-llama/Llama-3.1-70B"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stderr.splitlines() == [
        "Error: meta-llama/Llama-3.1-70B: config.json is not in the Hugging Face cache and "
        "HF_HUB_OFFLINE is set; run once online or set HF_HUB_OFFLINE=0"]
    both = subprocess.run([*run, "--hf", "a/b", "--hf-config", str(example)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert both.returncode == 2 and both.stderr.strip() == (
        "Error: give one of --hf-config and --hf, not both")
