"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fer_video.data import resolve_fer2013_path


@pytest.fixture(scope="session")
def fer2013_path() -> Path:
    """The real FER2013 data (``$FER2013_PATH`` or ``../shared/data/fer2013.zip``), or skip."""
    path = resolve_fer2013_path()
    if path is None:
        pytest.skip("FER2013 not found: set FER2013_PATH or place it at ../shared/data/fer2013.zip")
    return path


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real RGB photo with one face (scikit-image's astronaut, 512x512)."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread: on a small shared CPU, extra threads only wait on each other."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
