"""Channel pruning of a trained VGG-style CNN into a narrower one of the same depth, as a warm start.

Each convolution keeps the output channels whose ReLU outputs are largest on average over real
training images (the activation criterion of network-pruning work such as Hu et al., 2016, and
Molchanov et al., 2017), and the next layer keeps the matching input channels; the embedding layer
keeps its most active units the same way. The narrow network starts where the wide one left off
instead of from random weights, and is then fine-tuned (``init_from`` in a training config, with the
wide network as the distillation teacher).

    fer-video prune --weights models/emotion_cnn.pt --to vgg_fer_small --out runs/pruned/small.pt
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import torch
from torch import nn

from fer_video.checkpoint import file_sha256, load_checkpoint, model_from_checkpoint, save_atomic
from fer_video.data import random_training_crops, require_fer2013_path
from fer_video.models import create_model
from fer_video.models.vgg import VGGFer
from fer_video.preprocess import normalise_crops, preprocess_config
from fer_video.train.loop import data_fingerprint

CRITERION = "mean ReLU output per channel over real training images (largest kept)"


def _conv_blocks(model: VGGFer) -> list[tuple[nn.Conv2d, nn.BatchNorm2d, nn.ReLU]]:
    """The (conv, BatchNorm, ReLU) triples of ``model.features``, in order."""
    layers = list(model.features)
    return [
        (layer, layers[index + 1], layers[index + 2])
        for index, layer in enumerate(layers)
        if isinstance(layer, nn.Conv2d)
    ]


def channel_activity(model: VGGFer, batch: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Mean ReLU output of every conv channel (one tensor per conv) and of every embedding unit,
    for the normalised ``batch`` (N, 1, H, W), in eval mode."""
    activity: list[torch.Tensor] = []
    hooks = [
        relu.register_forward_hook(lambda _m, _i, out: activity.append(out.mean(dim=(0, 2, 3))))
        for _conv, _bn, relu in _conv_blocks(model)
    ]
    try:
        with torch.no_grad():
            embedding = model.eval().forward_features(batch)
    finally:
        for hook in hooks:
            hook.remove()
    return activity, embedding.mean(dim=0)


def _top(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the ``count`` largest ``scores``, in their original order."""
    return torch.sort(torch.topk(scores, count).indices).values


def _copy_batchnorm(
    source: nn.modules.batchnorm._BatchNorm, target: nn.modules.batchnorm._BatchNorm, kept: torch.Tensor
) -> None:
    """Copy the affine parameters and running statistics of ``source``'s channels ``kept`` into ``target``."""
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(target, name).copy_(getattr(source, name)[kept])


def prune_into(source: VGGFer, target: VGGFer, batch: torch.Tensor) -> VGGFer:
    """Copy into ``target`` the channels of ``source`` most active on ``batch``; ``target`` must
    have the same layers, each at most as wide. Returns ``target`` in eval mode."""
    source_blocks, target_blocks = _conv_blocks(source), _conv_blocks(target)
    if len(source_blocks) != len(target_blocks):
        raise ValueError(f"{len(source_blocks)} convolutions cannot be pruned into {len(target_blocks)}")
    if target.num_features > source.num_features:
        raise ValueError(f"an embedding of {source.num_features} cannot be pruned to {target.num_features}")
    activity, embed_activity = channel_activity(source, batch)
    kept_in = torch.arange(source_blocks[0][0].in_channels)
    with torch.no_grad():
        for (conv, bn, _), (new_conv, new_bn, _), scores in zip(source_blocks, target_blocks, activity):
            if new_conv.out_channels > conv.out_channels or new_conv.in_channels != len(kept_in):
                raise ValueError(f"a {conv} cannot be pruned into a {new_conv}")
            kept = _top(scores, new_conv.out_channels)
            new_conv.weight.copy_(conv.weight[kept][:, kept_in])
            _copy_batchnorm(bn, new_bn, kept)
            kept_in = kept
        linear, new_linear = source.embed[1], target.embed[1]
        spatial = linear.in_features // source_blocks[-1][0].out_channels  # pixels per channel after flatten
        columns = (kept_in[:, None] * spatial + torch.arange(spatial)).flatten()
        if new_linear.in_features != len(columns):
            raise ValueError(f"{linear} cannot be pruned into {new_linear}: other input sizes")
        units = _top(embed_activity, target.num_features)
        new_linear.weight.copy_(linear.weight[units][:, columns])
        _copy_batchnorm(source.embed[2], target.embed[2], units)
        target.head.weight.copy_(source.head.weight[:, units])
        target.head.bias.copy_(source.head.bias)
    return target.eval()


def prune_checkpoint(
    source: str | os.PathLike,
    architecture: str,
    out: str | os.PathLike,
    data_path: str | os.PathLike | None = None,
    images: int = 2048,
    seed: int = 0,
) -> dict[str, Any]:
    """Prune the CNN checkpoint ``source`` into the registered ``architecture`` (see :func:`prune_into`),
    measuring channel activity on ``images`` random FER2013 Training crops (``seed``); writes the
    result to ``out`` atomically and returns it. ``meta["pruned_from"]`` records how."""
    wide, meta = model_from_checkpoint(load_checkpoint(source))
    if not isinstance(wide, VGGFer):
        raise ValueError(f"{source} holds a {meta['model']!r}; only VGG-style CNNs (vgg_fer*) can be pruned")
    narrow = create_model(architecture, num_classes=len(meta["classes"]))
    if not isinstance(narrow, VGGFer):
        raise ValueError(f"{architecture!r} is not a VGG-style CNN (vgg_fer*)")
    data = require_fer2013_path(data_path)
    sample = random_training_crops(data, images, seed)
    batch = torch.from_numpy(normalise_crops(sample, preprocess_config(meta)))
    prune_into(wide, narrow, batch)
    record = {
        "source_sha256": file_sha256(source),
        "source_model": meta["model"],
        "criterion": CRITERION,
        "images": len(sample),
        "seed": seed,
        "data": data_fingerprint(data),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    payload = {
        "model": {name: tensor.detach().clone() for name, tensor in narrow.state_dict().items()},
        "meta": {
            "model": architecture,
            "classes": meta["classes"],
            "preprocess": meta["preprocess"],
            "pruned_from": record,
        },
    }
    save_atomic(payload, out)
    return payload
