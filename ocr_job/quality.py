"""The picture's quality and authenticity: measures and warnings (`IMAGE_WARNING_CODES`).

Three passes, on pictures the pipeline has already made (nothing full-size is kept):

* `survey(image)`, on the decoded picture before the card is read: the card outlines in it
  (`imaging.card_quads`) → `multiple_cards`; a card-like region whose border runs off the
  picture, or an outline with a corner outside it → `card_incomplete`.
* `by_print(warnings, scene, frame, size)`, after the reading: the card's frame predicted
  from the layout of its text (`ocr_job.cardframe`), placed in the picture, settles
  `card_incomplete` (a card its print places inside the picture is whole, whatever page or
  hand the survey found running off it; one its print places across the picture's edge is
  cut); `print_view` cuts that card out of a view that holds much more than it (the outline
  found was the page, or none was) for `inspect`.
* `inspect(card, side, turned, located)`, on the card as read (straightened when its outline
  was found), once its side and orientation are known:

  - sharpness: the width of the card's sharpest edges (ink strokes, borders), measured as
    the local contrast over the steepest slope (not along the view's border, where the
    window is cut), in pixels of a card 1,000 px wide;
    `sharpness = clip((8 - width) / 6.5)`: 1 for a crisp edge (~1.5 px), below
    BLURRY_BELOW (0.35: wider than ~5.7 px) → `image_blurry`.
  - glare: the share of the card's text area (the card without its portrait or emblem)
    under a saturated, colourless highlight (every channel ≥ 245) in one patch large
    enough to hide characters (≥ GLARE_MIN_SHARE of the text area) → `glare`. The patch
    must be solid (the print under it washed out: a pale card lit bright keeps its print
    as holes in the saturated paper) and lie on the text (most of its outline runs
    through the text area, not along its border: the margin or the portrait's frame,
    where lit paper goes on saturated).
  - photocopy: a printed card has colour (blue labels, a red emblem, a tinted guilloche,
    a portrait): the 99th percentile of the chroma's distance from the card's median
    colour (CIELAB a*, b*) below PHOTOCOPY_CHROMA means a greyscale or toner copy (a
    uniform colour cast, from the light or a tinted paper, does not count).
  - screen_recapture: a screen's pixel grid, sampled by a camera, leaves sharp isolated
    peaks in the picture's spectrum (moiré); printed cards and paper have none. The
    highest peak over the median of its frequency ring, in the high-passed grey and
    chroma channels, above SCREEN_PEAK → `screen_recapture`.
  - occlusion: an object over the text area is a region of one colour, far from the
    card's own (ΔE > OCCLUDER_DELTA_E), smooth (no print texture), of at least
    OCCLUDER_MIN_SHARE of the text area → `occlusion`; or, whatever its colour (a white
    sticker or a silver pen on a pale card), a gap of that size in the card's print
    texture (its guilloche and print, which cover the whole text area).

`quality.score` is the lowest of sharpness and 1 − glare·10 (clipped to 0..1).
The thresholds are physical: they were set from the measures' meaning and checked on the
generated cases of `ocr_job.synth.kyc_cases` (bench/kyc.py), not fitted to them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from ocr_job import cardframe, imaging
from ocr_job.records import IMAGE_WARNING_CODES, Quality, RecordWarning

#: Sharpness below this raises `image_blurry` (edges spread over more than ~5.7 px of a
#: card 1,000 px wide: strokes of 小5号 text, ~0.35 mm, are then lost in the blur).
BLURRY_BELOW = 0.35
#: A saturated patch covering this share of the text area raises `glare` (about one
#: character of the name line, ~3.5 mm × 3.5 mm of the ~55 mm × 50 mm text area).
GLARE_MIN_SHARE = 0.004
#: Every channel at least this: the sensor saturated.
SATURATED = 245
#: A highlight is solid (its area this share of its convex hull's at least): the print under
#: it is washed out, where a pale card lit bright keeps its print in holes...
GLARE_SOLID = 0.85
#: ...and lies on the text: this share of its outline at least runs through the text area
#: (where the light falls off around it), not along the text area's border (the card's
#: margin, the portrait's frame), where the paper of a card lit bright goes on saturated.
GLARE_INSIDE = 0.6
#: Chroma spread (CIELAB units of OpenCV's 8-bit a*, b*) below which the card has no colour.
PHOTOCOPY_CHROMA = 9.0
#: A spectral bin this many times the median around it is a peak; this many peaks a grid.
PEAK_RATIO = 4.0
SCREEN_PEAKS = 60
#: An occluder's colour differs from the card's by more than this (CIELAB ΔE, 8-bit scale).
OCCLUDER_DELTA_E = 30.0
#: And covers at least this share of the text area.
OCCLUDER_MIN_SHARE = 0.02
#: Its rim: the card just around it (OCCLUDER_RIM to 3 × OCCLUDER_RIM px away, of a
#: 1,000 px card: 0.6–1.8 mm, beyond the object's shaded or blurred edge) is closer to the
#: card's colour than the object by OCCLUDER_RIM_DELTA_E at least (uneven light drifts the
#: card's colour smoothly: no rim).
OCCLUDER_RIM = 11
OCCLUDER_RIM_DELTA_E = 20.0
#: (The card around it: this percentile of the ring, which may hold the object's own rim.)
OCCLUDER_RIM_PERCENTILE = 25
#: A region of the card's own chromaticity (a*, b* within OCCLUDER_CHROMA), darker than the
#: card but above SHADOW_DEPTH of its lightness, is a shadow on it, not an object.
OCCLUDER_CHROMA = 12.0
SHADOW_DEPTH = 0.4
#: And it reaches this share of the card's height in from the card's edge.
OCCLUDER_REACH = 0.08
#: A printed card is textured all over its text area (guilloche, tint lines, print): the
#: band-passed lightness (Gaussian σ 1 px minus σ 4 px, of a 1,000 px card: 0.1–0.35 mm
#: detail), averaged over TEXTURE_BOX px, is below TEXTURE_GAP of its median over the text
#: area only where something smooth covers the card (a sticker, a pen, a coin, a finger),
#: or where the print is washed out (glare: saturated pixels are left to `glare`).
TEXTURE_BOX = 15
TEXTURE_GAP = 0.3
#: A second outline counts as another card when it covers this share of the largest one's
#: area at least and barely overlaps it.
OTHER_CARD_SHARE = 0.2
#: The smallest card found whole inside a larger region, as a share of the picture (as the
#: two-sided search's: a card on an A4 page).
WHOLE_MIN_SHARE = 0.025
#: A cut outline holding this share of the card found whole is the page or hand under it.
HELD_SHARE = 0.9

#: The card's size in mm (ID-1) and where its portrait and emblem are (GA 450), with
#: margins for the layouts' spread: these places are not text area.
CARD_MM = (85.6, 54.0)
PORTRAIT_MM = (52.0, 3.5, 84.0, 41.0)
EMBLEM_MM = (2.0, 2.0, 26.0, 27.0)


@dataclass
class Survey:
    """What the whole picture says, before the card is read."""

    warnings: list[str] = field(default_factory=list)
    quads: int = 0
    #: The card straightened from an outline found only loosely (a side hidden, e.g. by a
    #: finger), for `inspect` when the card was read without an outline; else None.
    card: np.ndarray | None = None
    #: That outline (picture pixels).
    loose: np.ndarray | None = None
    #: What raised `card_incomplete` (picture pixels): the outlines or regions running off
    #: the picture (convex polygons), or a corner (its side's end on the border, the corner,
    #: its other side's end).
    cut: list[np.ndarray] = field(default_factory=list)
    corner: np.ndarray | None = None


@dataclass
class Inspection:
    quality: Quality
    warnings: list[str]
    measures: dict[str, float]


def warning(code: str) -> RecordWarning:
    return RecordWarning(code=code, message=IMAGE_WARNING_CODES[code])


# --------------------------------------------------------------------------- the picture


def survey(image: np.ndarray, search: imaging.CardSearch | None = None) -> Survey:
    """`multiple_cards` and `card_incomplete` from the decoded picture (BGR). `search`: the
    picture's outline search (`imaging.CardSearch`), when the caller has made it already."""
    out = Survey()
    search = imaging.CardSearch.of(image, search)
    card_shaped = search.card_shaped
    quads = _distinct(search.quads(min_share=0.03))
    out.quads = len(quads)
    if len(quads) >= 2 and cv2.contourArea(quads[1]) >= OTHER_CARD_SHARE * cv2.contourArea(quads[0]):
        out.warnings.append("multiple_cards")
    outline = quads[0] if quads else None
    whole = outline if outline is not None and _whole(search, outline) else None
    lines = None
    if outline is None and not card_shaped:
        lines = _Lines(search)
        whole = _whole_card(search, lines)
        loose = search.quads(loose=True)
        found = loose[0] if loose else lines.card_quad()
        if found is not None:
            outline = found
            out.card, out.loose = imaging._warp(image, outline, 1000), outline
    if whole is not None and not card_shaped:
        # A card found whole is in the picture: what runs off it is what it lies on or
        # is held by (a printed page, a hand), unless it is a cut outline of its own.
        out.cut = _cut_beside(search, whole)
    else:
        # A corner with a side running into the border is looked for only when no outline
        # was found (the edge of a finger from beyond the picture, or of a table, can meet
        # the side of a card found loosely as a cut card's side meets its corner).
        out.corner = lines.cut_corner() if lines is not None and outline is None else None
        out.cut = [] if out.corner is not None else _incomplete(search, outline)
    if out.cut or out.corner is not None:
        out.warnings.append("card_incomplete")
        out.card = None  # an outline found loosely on a cut card holds the background
    return out


def _whole(search: imaging.CardSearch, quad: np.ndarray) -> bool:
    """`quad` lies in the picture (no corner beyond its edge, by more than 0.5 %) and no
    side of it runs along the picture's border (where a cut card's outline meets it)."""
    h, w = search.shape
    margin = -0.005 * max(h, w)
    xs, ys = quad[:, 0], quad[:, 1]
    if bool((xs < margin).any() or (ys < margin).any() or (xs > w - 1 - margin).any()
            or (ys > h - 1 - margin).any()):  # fmt: skip
        return False
    small, (sh, sw) = quad * search.scale, search.small_shape
    return not any(imaging._along_border(small[i], small[(i + 1) % 4], sw, sh, search.band) for i in range(4))


def _whole_card(search: imaging.CardSearch, lines: _Lines) -> np.ndarray | None:
    """A card outline found whole, every side edge-backed, when the plain search found none:
    one inside a larger region (a card on a printed page, whose print runs into its edge;
    the two-sided search's outlines), else one of four long straight edges (`_Lines`)."""
    for quad in search.quads(WHOLE_MIN_SHARE, per_map=12, nested=True):
        if _whole(search, quad):
            return quad
    found = lines.card_quad()
    return found if found is not None and _whole(search, found) else None


def _cut_beside(search: imaging.CardSearch, whole: np.ndarray) -> list[np.ndarray]:
    """The cut cards' outlines (`CardSearch.quads(cut=True)`) that do not hold the card found
    `whole`: a region holding it and running off the picture is the page or the hand under it."""
    return [quad for quad in search.quads(loose=True, cut=True) if _share_inside(whole, quad) < HELD_SHARE]


def _share_inside(inner: np.ndarray, outer: np.ndarray) -> float:
    """The share of `inner`'s area inside `outer` (both convex)."""
    shared, _ = cv2.intersectConvexConvex(inner.astype(np.float32), outer.astype(np.float32))
    return float(shared) / max(1e-6, cv2.contourArea(inner))


def _distinct(quads: list[np.ndarray]) -> list[np.ndarray]:
    """The outlines, largest first, without those whose centre lies inside a larger one
    (the same card found in another map, or a detail of it: the portrait's frame)."""
    kept: list[np.ndarray] = []
    for quad in quads:
        centre = tuple(float(v) for v in quad.mean(axis=0))
        if all(cv2.pointPolygonTest(k.reshape(-1, 1, 2), centre, False) < 0 for k in kept):
            kept.append(quad)
    return kept


def _incomplete(search: imaging.CardSearch, quad: np.ndarray | None) -> list[np.ndarray]:
    """A corner of the card's outline beyond the picture's edge, or (in a picture not cut
    to a card) an outline with a side along the picture's border, or without any outline
    a card-like region running into the border: the outlines or the region (none: the card
    is not found cut)."""
    h, w = search.shape
    if quad is not None:  # a corner beyond the picture's edge (by more than 0.5 %)
        margin = -0.005 * max(h, w)
        xs, ys = quad[:, 0], quad[:, 1]
        if bool((xs < margin).any() or (ys < margin).any() or (xs > w - 1 - margin).any()
                or (ys > h - 1 - margin).any()):  # fmt: skip
            return [quad]
    if search.card_shaped:
        return []  # a scan cut to the card
    cut = search.quads(loose=True, cut=True)
    if cut:
        return list(cut)
    region = _runs_off(search) if quad is None else None
    return [region / search.scale] if region is not None else []


def _runs_off(search: imaging.CardSearch) -> np.ndarray | None:
    """A large region with straight, edge-backed sides inside the picture and a side along
    the picture's border: a card that goes on past the edge (its polygon, in the search's
    pixels)."""
    sh, sw = search.small_shape
    near = 0.012 * max(sh, sw)
    for contours in search.regions():
        for contour in contours[:3]:
            area = cv2.contourArea(contour)
            if not 0.1 * sh * sw <= area <= 0.9 * sh * sw:
                continue
            hull = cv2.convexHull(contour)
            for eps in (0.015, 0.03, 0.05):
                poly = cv2.approxPolyDP(hull, eps * cv2.arcLength(hull, True), True).reshape(-1, 2)
                if len(poly) > 6:
                    continue
                poly = imaging._refine_sides(poly.astype(np.float32), search.edges.points, near)
                if _cut_outline(poly.astype(np.float64), search.edges, (sw, sh), near):
                    return poly.astype(np.float64)
    return None


def _cut_outline(poly: np.ndarray, edges: imaging._Edges, size: tuple[int, int],
                 near: float) -> bool:  # fmt: skip
    """`poly` has a side of at least a tenth of the picture along the picture's border, and
    two or more long sides inside it that run along edges (the card's own border)."""
    w, h = size
    border = inner = 0.0
    backed = 0
    for i in range(len(poly)):
        a, b = poly[i], poly[(i + 1) % len(poly)]
        length = float(np.hypot(*(b - a)))
        if (
            _on_border((a + b) / 2, w, h, near)
            and _on_border(a, w, h, 2 * near)
            and _on_border(b, w, h, 2 * near)
        ):
            border += length
            continue
        inner += length
        if length >= 0.15 * min(w, h) and edges.support(a.astype(np.float32), b.astype(np.float32)) >= 0.7:
            backed += 1
    return border >= 0.2 * min(w, h) and backed >= 2


def _on_border(point: np.ndarray, w: int, h: int, near: float) -> bool:
    x, y = float(point[0]), float(point[1])
    return x < near or y < near or x > w - 1 - near or y > h - 1 - near


_Arm = tuple[np.ndarray, np.ndarray, float]  # corner, direction away from it, reach


class _Lines:
    """The picture's long straight edges (the card's sides among them), on the outline
    search's copy (at most `imaging.SEARCH_LONG_SIDE` px on its long side), for finding a
    card whose outline is partly hidden or cut."""

    #: Edge-backed share of a visible side, of a side partly hidden, of a side's last part.
    SIDE, HIDDEN, END = 0.75, 0.45, 0.6

    def __init__(self, picture: np.ndarray | imaging.CardSearch) -> None:
        """`picture`: the picture (BGR), or its outline search (whose edges are used)."""
        search = picture if isinstance(picture, imaging.CardSearch) else imaging.CardSearch(picture)
        self.scale = search.scale
        self.h, self.w = search.small_shape
        self.edges = search.edges
        self.band = search.band
        short = min(self.h, self.w)
        found = cv2.HoughLinesP(self.edges.canny, 1, np.pi / 360, threshold=max(20, short // 12),
                                minLineLength=0.12 * short, maxLineGap=self.band)  # fmt: skip
        lines: list[np.ndarray] = [] if found is None else list(found.reshape(-1, 4).astype(np.float64))
        segments = sorted(lines, key=lambda s: -np.hypot(s[2] - s[0], s[3] - s[1]))
        self.segments: list[np.ndarray] = _merged(segments[:60], self.band)[:24]
        self._card_quad: tuple[np.ndarray | None] | None = None

    def support(self, a: np.ndarray, b: np.ndarray) -> float:
        return self.edges.support(a.astype(np.float32), b.astype(np.float32))

    def exit(self, p: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Where the ray from `p` along `u` leaves the picture."""
        sizes = (self.w, self.h)
        ts = [((0 if u[k] < 0 else sizes[k] - 1) - p[k]) / u[k] for k in (0, 1) if abs(u[k]) > 1e-9]
        exit_point: np.ndarray = p + u * min(t for t in ts if t >= 0)
        return exit_point

    def inside(self, p: np.ndarray, margin: float) -> bool:
        return bool(margin <= p[0] <= self.w - 1 - margin and margin <= p[1] <= self.h - 1 - margin)

    def cut_corner(self) -> np.ndarray | None:
        """A corner of the card inside the picture (two edges meeting at 60–120°, neither
        going on past it) one of whose sides runs, edge-backed all along, into the
        picture's border: the card goes on past it. A card wholly in the picture has every
        side end at a corner, followed by the background; an object's edge crossing the
        card's side (a thumb from beyond the picture) goes on past the side. The corner
        between its two sides' ends (picture pixels), or None."""
        short = min(self.h, self.w)
        for (p, u1, len1), (_, u2, len2) in self._corners():
            beyond = 0.1 * short  # past a corner neither side goes on (past a thumb's edge, both)
            if max(self.support(p, p - u1 * beyond), self.support(p, p - u2 * beyond)) >= self.HIDDEN:
                continue
            for (u, _), (v, other) in (((u1, len1), (u2, len2)), ((u2, len2), (u1, len1))):
                if other < 0.12 * short or self.support(p, p + v * other) < self.SIDE:
                    continue  # the other arm is no side of a card
                end = self.exit(p, u)
                run = float(np.linalg.norm(end - p))
                last = max(3 * self.band, 0.08 * run)
                if run < 0.12 * short or self.support(p, end) < self.SIDE:
                    continue
                if self.support(end - u * last, end) >= self.END and not self._closed(end, u):
                    corner: np.ndarray = np.array([end, p, p + v * other]) / self.scale
                    return corner
        return None

    def _closed(self, end: np.ndarray, u: np.ndarray) -> bool:
        """Another edge crosses the arm along `u` near where it meets the border at `end`:
        the card's next side, at a corner just inside the picture."""
        for seg in self.segments:
            d = _direction(seg)
            if abs(float(d @ u)) > 0.5:
                continue
            x = _intersection(end, u, seg[:2], d)
            if x is None or np.linalg.norm(x - end) > 4 * self.band:
                continue
            t = float((x - seg[:2]) @ d)
            if -4 * self.band <= t <= float(np.linalg.norm(seg[2:] - seg[:2])) + 4 * self.band:
                return True
        return False

    def _corners(self) -> list[tuple[_Arm, _Arm]]:
        """Pairs of segments meeting at 60–120° at a point inside the picture beyond their
        ends (within a tenth of the picture): (corner, direction away, reach) per arm."""
        short = min(self.h, self.w)
        out = []
        for i, s1 in enumerate(self.segments):
            for s2 in self.segments[i + 1 :]:
                a1, b1, a2, b2 = s1[:2], s1[2:], s2[:2], s2[2:]
                d1, d2 = (b1 - a1) / np.linalg.norm(b1 - a1), (b2 - a2) / np.linalg.norm(b2 - a2)
                cos = abs(float(d1 @ d2))
                if cos > 0.5:
                    continue
                p = _intersection(a1, d1, a2, d2)
                if p is None or not self.inside(p, 2 * self.band):
                    continue
                arm1, arm2 = _arm(p, a1, b1, 0.1 * short), _arm(p, a2, b2, 0.1 * short)
                if arm1 is not None and arm2 is not None:
                    out.append((arm1, arm2))
        return out

    def card_quad(self) -> np.ndarray | None:
        """`_find_card_quad`, found once."""
        if self._card_quad is None:
            self._card_quad = (self._find_card_quad(),)
        return self._card_quad[0]

    def _find_card_quad(self) -> np.ndarray | None:
        """A card outline from four long edges (two pairs of nearly parallel lines, at
        60–120° to each other), every corner inside the picture, ID-1-like in aspect, each
        side edge-backed for HIDDEN of its length at least and SIDE on average (a finger
        or a pen may hide part of a side); the largest, in the full picture's coordinates."""
        lines = self.segments
        pairs = []
        for i, s1 in enumerate(lines):
            for s2 in lines[i + 1 :]:
                d1, d2 = _direction(s1), _direction(s2)
                if abs(float(d1 @ d2)) < np.cos(np.radians(15)):
                    continue
                gap = abs(float((s2[:2] - s1[:2]) @ np.array([-d1[1], d1[0]])))
                if gap >= 0.15 * min(self.h, self.w):
                    pairs.append((s1, s2))
        best, best_area = None, 0.12 * self.h * self.w
        for i, (p1, p2) in enumerate(pairs):
            for q1, q2 in pairs[i + 1 :]:
                if abs(float(_direction(p1) @ _direction(q1))) > 0.5:
                    continue
                quad = _quad_from(p1, q1, p2, q2)
                if quad is None or not all(self.inside(c, -0.5) for c in quad):
                    continue
                area = cv2.contourArea(quad.astype(np.float32))
                if area <= best_area or area > 0.93 * self.h * self.w:
                    continue
                sides = [float(np.linalg.norm(quad[(k + 1) % 4] - quad[k])) for k in range(4)]
                long_, short = (sides[0] + sides[2]) / 2, (sides[1] + sides[3]) / 2
                if not 1.25 <= max(long_, short) / max(1e-6, min(long_, short)) <= 2.0:
                    continue
                support = [self.support(quad[k], quad[(k + 1) % 4]) for k in range(4)]
                if min(support) >= self.HIDDEN and sum(support) / 4 >= self.SIDE:
                    best, best_area = quad, area
        if best is None:
            return None
        return imaging._order_corners((best / self.scale).astype(np.float32))


def _direction(segment: np.ndarray) -> np.ndarray:
    d = segment[2:] - segment[:2]
    unit: np.ndarray = d / max(1e-9, float(np.linalg.norm(d)))
    return unit


def _intersection(a1: np.ndarray, d1: np.ndarray, a2: np.ndarray, d2: np.ndarray) -> np.ndarray | None:
    m = np.array([[d1[0], -d2[0]], [d1[1], -d2[1]]])
    if abs(np.linalg.det(m)) < 1e-6:
        return None
    point: np.ndarray = a1 + d1 * np.linalg.solve(m, a2 - a1)[0]
    return point


def _arm(p: np.ndarray, a: np.ndarray, b: np.ndarray, reach: float) -> _Arm | None:
    """The segment a–b as an arm from corner `p`: it lies on one side of `p`, its near end
    within `reach` of it; (p, direction away from p, distance to its far end), or None."""
    na, nb = float(np.linalg.norm(a - p)), float(np.linalg.norm(b - p))
    near, far = (a, b) if na <= nb else (b, a)
    if min(na, nb) > reach:
        return None
    u = (far - p) / max(1e-9, max(na, nb))
    if float((near - p) @ u) < -0.5 * reach:
        return None  # the segment runs through p: p is no corner of it
    return p, u, max(na, nb)


def _quad_from(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> np.ndarray | None:
    """The quadrilateral bounded by lines p1, q1, p2, q2 in turn (p's parallel, q's parallel)."""
    corners = []
    for s, t in ((p1, q1), (q1, p2), (p2, q2), (q2, p1)):
        c = _intersection(s[:2], _direction(s), t[:2], _direction(t))
        if c is None:
            return None
        corners.append(c)
    quad = np.array(corners)
    return quad if cv2.isContourConvex(quad.astype(np.float32)) else None


def _merged(segments: list[np.ndarray], band: float) -> list[np.ndarray]:
    """Collinear segments (same direction within 2°, within `band` of one line) joined into
    one spanning them all, longest first."""
    out: list[np.ndarray] = []
    for seg in segments:
        d = _direction(seg)
        normal = np.array([-d[1], d[0]])
        for k, kept in enumerate(out):
            dk = _direction(kept)
            if abs(float(d @ dk)) < np.cos(np.radians(2)):
                continue
            off = [abs(float((end - kept[:2]) @ normal)) for end in (seg[:2], seg[2:])]
            if max(off) > band:
                continue
            pts = np.array([kept[:2], kept[2:], seg[:2], seg[2:]])
            t = (pts - kept[:2]) @ dk
            out[k] = np.concatenate([kept[:2] + dk * t.min(), kept[:2] + dk * t.max()])
            break
        else:
            out.append(seg)
    return sorted(out, key=lambda s: -float(np.linalg.norm(s[2:] - s[:2])))


# --------------------------------------------------------------------------- the card's print

#: The view read holds more than this many times the card its print places in it: the
#: outline found was the page or the hand around the card, or none was (the whole picture
#: was read), and the card is inspected on its own.
VIEW_AROUND_CARD = 2.0


def by_print(warnings: list[str], scene: Survey, frame: cardframe.Frame, size: tuple[int, int]) -> list[str]:
    """The picture's warnings (`warnings`, of `scene`) with `card_incomplete` settled by the
    card's frame predicted from its print (`cardframe`, in the picture's pixels; `size`: the
    picture's width and height), after the reading:

    * the smallest card the print allows (`Frame.inner`) runs off the picture (by more than
      0.5 %, as `survey`'s outlines do): the card is cut, whatever outline was found;
    * else, what the survey found cut (`Survey.cut`, `Survey.corner`) lies mostly outside
      the largest card the print allows (`Frame.outer`: less than CUT_HELD of an outline's
      or region's area; the corner itself), and the card its print places
      (`Frame.nominal`) lies in the picture: what runs off the picture is the page the card
      lies on, the hand or the table, not the card. When the largest card itself lies in
      the picture, whatever was found running off it is not this card.
    """
    w, h = size
    if not _within(frame.inner, w, h, -0.005 * max(w, h)):
        return warnings if "card_incomplete" in warnings else [*warnings, "card_incomplete"]
    if "card_incomplete" not in warnings:
        return warnings
    corner = scene.corner
    elsewhere = all(_held(cut, frame.outer) < CUT_HELD for cut in scene.cut) and (
        corner is None or cv2.pointPolygonTest(_contour(frame.outer), _point(corner[1]), False) < 0
    )
    if _within(frame.outer, w, h, 0.0) or (elsewhere and _within(frame.nominal, w, h, 0.0)):
        return [c for c in warnings if c != "card_incomplete"]
    return warnings


#: A cut outline or region holding less of its area inside the largest card the print allows
#: is not this card's (it is more than twice the part of it the card could be).
CUT_HELD = 0.5


def _contour(quad: np.ndarray) -> np.ndarray:
    return quad.astype(np.float32).reshape(-1, 1, 2)


def _point(p: np.ndarray) -> tuple[float, float]:
    return float(p[0]), float(p[1])


def _held(cut: np.ndarray, card: np.ndarray) -> float:
    """The share of the area of `cut` (its convex hull) inside the convex quad `card`."""
    hull = cv2.convexHull(cut.astype(np.float32)).reshape(-1, 2)
    return _share_inside(hull, card)


#: How far (a share of the card's width) an outline's corner may lie outside the largest
#: card the print allows, or the smallest card's corner outside the outline, and the outline
#: still be the card's: the frame is placed by an affine map of the text (`cardframe`), a
#: photo's perspective moves the card's corners by up to ~6 % of its width (half of that
#: off the text's map).
FIT_SLACK = 0.03


def fits_card(quad: np.ndarray, frame: cardframe.Frame) -> bool:
    """`quad` (an outline, in the pixels of `frame`, the card's frame from its print) may be
    the card's: it lies in the largest card the print allows and holds the smallest (within
    FIT_SLACK)."""
    outer, outline = _contour(frame.outer), _contour(quad)
    slack = -FIT_SLACK * float(np.linalg.norm(frame.nominal[1] - frame.nominal[0]))
    return all(cv2.pointPolygonTest(outer, _point(p), True) >= slack for p in quad) and all(
        cv2.pointPolygonTest(outline, _point(p), True) >= slack for p in frame.inner
    )


def _within(corners: np.ndarray, w: int, h: int, margin: float) -> bool:
    """Every corner lies in the w × h picture, `margin` px inside its edge at least."""
    xs, ys = corners[:, 0], corners[:, 1]
    return bool((xs >= margin).all() and (ys >= margin).all() and (xs <= w - 1 - margin).all()
                and (ys <= h - 1 - margin).all())  # fmt: skip


def print_view(view: np.ndarray, frame: cardframe.Frame) -> np.ndarray | None:
    """The card cut out of `view` at its frame (`Frame.nominal`, in `view`'s pixels) and
    straightened (ID-1, upright, not enlarged), when `view` holds much more than the card
    (VIEW_AROUND_CARD) and the card lies in it; else None (the view is the card).

    The print places the card within a few percent of its size (`cardframe`): enough to
    measure the card's own colour, highlights and sharpness instead of the page's, not to
    tell a strip along its edge from what it lies on. So the cut-out card is inspected as a
    card whose outline was not found (`inspect(located=False)`: no occlusion or screen
    measure, whose regions reaching in from the card's edge would be that strip)."""
    h, w = view.shape[:2]
    quad = frame.nominal.astype(np.float32)
    if cv2.contourArea(quad) * VIEW_AROUND_CARD > w * h or not _within(frame.nominal, w, h, 0.0):
        return None
    width = round(min(1000.0, float(np.linalg.norm(quad[1] - quad[0]))))
    if width < 64:
        return None
    height = round(width / imaging.CARD_ASPECT)
    rect = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, rect)
    return cv2.warpPerspective(view, matrix, (width, height), flags=cv2.INTER_AREA)


# --------------------------------------------------------------------------- the card


def inspect(
    card: np.ndarray,
    side: str | None,
    turned: bool,
    located: bool,
    scene: Survey | None = None,
    read_width: int | None = None,
) -> Inspection:
    """The card's quality and warnings. `card`: BGR as read (straightened and ID-1 when
    `located`, or a picture cut to the card); `turned`: the card is upside down in it.
    A card read without its outline is measured on the survey's loosely found one, if any
    (its orientation in the picture is the one it was read in). `read_width`: `card` was
    cut out of a larger view of this width at the frame its print gives (`print_view`): it
    is measured as it is, as a card whose outline was not found, its edges in that view's
    pixels, as the view's were (a card small in the picture is not judged blurrier for
    being small)."""
    framed = read_width is not None
    if not located and not framed and scene is not None and scene.card is not None:
        card, located = scene.card, True
    view = imaging.fit(card, 1000) if card.shape[1] > 1000 else card
    scale = 1000 / view.shape[1] if read_width is None else 1000 / read_width * card.shape[1] / view.shape[1]
    h, w = view.shape[:2]
    cut = scene is not None and "card_incomplete" in scene.warnings
    # A picture cut to the card is one (unless the card runs past its edge: then it is not)
    card_shaped = abs(max(h, w) / min(h, w) / imaging.CARD_ASPECT - 1) < imaging.CROPPED_CARD_ASPECT
    located = located or (card_shaped and not cut and not framed)
    inset = _inset(view.shape[:2])
    text = text_mask(view.shape[:2], side, turned) if located else inset
    # Made once, shared by the measures.
    lab = cv2.cvtColor(view, cv2.COLOR_BGR2LAB)
    grey = cv2.cvtColor(view, cv2.COLOR_BGR2GRAY)
    darkest = _darkest(view)
    measures = {
        "edge_width": edge_width(grey) * scale,
        "glare": glare_share(view, text, darkest),
        "chroma": chroma_spread(view, inset),
        # Without it, a woven or grained background would count; or pass for an occluder.
        "screen_peaks": spectral_peaks(view, lab) if located else 0.0,
        "occluder": occluder_share(view, lab, grey, text) if located else 0.0,
    }
    sharpness = float(np.clip((8.0 - measures["edge_width"]) / 6.5, 0.0, 1.0))
    # A blurred card's print texture is gone all over: its gaps say nothing.
    textured = located and sharpness >= BLURRY_BELOW
    measures["texture_gap"] = texture_gap_share(view, grey, text, darkest) if textured else 0.0
    found = []
    if sharpness < BLURRY_BELOW:
        found.append("image_blurry")
    if measures["glare"] >= GLARE_MIN_SHARE:
        found.append("glare")
    if measures["chroma"] < PHOTOCOPY_CHROMA:
        found.append("photocopy")
    if measures["screen_peaks"] >= SCREEN_PEAKS:
        found.append("screen_recapture")
    elif max(measures["occluder"], measures["texture_gap"]) >= OCCLUDER_MIN_SHARE:  # a screen's frame is not
        found.append("occlusion")
    score = min(sharpness, float(np.clip(1 - 10 * measures["glare"], 0, 1)))
    quality = Quality(score=round(score, 3), sharpness=round(sharpness, 3),
                      glare=round(measures["glare"], 4))  # fmt: skip
    return Inspection(quality, found, {k: round(v, 4) for k, v in measures.items()})


def _darkest(view: np.ndarray) -> np.ndarray:
    """Each pixel's darkest channel (every channel is saturated where it is)."""
    b, g, r = cv2.split(view)
    return cv2.min(cv2.min(b, g), r)


def _inset_box(shape: tuple[int, ...], share: float = 0.04) -> _Box:
    h, w = shape[:2]
    dy, dx = round(h * share), round(w * share)
    return slice(dy, h - dy), slice(dx, w - dx)


def _inset(shape: tuple[int, ...], share: float = 0.04) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    mask[_inset_box(shape, share)] = True
    return mask


def text_mask(shape: tuple[int, ...], side: str | None, turned: bool) -> np.ndarray:
    """The card's text area in a straightened card view: the card inside a 4 % margin,
    without the portrait (front) or the emblem (back), turned with the card."""
    h, w = shape[:2]
    mask = _inset(shape)
    box = PORTRAIT_MM if side == "front" else EMBLEM_MM if side == "back" else None
    if box is not None:
        x0, y0, x1, y1 = (round(box[0] / CARD_MM[0] * w), round(box[1] / CARD_MM[1] * h),
                          round(box[2] / CARD_MM[0] * w), round(box[3] / CARD_MM[1] * h))  # fmt: skip
        if turned:
            x0, y0, x1, y1 = w - x1, h - y1, w - x0, h - y0
        mask[y0:y1, x0:x1] = False
    return mask


def edge_width(grey: np.ndarray) -> float:
    """The width (px) of the picture's sharpest edges, in its blurriest direction: at the
    steepest gradient maxima of each of four directions, the local contrast (15×15 range)
    over the slope (px⁻¹), median; the largest of the four (a shaken picture keeps sharp
    edges across the shake)."""
    g = grey.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8
    slope = cv2.magnitude(gx, gy)
    kernel = np.ones((15, 15), np.uint8)
    contrast = cv2.subtract(cv2.dilate(grey, kernel), cv2.erode(grey, kernel))  # ≥ 0: exact in uint8
    # Not along the view's border, where the window is cut (the range there is a half
    # window's: a blurred edge crossing the border looks sharp).
    peaks = (slope >= cv2.dilate(slope, np.ones((3, 3), np.uint8))) & (contrast >= 40) & _inset(g.shape, 0.02)
    at = np.flatnonzero(peaks)  # the direction, only where it is asked
    slope_at, contrast_at = slope.ravel()[at], contrast.ravel()[at].astype(np.float32)
    direction = ((np.arctan2(gy.ravel()[at], gx.ravel()[at]) + np.pi) / (np.pi / 4)).astype(np.int32) % 4
    widths = []
    for d in range(4):
        chosen = direction == d
        values = slope_at[chosen]
        if values.size < 30:
            continue
        top = np.argsort(values, kind="stable")[-max(30, values.size // 20) :]  # ties: in order
        widths.append(float(np.median(contrast_at[chosen][top] / np.maximum(values[top], 1e-3))))
    return max(widths) if widths else 8.0  # no edge worth the name: as blurred as it gets


_Box = tuple[slice, slice]  # rows, columns


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`cv2.connectedComponentsWithStats(mask, connectivity=8)`'s labels and stats, labelled
    only within the bounding box of the mask's pixels (mostly few, or none)."""
    x, y, bw, bh = cv2.boundingRect(mask)
    labels = np.zeros(mask.shape, np.int32)
    if bw == 0 or bh == 0:
        return labels, np.zeros((1, 5), np.int32)
    _, labels[y : y + bh, x : x + bw], stats, _ = cv2.connectedComponentsWithStats(
        mask[y : y + bh, x : x + bw], connectivity=8
    )
    stats[1:, cv2.CC_STAT_LEFT] += x
    stats[1:, cv2.CC_STAT_TOP] += y
    return labels, stats


def _around(stats: np.ndarray, i: int, margin: int, shape: tuple[int, ...]) -> _Box:
    """Blob `i`'s bounding box (connectedComponentsWithStats' `stats`) widened by `margin`
    px, within the picture: where a dilation of the blob by up to `margin` lies."""
    x, y, bw, bh = (int(v) for v in stats[i, :4])
    return (slice(max(0, y - margin), min(shape[0], y + bh + margin)),
            slice(max(0, x - margin), min(shape[1], x + bw + margin)))  # fmt: skip


def glare_share(view: np.ndarray, text: np.ndarray, darkest: np.ndarray | None = None) -> float:
    """The share of the text area in the largest saturated patch in it that stands out
    from the card around it (most of the ring around it is not saturated), is solid (the
    print under it washed out) and lies on the text (its outline runs through the text
    area): a highlight, not a card, paper or copy printed or lit white all over, nor the
    paper of a card lit bright at its margin or around its print. `darkest`: `_darkest(view)`."""
    grey = _darkest(view) if darkest is None else darkest
    text8 = text.view(np.uint8)
    saturated: np.ndarray = (grey >= SATURATED).view(np.uint8)  # 0 or 1
    saturated = cv2.morphologyEx(saturated, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    saturated = cv2.bitwise_and(saturated, text8)
    area_of_text = max(1, cv2.countNonZero(text8))
    if cv2.countNonZero(saturated) > 0.5 * area_of_text:
        return 0.0  # blown out, or white, all over: no highlight stands out
    labels, stats = _components(saturated)
    best = 0
    for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:5] + 1:
        area = int(stats[i, cv2.CC_STAT_AREA])
        if area <= best:
            break  # largest first: no smaller patch counts more
        reach = max(15, int(2 * np.sqrt(area)))  # beyond the highlight's soft rim
        box = _around(stats, i, reach, labels.shape)
        blob = (labels[box] == i).astype(np.uint8)
        ring = (cv2.dilate(blob, np.ones((reach, reach), np.uint8)) > 0) & (blob == 0) & text[box]
        if not ring.any() or saturated[box][ring].mean() >= 0.5:
            continue
        if _solidity(blob) >= GLARE_SOLID and _outline_inside(blob, text8[box]) >= GLARE_INSIDE:
            best = max(best, area)
    return best / area_of_text


def _outline_inside(blob: np.ndarray, area: np.ndarray) -> float:
    """The share of the blob's outline (its outer contour's pixels) inside `area` (a 0/1
    mask: the text area), more than 3 px from its border."""
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    points = np.concatenate(contours).reshape(-1, 2)
    inner = cv2.erode(area, np.ones((7, 7), np.uint8))
    return float(inner[points[:, 1], points[:, 0]].mean())


def _shadow(colour: np.ndarray, card: np.ndarray) -> bool:
    """`colour` (CIELAB, 8-bit) is the card's in a shadow: the same chromaticity (a*, b*
    within OCCLUDER_CHROMA), darker, but not as dark as a black object (over SHADOW_DEPTH
    of the card's lightness)."""
    same_hue = float(np.hypot(*(colour[1:] - card[1:]))) < OCCLUDER_CHROMA
    return same_hue and SHADOW_DEPTH * card[0] < colour[0] < card[0]


def _solidity(blob: np.ndarray) -> float:
    """The blob's area over its convex hull's: a highlight is one solid patch; the white
    background of a pale card lit bright is a lace around the print."""
    contours, _ = cv2.findContours(blob, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.contourArea(cv2.convexHull(np.concatenate(contours)))
    return float(blob.sum()) / max(1.0, hull)


def chroma_spread(view: np.ndarray, mask: np.ndarray) -> float:
    """How much colour the card holds: each channel scaled so its bright end (99th
    percentile) is white (a cast from the light or the paper multiplies every channel),
    then the 99th percentile of the distance of each pixel's (a*, b*) from the median's."""
    pixels = _masked(view, mask)
    pixels = pixels[:: max(1, len(pixels) // 100_000)]
    brightest = [_percentile_of(np.bincount(channel, minlength=256), 99) for channel in pixels.T]
    white = np.array(brightest, np.float32)
    balanced = np.clip(pixels.astype(np.float32) * (255 / np.maximum(white, 1.0)), 0, 255).astype(np.uint8)
    ab = cv2.cvtColor(balanced.reshape(-1, 1, 3), cv2.COLOR_BGR2LAB).reshape(-1, 3)[:, 1:]
    centre = np.array([_median_of(np.bincount(ab[:, k], minlength=256)) for k in (0, 1)], np.float32)
    # The distances by (a*, b*) pair: a few hundred pairs, not a hundred thousand pixels.
    pairs = np.bincount(ab[:, 0].astype(np.int32) * 256 + ab[:, 1], minlength=256 * 256)
    seen = np.flatnonzero(pairs)
    distance = np.hypot(seen // 256 - centre[0], seen % 256 - centre[1]).astype(np.float32)
    order = np.argsort(distance, kind="stable")
    return _percentile_at(distance[order], pairs[seen][order], 99)


def _masked(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`image[mask]`, without indexing by the mask when it is one rectangle (as the inset)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size and cols.size:
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        if mask[box].all():
            return image[box].reshape(-1, *image.shape[2:])
    picked: np.ndarray = image[mask]
    return picked


@functools.lru_cache(maxsize=4)
def _spectrum_frame(ph: int, pw: int) -> tuple[np.ndarray, np.ndarray]:
    """The Hann window of a (ph, pw) patch and its spectrum's band of 0.06–0.48 cycles/px."""
    window = np.outer(np.hanning(ph), np.hanning(pw)).astype(np.float32)
    radius = np.fft.fftshift(np.hypot(np.fft.fftfreq(ph)[:, None], np.fft.fftfreq(pw)[None, :]))
    return window, (radius >= 0.06) & (radius <= 0.48)


def spectral_peaks(view: np.ndarray, lab: np.ndarray | None = None) -> float:
    """How many frequencies stand out of the high-passed lightness's spectrum: bins more
    than PEAK_RATIO times the median of the 9×9 bins around them, between 0.06 and 0.48
    cycles/px. A screen's grid, sampled by a camera, makes many isolated peaks (its
    harmonics and their aliases: moiré); print and paper few. (Chroma is not used: fine
    tinted guilloche has periodic chroma of its own.) `lab`: the view in CIELAB, if made."""
    h, w = view.shape[:2]
    n = 512
    y0, x0 = max(0, (h - n) // 2), max(0, (w - n) // 2)
    if lab is None:
        light = cv2.cvtColor(view[y0 : y0 + n, x0 : x0 + n], cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    else:
        light = lab[y0 : y0 + n, x0 : x0 + n, 0].astype(np.float32)
    ph, pw = light.shape
    window, band = _spectrum_frame(ph, pw)
    high = light - cv2.GaussianBlur(light, (0, 0), 3)
    log_mag = np.log(np.fft.fftshift(_magnitude(high * window)) + 1e-3)
    step = 0.04  # log-magnitude in 8-bit steps, for OpenCV's median filter
    levels = np.clip((log_mag - log_mag.min()) / step, 0, 255).astype(np.uint8)
    # The spectrum of a real picture is point-symmetric about its centre (row ph // 2, column
    # pw // 2 once shifted), and so is the band: with even sides large enough for the band
    # to keep the median's window off the border, its upper half, counted twice, and its
    # centre row say the same as the whole.
    half = ph % 2 == 0 and pw % 2 == 0 and min(ph, pw) >= 256
    rows = ph // 2 + 5 if half else ph
    rise = (levels[:rows].astype(np.int16) - cv2.medianBlur(levels[:rows], 9)) * step
    peak = (rise >= np.log(PEAK_RATIO)) & band[:rows]
    count = 2 * int(peak[: ph // 2].sum()) + int(peak[ph // 2].sum()) if half else int(peak.sum())
    return float(count // 2)  # each peak shows twice


def _magnitude(patch: np.ndarray) -> np.ndarray:
    """`np.abs(np.fft.fft2(patch))` of a real patch, from its half spectrum (`rfft2`; the
    other half is its mirror image: |F(-k)| = |F(k)|)."""
    ph, pw = patch.shape
    half = np.abs(np.fft.rfft2(patch))
    mirror = half[(-np.arange(ph)) % ph][:, pw - np.arange(pw // 2 + 1, pw)]
    return np.concatenate([half, mirror], axis=1)


def occluder_share(view: np.ndarray, lab: np.ndarray, grey: np.ndarray, text: np.ndarray) -> float:
    """The share of the text area in the largest object over it: a smooth, unsaturated
    region of a colour far from the card's (its median over the text area), reaching well
    into the card (not a strip of the background along an outline found a little wide),
    and bounded by a sharp change of colour (an object's rim, where the card's own colour
    drifts smoothly under uneven light)."""
    text8 = text.view(np.uint8)
    channels = cv2.split(lab)
    card = np.array([_median_u8(c, text8) for c in channels], np.float32)
    # Each channel's squared difference from the card's, looked up by its 8-bit value.
    diff = np.arange(256, dtype=np.float32)[:, None] - card
    squares = [cv2.LUT(channel, np.ascontiguousarray(diff[:, k] ** 2)) for k, channel in enumerate(channels)]
    distance = np.sqrt(squares[0] + squares[1] + squares[2])
    far = distance > OCCLUDER_DELTA_E
    g = grey.astype(np.float32)
    mean = cv2.blur(g, (9, 9))
    variance = cv2.blur(g * g, (9, 9)) - mean * mean
    region = far & (variance < 6.0**2) & (grey < SATURATED - 15) & text  # smooth: σ under 6
    card_area = _inset(view.shape[:2], 0.01)
    near = np.ones((OCCLUDER_RIM, OCCLUDER_RIM), np.uint8)
    beyond = np.ones((3 * OCCLUDER_RIM, 3 * OCCLUDER_RIM), np.uint8)
    for box, blob, area in _reaching_blobs(region, 3 * OCCLUDER_RIM):
        around = (cv2.dilate(blob, beyond) > 0) & (cv2.dilate(blob, near) == 0) & card_area[box]
        if around.sum() < 10:
            continue
        near_distance = distance[box]
        card_near = float(np.percentile(near_distance[around], OCCLUDER_RIM_PERCENTILE))
        if float(np.median(near_distance[blob > 0])) - card_near < OCCLUDER_RIM_DELTA_E:
            continue  # no rim: the card's colour drifting under uneven light
        if not _shadow(np.median(lab[box][blob > 0].astype(np.float32), axis=0), card):
            return area / max(1, cv2.countNonZero(text8))
    return 0.0


def _median_u8(channel: np.ndarray, mask: np.ndarray) -> float:
    """`np.median(channel[mask > 0])` of an 8-bit channel, from its histogram."""
    return _median_of(cv2.calcHist([channel], [0], mask, [256], [0, 256]).ravel().astype(np.int64))


def _percentile_of(histogram: np.ndarray, q: float) -> float:
    """`np.percentile` (linear) of the values counted in `histogram` (the count of each value
    0, 1, ...)."""
    return _percentile_at(np.arange(len(histogram), dtype=np.float64), histogram, q)


def _percentile_at(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """`np.percentile` (linear) of `values` (ascending) each present `counts` times."""
    ends = np.cumsum(counts)
    at = q / 100 * (int(ends[-1]) - 1)
    low, high = math.floor(at), math.ceil(at)
    below, above = (values[int(np.searchsorted(ends, k, side="right"))] for k in (low, high))
    return float(below + (at - low) * (above - below))


def _median_of(histogram: np.ndarray) -> float:
    """The median of the values counted in `histogram` (the count of each value 0, 1, ...),
    as `np.median` gives it: the mean of the two middle values of an even count."""
    return _percentile_of(histogram, 50)


def _reaching_blobs(region: np.ndarray, margin: int = 0) -> Iterator[tuple[_Box, np.ndarray, int]]:
    """The five largest blobs of `region` (a mask over the card's view), largest first, each
    as its box (its bounding box widened by `margin` px, within the view), a 0/1 mask over
    the box and its area, that are wider than any printed stroke and reach OCCLUDER_REACH
    of the card's height in from its edge (not a strip of the background along an outline
    found a little wide).

    Wider than a stroke: opened with a 15 px square (of a 1,000 px card: 1.3 mm; the back's
    title strokes are under 1 mm), which keeps an object and removes print."""
    opened = cv2.morphologyEx(region.view(np.uint8), cv2.MORPH_OPEN, np.ones((15, 15), np.uint8))
    labels, stats = _components(opened)
    h, w = opened.shape
    for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:5] + 1:
        box = _around(stats, i, margin, opened.shape)
        blob = (labels[box] == i).astype(np.uint8)
        ys, xs = np.nonzero(blob)
        ys, xs = ys + box[0].start, xs + box[1].start
        if np.minimum(np.minimum(xs, w - 1 - xs), np.minimum(ys, h - 1 - ys)).max() >= OCCLUDER_REACH * h:
            yield box, blob, int(stats[i, cv2.CC_STAT_AREA])


def texture_gap_share(
    view: np.ndarray, grey: np.ndarray, text: np.ndarray, darkest: np.ndarray | None = None
) -> float:
    """The share of the text area in the largest smooth region over it: where the card's
    print texture (band-passed lightness, averaged over TEXTURE_BOX px) is under
    TEXTURE_GAP of its median over the text area, not saturated, wider than any printed
    stroke, and reaching OCCLUDER_REACH of the card's height in from its edge. It does not
    depend on the object's colour: a white sticker or a silver pen on a pale card is as
    smooth as a finger. A card whose texture is no more than the sensor's noise (a plain
    design) has no gap under the ratio. `darkest`: `_darkest(view)`, if made."""
    g = grey.astype(np.float32)
    band = np.abs(cv2.GaussianBlur(g, (0, 0), 1.0) - cv2.GaussianBlur(g, (0, 0), 4.0))
    energy = cv2.blur(band, (TEXTURE_BOX, TEXTURE_BOX))
    reference = float(np.median(energy[text]))
    darkest = _darkest(view) if darkest is None else darkest
    region = (energy < TEXTURE_GAP * reference) & text & (darkest < SATURATED)
    for _, _, area in _reaching_blobs(region):
        return area / max(1, int(text.sum()))
    return 0.0
