"""Model registry: ``@register_model`` files constructors by name; ``create_model(name)`` builds one."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from torch import nn

from fer_video.constants import NUM_CLASSES

_MODEL_ENTRYPOINTS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: register ``fn`` under its function name."""
    _MODEL_ENTRYPOINTS[fn.__name__] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``."""
    return sorted(name for name in _MODEL_ENTRYPOINTS if fnmatch.fnmatch(name, pattern))


def create_model(name: str, num_classes: int = NUM_CLASSES, in_chans: int = 1, **kwargs) -> nn.Module:
    """Build the registered model ``name`` (never downloads weights)."""
    if name not in _MODEL_ENTRYPOINTS:
        raise ValueError(f"unknown model '{name}'; available: {', '.join(list_models())}")
    return _MODEL_ENTRYPOINTS[name](num_classes=num_classes, in_chans=in_chans, **kwargs)
