"""Face detection for still photos: when the first detection finds no face, look again.

A photo is detected once like a video frame (``detector.detect``). Photos where nothing was
found get further looks, in this order, each only for the photos still without a face:

1. **zoomed**: the photo enlarged (``zoom`` times the scale the detector works at, and at least
   to ``small_side`` pixels; small photos first padded with a grey border) and detected
   tile by tile at the detector's own scale: small faces in large photos (shrunk below the
   smallest face size by the detector's downscaling), tiny photos, tight face crops (no context
   around the face);
2. **brightened**: dark or flat photos (low exposure, low contrast), contrast-stretched and
   gamma-corrected;
3. **turned**: the photo turned a quarter turn each way (sideways photos without EXIF
   orientation, strongly tilted heads);
4. **tilted**: the photo turned ``tilt`` degrees each way in the image plane, small photos first
   enlarged (heads tilted or bowed, as in photos of people crying or laughing).

Boxes and landmarks are mapped back to the photo. The looks cost only photos without a face,
and never run in the video path, which calls ``detector.detect`` itself. Brightened and turned
looks work on the photo shrunk as the detector would shrink it.
``scripts/measure_detection.py`` measured the settings on real photos with and without faces
(results/detection/), choosing them on one half and reporting on the other. The looks' score
threshold, 0.97, is the lowest of the thresholds compared that stays 0.02 above every false face the
looks gave the tune half's no-face images (the highest scored 0.948); at it the looks added no false
face to the 508 no-face images (the first detection's own 2 stay). The tilted look and the grey
border (a replicated one smears the crop's edges outwards) were added when the frontal faces the
tune half still missed turned out to be bowed or tilted heads and faces half behind a hand; on the
test half the no-face rate of ordinary frontal photos is 15.9 % with one detection and 6.5 % with
the looks. OpenCV's Haar cascade as a further look is left out: it put boxes on 21 more no-face
images, and found 3 more of the 965 test faces.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from fer_video.faces.scaling import downscale_for_detection
from fer_video.faces.types import FaceDetections, FaceDetector

#: Boxes from different views that overlap this much (IoU) are one face ...
MERGE_IOU = 0.3
#: ... and so are two where this fraction of the smaller one lies inside the larger.
MERGE_COVER = 0.6
#: Colour of the border added around tight crops and tilted photos (mid-grey: no edges the
#: detector could read as part of a face, unlike a replicated border's streaks).
BORDER_GREY = (128, 128, 128)


@dataclass(frozen=True)
class PhotoSearch:
    """What :func:`detect_photos` tries on photos where the first detection finds no face.

    ``zoom``: magnification of the zoomed look, relative to the scale the detector works at
    (0 turns the look off); ``small_side``: the zoomed look enlarges a photo at least until its
    shorter side (padding included) is this long; ``max_side``: cap on the zoomed photo's longer
    side (bounds the cost); ``pad``: border added on each side before zooming, as a fraction
    of the photo's shorter side, for photos the detector does not shrink (tight face crops);
    ``brighten``: the brightened look for dark or flat photos; ``turn``: the two quarter-turned
    looks; ``tilt``: the angle of the two tilted looks in degrees (0 turns them off);
    ``score_threshold``: the score a face found by these looks needs (the detector's own
    threshold applies too): stricter than the first look's, since the looks run on every photo
    without a face.
    """

    zoom: float = 3.0
    small_side: int = 160
    max_side: int = 1920
    pad: float = 0.2
    brighten: bool = True
    turn: bool = True
    tilt: float = 30.0
    score_threshold: float = 0.97


#: The looks :class:`~fer_video.recognizer.EmotionRecognizer` gives photos by default.
DEFAULT_PHOTO_SEARCH = PhotoSearch()


@dataclass(frozen=True)
class View:
    """A transformed copy of a photo and the 2 x 3 affine map from its pixels back to the photo's.

    ``cut``: which of the view's left, top, right and bottom edges cut through the photo (a
    tile's edges inside the photo); a face box reaching one is a face cut in two, found whole in
    the neighbouring tile, and is dropped here.
    """

    image: np.ndarray
    to_photo: np.ndarray
    cut: tuple[bool, bool, bool, bool] = (False, False, False, False)

    def faces(self, found: FaceDetections) -> FaceDetections:
        """``found`` in this view, without boxes that reach a cut edge, mapped to the photo."""
        height, width = self.image.shape[:2]
        x1, y1, x2, y2 = found.boxes.T
        left, top, right, bottom = self.cut
        reaches = (left & (x1 <= 1)) | (top & (y1 <= 1)) | (right & (x2 >= width - 1)) | (bottom & (y2 >= height - 1))
        return found.select(~reaches).mapped(self.to_photo)


def detect_photos(
    detector: FaceDetector, images: Sequence[np.ndarray], search: PhotoSearch | None = None
) -> list[FaceDetections]:
    """Faces of each RGB uint8 photo (H, W, 3): ``detector.detect``, then the looks of ``search``
    (default :class:`PhotoSearch`) for the photos where nothing was found, in order, until one
    finds a face."""
    search = PhotoSearch() if search is None else search
    found = list(detector.detect(images))
    for look in _looks(detector, search):
        missing = [i for i, faces in enumerate(found) if not len(faces)]
        if not missing:
            break
        views = {i: look(images[i]) for i in missing}
        flat = [view for i in missing for view in views[i]]
        detected = iter(detector.detect([view.image for view in flat]) if flat else [])
        for i in missing:
            parts = [view.faces(next(detected)) for view in views[i]]
            found[i] = merge([part.select(part.scores >= search.score_threshold) for part in parts])
    return found


def _looks(detector: FaceDetector, search: PhotoSearch) -> list[Callable[[np.ndarray], list[View]]]:
    """The looks ``search`` turns on, in order: each gives the views of one photo (maybe none)."""
    side = getattr(detector, "max_detect_side", 640)  # 0: the detector never shrinks photos
    looks: list[Callable[[np.ndarray], list[View]]] = []
    if search.zoom > 0:
        looks.append(lambda image: zoomed_views(image, search, side))
    if search.brighten:
        looks.append(shrunk_first(brightened_views, side))
    if search.turn:
        looks.append(shrunk_first(turned_views, side))
    if search.tilt:
        looks.append(shrunk_first(lambda image: tilted_views(image, search.tilt, search.small_side), side))
    return looks


def shrunk_first(views: Callable[[np.ndarray], list[View]], side: int) -> Callable[[np.ndarray], list[View]]:
    """``views`` taken of the photo shrunk to ``side`` pixels, as the detector shrinks it anyway
    (editing and turning a large photo at full size would cost more than detecting it)."""

    def shrunk_views(image: np.ndarray) -> list[View]:
        small, factor = downscale_for_detection(image, side)
        return [View(view.image, view.to_photo * factor, view.cut) for view in views(small)]

    return shrunk_views


def merge(parts: Sequence[FaceDetections]) -> FaceDetections:
    """One photo's faces from several views: of boxes that are one face (see :func:`same_face`,
    e.g. a face seen whole in two overlapping tiles), the best-scoring one is kept."""
    parts = [part for part in parts if len(part)]
    if len(parts) <= 1:
        return parts[0] if parts else FaceDetections.empty()
    boxes = np.concatenate([p.boxes for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    landmarks = np.concatenate([p.landmarks for p in parts])
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if not any(same_face(boxes[i], boxes[j]) for j in keep):
            keep.append(int(i))
    return FaceDetections.from_arrays(boxes[keep], scores[keep], landmarks[keep])


def same_face(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two boxes (x1, y1, x2, y2) are one face: IoU above :data:`MERGE_IOU`, or most
    (:data:`MERGE_COVER`) of the smaller box inside the larger."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return inter > MERGE_IOU * (area_a + area_b - inter) or inter > MERGE_COVER * min(area_a, area_b)


def zoomed_views(image: np.ndarray, search: PhotoSearch, detect_side: int) -> list[View]:
    """The photo padded and enlarged per ``search`` for a detector that shrinks photos to
    ``detect_side`` pixels (0: never), cut into overlapping tiles the detector does not shrink
    (all the same size, so they are detected as one batch); none when the enlargement adds
    hardly any detail to what the first detection saw."""
    height, width = image.shape[:2]
    tile = detect_side if detect_side > 0 else search.max_side
    first = min(1.0, detect_side / max(height, width)) if detect_side > 0 else 1.0  # the first look's scale
    pad = round(search.pad * min(height, width)) if first == 1.0 else 0
    padded_h, padded_w = height + 2 * pad, width + 2 * pad
    scale = max(search.zoom * first, search.small_side / min(padded_h, padded_w))
    scale = min(scale, search.max_side / max(padded_h, padded_w))
    if scale <= first * 1.25:
        return []
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=BORDER_GREY) if pad else image
    size = (round(padded_w * scale), round(padded_h * scale))
    big = cv2.resize(padded, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    scale_x, scale_y = padded_w / size[0], padded_h / size[1]
    tile_w, tile_h = min(tile, size[0]), min(tile, size[1])
    views = []
    for y0 in _tile_starts(size[1], tile_h):
        for x0 in _tile_starts(size[0], tile_w):
            to_photo = np.array([[scale_x, 0, x0 * scale_x - pad], [0, scale_y, y0 * scale_y - pad]])
            cut = (x0 > 0, y0 > 0, x0 + tile_w < size[0], y0 + tile_h < size[1])
            views.append(View(big[y0 : y0 + tile_h, x0 : x0 + tile_w], to_photo, cut))
    return views


def _tile_starts(length: int, tile: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length``, overlapping by at least a
    quarter tile (a face cut by one tile's edge lies whole in its neighbour)."""
    if length <= tile:
        return [0]
    count = math.ceil((length - tile) / (tile * 3 / 4)) + 1
    return [round(v) for v in np.linspace(0, length - tile, count)]


def brightened_views(image: np.ndarray) -> list[View]:
    """The photo :func:`brightened`, if it :func:`is_dim` (else none)."""
    return [View(brightened(image), np.eye(2, 3))] if is_dim(image) else []


def is_dim(image: np.ndarray) -> bool:
    """Dark (the brightest 1 % below mid-grey) or flat (1st to 99th percentile of luminance
    within 96 grey levels): the photos the brightened look is for."""
    low, high = np.percentile(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), (1, 99))
    return high < 128 or high - low < 96


def brightened(image: np.ndarray) -> np.ndarray:
    """Luminance stretched from its 1st-99th percentiles to the full range, then a gamma that
    brings its median to mid-grey; colours scaled with it."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    low, median, high = np.percentile(gray, (1, 50, 99))
    stretched = np.clip((gray - low) / max(high - low, 1.0), 0, 1)
    middle = min(max((median - low) / max(high - low, 1.0), 0.02), 0.98)
    target = stretched ** (math.log(0.5) / math.log(middle))
    gain = (255 * target + 1) / (gray + 1)
    return np.clip(image * gain[..., None], 0, 255).astype(np.uint8)


def turned_views(image: np.ndarray) -> list[View]:
    """The photo turned a quarter turn counter-clockwise and clockwise."""
    height, width = image.shape[:2]
    return [
        View(np.ascontiguousarray(np.rot90(image, 1)), np.array([[0, -1, width], [1, 0, 0]])),
        View(np.ascontiguousarray(np.rot90(image, -1)), np.array([[0, 1, 0], [-1, 0, height]])),
    ]


def tilted_views(image: np.ndarray, degrees: float, small_side: int) -> list[View]:
    """The photo turned ``degrees`` counter-clockwise and clockwise about its centre, each on a
    grey canvas that holds it whole; photos whose shorter side is under ``small_side`` pixels are
    enlarged to it first (a tight crop turned at its own size would be below the smallest face)."""
    height, width = image.shape[:2]
    scale = max(1.0, small_side / min(height, width))
    if scale > 1:
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)
    height, width = image.shape[:2]
    views = []
    for angle in (degrees, -degrees):
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
        size = (round(height * sin + width * cos), round(height * cos + width * sin))
        turn[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
        canvas = cv2.warpAffine(image, turn, size, flags=cv2.INTER_LINEAR, borderValue=BORDER_GREY)
        views.append(View(canvas, cv2.invertAffineTransform(turn) / scale))
    return views
