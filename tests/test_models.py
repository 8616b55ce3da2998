"""Model registry: every registered model maps (B, 1, 48, 48) to an embedding and 7 logits."""

from __future__ import annotations

import pytest
import torch

from fer_video.constants import NUM_CLASSES
from fer_video.models import create_model, list_models


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_registry_lists_the_architectures():
    names = list_models()
    assert {"vgg_fer", "vgg_fer_lean", "vgg_fer_mid", "vgg_fer_small", "vgg_fer_tiny", "resnet18"} <= set(names)
    assert list_models("vgg*") == sorted(n for n in names if n.startswith("vgg"))


@pytest.mark.parametrize("name", list_models())
def test_forward_shapes(name):
    torch.manual_seed(0)
    model = create_model(name).eval()
    batch = torch.randn(2, 1, 48, 48)
    with torch.inference_mode():
        embedding = model.forward_features(batch)
        logits = model.forward_head(embedding)
        full = model(batch)
    assert embedding.shape == (2, model.num_features)
    assert logits.shape == (2, NUM_CLASSES)
    torch.testing.assert_close(full, logits)
    assert torch.isfinite(logits).all()


def test_create_model_unknown_name():
    with pytest.raises(ValueError, match="unknown model 'vgg_huge'; available: .*vgg_fer_tiny"):
        create_model("vgg_huge")


def test_create_model_passes_kwargs():
    model = create_model("vgg_fer_tiny", num_classes=3, drop_rate=0.0)
    assert model.head.out_features == 3 and model.head_drop.p == 0.0
