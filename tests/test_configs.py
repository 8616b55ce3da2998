"""Every recipe in ``configs/`` loads the way its command loads it, names a registered model, and
(for ``fer-video tune``) has a search space Optuna can sample: a recipe that has rotted fails here,
not hours into a run on a machine lent for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fer_video.config_io import read_yaml_mapping
from fer_video.models import list_models
from fer_video.temporal.config import TemporalConfig
from fer_video.train.config import TrainConfig

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
TEMPORAL = {"temporal.yaml", "temporal_real.yaml"}
DERIVED = [path for path in CONFIGS if "base" in yaml.safe_load(path.read_text())]


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


def test_a_recipe_starts_from_its_base_and_overrides_it(tmp_path):
    (tmp_path / "parent.yaml").write_text(
        "name: parent\nmodel: vgg_fer_fast\nlr: 0.1\nteacher: [a.pt, b.pt]\naugment: {rotation_deg: 10, flip_prob: 0.5}\n"
    )
    (tmp_path / "child.yaml").write_text("base: parent.yaml\nname: child\nteacher: c.pt\naugment: {rotation_deg: 20}\n")
    config = TrainConfig.from_yaml(tmp_path / "child.yaml")
    assert (config.name, config.model, config.lr, config.teacher) == ("child", "vgg_fer_fast", 0.1, "c.pt")
    assert (config.augment.rotation_deg, config.augment.flip_prob) == (20, 0.5)


def test_recipes_that_name_each_other_as_base_are_refused(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\nname: b\n")
    with pytest.raises(ValueError, match="name each other as base"):
        TrainConfig.from_yaml(tmp_path / "a.yaml")


def test_a_missing_base_is_named_in_the_error(tmp_path):
    (tmp_path / "child.yaml").write_text("base: nowhere.yaml\nname: child\n")
    with pytest.raises(ValueError, match="nowhere.yaml"):
        TrainConfig.from_yaml(tmp_path / "child.yaml")


@pytest.mark.parametrize("path", DERIVED, ids=lambda p: p.name)
def test_a_recipe_with_a_base_says_only_what_differs(path):
    """A derived recipe repeats none of its base's values, so a change to the base cannot be hidden by a stale copy."""
    own = yaml.safe_load(path.read_text())
    base = read_yaml_mapping(path.parent / own["base"])
    repeated = [key for key, value in own.items() if key not in ("base", "name") and base.get(key) == value]
    assert not repeated, f"{path.name} repeats its base's {repeated}"
