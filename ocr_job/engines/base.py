"""The OCR engine interface: one small Protocol, and the box it returns.

An engine takes an upright-ish BGR image and returns text boxes in that
image's pixel coordinates. Exactly one engine instance exists per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Protocol, runtime_checkable

if TYPE_CHECKING:  # the parser imports TextBox from here and must stay free of numpy
    from collections.abc import Callable, Sequence

    import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class TextBox:
    """One recognised text line.

    `points` are the four corners (top-left, top-right, bottom-right,
    bottom-left in reading direction); `angle` is 180 when the engine's angle
    classifier found the line upside down (the text is already corrected).
    `chars`, when the engine gives them, score each character of `text` on its own
    (how far it stood above any other character the recogniser saw there; the line's
    `score` is a mean that hides one doubtful character); empty: not known.
    `placed`: the box is a place the caller had read again, its `points` where the text
    read there would lie, estimated from its characters (`pipeline._text_extent`), not
    the extent of glyphs a detector found.
    """

    text: str
    score: float
    points: tuple[Point, Point, Point, Point]
    angle: int = 0
    chars: tuple[float, ...] = ()
    placed: bool = False

    @property
    def x0(self) -> float:
        return min(p[0] for p in self.points)

    @property
    def x1(self) -> float:
        return max(p[0] for p in self.points)

    @property
    def y0(self) -> float:
        return min(p[1] for p in self.points)

    @property
    def y1(self) -> float:
        return max(p[1] for p in self.points)

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "text": self.text,
            "score": round(self.score, 5),
            "points": [[round(x, 1), round(y, 1)] for x, y in self.points],
            "angle": self.angle,
        }
        if self.chars:
            data["chars"] = [round(c, 4) for c in self.chars]
        if self.placed:
            data["placed"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> TextBox:
        pts = data["points"]
        assert isinstance(pts, list)
        return cls(
            text=str(data["text"]),
            score=float(data["score"]),  # type: ignore[arg-type]
            points=tuple((float(p[0]), float(p[1])) for p in pts),  # type: ignore[arg-type]
            angle=int(data.get("angle", 0)),  # type: ignore[call-overload]
            chars=tuple(float(c) for c in data.get("chars", ())),  # type: ignore[attr-defined]
            placed=bool(data.get("placed", False)),
        )


@dataclass(slots=True)
class OcrResult:
    boxes: list[TextBox] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


class EngineError(RuntimeError):
    """The engine could not be loaded or failed on every input."""


class Engine(Protocol):
    name: str

    def recognise(self, image: np.ndarray) -> OcrResult:
        """Detect, classify and recognise the text lines of a BGR uint8 image."""
        ...


class Reread(NamedTuple):
    """A line read again (`Rereads.reread`): its text, how sure the engine is of the text's
    meaning, and each character's own score as in `TextBox.chars` (empty: not known)."""

    text: str
    score: float
    chars: tuple[float, ...] = ()


@runtime_checkable
class Rereads(Protocol):
    """An engine that can read one of its lines again, with a second opinion."""

    def reread(
        self,
        image: np.ndarray,
        box: TextBox,
        same: Callable[[str], str] = str,
        also: Sequence[str] = (),
        margins: Sequence[float] = (),
    ) -> Reread | None:
        """`box` (as `recognise(image)` returned it) read again, or None. `same` maps a text
        to its meaning; `also`: known values the box may hold, when it must hold one of them
        (other readings weigh less: `ctc.OUTSIDE_KNOWN`); `margins`: the line is read again
        with its box widened by each too (a share of its height on every side), and all the
        readings weighed together."""
        ...


@runtime_checkable
class Lanes(Protocol):
    """An engine that can give another engine on the same loaded models, to read another
    picture at the same time in another thread (`ocr_job.lanes`)."""

    def lane(self) -> Engine:
        """Another engine sharing this one's models; safe to use beside it."""
        ...


@runtime_checkable
class ReadsLines(Protocol):
    """An engine that can read a given place of an image as one text line, without
    detecting it first (the detector may miss a one-character value or a faint line)."""

    def read_line(
        self, image: np.ndarray, quad: tuple[Point, Point, Point, Point]
    ) -> tuple[str, float] | None:
        """The text inside `quad` (top-left, top-right, bottom-right, bottom-left in reading
        order, in `image`'s pixel coordinates) and its score: ("", 0.0) when the place
        holds no text; None when it cannot be read (a degenerate place)."""
        ...


def points_of(quad: object) -> tuple[Point, Point, Point, Point]:
    """Four (x, y) float points from a 4×2 array-like, as the engines return them."""
    pts = [(float(p[0]), float(p[1])) for p in quad]  # type: ignore[attr-defined]
    if len(pts) != 4:
        raise ValueError(f"a text box needs 4 points, got {len(pts)}")
    return (pts[0], pts[1], pts[2], pts[3])


def crop_in_reading_order(image: np.ndarray, quad: tuple[Point, Point, Point, Point]) -> np.ndarray | None:
    """The quadrilateral `quad` of `image` warped to an upright rectangle of its own size,
    its first point top left (rapidocr's crop turns tall crops by 90°: this one never
    does); None for a place under 2 px on a side."""
    import cv2  # here, not at the top: the parser imports this module and stays pure
    import numpy as np

    points = np.array(quad, dtype=np.float32)
    width = round(float(np.linalg.norm(points[1] - points[0])))
    height = round(float(np.linalg.norm(points[3] - points[0])))
    if min(width, height) < 2:
        return None
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(points, target)
    return cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
