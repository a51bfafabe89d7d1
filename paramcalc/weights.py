"""Checkpoint headers: what a published checkpoint holds, tensor by tensor (name, shape, dtype,
bytes), read from its headers without loading a weight.

- a ``.safetensors`` file, through ``safetensors.safe_open`` (numpy framework: no torch). The
  library bounds the header (100 MB) and checks it before reading, and refuses a file its
  tensors do not exactly cover, so a file's size is 8 + its header + the tensors' bytes.
- a sharded folder with ``model.safetensors.index.json``: every shard it names, checked
  against its weight map.
- a ``.gguf`` file, through the ``gguf`` package's ``GGUFReader`` (a memory map: nothing is
  read that is not asked for), with its key-value metadata (``general.architecture``,
  ``{arch}.block_count``, ``{arch}.embedding_length``…).

Shapes are in torch's order, outermost first (GGUF stores them innermost first). ``params``
counts the elements stored: a packed tensor (gpt-oss' MXFP4 ``*_blocks`` in U8, GPTQ's
``qweight`` in I32) counts its bytes or words, not the weights they pack. Anything unreadable
(truncated, garbage, oversized) raises ``CheckpointError`` with one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from pathlib import Path
from typing import Any, Literal, Mapping

from .errors import CheckpointError, ConfigError, first_line

#: bits per element of every safetensors dtype (safetensors' Dtype enum)
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "U16": 16, "I16": 16, "U32": 32, "I32": 32, "U64": 64, "I64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
    "F16": 16, "BF16": 16, "F32": 32, "F64": 64, "C64": 64,
}
#: the largest index or header paramcalc reads: safetensors' own limit on a header
MAX_HEADER = 100_000_000
INDEX = "model.safetensors.index.json"
#: a GGUF array longer than this is given by its type and length, not its values
MAX_ARRAY = 1024


@dataclass(frozen=True)
class TensorHeader:
    """One tensor as the checkpoint's header describes it."""

    name: str
    shape: tuple[int, ...]  # torch's order, outermost first
    dtype: str              # safetensors' ("BF16", "F8_E4M3") or GGUF's ("Q4_0", "F16") name
    nbytes: int             # bytes of its data in the file
    params: int             # elements stored (the product of the shape)


@dataclass(frozen=True)
class GGUFArray:
    """A GGUF metadata array too long to copy (a tokenizer's vocabulary): its type and length."""

    type: str
    length: int


#: side tensors of quantized checkpoints (scales, zero points, group indices, quantization
#: state): a suffix → the suffix of the tensor it serves. Its bytes are that tensor's; it
#: holds no parameters of the model. fp8 (DeepSeek-V3's weight_scale_inv, compressed-tensors'
#: weight_scale and input_scale), GPTQ and AWQ (qzeros, scales, g_idx beside qweight),
#: bitsandbytes 4-bit (absmax, quant_map, nested_* and quant_state beside weight), MXFP4
#: (gpt-oss: *_scales beside *_blocks)
SIDES: tuple[tuple[str, str], ...] = (
    (".weight_scale_inv", ".weight"), (".weight_scale", ".weight"), (".input_scale", ".weight"),
    (".weight_zero_point", ".weight"), (".qzeros", ".qweight"), (".scales", ".qweight"),
    (".g_idx", ".qweight"), (".weight.absmax", ".weight"), (".weight.quant_map", ".weight"),
    (".weight.nested_absmax", ".weight"), (".weight.nested_quant_map", ".weight"),
    (".weight.quant_state.bitsandbytes__nf4", ".weight"),
    (".weight.quant_state.bitsandbytes__fp4", ".weight"), ("_scales", "_blocks"))
#: packed tensors: (suffix, stored dtype, a side that shows it is packed, weights per stored
#: element, the logical suffix, the format's name). GPTQ and AWQ are read as 4-bit (eight
#: weights to an int32), what their config.json's bits says for nearly every checkpoint.
PACKED: tuple[tuple[str, str, str, int, str, str], ...] = (
    ("_blocks", "U8", "_scales", 2, "", "MXFP4"),
    (".qweight", "I32", ".scales", 8, ".weight", "INT4 (GPTQ/AWQ)"),
    (".weight", "U8", ".weight.quant_state.bitsandbytes__nf4", 2, ".weight", "NF4"),
    (".weight", "U8", ".weight.quant_state.bitsandbytes__fp4", 2, ".weight", "FP4"),
)


def fold(tensors: tuple[TensorHeader, ...]) -> tuple[TensorHeader, ...]:
    """A quantized checkpoint's tensors as the weights they store: each packed tensor
    unpacked to its weights (under its logical name), each side tensor's bytes added to the
    tensor it serves. A side whose tensor is absent, and everything else, is left as it is."""
    by_name = {t.name: t for t in tensors}
    served: dict[str, list[TensorHeader]] = {}
    for t in tensors:
        for suffix, main in SIDES:
            if t.name.endswith(suffix) and t.name[:-len(suffix)] + main in by_name:
                served.setdefault(t.name[:-len(suffix)] + main, []).append(t)
                break
    sides = {side.name for group in served.values() for side in group}
    out = []
    for t in tensors:
        if t.name in sides:
            continue
        extra = served.get(t.name, [])
        name, dtype, params, shape = t.name, t.dtype, t.params, t.shape
        for suffix, stored, marker, per, logical, label in PACKED:
            stem = t.name[:-len(suffix)]
            if t.name.endswith(suffix) and t.dtype == stored and stem + marker in by_name:
                name, dtype, params = stem + logical, label, t.params * per
                shape = (*t.shape[:-1], t.shape[-1] * per)
                break
        if extra or name != t.name or params != t.params:
            t = TensorHeader(name, shape, dtype, t.nbytes + sum(x.nbytes for x in extra), params)
        out.append(t)
    return tuple(out)


@dataclass(frozen=True)
class Checkpoint:
    """The tensors of a checkpoint, and the metadata its headers carry. A quantized
    checkpoint's packed and side tensors are folded into the weights they store (``fold``)."""

    source: str                              # the path (or Hub name) read
    format: Literal["safetensors", "gguf"]
    tensors: tuple[TensorHeader, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()              # the files read, in order
    header_bytes: int | None = None          # GGUF: bytes before the first tensor's data

    def __post_init__(self) -> None:
        if self.format == "safetensors":
            object.__setattr__(self, "tensors", fold(tuple(self.tensors)))

    @property
    def params(self) -> int:
        """Elements stored, over every tensor."""
        return sum(t.params for t in self.tensors)

    @property
    def nbytes(self) -> int:
        """Bytes of tensor data, over every tensor."""
        return sum(t.nbytes for t in self.tensors)

    @property
    def bits_per_weight(self) -> Fraction:
        """Bits of data per stored element, exactly."""
        return Fraction(8 * self.nbytes, self.params) if self.params else Fraction(0)

    @property
    def architecture(self) -> str | None:
        """A GGUF file's ``general.architecture`` (``llama``, ``qwen2``…), else None."""
        value = self.metadata.get("general.architecture")
        return value if isinstance(value, str) else None


def read(path: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint at ``path``: a .safetensors or .gguf file, an index.json, or a folder
    holding ``model.safetensors.index.json``, ``model.safetensors`` or one .gguf file."""
    where = Path(path)
    if where.is_dir():
        if (where / INDEX).is_file():
            return read_sharded(where / INDEX)
        if (where / "model.safetensors").is_file():
            return read_safetensors(where / "model.safetensors")
        ggufs = sorted(where.glob("*.gguf"))
        if len(ggufs) == 1:
            return read_gguf(ggufs[0])
        found = f"{len(ggufs)} .gguf files" if ggufs else "neither"
        raise CheckpointError(f"{where}: no checkpoint found (wanted {INDEX}, model.safetensors "
                              f"or one .gguf file; found {found})")
    if not where.is_file():
        raise CheckpointError(f"{where}: no such file or folder")
    if where.name.endswith(".index.json"):
        return read_sharded(where)
    if where.suffix == ".gguf":
        return read_gguf(where)
    if where.suffix == ".safetensors":
        return read_safetensors(where)
    raise CheckpointError(f"{where}: not a checkpoint paramcalc reads (.safetensors, "
                          ".safetensors.index.json or .gguf)")


def tensor_header(name: str, dtype: str, shape: list[int] | tuple[int, ...],
                  where: str) -> TensorHeader:
    """A safetensors tensor's header, its bytes from its dtype and shape."""
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        raise CheckpointError(f"{where}: tensor {name!r} has dtype {dtype!r}, which paramcalc "
                              f"does not know; known: {', '.join(DTYPE_BITS)}")
    dims = tuple(int(size) for size in shape)
    elements = prod(dims)
    nbytes = Fraction(elements * bits, 8)
    if nbytes.denominator != 1:
        raise CheckpointError(f"{where}: tensor {name!r} ({dtype}, shape {list(dims)}) does not "
                              "fill whole bytes")
    return TensorHeader(name, dims, dtype, int(nbytes), elements)


def _shard_tensors(path: Path) -> tuple[list[TensorHeader], dict[str, str]]:
    """The tensors of one .safetensors file and its ``__metadata__``."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = []
            # in the order of their data in the file (older safetensors: by name)
            for name in getattr(handle, "offset_keys", handle.keys)():
                view = handle.get_slice(name)
                tensors.append(tensor_header(name, view.get_dtype(), view.get_shape(), str(path)))
    except SafetensorError as error:
        raise CheckpointError(f"{path}: not a readable safetensors file "
                              f"({first_line(error)})") from None
    except OSError as error:
        raise CheckpointError(f"{path}: cannot be read ({first_line(error)})") from None
    return tensors, metadata


def read_safetensors(path: str | os.PathLike[str]) -> Checkpoint:
    """The tensors of one .safetensors file, with its ``__metadata__``."""
    where = Path(path)
    tensors, metadata = _shard_tensors(where)
    return Checkpoint(str(where), "safetensors", tuple(tensors), metadata, (str(where),))


def read_sharded(index: str | os.PathLike[str]) -> Checkpoint:
    """The tensors of every shard a ``model.safetensors.index.json`` names, shard by shard in
    the order of their names."""
    where = Path(index)
    if not where.is_file():
        raise CheckpointError(f"{where}: no such file")
    if where.stat().st_size > MAX_HEADER:  # checked before a byte is read
        raise CheckpointError(f"{where}: an index of {where.stat().st_size:,} bytes is larger "
                              f"than {MAX_HEADER:,}: not a safetensors index")
    try:
        parsed = json.loads(where.read_bytes())
    except (ValueError, OSError) as error:
        raise CheckpointError(f"{where}: not a readable index ({first_line(error)})") from None
    weight_map = parsed.get("weight_map") if isinstance(parsed, dict) else None
    if not isinstance(weight_map, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise CheckpointError(f"{where}: no weight_map of tensor names to shard files")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if Path(shard).name != shard or shard in ("", ".", ".."):
            raise CheckpointError(f"{where}: shard {shard[:80]!r} is not a file beside the index")
    tensors: list[TensorHeader] = []
    metadata: dict[str, Any] = {}
    for shard in shards:
        held, shard_metadata = _shard_tensors(where.parent / shard)
        names = {t.name for t in held}
        missing = [name for name, file in weight_map.items() if file == shard and name not in names]
        stray = [t.name for t in held if weight_map.get(t.name) != shard]
        if missing or stray:
            wrong = (f"names {missing[0]!r} in {shard}, which does not hold it" if missing else
                     f"does not name {stray[0]!r}, which {shard} holds")
            raise CheckpointError(f"{where}: the index {wrong}")
        tensors.extend(held)
        metadata.update(shard_metadata)
    index_metadata = parsed.get("metadata")
    if isinstance(index_metadata, dict):
        metadata.update(index_metadata)
    return Checkpoint(str(where.parent), "safetensors", tuple(tensors), metadata,
                      tuple(str(where.parent / shard) for shard in shards))


def read_gguf(path: str | os.PathLike[str]) -> Checkpoint:
    """The tensors and the key-value metadata of a GGUF file."""
    from gguf import GGUFReader, GGUFValueType

    from .quant import gguf_format, tensor_nbytes

    where = Path(path)
    if not where.is_file():
        raise CheckpointError(f"{where}: no such file")
    try:
        reader = GGUFReader(where)
        metadata: dict[str, Any] = {}
        for key, entry in reader.fields.items():
            if entry.types and entry.types[0] == GGUFValueType.ARRAY:
                kind = entry.types[-1].name
                metadata[key] = (tuple(entry.contents()) if len(entry.data) <= MAX_ARRAY
                                 else GGUFArray(kind, len(entry.data)))
            else:
                metadata[key] = entry.contents()
        tensors = []
        for tensor in reader.tensors:
            shape = tuple(int(size) for size in reversed(tensor.shape))
            kind = tensor.tensor_type.name
            nbytes = tensor_nbytes(gguf_format(kind), shape, f"tensor {tensor.name!r}")
            tensors.append(TensorHeader(tensor.name, shape, kind, nbytes, int(tensor.n_elements)))
        header = int(reader.data_offset)
    except ConfigError as error:  # a shape its type cannot store
        raise CheckpointError(f"{where}: {error}") from None
    except (ValueError, IndexError, KeyError, TypeError, OverflowError, OSError) as error:
        raise CheckpointError(f"{where}: not a readable GGUF file ({first_line(error)})") from None
    return Checkpoint(str(where), "gguf", tuple(tensors), metadata, (str(where),), header)
