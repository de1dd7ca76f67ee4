"""PDF inputs: a `.pdf` is expanded into its pages, each one input of its own.

At planning (`expand`) every PDF of the run is opened once and replaced by one item per
page, keyed `NAME.pdf#page=N` (1-based): each page gets exactly one record, stored under
that key's record name (`storage.base.record_name`), and carries the PDF's ETag, so a rerun
skips the pages already done. A PDF that cannot be expanded (encrypted, broken, too many
pages, unreadable) stays one item under its own key, and its record holds the coded error
(`decode` raises it again when the item is processed).

Reading a page (`PagedSource.read`) reads the PDF it belongs to, keeping the last PDF's
bytes, so the pages of one PDF cost one read. Rendering (`render_page`) is done by PDFium
(pypdfium2) at `RENDER_DPI`, less when the page would not fit the decode budget
(`OCR_DECODE_BUDGET_MIB`): what it costs (its bitmap, and every image on it decoded at
full size) is estimated from the document before anything is rendered.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Iterator

import numpy as np

from ocr_job import imaging
from ocr_job.config import DEFAULT_MAX_OBJECT_BYTES
from ocr_job.imaging import ImageError
from ocr_job.records import ErrorCode
from ocr_job.storage.base import InputItem, Source, StorageError

log = logging.getLogger(__name__)

PDF_SUFFIX = ".pdf"
#: `NAME.pdf#page=N`: the key of page N (1-based) of the PDF `NAME.pdf`.
PAGE_KEY = re.compile(r"(?P<pdf>.+\.pdf)#page=(?P<page>[1-9][0-9]{0,5})", re.IGNORECASE | re.DOTALL)
#: A PDF of more pages is refused (`pdf_too_many_pages`): a KYC scan is a few pages; a
#: thousand-page document is not a stack of ID cards, and would hold a worker for hours.
MAX_PDF_PAGES = 200
#: Pages are rendered at this resolution: an ID card (85.6 mm wide) is then 1,011 px wide,
#: over the 900 px the recogniser reads small print at.
RENDER_DPI = 300
#: The least resolution a page is rendered at to fit the budget; a page that fits only at
#: less is refused (`pdf_page_too_large`): at 72 dpi an ID card is 243 px wide, too small
#: to read, and a page too large for it is no scan of a card (over 6 m² at 48 MiB).
MIN_RENDER_DPI = 72
#: What PDFium holds while it renders, measured on A4 pages (docs/benchmarks.md): its
#: 3-byte BGR bitmap, 2 bytes more per bitmap pixel when the page holds images (the image
#: stretched to the bitmap), and each image decoded at full size, 4 bytes a pixel, whatever
#: the resolution of the rendering (an A4 300 dpi colour scan: 35 MB).
PAGE_BYTES_PER_PIXEL = 3
STRETCH_BYTES_PER_PIXEL = 2
IMAGE_BYTES_PER_PIXEL = 4
#: What PDFium holds besides for a page with images (its decoders' buffers; measured 2.4 MB
#: over the per-pixel costs on an A4 scan).
RENDER_OVERHEAD_BYTES = 4 * 1024 * 1024
#: PDF canvas units per inch.
POINTS_PER_INCH = 72.0


def page_of(key: str) -> tuple[str, int] | None:
    """(the PDF's key, the 1-based page) for a page key `NAME.pdf#page=N`, else None."""
    match = PAGE_KEY.fullmatch(key)
    return (match["pdf"], int(match["page"])) if match else None


def page_key(pdf_key: str, page: int) -> str:
    return f"{pdf_key}#page={page}"


def is_pdf_key(key: str) -> bool:
    return key.lower().endswith(PDF_SUFFIX)


# --------------------------------------------------------------------------- the document


def _open(data: bytes):  # type: ignore[no-untyped-def]
    """The PDF of `data` opened by PDFium, or ImageError with the reason's code."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    if not data:
        raise ImageError(ErrorCode.EMPTY_FILE, "the file is empty")
    if b"%PDF-" not in data[:1024]:
        raise ImageError(ErrorCode.PDF_UNREADABLE, "not a PDF file (no %PDF- header)")
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise ImageError(
                ErrorCode.PDF_ENCRYPTED, "the PDF is encrypted with a password: it cannot be read"
            ) from None
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_SECURITY:
            raise ImageError(
                ErrorCode.PDF_ENCRYPTED, "the PDF uses an encryption PDFium cannot open"
            ) from None
        raise ImageError(ErrorCode.PDF_UNREADABLE, "the PDF is damaged: it cannot be opened") from None


def page_count(data: bytes) -> int:
    """The pages of the PDF `data`; ImageError when it cannot be read or has too many."""
    pdf = _open(data)
    try:
        count = len(pdf)
    finally:
        pdf.close()
    _check_count(count)
    return count


def _check_count(count: int) -> None:
    if count < 1:
        raise ImageError(ErrorCode.PDF_UNREADABLE, "the PDF has no pages")
    if count > MAX_PDF_PAGES:
        raise ImageError(
            ErrorCode.PDF_TOO_MANY_PAGES, f"the PDF has {count} pages; the limit is {MAX_PDF_PAGES}"
        )


def render_page(data: bytes, page: int, budget_bytes: int, max_pixels: int) -> np.ndarray:
    """Page `page` (1-based) of the PDF `data` as BGR uint8, at RENDER_DPI or at the
    resolution the budget allows (never below MIN_RENDER_DPI). Raises ImageError."""
    pdf = _open(data)
    try:
        count = len(pdf)
        _check_count(count)
        if page > count:
            raise ImageError(
                ErrorCode.PDF_UNREADABLE, f"the PDF has {count} pages; page {page} is not one of them"
            )
        try:
            pg = pdf[page - 1]
        except Exception:
            raise ImageError(ErrorCode.PDF_UNREADABLE, f"page {page} of the PDF is damaged") from None
        try:
            scale = _render_scale(pg, budget_bytes, max_pixels)
            bitmap = pg.render(
                scale=scale,
                fill_color=(255, 255, 255, 255),
                prefer_bgrx=False,
                may_draw_forms=False,
                draw_annots=True,
            )
            bgr = _as_bgr(bitmap.to_numpy())
            bitmap.close()
        finally:
            pg.close()
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(
            ErrorCode.IMAGE_TOO_LARGE, "the page needs more memory than the worker has"
        ) from None
    except Exception as exc:
        raise ImageError(
            ErrorCode.PDF_UNREADABLE, f"the PDF page cannot be rendered ({type(exc).__name__})"
        ) from None
    finally:
        pdf.close()
    if min(bgr.shape[:2]) < imaging.MIN_SIDE:
        raise ImageError(
            ErrorCode.IMAGE_TOO_SMALL,
            f"page {page} is {bgr.shape[1]}×{bgr.shape[0]} px at {RENDER_DPI} dpi; "
            f"at least {imaging.MIN_SIDE} px on each side is needed",
        )
    return bgr


def _render_scale(page, budget_bytes: int, max_pixels: int) -> float:  # type: ignore[no-untyped-def]
    """PDFium's scale (pixels per canvas unit) for `page`: RENDER_DPI, or less so that the
    bitmap and the page's images, decoded, fit `budget_bytes` (and the bitmap `max_pixels`)."""
    width_pt, height_pt = page.get_size()
    if not (math.isfinite(width_pt) and math.isfinite(height_pt)) or min(width_pt, height_pt) <= 0:
        raise ImageError(ErrorCode.PDF_UNREADABLE, "the page has no size")
    images = _image_bytes(page)
    per_pixel = PAGE_BYTES_PER_PIXEL + (STRETCH_BYTES_PER_PIXEL if images else 0)
    left = budget_bytes - images - (RENDER_OVERHEAD_BYTES if images else 0)
    area_pt = width_pt * height_pt
    scale = RENDER_DPI / POINTS_PER_INCH
    if left > 0:
        scale = min(scale, math.sqrt(left / per_pixel / area_pt), math.sqrt(max_pixels / area_pt))
    if left <= 0 or scale < MIN_RENDER_DPI / POINTS_PER_INCH:
        mm = 25.4 / POINTS_PER_INCH
        raise ImageError(
            ErrorCode.PDF_PAGE_TOO_LARGE,
            f"the page is {width_pt * mm:.0f}×{height_pt * mm:.0f} mm with images of "
            f"{images / imaging.MiB:.0f} MiB decoded: rendering it at {MIN_RENDER_DPI} dpi would "
            f"take more than the {budget_bytes / imaging.MiB:.0f} MiB of OCR_DECODE_BUDGET_MIB "
            f"(or more than OCR_MAX_PIXELS)",
        )
    return scale


def _image_bytes(page) -> int:  # type: ignore[no-untyped-def]
    """What the page's images take decoded at full size (each image object, in forms too)."""
    import pypdfium2.raw as pdfium_c

    total = 0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=8):
        try:
            width, height = obj.get_px_size()
        except Exception:
            continue
        total += max(0, int(width)) * max(0, int(height)) * IMAGE_BYTES_PER_PIXEL
    return total


def _as_bgr(pixels: np.ndarray) -> np.ndarray:
    """PDFium's bitmap (BGR, BGRx/BGRA or grey) as a BGR uint8 array of its own."""
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=-1)
    return np.ascontiguousarray(pixels[..., :3])


# --------------------------------------------------------------------------- the pipeline


def decode(key: str, data: bytes, max_pixels: int, budget_bytes: int) -> np.ndarray:
    """The picture of input `key`: a PDF page rendered (`NAME.pdf#page=N`), else the image
    decoded (`imaging.decode`). A PDF under its own key is one that could not be expanded
    at planning: its error is raised again."""
    page = page_of(key)
    if page is not None:
        return render_page(data, page[1], budget_bytes, max_pixels)
    if is_pdf_key(key):
        page_count(data)  # raises the reason it was not expanded
        raise ImageError(
            ErrorCode.FETCH_FAILED, "the PDF could not be read when the run was planned; run again"
        )
    return imaging.decode(data, max_pixels, budget_bytes)


def expand(
    items: Iterable[InputItem], source: Source, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES
) -> Iterator[InputItem]:
    """`items` with every PDF replaced by its pages (same size and ETag as the PDF). A PDF
    that cannot be read or opened, or has too many pages, stays as it is: processing it
    gives its error record. StorageError (the source is gone) propagates."""
    for item in items:
        if not is_pdf_key(item.key) or item.etag is None or (item.size or 0) > max_bytes:
            yield item
            continue
        try:
            data = source.read(item, max_bytes)
        except StorageError:
            raise
        except Exception as exc:  # this input alone: its fetch gives the record
            log.warning("a PDF could not be read at planning (%s)", type(exc).__name__)
            yield item
            continue
        try:
            count = page_count(data) if len(data) <= max_bytes else 0
        except ImageError:
            count = 0
        del data
        if count == 0:
            yield item
            continue
        for page in range(1, count + 1):
            yield InputItem(key=page_key(item.key, page), size=item.size, etag=item.etag)


class PagedSource:
    """A source whose page keys (`NAME.pdf#page=N`) read their PDF; the last PDF read is
    kept, so the pages of one PDF cost one read. Other keys are the source's own."""

    def __init__(self, source: Source) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._kept: tuple[str, str | None, bytes] | None = None

    def list(self) -> Iterator[InputItem]:
        return self._source.list()

    def resolve(self, keys: Iterable[str]) -> Iterator[InputItem]:
        """Items for `keys`; a page key gets its PDF's size and ETag."""
        for key in keys:
            page = page_of(key)
            if page is None:
                yield from self._source.resolve([key])
                continue
            for pdf in self._source.resolve([page[0]]):
                yield InputItem(key=key, size=pdf.size, etag=pdf.etag)

    def read(self, item: InputItem, max_bytes: int = DEFAULT_MAX_OBJECT_BYTES) -> bytes:
        page = page_of(item.key)
        if page is None:
            return self._source.read(item, max_bytes)
        pdf = InputItem(key=page[0], size=item.size, etag=item.etag)
        with self._lock:
            kept = self._kept
            if kept is not None and kept[0] == pdf.key and kept[1] == pdf.etag and pdf.etag:
                return kept[2]
            self._kept = None  # the previous PDF is let go before the next is read
            data = self._source.read(pdf, max_bytes)
            self._kept = (pdf.key, pdf.etag, data)
            return data
