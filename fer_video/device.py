"""Device selection shared by every entry point.

:func:`resolve_device_name` answers ``auto`` without importing PyTorch on a machine with no GPU
driver (where PyTorch could not find a GPU either), so the ONNX Runtime path starts without it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: Device files present wherever a GPU driver PyTorch could use is loaded: NVIDIA (CUDA), the
#: Windows Subsystem for Linux's GPU bridge, AMD's ROCm (which PyTorch also calls ``cuda``).
GPU_DRIVER_FILES: tuple[str, ...] = ("/dev/nvidiactl", "/proc/driver/nvidia/version", "/dev/dxg", "/dev/kfd")


def gpu_driver_present() -> bool:
    """A GPU driver is loaded on this machine (PyTorch may then find a CUDA device)."""
    return any(os.path.exists(path) for path in GPU_DRIVER_FILES)


def resolve_device_name(name: str | torch.device | None = "auto") -> str:
    """``cpu`` or ``cuda[:N]`` for ``name`` (see :func:`resolve_device`); ``auto`` and ``cpu`` import
    no PyTorch where there is no GPU driver."""
    if name in (None, "", "auto") and not gpu_driver_present():
        return "cpu"
    if name == "cpu":
        return "cpu"
    return str(resolve_device(name))


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda[:N]``; clear error if CUDA is missing."""
    import torch

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
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")  # private torch.cpu helpers (torch >= 2.3)
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def use_bf16_autocast(device: torch.device, cuda_amp: bool, cpu_bf16: bool) -> bool:
    """Whether training on ``device`` runs under bf16 autocast: on CUDA when ``cuda_amp``, on the
    CPU when ``cpu_bf16`` and the CPU has native bf16 units."""
    if device.type == "cuda":
        return cuda_amp
    return device.type == "cpu" and cpu_bf16 and cpu_has_native_bf16()
