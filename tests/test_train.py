"""Training on a tiny generated data set: loss goes down, checkpoints round-trip, runs resume."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from fer_video.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_atomic
from fer_video.classifier import CropClassifier
from fer_video.constants import CLASSES
from fer_video.data import load_fer2013
from fer_video.evaluate.clip_crops import clip_crops, score_crops
from fer_video.models import create_model
from fer_video.train import TrainConfig, fit
from fer_video.device import cpu_has_native_bf16, use_bf16_autocast
from fer_video.train.distill import UNLABELLED, DistillationLoss, TeacherEnsemble, load_teacher, teacher_logits
from fer_video.transforms import AugmentConfig, EvalPreprocess, PreprocessConfig, TrainAugment, crops_to_tensor
from synthetic_fer import tiny_dataset
from synthetic_video import blank_frames, face_frames, write_clip

TINY = TrainConfig(name="tiny", model="vgg_fer_tiny", epochs=3, batch_size=32, lr=0.05, num_threads=1, seed=0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("fer_tiny"))


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_VIDEO_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def trained_run(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = fit(TINY, data_dir, out, device="cpu")
    return out, result


def read_log(path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_training_lowers_the_loss(trained_run):
    out, result = trained_run
    log = read_log(out / "log.csv")
    assert [int(row["epoch"]) for row in log] == [1, 2, 3]
    losses = [float(row["train_loss"]) for row in log]
    assert losses[-1] < losses[0] - 0.2, losses
    assert {"best.pt", "last.pt", "config.yaml", "log.csv"} <= {p.name for p in out.iterdir()}
    assert 0.0 <= result["publictest_acc"] <= 1.0 and result["epoch"] in (1, 2, 3)


def test_best_checkpoint_loads_as_classifier(trained_run, data_dir):
    out, result = trained_run
    payload = load_checkpoint(out / "best.pt")
    assert payload["meta"]["model"] == "vgg_fer_tiny" and payload["meta"]["classes"] == list(CLASSES)
    assert payload["meta"]["metrics"]["publictest_acc"] == result["publictest_acc"]
    classifier = CropClassifier.from_file(str(out / "best.pt"), device="cpu")
    probs, embeddings = classifier.predict(np.zeros((3, 48, 48), dtype=np.uint8))
    assert probs.shape == (3, 7) and embeddings.shape == (3, classifier.embedding_dim)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_checkpoint_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = create_model("vgg_fer_tiny").eval()
    meta = {"model": "vgg_fer_tiny", "classes": list(CLASSES), "preprocess": PreprocessConfig().to_dict()}
    save_atomic({"model": model.state_dict(), "meta": meta}, tmp_path / "weights.pt")
    restored, restored_meta = model_from_checkpoint(load_checkpoint(tmp_path / "weights.pt"))
    conv_weights = [p for p in restored.parameters() if p.dim() == 4]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) for p in conv_weights)
    assert not [p for p in model.parameters() if p.dim() == 4][-1].is_contiguous(memory_format=torch.channels_last)
    batch = torch.randn(4, 1, 48, 48)
    with torch.inference_mode():  # compared in the restored model's layout: the same sums, bit for bit
        torch.testing.assert_close(restored(batch), model.to(memory_format=torch.channels_last)(batch), rtol=0, atol=0)
    assert restored_meta == meta and not restored.training


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "garbage.pt").write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "garbage.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a fer-video checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_resume_continues_the_run(data_dir, tmp_path):
    one_epoch = TINY.with_overrides(epochs=1)
    fit(one_epoch, data_dir, tmp_path / "run", device="cpu")
    assert len(read_log(tmp_path / "run" / "log.csv")) == 1
    fit(one_epoch.with_overrides(epochs=2), data_dir, tmp_path / "run", resume=True, device="cpu")
    log = read_log(tmp_path / "run" / "log.csv")
    assert [int(row["epoch"]) for row in log] == [1, 2]
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1  # zero-based: the second epoch


def test_init_from_starts_from_another_runs_weights(trained_run, data_dir, tmp_path):
    out, _ = trained_run
    start = load_checkpoint(out / "best.pt")["model"]
    finetune = TINY.with_overrides(epochs=1, lr=0.0, warmup_epochs=0.0, ema_decay=0.0, init_from=str(out / "best.pt"))
    fit(finetune, data_dir, tmp_path / "ft", device="cpu")
    weights = load_checkpoint(tmp_path / "ft" / "last.pt")["model"]
    convs = [key for key in start if key.endswith("weight") and start[key].ndim == 4]
    for key in convs:  # lr 0: the conv weights are exactly the ones loaded
        torch.testing.assert_close(weights[key], start[key])


def test_init_from_refuses_another_architecture(trained_run, data_dir, tmp_path):
    out, _ = trained_run
    other = TINY.with_overrides(model="vgg_fer_small", init_from=str(out / "best.pt"))
    with pytest.raises(ValueError, match="holds a 'vgg_fer_tiny' model"):
        fit(other, data_dir, tmp_path / "ft", device="cpu")


def test_fit_refuses_an_existing_run(trained_run, data_dir):
    out, _ = trained_run
    with pytest.raises(FileExistsError, match="already holds a run"):
        fit(TINY, data_dir, out, device="cpu")


def test_train_augment_keeps_shape_and_range():
    torch.manual_seed(0)
    batch = torch.rand(16, 1, 48, 48)
    preprocess = PreprocessConfig()
    augmented = TrainAugment(AugmentConfig(erasing_prob=1.0), preprocess)(batch)
    low, high = (0 - preprocess.mean) / preprocess.std, (1 - preprocess.mean) / preprocess.std
    assert augmented.shape == batch.shape
    assert augmented.min() >= low - 1e-5 and augmented.max() <= high + 1e-5
    assert not torch.allclose(augmented, EvalPreprocess(preprocess)(batch))  # it did augment


def test_eval_preprocess_resizes_and_normalises():
    preprocess = EvalPreprocess(PreprocessConfig(input_size=48, mean=0.5, std=0.25))
    grey = crops_to_tensor(np.full((2, 96, 64), 191, dtype=np.uint8))
    out = preprocess(grey)
    assert out.shape == (2, 1, 48, 48)
    torch.testing.assert_close(out, torch.full_like(out, (191 / 255 - 0.5) / 0.25))
    rgb = crops_to_tensor(np.zeros((3, 40, 40, 3), dtype=np.uint8))
    assert rgb.shape == (3, 1, 40, 40)


def test_distillation_loss_matches_its_definition():
    torch.manual_seed(0)
    student, teacher, target = torch.randn(5, 7), torch.randn(5, 7), torch.randint(0, 7, (5,))
    loss = DistillationLoss(alpha=0.6, temperature=3.0)(student, target, teacher)
    p_teacher = torch.softmax(teacher / 3, dim=1)
    kl = (p_teacher * (p_teacher.log() - torch.log_softmax(student / 3, dim=1))).sum(1).mean()
    expected = 0.4 * torch.nn.functional.cross_entropy(student, target) + 0.6 * 9 * kl
    torch.testing.assert_close(loss, expected)
    assert DistillationLoss(alpha=1.0, temperature=2.0)(teacher, target, teacher).abs() < 1e-6
    with pytest.raises(ValueError, match="distill_alpha"):
        DistillationLoss(alpha=1.5, temperature=2.0)


def test_distillation_trains_a_student_towards_the_teacher(trained_run, data_dir, tmp_path):
    out, _ = trained_run
    student = TINY.with_overrides(
        model="vgg_fer_fast", epochs=2, teacher=str(out / "best.pt"), distill_alpha=1.0, distill_temperature=1.0
    )
    fit(student, data_dir, tmp_path / "student", device="cpu")
    losses = [float(row["train_loss"]) for row in read_log(tmp_path / "student" / "log.csv")]
    assert losses[1] < losses[0], losses  # alpha 1: the loss is the KL divergence to the teacher alone
    (cache_file,) = (tmp_path / "cache" / "distill").glob("*.pt")  # private_cache: FER_VIDEO_CACHE=tmp_path/cache
    cached = torch.load(cache_file, weights_only=True)["logits"]
    assert cached.shape[1] == len(CLASSES) and torch.isfinite(cached).all()
    assert load_checkpoint(tmp_path / "student" / "best.pt")["meta"]["config"]["teacher"] == str(out / "best.pt")


def test_distillation_loss_learns_unlabelled_crops_from_the_teacher_alone():
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 7), torch.randn(6, 7)
    target = torch.tensor([0, 3, UNLABELLED, 5, UNLABELLED, 1])
    loss = DistillationLoss(alpha=0.6, temperature=2.0)(student, target, teacher)
    labelled = target != UNLABELLED
    p_teacher = torch.softmax(teacher / 2, dim=1)
    kl = (p_teacher * (p_teacher.log() - torch.log_softmax(student / 2, dim=1))).sum(1).mean()  # over all six
    expected = 0.4 * torch.nn.functional.cross_entropy(student[labelled], target[labelled]) + 0.6 * 4 * kl
    torch.testing.assert_close(loss, expected)
    only_unlabelled = torch.full((6,), UNLABELLED)
    torch.testing.assert_close(DistillationLoss(0.6, 2.0)(student, only_unlabelled, teacher), 0.6 * 4 * kl)


def test_unlabelled_videos_need_a_teacher_and_no_mixing():
    with pytest.raises(ValueError, match="need a teacher"):
        TrainConfig.from_dict({"unlabelled_videos": ["clips/"]})
    with pytest.raises(ValueError, match="mixup/cutmix"):
        TrainConfig.from_dict(
            {"unlabelled_videos": ["clips/"], "teacher": "t.pt", "distill_consistent": True,
             "augment": {"cutmix_alpha": 1.0}}
        )
    with pytest.raises(ValueError, match="unlabelled_fps"):
        TrainConfig.from_dict({"unlabelled_videos": ["clips/"], "teacher": "t.pt", "unlabelled_fps": 0})


@pytest.mark.parametrize("targets", ["teacher", "hmm"])
def test_unlabelled_video_crops_join_the_training_set(trained_run, data_dir, tmp_path, astronaut, targets):
    out, _ = trained_run
    clips = tmp_path / "clips"
    clips.mkdir()
    write_clip(clips / "face.mp4", face_frames(astronaut, 10))
    student = TINY.with_overrides(
        model="vgg_fer_fast", epochs=2, teacher=str(out / "best.pt"), unlabelled_videos=[str(clips)], unlabelled_fps=10,
        unlabelled_targets=targets,
    )
    fit(student, data_dir, tmp_path / "student", device="cpu")
    meta = load_checkpoint(tmp_path / "student" / "best.pt")["meta"]
    assert 8 <= meta["unlabelled_crops"] <= 10 and meta["config"]["unlabelled_videos"] == [str(clips)]
    assert meta["config"]["unlabelled_targets"] == targets
    log = read_log(tmp_path / "student" / "log.csv")
    assert all(np.isfinite(float(row["train_loss"])) and 0 <= float(row["train_acc"]) <= 1 for row in log)
    # the teacher's logits are cached for the Training images and for the crops apart: other crops reuse the former
    cached = [torch.load(path, weights_only=True)["logits"] for path in (tmp_path / "cache" / "distill").glob("*.pt")]
    training_images = len(load_fer2013(data_dir, splits=["training"])["training"])
    assert sorted(len(logits) for logits in cached) == sorted([training_images, meta["unlabelled_crops"]])


def test_real_clips_are_scored_every_epoch_and_a_resumed_log_keeps_its_columns(data_dir, tmp_path, astronaut):
    write_clip(tmp_path / "face.mp4", face_frames(astronaut, 10))
    (tmp_path / "labels.csv").write_text("file,label\nface.mp4,happy\n")
    run = tmp_path / "run"
    scored = TINY.with_overrides(epochs=2, ema_decay=0.9, keep_epochs=True, real_clips=str(tmp_path / "labels.csv"))
    fit(scored, data_dir, run, device="cpu")
    log = read_log(run / "log.csv")
    assert all(0 <= float(row[column]) <= 1 for row in log for column in ("real_clip_acc", "ema_real_clip_acc"))
    metrics = load_checkpoint(run / "epoch_002.pt")["meta"]["metrics"]
    chosen = log[1]["ema_real_clip_acc" if metrics["weights"] == "ema" else "real_clip_acc"]
    assert metrics["real_clip_acc"] == pytest.approx(float(chosen), abs=1e-6)
    crops = clip_crops(tmp_path / "labels.csv")  # what `fer-video eval-crops` gives the kept epoch
    assert score_crops(crops, run / "epoch_002.pt").summary["mean_clip_frame_accuracy"] == metrics["real_clip_acc"]

    plain = tmp_path / "plain"  # a run that started without real clips and resumes with them
    fit(TINY.with_overrides(epochs=1), data_dir, plain, device="cpu")
    fit(scored.with_overrides(epochs=2, ema_decay=0.0), data_dir, plain, resume=True, device="cpu")
    with (plain / "log.csv").open() as handle:
        header, *rows = list(csv.reader(handle))
    assert "real_clip_acc" not in header and [len(row) for row in rows] == [len(header)] * 2


def test_real_clips_without_a_face_are_refused(data_dir, tmp_path):
    write_clip(tmp_path / "empty.mp4", blank_frames(6))
    (tmp_path / "labels.csv").write_text("file,label\nempty.mp4,sad\n")
    with pytest.raises(ValueError, match="no face was found"):
        fit(TINY.with_overrides(real_clips=str(tmp_path / "labels.csv")), data_dir, tmp_path / "run", device="cpu")


def test_cached_distillation_refuses_mixup_but_consistent_distillation_takes_it():
    with pytest.raises(ValueError, match="mixup"):
        TrainConfig.from_dict({"teacher": "t.pt", "augment": {"mixup_alpha": 0.2}})
    config = TrainConfig.from_dict({"teacher": "t.pt", "distill_consistent": True, "augment": {"mixup_alpha": 0.2}})
    assert config.distill_consistent and config.augment.mixup_alpha == 0.2
    with pytest.raises(ValueError, match="distill_consistent needs a teacher"):
        TrainConfig.from_dict({"distill_consistent": True})


def test_teacher_ensemble_is_frozen_and_averages_its_members():
    torch.manual_seed(0)
    members = [create_model("vgg_fer_tiny").train() for _ in range(2)]
    teacher = TeacherEnsemble(members).train()  # asking for training mode leaves it in eval mode
    assert not teacher.training and not any(member.training for member in teacher.members)
    assert not any(parameter.requires_grad for parameter in teacher.parameters())
    batch = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        expected = (members[0](batch) + members[1](batch)) / 2
    logits = teacher(batch)
    torch.testing.assert_close(logits, expected)
    assert not logits.requires_grad
    with pytest.raises(ValueError, match="at least one teacher"):
        TeacherEnsemble([])


def test_load_teacher_checks_the_preprocessing(trained_run, tmp_path):
    out, _ = trained_run
    cpu = torch.device("cpu")
    teacher = load_teacher(out / "best.pt", TINY.preprocess, cpu)
    assert len(teacher.members) == 1
    with pytest.raises(ValueError, match="one preprocessing"):
        load_teacher(out / "best.pt", PreprocessConfig(input_size=64), cpu)
    with pytest.raises(CheckpointError, match="teacher checkpoint not found"):
        load_teacher([out / "best.pt", tmp_path / "missing.pt"], TINY.preprocess, cpu)


def test_consistent_distillation_with_mixup_trains_the_student(trained_run, data_dir, tmp_path):
    out, _ = trained_run
    student = TINY.with_overrides(
        model="vgg_fer_fast", epochs=2, teacher=str(out / "best.pt"), distill_consistent=True, distill_alpha=1.0,
        distill_temperature=1.0, **{"augment.mixup_alpha": 0.4, "augment.mix_prob": 1.0},
    )
    fit(student, data_dir, tmp_path / "student", device="cpu")
    losses = [float(row["train_loss"]) for row in read_log(tmp_path / "student" / "log.csv")]
    assert losses[1] < losses[0], losses  # alpha 1: the KL divergence to the teacher on the mixed batches
    assert not (tmp_path / "cache" / "distill").exists()  # no cached logits: the teacher scored every batch
    assert load_checkpoint(tmp_path / "student" / "best.pt")["meta"]["config"]["distill_consistent"] is True


def test_ensemble_teacher_averages_its_members_logits(trained_run, data_dir, tmp_path):
    out, _ = trained_run
    other = tmp_path / "other.pt"
    fit(TINY.with_overrides(epochs=1, seed=1), data_dir, tmp_path / "other", device="cpu")
    (tmp_path / "other" / "best.pt").rename(other)
    images = np.random.default_rng(0).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    cpu = torch.device("cpu")
    first, second = teacher_logits(out / "best.pt", images, cpu), teacher_logits(other, images, cpu)
    assert not torch.allclose(first, second)
    assert torch.allclose(teacher_logits([out / "best.pt", other], images, cpu), (first + second) / 2)
    config = TrainConfig.from_dict({"teacher": [str(out / "best.pt"), str(other)]})
    assert config.teacher == [str(out / "best.pt"), str(other)]
    with pytest.raises(ValueError, match="at least one teacher"):
        teacher_logits([], images, cpu)
    with pytest.raises(CheckpointError, match="teacher checkpoint not found: .*missing.pt"):
        teacher_logits([out / "best.pt", tmp_path / "missing.pt"], images, cpu)


def test_teacher_logits_in_blocks_reuse_each_blocks_cache(trained_run, tmp_path):
    out, _ = trained_run
    images = np.random.default_rng(1).integers(0, 256, (10, 48, 48), dtype=np.uint8)
    cpu, cache = torch.device("cpu"), tmp_path / "cache" / "distill"  # private_cache: FER_VIDEO_CACHE=tmp_path/cache
    whole = teacher_logits(out / "best.pt", images, cpu)
    assert len(list(cache.glob("*.pt"))) == 1
    blocks = teacher_logits(out / "best.pt", [images[:6], images[6:], images[:0]], cpu)
    assert torch.allclose(blocks, whole, atol=1e-5)
    assert len(list(cache.glob("*.pt"))) == 3  # one file per non-empty block
    assert torch.equal(teacher_logits(out / "best.pt", [images[:6], images[6:]], cpu), blocks)  # read back
    assert len(list(cache.glob("*.pt"))) == 3


def test_bf16_autocast_only_where_asked_and_supported():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert use_bf16_autocast(cuda, cuda_amp=True, cpu_bf16=False)
    assert not use_bf16_autocast(cuda, cuda_amp=False, cpu_bf16=True)
    assert not use_bf16_autocast(cpu, cuda_amp=True, cpu_bf16=False)
    assert use_bf16_autocast(cpu, cuda_amp=False, cpu_bf16=True) == cpu_has_native_bf16()


def test_cpu_bf16_training_lowers_the_loss(data_dir, tmp_path):
    if not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16 units (AMX / AVX512-BF16): cpu_bf16 falls back to float32")
    fit(TINY.with_overrides(cpu_bf16=True), data_dir, tmp_path / "bf16", device="cpu")
    losses = [float(row["train_loss"]) for row in read_log(tmp_path / "bf16" / "log.csv")]
    assert losses[-1] < losses[0], losses
    assert load_checkpoint(tmp_path / "bf16" / "best.pt")["meta"]["bf16_autocast"] is True


@pytest.mark.parametrize("adaptive", [False, True])
def test_sharpness_aware_training_lowers_the_loss_and_takes_other_steps(trained_run, data_dir, tmp_path, adaptive):
    plain_out, _ = trained_run
    fit(TINY.with_overrides(sam_rho=0.05, sam_adaptive=adaptive), data_dir, tmp_path / "sam", device="cpu")
    log = read_log(tmp_path / "sam" / "log.csv")
    losses = [float(row["train_loss"]) for row in log]
    assert losses[-1] < losses[0] - 0.2, losses
    plain = [float(row["train_loss"]) for row in read_log(plain_out / "log.csv")]
    assert losses[0] == pytest.approx(plain[0], abs=0.05) and losses != plain  # same start, other steps
    assert load_checkpoint(tmp_path / "sam" / "best.pt")["meta"]["config"]["sam_rho"] == 0.05


def test_class_weights_interpolate_between_none_and_inverse_frequency():
    from fer_video.train.loop import class_weights

    labels = np.repeat(np.arange(len(CLASSES)), [40, 10, 40, 80, 40, 40, 30])
    assert class_weights(labels, 0.0) is None
    balanced = class_weights(labels, 1.0)
    counts = np.bincount(labels, minlength=len(CLASSES))
    np.testing.assert_allclose(balanced.numpy(), len(labels) / (len(CLASSES) * counts), rtol=1e-6)
    half = class_weights(labels, 0.5)
    np.testing.assert_allclose(half.numpy(), np.sqrt(balanced.numpy()), rtol=1e-6)
    assert half.argmax() == 1 and half.argmin() == 3  # the rarest class weighs most, the commonest least
    with pytest.raises(ValueError, match="class_balance"):
        class_weights(labels, -1.0)
    with pytest.raises(ValueError, match="'class_balanced'"):
        TrainConfig.from_dict({"class_balanced": True})  # the old key is refused by name
