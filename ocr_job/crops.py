"""Card and portrait crops (`--crops`, `OCR_CROPS`): images of personal data.

For a record with a side, the card as read, turned upright (`card`, straightened to the
ID-1 aspect when its outline was found), and on a front the portrait cut from the card's
geometry (`portrait`), as JPEGs stored beside the record: `<input>.card.jpg`,
`<input>.portrait.jpg` (under `_mapped/` when the record is, see `storage.base`). Crops are
never logged; the record holds their names relative to the output (`records.Crops`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ocr_job.imaging import CARD_ASPECT, CROPPED_CARD_ASPECT
from ocr_job.records import Crops
from ocr_job.storage import Sink
from ocr_job.storage.base import RECORD_SUFFIX, is_plain_key, mapped_name

KINDS: tuple[str, ...] = ("card", "portrait")
#: JPEG quality of the crops (archive quality; a card crop is ~100–200 kB).
JPEG_QUALITY = 90
#: The card (ID-1, mm) and its portrait's place (GA 450: the photo's frame, with a margin
#: for the spread between print runs), in the upright card.
CARD_MM = (85.6, 54.0)
PORTRAIT_MM = (52.0, 3.5, 84.0, 41.0)


def crop_name(key: str, kind: str) -> str:
    """Where crop `kind` of input `key` is stored, relative to the output: beside the
    record (`key.card.jpg`), or beside its mapped record when the name would not fit."""
    suffix = f".{kind}.jpg"
    if is_plain_key(key + suffix):  # then `key.json` is the record's name, too
        return key + suffix
    return mapped_name(key)[: -len(RECORD_SUFFIX)] + suffix


def make_crops(view: np.ndarray, side: str | None, turned: bool) -> dict[str, bytes]:
    """JPEG crops of the card read in `view` (BGR; upside down when `turned`)."""
    if side is None:
        return {}
    card = np.ascontiguousarray(view[::-1, ::-1]) if turned else view
    h, w = card.shape[:2]
    if abs(w / h / CARD_ASPECT - 1) < CROPPED_CARD_ASPECT:  # a picture cut to the card
        card = cv2.resize(card, (w, round(w / CARD_ASPECT)), interpolation=cv2.INTER_AREA)
    out = {"card": encode(card)}
    if side == "front":
        out["portrait"] = encode(portrait(card))
    return out


def portrait(card: np.ndarray) -> np.ndarray:
    """The portrait's place in an upright card."""
    h, w = card.shape[:2]
    x0, y0, x1, y1 = PORTRAIT_MM
    return card[round(y0 / CARD_MM[1] * h) : round(y1 / CARD_MM[1] * h),
                round(x0 / CARD_MM[0] * w) : round(x1 / CARD_MM[0] * w)]  # fmt: skip


def encode(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("the crop could not be encoded")
    return data.tobytes()


def store_crops(sink: Sink, key: str, crops: dict[str, bytes]) -> Crops:
    """Write `crops` of input `key` beside its record; their names. RecordWriteError when
    the output refuses one (the record then stands as `write_failed`), StorageError when
    the output cannot be written at all."""
    names = {}
    for kind in KINDS:
        if kind in crops:
            names[kind] = crop_name(key, kind)
            sink.write_blob(names[kind], crops[kind])
    return Crops(**names)
