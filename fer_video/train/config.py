"""Training recipes as data: a YAML file maps onto :class:`TrainConfig`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from fer_video.config_io import read_yaml_mapping
from fer_video.transforms import AugmentConfig, PreprocessConfig

#: What crops of unlabelled video learn from (``TrainConfig.unlabelled_targets``).
UNLABELLED_TARGETS = ("teacher", "hmm")


@dataclass
class TrainConfig:
    """Everything one training run needs; ``configs/*.yaml`` set these fields."""

    name: str = "run"
    model: str = "vgg_fer_small"
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    init_from: str = ""  # checkpoint whose weights start this run (fine-tuning); "" = random init
    teacher: str | list[str] = ""  # checkpoint(s) to distil from (several: their mean logits); "" = labels only
    distill_alpha: float = 0.7  # weight of the teacher's soft targets in the loss (with ``teacher``)
    distill_temperature: float = 2.0
    # True: the teacher scores the very augmented (and mixed) batch the student sees, every step
    # ("consistent teaching", Beyer et al. 2022); False: its cached logits of the clean images.
    distill_consistent: bool = False
    # Unlabelled real video (folders of clips or glob patterns) whose detector crops join the training
    # images with the teacher's soft targets only (no label): the student learns the teacher's answers
    # on real, detector-framed faces as well as on FER2013's. Needs a teacher.
    unlabelled_videos: list[str] = field(default_factory=list)
    unlabelled_fps: float = 10.0  # frames per second cut from each unlabelled clip
    # What the unlabelled crops learn: "teacher" (its soft targets, crop by crop) or "hmm" (the two-sided
    # HMM's posteriors over each clip's crops from the teacher's calibrated probabilities: what
    # `--smoothing hmm` would show on that frame; fer_video.train.pseudo_labels).
    unlabelled_targets: str = "teacher"
    # Labels CSV of labelled real clips (file,label; e.g. ../shared/data/real_video/labels.csv): each epoch's raw
    # and EMA weights are also scored on their detector crops (mean per-clip frame accuracy, in log.csv and the
    # epoch checkpoints), so that epochs can be chosen on real faces as well. best.pt stays PublicTest's choice.
    real_clips: str = ""
    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"  # sgd (nesterov) | adamw
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    sam_rho: float = 0.0  # sharpness-aware minimisation's radius (fer_video/train/sam.py); 0 = off
    sam_adaptive: bool = False  # adaptive SAM: the radius scaled by each weight's magnitude
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.0
    label_smoothing: float = 0.1
    class_balance: float = 0.0  # loss weights: 0 = none, 1 = inverse class frequency, between = those raised to it
    ema_decay: float = 0.0
    early_stopping_patience: int = 0  # epochs without PublicTest improvement; 0 = off
    keep_epochs: bool = False  # also save each epoch's scored weights as epoch_NNN.pt (to select on other data)
    seed: int = 0
    num_threads: int = 0  # 0 = all cores
    max_train_samples: int = 0  # 0 = all; small values for smoke runs
    eval_flip_tta: bool = False
    channels_last: bool = False
    amp: bool = True  # bf16 autocast on CUDA
    cpu_bf16: bool = False  # bf16 autocast on a CPU with native bf16 units (AMX / AVX512-BF16); ignored elsewhere
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    search_space: dict[str, Any] = field(default_factory=dict)  # for `fer-video tune`

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; known: {sorted(known)}")
        values = dict(values)
        try:
            values["preprocess"] = PreprocessConfig(**values.get("preprocess", {}))
            values["augment"] = AugmentConfig(**values.get("augment", {}))
        except TypeError as error:  # an unknown preprocess/augment key
            raise ValueError(f"bad preprocess/augment config: {error}") from error
        config = cls(**values)
        mixing = config.augment.mixup_alpha > 0 or config.augment.cutmix_alpha > 0
        if config.teacher and mixing and not config.distill_consistent:
            raise ValueError("distillation from cached teacher logits cannot be combined with mixup/cutmix "
                             "(set distill_consistent: true to have the teacher score the mixed batch)")
        if config.distill_consistent and not config.teacher:
            raise ValueError("distill_consistent needs a teacher")
        if config.unlabelled_videos and not config.teacher:
            raise ValueError("unlabelled_videos need a teacher: their crops are learned from its soft targets")
        if config.unlabelled_videos and mixing:
            raise ValueError("unlabelled_videos cannot be combined with mixup/cutmix (their crops have no label)")
        if config.unlabelled_targets not in UNLABELLED_TARGETS:
            raise ValueError(
                f"unlabelled_targets must be one of {UNLABELLED_TARGETS}, got {config.unlabelled_targets!r}"
            )
        if config.unlabelled_targets == "hmm" and not config.unlabelled_videos:
            raise ValueError("unlabelled_targets 'hmm' smooths the crops of unlabelled_videos, and none are given")
        if config.unlabelled_targets == "hmm" and config.distill_consistent:
            raise ValueError("unlabelled_targets 'hmm' needs the teacher's cached logits (distill_consistent: false)")
        if config.sam_rho < 0:
            raise ValueError(f"sam_rho must be >= 0 (0 = no SAM), got {config.sam_rho}")
        if config.unlabelled_fps <= 0:
            raise ValueError(f"unlabelled_fps must be > 0, got {config.unlabelled_fps}")
        return config

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "TrainConfig":
        return cls.from_dict(read_yaml_mapping(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_overrides(self, **overrides: Any) -> "TrainConfig":
        """A copy with some top-level fields, or ``augment.<key>`` / ``model_kwargs.<key>``, replaced."""
        values = self.to_dict()
        for key, value in overrides.items():
            section, _, sub = key.partition(".")
            if sub:
                values[section] = {**values[section], sub: value}
            else:
                values[key] = value
        return TrainConfig.from_dict(values)
