"""Data-parallel training: two CPU processes (gloo, started by torchrun) train like one process on
the same global batch, only rank 0 writes files and prints, and the CLI resumes such a run (with EMA).

Without BatchNorm two processes reproduce one process to float precision (checked on a small
convnet through ``train_one_epoch``); with BatchNorm (the real models, through ``fit``) each process
normalises its own half of the batch, so the loss curve matches within a tolerance.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from synthetic_fer import tiny_dataset
from torch import nn

from fer_video.checkpoint import load_checkpoint
from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.data import load_fer2013
from fer_video.train import TrainConfig, fit
from fer_video.train.distributed import (
    SINGLE_PROCESS,
    DistributedContext,
    context_from_env,
    distributed_session,
    wrap_model,
)
from fer_video.train.engine import train_one_epoch, warmup_cosine
from fer_video.transforms import AugmentConfig, TrainAugment

NO_AUGMENT = AugmentConfig(rotation_deg=0, scale=0, translate=0, flip_prob=0, brightness=0, contrast=0, erasing_prob=0)
#: Deterministic apart from the batch split: no augmentation, no dropout.
TINY = TrainConfig(
    name="ddp_tiny",
    model="vgg_fer_tiny",
    model_kwargs={"drop_rate": 0.0, "stage_drop_rate": 0.0},
    epochs=1,
    batch_size=32,
    lr=0.05,
    ema_decay=0.9,
    num_threads=1,
    seed=0,
    augment=NO_AUGMENT,
)
WORLD_SIZE = 2
#: Without BatchNorm the only difference is the order of float sums (gradients averaged over ranks).
EXACT_TOLERANCE = 1e-4
#: With BatchNorm each process normalises its own 16 images (SyncBatchNorm is GPU-only), one
#: process all 32: 0.6% apart at the first step, growing to 11% by the seventh (measured).
BATCHNORM_TOLERANCE = 0.15
WRITE_EVENTS = ("os.rename", "os.mkdir", "os.remove", "shutil.rmtree")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("fer_tiny"))  # 252 training images: 7 steps of 32


def read_log(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def record_writes_under(folder: Path) -> list[str]:
    """Every file-system write this process makes inside ``folder`` (via Python's audit hooks)."""
    writes: list[str] = []
    root = str(folder.resolve())

    def hook(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, Path)) and str(args[0]).startswith(root):
            mode, flags = args[1], args[2]
            if any(flag in mode for flag in "wax+") if mode else flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                writes.append(f"open {args[0]}")
        elif event in WRITE_EVENTS and str(args[1] if event == "os.rename" else args[0]).startswith(root):
            writes.append(f"{event} {args[:2]}")

    sys.addaudithook(hook)
    return writes


def train_small_convnet(data_dir: Path, context: DistributedContext, losses: list[float]) -> dict[str, torch.Tensor]:
    """One epoch of a small BatchNorm-free convnet through ``train_one_epoch``; its final weights."""
    train = load_fer2013(data_dir, splits=["training"])["training"]
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, len(CLASSES)),
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(7, 2))
    train_one_epoch(
        wrap_model(model, context, torch.device("cpu")),
        torch.from_numpy(train.images),
        torch.from_numpy(train.labels),
        TrainAugment(NO_AUGMENT),
        None,
        nn.CrossEntropyLoss(),
        optimizer,
        scheduler,
        torch.device("cpu"),
        32,
        context=context,
        step_callback=lambda step, loss: losses.append(loss),
    )
    return model.state_dict()


def run_rank(data_dir: Path, out: Path, report_dir: Path) -> None:
    """One process under torchrun: the convnet epoch, one ``fit`` epoch, then a second epoch resumed by the CLI."""
    writes = record_writes_under(out)
    losses: list[float] = []
    convnet_losses: list[float] = []
    with distributed_session("cpu") as (context, _):  # fit and the CLI join this group, as they would torchrun's
        weights = train_small_convnet(data_dir, context, convnet_losses)
        fit(TINY, data_dir, out, device="cpu", step_callback=lambda step, loss: losses.append(loss))
        resume = ["--config", str(report_dir / "tiny.yaml"), "--data", str(data_dir), "--out", str(out), "--resume"]
        status = main(["train", *resume, "--epochs", "2"])
    torch.save(weights, report_dir / f"rank{context.rank}_convnet.pt")
    report = {"losses": losses, "convnet_losses": convnet_losses, "writes": writes, "status": status}
    (report_dir / f"rank{context.rank}.json").write_text(json.dumps(report))


@pytest.fixture(scope="module")
def two_process_run(data_dir, tmp_path_factory):
    out, report_dir = tmp_path_factory.mktemp("ddp_run"), tmp_path_factory.mktemp("ddp_report")
    (report_dir / "tiny.yaml").write_text(yaml.safe_dump(TINY.to_dict()))
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD_SIZE}"]
    env = {**os.environ, "FER_VIDEO_CACHE": str(report_dir / "cache")}
    done = subprocess.run(
        [*launcher, __file__, str(data_dir), str(out), str(report_dir)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    reports = [json.loads((report_dir / f"rank{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    weights = [torch.load(report_dir / f"rank{rank}_convnet.pt") for rank in range(WORLD_SIZE)]
    return out, reports, weights, done.stdout


def test_two_processes_train_exactly_like_one_without_batchnorm(two_process_run, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    single: list[float] = []
    single_weights = train_small_convnet(data_dir, SINGLE_PROCESS, single)
    _, reports, (rank0_weights, rank1_weights), _ = two_process_run
    rank0, rank1 = (report["convnet_losses"] for report in reports)
    assert len(single) == len(rank0) == 252 // 32 and rank0 == rank1
    assert single[-1] < single[0] - 0.1  # training moved the loss, so matching it means something
    torch.testing.assert_close(torch.tensor(rank0), torch.tensor(single), rtol=EXACT_TOLERANCE, atol=0)
    torch.testing.assert_close(rank0_weights, single_weights, rtol=EXACT_TOLERANCE, atol=1e-6)
    torch.testing.assert_close(rank1_weights, rank0_weights, rtol=0, atol=0)  # DDP keeps the replicas equal


def test_two_processes_follow_the_single_process_loss_curve(two_process_run, data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))
    single: list[float] = []
    fit(TINY, data_dir, tmp_path / "single", device="cpu", step_callback=lambda step, loss: single.append(loss))
    _, reports, _, _ = two_process_run
    rank0, rank1 = (report["losses"] for report in reports)
    assert len(single) == len(rank0) == 252 // TINY.batch_size
    assert rank0 == rank1  # both ranks see the all-reduced loss of the global batch
    assert single[-1] < single[0] - 0.5  # the curve falls far, so following it means something
    torch.testing.assert_close(torch.tensor(rank0), torch.tensor(single), rtol=BATCHNORM_TOLERANCE, atol=0)


def test_only_rank_zero_writes_and_prints(two_process_run):
    out, (rank0, rank1), _, stdout = two_process_run
    assert rank1["writes"] == [] and rank0["writes"]
    assert {path.name for path in out.iterdir()} == {"best.pt", "last.pt", "log.csv", "config.yaml"}
    assert stdout.count("epoch 1/1:") == stdout.count("epoch 2/2:") == stdout.count('"best_checkpoint"') == 1


def test_cli_resumes_a_distributed_run_with_ema(two_process_run):
    out, reports, _, _ = two_process_run
    assert [report["status"] for report in reports] == [0, 0]
    assert [row["epoch"] for row in read_log(out / "log.csv")] == ["1", "2"]
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 1 and state["ema"] and state["meta"]["world_size"] == WORLD_SIZE
    best = load_checkpoint(out / "best.pt")["meta"]["metrics"]
    assert best["weights"] in ("ema", "raw") and 0 <= best["publictest_acc"] <= 1


def test_global_batch_must_split_evenly():
    assert DistributedContext(rank=1, world_size=4).local_batch_size(32) == 8
    with pytest.raises(ValueError, match="batch_size 30 .* not divisible by the 4 processes"):
        DistributedContext(world_size=4).local_batch_size(30)


def test_shards_cover_every_item_once():
    shares = [DistributedContext(rank=rank, world_size=3).shard(10) for rank in range(3)]
    assert [list(range(10))[share] for share in shares] == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert SINGLE_PROCESS.shard(10) == slice(0, 10)


def test_context_comes_from_torchrun_environment(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert context_from_env() == SINGLE_PROCESS and SINGLE_PROCESS.is_main and not SINGLE_PROCESS.enabled
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    context = context_from_env()
    assert context == DistributedContext(rank=3, local_rank=1, world_size=4)
    assert context.enabled and not context.is_main


if __name__ == "__main__":  # the two_process_run fixture starts this file under torchrun
    run_rank(*map(Path, sys.argv[1:4]))
