"""``fer-video train`` then ``fer-video evaluate`` on a tiny generated data set, plus bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from fer_video.cli import main
from fer_video.constants import CLASSES
from synthetic_fer import tiny_dataset

TINY_RECIPE = {
    "name": "cli_tiny",
    "model": "vgg_fer_tiny",
    "epochs": 2,
    "batch_size": 32,
    "lr": 0.05,
    "num_threads": 1,
    "search_space": {"lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True}},
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = tiny_dataset(root / "data", train_per_class=20, test_per_class=6)
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY_RECIPE))
    return root, data, config


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def trained(workspace):
    root, data, config = workspace
    assert main(["train", "--config", str(config), "--data", str(data), "--out", str(root / "run")]) == 0
    return root / "run"


def test_train_then_evaluate(workspace, trained):
    root, data, _ = workspace
    out = root / "eval"
    argv = ["evaluate", "--weights", str(trained / "best.pt"), "--data", str(data), "--split", "publictest"]
    assert main([*argv, "--out", str(out), "--log", str(trained / "log.csv"), "--device", "cpu"]) == 0

    metrics = json.loads((out / "metrics.json").read_text())
    n_test = 6 * len(CLASSES)
    assert metrics["metrics"]["n_images"] == n_test and metrics["split"] == "publictest"
    assert 0 <= metrics["metrics"]["accuracy"] <= 1 and set(metrics["metrics"]["per_class"]) == set(CLASSES)
    assert metrics["subset_3class"]["n_images"] == 3 * 6
    counts = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    assert list(counts.columns) == list(CLASSES) and counts.to_numpy().sum() == n_test
    assert counts.to_numpy().trace() / n_test == pytest.approx(metrics["metrics"]["accuracy"])
    normalised = pd.read_csv(out / "confusion_matrix_normalised.csv", index_col=0).to_numpy()
    assert normalised.sum(axis=1) == pytest.approx([1.0] * len(CLASSES))
    for name in ("confusion_matrix.png", "confusion_matrix_3class.png", "training_curves.png", "report.md"):
        assert (out / name).stat().st_size > 0
    assert "different protocol" in (out / "report.md").read_text()
    kept_log = pd.read_csv(out / "training_log.csv")
    assert list(kept_log["epoch"]) == list(pd.read_csv(trained / "log.csv")["epoch"]) and set(kept_log["stage"]) == {1}
    assert not list(out.glob(".*tmp*"))  # no partial files left behind


def test_evaluate_refuses_to_overwrite(workspace, trained, capsys):
    root, data, _ = workspace
    argv = ["evaluate", "--weights", str(trained / "best.pt"), "--data", str(data), "--out", str(root / "again")]
    assert main([*argv, "--tta", "tencrop"]) == 0
    first = (root / "again" / "metrics.json").read_text()
    assert main(argv) == 2
    assert "already exist" in capsys.readouterr().err
    assert (root / "again" / "metrics.json").read_text() == first
    assert main([*argv, "--tta", "flip", "--overwrite"]) == 0
    assert json.loads((root / "again" / "metrics.json").read_text())["tta"] == "flip"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "/no/such/fer2013.zip"], "FER2013 data not found: /no/such/fer2013.zip"),
        (["--split", "privatetest"], "split(s) ['privatetest'] not found"),
        (["--weights", "/no/such/model.pt"], "weights file not found"),
        (["--log", "/no/such/log.csv"], "No such file"),
    ],
)
def test_evaluate_bad_input_exits_2(workspace, trained, capsys, extra, message):
    root, data, _ = workspace
    argv = ["evaluate", "--weights", str(trained / "best.pt"), "--data", str(data), "--out", str(root / "bad")]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fer-video evaluate: error:") and message in err
    assert "Traceback" not in err


def test_train_bad_data_path_exits_2(workspace, capsys):
    root, _, config = workspace
    assert main(["train", "--config", str(config), "--data", str(root / "missing"), "--out", str(root / "x")]) == 2
    assert "FER2013 data not found" in capsys.readouterr().err


def test_train_with_missing_real_clips_exits_2(workspace, capsys):
    root, data, config = workspace
    argv = ["train", "--config", str(config), "--data", str(data), "--out", str(root / "real")]
    assert main([*argv, "--real-clips", str(root / "no_labels.csv")]) == 2
    err = capsys.readouterr().err
    assert "real_clips: labels file not found" in err and "Traceback" not in err


def test_tune_runs_trials_and_writes_results(workspace, capsys):
    root, data, config = workspace
    out = root / "tune"
    argv = ["tune", "--config", str(config), "--trials", "2", "--epochs-per-trial", "1", "--data", str(data)]
    assert main([*argv, "--out", str(out)]) == 0
    table = pd.read_csv(out / "trials.csv")
    assert table["trial"].tolist() == [0, 1] and set(table["state"]) <= {"complete", "pruned"}
    assert table["lr"].between(0.01, 0.1).all() and table["epochs_run"].tolist() == [1, 1]
    assert table.loc[0, "lr"] == pytest.approx(TINY_RECIPE["lr"])  # trial 0: the recipe as configured
    assert (out / "tune_results.png").stat().st_size > 0
    best = table.loc[table["publictest_acc"].idxmax()]
    assert yaml.safe_load((out / "best_config.yaml").read_text())["lr"] == pytest.approx(best["lr"], rel=1e-5)
    assert "Best trial" in (out / "README.md").read_text()
    assert (out / "trials" / "000" / "log.csv").exists() and not list(out.glob("trials/*/*.pt"))
    assert main([*argv, "--out", str(out)]) == 2  # an earlier study is never overwritten silently
    assert "already exist" in capsys.readouterr().err


def test_configured_values_need_every_searched_key_set_and_in_range():
    from fer_video.train import TrainConfig
    from fer_video.tune import configured_values, search_space_distributions

    erasing = {"augment.erasing_prob": {"type": "float", "low": 0, "high": 0.5}}
    config = TrainConfig.from_dict({**TINY_RECIPE, "search_space": {**TINY_RECIPE["search_space"], **erasing}})
    space = search_space_distributions(config)
    assert configured_values(config, space) == {"lr": 0.05, "augment.erasing_prob": config.augment.erasing_prob}
    assert configured_values(config.with_overrides(lr=0.5), space) == {}  # outside the space: no baseline trial
    dropout_space = search_space_distributions(
        config.with_overrides(search_space={"model_kwargs.drop_rate": {"type": "float", "low": 0, "high": 1}})
    )
    assert configured_values(config, dropout_space) == {}  # not set in the config (the model's default)


def test_tune_rejects_a_bad_search_space(workspace, tmp_path, capsys):
    _, data, _ = workspace
    config = tmp_path / "bad.yaml"
    bad_space = {"augment.spin": {"type": "float", "low": 0, "high": 1}}
    config.write_text(yaml.safe_dump({**TINY_RECIPE, "search_space": bad_space}))
    argv = ["tune", "--config", str(config), "--trials", "1", "--data", str(data), "--out", str(tmp_path / "t")]
    assert main(argv) == 2
    assert "search_space.augment.spin" in capsys.readouterr().err
