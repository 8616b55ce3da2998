"""Synthetic face tracks rendered from still face images, to train and test temporal smoothing.

There is no labelled video corpus here, and FER2013 has neither video nor identity labels, so
a clip is simulated from stills. A clip has ``clip_seconds * fps`` frames:

* **Emotion segments.** The clip is cut into segments of ``segment_seconds`` (uniform in
  [min, max]). Each segment shows a still of its emotion; the next segment's emotion is drawn from
  the *other* classes in proportion to their number of images (``balanced_emotions``: uniformly
  instead), so the true label changes exactly at segment starts. A new still fades in over
  ``transition_seconds`` (an expression onset) and may be mirrored (``flip_prob``).
* **Appearance changes without an emotion change.** FER2013 has no identities, so a change of
  emotion is also a change of face. So that a change of face alone is no cue, the still also
  switches to another still *of the same emotion* at random moments inside segments
  (``same_emotion_switches_per_minute``).
* **Head motion.** Translation (``translate``, fraction of the crop), rotation (``rotation_deg``)
  and scale (``scale``) follow smooth random curves: gaussian-filtered white noise with a
  correlation time of ``drift_seconds``, scaled to the given standard deviation.
* **Lighting.** A clip-level brightness offset / log-contrast (``clip_brightness``,
  ``clip_contrast``) plus smooth drifts (``brightness``, ``contrast``).
* **Blur.** Each frame is blended with a gaussian-blurred copy (``blur_sigma`` pixels); the blend
  weight drifts smoothly around ``blur_mean`` (``blur_drift``), clipped to [0, 1].
* **Sensor noise.** IID gaussian pixel noise with a per-clip std drawn from ``noise_std``.
* **Occlusions.** Brief events (Poisson, ``occlusion_per_minute``, lasting ``occlusion_seconds``)
  cover a random rectangle (sides a fraction ``occlusion_size`` of the crop) with a flat gray patch.
* **Dropped detections.** Brief events (``dropout_per_minute``, ``dropout_seconds``) where the
  face is not found: ``present`` is False there and the CNN never sees those frames.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d

from fer_video.temporal.config import SimulationConfig


@dataclass(frozen=True)
class SimulatedClip:
    """One simulated face track: ``frames`` (T, H, W) uint8, true ``labels`` (T,), ``present`` (T,) and
    the first frame of each emotion segment, ``segment_starts`` (S,)."""

    frames: np.ndarray
    labels: np.ndarray
    present: np.ndarray
    segment_starts: np.ndarray


def clip_rng(seed: int, clip_set: str, index: int) -> np.random.Generator:
    """The random stream of clip ``index`` of the clip set named ``clip_set``: it depends on these three
    values only, never on how many clips a set has, which other sets exist or the order they are built in."""
    return np.random.default_rng([seed, zlib.crc32(clip_set.encode()), index])


def simulate_clips(
    images: np.ndarray,
    labels: np.ndarray,
    indices: Iterable[int],
    config: SimulationConfig,
    seed: int,
    clip_set: str = "clips",
) -> Iterator[SimulatedClip]:
    """Clips number ``indices`` of the set ``clip_set``, built from the stills ``images`` (N, H, W) uint8
    with emotion ``labels`` (N,). Each clip comes from its own stream, :func:`clip_rng`, so any clip can
    be regenerated on its own and is the same whatever the sizes of the sets."""
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"need one label per image and at least one image, got {len(images)} / {len(labels)}")
    for index in indices:
        yield simulate_clip(images, labels, config, clip_rng(seed, clip_set, index))


def simulate_clip(
    images: np.ndarray, labels: np.ndarray, config: SimulationConfig, rng: np.random.Generator
) -> SimulatedClip:
    """One clip (see the module docstring for what is simulated)."""
    length = config.clip_frames
    classes, counts = np.unique(labels, return_counts=True)
    starts, emotions = plan_segments(rng, length, config, classes, counts)
    frame_labels = np.repeat(emotions, np.diff(np.append(starts, length)))
    shot_starts = _still_switches(rng, starts, length, config)
    stills = [_pick_still(rng, images, labels, frame_labels[s], config.flip_prob) for s in shot_starts]
    faces = _faces_with_transitions(stills, shot_starts, length, config.frames(config.transition_seconds))
    faces = _move(faces, rng, config)
    faces = _relight(faces, rng, config)
    faces = _blur(faces, rng, config)
    faces = _occlude(faces, rng, config)
    faces = faces + rng.uniform(*config.noise_std) * torch.from_numpy(rng.standard_normal(faces.shape, np.float32))
    frames = (faces.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0].numpy()
    present = ~_event_mask(rng, length, config.dropout_per_minute, config.dropout_seconds, config)
    return SimulatedClip(frames=frames, labels=frame_labels.astype(np.int64), present=present, segment_starts=starts)


def plan_segments(
    rng: np.random.Generator, length: int, config: SimulationConfig, classes: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Segment start frames (S,) and their emotions (S,), drawn from ``classes`` in proportion to their
    image ``counts`` (or uniformly with ``balanced_emotions``); neighbouring segments differ."""
    low, high = (config.frames(s) for s in config.segment_seconds)
    weights = np.ones(len(classes)) if config.balanced_emotions else counts.astype(float)
    starts, emotions, position = [], [], 0
    while position < length:
        allowed = weights * (classes != emotions[-1]) if emotions and len(classes) > 1 else weights
        starts.append(position)
        emotions.append(int(rng.choice(classes, p=allowed / allowed.sum())))
        position += int(rng.integers(low, high + 1))
    return np.asarray(starts), np.asarray(emotions, dtype=np.int64)


def _still_switches(rng: np.random.Generator, starts: np.ndarray, length: int, config: SimulationConfig) -> np.ndarray:
    """First frame of each still: every segment start, plus random same-emotion switches inside segments."""
    shots = []
    for start, stop in zip(starts, np.append(starts[1:], length)):
        inside = np.arange(start + 1, stop)
        expected = config.same_emotion_switches_per_minute * (stop - start) / (config.fps * 60)
        count = min(len(inside), rng.poisson(expected))
        shots += [start, *rng.choice(inside, size=count, replace=False)]
    return np.sort(np.asarray(shots, dtype=np.int64))


def smooth_curves(rng: np.random.Generator, count: int, length: int, correlation_frames: float) -> np.ndarray:
    """``count`` smooth random curves (count, length) with unit standard deviation."""
    sigma = max(correlation_frames, 1e-3)
    pad = int(4 * sigma) + 1
    white = rng.standard_normal((count, length + 2 * pad))
    delta = np.zeros(2 * pad + 1)
    delta[pad] = 1.0
    gain = np.sqrt((gaussian_filter1d(delta, sigma) ** 2).sum())
    return (gaussian_filter1d(white, sigma, axis=1)[:, pad : pad + length] / gain).astype(np.float32)


def _pick_still(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, emotion: int, flip_prob: float
) -> torch.Tensor:
    still = torch.from_numpy(images[rng.choice(np.flatnonzero(labels == emotion))].astype(np.float32) / 255.0)
    return still.flip(-1) if rng.random() < flip_prob else still


def _faces_with_transitions(stills: list[torch.Tensor], starts: np.ndarray, length: int, fade: int) -> torch.Tensor:
    """(T, 1, H, W): each still from its start frame on, the new one faded in over ``fade`` frames."""
    frames = []
    for index, (start, still) in enumerate(zip(starts, stills)):
        stop = starts[index + 1] if index + 1 < len(starts) else length
        for offset in range(stop - start):
            if index > 0 and offset < fade - 1:
                weight = (offset + 1) / fade
                frames.append(weight * still + (1 - weight) * stills[index - 1])
            else:
                frames.append(still)
    return torch.stack(frames).unsqueeze(1)


def _move(faces: torch.Tensor, rng: np.random.Generator, config: SimulationConfig) -> torch.Tensor:
    length = len(faces)
    shift_x, shift_y, turn, zoom = torch.from_numpy(
        smooth_curves(rng, 4, length, config.frames(config.drift_seconds))
    )
    angle = torch.deg2rad(turn * config.rotation_deg)
    scale = 1 + zoom * config.scale
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin, 2 * config.translate * shift_x], dim=1),
            torch.stack([sin, cos, 2 * config.translate * shift_y], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(faces.shape), align_corners=False)
    return F.grid_sample(faces, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _relight(faces: torch.Tensor, rng: np.random.Generator, config: SimulationConfig) -> torch.Tensor:
    length = len(faces)
    drift_b, drift_c = torch.from_numpy(smooth_curves(rng, 2, length, config.frames(config.drift_seconds)))
    brightness = config.clip_brightness * rng.standard_normal() + config.brightness * drift_b
    contrast = torch.exp(config.clip_contrast * rng.standard_normal() + config.contrast * drift_c)
    mean = faces.mean(dim=(1, 2, 3), keepdim=True)
    return (faces - mean) * contrast.view(-1, 1, 1, 1) + mean + brightness.view(-1, 1, 1, 1)


def _blur(faces: torch.Tensor, rng: np.random.Generator, config: SimulationConfig) -> torch.Tensor:
    if config.blur_sigma <= 0:
        return faces
    drift = torch.from_numpy(smooth_curves(rng, 1, len(faces), config.frames(config.drift_seconds))[0])
    weight = (config.blur_mean + config.blur_drift * drift).clamp(0, 1).view(-1, 1, 1, 1)
    return weight * gaussian_blur(faces, config.blur_sigma) + (1 - weight) * faces


def gaussian_blur(batch: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable gaussian blur of a (N, 1, H, W) batch, reflecting at the borders."""
    radius = int(np.ceil(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=batch.dtype) / sigma) ** 2)
    taps = taps / taps.sum()
    padded = F.pad(batch, (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, taps.view(1, 1, 1, -1))
    return F.conv2d(rows, taps.view(1, 1, -1, 1))


def _occlude(faces: torch.Tensor, rng: np.random.Generator, config: SimulationConfig) -> torch.Tensor:
    faces = faces.clone()
    _, _, height, width = faces.shape
    for start, stop in _events(rng, len(faces), config.occlusion_per_minute, config.occlusion_seconds, config):
        h = max(1, round(rng.uniform(*config.occlusion_size) * height))
        w = max(1, round(rng.uniform(*config.occlusion_size) * width))
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        faces[start:stop, :, top : top + h, left : left + w] = float(rng.uniform(0.05, 0.95))
    return faces


def _events(
    rng: np.random.Generator, length: int, per_minute: float, seconds: tuple[float, float], config: SimulationConfig
) -> list[tuple[int, int]]:
    """Brief events as (start, stop) frame ranges: a Poisson number of them at uniform times."""
    expected = per_minute * length / (config.fps * 60)
    events = []
    for _ in range(rng.poisson(expected)):
        start = int(rng.integers(0, length))
        events.append((start, min(length, start + config.frames(rng.uniform(*seconds)))))
    return events


def _event_mask(
    rng: np.random.Generator, length: int, per_minute: float, seconds: tuple[float, float], config: SimulationConfig
) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    for start, stop in _events(rng, length, per_minute, seconds, config):
        mask[start:stop] = True
    return mask
