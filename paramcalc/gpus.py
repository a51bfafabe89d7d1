"""The accelerators paramcalc knows: each one's memory and its dense bf16 peak, with sources.

**Memory** is the capacity the device reports, in bytes: nvidia-smi's ``memory.total``
(MiB × 2**20) for NVIDIA, rocm-smi's ``VRAM Total Memory (B)`` for AMD. That is what an
allocator can hand out before the runtime's own context, and neither kind of gigabyte the
label prints: NVIDIA's "80GB" H100 reports 81,559 MiB = 79.6 GiB = 85.5 GB, its "141GB" H200
143,771 MiB = 140.4 GiB. The vendors' labels are close to GiB less what ECC and the firmware
keep, so the label (``nominal``) is kept only for display. A card that reports another figure
(another driver, ECC off, a MIG slice) is given with ``--memory`` instead.

**Peak** is dense (no 2:4 sparsity) bf16 tensor-core TFLOP/s with fp32 accumulation, from
the vendors' data sheets and architecture white papers; the V100 has no bf16 tensor cores and
gives its fp16 figure. The figures of the five names ``compute.py`` knew (v100 125, a100 312,
h100 989, h200 989, mi300x 1307) are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError

_MIB = 2**20


@dataclass(frozen=True)
class Accelerator:
    """One accelerator model: what it holds and how fast it multiplies."""

    name: str            # the canonical key, lower case: "h100"
    label: str           # as the vendor names it: "NVIDIA H100 SXM 80GB"
    nominal: str         # the vendor's capacity label: "80 GB"
    memory: int          # bytes the device reports (see the module docstring)
    peak_tflops: float   # dense bf16 tensor TFLOP/s (fp16 for the V100)
    memory_source: str   # where the reported capacity was read
    peak_source: str     # where the peak comes from
    aliases: tuple[str, ...] = ()

    @property
    def peak_flops(self) -> float:
        """The peak in FLOP/s."""
        return self.peak_tflops * 1e12


_SMI = "nvidia-smi memory.total"
ACCELERATORS: tuple[Accelerator, ...] = (
    Accelerator("v100", "NVIDIA Tesla V100 SXM2 32GB", "32 GB", 32768 * _MIB, 125.0,
                f"{_SMI} 32768MiB (Tesla V100-SXM2-32GB, github.com/Wan-Video/Wan2.1/issues/5)",
                "NVIDIA V100 data sheet: 125 TFLOPS fp16 tensor (no bf16 on Volta)",
                ("v100-32gb", "v100-sxm2-32gb", "tesla-v100")),
    Accelerator("a100-40gb", "NVIDIA A100 40GB", "40 GB", 40960 * _MIB, 312.0,
                f"{_SMI} 40960MiB (github.com/modal-labs/modal-client/pull/2797)",
                "NVIDIA A100 data sheet: 312 TFLOPS bf16 dense",
                ("a100-40", "a100-sxm4-40gb", "a100-pcie-40gb")),
    Accelerator("a100", "NVIDIA A100 80GB", "80 GB", 81920 * _MIB, 312.0,
                f"{_SMI} 81920MiB (github.com/modal-labs/modal-client/pull/2797)",
                "NVIDIA A100 data sheet: 312 TFLOPS bf16 dense",
                ("a100-80gb", "a100-80", "a100-sxm4-80gb", "a100-pcie-80gb")),
    Accelerator("h100", "NVIDIA H100 SXM 80GB", "80 GB", 81559 * _MIB, 989.0,
                f"{_SMI} 81559MiB (NVIDIA H100 80GB HBM3, github.com/NVIDIA/nccl/issues/1264, "
                "github.com/modal-labs/modal-client/pull/2797)",
                "NVIDIA H100 data sheet: 1,979 TFLOPS bf16 with sparsity, 989 dense",
                ("h100-80gb", "h100-sxm", "h100-sxm5", "h100-80gb-hbm3")),
    Accelerator("h200", "NVIDIA H200 SXM 141GB", "141 GB", 143771 * _MIB, 989.0,
                f"{_SMI} 143771MiB (NVIDIA H200, in published nvidia-smi logs)",
                "NVIDIA H200 data sheet: 1,979 TFLOPS bf16 with sparsity, 989 dense",
                ("h200-141gb", "h200-sxm")),
    Accelerator("b200", "NVIDIA B200 180GB", "180 GB", 183359 * _MIB, 2250.0,
                f"{_SMI} 183359MiB (NVIDIA B200, github.com/NVIDIA/TensorRT-LLM/issues/10278); "
                "192 GB of HBM3e are fitted, 180 GB usable (DGX B200: 1,440 GB for 8)",
                "NVIDIA HGX B200 data sheet: 4.5 PFLOPS bf16 with sparsity, 2.25 dense "
                "(torchao's roofline table: bf16 2.25e15)",
                ("b200-180gb", "b200-192gb", "b200-sxm")),
    Accelerator("l40s", "NVIDIA L40S 48GB", "48 GB", 46068 * _MIB, 362.05,
                f"{_SMI} 46068MiB (github.com/modal-labs/modal-client/pull/2797)",
                "NVIDIA L40S data sheet: 362.05 TFLOPS bf16 dense, 733 with sparsity",
                ("l40s-48gb",)),
    Accelerator("rtx4090", "NVIDIA GeForce RTX 4090 24GB", "24 GB", 24564 * _MIB, 165.2,
                f"{_SMI} 24564MiB (github.com/RLinf/RLinf/issues/255)",
                "NVIDIA Ada Lovelace white paper: 165.2 TFLOPS bf16 with fp32 accumulate, dense",
                ("4090", "rtx-4090", "geforce-rtx-4090", "rtx4090-24gb")),
    Accelerator("rtx5090", "NVIDIA GeForce RTX 5090 32GB", "32 GB", 32607 * _MIB, 209.5,
                f"{_SMI} 32607MiB (github.com/noonghunna/club-3090/issues/617)",
                "NVIDIA Blackwell (GeForce) white paper: 209.5 TFLOPS bf16 with fp32 "
                "accumulate, dense",
                ("5090", "rtx-5090", "geforce-rtx-5090", "rtx5090-32gb")),
    Accelerator("mi300x", "AMD Instinct MI300X 192GB", "192 GB", 205_822_885_888, 1307.0,
                "rocm-smi --showmeminfo vram: VRAM Total Memory (B) 205822885888 (hipDevice "
                "totalGlobalMem reports the same)",
                "AMD Instinct MI300X data sheet: 1,307.4 TFLOPS bf16 dense",
                ("mi300x-192gb", "instinct-mi300x")),
)


def _key(name: str) -> str:
    """A name as looked up: lower case, spaces and underscores as hyphens."""
    return "-".join(name.strip().lower().replace("_", " ").split())


#: every accepted spelling → its accelerator
_BY_NAME: dict[str, Accelerator] = {
    _key(spelling): accelerator
    for accelerator in ACCELERATORS
    for spelling in (accelerator.name, *accelerator.aliases)
}

#: the dense bf16 peak TFLOP/s per canonical name, in the shape compute.GPUS has
PEAK_TFLOPS: dict[str, float] = {a.name: a.peak_tflops for a in ACCELERATORS}


def names() -> tuple[str, ...]:
    """The canonical names, in table order."""
    return tuple(a.name for a in ACCELERATORS)


def accelerator(name: str) -> Accelerator:
    """The accelerator called ``name`` (case-insensitive: ``H100``, ``h100-80gb``, ``A100 80GB``).

    An unknown name raises ``ConfigError`` listing the known ones."""
    found = _BY_NAME.get(_key(name)) or _BY_NAME.get(_key(name).replace("nvidia-", "", 1))
    if found is None:
        raise ConfigError(f"unknown GPU {name.strip()[:40]!r}; known: {', '.join(names())} "
                          "(or give --memory, e.g. --memory 24GiB)")
    return found
