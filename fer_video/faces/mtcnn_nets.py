"""MTCNN's three networks (P-, R- and O-net) with facenet-pytorch's trained weights.

The layers, their names and the weight files are facenet-pytorch's (MIT licence); the modules are
defined here so that loading them imports neither the facenet_pytorch package (its ``__init__``
imports torchvision, which takes longer to import than PyTorch itself) nor anything else: the
weight files are found with :func:`importlib.util.find_spec`, which does not run the package.
"""

from __future__ import annotations

import torch
from torch import nn

from fer_video.faces.mtcnn_runtime import facenet_weights_dir


class PNet(nn.Module):
    """Proposal net: fully convolutional, (regression (B, 4, h, w), face probability (B, 2, h, w))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, kernel_size=3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, kernel_size=3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, kernel_size=3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)


class RNet(nn.Module):
    """Refinement net on 24 x 24 windows: (regression (K, 4), face probability (K, 2))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, kernel_size=3), nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, kernel_size=3), nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, kernel_size=2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).contiguous()
        x = self.prelu4(self.dense4(x.view(x.shape[0], -1)))
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)


class ONet(nn.Module):
    """Output net on 48 x 48 windows: (regression (K, 4), landmarks (K, 10), face probability (K, 2))."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, kernel_size=3), nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, kernel_size=3), nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, kernel_size=3), nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, kernel_size=2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).contiguous()
        x = self.prelu5(self.dense5(x.view(x.shape[0], -1)))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(dim=1)


#: The networks by name (the names of their weight files).
MTCNN_NETS: dict[str, type[nn.Module]] = {"pnet": PNet, "rnet": RNet, "onet": ONet}


def load_mtcnn_net(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """MTCNN's network ``name`` (``pnet``, ``rnet``, ``onet``) with its trained weights, in evaluation mode on ``device``."""
    net = MTCNN_NETS[name]()
    net.load_state_dict(torch.load(facenet_weights_dir() / f"{name}.pt", map_location="cpu", weights_only=True))
    return net.to(device).eval()


def load_mtcnn_nets(device: str | torch.device) -> tuple[PNet, RNet, ONet]:
    """The three networks with their trained weights, in evaluation mode on ``device``."""
    return tuple(load_mtcnn_net(name, device) for name in MTCNN_NETS)
