"""generate_set: layout, labels, byte-identical reruns, reuse, and the bad inputs."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from stdnum.cn import ric

from ocr_job.records import FIELD_NAMES, ErrorCode, Fields
from ocr_job.synth import PARAMS_FILE, STYLES, generate_set, load_labels, write_bad_inputs
from ocr_job.synth.layouts import LAYOUTS

COUNT = 7
WIDTH = 400  # small pictures keep the suite fast; the layout is the same at any width


@pytest.fixture(scope="module")
def card_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_set(tmp_path_factory.mktemp("set") / "s", COUNT, seed=5, width=WIDTH,
                        bad_inputs=True)  # fmt: skip


@pytest.fixture(scope="module")
def labels(card_set: Path) -> dict[str, dict[str, Any]]:
    return load_labels(card_set)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_layout_and_cycling(card_set: Path, labels: dict[str, dict[str, Any]]) -> None:
    cards = [v for v in labels.values() if v["level"] != "bad"]
    assert len(cards) == COUNT
    assert [c["source"] for c in cards[:3]] == [
        "clean/0001-front.jpg", "photo/0002-front.jpg", "hard/0003-front.jpg"]  # fmt: skip
    assert {(c["level"], c["side"]) for c in cards[:6]} == {
        (lvl, side) for lvl in ("clean", "photo", "hard") for side in ("front", "back")}  # fmt: skip
    for source in labels:
        assert (card_set / source).is_file(), source
        assert "\\" not in source and not source.startswith("/")


def test_label_lines_are_complete(labels: dict[str, dict[str, Any]]) -> None:
    for label in labels.values():
        if label["level"] == "bad" and label["expected_error"]:
            assert label["side"] is None and label["fields"] is None
            continue
        fields = label["fields"]
        assert set(fields) == set(FIELD_NAMES)
        Fields(**fields)  # the record model accepts them
        front = label["side"] == "front"
        assert (fields["id_number"] is not None) == front
        assert (fields["issuing_authority"] is not None) == (not front)
        assert label["transform"]["rotation"] in (0, 90, 180, 270)
        if front:
            assert ric.is_valid(fields["id_number"])


def test_labels_match_the_pictures(card_set: Path, labels: dict[str, dict[str, Any]]) -> None:
    for source, label in labels.items():
        if label["level"] == "bad":
            continue
        with Image.open(card_set / source) as image:
            assert list(image.size) == label["transform"]["size"]


def test_rerun_is_byte_identical_and_reused(card_set: Path, tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in card_set.rglob("*") if p.is_file()}
    generate_set(card_set, COUNT, seed=5, width=WIDTH, bad_inputs=True)
    assert before == {p: p.stat().st_mtime_ns for p in card_set.rglob("*") if p.is_file()}
    fresh = generate_set(tmp_path / "again", COUNT, seed=5, width=WIDTH, bad_inputs=True)
    assert _files(fresh) == _files(card_set)


def test_same_bytes_in_another_process(card_set: Path, tmp_path: Path) -> None:
    """No hash randomisation or other process state leaks into the pictures."""
    code = ("import sys; from pathlib import Path; from ocr_job.synth import generate_set; "
            f"generate_set(Path(sys.argv[1]), 4, seed=5, width={WIDTH})")  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "p")], check=True, env=env)
    other = _files(tmp_path / "p")
    ours = _files(card_set)
    for name in ("clean/0001-front.jpg", "photo/0002-front.jpg", "hard/0003-front.jpg",
                 "clean/0004-back.jpg"):  # fmt: skip
        assert other[name] == ours[name]


def test_changed_parameters_regenerate(tmp_path: Path) -> None:
    dest = generate_set(tmp_path / "x", 3, seed=1, width=WIDTH, levels=("clean",))
    first = _files(dest)
    generate_set(dest, 2, seed=2, width=WIDTH, levels=("clean",))
    second = _files(dest)
    assert "clean/0003-front.jpg" not in second  # the previous run's extra picture is gone
    assert second["clean/0001-front.jpg"] != first["clean/0001-front.jpg"]
    assert json.loads((dest / PARAMS_FILE).read_text())["params"]["seed"] == 2


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="levels"):
        generate_set(tmp_path, 1, levels=("blurry",))
    with pytest.raises(ValueError, match="sides"):
        generate_set(tmp_path, 1, sides=("left",))
    with pytest.raises(ValueError, match="styles"):
        generate_set(tmp_path, 1, styles=("gothic",))
    with pytest.raises(ValueError, match="styles"):
        generate_set(tmp_path, 1, styles=())


def test_labels_carry_the_style_and_every_style_gets_every_level_and_side(
    tmp_path: Path,
) -> None:
    per_style = 2  # levels × sides
    dest = generate_set(tmp_path / "styles", per_style * len(STYLES), seed=3, width=WIDTH,
                        levels=("clean",))  # fmt: skip
    cards = list(load_labels(dest).values())
    assert [c["style"] for c in cards] == [s for s in STYLES for _ in range(per_style)]
    for style in STYLES:
        assert {c["side"] for c in cards if c["style"] == style} == {"front", "back"}
    for card in cards:
        traits = card["traits"]
        assert set(traits) == {"name", "address", "address_lines", "face", "watermark"}
        assert traits["face"] in LAYOUTS[card["style"]].value_faces
    assert json.loads((dest / PARAMS_FILE).read_text())["params"]["styles"] == list(STYLES)
    # one style only: the same people, drawn another way
    one = load_labels(generate_set(tmp_path / "wide", 2, seed=3, width=WIDTH,
                                   levels=("clean",), styles=("wide",)))  # fmt: skip
    assert {c["style"] for c in one.values()} == {"wide"}
    assert [c["fields"] for c in one.values()] == [c["fields"] for c in cards[:2]]
    assert (tmp_path / "wide/clean/0001-front.jpg").read_bytes() != (
        dest / "clean/0001-front.jpg"
    ).read_bytes()


def test_bad_inputs_have_no_style(labels: dict[str, dict[str, Any]]) -> None:
    for label in labels.values():
        assert (label["style"] is None) == (label["level"] == "bad")


# --------------------------------------------------------------------------- bad inputs


@pytest.fixture(scope="module")
def bad(card_set: Path) -> Path:
    return card_set / "bad"


def test_bad_input_codes(tmp_path: Path, bad: Path, labels: dict[str, dict[str, Any]]) -> None:
    expected = write_bad_inputs(tmp_path, seed=5, width=WIDTH)
    codes = {c.value for c in ErrorCode}
    assert {c for c in expected.values() if c} == {
        "empty_file", "unreadable_image", "unsupported_format", "image_too_small",
        "image_too_large", "no_card_found"}  # fmt: skip
    assert all(c is None or c in codes for c in expected.values())
    readable = {n for n, c in expected.items() if c is None}
    assert readable == {"card-animated.gif", "card-cmyk.jpg", "card-16bit.png"}
    for name, code in expected.items():
        assert labels[f"bad/{name}"]["expected_error"] == code
        assert (tmp_path / name).read_bytes() == (bad / name).read_bytes()  # deterministic


def test_empty_truncated_random_and_text(bad: Path) -> None:
    assert (bad / "empty.jpg").stat().st_size == 0
    truncated = (bad / "truncated.jpg").read_bytes()
    assert truncated.startswith(b"\xff\xd8") and not truncated.endswith(b"\xff\xd9")
    with pytest.raises(OSError), Image.open(bad / "truncated.jpg") as image:
        image.load()
    with pytest.raises(OSError), Image.open(bad / "random-bytes.jpg") as image:
        image.load()
    (bad / "not-an-image.jpg").read_bytes().decode("utf-8")
    with pytest.raises(OSError), Image.open(bad / "not-an-image.jpg"):
        pass
    with Image.open(bad / "card-as-ppm.jpg") as ppm:  # a real picture, in a format we refuse
        assert ppm.format == "PPM" and min(ppm.size) >= 200


def test_tiny_and_huge_png(bad: Path) -> None:
    with Image.open(bad / "tiny-1x1.png") as image:
        assert image.size == (1, 1)
    huge = bad / "huge-40000x40000.png"
    head = huge.read_bytes()[:33]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    assert struct.unpack(">II", head[16:24]) == (40000, 40000)
    assert huge.stat().st_size < 1_000_000
    with pytest.raises(Image.DecompressionBombError):  # Pillow refuses it from the header
        Image.open(huge)


def test_readable_odd_encodings(bad: Path, labels: dict[str, dict[str, Any]]) -> None:
    with Image.open(bad / "card-animated.gif") as gif:
        assert gif.format == "GIF" and getattr(gif, "n_frames", 1) >= 2
    with Image.open(bad / "card-cmyk.jpg") as cmyk:
        assert cmyk.format == "JPEG" and cmyk.mode == "CMYK"
    png16 = (bad / "card-16bit.png").read_bytes()
    bit_depth, colour_type = png16[24], png16[25]
    assert (bit_depth, colour_type) == (16, 2)  # 16 bits a channel, RGB
    for name in ("card-animated.gif", "card-cmyk.jpg", "card-16bit.png"):
        label = labels[f"bad/{name}"]
        assert label["expected_error"] is None and label["side"] in ("front", "back")
        assert label["fields"]["id_number" if label["side"] == "front" else "valid_to"]


def test_no_card_photo_is_a_plain_picture(bad: Path) -> None:
    data = (bad / "no-card.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert min(image.size) >= 1000


def test_samples_command_takes_styles(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "ocr_job.cli",
        "samples",
        str(tmp_path / "cli"),
        "--count",
        "2",
        "--levels",
        "clean",
        "--styles",
        "compact,realdesign",
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    labels = load_labels(tmp_path / "cli")
    assert [c["style"] for c in labels.values()] == ["compact", "compact"]
