"""VGG-style CNNs designed for 48x48 grayscale faces (stacked 3x3 conv + BN + pool + dropout)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fer_video.models._registry import register_model


def _conv_bn_relu(in_chans: int, out_chans: int) -> list[nn.Module]:
    return [nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False), nn.BatchNorm2d(out_chans), nn.ReLU(inplace=True)]


class VGGFer(nn.Module):
    """Stages of ``convs_per_stage`` 3x3 convs, each stage halving the resolution.

    ``forward_features`` returns a ``embed_dim`` vector per face (used by the video GRU);
    ``forward_head`` maps it to class logits.
    """

    def __init__(
        self,
        widths: Sequence[int] = (32, 64, 128, 256),
        convs_per_stage: int = 2,
        embed_dim: int = 256,
        num_classes: int = 7,
        in_chans: int = 1,
        input_size: int = 48,
        drop_rate: float = 0.4,
        stage_drop_rate: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        chans = in_chans
        for width in widths:
            for _ in range(convs_per_stage):
                layers += _conv_bn_relu(chans, width)
                chans = width
            layers += [nn.MaxPool2d(2), nn.Dropout2d(stage_drop_rate) if stage_drop_rate else nn.Identity()]
        self.features = nn.Sequential(*layers)
        spatial = input_size // 2 ** len(widths)
        self.embed = nn.Sequential(
            nn.Flatten(),
            nn.Linear(chans * spatial * spatial, embed_dim, bias=False),
            nn.BatchNorm1d(embed_dim),
            nn.ReLU(inplace=True),
        )
        self.num_features = embed_dim
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(embed_dim, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(self.features(x))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_drop(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def vgg_fer(num_classes: int = 7, in_chans: int = 1, **kwargs) -> VGGFer:
    """Full VGG for 48x48 (widths 64-128-256-512, ~7M params): the standard (default) model."""
    return VGGFer(widths=(64, 128, 256, 512), embed_dim=512, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg_fer_mid(num_classes: int = 7, in_chans: int = 1, **kwargs) -> VGGFer:
    """Three-quarter-width VGG (widths 48-96-192-384, ~4M params, ~265M multiply-adds: 56 % of
    vgg_fer's), pruned from vgg_fer and distilled back: a faster candidate for the default (not shipped)."""
    kwargs.setdefault("widths", (48, 96, 192, 384))
    return VGGFer(embed_dim=384, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg_fer_lean(num_classes: int = 7, in_chans: int = 1, **kwargs) -> VGGFer:
    """vgg_fer with narrower early stages (widths 32-96-256-512, ~6.8M params, ~332M multiply-adds: 70 % of
    vgg_fer's): its 48x48 and 24x24 convolutions cost half of vgg_fer's compute for 4 % of its parameters. Pruned
    from vgg_fer and distilled back: 1,115 int8 crops/s on a 2-core AVX-512 VNNI EPYC (vgg_fer: 761), but behind
    vgg_fer on real video (not shipped)."""
    kwargs.setdefault("widths", (32, 96, 256, 512))
    return VGGFer(embed_dim=512, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg_fer_small(num_classes: int = 7, in_chans: int = 1, **kwargs) -> VGGFer:
    """Compact VGG (widths 32-64-128-256, ~1.8M params; the standard model until 2026-11-28)."""
    kwargs.setdefault("widths", (32, 64, 128, 256))
    return VGGFer(embed_dim=256, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg_fer_fast(num_classes: int = 7, in_chans: int = 1, **kwargs) -> VGGFer:
    """Fast VGG (widths 16-32-64-128, ~0.44M params, a quarter of vgg_fer_small's multiply-adds),
    distilled from the standard model (vgg_fer) for high-throughput CPU inference."""
    kwargs.setdefault("widths", (16, 32, 64, 128))
    return VGGFer(embed_dim=128, num_classes=num_classes, in_chans=in_chans, **kwargs)


@register_model
def vgg_fer_tiny(num_classes: int = 7, in_chans: int = 1, **kwargs) -> VGGFer:
    """Tiny VGG (widths 16-32-64-128, one conv per stage) for tests and quick experiments."""
    return VGGFer(
        widths=(16, 32, 64, 128), convs_per_stage=1, embed_dim=64, num_classes=num_classes, in_chans=in_chans, **kwargs
    )
