"""scripts/bench_widths.py: its multiply-add count and its argument checks."""

import sys
from pathlib import Path

import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import bench_widths  # noqa: E402


def hooked_multiply_adds(model: nn.Module) -> int:
    """Multiply-adds of one 48x48 crop through the model's convolutions and embedding layer, from their outputs."""
    total = 0

    def count(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            per_output = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
            total += output[0].numel() * per_output
        elif module is model.embed[1]:
            total += module.in_features * module.out_features

    handles = [module.register_forward_hook(count) for module in model.modules()]
    with torch.inference_mode():
        model.eval()(torch.zeros(1, 1, 48, 48))
    for handle in handles:
        handle.remove()
    return total


@pytest.mark.parametrize("widths", [(64, 128, 256, 512), (32, 96, 256, 512), (48, 96, 192, 384)])
def test_multiply_adds_match_the_model(widths):
    assert bench_widths.multiply_adds(widths) == hooked_multiply_adds(bench_widths.random_model(widths))


def test_widths_are_parsed_and_checked():
    assert bench_widths.parse_widths("32-96-256-512") == (32, 96, 256, 512)
    for bad in ("32-96-256", "a-b-c-d", "32-0-256-512"):
        with pytest.raises(SystemExit, match="error"):
            bench_widths.parse_widths(bad)


def test_int8_gemm_rate_counts_multiply_adds_per_second():
    import argparse

    args = argparse.Namespace(threads=1, seconds=0.05, repeats=2)
    rate = bench_widths.int8_gemm_rate(args, size=64)
    assert 1e6 < rate < 1e14  # 64^3 multiply-adds in well under a second, on any CPU
