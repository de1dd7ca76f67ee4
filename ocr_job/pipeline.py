"""The worker's loop: fetch → decode → preprocess → recognise → parse → write.

One image at a time per engine (several engines: one lane each, `ocr_job.lanes`), at
most one input prefetched. The loop owns the order, the error handling and the record:
every input yields exactly one record, and only a storage outage (StorageError) stops
the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from ocr_job import cardframe, crops, idcard, imaging, lanes, overlay, pdfpages, quality, twosided
from ocr_job.config import DEFAULT_MAX_OBJECT_BYTES, JobConfig, ShardSpec
from ocr_job.deadlines import deadline
from ocr_job.engines import Engine, TextBox
from ocr_job.engines.base import Point, ReadsLines, Reread, Rereads
from ocr_job.idcard.reading import MIN_CHAR_SCORE, Quad
from ocr_job.imaging import ImageError
from ocr_job.memory import settle
from ocr_job.privacy import remember_keys
from ocr_job.records import BACK_FIELDS, FRONT_FIELDS, ErrorCode, RecordWarning, ResultRecord
from ocr_job.reporting import Reporter
from ocr_job.sharding import in_shard
from ocr_job.storage import InputItem, RecordWriteError, Sink, Source, StorageError
from ocr_job.storage.base import InputRefused, InputTooLarge, is_plain_key, mapped_name

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- planning


def plan_items(
    source: Source, shard: ShardSpec | None, manifest: list[str] | None, max_object_bytes: int | None = None
) -> list[InputItem]:
    """The inputs of this run: a manifest's keys, or the listing filtered by shard, with
    each PDF expanded into its pages (`pdfpages.expand`; a PDF's pages stay in its shard).
    Their keys are masked in every log line from here on (`privacy.remember_keys`)."""
    if manifest is not None:
        remember_keys(_with_stored_names(manifest))
        items = list(pdfpages.PagedSource(source).resolve(manifest))
    else:
        items = [item for item in source.list() if shard is None or in_shard(item.key, shard)]
        remember_keys(_with_stored_names(item.key for item in items))
    items = list(pdfpages.expand(items, source, max_object_bytes or DEFAULT_MAX_OBJECT_BYTES))
    remember_keys(_with_stored_names(item.key for item in items))
    return items


def _with_stored_names(keys: Iterable[str]) -> Iterator[str]:
    """Each key and, when its record is stored under a mapped name, that name: it keeps a
    readable start of the key, so it is masked in logs as the key is."""
    for key in keys:
        yield key
        if not is_plain_key(key):
            yield mapped_name(key)


# --------------------------------------------------------------------------- fetching


@dataclass(slots=True)
class Fetched:
    """What the prefetcher hands over for one item: bytes, a ready record, or 'done'."""

    item: InputItem
    data: bytes | None = None
    record: ResultRecord | None = None  # an error record made without OCR
    skipped: bool = False  # a record from the same source ETag exists already
    fetch_ms: float = 0.0
    crops: dict[str, bytes] = field(default_factory=dict)  # with `--crops`: JPEGs by kind


def fetch(item: InputItem, source: Source, sink: Sink, config: JobConfig) -> Fetched:
    """Resume check, size cap, then a bounded read. StorageError (an outage) propagates."""
    if item.etag is not None and sink.done_etag(item.key) == item.etag:
        return Fetched(item, skipped=True)
    if item.etag is None and item.size is None:
        return Fetched(
            item,
            record=ResultRecord.failure(
                item.key, ErrorCode.FETCH_FAILED, "the input does not exist or cannot be read"
            ),
        )
    if item.size is not None and item.size > config.max_object_bytes:
        return _too_large(item, item.size, config)
    started = time.perf_counter()
    try:
        data = source.read(item, config.max_object_bytes)
    except StorageError:
        raise
    except InputTooLarge as exc:
        return _too_large(item, exc.size, config)
    except InputRefused as exc:  # outside the source, not a regular file: nothing was read
        return Fetched(item, record=ResultRecord.failure(item.key, exc.code, exc.message))
    except Exception as exc:  # the item alone is unreadable (vanished, permissions)
        # No source_etag: a rerun tries again (the object may have become readable).
        return Fetched(
            item,
            record=ResultRecord.failure(
                item.key, ErrorCode.FETCH_FAILED, f"cannot read the input: {type(exc).__name__}"
            ),
        )
    if len(data) > config.max_object_bytes:  # the metadata understated the size
        return _too_large(item, None, config)
    return Fetched(item, data=data, fetch_ms=_ms(started))


def _too_large(item: InputItem, size: int | None, config: JobConfig) -> Fetched:
    limit = config.max_object_bytes
    what = f"is {_mib(size)}" if size is not None else "is larger than the limit"
    return Fetched(
        item,
        record=ResultRecord.failure(
            item.key,
            ErrorCode.OBJECT_TOO_LARGE,
            f"the input {what}; the limit is {_mib(limit)}",
            source_etag=item.etag,
        ),
    )


def _mib(size: int) -> str:
    """Bytes in MiB, the unit of the README: `20 MiB`, `25.3 MiB`."""
    return f"{round(size / 2**20, 1):g} MiB"


#: Fetches abandoned after their deadline that may still be running; more means the source
#: has stopped answering, and the run stops (StorageError) rather than pile up threads.
MAX_HUNG_FETCHES = 4


def prefetched(
    items: Iterable[InputItem], get: Callable[[InputItem], Fetched], timeout_s: float | None = None
) -> Iterator[Fetched]:
    """Yield `get(item)` in order while the next item is fetched in the background.

    Exactly one fetch runs ahead of the consumer. Each runs in its own daemon thread and
    gets `timeout_s` from its start: a fetch still running then is abandoned (its thread
    can neither block the run nor its exit) and the item gets a `timeout` record.
    """
    hung: list[Future[Fetched]] = []
    pending: tuple[InputItem, Future[Fetched], float] | None = None
    for item in items:
        nxt = (item, _in_thread(get, item), time.monotonic())
        if pending is not None:
            yield _wait(*pending, timeout_s, hung)
        pending = nxt
    if pending is not None:
        yield _wait(*pending, timeout_s, hung)


def _in_thread(get: Callable[[InputItem], Fetched], item: InputItem) -> Future[Fetched]:
    future: Future[Fetched] = Future()

    def work() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(get(item))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, name="prefetch", daemon=True).start()
    return future


def _wait(
    item: InputItem,
    future: Future[Fetched],
    started: float,
    timeout_s: float | None,
    hung: list[Future[Fetched]],
) -> Fetched:
    left = None if timeout_s is None else max(0.0, started + timeout_s - time.monotonic())
    try:
        return future.result(timeout=left)
    except TimeoutError:
        pass
    hung[:] = [f for f in hung if not f.done()] + [future]
    if len(hung) > MAX_HUNG_FETCHES:
        raise StorageError(f"the source stopped answering: {len(hung)} reads hung")
    log.warning("a fetch took longer than %.0f s; its input gets a timeout record", timeout_s)
    return Fetched(
        item,
        record=ResultRecord.failure(
            item.key, ErrorCode.TIMEOUT, f"fetching the input took longer than {timeout_s:.0f} s"
        ),
    )


# --------------------------------------------------------------------------- one item


def process(fetched: Fetched, engine: Engine, config: JobConfig) -> ResultRecord:
    """decode → preprocess → recognise → parse, for one input. Never raises."""
    item = fetched.item
    timings: dict[str, float] = {"fetch": fetched.fetch_ms}
    assert fetched.data is not None

    def failed(code: ErrorCode, message: str, etag: str | None = item.etag) -> ResultRecord:
        return ResultRecord.failure(item.key, code, message, source_etag=etag, timings_ms=timings)

    timed_out = f"processing took longer than {config.item_timeout_s:.0f} s"
    try:
        with deadline(config.item_timeout_s):
            return _read_card(item, fetched.data, engine, config, timings, fetched.crops)
    except ImageError as exc:  # fetch_failed (a PDF unread at planning): a rerun tries again
        return failed(exc.code, exc.message, None if exc.code is ErrorCode.FETCH_FAILED else item.etag)
    except TimeoutError:
        return failed(ErrorCode.TIMEOUT, timed_out)
    except MemoryError:
        return failed(ErrorCode.IMAGE_TOO_LARGE, "the image needs more memory than the worker has")
    except Exception as exc:
        if _raised_from(exc, TimeoutError):  # the deadline, wrapped by a library (rapidocr)
            return failed(ErrorCode.TIMEOUT, timed_out)
        log.exception("internal error on input %d bytes", len(fetched.data))
        return failed(ErrorCode.INTERNAL_ERROR, f"internal error ({type(exc).__name__}); please report it")


def _raised_from(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether `exc` is, or was raised while handling or from, an exception of `kind`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _read_card(
    item: InputItem,
    data: bytes,
    engine: Engine,
    config: JobConfig,
    timings: dict[str, float],
    crops_out: dict[str, bytes],
) -> ResultRecord:
    with _timed(timings, "decode"):
        image = pdfpages.decode(item.key, data, config.max_pixels, config.decode_budget_mib * imaging.MiB)
    with _timed(timings, "preprocess"):
        search: imaging.CardSearch | None = imaging.search_outlines(image)  # found once, asked by each
        scene = quality.survey(image, search)
        cards = twosided.cards_apart(image, config.card_long_side, search)  # a two-sided copy, a page
        if cards:
            image = imaging.fit(image, imaging.WORK_LONG_SIDE)  # kept small while they are read
            search = None  # nor is the search's edges kept: the plain path makes its own if needed
    apart = [r for r in (_best_read([card], engine, timings, card) for card in cards) if r]
    del cards
    best = twosided.combine([r.reading for r in apart])
    shown = _shown(apart, best)
    if best is None or (best.side != "both" and not _complete(best)):
        with _timed(timings, "preprocess"):
            located = imaging.locate_card(image, config.card_long_side, search)
            whole = imaging.fit_view(image, config.card_long_side) if located.found_quad else located.image
        size = image.shape[1::-1]
        del image, search  # only card-sized copies are kept while the engine runs
        card = located.image if located.found_quad else None
        readings: list[idcard.CardReading] = []
        plain = _best_read(_card_views(located, whole, readings), engine, timings, card, readings)
        if plain is not None and (best is None or _rank(plain.reading) > _rank(best)):
            best, shown = plain.reading, plain
            shown.to_picture, shown.picture_size = _view_to_picture(plain.view, located, whole, size), size
    if best is None or best.side is None or shown is None:
        raise ImageError(ErrorCode.NO_CARD_FOUND, "no ID card was recognised in the image")
    side = shown.reading.side or best.side  # "both": the front's view stands for the card
    picture = scene.warnings
    if best.side == "both" and len(apart) == 2:  # the two cards are one card's two sides
        picture = [code for code in picture if code != "multiple_cards"]
    with _timed(timings, "quality"):
        picture, view = _by_print(shown, picture, scene)
        seen = quality.inspect(view.view, side, view.turned, view.located, scene, view.read_width)
        if config.crops:
            crops_out.update(crops.make_crops(view.view, side, view.turned))
    return ResultRecord(
        source=item.key,
        status="ok",
        side=best.side,
        fields=best.fields,
        confidence=best.confidence,
        checks=best.checks,
        warnings=best.warnings + [quality.warning(c) for c in picture + seen.warnings],
        timings_ms=timings,
        source_etag=item.etag,
        quality=seen.quality,
    )


@dataclass
class _Read:
    """A reading with the view it was read from: whether that view is upside down and
    whether it is a located card (its outline was found); the card's frame its print
    gives (`cardframe`, in the view's pixels) and the map from the view's pixels to the
    picture's, where known."""

    reading: idcard.CardReading
    view: np.ndarray
    turned: bool
    located: bool
    frame: cardframe.Frame | None = None
    to_picture: np.ndarray | None = None  # 3×3, homogeneous
    picture_size: tuple[int, int] = (0, 0)  # the picture's width and height


@dataclass
class _View:
    """The card as `quality.inspect` measures it (`read_width`: cut out of a view this wide)."""

    view: np.ndarray
    turned: bool
    located: bool
    read_width: int | None = None


def _by_print(shown: _Read, picture: list[str], scene: quality.Survey) -> tuple[list[str], _View]:
    """The picture's warnings settled by the card's frame from its print, in the picture
    (`quality.by_print`), and the card to inspect: cut out at that frame when the view read
    holds much more than the card (the page or the picture around it, `quality.print_view`),
    unless the card was read without an outline and the survey found one loosely that may
    be the card's (a side hidden by a finger: `inspect` measures that one; a page's is not)."""
    as_read = _View(shown.view, shown.turned, shown.located)
    if shown.frame is None:
        return picture, as_read
    loose_card = not shown.located and scene.card is not None  # `inspect` measures that outline
    if shown.to_picture is not None:
        placed = shown.frame.mapped(functools.partial(_mapped, shown.to_picture))
        picture = quality.by_print(picture, scene, placed, shown.picture_size)
        loose_card = loose_card and (scene.loose is None or quality.fits_card(scene.loose, placed))
    if loose_card:
        return picture, as_read
    card = quality.print_view(shown.view, shown.frame)
    if card is None:
        return picture, as_read
    return picture, _View(card, False, False, shown.view.shape[1])


def _view_to_picture(
    view: np.ndarray, located: imaging.CardImage, whole: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """The map (3×3, homogeneous) from `view`'s pixels to the picture's (`size`: its width
    and height), for the views `_card_views` yields: the located card (its perspective), the
    whole picture (scaled), or the whole picture turned 90° clockwise."""
    vh, vw = view.shape[:2]
    if view is located.image and located.corners is not None:
        rect = np.array([[0, 0], [vw - 1, 0], [vw - 1, vh - 1], [0, vh - 1]], dtype=np.float32)
        matrix: np.ndarray = cv2.getPerspectiveTransform(rect, located.corners.astype(np.float32))
        return matrix
    wh, ww = whole.shape[:2]
    matrix = np.diag([size[0] / ww, size[1] / wh, 1.0])
    if view is not whole:  # turned 90° clockwise (np.rot90(k=-1)): (x, y) of it is (y, h - 1 - x)
        matrix = matrix @ np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, wh - 1.0], [0.0, 0.0, 1.0]])
    return matrix


def _mapped(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """`points` (N×2) mapped by the homogeneous 3×3 `matrix`."""
    out: np.ndarray = cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), matrix)
    return out.reshape(-1, 2)


def _best_read(
    views: Iterable[np.ndarray],
    engine: Engine,
    timings: dict[str, float],
    located: np.ndarray | None,
    readings: list[idcard.CardReading] | None = None,
) -> _Read | None:
    """The best reading of the card `views` (`located`: the one that is a located card),
    read in turn until one is complete; each reading is appended to `readings`."""
    best: _Read | None = None
    seen: list[idcard.CardReading] = []
    for view in views:
        read = _read_view(view, engine, timings)
        reading = read.reading
        seen.append(reading)
        if readings is not None:
            readings.append(reading)
        if best is None or _rank(reading) > _rank(best.reading):
            frame = _print_frame(reading, read.found, read.upright)
            best = _Read(reading, view, read.turned, view is located, frame)
        if _complete(best.reading):
            break
    if best is not None and not best.located:
        best.reading = _doubted_elsewhere(best.reading, seen)
    return best


@dataclass
class _Seen:
    """A view's reading, whether the view is upside down, and the boxes it was parsed from
    (as found in the view, and upright)."""

    reading: idcard.CardReading
    turned: bool
    found: list[TextBox]
    upright: list[TextBox]


def _read_view(view: np.ndarray, engine: Engine, timings: dict[str, float]) -> _Seen:
    """`view` read; when text is laid over the card there (`overlay.laid_over`: a
    watermark), read again without it (`overlay.print_only`) and the two weighed
    (`_through_overlay`)."""
    first = _seen(view, engine, timings)
    with _timed(timings, "preprocess"):
        laid = overlay.laid_over(view, first.found)
        if laid is None:
            return first
        bare = overlay.print_only(view)
    return _through_overlay(first, _seen(bare, engine, timings), laid)


def _seen(view: np.ndarray, engine: Engine, timings: dict[str, float]) -> _Seen:
    turned: list[bool] = []
    boxes: list[tuple[list[TextBox], list[TextBox]]] = []
    reading = _recognise_and_parse(view, engine, timings, turned, boxes)
    return _Seen(reading, bool(turned and turned[0]), *boxes[0])


def _through_overlay(first: _Seen, bare: _Seen, laid: overlay.Laid) -> _Seen:
    """The reading of a view with text laid over it (`first`) weighed against the reading of
    its print alone (`bare`). The print's is kept unless it found fewer fields (it fades
    print that blur or glare has faded; then the view's is), without the values the two
    read otherwise; but where the print's is kept, its values stand when the text was
    "slanted" (`overlay.laid_over`: laid over the card, surely), or where the view's value
    holds the print's whole, the overlay's characters read around it (罗心明再次复印无效 for
    罗心明). Text only "translucent" may be a card's print lightened by blur: its print read
    alone read worse (孙雪春 read 抄当甘), a value lost rather than reported. Nor does a
    value read from a line off the card's (`overlay.off_the_lines`: 潘荣 and the stamp's
    入网使用 beside it, taken for one name). With the `watermark` warning when the reading
    kept is not the view's."""
    mine, theirs = first.reading.fields.model_dump(), bare.reading.fields.model_dump()
    other = {name for name, value in mine.items() if value is not None and theirs[name] not in (None, value)}
    if _rank(bare.reading) >= _rank(first.reading):
        kept, changed = bare, mine != theirs
        other = set() if laid == "slanted" else {name for name in other if theirs[name] not in mine[name]}
    else:
        kept, changed = first, bool(other)
    values, off = (theirs if kept is bare else mine), overlay.off_the_lines(kept.found)
    across = {name for name, boxes in kept.reading.sources.items() if boxes & off and values.get(name)}
    if not changed and not across:
        return kept
    reading = _without(_without(kept.reading, across, _across), other - across, _overlaid)
    warned = [*reading.warnings, RecordWarning(code="watermark", message=idcard.WARNING_CODES["watermark"])]
    return dataclasses.replace(kept, reading=dataclasses.replace(reading, warnings=warned))


def _across(name: str) -> RecordWarning:
    message = f"the {name} was read with a line that lies across the card's, laid over it"
    return RecordWarning(code="value_low_confidence", message=message, field=name)


def _overlaid(name: str) -> RecordWarning:
    message = f"the card's print read without the text laid over it reads the {name} otherwise"
    return RecordWarning(code="value_low_confidence", message=message, field=name)


def _without(
    reading: idcard.CardReading, names: set[str], why: Callable[[str], RecordWarning]
) -> idcard.CardReading:
    """`reading` with the fields `names` left empty, each with the warning `why` gives."""
    if not names:
        return reading
    return dataclasses.replace(
        reading,
        fields=reading.fields.model_copy(update=dict.fromkeys(names)),
        confidence={k: v for k, v in reading.confidence.items() if k not in names},
        warnings=reading.warnings + [why(name) for name in sorted(names)],
    )


def _print_frame(
    reading: idcard.CardReading, found: list[TextBox], upright: list[TextBox]
) -> cardframe.Frame | None:
    """The card's frame its print gives (`cardframe.predict`), in the view's pixels."""
    frame = cardframe.predict(upright, reading) if len(upright) >= 3 else None
    if frame is None:
        return None
    to_view = _upright_to_image(found, upright)
    return frame.mapped(lambda points: np.array(to_view(_four(points.tolist()))))


def _doubted_elsewhere(best: idcard.CardReading, readings: list[idcard.CardReading]) -> idcard.CardReading:
    """`best`, read from a view other than the located card, without the names (the fields
    whose characters are doubted one by one, `MIN_CHAR_SCORE`) another view of the same side
    left empty as doubtful: a view that reads a rare character with less doubt is not more
    right (a name left empty on the located card was read whole, as sure as wrong: 杜娟赞
    for 杜娟赟). An address doubted on one view and read on another was right (the place
    table checks it).

    A name the located card read is kept whatever the other views said: they are the whole
    picture, in which the card's text is printed smaller (许晶莉, 58 px high on the located
    card, read 晶 or 品 on the whole picture at 37 px, and was left empty for it)."""
    doubted = {
        w.field
        for r in readings
        if r is not best and r.side == best.side
        for w in r.warnings
        if w.code == "value_low_confidence" and w.field in MIN_CHAR_SCORE
    }
    drop = {name for name in doubted if getattr(best.fields, name, None) is not None}
    return _without(best, drop, _doubted)


def _doubted(name: str) -> RecordWarning:
    message = f"another view of the card read the {name} with doubt"
    return RecordWarning(code="value_low_confidence", message=message, field=name)


def _shown(apart: list[_Read], best: idcard.CardReading | None) -> _Read | None:
    """The read whose view stands for `best` among the cards read apart (for a front and
    a back combined, the front)."""
    for read in apart:
        if read.reading is best:
            return read
    fronts = [r for r in apart if r.reading.side == "front"]
    return max(fronts, key=lambda r: _rank(r.reading)) if fronts else None


def _card_views(
    located: imaging.CardImage, whole: np.ndarray, readings: list[idcard.CardReading]
) -> Iterator[np.ndarray]:
    """The card as located, then fallbacks, tried only while no complete reading is found:
    the whole image as it is (the outline found may have been a wrong one), then, when the
    whole image was read as no side of a card (`readings`: the caller appends each view's),
    the whole image turned 90° (a card turned on its side; 180° turns are resolved from
    the text).

    A whole image read as a side holds the card's text across it: turned 90°, that text
    runs down the picture, which the parser reads as no card at all (`_rank` puts a side
    first), so the pass could not be chosen. On the photographed set it was read for 7 of
    48 pictures, 20 of their 83 CPU-s (page pictures with 29-73 lines), never chosen."""
    if located.found_quad:
        yield located.image
    yield whole
    if readings and readings[-1].side is None:
        yield np.ascontiguousarray(np.rot90(whole, k=-1))


def _rank(reading: idcard.CardReading) -> tuple[bool, int, int]:
    """Better readings first: a side found, then more fields, then fewer failed checks."""
    present = sum(v is not None for v in reading.fields.model_dump().values())
    return reading.side is not None, present, -sum(not ok for ok in reading.checks.values())


def _complete(reading: idcard.CardReading) -> bool:
    if reading.side is None:
        return False
    wanted = FRONT_FIELDS if reading.side == "front" else BACK_FIELDS
    values = reading.fields.model_dump()
    return all(values[f] is not None for f in wanted) and all(reading.checks.values())


def _recognise_and_parse(
    card: np.ndarray,
    engine: Engine,
    timings: dict[str, float],
    turned: list[bool] | None = None,
    read: list[tuple[list[TextBox], list[TextBox]]] | None = None,
) -> idcard.CardReading:
    """Recognise, parse; read again the places the layout says hold a value none was read
    for, and the doubtful name and address lines (a name read otherwise with its place
    too, whose characters in dispute then count as unsure: `_disputed`); parse again after
    each. Whether the card is upside down in `card` (`imaging.is_turned`) is appended to
    `turned`; the boxes parsed, as found in `card` and upright, to `read`."""
    h, w = card.shape[:2]
    with _timed(timings, "recognise"):
        result = engine.recognise(card)
    found = list(result.boxes)
    if turned is not None:
        turned.append(imaging.is_turned(found))
    boxes = imaging.upright_boxes(result.boxes, w, h)
    with _timed(timings, "parse"):
        reading = idcard.parse(boxes, w, h)
    looked: frozenset[str] = frozenset()
    disputes: dict[int, str] = {}
    if reading.look_again and isinstance(engine, ReadsLines) and len(boxes) >= 3:
        with _timed(timings, "look_again"):
            found, boxes, looked, disputes = _look_again(card, engine, found, boxes, reading.look_again)
        with _timed(timings, "parse"):
            reading = idcard.parse(boxes, w, h, looked)
    doubtful = _doubtful_lines(reading, boxes)
    doubtful.update((i, idcard.name_meaning) for i in disputes)  # read otherwise with its place
    if doubtful and isinstance(engine, Rereads):
        with _timed(timings, "reread"):
            boxes = _read_again(card, engine, found, boxes, doubtful, reading.candidates)
    disputed = _disputed(boxes, disputes)
    if disputed != boxes or (doubtful and isinstance(engine, Rereads)):
        boxes = disputed
        with _timed(timings, "parse"):
            reading = idcard.parse(boxes, w, h, looked)
    if read is not None:
        read.append((found, boxes))
    return reading


#: A name read with a lower score is read again by the engine's second opinion, when it has
#: one (about a tenth of the fronts). Names misread with confidence scored 0.93-0.99.
SECOND_OPINION_BELOW = 0.995
#: An address line read with a lower score is read again too: a character lost or added
#: below the county still scores high alone (…9-5-270 for …9-5-2701 at 0.96, 88 appended at
#: 0.93), the two recognisers' share of it less (0.75, 0.90: below the address's 0.9 floor).
ADDRESS_SECOND_OPINION_BELOW = 0.98
#: A name one of whose characters scored lower on its own (`TextBox.chars`) is read again
#: too, whatever the line's score: a mean hides one doubtful character among sure ones.
CHAR_SECOND_OPINION_BELOW = 0.9
#: A name read again is also read with its box widened by a fifth of its height on every
#: side, by both recognisers, and the four readings are weighed together: the detector's box
#: is tight, and a rare character's lead moves from one cut of it to the next (郝曌: 0.65 on
#: the box, 0.98 widened by 0.2; 沈龚诗, wrong: 0.80, then 0.28 and read otherwise). On the
#: 260 name lines read again in five seeded sets (a probe outside the repository), the four
#: readings kept 245 right names and 4 wrong ones where the box's two kept 237 and 5
#: (docs/benchmarks.md, "Session 10: names left empty").
NAME_MARGINS = (0.2,)


def _doubtful_lines(reading: idcard.CardReading, boxes: list[TextBox]) -> dict[int, Callable[[str], str]]:
    """The boxes of a front's name (when any of them scored below SECOND_OPINION_BELOW, or
    one of its characters below CHAR_SECOND_OPINION_BELOW), its address lines scored below
    ADDRESS_SECOND_OPINION_BELOW, a period without end (长期) with a digit below
    `idcard.LONG_TERM_DIGIT_SCORE` (2014 read 2011, its last 1 at 0.52: no period length
    checks it; read again, a checked period's dates, or a 7 at 0.82, were read worse), and
    the boxes for which the parser has known values to offer (`CardReading.candidates`),
    each with what a reading of it means (`idcard.name_meaning`, `idcard.place_meaning`,
    `idcard.period_meaning`)."""
    out: dict[int, Callable[[str], str]] = dict.fromkeys(reading.candidates, str)
    if reading.fields.valid_to == idcard.LONG_TERM:  # a period with an end is checked by its length
        period = reading.sources.get("valid_to") or ()
        doubtful = (i for i in period if _doubtful_char(boxes[i], idcard.LONG_TERM_DIGIT_SCORE))
        out.update((i, idcard.period_meaning) for i in doubtful)
    if reading.side != "front":
        return out
    name = reading.sources.get("name") or frozenset()
    if any(boxes[i].score < SECOND_OPINION_BELOW or _doubtful_char(boxes[i]) for i in name):
        out.update((i, idcard.name_meaning) for i in name)
    for i in reading.sources.get("address") or ():  # offered known places or not
        if boxes[i].score < ADDRESS_SECOND_OPINION_BELOW or i in out:
            out[i] = idcard.place_meaning
    return out


def _doubtful_char(box: TextBox, below: float = CHAR_SECOND_OPINION_BELOW) -> bool:
    """Whether a letter or digit of `box` scored `below` or lower on its own (a space or a
    dot read with doubt changes no name)."""
    chars = (c for c, ch in zip(box.chars, box.text, strict=False) if ch.isalnum())
    return min(chars, default=1.0) < below


def _read_again(
    card: np.ndarray,
    engine: Rereads,
    found: list[TextBox],
    upright: list[TextBox],
    which: dict[int, Callable[[str], str]],
    candidates: dict[int, tuple[str, ...]] | None = None,
) -> list[TextBox]:
    """`upright` with the lines at `which` read again by the engine's second opinion: the
    name, which the first recogniser misreads with confidence when it holds a rare
    character (see `engines.ctc`; read at two cuts, `NAME_MARGINS`), doubtful address
    lines, and lines read as no known value, with the known values near it (`candidates`)
    weighed too."""
    candidates = candidates or {}
    out = list(upright)
    for i, meaning in which.items():
        # a name, and a line read as no known value (its known values weighed), are read at
        # the wider cut too: the engine's first cut of a rare character is often not its best;
        # not an address line, which a wider cut takes in the lines above and below it
        address = meaning is idcard.place_meaning
        margins = NAME_MARGINS if meaning is idcard.name_meaning or (i in candidates and not address) else ()
        try:
            again = engine.reread(card, found[i], meaning, candidates.get(i, ()), margins=margins)
        except Exception as exc:  # a second opinion that fails leaves the first reading
            if _raised_from(exc, TimeoutError):
                raise  # the input's deadline (rapidocr wraps it in an error of its own)
            log.warning("the second opinion failed (%s); the first reading stands", type(exc).__name__)
            continue
        if again is None or _read_past(card, found, upright, i, again[0]):
            continue
        text, score, chars = Reread(*again)
        # no recogniser read it so on its own: the joint share is each character's too
        chars = chars or (score,) * len(text)
        out[i] = dataclasses.replace(upright[i], text=text, score=score, chars=chars)
    return out


def _read_past(card: np.ndarray, found: list[TextBox], upright: list[TextBox], i: int, text: str) -> bool:
    """Whether `text`, box `i` read again, is its text with more before or after it that is
    not printed as the box is (`_printed_beside`): a cut wider than the box read into what
    lies beside it (覃雨若 read 覃雨若用, the 用 of a stamp laid over the copy)."""
    had, read = "".join(upright[i].text.split()), "".join(text.split())
    if len(read) <= len(had) or had not in read:
        return False
    to_image = _upright_to_image(found, upright)
    return not _printed_beside(card, to_image, found[i], upright[i], had, read, (-np.inf, np.inf))


def _look_again(
    card: np.ndarray,
    engine: ReadsLines,
    found: list[TextBox],
    upright: list[TextBox],
    places: dict[str, Quad],
) -> tuple[list[TextBox], list[TextBox], frozenset[str], dict[int, str]]:
    """The places the parser named read again as one line each: what was read there added
    to both box lists (`found` in the card image's coordinates, `upright` in the parser's),
    the names of the places read: with text, or seen to hold none (`_held`); a place
    holding text the engine could not make out is not among them; and the names read
    otherwise there than in their box (`_read_to_the_end`), by box."""
    to_image = _upright_to_image(found, upright)
    angle = _card_angle(upright)
    found, upright = list(found), list(upright)
    looked = []
    disputes: dict[int, str] = {}
    for name, quad in places.items():
        corners = to_image(quad)
        try:
            line = engine.read_line(card, corners)
        except Exception as exc:  # a failed look leaves the reading as it was
            if _raised_from(exc, TimeoutError):
                raise  # the input's deadline, however wrapped
            log.warning("reading a place again failed (%s)", type(exc).__name__)
            continue
        if line is None:
            continue
        if name in END_PLACES:
            if _read_to_the_end(card, to_image, found, upright, quad, line, END_PLACES[name], disputes):
                looked.append(name)
            continue
        start = to_image(_text_extent(quad, line[0].strip() or NOTHING_READ))
        held = _held(card, corners, line, found, name in VOCABULARY_PLACES, start)
        if held == "unread":
            continue
        looked.append(name)
        if held == "text":
            text, score = line
            found.append(TextBox(text, score, corners, placed=True))
            upright.append(TextBox(text, score, _text_extent(quad, text), angle=angle, placed=True))
    return found, upright, frozenset(looked), disputes


#: Places that hold a value's box and the room beside it (the name's, the authority's, a
#: validity period's read in part), by their label: read together, the recogniser sees a
#: character the detector left out of the box in context.
END_PLACES: dict[str, str] = {"name": "姓名", "issuing_authority": "签发机关", "validity": "有效期限"}


def _read_to_the_end(
    card: np.ndarray,
    to_image: Callable[[Quad], Corners],
    found: list[TextBox],
    upright: list[TextBox],
    quad: Quad,
    line: tuple[str, float],
    label: str,
    disputes: dict[int, str],
) -> bool:
    """The one box inside an END_PLACES place (`quad`, upright; `to_image` maps it into
    `card`) replaced, in both lists, by what was read there (`line`) when that holds the
    box's text with more before or after it (none before a box that begins with the
    label), read at LOOK_AGAIN_MIN_SCORE or more: characters of the card's script, none of
    its `label`'s, printed as the box is (`_printed_beside`; 澹台芳 read 澹台芳一 with its
    place, 南县公安局 贵南县公安局), or for a validity period, what makes a whole period as
    printed of it (2020.1 read 2020.11.17-长期; its length is checked then). A name read
    surely there as many characters long as its box's and otherwise goes into `disputes`
    (`_disputed`). False when the place does not hold exactly one box: it was not read."""
    (x0, y0), (x1, _), (_, y1) = quad[0], quad[1], quad[2]
    inside = [i for i, b in enumerate(upright) if b.x0 >= x0 - 1 and b.x1 <= x1 + 1 and y0 <= b.cy <= y1]
    if len(inside) != 1:
        return False
    (i,) = inside
    text, score = line
    had, read = "".join(upright[i].text.split()), "".join(text.split())
    if label == END_PLACES["name"] and score >= LOOK_AGAIN_MIN_SCORE:
        mine, theirs = idcard.name_meaning(had), idcard.name_meaning(read)
        if len(mine) == len(theirs) and mine != theirs:
            disputes[i] = theirs
    at = read.find(had) if had else -1
    before, after = (read[:at], read[at + len(had) :]) if at >= 0 else ("", "")
    more = before + after
    if before and had.startswith(label[0]):
        return True  # nothing is printed before the label
    if not more or score < LOOK_AGAIN_MIN_SCORE or not _takes(label, more, read):
        return True
    beside = label == END_PLACES["validity"] or _printed_beside(
        card, to_image, found[i], upright[i], had, read, (x0, x1)
    )
    if not beside:
        return True
    found[i] = TextBox(text, score, to_image(quad))
    upright[i] = TextBox(text, score, _four(quad), angle=upright[i].angle)
    return True


def _printed_beside(
    card: np.ndarray,
    to_image: Callable[[Quad], Corners],
    found: TextBox,
    box: TextBox,
    had: str,
    read: str,
    span: tuple[float, float],
) -> bool:
    """Whether the characters `read` holds before and after a box's text (`had`; the box
    as found in `card`, and `box` upright) are printed as the box's are: the strokes in the
    room they take beside it (a character as wide as the box's, within `span`, upright)
    stand out INK_SHARE as much as the box's (`imaging.ink_contrast`), not a stamp laid over
    the copy (仅供办理银行开户使用, 20-35% opaque: the 共社保 read after 秦雪 stood out
    0.11-0.44 as much as the name). False when `read` does not hold `had`; True when the
    box has no strokes to compare with."""
    own = imaging.ink_contrast(card, found.points)
    if own <= 0:
        return True
    at = read.find(had)
    if at < 0:
        return False
    width = (box.x1 - box.x0) / max(len(had), 1)
    spans = []
    if at:
        spans.append((max(span[0], box.x0 - at * width), box.x0))
    if after := len(read) - at - len(had):
        spans.append((box.x1, min(span[1], box.x1 + after * width)))
    rooms = [((a, box.y0), (b, box.y0), (b, box.y1), (a, box.y1)) for a, b in spans if b - a >= 1]
    return all(imaging.ink_contrast(card, to_image(room)) >= INK_SHARE * own for room in rooms)


#: A character of a name that a second reading of its glyphs (with the room beside them,
#: `_read_to_the_end`) read otherwise is given this score, unless its box's reading (after
#: the second opinion: both recognisers, at two cuts) is SURE_IN_DISPUTE or surer: the
#: parser leaves the name empty (its characters' floor, `idcard.reading.MIN_CHAR_SCORE`).
#: 钟䶮颖: its box and the second opinion read 钟龚颖 (龚 at 0.86), its place 钟䶮颖 at
#: 0.90; 于玉燚: its place read 于玉炎 at 0.90, the second opinion 燚 at 1.0.
DISPUTED = 0.0
SURE_IN_DISPUTE = 0.95


def _disputed(boxes: list[TextBox], disputes: dict[int, str]) -> list[TextBox]:
    """`boxes` with the characters of each disputed name box that its other reading (by
    box, `disputes`) read otherwise scored DISPUTED, unless the box now reads as that
    reading does (the second opinion agreed with it) or the character is SURE_IN_DISPUTE."""
    out = list(boxes)
    for i, theirs in disputes.items():
        box = boxes[i]
        mine = idcard.name_meaning(box.text)
        if len(mine) != len(theirs) or mine == theirs:
            continue
        other = {a for a, b in zip(mine, theirs, strict=True) if a != b}
        chars = box.chars if len(box.chars) == len(box.text) else (1.0,) * len(box.text)
        pairs = zip(box.text, chars, strict=True)
        scores = tuple(DISPUTED if ch in other and c < SURE_IN_DISPUTE else c for ch, c in pairs)
        out[i] = dataclasses.replace(box, chars=scores)
    return out


def _takes(label: str, more: str, read: str) -> bool:
    """Whether `more`, read around a box in an END_PLACES place (`read` in all), is more of
    its value: a period's rest when the place is a validity's, else the card's script."""
    if label == END_PLACES["validity"]:
        return idcard.is_printed_period(read.removeprefix(label))
    return not any(ch.isascii() or ch in label for ch in more)


def _held(
    card: np.ndarray,
    corners: Corners,
    line: tuple[str, float],
    found: list[TextBox],
    vocabulary: bool,
    start: Corners | None = None,
) -> Literal["text", "blank", "unread"]:
    """What a place read again holds: "blank" when nothing was read there, what was read
    scored below BLANK_BELOW, or its strokes stand out BACKGROUND_INK_SHARE as much as the
    text beside it or less (`_ink_share`: the card's background, however it reads), unless
    a highlight lies over its start (`_under_glare`) with strokes still standing out there
    FADED_INK_SHARE as much as the text beside it (print fades under glare, the background
    is gone);
    "text" when read at LOOK_AGAIN_MIN_SCORE or more with strokes INK_SHARE as strong or
    stronger, or fainter for a `vocabulary` value; else "unread": text the engine could
    not make out.

    `start`: where the reading would lie if it began at the place's left edge (an address
    goes on there; NOTHING_READ's room when nothing was read), where glare is looked for,
    and where the strokes are measured too, the stronger share counting: a lone character there (号
    at the next line's start, on a card 480 px wide) is under 1% of a wide place, too
    little for its darkest percentile, while a value may sit anywhere in its place (民族's,
    far right)."""
    text, score = line
    begins = _ink_share(card, start, found) if start is not None else 0.0
    share = max(_ink_share(card, corners, found), begins)
    if not text or score < BLANK_BELOW or share < BACKGROUND_INK_SHARE:
        faded = start is not None and begins >= FADED_INK_SHARE and _under_glare(card, start, found)
        return "unread" if faded else "blank"
    printed = share >= INK_SHARE or vocabulary
    return "text" if score >= LOOK_AGAIN_MIN_SCORE and printed else "unread"


#: Text read again where the parser asked scores this much at least, else it is text that
#: could not be made out (the parser then takes the place as not read). Faint values and
#: lines read at 0.99 and more.
LOOK_AGAIN_MIN_SCORE = 0.9
#: Below this, what was read is not text: a place also takes in the edges of what is
#: printed around it (a label, the portrait: "出信区" at 0.13), and the bench's blank
#: places read "60" at 0.42, "0900" at 0.56.
BLANK_BELOW = 0.8
#: Text read again where the parser asked is printed there only when its strokes stand
#: out from the place at least this share as much as the text beside it (`_ink_share`,
#: lines thinner than a stroke left out); below BACKGROUND_INK_SHARE the place holds the
#: card's background alone, however it reads: a pale rosette guilloche right of an
#: address's end read "888" at 0.985 (and "88388", "8880" at 0.86), its lines standing out
#: 0.05-0.22 as much as the address's strokes. Between the two, glare has faded a value (a
#: sex or ethnicity under it stood out 0.31-0.55 as much as its label): taken only where
#: the parser takes nothing but its vocabulary or a whole date (`VOCABULARY_PLACES`: 男/女,
#: the 56 ethnicities, a birth date the number then checks), which no background passes
#: for; an address's end read there is not made out.
INK_SHARE = 0.5
BACKGROUND_INK_SHARE = 0.25
VOCABULARY_PLACES = frozenset({"sex", "ethnicity", "birth_date"})
#: A place whose start (where what was read there lies, or its first two characters' room:
#: `_held`) is this much saturated paper lies under a highlight: 05, an address's third
#: line under glare, read "www" at 0.55 and stood out 0.23 as much as the line above, 57%
#: of its start saturated; the address was reported without it.
GLARE_PLACE_SHARE = 0.25
#: ...on a card whose paper (`_paper`, the median of its text boxes) is this far below the
#: sensor's ceiling: on a white copy (paper at 234) paper saturates wherever nothing is
#: printed. A 号 under a streak of glare, on the whole picture (paper at 221): 15.
PAPER_BELOW_CEILING = 15
#: ...and whose start still holds strokes that stand out this share as much as the text
#: beside it (`_ink_share`): print fades under glare, and what is left of it stands out
#: more than blank paper does. Measured on the eleven views of six cards that met the two
#: bars above: the lost 05 and 号 0.23-0.76; blank places after complete addresses, on
#: cards lit bright or under glare elsewhere (paper at 208-225), 0.02-0.11; the white
#: copy's 0.17.
FADED_INK_SHARE = 0.2
#: Where a place that read nothing is looked at for glare: two characters' room at its start.
NOTHING_READ = "住址"


def _under_glare(card: np.ndarray, start: Corners, found: list[TextBox]) -> bool:
    """Whether a highlight lies over a place's `start`: GLARE_PLACE_SHARE of it saturated
    (`quality.SATURATED`), where the card's paper is PAPER_BELOW_CEILING below that. The
    paper is the median pixel of the text's boxes (`found`), mostly paper around the print:
    the view may be the whole picture, the card on something darker."""
    if imaging.saturated_share(card, start, quality.SATURATED) < GLARE_PLACE_SHARE:
        return False
    return _paper(card, found) <= quality.SATURATED - PAPER_BELOW_CEILING


def _paper(card: np.ndarray, found: list[TextBox]) -> float:
    """The median of the darkest channel over the boxes of `found` that hold text (255 for
    none)."""
    parts = [imaging.darkest_within(card, box.points) for box in found if box.text.strip()]
    pixels = [p.ravel() for p in parts if p is not None]
    return float(np.median(np.concatenate(pixels))) if pixels else 255.0


#: The place read again is this many text heights high (the parser's regions have margins).
PLACE_HEIGHT_IN_LINES = 1.3


def _ink_share(card: np.ndarray, corners: Corners, found: list[TextBox]) -> float:
    """How far a place's strokes stand out (`imaging.ink_contrast`) against the text nearest
    it on its line (glare fades both alike: a value under it stands out a sixth as much as
    the card's text elsewhere), or, when no box shares its line, against the card's text
    (the median of its lines); 1.0 when the engine found none."""
    top, bottom = min(p[1] for p in corners), max(p[1] for p in corners)
    left, right = min(p[0] for p in corners), max(p[0] for p in corners)

    def beside(box: TextBox) -> bool:
        ys = [p[1] for p in box.points]
        return min(bottom, max(ys)) - max(top, min(ys)) > 0.5 * min(bottom - top, max(ys) - min(ys))

    def gap(box: TextBox) -> float:
        xs = [p[0] for p in box.points]
        return max(min(xs) - right, left - max(xs), 0.0)

    line = [box for box in found if box.text.strip() and beside(box)]
    if line:
        text = imaging.ink_contrast(card, min(line, key=gap).points)
    else:
        lines = [imaging.ink_contrast(card, box.points) for box in found if len(box.text.strip()) >= 2]
        text = float(np.median(lines)) if lines else 0.0
    return imaging.ink_contrast(card, corners) / text if text > 0 else 1.0


def _text_extent(quad: Quad, text: str) -> Corners:
    """The part of an upright place (`quad`, axis-aligned) that `text`, read there, fills
    from its left edge: about a line height per CJK character, half that for a digit (the
    parser measures lines by where their text ends)."""
    (x0, y0), (x1, _), (_, y1) = quad[0], quad[1], quad[2]
    height = (y1 - y0) / PLACE_HEIGHT_IN_LINES
    width = sum(0.55 if ch.isascii() else 1.0 for ch in text.strip()) * height
    end = min(x1, x0 + width + 0.3 * height)
    return ((x0, y0), (end, y0), (end, y1), (x0, y1))


def _four(points: Iterable[tuple[float, float]]) -> Corners:
    p = [(float(x), float(y)) for x, y in points]
    return (p[0], p[1], p[2], p[3])


def _card_angle(boxes: list[TextBox]) -> int:
    """The angle most of the card's characters were read at (the parser takes a box read at
    another as a misreading)."""
    by_angle: dict[int, int] = {}
    for box in boxes:
        by_angle[box.angle] = by_angle.get(box.angle, 0) + len(box.text.strip())
    return max(by_angle, key=lambda a: (by_angle[a], a == 0)) if by_angle else 0


Corners = tuple[Point, Point, Point, Point]


def _upright_to_image(found: list[TextBox], upright: list[TextBox]) -> Callable[[Quad], Corners]:
    """Points of the parser's upright card geometry → the card image's pixels: the affine
    map that takes every upright box's centre to its found box's (`imaging.upright_boxes`
    turns and rotates; the boxes are the same, in the same order)."""
    src = np.array([[b.cx, b.cy, 1.0] for b in upright])
    dst = np.array([[b.cx, b.cy] for b in found])
    matrix = np.linalg.lstsq(src, dst, rcond=None)[0]

    def mapped(quad: Quad) -> Corners:
        points = np.array([[x, y, 1.0] for x, y in quad]) @ matrix
        return _four(points.tolist())

    return mapped


# --------------------------------------------------------------------------- the run


@dataclass(slots=True)
class RunSummary:
    total: int = 0
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def count(self, record: ResultRecord) -> None:
        self.processed += 1
        if record.status == "ok":
            self.succeeded += 1
        else:
            self.failed += 1
            code = record.error.code.value if record.error else "unknown"
            self.error_codes[code] = self.error_codes.get(code, 0) + 1


def run(
    items: list[InputItem],
    source: Source,
    sink: Sink,
    engine: Engine | Sequence[Engine],
    config: JobConfig,
    reporter: Reporter,
    summary: RunSummary | None = None,
) -> RunSummary:
    """Process `items`, writing one record each, counting into `summary`. `engine`: one
    engine, or one per lane (`ocr_job.lanes`: that many inputs are read at the same time).

    StorageError aborts the run; a caller that passed `summary` still has the counts so far.
    """
    summary = summary if summary is not None else RunSummary()
    summary.total = len(items)
    started = time.perf_counter()
    source = pdfpages.PagedSource(source)  # pages read their PDF, once for all its pages
    reporter.start(summary)
    get = functools.partial(fetch, source=source, sink=sink, config=config)
    inputs = prefetched(items, get, config.item_timeout_s)
    engines = list(engine) if isinstance(engine, Sequence) else [engine]
    handle = functools.partial(
        _handle, sink=sink, config=config, reporter=reporter, summary=summary, written=threading.Lock()
    )
    if len(engines) == 1:
        for fetched in inputs:
            handle(fetched, engines[0])
    else:
        lanes.run_in_lanes(inputs, engines, handle)
    summary.wall_s = round(time.perf_counter() - started, 3)
    return summary


def _handle(
    fetched: Fetched,
    engine: Engine,
    sink: Sink,
    config: JobConfig,
    reporter: Reporter,
    summary: RunSummary,
    written: threading.Lock,
) -> None:
    """One input: processed, its record stored and counted (under `written`: one lane at a
    time), its memory handed back, then reported."""
    if fetched.skipped:
        with written:
            summary.skipped += 1
            summary.processed += 1
            reporter.advance(summary, None)
        return
    record = fetched.record or process(fetched, engine, config)
    fetched.data = None
    with written:
        record = store(sink, record, fetched.item.key, fetched.crops)  # an outage raises
        summary.count(record)
        done = summary.processed
    fetched.crops = {}
    settle(done)  # keep RSS flat from one image size to the next
    with written:
        reporter.advance(summary, record)  # after `settle`: the RSS it logs is at rest


def store(
    sink: Sink, record: ResultRecord, key: str, card_crops: dict[str, bytes] | None = None
) -> ResultRecord:
    """Write `record` for input `key`, after its crops (`--crops`); returns what was stored.
    When the output refuses this one record or crop (transient failures were retried
    already), a `write_failed` error record is stored under the key's mapped name instead.
    When even that is refused, or the output is full, read-only or gone, StorageError ends
    the run."""
    try:
        if card_crops:
            record.crops = crops.store_crops(sink, key, card_crops)
        sink.write_record(record, key)
        return record
    except RecordWriteError as exc:
        reason = str(exc)
    log.warning("a record was refused by the output (%s); an error record stands in for it", reason)
    failure = ResultRecord.failure(
        key,
        ErrorCode.WRITE_FAILED,
        f"the result could not be stored under the input's name ({reason}); run again to retry",
        timings_ms=record.timings_ms,
    )
    try:
        sink.write_record(failure, key, mapped=True)
    except RecordWriteError as exc:
        raise StorageError(f"the output refuses records even under a safe name ({exc})") from None
    return failure


# --------------------------------------------------------------------------- helpers


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(timings.get(stage, 0.0) + (time.perf_counter() - started) * 1000, 1)
