"""PDF inputs: each page one input (`NAME.pdf#page=N`), one record each; bad PDFs refused
with coded errors; the render stays within the decode budget; a rerun skips pages done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ocr_job import pdfpages
from ocr_job.imaging import ImageError
from ocr_job.records import ErrorCode
from ocr_job.storage.base import is_plain_key, mapped_name, record_name
from ocr_job.storage.local import LocalSink
from ocr_job.synth import make_sample
from ocr_job.synth.pages import blank_pdf, broken_pdf, encrypted_pdf, pdf_of, two_sided_page

pytestmark = pytest.mark.timeout(900)

MiB = 1 << 20


def _code(data: bytes, page: int = 1, budget_mib: int = 48) -> ErrorCode:
    with pytest.raises(ImageError) as caught:
        pdfpages.page_count(data)
        pdfpages.render_page(data, page, budget_mib * MiB, 40_000_000)
    return caught.value.code


@pytest.fixture(scope="module")
def page_image() -> object:
    return two_sided_page(3, "classic", "scan")


def test_page_keys_round_trip_and_get_their_own_record_names() -> None:
    for pdf in ("a.pdf", "dir/张三 身份证.PDF", "x#page=2.pdf", "odd\nname.pdf", "a.pdf#page=1/b.pdf"):
        for page in (1, 2, 200):
            key = pdfpages.page_key(pdf, page)
            assert pdfpages.page_of(key) == (pdf, page)
            assert record_name(key) != record_name(pdf)
    assert pdfpages.page_of("a.pdf") is None
    assert pdfpages.page_of("a.pdf#page=0") is None
    assert pdfpages.page_of("a.jpg#page=1") is None
    assert is_plain_key("scans/a.pdf#page=3")
    assert record_name("scans/a.pdf#page=3") == "scans/a.pdf#page=3.json"
    odd = pdfpages.page_key("odd\nname.pdf", 2)  # mapped, and distinct from page 1's
    assert record_name(odd) == mapped_name(odd) != mapped_name(pdfpages.page_key("odd\nname.pdf", 1))


def test_bad_pdfs_get_coded_errors() -> None:
    assert _code(encrypted_pdf()) is ErrorCode.PDF_ENCRYPTED
    assert _code(broken_pdf()) is ErrorCode.PDF_UNREADABLE
    assert _code(b"%PDF-1.4\n") is ErrorCode.PDF_UNREADABLE
    assert _code(b"") is ErrorCode.EMPTY_FILE
    assert _code(blank_pdf(pdfpages.MAX_PDF_PAGES + 1)) is ErrorCode.PDF_TOO_MANY_PAGES
    assert _code(blank_pdf(1, (14400.0, 14400.0))) is ErrorCode.PDF_PAGE_TOO_LARGE  # 5 m a side
    assert pdfpages.page_count(blank_pdf(pdfpages.MAX_PDF_PAGES)) == pdfpages.MAX_PDF_PAGES


def test_a_page_outside_the_pdf_is_an_error() -> None:
    assert _code(blank_pdf(2), page=3) is ErrorCode.PDF_UNREADABLE


def test_pages_render_at_300_dpi_when_the_budget_allows(page_image) -> None:  # type: ignore[no-untyped-def]
    data = pdf_of([page_image.image])
    full = pdfpages.render_page(data, 1, 128 * MiB, 40_000_000)
    width_px = page_image.image.shape[1]
    assert abs(full.shape[1] - width_px) <= 2  # A4 at 300 dpi: a card is 1,011 px wide
    assert page_image.card_width * full.shape[1] / width_px >= 900
    reduced = pdfpages.render_page(data, 1, 48 * MiB, 40_000_000)
    assert reduced.shape[1] < full.shape[1]  # the page's image alone takes 35 MB decoded


_MEASURE = textwrap.dedent("""
    import sys
    from ocr_job import pdfpages
    data = open(sys.argv[1], "rb").read()
    budget = int(sys.argv[2]) << 20
    pdfpages.page_count(data)
    pdfpages.render_page(data, 1, budget, 40_000_000)  # warm up: PDFium's own tables
    def hwm():
        return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM"))
    def rss():
        return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmRSS"))
    base = rss()
    open("/proc/self/clear_refs", "w").write("5")
    image = pdfpages.render_page(data, 1, budget, 40_000_000)
    print(hwm() - base, image.shape[1])
""")


@pytest.mark.parametrize("budget_mib", [48, 96])
def test_rendering_a_page_stays_within_the_budget(tmp_path: Path, page_image, budget_mib: int) -> None:  # type: ignore[no-untyped-def]
    """Measured in a child process: what rendering an A4 scan (a 300 dpi JPEG on the page)
    adds to the peak, the page's pixels included, is within OCR_DECODE_BUDGET_MIB."""
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(pdf_of([page_image.image]))
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(pdf), str(budget_mib)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    grown, width = (int(v) for v in proc.stdout.split())
    assert width > 0
    assert grown <= budget_mib * MiB, (grown / MiB, budget_mib)


def _run(src: Path, dest: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "AWS_"))}
    env.update(OCR_LOG_FORMAT="plain", OCR_SECOND_OPINION="false")
    return subprocess.run([sys.executable, "-m", "ocr_job.cli", "run", str(src), "--output", str(dest),
                           "--engine", "onnx"], env=env, capture_output=True, text=True, timeout=800,
                          check=False)  # fmt: skip


def test_a_folder_of_pdfs_gets_one_record_per_page(tmp_path: Path, page_image) -> None:  # type: ignore[no-untyped-def]
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "scans").mkdir(parents=True)
    card = make_sample(21, "front", "clean", width=1000)
    (src / "scans" / "kyc.pdf").write_bytes(pdf_of([page_image.image, card.image], dpi=300))
    (src / "bad").mkdir()
    (src / "bad" / "locked.pdf").write_bytes(encrypted_pdf())
    (src / "bad" / "broken.pdf").write_bytes(broken_pdf())
    (src / "bad" / "long.pdf").write_bytes(blank_pdf(pdfpages.MAX_PDF_PAGES + 1))
    (src / "bad" / "blank.PDF").write_bytes(blank_pdf(1))

    proc = _run(src, dest)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    records = {r.source: r for r in LocalSink(dest).iter_records()}
    assert sorted(records) == ["bad/blank.PDF#page=1", "bad/broken.pdf", "bad/locked.pdf", "bad/long.pdf",
                               "scans/kyc.pdf#page=1", "scans/kyc.pdf#page=2"]  # fmt: skip
    codes = {k: r.error.code.value for k, r in records.items() if r.error}
    assert codes == {"bad/blank.PDF#page=1": "no_card_found", "bad/broken.pdf": "pdf_unreadable",
                     "bad/locked.pdf": "pdf_encrypted", "bad/long.pdf": "pdf_too_many_pages"}  # fmt: skip
    both = records["scans/kyc.pdf#page=1"]
    assert both.side == "both"
    assert both.fields == page_image.fields
    front = records["scans/kyc.pdf#page=2"]
    assert front.side == "front"
    assert front.fields == card.fields
    assert (dest / "scans" / "kyc.pdf#page=2.json").is_file()
    lines = (dest / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 6 and {json.loads(line)["source"] for line in lines} == set(records)

    again = _run(src, dest)  # every page and PDF has its record: nothing is read again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "6 skipped" in again.stderr


def test_a_bucket_of_pdfs_gets_one_record_per_page_and_resumes(s3_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The S3 source lists PDFs; their pages are expanded and their records stored under
    `KEY#page=N.json`; the rerun skips them by the PDF's ETag."""
    client = s3_server.client()
    src, dst = s3_server.make_bucket(), s3_server.make_bucket()
    cards = [make_sample(seed, side, "clean", width=1000) for seed, side in ((41, "front"), (42, "back"))]
    pdf = tmp_path / "two.pdf"
    pdf.write_bytes(pdf_of([c.image for c in cards], dpi=300))
    client.fput_object(src, "in/张 三/two.pdf", str(pdf))
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(encrypted_pdf(seed=3))
    client.fput_object(src, "in/locked.pdf", str(locked))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OCR_", "AWS_"))}
    env.update(s3_server.env(), OCR_LOG_FORMAT="plain", OCR_SECOND_OPINION="false",
               OCR_S3_RETRY_TIMEOUT_S="60")  # fmt: skip
    args = [sys.executable, "-m", "ocr_job.cli", "run", f"s3://{src}/in", "--output", f"s3://{dst}/out"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    names = sorted(o.object_name or "" for o in client.list_objects(dst, prefix="out/", recursive=True))
    assert "out/in/张 三/two.pdf#page=1.json" in names and "out/in/张 三/two.pdf#page=2.json" in names
    records = {}
    for name in ("in/张 三/two.pdf#page=1", "in/张 三/two.pdf#page=2", "in/locked.pdf"):
        response = client.get_object(dst, f"out/{name}.json")
        try:
            records[name] = json.loads(response.read())
        finally:
            response.close()
    assert records["in/张 三/two.pdf#page=1"]["side"] == "front"
    assert records["in/张 三/two.pdf#page=1"]["fields"] == cards[0].fields.model_dump()
    assert records["in/张 三/two.pdf#page=2"]["fields"] == cards[1].fields.model_dump()
    assert records["in/locked.pdf"]["error"]["code"] == "pdf_encrypted"
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 skipped" in again.stderr


def test_the_pages_of_one_pdf_cost_one_read_of_it(tmp_path: Path) -> None:
    """Planning reads each PDF once to count its pages; the run reads it once more for all
    of its pages (the last PDF read is kept), and a manifest's page key resolves to it."""
    from ocr_job.pipeline import plan_items
    from ocr_job.storage.local import LocalSource

    (tmp_path / "a.pdf").write_bytes(blank_pdf(3))
    (tmp_path / "b.pdf").write_bytes(blank_pdf(2))
    reads: list[str] = []

    class Counting(LocalSource):
        def read(self, item, max_bytes=pdfpages.DEFAULT_MAX_OBJECT_BYTES):  # type: ignore[no-untyped-def]
            reads.append(item.key)
            return super().read(item, max_bytes)

    source = Counting(tmp_path)
    items = plan_items(source, None, None)
    assert [i.key for i in items] == ["a.pdf#page=1", "a.pdf#page=2", "a.pdf#page=3",
                                      "b.pdf#page=1", "b.pdf#page=2"]  # fmt: skip
    assert len({i.etag for i in items[:3]}) == 1 and items[0].etag is not None
    assert reads == ["a.pdf", "b.pdf"]
    paged = pdfpages.PagedSource(source)
    for item in items:
        assert pdfpages.page_count(paged.read(item)) in (2, 3)
    assert reads == ["a.pdf", "b.pdf", "a.pdf", "b.pdf"]
    resolved = list(paged.resolve(["b.pdf#page=2", "missing.pdf#page=1"]))
    assert (resolved[0].key, resolved[0].etag) == ("b.pdf#page=2", items[3].etag)
    assert resolved[1].etag is None  # no such PDF: its fetch gives fetch_failed


def test_a_pdf_left_whole_at_planning_is_tried_again_by_a_rerun() -> None:
    """A `.pdf` item that reached processing unexpanded (its read failed at planning) but
    opens now gets `fetch_failed` without the ETag, so the next run expands it; a PDF
    that cannot be opened keeps its code and its ETag (a rerun skips it)."""
    from ocr_job import pipeline
    from ocr_job.config import JobConfig
    from ocr_job.storage.base import InputItem

    config = JobConfig(source="src", output="out")
    good = pipeline.process(pipeline.Fetched(InputItem("a.pdf", 10, "e1"), data=blank_pdf(2)), None, config)  # type: ignore[arg-type]  # no page is read
    assert (good.error and good.error.code.value, good.source_etag) == ("fetch_failed", None)
    locked = pipeline.process(
        pipeline.Fetched(InputItem("b.pdf", 10, "e2"), data=encrypted_pdf()), None, config
    )  # type: ignore[arg-type]
    assert (locked.error and locked.error.code.value, locked.source_etag) == ("pdf_encrypted", "e2")
