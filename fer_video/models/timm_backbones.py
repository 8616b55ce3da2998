"""timm backbones (random init, never downloaded) adapted to 1-channel 48x48 faces.

timm is imported when one of these models is built, not when the registry is: it takes seconds
to import and the shipped CNNs do not need it.
"""

from __future__ import annotations

import torch
from torch import nn

from fer_video.models._registry import register_model


class TimmFer(nn.Module):
    """Wraps a timm model so ``forward_features`` returns the pooled embedding."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_features = backbone.num_features

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.forward_head(self.backbone.forward_features(x), pre_logits=True)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_classifier()(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model
def resnet18(num_classes: int = 7, in_chans: int = 1, **kwargs) -> TimmFer:
    """ResNet-18 with a CIFAR-style stem (3x3 stride-1 conv, no max-pool) for 48x48 input."""
    import timm

    model = timm.create_model("resnet18", pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    model.conv1 = nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return TimmFer(model)


@register_model
def efficientnet_b0(num_classes: int = 7, in_chans: int = 1, **kwargs) -> TimmFer:
    """EfficientNet-B0 with a stride-1 stem, so 48x48 input ends at a 3x3 map."""
    import timm

    model = timm.create_model("efficientnet_b0", pretrained=False, num_classes=num_classes, in_chans=in_chans, **kwargs)
    model.conv_stem.stride = (1, 1)
    return TimmFer(model)


@register_model
def convnext_atto(num_classes: int = 7, in_chans: int = 1, **kwargs) -> TimmFer:
    """ConvNeXt-Atto with a 2x2 patch stem (instead of 4x4), so 48x48 input ends at a 3x3 map."""
    import timm

    model = timm.create_model(
        "convnext_atto", pretrained=False, num_classes=num_classes, in_chans=in_chans, patch_size=2, **kwargs
    )
    return TimmFer(model)
