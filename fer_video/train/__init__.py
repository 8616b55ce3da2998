"""Config-driven training: ``fit(config, data_path, out_dir)``."""

from fer_video.train.config import TrainConfig
from fer_video.train.loop import fit

__all__ = ["TrainConfig", "fit"]
