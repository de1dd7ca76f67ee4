"""Layout styles: they really differ on the rendered card, each follows its layout,
each holds the longest address, and their fonts come from packages (or fail clearly)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest

from ocr_job.synth import fonts, generate_set
from ocr_job.synth.identity import ADDRESS_MAX_CHARS
from ocr_job.synth.layouts import LAYOUTS, STYLES, Layout, layout
from ocr_job.synth.render import SIDES, Style, render_card, wrap_address
from ocr_job.synth.sample import identity_for

WIDTH = 1000
K = WIDTH / 85.6  # pixels per millimetre
#: The labels' colour where their place is measured.
MAGENTA = (230, 0, 230)


def _style(lay: Layout, seed: int = 1) -> Style:
    """A style of `lay` with no registration shift, so positions can be measured."""
    return dataclasses.replace(Style.draw(random.Random(seed), lay), dx_mm=0.0, dy_mm=0.0)


def _measure(lay: Layout) -> dict[str, float]:
    """On the rendered front: the 姓名 label's two characters (left/right, mm) and
    where the name's ink starts, found from the label colour and the dark ink."""
    style = dataclasses.replace(_style(lay), label=MAGENTA)  # no card prints in it
    image = render_card(identity_for("styles:measure"), "front", WIDTH, style=style).astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    label = (r - g > 130) & (b - g > 130)
    ink = image.max(axis=2) < 90
    rows = slice(round((lay.name_y - lay.name_em) * K), round((lay.name_y + 0.5) * K))
    cols = np.flatnonzero(label[rows].any(axis=0))
    runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1)
    runs = [run for run in runs if len(run) > 2]  # not a stroke's edge apart (名 in bold song)
    assert len(runs) == 2, "the label 姓名 is two characters"
    value = np.flatnonzero(ink[rows, : round(lay.photo_box[0] * K)].any(axis=0))
    return {"label_x": runs[0][0] / K, "label_gap": (runs[1][0] - runs[0][-1]) / K,
            "value_x": value[0] / K}  # fmt: skip


@pytest.fixture(scope="module")
def measured() -> dict[str, dict[str, float]]:
    return {name: _measure(lay) for name, lay in LAYOUTS.items()}


def test_there_are_at_least_three_styles_and_the_old_one_stays() -> None:
    assert len(STYLES) >= 3
    assert {"classic", "realdesign"} <= set(STYLES)
    with pytest.raises(ValueError, match="style must be one of"):
        layout("nope")


def test_a_held_out_style_is_drawn_only_when_asked_for(tmp_path: Path) -> None:
    """A set is drawn in STYLES unless told otherwise: the held-out styles (LAYOUTS has
    more) read the parser's rates on a drawing no rule was written for."""
    held = sorted(set(LAYOUTS) - set(STYLES))
    assert held
    generate_set(tmp_path / "default", 2 * len(STYLES), seed=3, levels=("clean",))
    generate_set(tmp_path / held[0], 2, seed=3, levels=("clean",), styles=held[:1])
    for name, want in (("default", set(STYLES)), (held[0], {held[0]})):
        dest = tmp_path / name
        labels = [json.loads(line) for line in (dest / "labels.jsonl").read_text().splitlines()]
        assert {label["style"] for label in labels} == want


def test_each_style_prints_where_its_layout_says(measured: dict[str, dict[str, float]]) -> None:
    for name, lay in LAYOUTS.items():
        got = measured[name]
        assert abs(got["label_x"] - lay.label_x) < 0.6, name
        assert abs(got["value_x"] - lay.value_x) < 0.6, name


def test_styles_differ_visibly_on_the_card(measured: dict[str, dict[str, float]]) -> None:
    """Every two styles differ by more than a millimetre in the label's position, its
    inner gap (姓 名 vs 姓名) or the value column."""
    for a, b in itertools.combinations(STYLES, 2):
        diff = max(abs(measured[a][k] - measured[b][k]) for k in measured[a])
        assert diff > 1.0, (a, b, measured[a], measured[b])
    gaps = sorted(m["label_gap"] for m in measured.values())
    assert gaps[-1] - gaps[0] > 2.0  # a tight 姓名 and a wide 姓  名


def test_styles_differ_in_wrapping_ethnicity_and_line_pitch() -> None:
    lays = list(LAYOUTS.values())
    assert len({lay.address_chars for lay in lays}) >= 3
    assert len({lay.address_step for lay in lays}) >= 3
    gaps = [lay.ethnic_x - lay.ethnic_label_x for lay in lays]
    assert max(gaps) - min(gaps) > 8  # 民族 汉 close, and far right
    assert len({lay.background for lay in lays}) >= 3
    assert {lay.portrait for lay in lays} == {"face", "silhouette"}


def test_fonts_hei_and_song_values_and_ocrb_numbers() -> None:
    faces = {f for lay in LAYOUTS.values() for f in lay.value_faces}
    assert faces & {"hei", "microhei"} and faces & {"ming", "sungti"}
    for key in faces | {"ocrb"}:
        assert fonts.face(key).path  # installed, from its package
    # every style's faces draw different shapes for the same text
    masks = {key: bytes(fonts.font(key, 40).getmask("张建国")) for key in faces}
    assert len(set(masks.values())) == len(faces)


def test_a_character_a_face_lacks_comes_from_the_fallback() -> None:
    assert not fonts.has_glyph("sungti", "骉")  # GB 2312 only
    assert fonts.runs("sungti", "王骉") == [("sungti", "王"), (fonts.FALLBACK_FACE, "骉")]
    assert fonts.runs("hei", "王骉") == [("hei", "王骉")]


@pytest.mark.parametrize("name", STYLES)
def test_every_style_holds_the_longest_address_without_shrinking(name: str) -> None:
    lay = LAYOUTS[name]
    assert lay.address_capacity >= ADDRESS_MAX_CHARS
    lines = wrap_address("国" * ADDRESS_MAX_CHARS, lay.address_chars, lay.address_lines)
    assert len(lines) <= lay.address_lines
    pen_room = lay.value_right - lay.value_x
    size = round(lay.value_em * K)
    for face in lay.value_faces:
        length = fonts.font(face, size).getlength("国" * lay.address_chars) / K
        assert length <= pen_room, (name, face)
    last = lay.address_y + (lay.address_lines - 1) * lay.address_step
    assert last + 1.0 < lay.number_y - lay.number_em * 0.7  # above the number line
    with pytest.raises(ValueError, match="does not fit"):
        wrap_address("国" * (lay.address_capacity + 1), lay.address_chars, lay.address_lines)


@pytest.mark.parametrize("side", SIDES)
def test_realdesign_artwork(side: str) -> None:
    """The printed card's design: a face in the portrait (skin, not grey), a rosette
    background, the Great Wall behind the back's middle."""
    real, classic = LAYOUTS["realdesign"], LAYOUTS["classic"]
    who = identity_for("styles:art")
    a = render_card(who, side, 600, style=_style(real)).astype(int)
    b = render_card(who, side, 600, style=_style(classic)).astype(int)
    k = 600 / 85.6
    if side == "front":
        x0, y0, x1, y1 = (round(v * k) for v in real.photo_box)
        photo = a[y0:y1, x0:x1]
        skin = (photo[..., 0] - photo[..., 2] > 45) & (photo[..., 0] > 150)
        assert skin.mean() > 0.05
        x0, y0, x1, y1 = (round(v * k) for v in classic.photo_box)
        grey = b[y0:y1, x0:x1]
        assert ((grey[..., 0] - grey[..., 2] > 45) & (grey[..., 0] > 150)).mean() < 0.01
    else:
        band = slice(round(27 * k), round(36 * k))  # below the title, above the labels
        assert a[band].mean() < b[band].mean() - 3  # the wall darkens the middle
    assert (
        np.abs(
            a[: round(4 * k), round(30 * k) : round(50 * k)].mean(axis=(0, 1))
            - b[: round(4 * k), round(30 * k) : round(50 * k)].mean(axis=(0, 1))
        ).max()
        > 1
    )


def test_a_missing_face_fails_naming_its_package(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setattr(fonts, "FONT_DIRS", (tmp_path,))
    monkeypatch.setattr(fonts.shutil, "which", lambda _name: None)
    fonts.face.cache_clear()
    fonts.font.cache_clear()
    fonts.has_glyph.cache_clear()
    fonts._notdef_masks.cache_clear()
    try:
        for key, package in (("hei", "fonts-wqy-zenhei"), ("ming", "fonts-arphic-uming"),
                             ("sungti", "fonts-arphic-gbsn00lp")):  # fmt: skip
            with pytest.raises(fonts.FontNotFoundError, match=package):
                fonts.face(key)
        with pytest.raises(fonts.FontNotFoundError):
            render_card(identity_for("styles:missing"), "front", 300,
                        style=_style(LAYOUTS["realdesign"]))  # fmt: skip
    finally:
        fonts.face.cache_clear()
        fonts.font.cache_clear()
        fonts.has_glyph.cache_clear()
        fonts._notdef_masks.cache_clear()


def test_address_lines_wrap_by_width_digits_taking_half() -> None:
    assert wrap_address("北京市东城区东华门街道1号", 6, 4) == ["北京市东城区", "东华门街道1", "号"]
    assert wrap_address("工农路1806号", 4, 4) == ["工农路18", "06号"]
    assert wrap_address("甲乙丙丁", 2, 2) == ["甲乙", "丙丁"]
    lines = wrap_address("新疆维吾尔自治区昌吉回族自治州呼图壁县育才西路736号19栋2404", 11, 4)
    assert lines[-1] == "路736号19栋2404" and len(lines) == 3  # by count: 4, "4" alone


def test_addresses_take_three_and_four_lines_on_the_printed_design() -> None:
    from collections import Counter

    people = [identity_for(f"styles:lines:{i}") for i in range(600)]
    for name in ("classic", "realdesign", "wide"):
        lay = LAYOUTS[name]
        lines = Counter(len(wrap_address(p.address, lay.address_chars, lay.address_lines))
                        for p in people)  # fmt: skip
        assert lines[3] > 0.3 * len(people) and lines[4] > 0.02 * len(people), (name, lines)


def test_a_letter_spaced_name_is_printed_wider_by_its_tracking() -> None:
    """`name_tracking` puts that many millimetres between the name's characters: the
    name's ink is wider by the tracking times the gaps than the same name set solid."""
    spaced = LAYOUTS["sweep"]
    assert spaced.name_tracking > 0
    solid = dataclasses.replace(spaced, name_tracking=0.0)
    who = identity_for("styles:tracking")
    extents = []
    for lay in (spaced, solid):
        style = dataclasses.replace(_style(lay), face="wenkai")
        image = render_card(who, "front", WIDTH, style=style)
        rows = slice(round((lay.name_y - lay.name_em) * K), round((lay.name_y + 0.5) * K))
        cols = np.flatnonzero((image.max(axis=2) < 90)[rows, : round(lay.photo_box[0] * K)].any(axis=0))
        extents.append((cols[-1] - cols[0]) / K)
    want = spaced.name_tracking * (len(who.name) - 1)
    assert abs((extents[0] - extents[1]) - want) < 0.3, (extents, want)


def test_a_padded_birth_date_prints_month_and_day_in_two_digits() -> None:
    """`birth_padded` prints 03 for March: the month's ink (between its column and
    月's) is wider than the same month printed in one digit."""
    padded = LAYOUTS["ledger"]
    assert padded.birth_padded
    solid = dataclasses.replace(padded, birth_padded=False)
    who = identity_for("styles:padded")
    who = dataclasses.replace(who, birth_date=who.birth_date.replace(month=3, day=9))
    widths = []
    for lay in (padded, solid):
        image = render_card(who, "front", WIDTH, style=_style(lay))
        rows = slice(round((lay.birth_y - lay.value_em) * K), round((lay.birth_y + 0.5) * K))
        month_x, yue_x = lay.birth_columns[2], lay.birth_columns[3]
        cols = np.flatnonzero((image.max(axis=2) < 90)[rows, round(month_x * K) : round(yue_x * K)]
                              .any(axis=0))  # fmt: skip
        widths.append((cols[-1] - cols[0]) / K)
    assert widths[0] > 1.6 * widths[1], widths


def test_microprint_lies_across_the_paper_and_the_number_takes_its_layouts_face() -> None:
    """`microtext`: the paper between the labels and the values (no print of its own)
    holds rows of pale letters; without it, that paper is the plain pattern. The number is
    drawn in `number_face`: DejaVu Sans Mono's digits are not OCR-B's."""
    mono = LAYOUTS["mono"]
    assert mono.microtext and mono.number_face != "ocrb"
    who = identity_for("styles:micro")
    gap = (slice(round(13 * K), round(29 * K)), slice(round(11.5 * K), round(15.5 * K)))
    marked, plain = (
        render_card(who, "front", WIDTH, style=_style(lay))[gap].astype(int)
        for lay in (mono, dataclasses.replace(mono, microtext=False))
    )
    darker = (plain - marked).min(axis=2)  # darker in every channel
    assert np.mean(darker > 15) > 0.05
    rows = slice(round((mono.number_y - mono.number_em) * K), round((mono.number_y + 0.5) * K))
    numbers = [
        render_card(who, "front", WIDTH, style=_style(lay))[rows].astype(int)
        for lay in (mono, dataclasses.replace(mono, number_face="ocrb"))
    ]
    assert np.abs(numbers[0] - numbers[1]).max(axis=2).mean() > 5
