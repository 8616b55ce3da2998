"""The temporal recipe as data: ``configs/temporal.yaml`` maps onto :class:`TemporalConfig`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fer_video.config_io import read_yaml_mapping


@dataclass(frozen=True)
class SimulationConfig:
    """How synthetic face tracks are rendered from FER2013 stills (see :mod:`fer_video.temporal.simulate`).

    Durations are in seconds and rates in events per minute, so a clip means the same at any ``fps``.
    Amplitudes are standard deviations of smooth random curves (``drift_seconds`` sets their correlation time).
    """

    fps: float = 10.0
    clip_seconds: float = 9.6
    segment_seconds: tuple[float, float] = (2.0, 5.0)
    balanced_emotions: bool = False
    same_emotion_switches_per_minute: float = 4.0
    transition_seconds: float = 0.3
    drift_seconds: float = 1.0
    translate: float = 0.06
    rotation_deg: float = 6.0
    scale: float = 0.06
    flip_prob: float = 0.5
    brightness: float = 0.08
    contrast: float = 0.15
    clip_brightness: float = 0.1
    clip_contrast: float = 0.2
    blur_sigma: float = 1.5
    blur_mean: float = 0.2
    blur_drift: float = 0.3
    noise_std: tuple[float, float] = (0.0, 0.06)
    occlusion_per_minute: float = 6.0
    occlusion_seconds: tuple[float, float] = (0.2, 0.8)
    occlusion_size: tuple[float, float] = (0.25, 0.5)
    dropout_per_minute: float = 6.0
    dropout_seconds: tuple[float, float] = (0.1, 0.8)

    @property
    def clip_frames(self) -> int:
        return max(1, round(self.clip_seconds * self.fps))

    def frames(self, seconds: float) -> int:
        """A duration in frames (at least one)."""
        return max(1, round(seconds * self.fps))


@dataclass(frozen=True)
class RealTracesConfig:
    """Training the GRU on real video (see :mod:`fer_video.temporal.real_traces`): the cached traces of
    ``unlabelled`` clips (globs, as ``fer-video eval-video`` takes them) with the two-sided HMM's
    posteriors as soft targets (``teacher_*``: :class:`~fer_video.temporal.hmm.HmmSettings`), cut
    into windows of ``window_seconds`` every ``stride_seconds``; the epoch is chosen on the labelled
    clips of ``labels`` (a labels CSV): best frame accuracy of the shown label among epochs whose
    switches per minute stay at most ``max_switches_per_min``. ``simulated_clips`` simulated clips of
    the ``fit`` set join each epoch (true labels, for classes the real clips lack), their loss
    weighted ``simulated_weight``."""

    unlabelled: tuple[str, ...] = ()
    labels: str = ""
    fps: float = 10.0
    window_seconds: float = 4.8
    stride_seconds: float = 0.8
    teacher_switch_rate_hz: float = 0.1
    teacher_evidence_per_s: float = 2.0
    teacher_lag_s: float = 1.0
    max_switches_per_min: float = 3.0
    simulated_clips: int = 0
    simulated_weight: float = 0.5

    def validate(self) -> None:
        if not self.unlabelled or not self.labels:
            raise ValueError("real_traces: needs unlabelled (clip globs) and labels (a labels CSV)")
        if min(self.fps, self.window_seconds, self.stride_seconds, self.max_switches_per_min) <= 0:
            raise ValueError("real_traces: fps, window_seconds, stride_seconds and max_switches_per_min must be positive")
        if self.simulated_clips < 0 or self.simulated_weight < 0:
            raise ValueError("real_traces: simulated_clips and simulated_weight must be >= 0")


@dataclass(frozen=True)
class TemporalConfig:
    """Everything ``fer-video train-temporal`` / ``eval-temporal`` need."""

    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    real_traces: RealTracesConfig | None = None
    seed: int = 0
    train_clips: int = 400
    val_clips: int = 96
    eval_clips: int = 160
    val_image_fraction: float = 0.15
    hidden_size: int = 32
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-2
    smoothness_weight: float = 5.0
    smoothness_temperature: float = 0.2
    min_spurious_reduction: float = 6.0
    ema_alphas: tuple[float, ...] = (0.5, 0.3, 0.2, 0.1, 0.05)
    cnn_batch_size: int = 512
    num_threads: int = 0
    cache_dir: str = ".cache/temporal"
    results_dir: str = "results/temporal"

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TemporalConfig":
        values = dict(values)
        _check_keys(cls, values, "config")
        simulation = values.pop("simulation", {}) or {}
        _check_keys(SimulationConfig, simulation, "simulation")
        sim = SimulationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in simulation.items()})
        real = values.pop("real_traces", None)
        if real is not None:
            _check_keys(RealTracesConfig, real, "real_traces")
            real = RealTracesConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in real.items()})
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        config = cls(simulation=sim, real_traces=real, **values)
        config.validate()
        return config

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "TemporalConfig":
        return cls.from_dict(read_yaml_mapping(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Raise ValueError for settings no run could use."""
        sim = self.simulation
        low, high = sim.segment_seconds
        if sim.fps <= 0 or sim.clip_seconds <= 0 or not 0 < low <= high:
            raise ValueError("simulation: fps, clip_seconds and segment_seconds must be positive (min <= max)")
        if min(self.train_clips, self.val_clips, self.eval_clips, self.epochs, self.batch_size) < 1:
            raise ValueError("train_clips, val_clips, eval_clips, epochs and batch_size must be at least 1")
        if self.smoothness_weight < 0 or self.smoothness_temperature <= 0:
            raise ValueError("smoothness_weight must be >= 0 and smoothness_temperature > 0")
        if self.min_spurious_reduction < 1:
            raise ValueError("min_spurious_reduction must be at least 1")
        if not 0 < self.val_image_fraction < 1:
            raise ValueError("val_image_fraction must be between 0 and 1")
        if not self.ema_alphas or not all(0 < a <= 1 for a in self.ema_alphas):
            raise ValueError("ema_alphas must be a non-empty list of values in (0, 1]")
        if self.real_traces is not None:
            self.real_traces.validate()


def _check_keys(kind: type, values: dict[str, Any], where: str) -> None:
    if not isinstance(values, dict):
        raise ValueError(f"{where}: expected a mapping")
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {where} key(s) {unknown}; known: {sorted(known)}")
