"""A model by its Hugging Face Hub name, ``ORG/NAME[@REVISION]``: its ``config.json`` (fetched
alone, through huggingface_hub and its cache) and its weights' safetensors headers (read by
huggingface_hub's range requests: a few kilobytes per shard, never the weights).

huggingface_hub does the rest as its users know it: the cache (``HF_HUB_CACHE``, ``HF_HOME``),
``HF_HUB_OFFLINE=1`` (the cache only), ``HF_TOKEN`` or ``hf auth login`` for gated and private
repositories, and the revision pin (a branch, a tag or a commit). Every failure is one line
saying which it is and what to do (``HubError``); a malformed name is a ``ConfigError``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import CheckpointError, ConfigError, HubError, ParamcalcError, first_line
from .weights import Checkpoint, TensorHeader, tensor_header

# a branch, a tag (refs/pr/1 included) or a commit hash
_REVISION = re.compile(r"^[\w./-]{1,256}$", re.ASCII)
_LOGIN = "set HF_TOKEN or run `hf auth login`"


def parse_name(name: str) -> tuple[str, str | None]:
    """``ORG/NAME[@REVISION]`` → (repo id, revision or None). A malformed name raises
    ``ConfigError``."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    text = name.strip()
    repo, _, revision = text.partition("@")
    try:
        # huggingface_hub's own rule: NAME or ORG/NAME of letters, digits, "-", "_" and ".",
        # at most 96 each, no "--" or "..", not ending in .git
        validate_repo_id(repo)
        valid = repo.isascii() and len(text) <= 400
    except HFValidationError:
        valid = False
    if not valid:
        raise ConfigError(f"malformed Hub model name {text[:100]!r}; write ORG/NAME or "
                          "ORG/NAME@REVISION, e.g. meta-llama/Llama-3.1-8B or "
                          "Qwen/Qwen3-8B@main")
    if "@" in text and (not _REVISION.match(revision) or ".." in revision):
        raise ConfigError(f"malformed revision {revision[:100]!r} in {text[:100]!r}; give a "
                          "branch, a tag or a commit hash after the @")
    return repo, (revision or None)


def config_file(name: str, *, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The local path of the ``config.json`` of the Hub model ``ORG/NAME[@REVISION]``, from
    the cache or downloaded into it (that file alone)."""
    from huggingface_hub import hf_hub_download

    repo, revision = parse_name(name)
    try:
        where = Path(cache_dir) if cache_dir is not None else None
        return Path(hf_hub_download(repo, "config.json", revision=revision, cache_dir=where))
    except Exception as error:  # huggingface_hub's errors, sorted into one line each below
        raise hub_error(error, repo, revision, "config.json") from None


def weights_headers(name: str) -> Checkpoint:
    """The safetensors headers of the Hub model ``ORG/NAME[@REVISION]`` (every shard), read
    with huggingface_hub's ``get_safetensors_metadata``."""
    from huggingface_hub import get_safetensors_metadata

    repo, revision = parse_name(name)
    try:
        found = get_safetensors_metadata(repo, revision=revision)
    except Exception as error:
        raise hub_error(error, repo, revision, "safetensors weights") from None
    shown = _shown(repo, revision)
    tensors: list[TensorHeader] = []
    metadata: dict[str, object] = dict(found.metadata or {})
    files = sorted(found.files_metadata)
    for file in files:
        header = found.files_metadata[file]
        metadata.update(header.metadata or {})
        # in the order of their data in the file, as weights.read gives them
        for tensor_name, info in sorted(header.tensors.items(), key=lambda t: t[1].data_offsets):
            tensor = tensor_header(tensor_name, info.dtype, info.shape, f"{shown} {file}")
            start, end = info.data_offsets
            if end - start != tensor.nbytes:
                raise CheckpointError(f"{shown} {file}: tensor {tensor_name!r} spans "
                                      f"{end - start:,} bytes, not the {tensor.nbytes:,} of its "
                                      "dtype and shape")
            tensors.append(tensor)
    return Checkpoint(shown, "safetensors", tuple(tensors), metadata, tuple(files))


def _shown(repo: str, revision: str | None) -> str:
    return f"{repo}@{revision}" if revision else repo


def hub_error(error: Exception, repo: str, revision: str | None, what: str) -> ParamcalcError:
    """One line for what huggingface_hub raised; an error that is not the Hub's is raised
    again as it was."""
    from huggingface_hub import constants, errors

    shown = _shown(repo, revision)
    if isinstance(error, errors.GatedRepoError):  # before RepositoryNotFoundError: a subclass
        return HubError(f"{repo} is gated: accept its license on huggingface.co/{repo}, then "
                        f"{_LOGIN}")
    if isinstance(error, errors.RepositoryNotFoundError):
        return HubError(f"no model {repo} on the Hub (a private one needs a token: {_LOGIN})")
    if isinstance(error, errors.RevisionNotFoundError):
        return HubError(f"{repo} has no revision {revision!r}; give a branch, a tag or a commit")
    if isinstance(error, errors.DisabledRepoError):
        return HubError(f"{repo} has been disabled on the Hub")
    offline = bool(constants.HF_HUB_OFFLINE)  # read from the environment when imported
    if isinstance(error, errors.OfflineModeIsEnabled):
        return HubError(f"{shown}: reading its {what} needs the Hub and HF_HUB_OFFLINE is set; "
                        "set HF_HUB_OFFLINE=0, or give the path of a local copy")
    if isinstance(error, errors.LocalEntryNotFoundError):
        if offline:
            return HubError(f"{shown}: {what} is not in the Hugging Face cache and HF_HUB_OFFLINE "
                            "is set; run once online or set HF_HUB_OFFLINE=0")
        return HubError(f"{shown}: cannot reach the Hub and {what} is not in the cache; check "
                        "the connection (or HF_ENDPOINT)")
    if isinstance(error, errors.EntryNotFoundError):
        return HubError(f"{shown} has no {what}")
    if isinstance(error, errors.NotASafetensorsRepoError):
        return HubError(f"{shown} has no safetensors weights (neither model.safetensors nor "
                        "model.safetensors.index.json)")
    if isinstance(error, errors.SafetensorsParsingError):
        return CheckpointError(f"{shown}: unreadable safetensors header ({first_line(error)})")
    if isinstance(error, errors.HfHubHTTPError):
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status == 401:
            return HubError(f"{repo}: the Hub refused the token (401); {_LOGIN} with a valid one")
        return HubError(f"{shown}: the Hub answered {status or 'an error'} "
                        f"({first_line(error)})")
    if isinstance(error, (errors.HTTPError, ConnectionError, TimeoutError, OSError)):
        return HubError(f"{shown}: cannot reach the Hub ({first_line(error)})")
    raise error
