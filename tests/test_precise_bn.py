"""Precise BN: BatchNorm statistics recomputed on clean images with the final weights, from the library and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fer_video.checkpoint import load_checkpoint, model_from_checkpoint
from fer_video.cli import main
from fer_video.data import load_fer2013
from fer_video.models import create_model
from fer_video.train import TrainConfig, fit
from fer_video.train.precise_bn import recalibrate_batchnorm
from fer_video.transforms import EvalPreprocess, PreprocessConfig, crops_to_tensor
from synthetic_fer import class_images, tiny_dataset

ONE_EPOCH = TrainConfig(name="tiny", model="vgg_fer_tiny", epochs=1, batch_size=32, lr=0.05, num_threads=1, seed=0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("fer_tiny"), train_per_class=12, test_per_class=4)


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    fit(ONE_EPOCH, data_dir, out, device="cpu")
    return out


def test_statistics_are_averaged_over_shuffled_batches_of_the_images():
    torch.manual_seed(0)
    model = create_model("vgg_fer_tiny", drop_rate=0.0, stage_drop_rate=0.0)
    first_bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    images, _ = class_images(10)  # sorted by class, as data sets often are
    preprocess = PreprocessConfig()
    seen = []
    hook = first_bn.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].detach()))
    with torch.no_grad():
        model.eval()(EvalPreprocess(preprocess)(crops_to_tensor(images)))
    hook.remove()
    total_var = seen[0].var(dim=(0, 2, 3))
    one_class_batches_var = torch.stack([b.var(dim=(0, 2, 3)) for b in seen[0].split(10)]).mean(0)
    assert not torch.allclose(first_bn.running_mean, seen[0].mean(dim=(0, 2, 3)), atol=1e-3)

    recalibrate_batchnorm(model, images, preprocess, batch_size=14)  # 70 images: 5 batches of 14

    # equal batches: the mean of the batch means is the mean over all images, whatever the order
    torch.testing.assert_close(first_bn.running_mean, seen[0].mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    # shuffled batches: close to the variance over all images, not the smaller one within a class
    assert (first_bn.running_var - total_var).abs().max() < 0.1 * total_var.max()
    assert (first_bn.running_var - total_var).norm() < (one_class_batches_var - total_var).norm() / 3
    assert not model.training


def test_refuses_no_images_and_models_without_batchnorm():
    with pytest.raises(ValueError, match="at least one image"):
        recalibrate_batchnorm(create_model("vgg_fer_tiny"), np.zeros((0, 48, 48), np.uint8), PreprocessConfig())
    with pytest.raises(ValueError, match="no BatchNorm"):
        recalibrate_batchnorm(torch.nn.Linear(4, 2), np.zeros((2, 48, 48), np.uint8), PreprocessConfig())


def test_cli_writes_a_recalibrated_copy_and_keeps_the_original(run_dir, data_dir, capsys):
    source, out = run_dir / "best.pt", run_dir / "best_bn.pt"
    before = source.read_bytes()
    args = ["recalibrate-bn", "--weights", str(source), "--out", str(out), "--data", str(data_dir)]
    assert main(args) == 0
    assert source.read_bytes() == before

    original, recalibrated = load_checkpoint(source), load_checkpoint(out)
    record = recalibrated["meta"]["bn_recalibration"]
    assert record["split"] == "training" and record["images"] == len(load_fer2013(data_dir)["training"])
    for name, tensor in original["model"].items():
        if "running" in name:
            assert not torch.equal(tensor, recalibrated["model"][name]), name
        elif "num_batches_tracked" not in name:
            assert torch.equal(tensor, recalibrated["model"][name]), name  # weights untouched
    model, _ = model_from_checkpoint(recalibrated)
    assert torch.isfinite(model(torch.zeros(2, 1, 48, 48))).all()

    assert main(args) == 2  # refuses to clobber
    assert "already exist" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert main(["recalibrate-bn", "--weights", str(out), "--out", str(run_dir / "x.pt"), "--data", str(data_dir)]) == 2
    assert "already has recalibrated" in capsys.readouterr().err
    assert main(["recalibrate-bn", "--weights", str(source), "--out", str(source), "--data", str(data_dir)]) == 2
    assert main(["recalibrate-bn", "--weights", str(run_dir / "missing.pt"), "--out", str(run_dir / "y.pt")]) == 2
