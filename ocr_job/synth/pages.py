"""Pages and PDFs for tests and benchmarks: the two-sided A4 copy (身份证正反面复印件) and
PDFs of card pictures, good and bad.

* `two_sided_page(key, style, kind)`: one A4 page holding the front and the back of the
  same person's card, as a flatbed scan (`scan`: white page at 300 dpi, the cards a little
  askew, copier noise; `grey`: the same copied in greyscale) or as a phone photo of the
  page (`photo`: the page in perspective on a desk, uneven light). The fronts are above
  the backs, side by side or the other way round, as people lay them.
* `pdf_of(images, dpi)`: a PDF of one page per picture (Pillow's PDF writer).
* `blank_pdf(pages, size_pt)`, `encrypted_pdf()`, `broken_pdf()`: PDFs the worker must
  refuse (too many pages, an oversized page, a password, damaged bytes).

Everything is a pure function of its arguments.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ocr_job.records import Fields
from ocr_job.synth.augment import desk_texture, encode_jpeg
from ocr_job.synth.identity import Identity
from ocr_job.synth.layouts import layout
from ocr_job.synth.render import CARD_W_MM, Style, corner_mask, render_card
from ocr_job.synth.sample import identity_for

#: A4 in millimetres, and the scan resolution of the pages.
A4_MM = (210.0, 297.0)
SCAN_DPI = 300
PAGE_KINDS: tuple[str, ...] = ("scan", "grey", "photo")
#: How the two cards are laid on the page: one above the other, or side by side.
ARRANGEMENTS: tuple[str, ...] = ("stacked", "stacked_back_first", "side_by_side")


@dataclass(frozen=True)
class Page:
    """A generated page: its pixels (RGB) and what it holds."""

    identity: Identity
    image: np.ndarray
    kind: str
    style: str
    arrangement: str
    card_width: int  # px, on the page

    @property
    def fields(self) -> Fields:
        """All nine fields: the page holds both sides."""
        return self.identity.side_fields("front").model_copy(
            update={k: v for k, v in self.identity.side_fields("back").model_dump().items() if v is not None}
        )

    def jpeg(self, quality: int = 90) -> bytes:
        return encode_jpeg(self.image, quality)

    @property
    def info(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "style": self.style,
            "arrangement": self.arrangement,
            "size": [int(self.image.shape[1]), int(self.image.shape[0])],
            "card_width": self.card_width,
        }


def _mm(value: float, dpi: int) -> int:
    return round(value * dpi / 25.4)


def _lay(canvas: np.ndarray, card: np.ndarray, centre: tuple[float, float], angle: float,
         edge: float) -> None:  # fmt: skip
    """`card` (RGB, its rounded corners cut) rotated by `angle`° about `centre` onto
    `canvas`, with the dark rim a scanner's light draws along a card's edge (its
    thickness casts a shadow under the lid), `edge` (0-1) strong."""
    h, w = card.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[:, 2] += (centre[0] - w / 2, centre[1] - h / 2)
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpAffine(card, matrix, size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(corner_mask(w), matrix, size, flags=cv2.INTER_LINEAR)
    rim = cv2.dilate(mask, np.ones((7, 7), np.uint8))
    rim = cv2.GaussianBlur(rim, (0, 0), 2.0).astype(np.float32)[..., None] / 255
    canvas[:] = (canvas * (1 - edge * rim)).astype(np.uint8)
    alpha = mask.astype(np.float32)[..., None] / 255
    canvas[:] = (canvas * (1 - alpha) + warped * alpha).astype(np.uint8)


def _centres(arrangement: str, page: tuple[int, int], card: tuple[int, int],
             rng: random.Random) -> list[tuple[float, float]]:  # fmt: skip
    """Centres of the front and the back on the page."""
    pw, ph = page
    cw, ch = card

    def jitter(by: float) -> float:
        return rng.uniform(-by, by)

    if arrangement == "side_by_side":  # a landscape page
        y = ph / 2 + jitter(ph * 0.08)
        gap = rng.uniform(0.06, 0.12) * pw
        return [(pw / 2 - gap / 2 - cw / 2 + jitter(8), y), (pw / 2 + gap / 2 + cw / 2 + jitter(8), y)]
    top = rng.uniform(0.12, 0.2) * ph + ch / 2
    gap = rng.uniform(0.06, 0.18) * ph
    x = pw / 2 + jitter(pw * 0.12)
    first, second = (x + jitter(20), top), (x + jitter(20), top + ch + gap)
    return [second, first] if arrangement == "stacked_back_first" else [first, second]


def two_sided_page(key: str | int, style: str = "classic", kind: str = "scan",
                   arrangement: str | None = None) -> Page:  # fmt: skip
    """An A4 page holding the front and the back of person `key`'s card."""
    if kind not in PAGE_KINDS:
        raise ValueError(f"kind must be one of {PAGE_KINDS}, not {kind!r}")
    rng = random.Random(f"{key}:{style}:{kind}:page")
    who = identity_for(str(key))
    drawn = Style.draw(random.Random(f"{key}:style"), layout(style))
    arrangement = arrangement or rng.choice(ARRANGEMENTS)
    dpi = SCAN_DPI
    pw, ph = _mm(A4_MM[0], dpi), _mm(A4_MM[1], dpi)
    if arrangement == "side_by_side":
        pw, ph = ph, pw
    card_w = _mm(CARD_W_MM, dpi)
    paper = rng.randint(236, 252)
    canvas = np.full((ph, pw, 3), paper, np.uint8)
    cards = [render_card(who, side, card_w, style=drawn) for side in ("front", "back")]
    for card, centre in zip(
        cards, _centres(arrangement, (pw, ph), (card_w, cards[0].shape[0]), rng), strict=True
    ):
        _lay(canvas, card, centre, rng.uniform(-3, 3), rng.uniform(0.35, 0.7))
    nrng = np.random.default_rng(rng.getrandbits(32))
    noise = nrng.normal(0, rng.uniform(1.5, 4.0), canvas.shape[:2]).astype(np.float32)[..., None]
    canvas = np.clip(canvas.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if kind == "grey":
        grey = cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY).astype(np.float32)
        grey = np.clip((grey - 128) * rng.uniform(1.1, 1.35) + 128 + rng.uniform(0, 15), 0, 255)
        canvas = cv2.cvtColor(grey.astype(np.uint8), cv2.COLOR_GRAY2RGB)
    if kind == "photo":
        canvas = _photographed(canvas, rng)
    return Page(who, canvas, kind, style, arrangement, card_w)


def _photographed(page: np.ndarray, rng: random.Random) -> np.ndarray:
    """The page photographed from above, a little tilted: on a desk, 3000 px on the long
    side, in perspective, with a lamp's uneven light and a soft blur."""
    ph, pw = page.shape[:2]
    long_side = 3000
    k = long_side / max(pw, ph) * rng.uniform(0.82, 0.92)
    w, h = pw * k, ph * k
    out_w, out_h = (long_side, round(long_side * 3 / 4)) if pw > ph else (round(long_side * 3 / 4), long_side)
    cx, cy = out_w / 2 + rng.uniform(-0.03, 0.03) * out_w, out_h / 2 + rng.uniform(-0.03, 0.03) * out_h

    def skew() -> float:
        return float(rng.uniform(-0.025, 0.025) * max(w, h))

    dst = np.array([[cx - w / 2 + skew(), cy - h / 2 + skew()], [cx + w / 2 + skew(), cy - h / 2 + skew()],
                    [cx + w / 2 + skew(), cy + h / 2 + skew()], [cx - w / 2 + skew(), cy + h / 2 + skew()]],
                   np.float32)  # fmt: skip
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    desk = desk_texture(rng, (out_w, out_h))
    warped = cv2.warpPerspective(page, matrix, (out_w, out_h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), matrix, (out_w, out_h))
    alpha = mask.astype(np.float32)[..., None] / 255
    out = (desk * (1 - alpha) + warped * alpha).astype(np.float32)
    yy, xx = np.mgrid[0:out_h:32, 0:out_w:32].astype(np.float32)
    gx, gy = rng.uniform(-0.15, 0.15), rng.uniform(-0.15, 0.15)
    light = 1 + gx * (xx / out_w - 0.5) + gy * (yy / out_h - 0.5)
    light = cv2.resize(light, (out_w, out_h), interpolation=cv2.INTER_LINEAR)[..., None]
    out = np.clip(out * light, 0, 255).astype(np.uint8)
    blurred: np.ndarray = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 0.9))
    return blurred


# --------------------------------------------------------------------------- PDFs


def pdf_of(images: list[np.ndarray], dpi: int = SCAN_DPI, quality: int = 88) -> bytes:
    """A PDF of one page per picture (RGB arrays), each page the picture at `dpi`, its
    pictures stored as JPEG (as scanners write them)."""
    pages = [Image.fromarray(image) for image in images]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", resolution=float(dpi), save_all=True, append_images=pages[1:],
                  quality=quality)  # fmt: skip
    return buf.getvalue()


def blank_pdf(pages: int, size_pt: tuple[float, float] = (595.0, 842.0)) -> bytes:
    """A PDF of `pages` empty pages of `size_pt` (PDFium writes it)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(*size_pt)
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    return buf.getvalue()


def encrypted_pdf(seed: int = 0) -> bytes:
    """A one-page PDF under the standard security handler (RC4, revision 2) with a user
    password that is not empty: a reader cannot open it without the password. Its
    `/U` entry is random, so no password, the empty one included, matches it."""
    rng = random.Random(seed)
    o_entry = bytes(rng.getrandbits(8) for _ in range(32)).hex()
    u_entry = bytes(rng.getrandbits(8) for _ in range(32)).hex()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        f"<< /Filter /Standard /V 1 /R 2 /O <{o_entry}> /U <{u_entry}> /P -4 >>".encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    file_id = bytes(rng.getrandbits(8) for _ in range(16)).hex()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Encrypt 4 0 R "
        f"/ID [<{file_id}> <{file_id}>] >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def broken_pdf(seed: int = 0, size: int = 4096) -> bytes:
    """A PDF header followed by bytes that are no PDF objects (a file damaged past repair:
    no catalog, no page to find)."""
    rng = random.Random(seed)
    return b"%PDF-1.7\n" + bytes(rng.getrandbits(8) for _ in range(size))
