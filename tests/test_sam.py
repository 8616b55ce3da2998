"""Sharpness-aware minimisation: where the gradient is taken, what comes back, what BatchNorm keeps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fer_video.train import TrainConfig
from fer_video.train.sam import SharpnessAwareStep, frozen_batchnorm_statistics


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(16, 4, generator=generator), torch.randint(0, 3, (16,), generator=generator)


def gradient_at(net: nn.Module, inputs, target) -> list[torch.Tensor]:
    net.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(net(inputs), target).backward()
    return [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("adaptive", [False, True])
def test_the_step_uses_the_gradient_at_the_weights_moved_uphill(adaptive):
    net, rho = small_net(), 0.05
    inputs, target = batch()
    start = [p.detach().clone() for p in net.parameters()]
    grads = gradient_at(net, inputs, target)
    scaled = [w.abs() * g if adaptive else g for w, g in zip(start, grads)]
    norm = torch.sqrt(sum((s**2).sum() for s in scaled))
    uphill = [w + rho * (w.abs() * s if adaptive else s) / norm for w, s in zip(start, scaled)]
    if not adaptive:  # plain SAM moves the weights by exactly rho
        assert torch.sqrt(sum(((u - w) ** 2).sum() for u, w in zip(uphill, start))).item() == pytest.approx(rho)
    probe = small_net()
    with torch.no_grad():
        for p, value in zip(probe.parameters(), uphill):
            p.copy_(value)
    expected_grads = gradient_at(probe, inputs, target)

    lr = 0.1
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    sam = SharpnessAwareStep(net, optimizer, rho, adaptive)

    def closure():
        loss = nn.functional.cross_entropy(net(inputs), target)
        loss.backward()
        return loss

    loss = sam.step(closure)
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(small_net()(inputs), target).item())
    for p, w, g in zip(net.parameters(), start, expected_grads):
        torch.testing.assert_close(p.detach(), w - lr * g)  # applied at the original weights
    assert any(not torch.allclose(g, h) for g, h in zip(grads, expected_grads))  # not the plain gradient


def test_the_second_pass_leaves_batchnorm_statistics_alone():
    net = small_net()
    norm = net[1]
    inputs, target = batch()
    net(inputs)  # one ordinary training pass
    mean, var, tracked = norm.running_mean.clone(), norm.running_var.clone(), norm.num_batches_tracked.clone()
    with frozen_batchnorm_statistics(net):
        net(inputs * 3 + 1)
    torch.testing.assert_close(norm.running_mean, mean)
    torch.testing.assert_close(norm.running_var, var)
    assert norm.num_batches_tracked == tracked and norm.momentum == 0.1
    net(inputs * 3 + 1)
    assert not torch.allclose(norm.running_mean, mean)  # outside the context it learns again

    one_pass = small_net()
    one_pass.load_state_dict(net.state_dict())
    one_pass(inputs)  # an ordinary training pass at the same weights
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    SharpnessAwareStep(net, optimizer, 0.05).step(lambda: nn.functional.cross_entropy(net(inputs), target).backward())
    torch.testing.assert_close(norm.running_mean, one_pass[1].running_mean)  # SAM's first pass only
    torch.testing.assert_close(norm.running_var, one_pass[1].running_var)
    assert norm.num_batches_tracked == one_pass[1].num_batches_tracked


def test_sam_settings_are_checked():
    with pytest.raises(ValueError, match="rho > 0"):
        SharpnessAwareStep(small_net(), torch.optim.SGD(small_net().parameters(), lr=0.1), 0.0)
    with pytest.raises(ValueError, match="sam_rho must be >= 0"):
        TrainConfig.from_dict({"sam_rho": -0.1})
    assert TrainConfig.from_dict({"sam_rho": 0.05, "sam_adaptive": True}).sam_adaptive
