"""The video/photo augmentations: shapes, ranges, seeding, per-sample randomness, and the
degradations' own behaviour (JPEG against libjpeg, blurs that keep flat images flat)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fer_video import degradations
from fer_video.train.config import TrainConfig
from fer_video.transforms import AugmentConfig, PreprocessConfig, TrainAugment

#: The standard augmentation switched off, so a test sees only the one it turns on.
PLAIN = dict(rotation_deg=0, scale=0, translate=0, flip_prob=0, brightness=0, contrast=0, erasing_prob=0)

#: Each new augmentation forced on (p = 1 where it has a probability).
FORCED = {
    "shear": dict(shear_deg=15.0),
    "perspective": dict(perspective=0.1),
    "framing": dict(framing_prob=1.0),
    "occlusion": dict(occlusion_prob=1.0),
    "gamma": dict(gamma_prob=1.0),
    "motion_blur": dict(motion_blur_prob=1.0),
    "defocus": dict(defocus_prob=1.0),
    "downscale": dict(downscale_prob=1.0),
    "noise": dict(noise_prob=1.0),
    "jpeg": dict(jpeg_prob=1.0),
    "video": dict(video_prob=1.0),
}
PREPROCESS = PreprocessConfig()
LOW, HIGH = (0 - PREPROCESS.mean) / PREPROCESS.std, (1 - PREPROCESS.mean) / PREPROCESS.std


def _faces(n: int = 16, size: int = 48) -> torch.Tensor:
    """Face-like test images: a smooth gradient, a dark ellipse and fine texture, in [0, 1]."""
    generator = torch.Generator().manual_seed(7)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    base = 0.5 + 0.3 * x - 0.4 * ((x / 0.5) ** 2 + (y / 0.7) ** 2 < 1).float() * 0.5
    texture = 0.15 * torch.rand(n, 1, size, size, generator=generator)
    return (base + texture).clamp(0, 1)


def _augment(options: dict, batch: torch.Tensor, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    return TrainAugment(AugmentConfig(**{**PLAIN, **options}), PREPROCESS)(batch)


def _normalised(batch: torch.Tensor) -> torch.Tensor:
    return (batch - PREPROCESS.mean) / PREPROCESS.std


@pytest.mark.parametrize("name", sorted(FORCED))
def test_forced_augmentation_keeps_contract_and_changes_every_sample(name: str) -> None:
    batch = _faces()
    out = _augment(FORCED[name], batch)
    assert out.shape == batch.shape and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert out.min() >= LOW - 1e-5 and out.max() <= HIGH + 1e-5
    changed = (out - _normalised(batch)).abs().flatten(1).amax(dim=1) > 1e-3
    assert changed.all(), f"{name} left {int((~changed).sum())} of {len(changed)} samples unchanged"


@pytest.mark.parametrize("name", sorted(FORCED))
def test_augmentation_is_deterministic_under_a_seed(name: str) -> None:
    batch = _faces()
    options = {**FORCED[name], "flip_prob": 0.5, "rotation_deg": 10.0}
    assert torch.equal(_augment(options, batch, seed=3), _augment(options, batch, seed=3))
    assert not torch.equal(_augment(options, batch, seed=3), _augment(options, batch, seed=4))


@pytest.mark.parametrize("name", [n for n in sorted(FORCED) if any(k.endswith("_prob") for k in FORCED[n])])
def test_probability_applies_per_sample(name: str) -> None:
    batch = _faces(64)
    options = {key: (0.5 if key.endswith("_prob") else value) for key, value in FORCED[name].items()}
    out = _augment(options, batch)
    changed = (out - _normalised(batch)).abs().flatten(1).amax(dim=1) > 1e-3
    assert 0 < int(changed.sum()) < len(changed)


def test_all_augmentations_together_and_defaults_off() -> None:
    batch = _faces(32)
    everything = {key: value for options in FORCED.values() for key, value in options.items()}
    out = TrainAugment(AugmentConfig(**everything))(batch)
    assert out.shape == batch.shape and torch.isfinite(out).all()
    assert out.min() >= LOW - 1e-5 and out.max() <= HIGH + 1e-5
    # with their defaults the new augmentations are off: the standard recipe is unchanged
    torch.manual_seed(0)
    default = TrainAugment(AugmentConfig())(batch)
    torch.manual_seed(0)
    explicit_off = TrainAugment(AugmentConfig(**{key: 0.0 for key in everything}))(batch)
    assert torch.equal(default, explicit_off)


def test_yaml_config_sets_the_new_augmentations(tmp_path) -> None:
    path = tmp_path / "robust.yaml"
    path.write_text("model: vgg_fer_tiny\naugment:\n  jpeg_prob: 0.3\n  jpeg_quality_min: 20\n  framing_prob: 0.5\n")
    config = TrainConfig.from_yaml(path)
    assert config.augment.jpeg_prob == 0.3 and config.augment.jpeg_quality_min == 20
    assert config.augment.framing_prob == 0.5 and config.augment.video_prob == 0.0
    with pytest.raises(ValueError, match="augment"):
        TrainConfig.from_dict({"augment": {"jpeg_probability": 0.3}})


def test_jpeg_matches_libjpeg() -> None:
    images = (_faces(8) * 255).round().to(torch.uint8)[:, 0].numpy()
    for quality in (15, 50, 85):
        reference = np.stack(
            [
                cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)
                for image in images
            ]
        ).astype(np.float32)
        batch = torch.from_numpy(images).float()[:, None] / 255
        ours = degradations.jpeg_compress(batch, torch.full((8,), quality))[:, 0].numpy() * 255
        error_ours, error_libjpeg = np.abs(ours - images).mean(), np.abs(reference - images).mean()
        assert np.abs(ours - reference).mean() < 1.5, quality  # gray levels
        assert error_ours == pytest.approx(error_libjpeg, rel=0.15)


def test_jpeg_quality_orders_the_loss() -> None:
    batch = _faces(4)
    errors = [
        float((degradations.jpeg_compress(batch, torch.full((4,), q)) - batch).abs().mean()) for q in (10, 40, 95)
    ]
    assert errors[0] > errors[1] > errors[2] > 0


def test_blurs_keep_flat_images_flat_and_neutral_strengths_change_nothing() -> None:
    flat = torch.full((3, 1, 24, 24), 0.4)
    length, angle = torch.tensor([3.0, 5.0, 7.0]), torch.tensor([0.0, 0.7, 2.0])
    assert torch.allclose(degradations.motion_blur(flat, length, angle), flat, atol=1e-6)
    assert torch.allclose(degradations.defocus_blur(flat, torch.tensor([1.0, 1.5, 2.5])), flat, atol=1e-6)
    batch = _faces(3, 24)
    assert torch.allclose(degradations.motion_blur(batch, torch.ones(3), angle), batch, atol=1e-6)
    assert torch.allclose(degradations.defocus_blur(batch, torch.full((3,), 0.5)), batch, atol=1e-6)
    assert torch.allclose(degradations.gamma(batch, torch.ones(3)), batch, atol=1e-5)
    assert torch.equal(degradations.downscale(batch, torch.full((3,), 24)), batch)
    assert torch.equal(degradations.gaussian_noise(batch, torch.zeros(3)), batch)


def test_motion_blur_smears_along_its_direction() -> None:
    dot = torch.zeros(1, 1, 15, 15)
    dot[..., 7, 7] = 1.0
    horizontal = degradations.motion_blur(dot, torch.tensor([7.0]), torch.tensor([0.0]))[0, 0]
    assert horizontal[7, 4:11].min() > 0.05 and horizontal[3, 7] == 0 and horizontal[11, 7] == 0
    assert float(horizontal.sum()) == pytest.approx(1.0, abs=1e-5)


def test_downscale_loses_detail_and_blocky_compress_makes_blocks() -> None:
    batch = _faces(2)
    shrunk = degradations.downscale(batch, torch.tensor([12, 36]))
    detail = [float((shrunk[i] - batch[i]).abs().mean()) for i in range(2)]
    assert detail[0] > detail[1] > 0
    blocky = degradations.blocky_compress(batch, torch.tensor([16, 48]), torch.tensor([10, 10]))
    assert blocky.shape == batch.shape and blocky.min() >= 0 and blocky.max() <= 1
    assert float((blocky[0] - batch[0]).abs().mean()) > float((blocky[1] - batch[1]).abs().mean())


def test_occlusion_masks_cover_the_requested_area() -> None:
    centre = torch.zeros(2, 2)
    half_axes = torch.tensor([[0.5, 0.5], [1.0, 0.1]])  # a disc of radius 0.5, a full-width bar
    masks = degradations.occlusion_masks((2, 1, 48, 48), centre, half_axes, torch.zeros(2), torch.tensor([False, True]))
    areas = masks.mean(dim=(1, 2, 3))  # the crop spans 4 square units
    assert float(areas[0]) == pytest.approx(np.pi * 0.25 / 4, rel=0.05)
    assert float(areas[1]) == pytest.approx(2 * 0.2 / 4, rel=0.05)
    assert masks.min() >= 0 and masks.max() <= 1


def test_robust_recipe_trains_and_keeps_every_epoch(tmp_path, monkeypatch) -> None:
    from fer_video.checkpoint import load_checkpoint
    from fer_video.train import fit
    from synthetic_fer import tiny_dataset

    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    robust = TrainConfig.from_yaml(Path(__file__).resolve().parents[1] / "configs" / "cpu_fast_robust_ft.yaml")
    config = robust.with_overrides(
        model="vgg_fer_tiny", model_kwargs={}, init_from="", teacher="", epochs=2, batch_size=32, warmup_epochs=0.0
    )
    fit(config, tiny_dataset(tmp_path / "data", train_per_class=12, test_per_class=4), tmp_path / "run", device="cpu")
    kept = sorted(path.name for path in (tmp_path / "run").glob("epoch_*.pt"))
    assert kept == ["epoch_001.pt", "epoch_002.pt"]
    meta = load_checkpoint(tmp_path / "run" / "epoch_002.pt")["meta"]
    assert meta["metrics"]["epoch"] == 2 and meta["config"]["augment"]["jpeg_prob"] == robust.augment.jpeg_prob
