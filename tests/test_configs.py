"""Every recipe in ``configs/`` loads the way its command loads it, names a registered model, and
(for ``fer-video tune``) has a search space Optuna can sample: a recipe that has rotted fails here,
not hours into a run on a machine lent for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fer_video.models import list_models
from fer_video.temporal.config import TemporalConfig
from fer_video.train.config import TrainConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
TEMPORAL = {"temporal.yaml", "temporal_real.yaml"}


def test_the_recipes_are_found():
    assert len(CONFIGS) > 10 and {"gpu_full.yaml", "smoke.yaml"} <= {path.name for path in CONFIGS}


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name in TEMPORAL], ids=lambda p: p.name)
def test_temporal_recipes_load(path):
    assert isinstance(TemporalConfig.from_yaml(path), TemporalConfig)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name not in TEMPORAL], ids=lambda p: p.name)
def test_training_recipes_load_and_name_a_registered_model(path):
    config = TrainConfig.from_yaml(path)
    assert config.model in list_models(), f"{path.name}: model {config.model!r} is not registered"
    assert config.epochs > 0 and config.batch_size > 0 and config.lr > 0
    if path.name.startswith("tune_"):
        from fer_video.tune import search_space_distributions

        assert search_space_distributions(config), f"{path.name}: empty search space"
    else:
        assert config.name == path.stem, f"{path.name}: name {config.name!r} (runs go to runs/<name>)"
