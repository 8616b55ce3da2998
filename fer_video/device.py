"""Device selection shared by every entry point."""

from __future__ import annotations

import torch


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``; clear error if CUDA is missing."""
    if isinstance(name, torch.device):
        return name
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA device is available")
    return device


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bf16 in hardware (AMX tiles or AVX512-BF16), where bf16 autocast
    speeds convolutions up instead of emulating them."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private torch.cpu helpers (torch >= 2.3)
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def use_bf16_autocast(device: torch.device, cuda_amp: bool, cpu_bf16: bool) -> bool:
    """Whether training on ``device`` runs under bf16 autocast: on CUDA when ``cuda_amp``, on the
    CPU when ``cpu_bf16`` and the CPU has native bf16 units."""
    if device.type == "cuda":
        return cuda_amp
    return device.type == "cpu" and cpu_bf16 and cpu_has_native_bf16()
