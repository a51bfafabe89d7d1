"""The accelerator table: memory as the devices report it, dense bf16 peaks, lookups."""

from __future__ import annotations

import pytest

from paramcalc.errors import ConfigError
from paramcalc.gpus import ACCELERATORS, PEAK_TFLOPS, accelerator, names

MIB = 2**20


@pytest.mark.parametrize(("name", "mib"), [
    # nvidia-smi's memory.total on each card, in MiB (sources in paramcalc/gpus.py)
    ("h100", 81559), ("a100", 81920), ("a100-40gb", 40960), ("h200", 143771),
    ("b200", 183359), ("l40s", 46068), ("rtx4090", 24564), ("rtx5090", 32607), ("v100", 32768),
])
def test_memory_is_what_nvidia_smi_reports(name: str, mib: int) -> None:
    assert accelerator(name).memory == mib * MIB


def test_vendor_labels_are_neither_gb_nor_gib() -> None:
    # the "80GB" H100 holds 79.6 GiB = 85.5 GB: below 80 GiB, above 80 GB
    h100 = accelerator("h100")
    assert 80 * 10**9 < h100.memory < 80 * 2**30
    assert h100.nominal == "80 GB"
    assert accelerator("mi300x").memory == 205_822_885_888  # rocm-smi, bytes


def test_the_peaks_compute_py_knew_are_kept() -> None:
    assert {k: PEAK_TFLOPS[k] for k in ("v100", "a100", "h100", "h200", "mi300x")} == {
        "v100": 125.0, "a100": 312.0, "h100": 989.0, "h200": 989.0, "mi300x": 1307.0}
    assert PEAK_TFLOPS["b200"] == 2250.0
    assert accelerator("l40s").peak_flops == 362.05e12


@pytest.mark.parametrize(("spelling", "name"), [
    ("H100", "h100"), ("h100", "h100"), ("H100-80GB", "h100"), ("NVIDIA H100 80GB HBM3", "h100"),
    ("A100 80GB", "a100"), ("a100_40gb", "a100-40gb"), ("RTX 4090", "rtx4090"),
    ("4090", "rtx4090"), ("MI300X", "mi300x"), ("B200", "b200"), ("  h200 ", "h200"),
])
def test_lookup_is_case_insensitive_with_aliases(spelling: str, name: str) -> None:
    assert accelerator(spelling).name == name


def test_unknown_gpu_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as error:
        accelerator("tpu-v5")
    message = str(error.value)
    assert message.startswith("unknown GPU 'tpu-v5'; known: v100, a100-40gb, a100, h100, h200, "
                              "b200, l40s, rtx4090, rtx5090, mi300x")
    assert "--memory" in message


def test_every_entry_names_its_sources() -> None:
    assert names() == tuple(a.name for a in ACCELERATORS)
    for entry in ACCELERATORS:
        assert entry.memory_source and entry.peak_source
        assert 16 * 2**30 < entry.memory < 256 * 2**30
