"""The MTCNN networks and box arithmetic rebuilt without torchvision compute what facenet-pytorch's
and torchvision's versions compute (they are imported here only to compare)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_video.faces import boxes
from fer_video.faces.mtcnn_nets import load_mtcnn_nets


def random_boxes(rng: np.random.Generator, count: int) -> torch.Tensor:
    corners = rng.uniform(0, 200, (count, 2))
    sides = rng.uniform(1, 60, (count, 2))
    return torch.tensor(np.concatenate([corners, corners + sides], axis=1), dtype=torch.float32)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_keeps_what_torchvision_keeps(seed, threshold):
    from torchvision.ops import batched_nms, nms

    rng = np.random.default_rng(seed)
    found = random_boxes(rng, 400)
    scores = torch.tensor(rng.uniform(0, 1, 400).round(2), dtype=torch.float32)  # rounded: ties happen
    groups = torch.tensor(rng.integers(0, 3, 400))
    expected = batched_nms(found, scores, groups, threshold)
    assert torch.equal(boxes.batched_nms(found, scores, groups, threshold), expected)
    assert np.array_equal(boxes.nms(found.numpy(), scores.numpy(), threshold), nms(found, scores, threshold).numpy())
    empty = torch.zeros((0, 4))
    assert len(boxes.batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), threshold)) == 0


def test_box_arithmetic_matches_facenet_pytorch():
    from facenet_pytorch.models.utils.detect_face import batched_nms_numpy, bbreg, generateBoundingBox, rerec

    generator = torch.Generator().manual_seed(0)
    regression = torch.randn(2, 4, 30, 40, generator=generator)
    probs = torch.rand(2, 30, 40, generator=generator)
    for got, expected in zip(
        boxes.generate_boxes(regression, probs, 0.3, 0.6), generateBoundingBox(regression, probs, 0.3, 0.6)
    ):
        assert torch.equal(got, expected)
    found = torch.cat([random_boxes(np.random.default_rng(1), 50), torch.rand(50, 1, generator=generator)], dim=1)
    offsets = torch.randn(50, 4, generator=generator) * 0.1
    assert torch.equal(boxes.bbreg(found, offsets), bbreg(found.clone(), offsets))
    assert torch.equal(boxes.rerec(found), rerec(found.clone()))
    groups = torch.tensor(np.random.default_rng(2).integers(0, 2, 50))
    expected = batched_nms_numpy(found[:, :4], found[:, 4], groups, 0.7, "Min")
    assert torch.equal(boxes.batched_nms_min(found[:, :4], found[:, 4], groups, 0.7), expected)


def test_networks_match_facenet_pytorch():
    from facenet_pytorch import MTCNN

    reference = MTCNN(device="cpu").eval()
    ours = load_mtcnn_nets(torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for net, theirs, size in zip(ours, (reference.pnet, reference.rnet, reference.onet), (57, 24, 48)):
            batch = torch.randn(3, 3, size, size, generator=generator)
            for got, expected in zip(net(batch), theirs(batch)):
                assert torch.equal(got, expected)
