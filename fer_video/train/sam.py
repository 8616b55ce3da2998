"""Sharpness-aware minimisation (SAM, Foret et al., ICLR 2021; adaptive SAM: Kwon et al., ICML 2021).

Each step takes the gradient at the weights moved uphill by ``rho`` (in L2 norm over all parameters;
adaptive: elementwise scaled by each weight's magnitude, so the radius does not depend on the scale of
the weights), then lets the wrapped optimizer apply that gradient at the original weights. The second
forward pass leaves BatchNorm's running statistics alone, so they are those of the unperturbed model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

PassResult = TypeVar("PassResult")


class SharpnessAwareStep:
    """One SAM step around any ``optimizer``: ``step(closure)``, where ``closure()`` runs the forward
    and backward pass of the current batch (it is called twice)."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, rho: float, adaptive: bool = False) -> None:
        if rho <= 0:
            raise ValueError(f"SAM needs rho > 0, got {rho}")
        self.model, self.optimizer, self.rho, self.adaptive = model, optimizer, rho, adaptive

    def _parameters(self) -> list[torch.Tensor]:
        return [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]

    @torch.no_grad()
    def _climb(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Move every parameter uphill along its gradient; return each parameter and a copy of where it was."""
        params = self._parameters()
        scaled = [p.abs() * p.grad if self.adaptive else p.grad for p in params]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in scaled]))
        scale = self.rho / (norm + 1e-12)
        origins = []
        for p, g in zip(params, scaled):
            origins.append((p, p.detach().clone()))
            p.add_((p.abs() * g if self.adaptive else g) * scale)
        return origins

    def step(self, closure: Callable[[], PassResult]) -> PassResult:
        """Returns what ``closure`` returned at the original weights (the first pass)."""
        self.optimizer.zero_grad(set_to_none=True)
        first = closure()
        origins = self._climb()
        self.optimizer.zero_grad(set_to_none=True)
        with frozen_batchnorm_statistics(self.model):
            closure()
        with torch.no_grad():
            for p, origin in origins:
                p.copy_(origin)
        self.optimizer.step()
        return first


@contextmanager
def frozen_batchnorm_statistics(model: nn.Module) -> Iterator[None]:
    """BatchNorm layers still normalise with the batch's statistics but do not update their running ones."""
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None) for m in layers]
    for m in layers:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(layers, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
