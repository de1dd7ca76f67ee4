"""Crops and quality on the records, through the real worker (onnx engine): `--crops`
writes the card and portrait JPEGs beside each record, locally and on S3, and the record
names them; without it nothing is written and `crops` is null. Crops never reach a log."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from ocr_job.config import JobConfig
from ocr_job.crops import crop_name
from ocr_job.imaging import CARD_ASPECT
from ocr_job.records import ResultRecord
from ocr_job.storage.base import mapped_name
from ocr_job.storage.local import LocalSink
from ocr_job.synth.kyc_cases import make_case
from tests.support.s3server import S3Server

SEED = 43


def job_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "AWS_"))}
    env.update({"OCR_LOG_FORMAT": "plain", "OCR_SECOND_OPINION": "false"}, **extra)
    return env


def run(src: str, dest: str, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ocr_job.cli", "run", src, "--output", dest,
                           "--engine", "onnx", *flags], env=job_env(**env), capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A front photo, a back scan, a glare-struck front, and a front under a name too long
    for a crop beside its record (the crops go under `_mapped/`)."""
    src = tmp_path_factory.mktemp("kyc-in")
    (src / "a").mkdir()
    (src / "a" / "front.jpg").write_bytes(make_case("clean_photo", f"{SEED}:1", "front", "realdesign").jpeg())
    (src / "back.jpg").write_bytes(make_case("clean_scan", f"{SEED}:2", "back", "classic").jpeg())
    (src / "glare.jpg").write_bytes(make_case("glare", f"{SEED}:3", "front", "wide").jpeg())
    (src / f"{'张' * 80}.jpg").write_bytes(make_case("clean_scan", f"{SEED}:4", "front", "compact").jpeg())
    return src


def records(dest: Path) -> dict[str, ResultRecord]:
    return {r.source: r for r in LocalSink(dest).iter_records()}


def jpeg_size(data: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image.size


def test_crops_are_written_beside_the_records_and_named_in_them(inputs: Path, tmp_path: Path) -> None:
    proc = run(str(inputs), str(tmp_path / "out"), "--crops")
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = records(tmp_path / "out")
    assert len(found) == 4 and all(r.status == "ok" for r in found.values()), found
    for source, record in found.items():
        assert record.crops is not None and record.crops.card == crop_name(source, "card")
        width, height = jpeg_size((tmp_path / "out" / record.crops.card).read_bytes())
        assert abs(width / height / CARD_ASPECT - 1) < 0.02, (source, width, height)
        if record.side == "front":
            assert record.crops.portrait == crop_name(source, "portrait")
            pw, ph = jpeg_size((tmp_path / "out" / record.crops.portrait).read_bytes())
            assert 0.6 < pw / ph < 1.1 and ph > height / 2  # the portrait: upright, tall
        else:
            assert record.crops.portrait is None
            assert not (tmp_path / "out" / crop_name(source, "portrait")).exists()
    assert found["a/front.jpg"].crops.card == "a/front.jpg.card.jpg"  # type: ignore[union-attr]
    long = f"{'张' * 80}.jpg"
    assert found[long].crops.card == mapped_name(long)[: -len(".json")] + ".card.jpg"  # type: ignore[union-attr]
    for name in ("front.jpg", "back.jpg", "glare.jpg", "张张张", "card.jpg", "portrait"):
        assert name not in proc.stderr + proc.stdout, name  # keys and crops never logged


def test_every_record_with_a_side_has_its_quality(inputs: Path, tmp_path: Path) -> None:
    proc = run(str(inputs), str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = records(tmp_path / "out")
    for record in found.values():
        assert record.crops is None
        assert record.quality is not None and 0 <= record.quality.score <= 1
        assert 0 <= record.quality.sharpness <= 1 and 0 <= record.quality.glare <= 1
    codes = {s: {w.code for w in r.warnings} for s, r in found.items()}
    assert "glare" in codes["glare.jpg"] and found["glare.jpg"].quality.glare > 0  # type: ignore[union-attr]
    assert not codes["a/front.jpg"] & {"glare", "photocopy", "image_blurry", "screen_recapture"}
    assert not list((tmp_path / "out").rglob("*.jpg"))


def test_an_error_record_has_neither_quality_nor_crops(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "junk.jpg").write_bytes(b"not an image")
    proc = run(str(tmp_path / "in"), str(tmp_path / "out"), "--crops")
    assert proc.returncode == 0, proc.stderr[-2000:]
    (record,) = records(tmp_path / "out").values()
    assert record.status == "error" and record.quality is None and record.crops is None
    assert not list((tmp_path / "out").rglob("*.jpg"))


def test_the_setting_comes_from_the_flag_or_the_environment() -> None:
    from ocr_job.cli import _config_from, build_parser

    def config(*argv: str) -> JobConfig:
        return _config_from(build_parser().parse_args(["run", "src", "-o", "out", *argv]))

    assert config().crops is False and config("--crops").crops is True
    os.environ["OCR_CROPS"] = "true"
    try:
        assert config().crops is True and config("--no-crops").crops is False
    finally:
        del os.environ["OCR_CROPS"]
    assert JobConfig(source="s", output="o", crops=True).to_env()["OCR_CROPS"] == "True"


def test_crops_on_s3(inputs: Path, s3_server: S3Server, s3_bucket: str) -> None:
    client = s3_server.client()
    for path in inputs.rglob("*.jpg"):
        if len(path.name) < 20:
            client.fput_object(s3_bucket, f"in/{path.relative_to(inputs).as_posix()}", str(path))
    proc = run(f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/out", "--crops", **s3_server.env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    keys = [o.object_name for o in client.list_objects(s3_bucket, prefix="out/", recursive=True)]
    (front_key,) = [k for k in keys if k.endswith("a/front.jpg.json")]
    front = ResultRecord.model_validate_json(client.get_object(s3_bucket, front_key).read())
    assert front.crops is not None and front.crops.card == front.source + ".card.jpg"
    assert f"out/{front.crops.card}" in keys and f"out/{front.crops.portrait}" in keys
    for name in (front.crops.card, front.crops.portrait):
        assert name is not None
        stat = client.stat_object(s3_bucket, f"out/{name}")
        assert stat.content_type == "image/jpeg"
        jpeg_size(client.get_object(s3_bucket, f"out/{name}").read())
    assert "front.jpg" not in proc.stderr
