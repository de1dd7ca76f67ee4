"""Image stages of the pipeline: safe decode, card localisation, and upright geometry.

- `decode` refuses bad and oversized inputs before paying for them, honours EXIF
  orientation and normalises every mode (CMYK, 16-bit, palette, alpha) to BGR uint8.
- `locate_card` finds the card's quadrilateral, undoes its perspective and scales it
  so the detector never sees more than `long_side` pixels: that cap keeps memory flat.
- `upright_boxes` resolves 180° turns and residual skew on the engine's boxes, so the
  parser always gets boxes in reading order geometry.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ocr_job.engines.base import Point, TextBox
from ocr_job.records import ErrorCode

#: ID-1 card: 85.6 mm × 54.0 mm.
CARD_ASPECT = 85.6 / 54.0
#: Images smaller than this on their short side cannot hold a legible card.
MIN_SIDE = 64
#: Decoded images are scaled down to this long side at once, so nothing large lingers.
WORK_LONG_SIDE = 2000
#: A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) as long as its long
#: side stays at least this: a 3,800 px photo decodes at 1,900 px instead of at full size
#: (58 MB in Pillow's four bytes per pixel, the worker's peak on such photos).
DRAFT_MIN_LONG_SIDE = 1400
#: A picture within this share of the card's aspect ratio is taken as cropped to the card
#: (a scan, a crop with thin margins: within 2.5%), where a small outline found inside is
#: a detail of the card (the portrait's frame), not the card. A 3:2 photo is 5.4% off the
#: card's 1.585: at 8% its cards under a quarter of the picture were never located.
CROPPED_CARD_ASPECT = 0.04
#: Formats the decoder accepts (Pillow's names).
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "TIFF", "WEBP"})


class ImageError(Exception):
    """An input that cannot become a card image; carries the record's error code."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class CardImage:
    image: np.ndarray  # BGR uint8, landscape, long side ≤ the cap
    found_quad: bool  # True when the card's outline was found and its perspective undone


# --------------------------------------------------------------------------- decode


def decode(data: bytes, max_pixels: int) -> np.ndarray:
    """Bytes → BGR uint8, at most WORK_LONG_SIDE on the long side. Raises ImageError."""
    if not data:
        raise ImageError(ErrorCode.EMPTY_FILE, "the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, "not an image file (unknown format)") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(ErrorCode.IMAGE_TOO_LARGE, f"image is too large to decode: {exc}") from None
    except Exception as exc:
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, f"cannot read the image header: {exc}") from None
    if img.format not in SUPPORTED_FORMATS:
        raise ImageError(
            ErrorCode.UNSUPPORTED_FORMAT,
            f"image format {img.format} is not supported; use JPEG, PNG, WEBP, TIFF, BMP or GIF",
        )
    width, height = img.size
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            ErrorCode.IMAGE_TOO_SMALL,
            f"image is {width}×{height} px; at least {MIN_SIDE} px on each side is needed",
        )
    if img.format == "JPEG":
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: large photos never fill memory.
        img.draft("RGB", _draft_size(width, height))
    decoded_pixels = img.size[0] * img.size[1]
    if decoded_pixels > max_pixels:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE,
            f"image is {width}×{height} px ({width * height / 1e6:.0f} MP); "
            f"the limit is {max_pixels / 1e6:.0f} MP",
        )
    try:
        img.load()
        # Shrink before any other copy is made (turn, mode change, array, BGR): a large
        # photo is held at full size exactly once, by the decoder.
        img = _shrink(img, WORK_LONG_SIDE)
        img = ImageOps.exif_transpose(img) or img
        rgb = _to_rgb(img)
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(ErrorCode.UNREADABLE_IMAGE, f"the image data is damaged: {exc}") from None
    del img
    return fit(np.ascontiguousarray(rgb[..., ::-1]), WORK_LONG_SIDE)


#: Pillow modes whose resize is a true area filter; others are converted first, then fitted.
_SHRINKABLE_MODES = frozenset({"RGB", "RGBA", "RGBX", "L", "LA", "CMYK"})


def _shrink(img: Image.Image, long_side: int) -> Image.Image:
    """`img` scaled down to at most `long_side` (box filter, like cv2's INTER_AREA)."""
    width, height = img.size
    scale = long_side / max(width, height)
    if scale >= 1.0 or img.mode not in _SHRINKABLE_MODES:
        return img
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.BOX)


def _draft_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, DRAFT_MIN_LONG_SIDE / max(width, height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Any Pillow mode → RGB uint8 array; transparency is laid over white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.size else 0.0
        scale = 255.0 / (65535.0 if top > 255 else max(top, 1.0))
        grey = np.clip(arr * scale, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        grey = ((arr - lo) / max(hi - lo, 1e-9) * 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def fit(image: np.ndarray, long_side: int) -> np.ndarray:
    """`image` scaled down to at most `long_side` on its long side (never enlarged)."""
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1.0:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def fit_view(image: np.ndarray, long_side: int) -> np.ndarray:
    """A whole picture as the engine sees it: at most `long_side` on its long side, and no
    more pixels than a card of that long side. The detector's working memory grows with
    the pixels it sees (measured: a 960×960 view needs twice the 960×606 card's), so a
    square photo is seen at 762×762 instead."""
    h, w = image.shape[:2]
    card_pixels = long_side * round(long_side / CARD_ASPECT)
    if h * w <= card_pixels:
        return fit(image, long_side)
    return fit(image, min(long_side, math.floor(max(h, w) * math.sqrt(card_pixels / (h * w)))))


# --------------------------------------------------------------------------- locate


def locate_card(image: np.ndarray, long_side: int) -> CardImage:
    """Crop the card out of a photo and undo its perspective; else use the whole image.

    A found card is landscape; whether it is upside down is settled later from the text
    (see `upright_boxes`). Without an outline the image is returned as it is, scaled.
    """
    quad = find_card_quad(image)
    if quad is not None:
        card = _warp(image, quad, long_side)
        return CardImage(image=card, found_quad=True)
    return CardImage(image=fit_view(image, long_side), found_quad=False)


def find_card_quad(image: np.ndarray) -> np.ndarray | None:
    """The four corners (float32, image coords) of the card, or None if no clear outline.

    Candidates come from several edge and threshold maps. Each candidate's sides are
    refitted to the edge pixels along them (a polygon approximation cuts the rounded
    corners, which moves the sides by a few pixels), and a candidate counts only when
    every side runs along an edge of its own direction (lighting gradients make large
    false regions in threshold maps; a card's printed pattern has edges everywhere, but
    not in one direction along a line). The largest such outline wins.
    """
    h, w = image.shape[:2]
    scale = min(1.0, 640 / max(h, w))
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA) if scale < 1 else image
    sh, sw = small.shape[:2]
    area = float(sh * sw)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    grey = cv2.GaussianBlur(grey, (5, 5), 0)
    edges = _Edges(grey)
    band = max(4.0, 0.012 * max(sh, sw))
    card_shaped = abs(max(sw, sh) / min(sw, sh) / CARD_ASPECT - 1) < CROPPED_CARD_ASPECT
    candidates: list[np.ndarray] = []
    for region in _edge_maps(grey):
        contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
            quad = _quad_of(contour, area)
            if quad is None or cv2.contourArea(quad) > 0.93 * area:
                continue  # none, or the frame of the picture
            quad = _refine_sides(quad, edges.points, band)
            sides = [edges.support(quad[i], quad[(i + 1) % 4]) for i in range(4)]
            if sum(sides) / 4 >= 0.75 and min(sides) >= 0.5:
                candidates.append(quad)
    if not candidates:
        return None
    best = max(candidates, key=cv2.contourArea)
    if card_shaped and cv2.contourArea(best) < 0.25 * area:
        return None  # a card-shaped image whose largest outline is small: a detail of the card
    return (best / scale).astype(np.float32)


class _Edges:
    """Canny edges of a small grey image, with their gradient, for checking outlines."""

    #: Samples along a side, and how far (px) across the side an edge may lie.
    SAMPLES = 40
    REACH = 3

    def __init__(self, grey: np.ndarray) -> None:
        self.canny = cv2.Canny(grey, 20, 60)
        self.gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
        self.gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
        ys, xs = np.nonzero(self.canny)
        self.points = np.stack([xs, ys], axis=1).astype(np.float64)

    def support(self, a: np.ndarray, b: np.ndarray) -> float:
        """The share of points along a→b with an edge across the side near them."""
        h, w = self.canny.shape[:2]
        d = (b - a).astype(np.float64)
        length = float(np.hypot(*d))
        if length < 1:
            return 0.0
        normal = np.array([-d[1], d[0]]) / length
        ts = np.linspace(0.05, 0.95, self.SAMPLES)[:, None, None]
        ks = np.arange(-self.REACH, self.REACH + 1)[None, :, None]
        pts = (a + d * ts + normal * ks).round().astype(int)  # samples × offsets × 2
        x, y = pts[..., 0], pts[..., 1]
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        x, y = np.clip(x, 0, w - 1), np.clip(y, 0, h - 1)
        gx, gy = self.gx[y, x], self.gy[y, x]
        across = np.abs(gx * normal[0] + gy * normal[1]) >= 0.85 * np.hypot(gx, gy)
        hit = inside & (self.canny[y, x] > 0) & across
        return float(hit.any(axis=1).mean())


def _refine_sides(quad: np.ndarray, points: np.ndarray, band: float) -> np.ndarray:
    """`quad` with each side refitted to the edge points within `band` px of its middle
    part, and the corners moved to where the refitted sides meet (two rounds)."""
    for _ in range(2):
        lines: list[tuple[np.ndarray, np.ndarray]] = []
        for i in range(4):
            a, b = quad[i].astype(np.float64), quad[(i + 1) % 4].astype(np.float64)
            length = float(np.hypot(*(b - a)))
            if length < 1:
                return quad
            u = (b - a) / length
            rel = points - a
            t = rel @ u / length
            dist = rel @ np.array([-u[1], u[0]])
            near = points[(np.abs(dist) <= band) & (t > 0.12) & (t < 0.88)]
            if len(near) >= 0.3 * length:
                vx, vy, x0, y0 = cv2.fitLine(near.astype(np.float32), cv2.DIST_HUBER,
                                             0, 0.01, 0.01).ravel()
                lines.append((np.array([x0, y0], np.float64), np.array([vx, vy], np.float64)))
            else:
                lines.append((a, u))
        corners = []
        for i in range(4):
            (p1, d1), (p2, d2) = lines[i - 1], lines[i]
            m = np.array([[d1[0], -d2[0]], [d1[1], -d2[1]]])
            if abs(np.linalg.det(m)) < 1e-6:
                return quad
            corners.append(p1 + d1 * np.linalg.solve(m, p2 - p1)[0])
        refined = np.array(corners, np.float32)
        if np.abs(refined - quad).max() > 3 * band:
            return quad  # the fit ran off to other edges: keep the outline as found
        quad = refined
    return quad


def _edge_maps(grey: np.ndarray) -> list[np.ndarray]:
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    canny = cv2.dilate(cv2.Canny(grey, 30, 90), kernel, iterations=1)
    canny = cv2.morphologyEx(canny, cv2.MORPH_CLOSE, kernel, iterations=2)
    soft = cv2.dilate(cv2.Canny(grey, 10, 40), kernel, iterations=2)
    _, otsu = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    otsu = cv2.morphologyEx(otsu, cv2.MORPH_CLOSE, kernel, iterations=3)
    return [canny, soft, otsu, cv2.bitwise_not(otsu)]


def _quad_of(contour: np.ndarray, image_area: float) -> np.ndarray | None:
    if cv2.contourArea(contour) < 0.12 * image_area:
        return None
    hull = cv2.convexHull(contour)
    peri = cv2.arcLength(hull, True)
    quad: np.ndarray | None = None
    for eps in (0.02, 0.03, 0.05):
        approx = cv2.approxPolyDP(hull, eps * peri, True)
        if len(approx) == 4:
            quad = approx.reshape(4, 2).astype(np.float32)
            break
    if quad is None:
        rect = cv2.minAreaRect(hull)
        if cv2.contourArea(hull) < 0.85 * rect[1][0] * rect[1][1]:
            return None
        quad = cv2.boxPoints(rect).astype(np.float32)
    quad = _order_corners(quad)
    top = np.linalg.norm(quad[1] - quad[0])
    left = np.linalg.norm(quad[3] - quad[0])
    long_, short = max(top, left), min(top, left)
    if short < 1 or not 1.25 <= long_ / short <= 2.0:
        return None
    return quad


def _order_corners(quad: np.ndarray) -> np.ndarray:
    """Corners as top-left, top-right, bottom-right, bottom-left."""
    s = quad.sum(axis=1)
    d = np.diff(quad, axis=1).ravel()
    return np.array(
        [quad[np.argmin(s)], quad[np.argmin(d)], quad[np.argmax(s)], quad[np.argmax(d)]],
        dtype=np.float32,
    )


def _warp(image: np.ndarray, quad: np.ndarray, long_side: int) -> np.ndarray:
    top = np.linalg.norm(quad[1] - quad[0])
    left = np.linalg.norm(quad[3] - quad[0])
    if left > top:  # the card stands on its short side: start the outline one corner later
        quad = np.roll(quad, -1, axis=0)
    width = long_side
    height = round(long_side / CARD_ASPECT)
    dst = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]],
                   dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(image, matrix, (width, height), flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------- upright


def upright_boxes(boxes: list[TextBox], width: int, height: int) -> list[TextBox]:
    """Boxes in upright card geometry: undo a 180° turn, then residual skew.

    The engine's angle classifier already turned each line's text right way up;
    when most of the text (by characters) was upside down, the whole card was,
    so its geometry is turned too. Skew is measured from the boxes' top edges.
    """
    if not boxes:
        return boxes
    flipped = sum(len(b.text) for b in boxes if b.angle == 180)
    total = sum(len(b.text) for b in boxes)
    if flipped * 2 > total:
        boxes = [_turn_180(b, width, height) for b in boxes]
    angle = _skew_degrees(boxes)
    if abs(angle) >= 1.0:
        boxes = [_rotate(b, -angle, width / 2, height / 2) for b in boxes]
    return boxes


def _turn_180(box: TextBox, width: int, height: int) -> TextBox:
    p = [(width - x, height - y) for x, y in box.points]
    return TextBox(box.text, box.score, (p[2], p[3], p[0], p[1]), angle=(box.angle + 180) % 360)


def _skew_degrees(boxes: list[TextBox]) -> float:
    angles: list[float] = []
    weights: list[float] = []
    for b in boxes:
        (x0, y0), (x1, y1) = b.points[0], b.points[1]
        length = math.hypot(x1 - x0, y1 - y0)
        if length < 2 * max(b.height, 1) * 0.5 or len(b.text) < 3:
            continue
        angles.append(math.degrees(math.atan2(y1 - y0, x1 - x0)))
        weights.append(length)
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    median = float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2)])
    return median if abs(median) <= 30 else 0.0


def _rotate(box: TextBox, degrees: float, cx: float, cy: float) -> TextBox:
    rad = math.radians(degrees)
    c, s = math.cos(rad), math.sin(rad)
    pts: list[Point] = [
        (cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in box.points
    ]
    return TextBox(box.text, box.score, (pts[0], pts[1], pts[2], pts[3]), angle=box.angle)
