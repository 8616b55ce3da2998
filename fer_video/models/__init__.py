"""Model registry and the architectures it holds."""

from fer_video.models import timm_backbones, vgg  # noqa: F401  (registers the models)
from fer_video.models._registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
