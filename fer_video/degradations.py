"""Batched image degradations that make FER2013 crops look like faces from video and photos.

Each function takes a float batch (N, 1, H, W) in [0, 1] and per-sample strengths (N,), and
returns a batch of the same shape in [0, 1]; a strength that means "no change" (length 1, radius
0.5, std 0, quality 100, scale 1, gamma 1) leaves that sample (nearly) as it was. They are whole-batch
tensor ops (grouped convolutions, block DCTs, coordinate masks); only :func:`downscale` and
:func:`blocky_compress` loop, over the few distinct output sizes of a batch, never over images.
:class:`fer_video.transforms.TrainAugment` draws the strengths and calls these.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: The JPEG standard's luminance quantisation table (ITU-T T.81, Annex K), quality 50.
_JPEG_LUMA = torch.tensor(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    dtype=torch.float32,
)


def _kernel_coords(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel offsets (x, y) from the centre of a (size, size) kernel, each (1, size, size)."""
    offsets = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    y, x = torch.meshgrid(offsets, offsets, indexing="ij")
    return x[None], y[None]


def _filter_each(batch: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Convolve sample i of (N, 1, H, W) with kernel i of (N, k, k) (k odd), replicating the borders."""
    n, _, h, w = batch.shape
    pad = kernels.shape[-1] // 2
    padded = F.pad(batch.reshape(1, n, h, w), (pad, pad, pad, pad), mode="replicate")
    return F.conv2d(padded, kernels.unsqueeze(1), groups=n).reshape(n, 1, h, w)


def motion_blur(batch: torch.Tensor, length: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Linear motion blur: each sample smeared along a line of ``length`` pixels at ``angle`` (radians)."""
    size = 2 * math.ceil(float(length.max()) / 2) + 1
    x, y = _kernel_coords(size, batch.device)
    dx, dy = torch.cos(angle).view(-1, 1, 1), torch.sin(angle).view(-1, 1, 1)
    half = (length.view(-1, 1, 1) - 1).clamp(min=0) / 2
    along = (x * dx + y * dy).clamp(-half, half)  # nearest point of the segment
    distance = torch.hypot(x - along * dx, y - along * dy)
    kernels = (1 - distance).clamp(min=0)
    return _filter_each(batch, kernels / kernels.sum(dim=(1, 2), keepdim=True)).clamp(0, 1)


def defocus_blur(batch: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Out-of-focus blur: each sample convolved with a disc of ``radius`` pixels (0.5: unchanged)."""
    size = 2 * math.ceil(float(radius.max())) + 1
    x, y = _kernel_coords(size, batch.device)
    kernels = (radius.view(-1, 1, 1) + 0.5 - torch.hypot(x, y)).clamp(0, 1)
    return _filter_each(batch, kernels / kernels.sum(dim=(1, 2), keepdim=True)).clamp(0, 1)


def gaussian_noise(batch: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Additive sensor noise of standard deviation ``std`` (in [0, 1] intensity units) per sample."""
    return (batch + torch.randn_like(batch) * std.view(-1, 1, 1, 1)).clamp(0, 1)


def gamma(batch: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    """Gamma curve ``x ** exponent`` per sample (< 1 brightens shadows, > 1 darkens them)."""
    return batch.clamp(min=1e-6).pow(exponent.view(-1, 1, 1, 1)).clamp(0, 1)


def _dct_matrix(device: torch.device) -> torch.Tensor:
    k = torch.arange(8, device=device, dtype=torch.float32)
    matrix = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    matrix[0] /= math.sqrt(2)
    return matrix  # orthonormal DCT-II: coefficients = D @ block @ D.T


def jpeg_quant_tables(quality: torch.Tensor) -> torch.Tensor:
    """The libjpeg luminance quantisation tables (N, 8, 8) for qualities 1-100 (N,)."""
    quality = quality.float().clamp(1, 100).view(-1, 1, 1)
    scale = torch.where(quality < 50, 5000 / quality, 200 - 2 * quality)
    return torch.floor((_JPEG_LUMA.to(quality.device) * scale + 50) / 100).clamp(1, 255)


def jpeg_compress(batch: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG's lossy step on grayscale: 8x8 block DCT, quantisation with the standard luminance
    table at ``quality`` (1-100) per sample, inverse DCT, rounding to 8 bits. What an encoder then
    does (entropy coding) is lossless, so this gives the decoded image of a baseline JPEG."""
    n, c, h, w = batch.shape
    ph, pw = -h % 8, -w % 8
    pixels = F.pad(batch, (0, pw, 0, ph), mode="replicate") * 255 - 128
    hb, wb = (h + ph) // 8, (w + pw) // 8
    blocks = pixels.reshape(n, c, hb, 8, wb, 8).permute(0, 1, 2, 4, 3, 5)
    dct = _dct_matrix(batch.device)
    tables = jpeg_quant_tables(quality).view(n, 1, 1, 1, 8, 8)
    coefficients = torch.round(dct @ blocks @ dct.T / tables) * tables
    decoded = (dct.T @ coefficients @ dct).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h + ph, w + pw)
    return (torch.round(decoded + 128).clamp(0, 255) / 255)[..., :h, :w]


def _resample(batch: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def downscale(batch: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
    """Each sample shrunk to ``side`` x ``side`` pixels (N,) int, then enlarged back (bilinear),
    as a small face in a low-resolution frame comes out of the aligner."""
    out = batch.clone()
    h, w = batch.shape[-2:]
    for size in torch.unique(side).tolist():
        chosen = side == size
        if size < max(h, w):
            small = _resample(batch[chosen], int(size))
            out[chosen] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return out.clamp(0, 1)


def blocky_compress(batch: torch.Tensor, side: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Video-codec-like blockiness: each sample shrunk to ``side`` pixels, JPEG-compressed at
    ``quality`` there and enlarged back, so its 8x8 blocks become the coarse, smoothed blocks of a
    low-bit-rate video frame (H.264 macroblocks are 16x16 with deblocking)."""
    out = batch.clone()
    h, w = batch.shape[-2:]
    for size in torch.unique(side).tolist():
        chosen = side == size
        shrink = size < max(h, w)
        part = jpeg_compress(_resample(batch[chosen], int(size)) if shrink else batch[chosen], quality[chosen])
        out[chosen] = F.interpolate(part, size=(h, w), mode="bilinear", align_corners=False) if shrink else part
    return out.clamp(0, 1)


def _pixel_grid(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in [-1, 1] (x, y), each (1, H, W)."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) * 2 + 1) / h - 1
    xs = (torch.arange(w, device=device, dtype=torch.float32) * 2 + 1) / w - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return x[None], y[None]


def occlusion_masks(
    shape: tuple[int, int, int, int],
    centre: torch.Tensor,
    half_axes: torch.Tensor,
    angle: torch.Tensor,
    is_bar: torch.Tensor,
) -> torch.Tensor:
    """Soft-edged occluder masks (N, 1, H, W) in [0, 1]: a rotated ellipse (a hand, a cup) or,
    where ``is_bar``, a rotated rectangle (glasses' frame, a scarf, a microphone). ``centre``
    (N, 2) and ``half_axes`` (N, 2, along and across the shape) are in [-1, 1] image coordinates,
    ``angle`` (N,) in radians."""
    n, _, h, w = shape
    x, y = _pixel_grid(h, w, centre.device)
    cos, sin = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
    dx, dy = x - centre[:, 0].view(n, 1, 1), y - centre[:, 1].view(n, 1, 1)
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    a, b = half_axes[:, 0].view(n, 1, 1), half_axes[:, 1].view(n, 1, 1)
    pixel = 2 / max(h, w)  # one pixel in these coordinates: edges are antialiased over it
    ellipse_radius = torch.sqrt((along / a) ** 2 + (across / b) ** 2)
    ellipse_inside = (1 - ellipse_radius) * torch.minimum(a, b) / pixel + 0.5
    bar_inside = torch.minimum(a - along.abs(), b - across.abs()) / pixel + 0.5
    inside = torch.where(is_bar.view(n, 1, 1), bar_inside, ellipse_inside)
    return inside.clamp(0, 1).unsqueeze(1)


def occlude(batch: torch.Tensor, masks: torch.Tensor, fill: torch.Tensor, texture: float = 0.04) -> torch.Tensor:
    """Paint each sample's mask (N, 1, H, W) with its gray level ``fill`` (N,) plus faint noise."""
    paint = (fill.view(-1, 1, 1, 1) + texture * torch.randn_like(batch)).clamp(0, 1)
    return batch * (1 - masks) + paint * masks
