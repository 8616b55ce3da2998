"""What this CPU can do, as the operating system reports it (instruction-set flags, never its name)."""

from __future__ import annotations

import os
import platform

#: Flags of int8 dot-product instructions, which make int8 inference fast: x86 AVX-512 VNNI,
#: AVX-VNNI and AMX-INT8; Arm's dot product (``asimddp``) and int8 matrix multiply (``i8mm``).
INT8_DOT_PRODUCT_FLAGS: tuple[str, ...] = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")

#: Per architecture, the flags that choose fast paths here (vector width, int8 and bf16 dot
#: products, matrix units): named, present or absent, beside every speed figure.
SPEED_FLAGS: dict[str, tuple[str, ...]] = {
    "x86_64": ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"),
    "aarch64": ("asimd", "asimddp", "i8mm", "bf16", "sve"),
}


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The instruction-set flags in the text of ``/proc/cpuinfo`` (``flags`` on x86, ``Features`` on Arm)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.split())
    return frozenset()


def cpu_flags(cpuinfo_path: str = "/proc/cpuinfo") -> frozenset[str]:
    """This CPU's instruction-set flags (empty where the OS does not publish them)."""
    try:
        with open(cpuinfo_path, encoding="utf-8", errors="replace") as handle:
            return parse_cpu_flags(handle.read())
    except OSError:
        return frozenset()


def int8_dot_product_flags(flags: frozenset[str]) -> tuple[str, ...]:
    """Those of :data:`INT8_DOT_PRODUCT_FLAGS` that ``flags`` holds."""
    return tuple(flag for flag in INT8_DOT_PRODUCT_FLAGS if flag in flags)


def speed_flags(flags: frozenset[str], architecture: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Those of ``architecture``'s :data:`SPEED_FLAGS` that ``flags`` holds, and those it lacks."""
    names = SPEED_FLAGS.get(architecture, ())
    return tuple(n for n in names if n in flags), tuple(n for n in names if n not in flags)


def describe_speed_flags(flags: frozenset[str] | None = None, architecture: str | None = None) -> str:
    """E.g. ``CPU features: avx2, fma; without avx512f, ...`` (this CPU unless told otherwise)."""
    present, absent = speed_flags(cpu_flags() if flags is None else flags, architecture or cpu_architecture())
    if not present and not absent:
        return "CPU features: not known here"
    return f"CPU features: {', '.join(present) or 'none of those listed'}; without {', '.join(absent) or '-'}"


def cpu_architecture() -> str:
    """``x86_64``, ``aarch64``, ..."""
    return platform.machine() or "unknown"


def default_threads() -> int:
    """Intra-op threads when none are asked for: ``$OMP_NUM_THREADS`` when set (as PyTorch reads
    it), else one per CPU this process may run on."""
    try:
        asked = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        asked = 0
    if asked > 0:
        return asked
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
