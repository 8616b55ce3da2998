"""The MTCNN networks and box arithmetic rebuilt without torchvision (in NumPy, and in ONNX Runtime)
compute what facenet-pytorch's and torchvision's versions compute (imported here only to compare)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_video.faces import boxes
from fer_video.faces.mtcnn_nets import load_mtcnn_nets
from fer_video.faces.mtcnn_runtime import NET_NAMES, load_mtcnn_runtime


def random_boxes(rng: np.random.Generator, count: int) -> np.ndarray:
    corners = rng.uniform(0, 200, (count, 2))
    sides = rng.uniform(1, 60, (count, 2))
    return np.concatenate([corners, corners + sides], axis=1).astype(np.float32)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_keeps_what_torchvision_keeps(seed, threshold):
    from torchvision.ops import batched_nms, nms

    rng = np.random.default_rng(seed)
    found = random_boxes(rng, 400)
    scores = rng.uniform(0, 1, 400).round(2).astype(np.float32)  # rounded: ties happen
    groups = rng.integers(0, 3, 400)
    expected = batched_nms(*map(torch.from_numpy, (found, scores, groups)), threshold).numpy()
    assert np.array_equal(boxes.batched_nms(found, scores, groups, threshold), expected)
    assert np.array_equal(boxes.nms(found, scores, threshold), nms(torch.from_numpy(found), torch.from_numpy(scores), threshold).numpy())
    empty = np.zeros((0, 4), np.float32)
    assert len(boxes.batched_nms(empty, np.zeros(0, np.float32), np.zeros(0, np.int64), threshold)) == 0


def test_box_arithmetic_matches_facenet_pytorch():
    from facenet_pytorch.models.utils.detect_face import batched_nms_numpy, bbreg, generateBoundingBox, rerec

    generator = torch.Generator().manual_seed(0)
    regression = torch.randn(2, 4, 30, 40, generator=generator)
    probs = torch.rand(2, 30, 40, generator=generator)
    for got, expected in zip(
        boxes.generate_boxes(regression.numpy(), probs.numpy(), 0.3, 0.6), generateBoundingBox(regression, probs, 0.3, 0.6)
    ):
        assert np.array_equal(got, expected.numpy())
    found = torch.cat([torch.from_numpy(random_boxes(np.random.default_rng(1), 50)), torch.rand(50, 1, generator=generator)], dim=1)
    offsets = torch.randn(50, 4, generator=generator) * 0.1
    assert np.array_equal(boxes.bbreg(found.numpy(), offsets.numpy()), bbreg(found.clone(), offsets).numpy())
    assert np.array_equal(boxes.rerec(found.numpy()), rerec(found.clone()).numpy())
    groups = torch.tensor(np.random.default_rng(2).integers(0, 2, 50))
    expected = batched_nms_numpy(found[:, :4], found[:, 4], groups, 0.7, "Min").numpy()
    assert np.array_equal(boxes.batched_nms_min(found[:, :4].numpy(), found[:, 4].numpy(), groups.numpy(), 0.7), expected)


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


def test_onnx_networks_compute_what_the_pytorch_ones_compute(tmp_path, monkeypatch):
    """The CPU runtime's ONNX exports (made here into an empty cache) against the PyTorch modules,
    P-net on two image sizes (its input size is free)."""
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path))
    exported = load_mtcnn_runtime("cpu")
    assert {path.name.split(".")[1] for path in (tmp_path / "onnx").iterdir()} == {f"mtcnn_{n}" for n in NET_NAMES}
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        for net, module, sizes in zip(exported, load_mtcnn_nets("cpu"), ([(57, 80), (23, 31)], [(24, 24)], [(48, 48)])):
            for height, width in sizes:
                batch = rng.standard_normal((3, 3, height, width)).astype(np.float32)
                for got, expected in zip(net(batch), module(torch.from_numpy(batch))):
                    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-5)
