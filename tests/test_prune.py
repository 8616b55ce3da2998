"""Channel pruning into a narrower VGG (the warm start of a fine-tune), from the library and the CLI."""

from __future__ import annotations

import pytest
import torch

from fer_video.checkpoint import load_checkpoint, model_from_checkpoint, save_atomic
from fer_video.cli import main
from fer_video.constants import CLASSES
from fer_video.models import create_model
from fer_video.models.vgg import VGGFer
from fer_video.preprocess import PreprocessConfig
from fer_video.train.prune import prune_into
from synthetic_fer import tiny_dataset


def _vgg(widths: tuple[int, ...], embed_dim: int) -> VGGFer:
    return VGGFer(widths=widths, convs_per_stage=1, embed_dim=embed_dim, drop_rate=0.0, stage_drop_rate=0.0)


def _kill_every_other_channel(model: VGGFer) -> None:
    """BatchNorm scale 0 and shift -1 on every odd channel: those channels' ReLU outputs are always 0
    (the even ones get a small scale and a positive shift, so that each is active)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.weight[1::2] = 0.0
                module.bias[1::2] = -1.0
                module.weight[0::2] = 0.2
                module.bias[0::2] = 1.0
                module.running_var.uniform_(0.5, 2.0)


def test_pruning_away_dead_channels_keeps_the_outputs():
    torch.manual_seed(0)
    wide = _vgg((8, 16, 32, 64), 32)
    _kill_every_other_channel(wide)
    batch = torch.randn(16, 1, 48, 48)
    narrow = prune_into(wide.eval(), _vgg((4, 8, 16, 32), 16), batch)
    probe = torch.randn(5, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(narrow.forward_features(probe), wide.forward_features(probe)[:, ::2])
        torch.testing.assert_close(narrow(probe), wide(probe), rtol=1e-4, atol=1e-5)
    assert not narrow.training


def test_pruning_to_the_same_width_is_the_identity():
    torch.manual_seed(1)
    source = _vgg((8, 16, 32, 64), 32).eval()
    copy = prune_into(source, _vgg((8, 16, 32, 64), 32), torch.randn(4, 1, 48, 48))
    for name, tensor in source.state_dict().items():
        if "num_batches_tracked" not in name:
            assert torch.equal(copy.state_dict()[name], tensor), name


def test_refuses_wider_or_deeper_targets():
    source, batch = _vgg((8, 16, 32, 64), 32).eval(), torch.randn(2, 1, 48, 48)
    with pytest.raises(ValueError, match="cannot be pruned"):
        prune_into(source, _vgg((16, 16, 32, 64), 32), batch)
    with pytest.raises(ValueError, match="cannot be pruned"):
        prune_into(source, VGGFer(widths=(8, 16, 32, 64), convs_per_stage=2, embed_dim=32), batch)
    with pytest.raises(ValueError, match="embedding of 32"):
        prune_into(source, _vgg((8, 16, 32, 64), 64), batch)


def test_cli_writes_a_narrower_checkpoint_that_loads(tmp_path, capsys):
    data_dir = tiny_dataset(tmp_path / "fer", train_per_class=4, test_per_class=1)
    torch.manual_seed(2)
    meta = {"model": "vgg_fer_small", "classes": list(CLASSES), "preprocess": PreprocessConfig().to_dict()}
    source, out = tmp_path / "small.pt", tmp_path / "fast.pt"
    save_atomic({"model": create_model("vgg_fer_small").state_dict(), "meta": meta}, source)
    args = ["prune", "--weights", str(source), "--to", "vgg_fer_fast", "--out", str(out), "--data", str(data_dir)]
    assert main(args) == 0
    payload = load_checkpoint(out)
    record = payload["meta"]["pruned_from"]
    assert payload["meta"]["model"] == "vgg_fer_fast" and record["source_model"] == "vgg_fer_small"
    assert record["images"] == 4 * len(CLASSES)
    model, _ = model_from_checkpoint(payload)
    assert isinstance(model, VGGFer) and model.num_features == 128
    assert torch.isfinite(model(torch.zeros(2, 1, 48, 48))).all()

    assert main(args) == 2  # refuses to clobber
    assert "already exist" in capsys.readouterr().err
    for target, message in (("vgg_fer", "cannot be pruned"), ("nope", "unknown model")):
        other = tmp_path / f"{target}.pt"
        refused = ["prune", "--weights", str(source), "--to", target, "--out", str(other), "--data", str(data_dir)]
        assert main(refused) == 2
        assert message in capsys.readouterr().err and not other.exists()
